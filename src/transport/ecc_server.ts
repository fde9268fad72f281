// Server side of the ecc data path: binds a gRPC server and hands every Op to a handler.
// Batches are processed in arrival order; results go back in batches of bounded size.
import { Server, ServerCredentials, ServerDuplexStream, ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { EccNodeService, Op, OpBatch, Result, ResultBatch } from "../gen/ecc";
import { CHUNK_BYTES_MAX } from "../core/limits";
import { Logger } from "../core/logger";
import { RAFT_SERVER_OPTIONS } from "./grpc_options";
import { bindServer } from "./bind";
import { AuthToken } from "../core/auth_token";
import { authServerInterceptors } from "./auth";

export type OpHandler = (op: Op) => Result;

export class EccServer {
  private readonly server: Server;
  private readonly streams = new Set<ServerDuplexStream<OpBatch, ResultBatch>>();

  constructor(
    private readonly handler: OpHandler,
    private readonly logger: Logger,
    /** slowReadsMs: a test-only fault, every batch holding a read is answered this much later. */
    private readonly faults: { slowReadsMs: number } = { slowReadsMs: 0 },
    /** The cluster's token: every call on this server (and the services sharing it) must carry it. */
    auth: AuthToken | null = null,
  ) {
    // Raft's limits: the control plane's peer messages share this server.
    this.server = new Server({ ...RAFT_SERVER_OPTIONS, interceptors: authServerInterceptors(auth) });
    this.server.addService(EccNodeService, {
      exchange: (stream: ServerDuplexStream<OpBatch, ResultBatch>) => this.exchange(stream),
      call: (call: ServerUnaryCall<Op, Result>, callback: sendUnaryData<Result>) => {
        const result = this.handler(call.request);
        if (call.request.body?.$case === "get" && this.faults.slowReadsMs > 0) setTimeout(() => callback(null, result), this.faults.slowReadsMs);
        else callback(null, result);
      },
    });
  }

  /** The underlying server, so other services (the view control plane) can share its port. */
  get grpcServer(): Server {
    return this.server;
  }

  async listen(address: string, serverCredentials?: ServerCredentials): Promise<number> {
    return bindServer(this.server, address, serverCredentials);
  }

  async close(): Promise<void> {
    for (const stream of this.streams) stream.end();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  forceClose(): void {
    this.server.forceShutdown();
  }

  private exchange(stream: ServerDuplexStream<OpBatch, ResultBatch>): void {
    this.streams.add(stream);
    stream.on("data", (batch: OpBatch) => {
      let results: Result[] = [];
      let bytes = 0;
      const slow = this.faults.slowReadsMs > 0 && batch.ops.some((op) => op.body?.$case === "get");
      const write = (message: ResultBatch): void => {
        if (slow) setTimeout(() => stream.write(message), this.faults.slowReadsMs);
        else stream.write(message);
      };
      for (const op of batch.ops) {
        const result = this.handler(op);
        const resultBytes = result.body?.$case === "get" ? result.body.value.data.length : 0;
        if (results.length > 0 && bytes + resultBytes > CHUNK_BYTES_MAX) {
          write({ results });
          results = [];
          bytes = 0;
        }
        results.push(result);
        bytes += resultBytes;
      }
      if (results.length > 0) write({ results });
    });
    stream.on("end", () => {
      this.streams.delete(stream);
      stream.end();
    });
    stream.on("error", (error: Error) => {
      this.streams.delete(stream);
      this.logger.debug("ecc.stream_error", { message: error.message });
    });
    stream.on("close", () => this.streams.delete(stream));
  }
}
