// A minimal etcd v3 client over gRPC (grpc-js generic unary calls, messages from wire.ts).
// Like etcd's own clientv3 it pins one endpoint and moves to the next when that one is
// unreachable (gRPC UNAVAILABLE); every other error is the caller's to count. Reads are
// linearizable (etcd's default, serializable = false), matching ecc reads.
import { Client, Metadata, ServiceError, credentials, status as grpcStatus } from "@grpc/grpc-js";
import { RPC_TIMEOUT_MS, VALUE_BYTES_MAX } from "../../core/limits";
import {
  ETCD_METHODS,
  StatusResponse,
  decodeRangeResponse,
  decodeStatusResponse,
  decodeWriteResponse,
  encodeDeleteRangeRequest,
  encodePutRequest,
  encodeRangeRequest,
  encodeStatusRequest,
} from "./wire";

// etcd enforces its own keepalive policy (no pings without streams, at most every 5 s), so
// these channels set no keepalive of their own: a violating ping gets the channel closed.
const ETCD_CHANNEL_OPTIONS = {
  "grpc.max_send_message_length": VALUE_BYTES_MAX + 1024 * 1024,
  "grpc.max_receive_message_length": VALUE_BYTES_MAX + 1024 * 1024,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.min_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
  "grpc.enable_retries": 0,
  "grpc.use_local_subchannel_pool": 1,
};

export class EtcdError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = "EtcdError";
  }
}

const identity = (bytes: Buffer): Buffer => bytes;

export class EtcdClient {
  private readonly clients: Client[];
  private preferred = 0;

  constructor(
    readonly endpoints: string[],
    private readonly timeoutMs = RPC_TIMEOUT_MS,
  ) {
    this.clients = endpoints.map((endpoint) => new Client(endpoint, credentials.createInsecure(), ETCD_CHANNEL_OPTIONS));
  }

  async get(key: string): Promise<Buffer | null> {
    const reply = decodeRangeResponse(await this.callAny(ETCD_METHODS.range, encodeRangeRequest({ key: Buffer.from(key) })));
    return reply.kvs.length === 0 ? null : reply.kvs[0].value;
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    decodeWriteResponse(await this.callAny(ETCD_METHODS.put, encodePutRequest(Buffer.from(key), value)));
  }

  async del(key: string): Promise<void> {
    decodeWriteResponse(await this.callAny(ETCD_METHODS.deleteRange, encodeDeleteRangeRequest(Buffer.from(key))));
  }

  /** Maintenance.Status of one member (its own db size, leader, raft index). */
  async status(index: number, timeoutMs = this.timeoutMs): Promise<StatusResponse> {
    return decodeStatusResponse(await this.call(index, ETCD_METHODS.status, encodeStatusRequest(), timeoutMs));
  }

  /** Number of keys as one member sees them (serializable: answered locally, no quorum). */
  async countKeys(index: number): Promise<number> {
    const request = encodeRangeRequest({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), countOnly: true, serializable: true });
    return decodeRangeResponse(await this.call(index, ETCD_METHODS.range, request, this.timeoutMs)).count;
  }

  close(): void {
    for (const client of this.clients) client.close();
  }

  private async callAny(method: string, request: Buffer): Promise<Buffer> {
    let lastError: unknown = null;
    for (let attempt = 0; attempt < this.clients.length; attempt++) {
      const index = (this.preferred + attempt) % this.clients.length;
      try {
        const reply = await this.call(index, method, request, this.timeoutMs);
        this.preferred = index;
        return reply;
      } catch (error) {
        lastError = error;
        if (!(error instanceof EtcdError) || error.code !== grpcStatus.UNAVAILABLE) throw error;
      }
    }
    throw lastError;
  }

  private call(index: number, method: string, request: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.clients[index].makeUnaryRequest<Buffer, Buffer>(
        method,
        identity,
        identity,
        request,
        new Metadata(),
        { deadline: new Date(Date.now() + timeoutMs) },
        (error: ServiceError | null, reply?: Buffer) => {
          if (error !== null) {
            reject(new EtcdError(`etcd ${this.endpoints[index]} ${method}: ${error.details || error.message}`, error.code));
          } else {
            resolve(reply ?? Buffer.alloc(0));
          }
        },
      );
    });
  }
}
