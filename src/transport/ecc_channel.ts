// Client side of one node: a long-lived gRPC channel and one bidirectional Exchange
// stream on it. Operations issued in the same turn of the event loop are coalesced into
// one OpBatch, so at high concurrency gRPC's per-message cost is paid once per batch.
//
// Every operation has a deadline (a timeout error created when the wait starts). When the
// stream breaks, every operation in flight on it fails with UnavailableError and the next
// operation opens a new stream; the node is marked unhealthy for a short while so readers
// prefer other nodes.
import { ClientDuplexStream, Metadata, credentials } from "@grpc/grpc-js";
import { EccNodeClient, Op, OpBatch, Result, ResultBatch } from "../gen/ecc";
import { KvError, TimeoutError, UnavailableError } from "../core/errors";
import { BATCH_OPS_MAX, CHUNK_BYTES_MAX, CLIENT_REQUESTS_IN_FLIGHT_MAX, RPC_TIMEOUT_MS } from "../core/limits";
import { CHANNEL_OPTIONS } from "./grpc_options";
import { errorFromGrpc } from "./status";

export type OpBody = NonNullable<Op["body"]>;

interface Waiter {
  resolve: (result: Result) => void;
  reject: (error: KvError) => void;
  deadlineMs: number;
  timeoutMs: number;
  stream: ClientDuplexStream<OpBatch, ResultBatch>;
}

/** How often deadlines are checked: one sweep timer per channel, not one timer per op. */
const DEADLINE_SWEEP_MS = 25;

/** How long a node that failed is passed over by readers that have other choices. */
const UNHEALTHY_MS = 1_000;

export class EccChannel {
  readonly address: string;
  private readonly client: EccNodeClient;
  private stream: ClientDuplexStream<OpBatch, ResultBatch> | null = null;
  private readonly waiters = new Map<number, Waiter>();
  private pending: Op[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private nextId = 1;
  private failedAtMs = -Infinity;
  private closed = false;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(address: string) {
    this.address = address;
    this.client = new EccNodeClient(address, credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  healthy(nowMs: number): boolean {
    return nowMs - this.failedAtMs > UNHEALTHY_MS;
  }

  get inFlight(): number {
    return this.waiters.size;
  }

  /** Sends one operation on the batched stream; resolves with its Result (any code). */
  send(body: OpBody, timeoutMs: number = RPC_TIMEOUT_MS): Promise<Result> {
    if (this.closed) return Promise.reject(new UnavailableError(`${this.address}: channel closed`));
    if (this.waiters.size >= CLIENT_REQUESTS_IN_FLIGHT_MAX) {
      return Promise.reject(new UnavailableError(`${this.address}: ${this.waiters.size} requests in flight, the limit`));
    }
    const stream = this.ensureStream();
    const id = this.nextId++;
    const bytes = opPayloadBytes(body);
    if (this.pending.length > 0 && (this.pendingBytes + bytes > CHUNK_BYTES_MAX || this.pending.length >= BATCH_OPS_MAX)) {
      this.flush();
    }
    this.pending.push({ id, body });
    this.pendingBytes += bytes;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    this.ensureSweep();
    return new Promise<Result>((resolve, reject) => {
      this.waiters.set(id, { resolve, reject, deadlineMs: performance.now() + timeoutMs, timeoutMs, stream });
    });
  }

  // Timeout errors are created when the deadline passes, not when the wait starts: building
  // an Error (its stack trace) per operation cost a fifth of the client's CPU under load.
  private ensureSweep(): void {
    if (this.sweepTimer !== null) return;
    this.sweepTimer = setInterval(() => {
      const nowMs = performance.now();
      for (const [id, waiter] of this.waiters) {
        if (waiter.deadlineMs > nowMs) continue;
        this.waiters.delete(id);
        this.failedAtMs = nowMs;
        waiter.reject(new TimeoutError(`${this.address}: no answer within ${waiter.timeoutMs} ms`));
      }
      if (this.waiters.size === 0 && this.sweepTimer !== null) {
        clearInterval(this.sweepTimer);
        this.sweepTimer = null;
      }
    }, DEADLINE_SWEEP_MS);
  }

  /** One operation as a unary call (node-to-node resolution, tools). */
  call(body: OpBody, timeoutMs: number = RPC_TIMEOUT_MS): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const deadline = new Date(Date.now() + timeoutMs);
      this.client.call({ id: 0, body }, new Metadata(), { deadline }, (error, result) => {
        if (error !== null) {
          this.failedAtMs = performance.now();
          reject(errorFromGrpc(error, this.address));
          return;
        }
        resolve(result);
      });
    });
  }

  close(): void {
    this.closed = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.failAll(new UnavailableError(`${this.address}: channel closed`));
    this.stream?.end();
    this.stream = null;
    this.client.close();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const ops = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    const stream = this.stream;
    if (stream === null) {
      // The stream broke between send() and this flush: those waiters were already failed.
      return;
    }
    stream.write({ ops });
  }

  private ensureStream(): ClientDuplexStream<OpBatch, ResultBatch> {
    if (this.stream !== null) return this.stream;
    const stream = this.client.exchange();
    this.stream = stream;
    stream.on("data", (batch: ResultBatch) => {
      for (const result of batch.results) {
        const waiter = this.waiters.get(result.id);
        if (waiter === undefined) continue; // timed out already
        this.waiters.delete(result.id);
        waiter.resolve(result);
      }
    });
    const broken = (error: unknown): void => {
      if (this.stream !== stream) return;
      this.stream = null;
      this.failedAtMs = performance.now();
      const failure =
        error === null ? new UnavailableError(`${this.address}: stream ended`) : errorFromGrpc(error, this.address);
      this.failAll(failure, stream);
    };
    stream.on("error", (error: unknown) => broken(error));
    stream.on("end", () => broken(null));
    return stream;
  }

  private failAll(error: KvError, stream?: ClientDuplexStream<OpBatch, ResultBatch>): void {
    for (const [id, waiter] of this.waiters) {
      if (stream !== undefined && waiter.stream !== stream) continue;
      this.waiters.delete(id);
      waiter.reject(error);
    }
    if (stream === undefined || this.stream === null) {
      this.pending = [];
      this.pendingBytes = 0;
    }
  }
}

function opPayloadBytes(body: OpBody): number {
  if (body.$case === "prepare") return body.value.data.length + body.value.key.length + 64;
  return 64 + ("key" in body.value ? (body.value as { key: Buffer }).key.length : 0);
}
