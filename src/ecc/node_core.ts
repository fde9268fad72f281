// EccNodeCore: every decision of one ecc node, as a pure state machine. It owns the node's
// shard replica (shard_replica.ts) and decides, from inputs the runtime feeds it, what the
// node answers and what it must do next; it never awaits, reads a clock or opens a socket.
// The runtime (node.ts) and the simulator (test/sim/ecc_sim.ts) carry out its effects.
//
// Inputs: a data-path request (handle), a new view from the control plane (onView), a tick
// with the time and whether this node leads the control plane (tick), and the replies to
// what it sent (ping, tx status, key listing, rebuild reads).
// Effects: messages to other nodes, view changes to propose (only as the control-plane
// leader), rebuild reads to run, log events.
//
// The node's own state, one of (its view of its own data; the view says where it stands):
//   member             holds a shard of every committed version a member must hold; serves
//                      reads while the view lists it as a member.
//   needs-rebuild(g)   its shards may be incomplete (started with `recover`, restarted with
//                      control-plane state from an earlier life, or removed from the view):
//                      serves no reads; asks the control-plane leader to list it as
//                      recovering.
//   recovering(g)      listed as recovering: takes writes (so it misses nothing new), serves
//                      no reads, and rebuilds its shard of every key from k members.
//   rebuilt(g)         the rebuild of generation g finished; asks to be promoted; becomes a
//                      member when a view lists it among the members.
// The generation g grows whenever the node's shards are thrown away (removed from the view)
// or a rebuild must start over (it entered recovering again). Rebuild results and promotion
// requests of an older generation are ignored: a rebuild that ran before the store was
// emptied must not make the node a member.
//
// Failure detection (control-plane leader only): every node of the view is pinged each
// detectorIntervalMs; one silent for heartbeatTimeoutMs is removed from the view (one per
// view change, and a member only while k members remain). A new leader, and a node that just
// entered the view, get a full timeout before they are judged.
//
// Memory (DESIGN.md section 7): every node holds a shard of every key, so nodes fill together
// and a key must be dropped on all of them or none. Each key has an owner, one of the members
// holding a data shard (reads ask those first, so the owner sees the key's reads and writes):
// members[hash(key) mod |data-shard members|]. Only the owner drops its keys, as a write of a
// tombstone through the ordinary two-phase commit, conditional on the version it saw (a key
// rewritten meanwhile is not dropped) and marked as an eviction or an expiry:
// - expiry: a scan cursor walks the key index a few slots per tick; a key past its TTL
//   deadline (wall clock) is dropped by its owner. Reads already treat it as absent;
// - eviction: over max_memory_bytes, the owner samples EVICTION_SAMPLE_SIZE keys per choice and
//   drops the coldest by the policy (access.ts), until what is being dropped brings the node
//   back under its budget (a node owning no keys, one holding a parity shard, leaves eviction
//   to the owners: every node holds shards of the same size, so they fill together);
// - the same scan forgets tombstones EC_TOMBSTONE_KEEP_MS after their delete (the memory of a
//   deleted or evicted key comes back).
// Why this is safe: an eviction is a delete made by the system, with the delete's guarantees:
// every node drops the key at one version or none does, and no read can return an older
// version afterwards (a tombstone version is installed like any other).
//
// Resolution of abandoned transactions (shard_replica.ts explains the protocol): a lock whose
// lease ran out is resolved with the other nodes of the current view: ask each for the tx's
// status; any committed -> EcCommit(resolution) everywhere at that version; every node
// answered and none committed -> EcAbort everywhere; someone silent -> try again later (a
// view change that drops the silent node lets it decide).
import assert from "node:assert/strict";
import { crc32 } from "../codec/checksum";
import { Op, Result, ResultCode, TxState, EcView, EcTxStatusReply, WriteReason } from "../gen/ecc";
import { EcShardReplica, MemoryBudget, ReplicaOutcome } from "./shard_replica";
import { View, ViewChange, writeTargets } from "./view";
import { VersionedRead } from "./read_coordinator";
import { Layout } from "./layout";
import { EVICTION_SAMPLE_SIZE, evictsOnlyVolatile } from "../core/eviction";
import { Random, systemRandom } from "../core/env";
import { evictionScore } from "../storage/access";
import { keyHash } from "../storage/key_index";
import { EntrySummary } from "../storage/shard_store";

export type OpBody = NonNullable<Op["body"]>;

export type EccNodeState =
  | { kind: "member" }
  | { kind: "needs-rebuild"; generation: number }
  | { kind: "recovering"; generation: number }
  | { kind: "rebuilt"; generation: number };

/** What a reply to a node-to-node message is for; the runtime hands it back with the reply. */
export type PeerPurpose =
  | { kind: "ping"; node: number }
  | { kind: "txStatus"; resolution: number; node: number }
  | { kind: "listKeys"; generation: number; node: number }
  /** Fire and forget: resolution EcCommit/EcAbort, join and promote requests. */
  | { kind: "notify" };

export type PeerReply =
  | { kind: "ok"; result: Result }
  | { kind: "silent"; message: string };

export type NodeEffect =
  | { kind: "send"; node: number; body: OpBody; timeoutMs: number; purpose: PeerPurpose }
  /** Propose a view change through the control plane (only the leader's are accepted). */
  | { kind: "proposeView"; change: ViewChange }
  /** Read `key` (the runtime's client: a read coordinator) after `delayMs`, and answer onRebuildRead. */
  | { kind: "rebuildRead"; generation: number; key: string; delayMs: number }
  /** Read `key` after `delayMs` (with a client, expired values included) and answer onRepairRead. */
  | { kind: "repairRead"; key: string; delayMs: number }
  /**
   * Drop `key` cluster-wide: a tombstone write conditional on `version`, marked with `reason`;
   * answer onDropDone.
   */
  | { kind: "dropKey"; key: string; version: number; reason: "evict" | "expire" }
  | { kind: "log"; level: "debug" | "info" | "warn"; event: string; fields: Record<string, unknown> };

export interface EccNodeCoreOptions {
  shardIndex: number;
  shardCount: number;
  dataShards: number;
  blockBytes: number;
  address: string;
  heartbeatTimeoutMs: number;
  /** Started with `recover`, or found control-plane state from an earlier life. */
  needsRebuild: boolean;
  initialView: View;
  /** Encodes a rebuilt value into this node's shard (the codec lives with the runtime). */
  shardOf: (layout: Layout, value: Buffer) => Buffer;
  replica?: EcShardReplica;
  /** The memory budget and eviction policy (default: unbounded). */
  memory?: MemoryBudget;
  /** Draws for eviction sampling and LFU counters; seeded in the simulator. */
  random?: Random;
  /** Timing knobs (defaults NODE_TIMING); the simulator scales them to its cluster. */
  timing?: Partial<NodeTiming>;
  /** Test-only planted bugs: the simulator's self-test shows that its checks catch each. */
  plantedBug?: "restarted-member-serves-reads" | "rebuild-skips-generation-check";
}

export interface RebuildProgress {
  generation: number;
  totalKeys: number;
  rebuiltKeys: number;
  rebuiltBytes: number;
  startedAtMs: number;
  finishedAtMs: number | null;
}

/** How often the node does each periodic thing, and the bounds on what it keeps going. */
export const NODE_TIMING = {
  lockScanMs: 50,
  resolveRetryMs: 300,
  resolvePerScanMax: 64,
  joinRetryMs: 200,
  rebuildRetryMs: 200,
  listPageKeys: 1_000,
  listingTtlMs: 120_000,
  listingsMax: 16,
  peerTimeoutMs: 1_000,
  rebuildReadsInFlightMax: 64,
  rebuildReadAttemptsMax: 50,
  /** Index slots the expiry and tombstone scan looks at per tick. */
  scanSlotsPerTick: 512,
  /** Keys being dropped (evictions and expirations) at once, at most. */
  dropsInFlightMax: 64,
  /** Eviction choices per tick, at most. */
  evictionsPerTick: 16,
  /** Keys being read back to repair a missed version, at most. */
  repairsInFlightMax: 64,
};

export type NodeTiming = typeof NODE_TIMING;

/** Pings to one node awaiting an answer, at most (each has its own deadline). */
const PINGS_OUTSTANDING_MAX = 8;
/** Pings per heartbeat timeout: a node is removed only after this many in a row went unanswered. */
const PINGS_PER_TIMEOUT = 8;

interface Resolution {
  key: Buffer;
  txId: Buffer;
  others: number[];
  answered: number;
  pending: number;
  committedVersion: number;
  committedExpiresAtMs: number;
}

interface Rebuild {
  generation: number;
  /** The member being listed, and where the listing stands. */
  lister: number | null;
  token: string;
  offset: number;
  listingTried: Set<number>;
  keys: string[] | null;
  next: number;
  inFlight: number;
  attempts: Map<string, number>;
  failedAtMs: number | null;
}

export class EccNodeCore {
  readonly replica: EcShardReplica;
  readonly shardIndex: number;
  private readonly options: EccNodeCoreOptions;
  private readonly timing: NodeTiming;
  private stateValue: EccNodeState;
  private generation = 0;
  private currentView: View;
  // failure detector (leader only)
  private wasLeader = false;
  private lastDetectMs = -Infinity;
  private readonly lastSeenMs = new Map<number, number>();
  private detectorTargets = new Set<number>();
  private nextPingMs = 0;
  private readonly pingsOutstanding = new Map<number, number>();
  /** The last silence proposal (epoch, time): proposed once per epoch, again after a timeout. */
  private silenceProposed = { epoch: 0, atMs: -Infinity };
  // resolution
  private nextResolution = 1;
  private readonly resolutions = new Map<number, Resolution>();
  private nextScanMs = 0;
  // join / promote / rebuild
  private nextJoinMs = 0;
  private rebuild: Rebuild | null = null;
  private progressValue: RebuildProgress | null = null;
  // memory: keys being dropped (key -> bytes it frees), the scan cursor, counters
  private readonly drops = new Map<string, number>();
  private readonly repairs = new Map<string, { minVersion: number; attempts: number }>();
  private scanCursor = 0;
  private readonly random: Random;
  // listings served to recovering peers
  private readonly listings = new Map<string, { keys: string[]; expiresAtMs: number }>();
  private nextListing = 1;

  constructor(options: EccNodeCoreOptions) {
    assert(options.shardIndex >= 0 && options.shardIndex < options.shardCount);
    this.options = options;
    this.timing = { ...NODE_TIMING, ...options.timing };
    this.shardIndex = options.shardIndex;
    this.random = options.random ?? systemRandom;
    this.replica =
      options.replica ??
      new EcShardReplica({
        shardIndex: options.shardIndex,
        dataShards: options.dataShards,
        parityShards: options.shardCount - options.dataShards,
        blockBytes: options.blockBytes,
        address: options.address,
        memory: options.memory,
        random: this.random,
      });
    this.currentView = options.initialView;
    this.stateValue = options.needsRebuild ? { kind: "needs-rebuild", generation: 0 } : { kind: "member" };
  }

  get state(): EccNodeState {
    return this.stateValue;
  }

  view(): View {
    return this.currentView;
  }

  get progress(): RebuildProgress | null {
    return this.progressValue;
  }

  /** "member", "recovering" or "removed": the node's standing as stats and status show it. */
  reportedState(): string {
    const view = this.currentView;
    if (view.recovering.includes(this.shardIndex)) return "recovering";
    if (view.members.includes(this.shardIndex)) return this.stateValue.kind === "member" ? "member" : "recovering";
    return "removed";
  }

  /** Reads are served only by a member with complete shards that the view lists as a member. */
  servesReads(): boolean {
    if (this.options.plantedBug === "restarted-member-serves-reads") return this.currentView.members.includes(this.shardIndex);
    return this.stateValue.kind === "member" && this.currentView.members.includes(this.shardIndex);
  }

  wireView(leader: string): EcView {
    const view = this.currentView;
    return { epoch: view.epoch, members: [...view.members], recovering: [...view.recovering], leader };
  }

  // ------------------------------------------------------------------ requests

  /**
   * A data-path request from a client or peer. `leading`/`leader`: the control plane's state,
   * for join requests. Returns the answer and what the node must do besides.
   */
  handle(op: Op, nowMs: number, leading: boolean, leader: string, wallMs: number): { result: Result; effects: NodeEffect[] } {
    const body = op.body;
    const effects: NodeEffect[] = [];
    const answer = (result: Result): { result: Result; effects: NodeEffect[] } => ({ result, effects });
    if (body === undefined) return answer(fail(op.id, ResultCode.RESULT_CODE_INVALID_ARGUMENT, "operation without a body"));
    const view = this.currentView;
    const withView = (result: Result): Result => ({ ...result, currentView: this.wireView(leader) });
    const dataOp = body.$case === "prepare" || body.$case === "get" || (body.$case === "commit" && !body.value.resolution);
    if (dataOp && op.epoch !== view.epoch) {
      return answer(withView(fail(op.id, ResultCode.RESULT_CODE_STALE_EPOCH, `node is at epoch ${view.epoch}, request at ${op.epoch}`)));
    }
    const inView = view.members.includes(this.shardIndex) || view.recovering.includes(this.shardIndex);
    if ((body.$case === "prepare" || body.$case === "commit") && !inView) {
      return answer(withView(fail(op.id, ResultCode.RESULT_CODE_NOT_SERVING, "node is not in the view")));
    }
    switch (body.$case) {
      case "prepare":
        return answer(wrap(op.id, this.replica.prepare(body.value, nowMs), (reply) => ({ $case: "prepare", value: reply })));
      case "commit": {
        const outcome = this.replica.commit(body.value, wallMs);
        if (outcome.code === ResultCode.RESULT_CODE_TX_ABORTED && body.value.version > this.replica.store.version(body.value.key.toString("latin1"))) {
          // A version committed elsewhere that this node never staged: it was not a write target
          // when the write began (it was rejoining, and rebuilt the key from an older version
          // while the write was being resolved). Read the key back so it does not stay behind.
          effects.push(...this.repair(body.value.key.toString("latin1"), body.value.version));
        }
        effects.push(...this.dropLogs(outcome.reply, body.value.key.toString("latin1"), body.value.version, wallMs));
        return answer(wrap(op.id, outcome, () => ({ $case: "commit", value: {} })));
      }
      case "abort":
        return answer(wrap(op.id, this.replica.abort(body.value), () => ({ $case: "abort", value: {} })));
      case "get":
        if (!this.servesReads()) {
          return answer(withView(fail(op.id, ResultCode.RESULT_CODE_NOT_SERVING, `node is ${this.reportedState()}: it serves no reads`)));
        }
        return answer(wrap(op.id, this.replica.get(body.value, wallMs), (reply) => ({ $case: "get", value: reply })));
      case "txStatus":
        return answer(wrap(op.id, this.replica.txStatus(body.value), (reply) => ({ $case: "txStatus", value: reply })));
      case "getView":
        return answer(ok(op.id, { $case: "view", value: this.wireView(leader) }));
      case "ping":
        return answer(ok(op.id, { $case: "ping", value: { epoch: view.epoch } }));
      case "listKeys":
        // Only a node that holds every key may list them for a rebuild: a member that is
        // itself rebuilding (or restarted empty) would hand out an incomplete list.
        if (!this.servesReads()) {
          return answer(withView(fail(op.id, ResultCode.RESULT_CODE_NOT_SERVING, `node is ${this.reportedState()}: it cannot list its keys`)));
        }
        return answer(this.listKeys(op.id, body.value.token, body.value.offset, body.value.limit, nowMs));
      case "join":
        return this.onJoinRequest(op.id, body.value.shardIndex, body.value.promote, body.value.epoch, leading, leader);
      case "stats":
        // Stats are assembled by the runtime (process memory lives there).
        return answer(fail(op.id, ResultCode.RESULT_CODE_INTERNAL, "stats are answered by the runtime"));
    }
  }

  /** The control-plane leader's decision on a join or promote request. */
  private onJoinRequest(
    id: number,
    shardIndex: number,
    promote: boolean,
    requesterEpoch: number,
    leading: boolean,
    leader: string,
  ): { result: Result; effects: NodeEffect[] } {
    if (!leading) {
      const result = fail(id, ResultCode.RESULT_CODE_NOT_LEADER, `not the control-plane leader (leader: ${leader || "unknown"})`);
      return { result: { ...result, currentView: this.wireView(leader) }, effects: [] };
    }
    if (!Number.isInteger(shardIndex) || shardIndex < 0 || shardIndex >= this.options.shardCount) {
      return { result: fail(id, ResultCode.RESULT_CODE_INVALID_ARGUMENT, `no shard index ${shardIndex}`), effects: [] };
    }
    const reply = ok(id, { $case: "join", value: { view: this.wireView(leader) } });
    // A request made in an older view (delayed, or repeated while the change was in flight)
    // must not undo what happened since, e.g. move a just-promoted node back to recovering.
    if (requesterEpoch < this.currentView.epoch) return { result: reply, effects: [] };
    // The caller polls the view until it sees the change.
    return {
      result: reply,
      effects: [{ kind: "proposeView", change: { kind: promote ? "promote" : "join", shardIndex, expectedEpoch: requesterEpoch } }],
    };
  }

  // ------------------------------------------------------------------ views

  /** A view the control plane applied (every node applies the same sequence). */
  onView(view: View, nowMs: number): NodeEffect[] {
    const previous = this.currentView;
    this.currentView = view;
    const effects: NodeEffect[] = [];
    const fenced = this.replica.fenceAllForViewChange(nowMs);
    if (fenced > 0) effects.push(log("info", "ec.view_barrier", { epoch: view.epoch, stagedToResolve: fenced }));
    const me = this.shardIndex;
    const inView = view.members.includes(me) || view.recovering.includes(me);
    const wasInView = previous.members.includes(me) || previous.recovering.includes(me);
    const recovering = view.recovering.includes(me);
    const wasRecovering = previous.recovering.includes(me);
    if (!inView && wasInView) {
      // Removed: what this node holds may miss writes from now on. Forget it and rejoin.
      effects.push(log("warn", "ec.removed_from_view", { epoch: view.epoch }));
      this.replica.reset();
      this.listings.clear();
      this.becomeNeedsRebuild();
      this.progressValue = null;
    } else if (recovering && !wasRecovering) {
      // (Re)entered recovering: whatever was rebuilt before counts for nothing now.
      this.generation++;
      this.stateValue = { kind: "recovering", generation: this.generation };
      this.rebuild = null;
    } else if (view.members.includes(me) && !recovering) {
      if (this.stateValue.kind === "rebuilt") {
        this.stateValue = { kind: "member" };
        effects.push(log("info", "ec.promoted", { epoch: view.epoch, generation: this.generation }));
      } else if (this.stateValue.kind === "recovering") {
        // Listed as a member before the rebuild finished: its shards are incomplete.
        this.becomeNeedsRebuild();
      }
    }
    if (this.stateValue.kind === "needs-rebuild" && !recovering) this.nextJoinMs = Math.min(this.nextJoinMs, nowMs);
    if (this.stateValue.kind === "recovering" && this.rebuild === null) effects.push(...this.startRebuild(nowMs));
    return effects;
  }

  private becomeNeedsRebuild(): void {
    this.generation++;
    this.stateValue = { kind: "needs-rebuild", generation: this.generation };
    this.rebuild = null;
  }

  // ------------------------------------------------------------------ time

  /** Called every few ms by the driver; `leading`: this node leads the control plane. */
  tick(nowMs: number, leading: boolean, leaderIndex: number | null, wallMs: number): NodeEffect[] {
    const effects: NodeEffect[] = [];
    effects.push(...this.reclaim(wallMs));
    effects.push(...this.detect(nowMs, leading));
    if (nowMs >= this.nextScanMs) {
      this.nextScanMs = nowMs + this.timing.lockScanMs;
      effects.push(...this.scanLocks(nowMs, wallMs));
    }
    effects.push(...this.joinOrPromote(nowMs, leaderIndex));
    const rebuild = this.rebuild;
    if (this.stateValue.kind === "recovering" && rebuild !== null && rebuild.failedAtMs !== null && nowMs - rebuild.failedAtMs >= this.timing.rebuildRetryMs) {
      this.rebuild = null;
      effects.push(...this.startRebuild(nowMs));
    }
    this.expireListings(nowMs);
    return effects;
  }

  private joinOrPromote(nowMs: number, leaderIndex: number | null): NodeEffect[] {
    const state = this.stateValue;
    const view = this.currentView;
    const wantsJoin = state.kind === "needs-rebuild" && !view.recovering.includes(this.shardIndex);
    const wantsPromote = state.kind === "rebuilt" && view.recovering.includes(this.shardIndex);
    if ((!wantsJoin && !wantsPromote) || nowMs < this.nextJoinMs || leaderIndex === null) return [];
    this.nextJoinMs = nowMs + this.timing.joinRetryMs;
    return [
      {
        kind: "send",
        node: leaderIndex,
        body: { $case: "join", value: { shardIndex: this.shardIndex, promote: wantsPromote, epoch: view.epoch } },
        timeoutMs: this.timing.peerTimeoutMs,
        purpose: { kind: "notify" },
      },
    ];
  }

  // ------------------------------------------------------------------ failure detector

  private detect(nowMs: number, leading: boolean): NodeEffect[] {
    if (!leading) {
      this.wasLeader = false;
      return [];
    }
    const effects: NodeEffect[] = [];
    const targets = writeTargets(this.currentView).filter((node) => node !== this.shardIndex);
    const timeoutMs = this.options.heartbeatTimeoutMs;
    // A new leader gives everyone a full timeout before judging, and so does a node that
    // just (re)entered the view: its last answer may be from before it left. So does a leader
    // that was itself stalled (paused, swapped out) since its last tick: the silence it would
    // see is its own.
    const stalled = nowMs - this.lastDetectMs > timeoutMs / 2;
    this.lastDetectMs = nowMs;
    for (const node of targets) {
      if (!this.wasLeader || stalled || !this.detectorTargets.has(node)) this.lastSeenMs.set(node, nowMs);
    }
    this.detectorTargets = new Set(targets);
    this.wasLeader = true;
    if (nowMs >= this.nextPingMs) {
      // PINGS_PER_TIMEOUT pings per timeout, whether or not the last one was answered: one lost
      // reply must not leave a gap that a slow next reply turns into a false removal.
      this.nextPingMs = nowMs + Math.max(10, Math.floor(timeoutMs / PINGS_PER_TIMEOUT));
      for (const node of targets) {
        const outstanding = this.pingsOutstanding.get(node) ?? 0;
        if (outstanding >= PINGS_OUTSTANDING_MAX) continue;
        this.pingsOutstanding.set(node, outstanding + 1);
        effects.push({
          kind: "send",
          node,
          body: { $case: "ping", value: {} },
          timeoutMs: Math.max(50, Math.floor(timeoutMs / 2)),
          purpose: { kind: "ping", node },
        });
      }
    }
    const silent = new Set<number>();
    for (const node of targets) {
      if (nowMs - (this.lastSeenMs.get(node) ?? nowMs) > timeoutMs) silent.add(node);
    }
    const epoch = this.currentView.epoch;
    const proposedNow = this.silenceProposed.epoch === epoch && nowMs - this.silenceProposed.atMs < timeoutMs;
    if (silent.size > 0 && !proposedNow) {
      this.silenceProposed = { epoch, atMs: nowMs };
      effects.push({ kind: "proposeView", change: { kind: "silence", silent: [...silent], expectedEpoch: epoch } });
    }
    return effects;
  }

  // ------------------------------------------------------------------ replies

  /** A peer's answer; nowMs: the monotonic clock, wallMs: epoch ms (a resolution may commit). */
  onPeerReply(purpose: PeerPurpose, reply: PeerReply, nowMs: number, wallMs: number): NodeEffect[] {
    switch (purpose.kind) {
      case "ping":
        this.pingsOutstanding.set(purpose.node, Math.max(0, (this.pingsOutstanding.get(purpose.node) ?? 1) - 1));
        if (reply.kind === "ok" && reply.result.code === ResultCode.RESULT_CODE_OK) this.lastSeenMs.set(purpose.node, nowMs);
        return [];
      case "txStatus":
        return this.onTxStatus(purpose.resolution, reply, nowMs, wallMs);
      case "listKeys":
        return this.onListing(purpose.generation, purpose.node, reply, nowMs);
      case "notify":
        return [];
    }
  }

  /**
   * The log line of a drop (eviction or expiry) committed here: the key, the tombstone's
   * version, the CRC-32 of the value it removed and when (epoch ms). The jepsen runner reads
   * the evictions and the checker treats each as a delete of that value (src/jepsen/drops.ts).
   */
  private dropLogs(reply: { reason?: WriteReason; droppedValueCrc32?: number } | undefined, key: string, version: number, wallMs: number): NodeEffect[] {
    const reason = reply?.reason;
    if (reason === undefined || reason === WriteReason.WRITE_REASON_CLIENT) return [];
    return [
      log("info", reason === WriteReason.WRITE_REASON_EVICT ? "ec.key_evicted" : "ec.key_expired", {
        key,
        version,
        valueCrc32: reply?.droppedValueCrc32 ?? 0,
        atMs: wallMs,
      }),
    ];
  }

  // ------------------------------------------------------------------ resolution

  private scanLocks(nowMs: number, wallMs: number): NodeEffect[] {
    const room = this.timing.resolvePerScanMax - this.resolutions.size;
    if (room <= 0) return [];
    const effects: NodeEffect[] = [];
    for (const lock of this.replica.takeExpiredLocks(nowMs, room)) {
      const others = writeTargets(this.currentView).filter((node) => node !== this.shardIndex);
      const id = this.nextResolution++;
      this.resolutions.set(id, { key: lock.key, txId: lock.txId, others, answered: 0, pending: others.length, committedVersion: 0, committedExpiresAtMs: 0 });
      if (others.length === 0) {
        effects.push(...this.decideResolution(id, nowMs, wallMs));
        continue;
      }
      for (const node of others) {
        effects.push({
          kind: "send",
          node,
          body: { $case: "txStatus", value: { key: lock.key, txId: lock.txId } },
          timeoutMs: this.timing.peerTimeoutMs,
          purpose: { kind: "txStatus", resolution: id, node },
        });
      }
    }
    return effects;
  }

  private onTxStatus(id: number, reply: PeerReply, nowMs: number, wallMs: number): NodeEffect[] {
    const resolution = this.resolutions.get(id);
    if (resolution === undefined) return [];
    resolution.pending--;
    if (reply.kind === "ok" && reply.result.code === ResultCode.RESULT_CODE_OK && reply.result.body?.$case === "txStatus") {
      resolution.answered++;
      const status: EcTxStatusReply = reply.result.body.value;
      if (status.state === TxState.TX_STATE_COMMITTED) {
        resolution.committedVersion = status.version;
        resolution.committedExpiresAtMs = status.expiresAtMs;
      }
    }
    if (resolution.pending > 0) return [];
    return this.decideResolution(id, nowMs, wallMs);
  }

  private decideResolution(id: number, nowMs: number, wallMs: number): NodeEffect[] {
    const resolution = this.resolutions.get(id)!;
    this.resolutions.delete(id);
    const { key, txId, others } = resolution;
    const tx = txId.toString("hex");
    const notify = (body: OpBody): NodeEffect[] =>
      others.map((node) => ({ kind: "send", node, body, timeoutMs: this.timing.peerTimeoutMs, purpose: { kind: "notify" } }));
    if (resolution.committedVersion > 0) {
      const version = resolution.committedVersion;
      const commit = { key, txId, version, resolution: true, expiresAtMs: resolution.committedExpiresAtMs };
      const local = this.replica.commit(commit, wallMs);
      return [
        ...notify({ $case: "commit", value: commit }),
        log("info", "ec.tx_resolved", { tx, decision: "commit", version, localCode: ResultCode[local.code] }),
        ...this.dropLogs(local.reply, key.toString("latin1"), version, wallMs),
      ];
    }
    if (resolution.answered < others.length) {
      this.replica.resolutionFailed(key, txId, nowMs, this.timing.resolveRetryMs);
      return [log("debug", "ec.resolve_retry", { tx, silent: others.length - resolution.answered })];
    }
    this.replica.abort({ key, txId });
    return [...notify({ $case: "abort", value: { key, txId } }), log("info", "ec.tx_resolved", { tx, decision: "abort" })];
  }

  // ------------------------------------------------------------------ rebuild

  private startRebuild(nowMs: number): NodeEffect[] {
    assert(this.stateValue.kind === "recovering");
    this.rebuild = {
      generation: this.generation,
      lister: null,
      token: "",
      offset: 0,
      listingTried: new Set(),
      keys: null,
      next: 0,
      inFlight: 0,
      attempts: new Map(),
      failedAtMs: null,
    };
    return this.listNextPage(nowMs);
  }

  /** Asks a member for the next page of its keys (one complete listing is enough: members get every write). */
  private listNextPage(nowMs: number): NodeEffect[] {
    const rebuild = this.rebuild!;
    if (rebuild.lister === null) {
      const lister = this.currentView.members.find((node) => node !== this.shardIndex && !rebuild.listingTried.has(node));
      if (lister === undefined) {
        rebuild.failedAtMs = nowMs;
        return [log("warn", "ec.rebuild_failed", { reason: "no member could list its keys", generation: rebuild.generation })];
      }
      rebuild.lister = lister;
      rebuild.listingTried.add(lister);
      rebuild.token = "";
      rebuild.offset = 0;
      rebuild.keys = [];
    }
    return [
      {
        kind: "send",
        node: rebuild.lister,
        body: { $case: "listKeys", value: { token: rebuild.token, offset: rebuild.offset, limit: this.timing.listPageKeys } },
        timeoutMs: 5 * this.timing.peerTimeoutMs,
        purpose: { kind: "listKeys", generation: rebuild.generation, node: rebuild.lister },
      },
    ];
  }

  private onListing(generation: number, node: number, reply: PeerReply, nowMs: number): NodeEffect[] {
    const rebuild = this.rebuild;
    if (rebuild === null || rebuild.generation !== generation || rebuild.lister !== node || this.stateValue.kind !== "recovering") return [];
    const result = reply.kind === "ok" ? reply.result : null;
    if (result === null || result.code !== ResultCode.RESULT_CODE_OK || result.body?.$case !== "listKeys") {
      // Try another member from the start.
      rebuild.lister = null;
      const why = reply.kind === "silent" ? reply.message : `${ResultCode[result!.code]}: ${result!.message}`;
      return [log("debug", "ec.list_keys_failed", { member: node, message: why }), ...this.listNextPage(nowMs)];
    }
    const page = result.body.value;
    rebuild.token = page.token;
    rebuild.offset += page.keys.length;
    for (const key of page.keys) rebuild.keys!.push(key.toString("latin1"));
    if (!page.done) return this.listNextPage(nowMs);
    const keys = rebuild.keys!;
    this.progressValue = { generation, totalKeys: keys.length, rebuiltKeys: 0, rebuiltBytes: 0, startedAtMs: nowMs, finishedAtMs: null };
    return [log("info", "ec.rebuild_started", { keys: keys.length, generation }), ...this.feedRebuild(nowMs)];
  }

  /** Keeps up to rebuildReadsInFlightMax reads going; finishes when every key is done. */
  private feedRebuild(nowMs: number): NodeEffect[] {
    const rebuild = this.rebuild!;
    const keys = rebuild.keys;
    if (keys === null) return []; // still listing
    const effects: NodeEffect[] = [];
    while (rebuild.next < keys.length && rebuild.inFlight < this.timing.rebuildReadsInFlightMax) {
      rebuild.inFlight++;
      effects.push({ kind: "rebuildRead", generation: rebuild.generation, key: keys[rebuild.next++], delayMs: 0 });
    }
    if (rebuild.next === keys.length && rebuild.inFlight === 0) effects.push(...this.finishRebuild(rebuild.generation, nowMs));
    return effects;
  }

  /**
   * The answer to a rebuildRead effect: the key's value and version, or why it failed.
   * nowMs: the monotonic clock (progress); wallMs: epoch ms (TTL deadlines, tombstones' keep).
   */
  onRebuildRead(
    generation: number,
    key: string,
    read: VersionedRead | { kind: "error"; message: string; retryable: boolean },
    nowMs: number,
    wallMs: number,
  ): NodeEffect[] {
    const rebuild = this.rebuild;
    const skipCheck = this.options.plantedBug === "rebuild-skips-generation-check";
    if (rebuild === null || this.stateValue.kind !== "recovering") return [];
    if (rebuild.generation !== generation && !skipCheck) return []; // a read of a rebuild that was given up
    rebuild.inFlight--;
    if (read.kind === "error") {
      const tried = (rebuild.attempts.get(key) ?? 0) + 1;
      rebuild.attempts.set(key, tried);
      if (!read.retryable || tried >= this.timing.rebuildReadAttemptsMax) {
        rebuild.failedAtMs = nowMs;
        return [log("warn", "ec.rebuild_failed", { key: keyLabel(key), attempts: tried, message: read.message, generation })];
      }
      rebuild.inFlight++;
      return [{ kind: "rebuildRead", generation: rebuild.generation, key, delayMs: 50 + 20 * tried }];
    }
    const bytes = this.installRebuilt(key, read, wallMs);
    const progress = this.progressValue;
    if (progress !== null) {
      progress.rebuiltKeys++;
      progress.rebuiltBytes += bytes;
    }
    return this.feedRebuild(nowMs);
  }

  /** Installs one key's rebuilt shard unless a newer write already gave this node one (wallMs: epoch ms). */
  private installRebuilt(key: string, read: VersionedRead, wallMs: number): number {
    if (read.version === 0) return 0; // never committed (a staged write that aborted)
    if (read.kind === "absent") {
      this.replica.installRebuilt(
        key,
        { version: read.version, tombstone: true, valueBytes: 0, valueCrc32: crc32(Buffer.alloc(0)), shardCrc32: 0, expiresAtMs: 0 },
        Buffer.alloc(0),
        wallMs,
      );
      return 0;
    }
    const layout: Layout = {
      valueBytes: read.value.length,
      blockBytes: this.options.blockBytes,
      dataShards: this.options.dataShards,
      parityShards: this.options.shardCount - this.options.dataShards,
    };
    const shard = this.options.shardOf(layout, read.value);
    this.replica.installRebuilt(
      key,
      {
        version: read.version,
        tombstone: false,
        valueBytes: read.value.length,
        valueCrc32: crc32(read.value),
        shardCrc32: crc32(shard),
        expiresAtMs: read.expiresAtMs,
      },
      shard,
      wallMs,
    );
    return shard.length;
  }

  private finishRebuild(generation: number, nowMs: number): NodeEffect[] {
    const progress = this.progressValue;
    if (progress !== null) progress.finishedAtMs = nowMs;
    this.rebuild = null;
    if (this.stateValue.kind !== "recovering" || this.stateValue.generation !== generation) return [];
    this.stateValue = { kind: "rebuilt", generation };
    this.nextJoinMs = nowMs; // ask for promotion at the next tick
    return [log("info", "ec.rebuild_finished", progress === null ? { generation } : { ...progressFields(progress, nowMs), generation })];
  }

  // ------------------------------------------------------------------ memory

  /** The member that decides to drop `key`: one holding a data shard (it sees the key's reads). */
  ownerOf(key: string): number {
    const members = this.currentView.members;
    const dataHolders = members.filter((node) => node < this.options.dataShards);
    const candidates = dataHolders.length > 0 ? dataHolders : members;
    return candidates[keyHash(key) % candidates.length];
  }

  /** Expiry, tombstone forgetting and eviction, bounded per tick. */
  private reclaim(wallMs: number): NodeEffect[] {
    if (!this.servesReads()) return []; // only a member with complete shards decides
    const effects: NodeEffect[] = [];
    const store = this.replica.store;
    const { entries, next } = store.scan(this.scanCursor, this.timing.scanSlotsPerTick);
    this.scanCursor = next;
    for (const entry of entries) {
      if (entry.tombstone) {
        this.replica.dropTombstone(entry.key, wallMs);
        continue;
      }
      if (entry.expiresAtMs === 0 || entry.expiresAtMs > wallMs || this.ownerOf(entry.key) !== this.shardIndex) continue;
      if (this.drops.has(entry.key) || this.drops.size >= this.timing.dropsInFlightMax) continue;
      this.drops.set(entry.key, entry.bytes);
      effects.push({ kind: "dropKey", key: entry.key, version: entry.version, reason: "expire" });
    }
    effects.push(...this.evict(wallMs));
    return effects;
  }

  private evict(wallMs: number): NodeEffect[] {
    const { maxBytes, policy } = this.replica.memory;
    if (maxBytes === 0 || policy === "noeviction") return [];
    let dropping = 0;
    for (const bytes of this.drops.values()) dropping += bytes;
    const effects: NodeEffect[] = [];
    const store = this.replica.store;
    for (let choice = 0; choice < this.timing.evictionsPerTick && this.drops.size < this.timing.dropsInFlightMax; choice++) {
      if (this.replica.usedBytes() - dropping <= maxBytes) break;
      let best: EntrySummary | null = null;
      let bestScore = Number.NEGATIVE_INFINITY;
      // Candidates are keys this node owns: it sees their reads, so its stamps say which are
      // cold. A node that owns none (a parity shard's) leaves eviction to the owners, which
      // hold shards of the same size and so run over budget together with it.
      const sample = store.sample(2 * EVICTION_SAMPLE_SIZE, (below) => this.random.int(below));
      const owned = sample.filter((entry) => this.ownerOf(entry.key) === this.shardIndex);
      for (const entry of owned.slice(0, EVICTION_SAMPLE_SIZE)) {
        if (entry.tombstone || this.drops.has(entry.key)) continue;
        if (evictsOnlyVolatile(policy) && entry.expiresAtMs === 0) continue;
        const score = evictionScore(policy, entry.stamp, wallMs, entry.expiresAtMs);
        if (best === null || score > bestScore) {
          best = entry;
          bestScore = score;
        }
      }
      if (best === null) continue; // nothing evictable in this sample (volatile-* with no TTLs)
      this.drops.set(best.key, best.bytes);
      dropping += best.bytes;
      effects.push({ kind: "dropKey", key: best.key, version: best.version, reason: "evict" });
    }
    return effects;
  }

  /**
   * Starts reading `key` back until a read shows version `minVersion` or newer (the one this
   * node heard was committed), unless a repair of the key runs already (bounded).
   */
  private repair(key: string, minVersion: number): NodeEffect[] {
    const running = this.repairs.get(key);
    if (running !== undefined) {
      running.minVersion = Math.max(running.minVersion, minVersion);
      return [];
    }
    if (this.repairs.size >= this.timing.repairsInFlightMax) return [];
    this.repairs.set(key, { minVersion, attempts: 0 });
    return [log("info", "ec.repair_started", { key: keyLabel(key), minVersion }), { kind: "repairRead", key, delayMs: 0 }];
  }

  /**
   * The answer to a repairRead: install the key's version if it is newer than this node's.
   * Until the version it waits for shows up (the write is still being resolved elsewhere),
   * read again, a bounded number of times.
   */
  onRepairRead(key: string, read: VersionedRead | { kind: "error"; message: string; retryable: boolean }, wallMs: number): NodeEffect[] {
    const repair = this.repairs.get(key);
    if (repair === undefined) return [];
    if (read.kind !== "error") this.installRebuilt(key, read, wallMs);
    if (read.kind !== "error" && (read.version >= repair.minVersion || this.replica.store.version(key) >= repair.minVersion)) {
      this.repairs.delete(key);
      return [];
    }
    repair.attempts++;
    if (repair.attempts >= this.timing.rebuildReadAttemptsMax) {
      this.repairs.delete(key);
      return [log("warn", "ec.repair_failed", { key: keyLabel(key), minVersion: repair.minVersion, message: read.kind === "error" ? read.message : `read version ${read.version}` })];
    }
    return [{ kind: "repairRead", key, delayMs: 20 + 10 * repair.attempts }];
  }

  /** The drop of `key` ended (applied, skipped because the key changed, or failed). */
  onDropDone(key: string): void {
    this.drops.delete(key);
  }

  // ------------------------------------------------------------------ listings

  private listKeys(id: number, token: string, offset: number, limit: number, nowMs: number): Result {
    let listing = token === "" ? undefined : this.listings.get(token);
    if (token === "") {
      if (this.listings.size >= this.timing.listingsMax) this.listings.delete(this.listings.keys().next().value as string);
      token = `${this.shardIndex}-${this.nextListing++}`;
      listing = { keys: this.replica.keysForListing(), expiresAtMs: nowMs + this.timing.listingTtlMs };
      this.listings.set(token, listing);
    }
    if (listing === undefined) return fail(id, ResultCode.RESULT_CODE_INVALID_ARGUMENT, `listing ${token} expired; start again`);
    const count = Math.max(1, Math.min(limit === 0 ? this.timing.listPageKeys : limit, this.timing.listPageKeys));
    const keys = listing.keys.slice(offset, offset + count).map((key) => Buffer.from(key, "latin1"));
    return ok(id, { $case: "listKeys", value: { token, keys, done: offset + count >= listing.keys.length } });
  }

  private expireListings(nowMs: number): void {
    for (const [name, listing] of this.listings) if (listing.expiresAtMs < nowMs) this.listings.delete(name);
  }

}

export function progressFields(progress: RebuildProgress, nowMs: number): Record<string, unknown> {
  const elapsedS = Math.max(0.001, ((progress.finishedAtMs ?? nowMs) - progress.startedAtMs) / 1000);
  return {
    keys: progress.rebuiltKeys,
    totalKeys: progress.totalKeys,
    bytes: progress.rebuiltBytes,
    megabytesPerSecond: Number((progress.rebuiltBytes / elapsedS / 1e6).toFixed(2)),
  };
}

function keyLabel(key: string): string {
  return JSON.stringify(key.slice(0, 64));
}

function log(level: "debug" | "info" | "warn", event: string, fields: Record<string, unknown>): NodeEffect {
  return { kind: "log", level, event, fields };
}

function ok(id: number, body: Result["body"]): Result {
  return { id, code: ResultCode.RESULT_CODE_OK, message: "", body, currentView: undefined };
}

function wrap<T>(id: number, outcome: ReplicaOutcome<T>, body: (reply: T) => Result["body"]): Result {
  if (outcome.code !== ResultCode.RESULT_CODE_OK) return fail(id, outcome.code, outcome.message);
  return ok(id, body(outcome.reply as T));
}

export function fail(id: number, code: ResultCode, message: string): Result {
  return { id, code, message, body: undefined, currentView: undefined };
}

