// EccNodeRuntime: one ecc node process. Owns the real world around the pure
// EcShardReplica: the gRPC server, the clock, and a timer that resolves transactions whose
// coordinator went silent (see the glossary in shard_replica.ts).
import { Op, Result, ResultCode, TxState } from "../gen/ecc";
import { Clock, systemClock } from "../core/env";
import { Logger } from "../core/logger";
import { errorMessage } from "../core/errors";
import { EccServer } from "../transport/ecc_server";
import { EccChannel } from "../transport/ecc_channel";
import { EcShardReplica, ReplicaOutcome } from "./shard_replica";
import { EccClusterConfig } from "./config";

/** How often the node looks for expired locks, and how long it waits to retry one. */
const RESOLVE_SCAN_MS = 100;
const RESOLVE_RETRY_MS = 500;
const RESOLVE_PER_SCAN_MAX = 64;

export interface EccNodeOptions {
  config: EccClusterConfig;
  address: string;
  logger: Logger;
  clock?: Clock;
}

export class EccNodeRuntime {
  readonly replica: EcShardReplica;
  readonly shardIndex: number;
  private readonly server: EccServer;
  private readonly peers = new Map<number, EccChannel>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private scanTimer: NodeJS.Timeout | null = null;
  private resolving = 0;

  constructor(private readonly options: EccNodeOptions) {
    const { config, address } = options;
    const shardIndex = config.servers.indexOf(address);
    if (shardIndex < 0) throw new Error(`${address} is not one of the configured servers`);
    this.shardIndex = shardIndex;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.replica = new EcShardReplica({
      shardIndex,
      dataShards: config.dataShards,
      parityShards: config.parityShards,
      blockBytes: config.blockBytes,
      address,
    });
    this.server = new EccServer((op) => this.handle(op), this.logger);
  }

  async start(): Promise<number> {
    const port = await this.server.listen(this.options.address);
    this.scanTimer = setInterval(() => this.scanLocks(), RESOLVE_SCAN_MS);
    this.logger.info("ecc.node_started", {
      address: this.options.address,
      shardIndex: this.shardIndex,
      dataShards: this.options.config.dataShards,
      parityShards: this.options.config.parityShards,
    });
    return port;
  }

  async stop(): Promise<void> {
    if (this.scanTimer !== null) clearInterval(this.scanTimer);
    for (const peer of this.peers.values()) peer.close();
    await this.server.close();
  }

  handle(op: Op): Result {
    const body = op.body;
    if (body === undefined) return fail(op.id, ResultCode.RESULT_CODE_INVALID_ARGUMENT, "operation without a body");
    try {
      switch (body.$case) {
        case "prepare":
          return wrap(op.id, this.replica.prepare(body.value, this.clock.nowMs()), (reply) => ({ $case: "prepare", value: reply }));
        case "commit":
          return wrap(op.id, this.replica.commit(body.value), () => ({ $case: "commit", value: {} }));
        case "abort":
          return wrap(op.id, this.replica.abort(body.value), () => ({ $case: "abort", value: {} }));
        case "get":
          return wrap(op.id, this.replica.get(body.value), (reply) => ({ $case: "get", value: reply }));
        case "txStatus":
          return wrap(op.id, this.replica.txStatus(body.value), (reply) => ({ $case: "txStatus", value: reply }));
        case "stats": {
          const stats = this.replica.stats();
          const memory = process.memoryUsage();
          stats.rssBytes = memory.rss;
          stats.heapUsedBytes = memory.heapUsed;
          return { id: op.id, code: ResultCode.RESULT_CODE_OK, message: "", body: { $case: "stats", value: stats } };
        }
      }
    } catch (error) {
      // Input that slipped past validation must not kill the node: report and go on.
      this.logger.error("ecc.op_failed", { op: body.$case, message: errorMessage(error) });
      return fail(op.id, ResultCode.RESULT_CODE_INTERNAL, errorMessage(error));
    }
  }

  private peer(index: number): EccChannel {
    let channel = this.peers.get(index);
    if (channel === undefined) {
      channel = new EccChannel(this.options.config.servers[index]);
      this.peers.set(index, channel);
    }
    return channel;
  }

  private scanLocks(): void {
    if (this.resolving >= RESOLVE_PER_SCAN_MAX) return;
    const expired = this.replica.takeExpiredLocks(this.clock.nowMs(), RESOLVE_PER_SCAN_MAX - this.resolving);
    for (const lock of expired) {
      this.resolving += 1;
      this.resolve(lock.key, lock.txId)
        .catch((error: unknown) => {
          this.logger.warn("ec.resolve_failed", { message: errorMessage(error) });
          this.replica.resolutionFailed(lock.key, lock.txId, this.clock.nowMs(), RESOLVE_RETRY_MS);
        })
        .finally(() => {
          this.resolving -= 1;
        });
    }
  }

  /** Decides an abandoned transaction with the other members (see shard_replica.ts). */
  private async resolve(key: Buffer, txId: Buffer): Promise<void> {
    const others = this.options.config.servers.map((_, index) => index).filter((index) => index !== this.shardIndex);
    const statuses = await Promise.allSettled(
      others.map((index) => this.peer(index).call({ $case: "txStatus", value: { key, txId } }, 1_000)),
    );
    let committedVersion = 0;
    let answered = 0;
    for (const status of statuses) {
      if (status.status !== "fulfilled" || status.value.code !== ResultCode.RESULT_CODE_OK) continue;
      const body = status.value.body;
      if (body?.$case !== "txStatus") continue;
      answered += 1;
      if (body.value.state === TxState.TX_STATE_COMMITTED) committedVersion = body.value.version;
    }
    const txHex = txId.toString("hex");
    if (committedVersion > 0) {
      const local = this.replica.commit({ key, txId, version: committedVersion, resolution: true });
      await Promise.allSettled(
        others.map((index) =>
          this.peer(index).call({ $case: "commit", value: { key, txId, version: committedVersion, resolution: true } }, 1_000),
        ),
      );
      this.logger.info("ec.tx_resolved", { tx: txHex, decision: "commit", version: committedVersion, localCode: local.code });
      return;
    }
    if (answered < others.length) {
      throw new Error(`tx ${txHex}: ${others.length - answered} member(s) did not answer; cannot decide yet`);
    }
    this.replica.abort({ key, txId });
    await Promise.allSettled(others.map((index) => this.peer(index).call({ $case: "abort", value: { key, txId } }, 1_000)));
    this.logger.info("ec.tx_resolved", { tx: txHex, decision: "abort" });
  }
}

function wrap<T>(id: number, outcome: ReplicaOutcome<T>, body: (reply: T) => Result["body"]): Result {
  if (outcome.code !== ResultCode.RESULT_CODE_OK) return fail(id, outcome.code, outcome.message);
  return { id, code: ResultCode.RESULT_CODE_OK, message: "", body: body(outcome.reply as T) };
}

function fail(id: number, code: ResultCode, message: string): Result {
  return { id, code, message, body: undefined };
}
