// EccNodeRuntime: one ecc node process, the thin driver of EccNodeCore (node_core.ts),
// which makes every decision. This file owns only the real world: the gRPC server, the
// clock and a tick timer, the view control plane (control_plane.ts), channels to the other
// nodes, and the client a recovering node rebuilds with. It feeds the core requests, views,
// ticks and replies, and carries out the effects the core returns.
import { Op, Result, ResultCode, EcStatsReply, EccNodeClient } from "../gen/ecc";
import { Clock, systemClock } from "../core/env";
import { collectGarbage, collectWhenBuffersPileUp } from "../core/gc";
import { processMemory } from "../core/process_memory";
import { Logger } from "../core/logger";
import { errorMessage, isKvError } from "../core/errors";
import { Metadata, Server } from "@grpc/grpc-js";
import { channelCredentials, serverCredentials } from "../transport/tls";
import { REBUILD_PULL_BYTES_MAX } from "../core/limits";
import { CHANNEL_OPTIONS } from "../transport/grpc_options";
import { errorFromGrpc } from "../transport/status";
import { ErasureCodec } from "../codec/codec";
import { EccServer } from "../transport/ecc_server";
import { EccChannel } from "../transport/ecc_channel";
import { EccClusterConfig } from "./config";
import { ViewControlPlane } from "./control_plane";
import { View, applyViewChange } from "./view";
import { EcClient } from "./client";
import { EccNodeCore, NodeEffect, PeerPurpose, fail, progressFields } from "./node_core";
import type { NodeMetricsSink } from "../frontdoor/metrics";
import { grpcCodeName } from "../transport/status";
import { AuthToken, authTokenOf } from "../core/auth_token";
import { authClientInterceptors } from "../transport/auth";

/**
 * Options of the channels a recovering node pulls shards on. HTTP/2's default window is
 * 64 KiB, so without a larger one a 1 MiB pull reply crosses in 16 steps, each waiting for a
 * window update from a receiver whose event loop is busy rebuilding: pulls then crawl. The
 * window covers two whole replies; it is a permit, not memory set aside.
 */
const PULL_CHANNEL_OPTIONS = { ...CHANNEL_OPTIONS, "grpc-node.flow_control_window": 2 * REBUILD_PULL_BYTES_MAX };

/** How often the core gets a tick (it keeps its own deadlines within). */
const TICK_MS_MAX = 25;

export interface EccNodeOptions {
  config: EccClusterConfig;
  address: string;
  logger: Logger;
  codec: ErasureCodec;
  /** Started with `recover`: this node's shards are gone; rebuild before serving. */
  recover: boolean;
  clock?: Clock;
  /** Test-only fault: answer every read this much later (a slow node for the bench). */
  slowReadsMs?: number;
  /** Counters and latency for the admin port's /metrics (src/frontdoor/metrics.ts). */
  metrics?: NodeMetricsSink;
}

export class EccNodeRuntime {
  readonly core: EccNodeCore;
  readonly shardIndex: number;
  private readonly server: EccServer;
  private readonly control: ViewControlPlane;
  private readonly peers = new Map<number, EccChannel>();
  /** Channels for bulk pulls (a recovering node's), apart from the peers' (see PULL_CHANNEL_OPTIONS). */
  private readonly pullClients = new Map<number, EccNodeClient>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private tickTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private rebuildClient: EcClient | null = null;
  private readonly auth: AuthToken | null;

  constructor(private readonly options: EccNodeOptions) {
    const { config, address } = options;
    const shardIndex = config.servers.indexOf(address);
    if (shardIndex < 0) throw new Error(`${address} is not one of the configured servers`);
    this.shardIndex = shardIndex;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    // One token for every door of the node: its server checks it, its peer calls send it.
    this.auth = authTokenOf(config);
    this.server = new EccServer((op) => this.handle(op), this.logger, { slowReadsMs: options.slowReadsMs ?? 0 }, this.auth);
    let core: EccNodeCore | null = null;
    this.control = new ViewControlPlane({
      id: address,
      servers: config.servers,
      dataShards: config.dataShards,
      dataDir: config.dataDir,
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      logger: this.logger,
      auth: this.auth,
      credentials: channelCredentials(config.clientTls),
      onView: (view) => {
        if (core !== null) this.carryOut(core.onView(view, this.clock.nowMs()));
      },
    });
    core = new EccNodeCore({
      shardIndex,
      shardCount: config.servers.length,
      dataShards: config.dataShards,
      blockBytes: config.blockBytes,
      address,
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      // A server with control-plane state from an earlier run lost its shards when it died.
      needsRebuild: options.recover || this.control.hadPersistedState,
      initialView: this.control.view(),
      codec: options.codec,
      memory: { maxBytes: config.maxMemoryBytes, policy: config.evictionPolicy },
    });
    this.core = core;
    this.control.register(this.server.grpcServer as Server);
  }

  get replica() {
    return this.core.replica;
  }

  async start(): Promise<number> {
    const port = await this.server.listen(this.options.address, serverCredentials(this.options.config.tls));
    this.control.start();
    const tickMs = Math.max(5, Math.min(TICK_MS_MAX, Math.floor(this.options.config.heartbeatTimeoutMs / 8)));
    this.tickTimer = setInterval(() => this.tick(), tickMs);
    this.logger.info("ecc.node_started", {
      address: this.options.address,
      shardIndex: this.shardIndex,
      dataShards: this.options.config.dataShards,
      parityShards: this.options.config.parityShards,
      rebuildNeeded: this.core.state.kind !== "member",
    });
    this.tick();
    return port;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.control.stop();
    this.rebuildClient?.close();
    for (const peer of this.peers.values()) peer.close();
    for (const client of this.pullClients.values()) client.close();
    await this.server.close();
  }

  /** "member", "recovering" or "removed", as this node sees itself. */
  state(): string {
    return this.core.reportedState();
  }

  handle(op: Op): Result {
    const metrics = this.options.metrics;
    if (metrics === undefined) return this.answer(op);
    const startedMs = performance.now();
    const result = this.answer(op);
    metrics.opDone(op.body?.$case ?? "none", ResultCode[result.code], startedMs);
    return result;
  }

  private answer(op: Op): Result {
    try {
      if (op.body?.$case === "stats") {
        if (op.body.value.collectGarbage) collectGarbage();
        return { id: op.id, code: ResultCode.RESULT_CODE_OK, message: "", body: { $case: "stats", value: this.stats() }, currentView: undefined };
      }
      const { result, effects } = this.core.handle(op, this.clock.nowMs(), this.control.isLeader(), this.control.leaderAddress(), Date.now());
      this.carryOut(effects);
      return result;
    } catch (error) {
      // Input that slipped past validation must not kill the node: report and go on.
      this.logger.error("ecc.op_failed", { op: op.body?.$case ?? "none", message: errorMessage(error) });
      return fail(op.id, ResultCode.RESULT_CODE_INTERNAL, errorMessage(error));
    }
  }

  stats(): EcStatsReply {
    const stats = this.core.replica.stats();
    const progress = this.core.progress;
    const nowMs = this.clock.nowMs();
    const elapsedS = progress === null ? 0 : Math.max(0.001, ((progress.finishedAtMs ?? nowMs) - progress.startedAtMs) / 1000);
    return {
      ...stats,
      ...processMemory(),
      view: this.core.wireView(this.control.leaderAddress()),
      state: this.state(),
      rebuiltKeys: progress?.rebuiltKeys ?? 0,
      rebuiltBytes: progress?.rebuiltBytes ?? 0,
      rebuildTotalKeys: progress?.totalKeys ?? 0,
      rebuildBytesPerSecond: progress === null ? 0 : Math.round(progress.rebuiltBytes / elapsedS),
      controlLeader: this.control.isLeader(),
    };
  }

  // ------------------------------------------------------------------ driving the core

  private tick(): void {
    if (this.stopped) return;
    const budget = this.options.config.maxMemoryBytes;
    if (budget > 0) collectWhenBuffersPileUp(this.core.replica.heldBytes(), Math.max(2 * 1024 * 1024, budget * 0.03));
    const leader = this.control.leaderAddress();
    if (leader !== this.lastLeader) {
      this.lastLeader = leader;
      if (leader !== "") this.options.metrics?.leaderChanged();
    }
    const leaderIndex = this.options.config.servers.indexOf(leader);
    this.carryOut(this.core.tick(this.clock.nowMs(), this.control.isLeader(), leaderIndex < 0 ? null : leaderIndex, Date.now()));
    const progress = this.core.progress;
    if (progress !== null && progress.finishedAtMs === null && this.clock.nowMs() - this.lastProgressLogMs > 1_000) {
      this.lastProgressLogMs = this.clock.nowMs();
      this.logger.info("ec.rebuild_progress", progressFields(progress, this.clock.nowMs()));
    }
  }

  private lastProgressLogMs = 0;
  private lastLeader = "";

  private carryOut(effects: NodeEffect[]): void {
    if (this.stopped) return;
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          this.sendToPeer(effect.node, effect.body, effect.timeoutMs, effect.purpose);
          break;
        case "proposeView":
          this.proposeView(effect.change);
          break;
        case "dropKey":
          this.client()
            .dropKey(effect.key, effect.version, effect.reason)
            .then(
              (outcome) => {
                if (outcome.applied) this.logger.debug("ec.key_dropped", { key: effect.key.slice(0, 64), version: outcome.version, reason: effect.reason });
              },
              (error: unknown) => this.logger.debug("ec.drop_failed", { reason: effect.reason, message: errorMessage(error) }),
            )
            .finally(() => this.core.onDropDone(effect.key));
          break;
        case "repairRead": {
          const read = (): void => {
            if (this.stopped) return;
            this.client()
              .getVersioned(Buffer.from(effect.key, "latin1"), { includeExpired: true })
              .then(
                (result) => this.carryOut(this.core.onRepairRead(effect.key, result, Date.now())),
                (error: unknown) =>
                  this.carryOut(this.core.onRepairRead(effect.key, { kind: "error", message: errorMessage(error), retryable: true }, Date.now())),
              );
          };
          if (effect.delayMs === 0) read();
          else setTimeout(read, effect.delayMs).unref();
          break;
        }
        case "rebuildRead":
          if (effect.delayMs === 0) this.rebuildRead(effect.generation, effect.key);
          else setTimeout(() => this.rebuildRead(effect.generation, effect.key), effect.delayMs).unref();
          break;
        case "log":
          this.logger[effect.level](effect.event, effect.fields);
          break;
      }
    }
  }

  private sendToPeer(node: number, body: NonNullable<Op["body"]>, timeoutMs: number, purpose: PeerPurpose): void {
    const peer = this.peer(node);
    // Pings travel on the batched stream the data path uses; bulk pulls on their own channel;
    // the rest as unary calls.
    const sent = purpose.kind === "ping" ? peer.send(body, timeoutMs) : purpose.kind === "pullShards" ? this.pull(node, body, timeoutMs) : peer.call(body, timeoutMs);
    sent.then(
      (result) => this.carryOut(this.core.onPeerReply(purpose, { kind: "ok", result }, this.clock.nowMs(), Date.now())),
      (error: unknown) => {
        this.options.metrics?.grpcError(grpcCodeName(error));
        this.carryOut(this.core.onPeerReply(purpose, { kind: "silent", message: errorMessage(error) }, this.clock.nowMs(), Date.now()));
      },
    );
  }

  private pull(node: number, body: NonNullable<Op["body"]>, timeoutMs: number): Promise<Result> {
    const address = this.options.config.servers[node];
    let client = this.pullClients.get(node);
    if (client === undefined) {
      client = new EccNodeClient(address, channelCredentials(this.options.config.clientTls), { ...PULL_CHANNEL_OPTIONS, interceptors: authClientInterceptors(this.auth) });
      this.pullClients.set(node, client);
    }
    const deadline = new Date(Date.now() + timeoutMs);
    return new Promise<Result>((resolve, reject) => {
      client.call({ id: 0, epoch: 0, body }, new Metadata(), { deadline }, (error, result) => {
        if (error !== null) {
          reject(errorFromGrpc(error, address));
          return;
        }
        if (result.body?.$case === "pullShards" && result.body.value.shardIndex !== node && this.pullClients.get(node) === client) {
          // Another node answers at this address (see src/transport/ecc_channel.ts): the next
          // pull dials anew. The core refuses this reply.
          this.pullClients.delete(node);
          client.close();
        }
        resolve(result);
      });
    });
  }

  private proposeView(change: Parameters<typeof applyViewChange>[1]): void {
    if (!this.control.isLeader()) return;
    const before = this.control.view().epoch;
    this.control
      .change((view: View) => applyViewChange(view, change, this.options.config.dataShards))
      .then((after) => {
        if (change.kind === "silence" && after.epoch !== before) {
          this.logger.warn("ec.node_removed", { silent: change.silent, epoch: after.epoch, members: after.members });
        }
      })
      .catch((error: unknown) => this.logger.debug("ec.view_change_failed", { change: change.kind, message: errorMessage(error) }));
  }

  private rebuildRead(generation: number, key: string): void {
    if (this.stopped) return;
    this.client().getVersioned(Buffer.from(key, "latin1"), { includeExpired: true }).then(
      (read) => this.carryOut(this.core.onRebuildRead(generation, key, read, this.clock.nowMs(), Date.now())),
      (error: unknown) =>
        this.carryOut(
          this.core.onRebuildRead(
            generation,
            key,
            { kind: "error", message: errorMessage(error), retryable: !isKvError(error) || error.retryable },
            this.clock.nowMs(),
            Date.now(),
          ),
        ),
    );
  }

  /** The node's own client: rebuild reads and the drops it decides (evictions, expirations). */
  private client(): EcClient {
    return (this.rebuildClient ??= new EcClient({ config: this.options.config, codec: this.options.codec, authToken: this.auth ?? undefined }));
  }

  private peer(index: number): EccChannel {
    let channel = this.peers.get(index);
    if (channel === undefined) {
      channel = new EccChannel(this.options.config.servers[index], index, this.auth, channelCredentials(this.options.config.clientTls));
      this.peers.set(index, channel);
    }
    return channel;
  }
}
