// EccNodeCore: every decision of one ecc node, as a pure state machine. It owns the node's
// shard replica (shard_replica.ts) and decides, from inputs the runtime feeds it, what the
// node answers and what it must do next; it never awaits, reads a clock or opens a socket.
// The runtime (node.ts) and the simulator (test/sim/ecc_sim.ts) carry out its effects.
//
// Inputs: a data-path request (handle), a new view from the control plane (onView), a tick
// with the time and whether this node leads the control plane (tick), and the replies to
// what it sent (ping, tx status, key listing, bulk pulls, rebuild reads).
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
// The rebuild (recovering(g)), as a stream: list the keys of one member that serves reads
// (a sorted snapshot, paged); cut the listing into runs and pull each run's shards in bulk
// (EcPullShards) from the same k members that serve reads, data shards first, up to
// rebuildPullsInFlightMax runs at once, each reply bounded by rebuildPullBytes. A run's
// replies line up key by key; for each key whose k shards hold one version (and agree on
// its layout, value CRC and TTL deadline) this node rebuilds its own shard with one codec
// call per batch of keys (rebuild_coding.ts: every source checked by its CRC-32 and the
// value by its CRC-32) and installs it through EcShardReplica.installRebuilt unless a newer
// version is already here. The rest of a run that did not fit a reply is pulled again. A
// key the bulk path cannot settle - shards of different versions (a write is committing),
// a blob too large for one reply, a shard that fails a check - goes to the per-key path: a
// read coordinator, as a client reads (rebuildRead). A pull that fails (a member silent,
// not serving, or at another epoch) is sent again, avoiding that member for a while; after
// rebuildPullAttemptsMax tries its keys go to the per-key path too.
// Pacing, so foreground traffic keeps its share and no node stalls past the failure
// detector's timeout: how many pulls are in flight is a window, 1 at first, one more after
// each pull answered within rebuildPullLatencyMs (from its send to its last reply), halved
// after a slower one and back to 1 after a failed one, never above rebuildPullsInFlightMax.
// A pull's latency is what a busy member or a busy recovering node makes it, so the rebuild
// slows down exactly when the nodes are busy. At most rebuildPullsInFlightMax x k replies of
// rebuildPullBytes plus rebuildReadsInFlightMax per-key reads are in flight.
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
import { ErasureCodec } from "../codec/codec";
import { encodeBlobs } from "./shard_coding";
import { SourceBlobs, rebuildBlobs } from "./rebuild_coding";
import { EcPulledShard, EcPullShardsReply } from "../gen/ecc";
import { REBUILD_PULL_BYTES_MAX, REBUILD_PULL_KEYS_MAX, REBUILD_PULLED_SHARD_OVERHEAD_BYTES, REBUILD_PULLS_IN_FLIGHT_MAX } from "../core/limits";
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
  /** One member's reply to bulk pull `pull` of rebuild generation `generation`. */
  | { kind: "pullShards"; generation: number; pull: number; node: number }
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
  /** The erasure codec: a rebuild encodes (per-key path) and reconstructs (bulk path) with it. */
  codec: ErasureCodec;
  replica?: EcShardReplica;
  /** The memory budget and eviction policy (default: unbounded). */
  memory?: MemoryBudget;
  /** Draws for eviction sampling and LFU counters; seeded in the simulator. */
  random?: Random;
  /** Timing knobs (defaults NODE_TIMING); the simulator scales them to its cluster. */
  timing?: Partial<NodeTiming>;
  /** Test-only planted bugs: the simulator's self-test shows that its checks catch each. */
  plantedBug?: "restarted-member-serves-reads" | "rebuild-skips-generation-check" | "rebuild-pull-drops-disagreeing-keys";
}

export interface RebuildProgress {
  generation: number;
  totalKeys: number;
  rebuiltKeys: number;
  /** Shard bytes installed (a key a newer write reached first installs nothing). */
  rebuiltBytes: number;
  /** Keys settled by bulk pulls, and keys that went to the per-key path. */
  pulledKeys: number;
  fallbackKeys: number;
  /** Bulk pulls sent (each to k members), and those that failed and were sent again. */
  pulls: number;
  pullsFailed: number;
  /** Sum of the settled pulls' latencies (send to last reply), and of the window they were sent in. */
  pullMsTotal: number;
  pullWindowTotal: number;
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
  /** Keys per listing page: a rebuild lists before it pulls, one page per round trip. */
  listPageKeys: 4_096,
  listingTtlMs: 120_000,
  listingsMax: 16,
  peerTimeoutMs: 1_000,
  /** Per-key rebuild reads (the fallback path) in flight, at most. */
  rebuildReadsInFlightMax: 64,
  rebuildReadAttemptsMax: 50,
  /** Bulk pulls in flight (each to k members), at most (<= REBUILD_PULLS_IN_FLIGHT_MAX). */
  rebuildPullsInFlightMax: 8,
  /** A pull answered within this (and a quarter of the heartbeat timeout) widens the window. */
  rebuildPullLatencyMs: 50,
  /** Shard and key bytes one pull reply may carry (<= REBUILD_PULL_BYTES_MAX). */
  rebuildPullBytes: 512 * 1024,
  /** Keys one pull names, at most (<= REBUILD_PULL_KEYS_MAX). */
  rebuildPullKeysMax: 2_048,
  /** Tries of one run before its keys go to the per-key path. */
  rebuildPullAttemptsMax: 4,
  /** Blob bytes rebuilt per codec call when keys are batched (small values). */
  rebuildRunBytes: 256 * 1024,
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

/** A run of the listing pulled from k members; replies by position in `sources`. */
interface Pull {
  generation: number;
  sentAtMs: number;
  keys: string[];
  sources: number[];
  replies: Array<EcPullShardsReply | null>;
  pending: number;
  failed: boolean;
  attempt: number;
}

interface Rebuild {
  generation: number;
  /** The member being listed, and where the listing stands. */
  lister: number | null;
  token: string;
  offset: number;
  listingTried: Set<number>;
  keys: string[] | null;
  /** The listing is complete: `keys` holds every key to rebuild. */
  listed: boolean;
  /** The next key of the listing no pull has taken yet. */
  next: number;
  /** Runs to pull again (the part of a run a reply had no room for, or a failed pull). */
  requeued: Array<{ keys: string[]; attempt: number }>;
  /** This rebuild's pulls not settled yet (they live in EccNodeCore.pulls), and how many may be. */
  pullsInFlight: number;
  pullWindow: number;
  /** Members whose pull failed, passed over (while others can serve) until the time given. */
  avoidUntilMs: Map<number, number>;
  /** Reply bytes per key of the pulls so far: sizes the next runs (0: none yet). */
  bytesPerKey: number;
  /** Keys for the per-key path, and per-key reads in flight. */
  fallback: string[];
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
  private nextPull = 1;
  /** Bulk pulls awaiting replies, of any rebuild generation (each send gets one reply or silence). */
  private readonly pulls = new Map<number, Pull>();
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
    assert(this.timing.rebuildPullsInFlightMax >= 1 && this.timing.rebuildPullsInFlightMax <= REBUILD_PULLS_IN_FLIGHT_MAX);
    assert(this.timing.rebuildPullBytes >= 1 && this.timing.rebuildPullBytes <= REBUILD_PULL_BYTES_MAX);
    assert(this.timing.rebuildPullKeysMax >= 1 && this.timing.rebuildPullKeysMax <= REBUILD_PULL_KEYS_MAX);
    assert(this.timing.rebuildPullAttemptsMax >= 1);
    assert(this.timing.rebuildPullLatencyMs >= 1);
    assert(this.timing.rebuildRunBytes >= 1);
    assert.equal(options.codec.dataShards, options.dataShards);
    assert.equal(options.codec.parityShards, options.shardCount - options.dataShards);
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
    // An EcCommit this node already carried out (a duplicate, or a resend after a lost answer)
    // is answered as the first one was, whatever the view is now: a refusal would count as
    // "not committed here", and a coordinator refused by every node writes again under a new
    // tx although this one committed (a conditional drop then reports failure for a drop
    // that happened).
    const repeatedCommit =
      body.$case === "commit" &&
      !body.value.resolution &&
      this.replica.committedHere(body.value.key.toString("latin1"), body.value.txId) === body.value.version;
    const dataOp = body.$case === "prepare" || body.$case === "get" || (body.$case === "commit" && !body.value.resolution);
    if (dataOp && op.epoch !== view.epoch && !repeatedCommit) {
      return answer(withView(fail(op.id, ResultCode.RESULT_CODE_STALE_EPOCH, `node is at epoch ${view.epoch}, request at ${op.epoch}`)));
    }
    const inView = view.members.includes(this.shardIndex) || view.recovering.includes(this.shardIndex);
    if ((body.$case === "prepare" || body.$case === "commit") && !inView && !repeatedCommit) {
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
      case "pullShards":
        // Only a member with complete shards, at the puller's epoch, answers: the puller
        // counts on k such members holding every acknowledged version (as a read does).
        if (!this.servesReads()) {
          return answer(withView(fail(op.id, ResultCode.RESULT_CODE_NOT_SERVING, `node is ${this.reportedState()}: it serves no shards`)));
        }
        if (body.value.epoch !== view.epoch) {
          return answer(withView(fail(op.id, ResultCode.RESULT_CODE_STALE_EPOCH, `node is at epoch ${view.epoch}, pull at ${body.value.epoch}`)));
        }
        return answer(wrap(op.id, this.replica.pullShards(body.value), (reply) => ({ $case: "pullShards", value: reply })));
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
    } else if (this.stateValue.kind === "recovering" && rebuild !== null && rebuild.listed && rebuild.failedAtMs === null) {
      // Pulls wait for k members to pull from (a view change brings them); look again.
      effects.push(...this.feedRebuild(nowMs));
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
    // The longest silent first: the view removes one at a time, and a node down since long ago
    // should go before one that is merely slow now (it may answer again before the next round).
    const lastSeen = (node: number): number => this.lastSeenMs.get(node) ?? nowMs;
    const silent = targets.filter((node) => nowMs - lastSeen(node) > timeoutMs).sort((a, b) => lastSeen(a) - lastSeen(b) || a - b);
    const epoch = this.currentView.epoch;
    const proposedNow = this.silenceProposed.epoch === epoch && nowMs - this.silenceProposed.atMs < timeoutMs;
    if (silent.length > 0 && !proposedNow) {
      this.silenceProposed = { epoch, atMs: nowMs };
      effects.push({ kind: "proposeView", change: { kind: "silence", silent, expectedEpoch: epoch } });
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
      case "pullShards":
        return this.onPullReply(purpose.generation, purpose.pull, purpose.node, reply, nowMs, wallMs);
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
      listed: false,
      next: 0,
      requeued: [],
      pullsInFlight: 0,
      pullWindow: 1,
      avoidUntilMs: new Map(),
      bytesPerKey: 0,
      fallback: [],
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
    rebuild.listed = true;
    this.progressValue = {
      generation,
      totalKeys: keys.length,
      rebuiltKeys: 0,
      rebuiltBytes: 0,
      pulledKeys: 0,
      fallbackKeys: 0,
      pulls: 0,
      pullsFailed: 0,
      pullMsTotal: 0,
      pullWindowTotal: 0,
      startedAtMs: nowMs,
      finishedAtMs: null,
    };
    return [log("info", "ec.rebuild_started", { keys: keys.length, generation }), ...this.feedRebuild(nowMs)];
  }

  /**
   * Keeps up to rebuildPullsInFlightMax bulk pulls and rebuildReadsInFlightMax per-key reads
   * going; finishes when every key is done.
   */
  private feedRebuild(nowMs: number): NodeEffect[] {
    const rebuild = this.rebuild!;
    if (!rebuild.listed) return []; // still listing
    const effects: NodeEffect[] = [];
    while (rebuild.pullsInFlight < rebuild.pullWindow) {
      const sources = this.pullSources(rebuild, nowMs);
      if (sources === null) break; // fewer than k members besides this node: wait for a view
      const run = this.nextRun(rebuild);
      if (run === null) break;
      effects.push(...this.sendPull(rebuild, run.keys, run.attempt, sources, nowMs));
    }
    while (rebuild.fallback.length > 0 && rebuild.inFlight < this.timing.rebuildReadsInFlightMax) {
      rebuild.inFlight++;
      effects.push({ kind: "rebuildRead", generation: rebuild.generation, key: rebuild.fallback.pop()!, delayMs: 0 });
    }
    const done =
      rebuild.next === rebuild.keys!.length && rebuild.requeued.length === 0 && rebuild.pullsInFlight === 0 && rebuild.fallback.length === 0 && rebuild.inFlight === 0;
    if (done) effects.push(...this.finishRebuild(rebuild.generation, nowMs));
    return effects;
  }

  /**
   * The k members to pull from: members of the view besides this node, data shards first
   * (a data target then needs no data shard rebuilt but its own, a parity target none), those
   * whose last pull failed only when too few others are left. Null with fewer than k.
   */
  private pullSources(rebuild: Rebuild, nowMs: number): number[] | null {
    const others = this.currentView.members.filter((node) => node !== this.shardIndex).sort((a, b) => a - b);
    if (others.length < this.options.dataShards) return null;
    const avoided = (node: number): boolean => (rebuild.avoidUntilMs.get(node) ?? -Infinity) > nowMs;
    const ordered = [...others.filter((node) => !avoided(node)), ...others.filter(avoided)];
    return ordered.slice(0, this.options.dataShards).sort((a, b) => a - b);
  }

  /**
   * The next run of keys to pull: of those to pull again, else the next stretch of the
   * listing; as many keys as one reply has room for going by the pulls so far, and some more
   * (the member stops at the byte bound; the rest is pulled again). A long run to pull again
   * is cut the same way, so its parts go out side by side, not one after another.
   */
  private nextRun(rebuild: Rebuild): { keys: string[]; attempt: number } | null {
    const guess = rebuild.bytesPerKey === 0 ? this.timing.rebuildPullKeysMax : Math.ceil((1.25 * this.timing.rebuildPullBytes) / rebuild.bytesPerKey);
    const count = Math.max(1, Math.min(this.timing.rebuildPullKeysMax, guess));
    const again = rebuild.requeued.pop();
    if (again !== undefined) {
      if (again.keys.length > count) rebuild.requeued.push({ keys: again.keys.slice(count), attempt: again.attempt });
      return { keys: again.keys.slice(0, count), attempt: again.attempt };
    }
    const keys = rebuild.keys!;
    if (rebuild.next >= keys.length) return null;
    const run = keys.slice(rebuild.next, rebuild.next + count);
    rebuild.next += run.length;
    return { keys: run, attempt: 0 };
  }

  private sendPull(rebuild: Rebuild, keys: string[], attempt: number, sources: number[], nowMs: number): NodeEffect[] {
    const id = this.nextPull++;
    this.pulls.set(id, { generation: rebuild.generation, sentAtMs: nowMs, keys, sources, replies: sources.map(() => null), pending: sources.length, failed: false, attempt });
    rebuild.pullsInFlight++;
    if (this.progressValue !== null) this.progressValue.pulls++;
    const request = { keys: keys.map((key) => Buffer.from(key, "latin1")), bytesMax: this.timing.rebuildPullBytes, epoch: this.currentView.epoch };
    return sources.map((node) => ({
      kind: "send",
      node,
      body: { $case: "pullShards", value: request },
      timeoutMs: 5 * this.timing.peerTimeoutMs,
      purpose: { kind: "pullShards", generation: rebuild.generation, pull: id, node },
    }));
  }

  /** One member's answer to a pull; once all k answered, the run is settled. */
  private onPullReply(generation: number, id: number, node: number, reply: PeerReply, nowMs: number, wallMs: number): NodeEffect[] {
    const pull = this.pulls.get(id);
    const position = pull?.sources.indexOf(node) ?? -1;
    if (pull === undefined || pull.generation !== generation || position < 0 || pull.replies[position] !== null) return [];
    const effects: NodeEffect[] = [];
    const result = reply.kind === "ok" ? reply.result : null;
    const body = result !== null && result.code === ResultCode.RESULT_CODE_OK && result.body?.$case === "pullShards" ? result.body.value : null;
    const problem = body === null ? (result === null ? (reply as { message: string }).message : `${ResultCode[result.code]}: ${result.message}`) : pullReplyProblem(pull, node, body);
    const rebuild = this.rebuild;
    const current = rebuild !== null && this.stateValue.kind === "recovering" && rebuild.generation === generation;
    if (problem === null) {
      pull.replies[position] = body;
    } else {
      pull.failed = true;
      if (current) rebuild.avoidUntilMs.set(node, nowMs + this.timing.rebuildRetryMs);
      effects.push(log("debug", "ec.rebuild_pull_failed", { member: node, keys: pull.keys.length, attempt: pull.attempt, message: problem }));
    }
    pull.pending--;
    if (pull.pending > 0) return effects;
    this.pulls.delete(id);
    const skipCheck = this.options.plantedBug === "rebuild-skips-generation-check";
    if (rebuild === null || this.stateValue.kind !== "recovering") return effects;
    if (!current && !skipCheck) return effects; // a pull of a rebuild that was given up
    rebuild.pullsInFlight--;
    this.pace(rebuild, pull, nowMs);
    effects.push(...this.settlePull(rebuild, pull, wallMs));
    return [...effects, ...this.feedRebuild(nowMs)];
  }

  /** Widens or narrows the window of pulls in flight by how the last one went (see the header). */
  private pace(rebuild: Rebuild, pull: Pull, nowMs: number): void {
    if (this.progressValue !== null) {
      this.progressValue.pullMsTotal += nowMs - pull.sentAtMs;
      this.progressValue.pullWindowTotal += rebuild.pullWindow;
    }
    const targetMs = Math.min(this.timing.rebuildPullLatencyMs, this.options.heartbeatTimeoutMs / 4);
    if (pull.failed) rebuild.pullWindow = 1;
    else if (nowMs - pull.sentAtMs <= targetMs) rebuild.pullWindow = Math.min(this.timing.rebuildPullsInFlightMax, rebuild.pullWindow + 1);
    else rebuild.pullWindow = Math.max(1, Math.floor(rebuild.pullWindow / 2));
  }

  /** All k answered: rebuild and install what they agree on, send the rest on. */
  private settlePull(rebuild: Rebuild, pull: Pull, wallMs: number): NodeEffect[] {
    const progress = this.progressValue;
    if (pull.failed) {
      if (progress !== null) progress.pullsFailed++;
      if (pull.attempt + 1 < this.timing.rebuildPullAttemptsMax) rebuild.requeued.push({ keys: pull.keys, attempt: pull.attempt + 1 });
      else this.toFallback(rebuild, pull.keys);
      return [];
    }
    const replies = pull.replies as EcPullShardsReply[];
    const count = Math.min(...replies.map((reply) => reply.shards.length));
    if (count < pull.keys.length) rebuild.requeued.push({ keys: pull.keys.slice(count), attempt: pull.attempt });
    let replyBytes = 0;
    // As the member counts them against the bound.
    for (const reply of replies) for (let i = 0; i < count; i++) replyBytes += reply.shards[i].data.length + reply.shards[i].key.length + REBUILD_PULLED_SHARD_OVERHEAD_BYTES;
    const perKey = replyBytes / replies.length / count;
    rebuild.bytesPerKey = rebuild.bytesPerKey === 0 ? perKey : 0.5 * rebuild.bytesPerKey + 0.5 * perKey;

    const effects: NodeEffect[] = [];
    const toDecode: Array<{ key: string; entry: EcPulledShard; item: SourceBlobs }> = [];
    let settled = 0;
    let installedBytes = 0;
    for (let i = 0; i < count; i++) {
      const key = pull.keys[i];
      const entries = replies.map((reply) => reply.shards[i]);
      const verdict = this.pulledVerdict(entries);
      if (verdict === "disagree") {
        if (this.options.plantedBug === "rebuild-pull-drops-disagreeing-keys") {
          settled++;
          continue;
        }
        this.toFallback(rebuild, [key]);
        continue;
      }
      const entry = entries[0];
      if (entry.version === 0 || this.replica.store.version(key) >= entry.version) {
        settled++; // never committed (a staged write that aborted), or a newer write got here first
        continue;
      }
      if (entry.tombstone) {
        this.installTombstone(key, entry.version, wallMs);
        settled++;
        continue;
      }
      const layout = this.clusterLayout(entry.layout!.valueBytes);
      toDecode.push({
        key,
        entry,
        item: { layout, valueCrc32: entry.layout!.valueCrc32, blobs: entries.map((e) => e.data), shardCrc32s: entries.map((e) => e.shardCrc32) },
      });
    }
    const rebuilt = rebuildBlobs(
      this.options.codec,
      this.shardIndex,
      pull.sources,
      toDecode.map((one) => one.item),
      this.timing.rebuildRunBytes,
    );
    rebuilt.forEach((result, index) => {
      const { key, entry, item } = toDecode[index];
      if (result.kind === "corrupt") {
        effects.push(log("warn", "ec.rebuild_shard_refused", { key: keyLabel(key), version: entry.version, sources: pull.sources, reason: result.reason }));
        this.toFallback(rebuild, [key]);
        return;
      }
      const installed = this.replica.installRebuilt(
        key,
        {
          version: entry.version,
          tombstone: false,
          valueBytes: item.layout.valueBytes,
          valueCrc32: item.valueCrc32,
          shardCrc32: result.shardCrc32,
          expiresAtMs: entry.expiresAtMs,
        },
        result.blob,
        wallMs,
      );
      if (installed) installedBytes += result.blob.length;
      settled++;
    });
    if (progress !== null) {
      progress.rebuiltKeys += settled;
      progress.pulledKeys += settled;
      progress.rebuiltBytes += installedBytes;
    }
    return effects;
  }

  /**
   * "agree" when the k shards of a key can rebuild this node's: one version, and (for a
   * value) one layout of this cluster's shape, value CRC-32 and TTL deadline, each blob
   * sent. Else "disagree": a write is committing, a blob did not fit a reply, or the
   * metadata is off; the per-key path sorts it out.
   */
  private pulledVerdict(entries: EcPulledShard[]): "agree" | "disagree" {
    const first = entries[0];
    for (const entry of entries) {
      if (entry.oversized || entry.version !== first.version || entry.tombstone !== first.tombstone) return "disagree";
      if (first.version === 0 || first.tombstone) continue;
      const layout = entry.layout;
      if (layout === undefined || first.layout === undefined) return "disagree";
      if (layout.valueBytes !== first.layout.valueBytes || layout.valueCrc32 !== first.layout.valueCrc32 || entry.expiresAtMs !== first.expiresAtMs) return "disagree";
      if (layout.dataShards !== this.options.dataShards || layout.parityShards !== this.options.shardCount - this.options.dataShards) return "disagree";
      if (layout.blockBytes !== this.options.blockBytes) return "disagree";
    }
    return "agree";
  }

  private toFallback(rebuild: Rebuild, keys: string[]): void {
    for (const key of keys) rebuild.fallback.push(key);
    if (this.progressValue !== null) this.progressValue.fallbackKeys += keys.length;
  }

  private clusterLayout(valueBytes: number): Layout {
    return {
      valueBytes,
      blockBytes: this.options.blockBytes,
      dataShards: this.options.dataShards,
      parityShards: this.options.shardCount - this.options.dataShards,
    };
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
    const bytes = this.installRead(key, read, wallMs);
    const progress = this.progressValue;
    if (progress !== null) {
      progress.rebuiltKeys++;
      progress.rebuiltBytes += bytes;
    }
    return this.feedRebuild(nowMs);
  }

  /** Installs a key's shard from a whole-value read unless a newer write already gave this node one (wallMs: epoch ms); returns the bytes installed. */
  private installRead(key: string, read: VersionedRead, wallMs: number): number {
    if (read.version === 0) return 0; // never committed (a staged write that aborted)
    if (read.kind === "absent") {
      this.installTombstone(key, read.version, wallMs);
      return 0;
    }
    const layout = this.clusterLayout(read.value.length);
    const shard = encodeBlobs(this.options.codec, layout, read.value)[this.shardIndex];
    const installed = this.replica.installRebuilt(
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
    return installed ? shard.length : 0;
  }

  private installTombstone(key: string, version: number, wallMs: number): void {
    this.replica.installRebuilt(
      key,
      { version, tombstone: true, valueBytes: 0, valueCrc32: crc32(Buffer.alloc(0)), shardCrc32: 0, expiresAtMs: 0 },
      Buffer.alloc(0),
      wallMs,
    );
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
    if (read.kind !== "error") this.installRead(key, read, wallMs);
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
    pulledKeys: progress.pulledKeys,
    fallbackKeys: progress.fallbackKeys,
    pulls: progress.pulls,
    pullsFailed: progress.pullsFailed,
    pullMsAverage: progress.pulls === 0 ? 0 : Math.round(progress.pullMsTotal / progress.pulls),
    pullWindowAverage: progress.pulls === 0 ? 0 : Number((progress.pullWindowTotal / progress.pulls).toFixed(1)),
    megabytesPerSecond: Number((progress.rebuiltBytes / elapsedS / 1e6).toFixed(2)),
  };
}

/** Why a member's pull reply cannot be used, or null: it must answer a prefix of the run, key by key, for its own shard. */
function pullReplyProblem(pull: Pull, node: number, reply: EcPullShardsReply): string | null {
  if (reply.shardIndex !== node) return `shard index ${reply.shardIndex} from node ${node}`;
  if (reply.shards.length === 0 || reply.shards.length > pull.keys.length) return `${reply.shards.length} shards for ${pull.keys.length} keys`;
  for (let i = 0; i < reply.shards.length; i++) {
    if (reply.shards[i].key.toString("latin1") !== pull.keys[i]) return `shard ${i} is of another key`;
  }
  return null;
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

