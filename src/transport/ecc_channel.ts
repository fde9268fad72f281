// Client side of one ecc node: the batched Exchange stream (batching_channel.ts) plus a
// unary call for node-to-node transaction resolution.
import { ChannelCredentials, Metadata, credentials } from "@grpc/grpc-js";
import { EccNodeClient, Op, OpBatch, Result, ResultBatch } from "../gen/ecc";
import { RPC_TIMEOUT_MS } from "../core/limits";
import { BatchingChannel } from "./batching_channel";
import { CHANNEL_OPTIONS } from "./grpc_options";
import { errorFromGrpc } from "./status";
import { AuthToken } from "../core/auth_token";
import { authClientInterceptors } from "./auth";

export type OpBody = NonNullable<Op["body"]>;

export class EccChannel {
  readonly address: string;
  private readonly client: EccNodeClient;
  private readonly batching: BatchingChannel<{ body: OpBody; epoch: number }, Op, Result, OpBatch, ResultBatch>;

  /** `auth`: the cluster's token on every call; `channelCredentials`: plaintext unless given (src/transport/tls.ts). */
  constructor(address: string, auth: AuthToken | null = null, channelCredentials: ChannelCredentials = credentials.createInsecure()) {
    this.address = address;
    const client = new EccNodeClient(address, channelCredentials, { ...CHANNEL_OPTIONS, interceptors: authClientInterceptors(auth) });
    this.client = client;
    this.batching = new BatchingChannel<{ body: OpBody; epoch: number }, Op, Result, OpBatch, ResultBatch>(address, {
      openStream: () => client.exchange(),
      makeOp: (id, { body, epoch }) => ({ id, epoch, body }),
      makeBatch: (ops) => ({ ops }),
      results: (batch) => batch.results,
      resultId: (result) => result.id,
      bodyBytes: ({ body }) => (body.$case === "prepare" ? body.value.data.length + body.value.key.length + 64 : 64 + keyBytes(body)),
    });
  }

  healthy(nowMs: number): boolean {
    return this.batching.healthy(nowMs);
  }

  get inFlight(): number {
    return this.batching.inFlight;
  }

  /** Sends one operation on the batched stream; resolves with its Result (any code). */
  send(body: OpBody, timeoutMs: number = RPC_TIMEOUT_MS, epoch = 0): Promise<Result> {
    return this.batching.send({ body, epoch }, timeoutMs);
  }

  /** One operation as a unary call (node-to-node resolution, tools). */
  call(body: OpBody, timeoutMs: number = RPC_TIMEOUT_MS, epoch = 0): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const deadline = new Date(Date.now() + timeoutMs);
      this.client.call({ id: 0, epoch, body }, new Metadata(), { deadline }, (error, result) => {
        if (error !== null) {
          this.batching.markFailed();
          reject(errorFromGrpc(error, this.address));
          return;
        }
        resolve(result);
      });
    });
  }

  close(): void {
    this.batching.close();
    this.client.close();
  }
}

function keyBytes(body: OpBody): number {
  return "key" in body.value ? (body.value as { key: Buffer }).key.length : 0;
}
