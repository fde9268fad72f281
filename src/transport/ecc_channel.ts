// Client side of one ecc node: the batched Exchange stream (batching_channel.ts) plus a
// unary call for node-to-node transaction resolution.
//
// A channel knows which shard its node holds. A reply from another shard's node, or a
// refusal for a shard index or layout that is not the node's, makes it dial anew (at most
// once per REDIAL_INTERVAL_MS; why: redialer.ts). The reply itself is passed on unchanged: the coordinator decides what it means (a
// client whose servers list is in another order than the cluster's gets a config error).
import { ChannelCredentials, Metadata, credentials } from "@grpc/grpc-js";
import { EccNodeClient, Op, OpBatch, Result, ResultBatch, ResultCode } from "../gen/ecc";
import { RPC_TIMEOUT_MS } from "../core/limits";
import { BatchingChannel } from "./batching_channel";
import { Redialer } from "./redialer";
import { CHANNEL_OPTIONS } from "./grpc_options";
import { errorFromGrpc } from "./status";
import { AuthToken } from "../core/auth_token";
import { authClientInterceptors } from "./auth";

export type OpBody = NonNullable<Op["body"]>;

/** A channel dials its node anew at most this often when replies show another node. */
const REDIAL_INTERVAL_MS = 1_000;

/** The shard index a reply says its node holds, or null when the reply names none. */
function answeringShard(result: Result): number | null {
  switch (result.body?.$case) {
    case "get":
    case "stats":
    case "pullShards":
      return result.body.value.shardIndex;
    default:
      return null;
  }
}

export class EccChannel {
  readonly address: string;
  private readonly node: Redialer<EccNodeClient>;
  private readonly batching: BatchingChannel<{ body: OpBody; epoch: number }, Op, Result, OpBatch, ResultBatch>;

  /**
   * `shardIndex`: the shard the node at `address` holds (its position in the servers list);
   * `auth`: the cluster's token on every call; `channelCredentials`: plaintext unless given
   * (src/transport/tls.ts).
   */
  constructor(
    address: string,
    private readonly shardIndex: number,
    auth: AuthToken | null = null,
    channelCredentials: ChannelCredentials = credentials.createInsecure(),
  ) {
    this.address = address;
    this.node = new Redialer(() => new EccNodeClient(address, channelCredentials, { ...CHANNEL_OPTIONS, interceptors: authClientInterceptors(auth) }), REDIAL_INTERVAL_MS);
    this.batching = new BatchingChannel<{ body: OpBody; epoch: number }, Op, Result, OpBatch, ResultBatch>(address, {
      openStream: () => this.node.client.exchange(),
      makeOp: (id, { body, epoch }) => ({ id, epoch, body }),
      makeBatch: (ops) => ({ ops }),
      results: (batch) => batch.results,
      resultId: (result) => result.id,
      bodyBytes: ({ body }) => (body.$case === "prepare" ? body.value.data.length + body.value.key.length + 64 : 64 + keyBytes(body)),
    });
  }

  /** How often this channel dialled its node anew because another node answered. */
  get redials(): number {
    return this.node.redials;
  }

  /** Passes `result` on; when it shows another node at this address, dials anew (see the header). */
  private checked(result: Result): Result {
    const shard = answeringShard(result);
    const elsewhere = (shard !== null && shard !== this.shardIndex) || result.code === ResultCode.RESULT_CODE_CONFIG_MISMATCH;
    // The next operation opens its stream on the new client.
    if (elsewhere && this.node.redial()) this.batching.detach();
    return result;
  }

  healthy(nowMs: number): boolean {
    return this.batching.healthy(nowMs);
  }

  get inFlight(): number {
    return this.batching.inFlight;
  }

  /** Sends one operation on the batched stream; resolves with its Result (any code). */
  send(body: OpBody, timeoutMs: number = RPC_TIMEOUT_MS, epoch = 0): Promise<Result> {
    return this.batching.send({ body, epoch }, timeoutMs).then((result) => this.checked(result));
  }

  /** One operation as a unary call (node-to-node resolution, tools). */
  call(body: OpBody, timeoutMs: number = RPC_TIMEOUT_MS, epoch = 0): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const deadline = new Date(Date.now() + timeoutMs);
      this.node.client.call({ id: 0, epoch, body }, new Metadata(), { deadline }, (error, result) => {
        if (error !== null) {
          this.batching.markFailed();
          reject(errorFromGrpc(error, this.address));
          return;
        }
        resolve(this.checked(result));
      });
    });
  }

  close(): void {
    this.batching.close();
    this.node.close();
  }
}

function keyBytes(body: OpBody): number {
  return "key" in body.value ? (body.value as { key: Buffer }).key.length : 0;
}
