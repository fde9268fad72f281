// A long-lived bidirectional gRPC stream to one node that carries operations in batches.
// Operations issued in the same turn of the event loop are coalesced into one batch
// message, so at high concurrency gRPC's per-message cost is paid once per batch. Results
// come back in batches too, matched by id, in any order.
//
// Every operation has a deadline, checked by one sweep timer per channel (not one timer per
// operation: a timer and a TimeoutError per operation are a large part of a busy client's
// CPU). When the stream breaks, every operation in flight on it fails with
// UnavailableError and the next operation opens a new stream; the node is marked unhealthy
// for a short while so callers with a choice prefer other nodes.
import { ClientDuplexStream } from "@grpc/grpc-js";
import { KvError, TimeoutError, UnavailableError } from "../core/errors";
import { BATCH_OPS_MAX, CHUNK_BYTES_MAX, CLIENT_REQUESTS_IN_FLIGHT_MAX } from "../core/limits";
import { errorFromGrpc } from "./status";

/** How the generic channel talks to one concrete service. */
export interface BatchProtocol<Body, Op, Res, Batch, ResBatch> {
  openStream(): ClientDuplexStream<Batch, ResBatch>;
  makeOp(id: number, body: Body): Op;
  makeBatch(ops: Op[]): Batch;
  results(batch: ResBatch): Res[];
  resultId(result: Res): number;
  /** Approximate payload bytes of one operation, to keep batches under the message limit. */
  bodyBytes(body: Body): number;
}

interface Waiter<Res, Batch, ResBatch> {
  resolve: (result: Res) => void;
  reject: (error: KvError) => void;
  deadlineMs: number;
  timeoutMs: number;
  stream: ClientDuplexStream<Batch, ResBatch>;
}

const DEADLINE_SWEEP_MS = 25;
/** How long a node that failed is passed over by callers that have other choices. */
const UNHEALTHY_MS = 1_000;

export class BatchingChannel<Body, Op, Res, Batch, ResBatch> {
  private stream: ClientDuplexStream<Batch, ResBatch> | null = null;
  private readonly waiters = new Map<number, Waiter<Res, Batch, ResBatch>>();
  private pending: Op[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private nextId = 1;
  private failedAtMs = -Infinity;
  private closed = false;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly address: string,
    private readonly protocol: BatchProtocol<Body, Op, Res, Batch, ResBatch>,
  ) {}

  healthy(nowMs: number): boolean {
    return nowMs - this.failedAtMs > UNHEALTHY_MS;
  }

  markFailed(): void {
    this.failedAtMs = performance.now();
  }

  /**
   * Opens the next operation's stream anew (through protocol.openStream) and half-closes the
   * current one: what is in flight on it is still answered, or fails when it breaks.
   */
  detach(): void {
    const stream = this.stream;
    if (stream === null) return;
    this.flush(); // what was queued for it goes out on it
    this.stream = null;
    stream.end();
  }

  get inFlight(): number {
    return this.waiters.size;
  }

  send(body: Body, timeoutMs: number): Promise<Res> {
    if (this.closed) return Promise.reject(new UnavailableError(`${this.address}: channel closed`));
    if (this.waiters.size >= CLIENT_REQUESTS_IN_FLIGHT_MAX) {
      return Promise.reject(new UnavailableError(`${this.address}: ${this.waiters.size} requests in flight, the limit`));
    }
    const stream = this.ensureStream();
    const id = this.nextId++;
    const bytes = this.protocol.bodyBytes(body);
    if (this.pending.length > 0 && (this.pendingBytes + bytes > CHUNK_BYTES_MAX || this.pending.length >= BATCH_OPS_MAX)) {
      this.flush();
    }
    this.pending.push(this.protocol.makeOp(id, body));
    this.pendingBytes += bytes;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    this.ensureSweep();
    return new Promise<Res>((resolve, reject) => {
      this.waiters.set(id, { resolve, reject, deadlineMs: performance.now() + timeoutMs, timeoutMs, stream });
    });
  }

  close(): void {
    this.closed = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.failAll(new UnavailableError(`${this.address}: channel closed`));
    this.stream?.end();
    this.stream = null;
  }

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

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const ops = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    // A null stream means it broke after these ops were queued; their waiters already failed.
    this.stream?.write(this.protocol.makeBatch(ops));
  }

  private ensureStream(): ClientDuplexStream<Batch, ResBatch> {
    if (this.stream !== null) return this.stream;
    const stream = this.protocol.openStream();
    this.stream = stream;
    stream.on("data", (batch: ResBatch) => {
      for (const result of this.protocol.results(batch)) {
        const id = this.protocol.resultId(result);
        const waiter = this.waiters.get(id);
        if (waiter === undefined) continue; // timed out already
        this.waiters.delete(id);
        waiter.resolve(result);
      }
    });
    const broken = (error: unknown): void => {
      // A detached stream (detach) fails only what is still in flight on it.
      if (this.stream === stream) {
        this.stream = null;
        this.failedAtMs = performance.now();
      }
      const failure = error === null ? new UnavailableError(`${this.address}: stream ended`) : errorFromGrpc(error, this.address);
      this.failAll(failure, stream);
    };
    stream.on("error", (error: unknown) => broken(error));
    stream.on("end", () => broken(null));
    return stream;
  }

  private failAll(error: KvError, stream?: ClientDuplexStream<Batch, ResBatch>): void {
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
