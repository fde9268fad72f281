// EccNodeRuntime: one ecc node process. Owns the real world around the pure
// EcShardReplica: the gRPC server, the clock, the view control plane (control_plane.ts),
// the failure detector, transaction resolution and shard recovery.
//
// States of a node (its own view of itself):
// - member: in the view's members and holding every shard it should: serves reads/writes.
// - recovering: in the view's recovering list: takes writes, serves no reads, rebuilds its
//   shard of every key from k members, then asks to be promoted.
// - needs rebuild: started with `recover` (or with control-plane state from an earlier
//   life: its memory is gone) or removed from the view: it serves no reads and asks the
//   control-plane leader to list it as recovering.
//
// Epochs: EcPrepare, coordinator EcCommit and EcGet are answered only for the node's
// current epoch. When a new view is applied every staged transaction (all from the old
// epoch) is fenced and resolved among the new view's nodes before its key takes new writes.
import { Op, Result, ResultCode, TxState, EcView, EcStatsReply } from "../gen/ecc";
import { Clock, systemClock } from "../core/env";
import { collectGarbage } from "../core/gc";
import { processMemory } from "../core/process_memory";
import { Logger } from "../core/logger";
import { errorMessage, isKvError } from "../core/errors";
import { Server } from "@grpc/grpc-js";
import { ErasureCodec } from "../codec/codec";
import { crc32 } from "../codec/checksum";
import { EccServer } from "../transport/ecc_server";
import { EccChannel } from "../transport/ecc_channel";
import { EcShardReplica, ReplicaOutcome } from "./shard_replica";
import { EccClusterConfig } from "./config";
import { ViewControlPlane } from "./control_plane";
import { View, nextViewForJoin, nextViewForPromote, nextViewForSilence, writeTargets } from "./view";
import { EcClient } from "./client";
import { Layout } from "./layout";
import { encodeBlobs } from "./shard_coding";

/** How often the node looks for expired locks, and how long it waits to retry one. */
const RESOLVE_SCAN_MS = 50;
const RESOLVE_RETRY_MS = 300;
const RESOLVE_PER_SCAN_MAX = 64;
const REBUILD_CONCURRENCY = 64;
const LIST_PAGE_KEYS = 1_000;
const LISTING_TTL_MS = 120_000;
const JOIN_RETRY_MS = 200;

export interface EccNodeOptions {
  config: EccClusterConfig;
  address: string;
  logger: Logger;
  codec: ErasureCodec;
  /** Started with `recover`: this node's shards are gone; rebuild before serving. */
  recover: boolean;
  clock?: Clock;
}

interface RebuildProgress {
  totalKeys: number;
  rebuiltKeys: number;
  rebuiltBytes: number;
  startedAtMs: number;
}

export class EccNodeRuntime {
  readonly replica: EcShardReplica;
  readonly shardIndex: number;
  private readonly server: EccServer;
  private readonly control: ViewControlPlane;
  private readonly peers = new Map<number, EccChannel>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private scanTimer: NodeJS.Timeout | null = null;
  private detectorTimer: NodeJS.Timeout | null = null;
  private resolving = 0;
  /** True while this node's shards may be incomplete: no reads until promoted after a rebuild. */
  private rebuildNeeded: boolean;
  private rebuildRunning = false;
  /** The last rebuild finished: promotion (a view with us as member) makes us serve. */
  private rebuildComplete = false;
  private detectorTargets = new Set<number>();
  /**
   * Bumped whenever this node's shards are thrown away (removed from the view): a rebuild
   * or promotion request of an older generation must not act, or a node could be promoted
   * on the strength of a rebuild that happened before its store was emptied.
   */
  private generation = 0;
  private joinRunning = false;
  private progress: RebuildProgress | null = null;
  private readonly lastSeenMs = new Map<number, number>();
  private wasControlLeader = false;
  private readonly listings = new Map<string, { keys: string[]; expiresAtMs: number }>();
  private nextListing = 1;
  private stopped = false;
  private rebuildClient: EcClient | null = null;

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
    this.control = new ViewControlPlane({
      id: address,
      servers: config.servers,
      dataShards: config.dataShards,
      dataDir: config.dataDir,
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      logger: this.logger,
      onView: (view, previous) => this.onView(view, previous),
    });
    // A server with control-plane state from an earlier run lost its shards when it died.
    this.rebuildNeeded = options.recover || this.control.hadPersistedState;
    this.control.register(this.server.grpcServer as Server);
  }

  async start(): Promise<number> {
    const port = await this.server.listen(this.options.address);
    this.control.start();
    this.scanTimer = setInterval(() => this.scanLocks(), RESOLVE_SCAN_MS);
    const detectorMs = Math.max(10, Math.floor(this.options.config.heartbeatTimeoutMs / 4));
    this.detectorTimer = setInterval(() => void this.detectFailures(), detectorMs);
    this.logger.info("ecc.node_started", {
      address: this.options.address,
      shardIndex: this.shardIndex,
      dataShards: this.options.config.dataShards,
      parityShards: this.options.config.parityShards,
      rebuildNeeded: this.rebuildNeeded,
    });
    if (this.rebuildNeeded) void this.requestJoin();
    return port;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.scanTimer !== null) clearInterval(this.scanTimer);
    if (this.detectorTimer !== null) clearInterval(this.detectorTimer);
    this.control.stop();
    this.rebuildClient?.close();
    for (const peer of this.peers.values()) peer.close();
    await this.server.close();
  }

  /** "member", "recovering" or "removed", as this node sees itself. */
  state(): string {
    const view = this.control.view();
    if (view.recovering.includes(this.shardIndex)) return "recovering";
    if (view.members.includes(this.shardIndex)) return this.rebuildNeeded ? "recovering" : "member";
    return "removed";
  }

  handle(op: Op): Result {
    const body = op.body;
    if (body === undefined) return fail(op.id, ResultCode.RESULT_CODE_INVALID_ARGUMENT, "operation without a body");
    try {
      const view = this.control.view();
      const dataOp = body.$case === "prepare" || body.$case === "get" || (body.$case === "commit" && !body.value.resolution);
      if (dataOp && op.epoch !== view.epoch) {
        return this.withView(fail(op.id, ResultCode.RESULT_CODE_STALE_EPOCH, `node is at epoch ${view.epoch}, request at ${op.epoch}`));
      }
      const inView = view.members.includes(this.shardIndex) || view.recovering.includes(this.shardIndex);
      if ((body.$case === "prepare" || body.$case === "commit") && !inView) {
        return this.withView(fail(op.id, ResultCode.RESULT_CODE_NOT_SERVING, "node is not in the view"));
      }
      switch (body.$case) {
        case "prepare":
          return wrap(op.id, this.replica.prepare(body.value, this.clock.nowMs()), (reply) => ({ $case: "prepare", value: reply }));
        case "commit":
          return wrap(op.id, this.replica.commit(body.value), () => ({ $case: "commit", value: {} }));
        case "abort":
          return wrap(op.id, this.replica.abort(body.value), () => ({ $case: "abort", value: {} }));
        case "get":
          if (this.state() !== "member") {
            return this.withView(fail(op.id, ResultCode.RESULT_CODE_NOT_SERVING, `node is ${this.state()}: it serves no reads`));
          }
          return wrap(op.id, this.replica.get(body.value), (reply) => ({ $case: "get", value: reply }));
        case "txStatus":
          return wrap(op.id, this.replica.txStatus(body.value), (reply) => ({ $case: "txStatus", value: reply }));
        case "stats":
          if (body.value.collectGarbage) collectGarbage();
          return ok(op.id, { $case: "stats", value: this.stats() });
        case "getView":
          return ok(op.id, { $case: "view", value: this.wireView() });
        case "ping":
          return ok(op.id, { $case: "ping", value: { epoch: view.epoch } });
        case "listKeys":
          return this.listKeys(op.id, body.value.token, body.value.offset, body.value.limit);
        case "join":
          return this.handleJoin(op.id, body.value.shardIndex, body.value.promote, body.value.epoch);
      }
    } catch (error) {
      // Input that slipped past validation must not kill the node: report and go on.
      this.logger.error("ecc.op_failed", { op: body.$case, message: errorMessage(error) });
      return fail(op.id, ResultCode.RESULT_CODE_INTERNAL, errorMessage(error));
    }
  }

  stats(): EcStatsReply {
    const stats = this.replica.stats();
    const progress = this.progress;
    const elapsedS = progress === null ? 0 : Math.max(0.001, (this.clock.nowMs() - progress.startedAtMs) / 1000);
    return {
      ...stats,
      ...processMemory(),
      view: this.wireView(),
      state: this.state(),
      rebuiltKeys: progress?.rebuiltKeys ?? 0,
      rebuiltBytes: progress?.rebuiltBytes ?? 0,
      rebuildTotalKeys: progress?.totalKeys ?? 0,
      rebuildBytesPerSecond: progress === null ? 0 : Math.round(progress.rebuiltBytes / elapsedS),
      controlLeader: this.control.isLeader(),
    };
  }

  // ------------------------------------------------------------------------ views

  private wireView(): EcView {
    const view = this.control.view();
    return { epoch: view.epoch, members: [...view.members], recovering: [...view.recovering], leader: this.control.leaderAddress() };
  }

  private withView(result: Result): Result {
    return { ...result, currentView: this.wireView() };
  }

  private onView(view: View, previous: View): void {
    const fenced = this.replica.fenceAllForViewChange(this.clock.nowMs());
    if (fenced > 0) this.logger.info("ec.view_barrier", { epoch: view.epoch, stagedToResolve: fenced });
    const inView = view.members.includes(this.shardIndex) || view.recovering.includes(this.shardIndex);
    const wasInView = previous.members.includes(this.shardIndex) || previous.recovering.includes(this.shardIndex);
    if (!inView && wasInView) {
      // Removed: what this node holds may miss writes from now on. Forget it and rejoin.
      this.logger.warn("ec.removed_from_view", { epoch: view.epoch });
      this.replica.reset();
      this.generation++;
      this.rebuildNeeded = true;
      this.rebuildComplete = false;
      this.progress = null;
    }
    const recovering = view.recovering.includes(this.shardIndex);
    const wasRecovering = previous.recovering.includes(this.shardIndex);
    if (recovering && !wasRecovering) {
      // (Re)entered recovering: whatever was rebuilt before counts for nothing now.
      this.rebuildNeeded = true;
      this.rebuildComplete = false;
    }
    // rebuildComplete is cleared only by the two transitions above (removal,
    // re-entering recovering), never by unrelated view changes: clearing it on any view that
    // was not our promotion made a node miss its promotion, ask to join again, and be sent
    // back to recovering for good (found by the jepsen runner).
    const promoted = view.members.includes(this.shardIndex) && !recovering;
    if (promoted && this.rebuildNeeded && this.rebuildComplete) {
      this.rebuildNeeded = false;
      this.logger.info("ec.promoted", { epoch: view.epoch });
    }
    // A member that still needs a rebuild (restarted before anyone noticed) asks to be
    // listed as recovering; a recovering node rebuilds.
    if (this.rebuildNeeded && !recovering && !this.stopped) void this.requestJoin();
    if (recovering && this.rebuildNeeded && !this.rebuildRunning) void this.rebuild();
  }

  private handleJoin(id: number, shardIndex: number, promote: boolean, requesterEpoch: number): Result {
    if (!this.control.isLeader()) {
      return this.withView(fail(id, ResultCode.RESULT_CODE_NOT_LEADER, `not the control-plane leader (leader: ${this.control.leaderAddress() || "unknown"})`));
    }
    if (!Number.isInteger(shardIndex) || shardIndex < 0 || shardIndex >= this.options.config.servers.length) {
      return fail(id, ResultCode.RESULT_CODE_INVALID_ARGUMENT, `no shard index ${shardIndex}`);
    }
    const dataShards = this.options.config.dataShards;
    // A request made in an older view (delayed, or repeated while the change was in flight)
    // must not undo what happened since, e.g. move a just-promoted node back to recovering.
    if (requesterEpoch < this.control.view().epoch) return ok(id, { $case: "join", value: { view: this.wireView() } });
    void this.control
      .change((view) => {
        if (view.epoch !== requesterEpoch) return null;
        const next = promote ? nextViewForPromote(view, shardIndex) : nextViewForJoin(view, shardIndex, dataShards);
        return typeof next === "string" ? null : next;
      })
      .catch((error: unknown) => this.logger.warn("ec.view_change_failed", { shardIndex, promote, message: errorMessage(error) }));
    // The caller polls the view until it sees the change.
    return ok(id, { $case: "join", value: { view: this.wireView() } });
  }

  /** Asks the control-plane leader (any node forwards us to it) to list us as recovering. */
  private async requestJoin(): Promise<void> {
    if (this.joinRunning) return;
    this.joinRunning = true;
    try {
      for (let attempt = 0; !this.stopped && this.rebuildNeeded && attempt < 100_000; attempt++) {
        const view = this.control.view();
        if (view.recovering.includes(this.shardIndex)) {
          if (!this.rebuildRunning) void this.rebuild();
          return;
        }
        await this.askLeader(false);
        await sleep(JOIN_RETRY_MS);
      }
    } finally {
      this.joinRunning = false;
    }
  }

  private async askLeader(promote: boolean): Promise<void> {
    const leader = this.control.leaderAddress();
    const leaderIndex = this.options.config.servers.indexOf(leader);
    if (leaderIndex < 0) return; // no leader known yet: try again later
    const epoch = this.control.view().epoch;
    if (leaderIndex === this.shardIndex) {
      this.handleJoin(0, this.shardIndex, promote, epoch);
      return;
    }
    try {
      await this.peer(leaderIndex).call({ $case: "join", value: { shardIndex: this.shardIndex, promote, epoch } }, 1_000);
    } catch (error) {
      this.logger.debug("ec.join_retry", { message: errorMessage(error) });
    }
  }

  // --------------------------------------------------------------- failure detector

  /** On the control-plane leader: ping every node of the view; drop the silent ones. */
  private async detectFailures(): Promise<void> {
    if (this.stopped) return;
    const leading = this.control.isLeader();
    const nowMs = this.clock.nowMs();
    if (!leading) {
      this.wasControlLeader = false;
      return;
    }
    const view = this.control.view();
    const targets = writeTargets(view).filter((index) => index !== this.shardIndex);
    // A new leader gives everyone a full timeout before judging, and so does a node that
    // just (re)entered the view: its last answer may be from before it left.
    for (const index of targets) {
      if (!this.wasControlLeader || !this.detectorTargets.has(index)) this.lastSeenMs.set(index, nowMs);
    }
    this.detectorTargets = new Set(targets);
    this.wasControlLeader = true;
    const timeoutMs = this.options.config.heartbeatTimeoutMs;
    await Promise.all(
      targets.map(async (index) => {
        try {
          const result = await this.peer(index).send({ $case: "ping", value: {} }, Math.max(50, Math.floor(timeoutMs / 2)));
          if (result.code === ResultCode.RESULT_CODE_OK) this.lastSeenMs.set(index, this.clock.nowMs());
        } catch {
          // Silence is what this loop measures: the node's lastSeen simply does not move.
        }
      }),
    );
    const silent = new Set<number>();
    const checkMs = this.clock.nowMs();
    for (const index of targets) {
      if (checkMs - (this.lastSeenMs.get(index) ?? checkMs) > timeoutMs) silent.add(index);
    }
    if (silent.size === 0 || !this.control.isLeader()) return;
    try {
      const before = this.control.view().epoch;
      const after = await this.control.change((current) => nextViewForSilence(current, silent, this.options.config.dataShards));
      if (after.epoch !== before) this.logger.warn("ec.node_removed", { silent: [...silent], epoch: after.epoch, members: after.members });
    } catch (error) {
      this.logger.debug("ec.remove_failed", { message: errorMessage(error) });
    }
  }

  // ---------------------------------------------------------------------- recovery

  private listKeys(id: number, token: string, offset: number, limit: number): Result {
    const nowMs = this.clock.nowMs();
    for (const [name, listing] of this.listings) if (listing.expiresAtMs < nowMs) this.listings.delete(name);
    let listing = token === "" ? undefined : this.listings.get(token);
    if (token === "") {
      token = `${this.shardIndex}-${this.nextListing++}`;
      listing = { keys: this.replica.keysForListing(), expiresAtMs: nowMs + LISTING_TTL_MS };
      this.listings.set(token, listing);
    }
    if (listing === undefined) return fail(id, ResultCode.RESULT_CODE_INVALID_ARGUMENT, `listing ${token} expired; start again`);
    const count = Math.max(1, Math.min(limit === 0 ? LIST_PAGE_KEYS : limit, LIST_PAGE_KEYS));
    const keys = listing.keys.slice(offset, offset + count).map((key) => Buffer.from(key, "latin1"));
    return ok(id, { $case: "listKeys", value: { token, keys, done: offset + count >= listing.keys.length } });
  }

  /** Rebuilds this node's shard of every key from k members, then asks for promotion. */
  private async rebuild(): Promise<void> {
    if (this.rebuildRunning) return;
    this.rebuildRunning = true;
    const generation = this.generation;
    const current = (): boolean => !this.stopped && this.generation === generation && this.control.view().recovering.includes(this.shardIndex);
    try {
      const client = (this.rebuildClient ??= new EcClient({ config: this.options.config, codec: this.options.codec }));
      const keys = await this.listAllKeys();
      if (keys === null) return; // no member answered: onView/requestJoin will try again
      const progress: RebuildProgress = { totalKeys: keys.length, rebuiltKeys: 0, rebuiltBytes: 0, startedAtMs: this.clock.nowMs() };
      this.progress = progress;
      this.logger.info("ec.rebuild_started", { keys: keys.length });
      let next = 0;
      let lastLogMs = this.clock.nowMs();
      const worker = async (): Promise<void> => {
        while (next < keys.length && current()) {
          const key = keys[next++];
          // Not `rebuiltBytes += await ...`: that reads the sum before the await and loses
          // the other workers' additions.
          const bytes = await this.rebuildKey(client, key);
          progress.rebuiltBytes += bytes;
          progress.rebuiltKeys++;
          if (this.clock.nowMs() - lastLogMs > 1_000) {
            lastLogMs = this.clock.nowMs();
            this.logger.info("ec.rebuild_progress", this.progressFields(progress));
          }
        }
      };
      await Promise.all(Array.from({ length: REBUILD_CONCURRENCY }, worker));
      if (!current()) return;
      this.logger.info("ec.rebuild_finished", this.progressFields(progress));
      this.rebuildComplete = true;
      await this.finishRebuild(generation);
    } catch (error) {
      this.logger.warn("ec.rebuild_failed", { message: errorMessage(error), progress: this.progress === null ? null : this.progressFields(this.progress) });
      setTimeout(() => {
        if (!this.stopped && this.control.view().recovering.includes(this.shardIndex)) void this.rebuild();
      }, JOIN_RETRY_MS).unref();
    } finally {
      this.rebuildRunning = false;
    }
  }

  private progressFields(progress: RebuildProgress): Record<string, unknown> {
    const elapsedS = Math.max(0.001, (this.clock.nowMs() - progress.startedAtMs) / 1000);
    return {
      keys: progress.rebuiltKeys,
      totalKeys: progress.totalKeys,
      bytes: progress.rebuiltBytes,
      megabytesPerSecond: Number((progress.rebuiltBytes / elapsedS / 1e6).toFixed(2)),
    };
  }

  private async finishRebuild(generation: number): Promise<void> {
    for (let attempt = 0; attempt < 1_000 && !this.stopped && this.generation === generation; attempt++) {
      const view = this.control.view();
      if (view.members.includes(this.shardIndex) && !view.recovering.includes(this.shardIndex)) {
        if (this.rebuildNeeded) this.logger.info("ec.promoted", { epoch: view.epoch });
        this.rebuildNeeded = false;
        return;
      }
      if (!view.recovering.includes(this.shardIndex)) return; // removed meanwhile
      await this.askLeader(true);
      await sleep(JOIN_RETRY_MS);
    }
  }

  /** Every key some member holds (one complete listing is enough: members get every write). */
  private async listAllKeys(): Promise<string[] | null> {
    const view = this.control.view();
    for (const member of view.members) {
      if (member === this.shardIndex) continue;
      try {
        const keys: string[] = [];
        let token = "";
        for (let offset = 0; offset < 100_000_000; offset += LIST_PAGE_KEYS) {
          const result = await this.peer(member).call({ $case: "listKeys", value: { token, offset, limit: LIST_PAGE_KEYS } }, 5_000);
          if (result.code !== ResultCode.RESULT_CODE_OK || result.body?.$case !== "listKeys") throw new Error(result.message);
          token = result.body.value.token;
          for (const key of result.body.value.keys) keys.push(key.toString("latin1"));
          if (result.body.value.done) return keys;
        }
      } catch (error) {
        this.logger.debug("ec.list_keys_failed", { member, message: errorMessage(error) });
      }
    }
    return null;
  }

  /**
   * Rebuilds one key's shard; returns its shard bytes (also when a newer write had already
   * put a shard here: the work of fetching and decoding was done either way).
   */
  private async rebuildKey(client: EcClient, key: string): Promise<number> {
    const keyBytes = Buffer.from(key, "latin1");
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        const read = await client.getVersioned(keyBytes);
        if (read.version === 0) return 0; // never committed (a staged write that aborted)
        const config = this.options.config;
        if (read.kind === "absent") {
          this.replica.installRebuilt(key, { version: read.version, tombstone: true, valueBytes: 0, valueCrc32: crc32(Buffer.alloc(0)), shardCrc32: 0 }, Buffer.alloc(0));
          return 0;
        }
        const layout: Layout = { valueBytes: read.value.length, blockBytes: config.blockBytes, dataShards: config.dataShards, parityShards: config.parityShards };
        const shard = encodeBlobs(this.options.codec, layout, read.value)[this.shardIndex];
        this.replica.installRebuilt(
          key,
          { version: read.version, tombstone: false, valueBytes: read.value.length, valueCrc32: crc32(read.value), shardCrc32: crc32(shard) },
          shard,
        );
        return shard.length;
      } catch (error) {
        if (isKvError(error) && !error.retryable) throw error;
        await sleep(50 + attempt * 20);
      }
    }
    throw new Error(`could not rebuild key ${JSON.stringify(key.slice(0, 64))} after 50 attempts`);
  }

  // ------------------------------------------------------------------- resolution

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
          this.logger.debug("ec.resolve_retry", { message: errorMessage(error) });
          this.replica.resolutionFailed(lock.key, lock.txId, this.clock.nowMs(), RESOLVE_RETRY_MS);
        })
        .finally(() => {
          this.resolving -= 1;
        });
    }
  }

  /**
   * Decides an abandoned (or old-epoch) transaction with the other nodes of the current
   * view (see shard_replica.ts): any committed -> commit everywhere; all answered and none
   * committed -> abort everywhere; someone silent -> try again later (a view change that
   * drops the silent node will let it decide).
   */
  private async resolve(key: Buffer, txId: Buffer): Promise<void> {
    const others = writeTargets(this.control.view()).filter((index) => index !== this.shardIndex);
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
      throw new Error(`tx ${txHex}: ${others.length - answered} node(s) did not answer; cannot decide yet`);
    }
    this.replica.abort({ key, txId });
    await Promise.allSettled(others.map((index) => this.peer(index).call({ $case: "abort", value: { key, txId } }, 1_000)));
    this.logger.info("ec.tx_resolved", { tx: txHex, decision: "abort" });
  }
}

function ok(id: number, body: Result["body"]): Result {
  return { id, code: ResultCode.RESULT_CODE_OK, message: "", body, currentView: undefined };
}

function wrap<T>(id: number, outcome: ReplicaOutcome<T>, body: (reply: T) => Result["body"]): Result {
  if (outcome.code !== ResultCode.RESULT_CODE_OK) return fail(id, outcome.code, outcome.message);
  return ok(id, body(outcome.reply as T));
}

function fail(id: number, code: ResultCode, message: string): Result {
  return { id, code, message, body: undefined, currentView: undefined };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
