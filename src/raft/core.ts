// RaftCore: the Raft consensus algorithm as a pure, deterministic, single-threaded state
// machine (the shape of etcd-io/raft's RawNode). It does no I/O and reads no clock: time
// enters only as tick(), messages as step(), client work as propose*/readIndex/
// proposeConfChange, and everything the outside world must do comes out of ready(). The same
// inputs always give the same outputs, so a seeded simulator can check it (test/sim).
//
// Features: leader election with pre-vote and check-quorum (leader stickiness), log
// replication pipelined per follower (bounded in-flight appends, fast back-off on reject using
// the follower's conflict term/index), commit of current-term entries by counting replicas
// (§5.4.2), a no-op entry at the start of every term, batched proposals, ReadIndex reads,
// single-server membership changes (thesis §4.1), log compaction and InstallSnapshot.
//
// Known limitations (see also the report of the task that introduced this file):
// - A snapshot travels in one InstallSnapshot message; snapshots larger than a transport
//   message must be chunked by the transport (or this core extended with offsets).
// - An AppendEntries always carries at least one entry, so a single entry larger than
//   maxBytesPerAppend is sent alone in a message of up to RAFT_ENTRY_BYTES_MAX.
// - Added servers join as voters at once (no learner catch-up phase, thesis §4.2.1), so
//   adding a server to a group that has lost a member can stall commits until it catches up.
// - Leadership transfer is used only by a leader removing itself.
import assert from "node:assert/strict";
import { Random } from "../core/env";
import { ConfigError, InvalidArgumentError, NotLeaderError, UnavailableError, ValueTooLargeError } from "../core/errors";
import { Logger, silentLogger } from "../core/logger";
import { EntryDataLoader, entryBytes, LogView, MemoryLog } from "./memory_log";
import {
  AppendEntries,
  AppendEntriesResponse,
  ConfChange,
  decodeConfChange,
  encodeConfChange,
  HardState,
  Heartbeat,
  HeartbeatResponse,
  InstallSnapshot,
  LogEntry,
  NodeId,
  RaftMessage,
  RaftRole,
  ReadState,
  RequestVote,
  PreVote,
  Snapshot,
  SnapshotMeta,
  snapshotLoadedOnUse,
} from "./types";
import {
  RAFT_APPEND_BYTES_MAX,
  RAFT_APPENDS_IN_FLIGHT_MAX,
  RAFT_APPLY_BYTES_PER_READY_MAX,
  RAFT_APPLY_ENTRIES_PER_READY_MAX,
  RAFT_ELECTION_TICKS_MAX,
  RAFT_ELECTION_TICKS_MIN,
  RAFT_ENTRIES_PER_APPEND_MAX,
  RAFT_ENTRY_BYTES_MAX,
  RAFT_INFLIGHT_BYTES_MAX,
  RAFT_OUTBOX_MESSAGES_MAX,
  RAFT_PROPOSE_BATCH_MAX,
  RAFT_READS_PENDING_MAX,
  RAFT_UNCOMMITTED_BYTES_MAX,
  RAFT_UNCOMMITTED_ENTRIES_MAX,
  RAFT_VOTERS_MAX,
} from "../core/limits";

export interface RaftConfig {
  readonly id: NodeId;
  /**
   * The bootstrap voter set, used only while storage holds neither a snapshot nor a config
   * entry. A server being added to a running group passes [] and learns the voters from the
   * leader (every config entry carries the full voter list).
   */
  readonly voters: readonly NodeId[];
  /** Election timeout base: each timeout is drawn from [electionTicks, 2*electionTicks). */
  readonly electionTicks: number;
  /** The leader sends heartbeats every heartbeatTicks; must be < electionTicks / 2. */
  readonly heartbeatTicks: number;
  readonly maxEntriesPerAppend: number;
  /** Soft cap on entry bytes per AppendEntries (a single larger entry still goes alone). */
  readonly maxBytesPerAppend: number;
  /** Appends sent to one follower and not yet acknowledged, at most. */
  readonly maxInflightAppends: number;
  /**
   * Entry bytes sent to one follower and not yet acknowledged, at most (at least one append
   * always goes). Paces large appends: a follower's link carries a bounded backlog, so the
   * messages behind it (and the next proposals) do not queue behind hundreds of MiB.
   */
  readonly maxInflightBytes: number;
  /**
   * The slowest replication rate the leader assumes, in entry bytes per tick: an append of B
   * bytes left unanswered for B / replicationBytesPerTickMin ticks more than a small one is
   * taken for lost and sent again. Too high, and a large entry still on its way is sent again
   * (another copy on the wire); too low, and a lost one waits longer before its resend.
   */
  readonly replicationBytesPerTickMin: number;
  /** Run a pre-vote round before bumping the term (thesis §9.6). */
  readonly preVote: boolean;
  /** Leader steps down without a quorum of contact per election timeout; followers ignore votes while they hear a leader. */
  readonly checkQuorum: boolean;
  /** The only source of randomness (election timeouts). Seeded in tests. */
  readonly random: Random;
  readonly logger?: Logger;
}

export const RAFT_CONFIG_DEFAULTS = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxEntriesPerAppend: 512,
  maxBytesPerAppend: 4 * 1024 * 1024,
  maxInflightAppends: 64,
  maxInflightBytes: 32 * 1024 * 1024,
  replicationBytesPerTickMin: 256 * 1024,
  preVote: true,
  checkQuorum: true,
} as const;

/** What the driver loaded from stable storage at start (all empty for a new node). */
export interface RaftStorageView {
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  /** Persisted entries, contiguous, starting right after the snapshot (or at index 1). */
  readonly entries: readonly LogEntry[];
  /**
   * Index the restored state machine already reflects. Defaults to the snapshot's lastIndex
   * (an in-memory state machine restored from the snapshot); committed entries after it are
   * handed out again by the first ready().
   */
  readonly appliedIndex?: number;
  /**
   * Reads a persisted entry's data back. Given it, the core releases the in-memory data of
   * entries once they are applied and persisted (MemoryLog.releaseData) and reads them back
   * through this when it must send them again; without it every entry stays in memory until
   * compaction.
   */
  readonly readEntryData?: EntryDataLoader;
}

/**
 * Work for the driver, produced by ready() and acknowledged by advance(ready). Ordering
 * contract (violating it breaks Raft's safety):
 *
 * 1. Persist, in this order: if snapshotToPersist is set, discard the whole persisted log and
 *    save the snapshot; else if truncateFrom is set, delete persisted entries with index >=
 *    truncateFrom. Then append entriesToPersist (they continue the persisted log exactly),
 *    then save hardState if not null. If mustSync, fsync before step 2. (A crash part way
 *    through is fine as long as entries are written before the hardState that refers to them.)
 * 2. Only then send messagesToSend (they may vote or acknowledge entries on the strength of
 *    what step 1 wrote: persist before send). Messages may be dropped, duplicated or
 *    reordered by the network; the core tolerates all of that.
 * 3. Only then apply: if snapshotToPersist is set, restore the state machine from its data;
 *    then apply committedEntries in order, each exactly once (apply after persist).
 * 4. Serve readStates (the state machine already covers each read's index) and fail
 *    readsFailed (leadership was lost; the client retries elsewhere).
 * 5. Call advance(ready). The driver may keep calling tick/step/propose while steps 1-4 run
 *    (for example during an async fsync); it must not call ready() again before advance().
 */
export interface RaftReady {
  /** Changed term/vote/commit; null when unchanged since the previous ready. */
  readonly hardState: HardState | null;
  /** Delete persisted entries from this index on (a conflicting suffix) before appending. */
  readonly truncateFrom: number | null;
  /** A snapshot received with InstallSnapshot: replaces the whole log and the state machine. */
  readonly snapshotToPersist: Snapshot | null;
  readonly entriesToPersist: readonly LogEntry[];
  readonly messagesToSend: readonly RaftMessage[];
  /** Apply in order, exactly once, after step 1. */
  readonly committedEntries: readonly LogEntry[];
  /** ReadIndex reads now safe to serve from the state machine. */
  readonly readStates: readonly ReadState[];
  /** ReadIndex request ids that will never be released (this node stopped leading). */
  readonly readsFailed: readonly string[];
  /** True when step 1 must fsync before step 2 (log or vote changed; a commitIndex change alone need not). */
  readonly mustSync: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly role: RaftRole;
  readonly leaderId: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly persistedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly voters: readonly NodeId[];
}

export interface ProposeResult {
  readonly index: number;
  readonly term: number;
}

export interface ProposeBatchResult {
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly term: number;
}

type ProgressState = "probe" | "replicate" | "snapshot";

interface InflightAppend {
  readonly lastIndex: number;
  readonly sentTick: number;
  /** Entry bytes it carries (entryBytes of each). */
  readonly bytes: number;
}

/**
 * The leader's view of one follower (etcd's Progress). probe: one append at a time until we
 * find where logs agree; replicate: pipelined appends, nextIndex advanced on send;
 * snapshot: an InstallSnapshot is on its way, appends are paused.
 */
class Progress {
  matchIndex = 0;
  nextIndex: number;
  state: ProgressState = "probe";
  /**
   * In probe state: an append is out; wait for its answer, or for a heartbeat answer once it
   * had time to arrive (probeSentTick, probeBytes).
   */
  probeSent = false;
  probeSentTick = 0;
  probeBytes = 0;
  inflights: InflightAppend[] = [];
  /** Sum of inflights' bytes. */
  inflightBytes = 0;
  pendingSnapshotIndex = 0;
  snapshotSentTick = 0;
  /** Heard from since the last check-quorum round. A new leader starts by trusting everyone. */
  recentActive = true;
  /** Highest ReadIndex round this follower has acknowledged in the current term. */
  readRoundAcked = 0;
  /** Where the last go-back-N resend (replicate state) started, and when. */
  resendIndex = 0;
  resendTick = 0;

  constructor(nextIndex: number) {
    assert(nextIndex >= 1);
    this.nextIndex = nextIndex;
  }
}

interface PendingRead {
  readonly requestId: string;
  /** Heartbeat round whose quorum acknowledgement confirms leadership for this read. */
  readonly round: number;
  /** commitIndex recorded for the read; null until the leader commits an entry of its term. */
  readIndex: number | null;
  confirmed: boolean;
}

export function quorumSize(voterCount: number): number {
  assert(voterCount >= 1);
  return Math.floor(voterCount / 2) + 1;
}

function validateConfig(config: RaftConfig): void {
  const positiveInteger = (value: number): boolean => Number.isInteger(value) && value >= 1;
  if (typeof config.id !== "string" || config.id === "") throw new ConfigError("raft: id must be a non-empty string");
  if (!positiveInteger(config.heartbeatTicks)) throw new ConfigError("raft: heartbeatTicks must be a positive integer");
  if (!positiveInteger(config.electionTicks)) throw new ConfigError("raft: electionTicks must be a positive integer");
  if (config.electionTicks < RAFT_ELECTION_TICKS_MIN || config.electionTicks > RAFT_ELECTION_TICKS_MAX) {
    throw new ConfigError(`raft: electionTicks must lie in [${RAFT_ELECTION_TICKS_MIN}, ${RAFT_ELECTION_TICKS_MAX}]`);
  }
  // A follower must see at least two heartbeats per election timeout, or one lost heartbeat
  // starts an election.
  if (config.electionTicks <= 2 * config.heartbeatTicks) {
    throw new ConfigError("raft: electionTicks must be greater than 2 * heartbeatTicks");
  }
  if (!positiveInteger(config.maxEntriesPerAppend) || config.maxEntriesPerAppend > RAFT_ENTRIES_PER_APPEND_MAX) {
    throw new ConfigError(`raft: maxEntriesPerAppend must lie in [1, ${RAFT_ENTRIES_PER_APPEND_MAX}]`);
  }
  if (!positiveInteger(config.maxBytesPerAppend) || config.maxBytesPerAppend > RAFT_APPEND_BYTES_MAX) {
    throw new ConfigError(`raft: maxBytesPerAppend must lie in [1, ${RAFT_APPEND_BYTES_MAX}]`);
  }
  if (!positiveInteger(config.maxInflightAppends) || config.maxInflightAppends > RAFT_APPENDS_IN_FLIGHT_MAX) {
    throw new ConfigError(`raft: maxInflightAppends must lie in [1, ${RAFT_APPENDS_IN_FLIGHT_MAX}]`);
  }
  if (!positiveInteger(config.maxInflightBytes) || config.maxInflightBytes > RAFT_INFLIGHT_BYTES_MAX) {
    throw new ConfigError(`raft: maxInflightBytes must lie in [1, ${RAFT_INFLIGHT_BYTES_MAX}]`);
  }
  if (!positiveInteger(config.replicationBytesPerTickMin)) throw new ConfigError("raft: replicationBytesPerTickMin must be a positive integer");
  if (config.voters.length > RAFT_VOTERS_MAX) throw new ConfigError(`raft: at most ${RAFT_VOTERS_MAX} voters`);
  if (new Set(config.voters).size !== config.voters.length) throw new ConfigError("raft: voters must be unique");
}

function sortedVoters(voters: readonly NodeId[]): NodeId[] {
  // Sorted so every node iterates voters in the same order: determinism across replays.
  return [...voters].sort();
}

export class RaftCore {
  readonly id: NodeId;
  private readonly config: RaftConfig;
  private readonly logger: Logger;
  private readonly log: MemoryLog;
  /** After this many ticks without an answer to the oldest pipelined append, assume it lost and probe. */
  private readonly appendRetryTicks: number;

  // Raft state (Figure 2).
  private term = 0;
  private votedFor: NodeId | null = null;
  private role: RaftRole = "follower";
  private leaderId: NodeId | null = null;
  private commitIndex = 0;

  // Configuration: the latest config entry in the log, else the snapshot's (or bootstrap) voters.
  private voters: NodeId[] = [];
  private configIndex = 0;
  private snapshotVoters: NodeId[];
  private snapshot: Snapshot | null;

  // Timers, in ticks.
  private tickCount = 0;
  private electionElapsedTicks = 0;
  private heartbeatElapsedTicks = 0;
  private randomizedElectionTicks = 0;

  // Candidate and leader state.
  private readonly votes = new Map<NodeId, boolean>();
  private readonly progress = new Map<NodeId, Progress>();
  /** Index of the latest config entry a leader may not yet see committed (one change at a time). */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  /** Proposals appended since the last ready(): replicated in one go when ready() is called (batching). */
  private broadcastPending = false;

  // ReadIndex.
  private reads: PendingRead[] = [];
  private readRound = 0;
  private readRoundSent = 0;
  private readStatesOut: ReadState[] = [];
  private readsFailedOut: string[] = [];

  // ready()/advance() bookkeeping.
  private outbox: RaftMessage[] = [];
  /**
   * Heartbeats and heartbeat answers at a term already persisted: they may leave before the
   * ready in flight is persisted (takeUrgentMessages), see there.
   */
  private urgentOutbox: RaftMessage[] = [];
  /** The term of the last hard state the driver persisted (advance) or loaded. */
  private termPersisted: number;
  /** Highest log index handed to the driver to persist (entries above it go in the next ready). */
  private handedIndex: number;
  /** Highest log index the driver has persisted and acknowledged, and that still matches the log. */
  private persistedIndex: number;
  /** Lowest truncation point at or below handedIndex not yet handed to the driver. */
  private pendingTruncateFrom: number | null = null;
  /** Lowest index removed since the in-flight ready was produced (caps what its advance() may claim). */
  private truncatedSinceReady = Number.POSITIVE_INFINITY;
  private snapshotToPersist: Snapshot | null = null;
  /** Highest committed index handed to the driver to apply. */
  private applyHandedIndex: number;
  private appliedIndex: number;
  private hardStateHanded: HardState;
  private readyInFlight: RaftReady | null = null;

  constructor(config: RaftConfig, storage: RaftStorageView) {
    validateConfig(config);
    this.id = config.id;
    this.config = config;
    this.logger = config.logger ?? silentLogger;
    // Long enough for a round trip on a healthy network, short enough that a lost append
    // costs well under an election timeout.
    this.appendRetryTicks = Math.max(2 * config.heartbeatTicks, Math.ceil(config.electionTicks / 2));

    const snapshot = storage.snapshot;
    const snapshotIndex = snapshot === null ? 0 : snapshot.meta.lastIndex;
    this.log = new MemoryLog(snapshotIndex, snapshot === null ? 0 : snapshot.meta.lastTerm, storage.readEntryData ?? null);
    this.snapshot = snapshot;
    this.snapshotVoters = sortedVoters(snapshot === null ? config.voters : snapshot.meta.voters);
    this.log.append(storage.entries);

    const hardState = storage.hardState ?? { term: 0, votedFor: null, commitIndex: 0 };
    assert(hardState.commitIndex <= this.log.lastIndex(), "persisted commitIndex beyond the persisted log");
    // Entries of a term are written together with the hardState naming that term; if a crash
    // kept the entries but not the hardState, adopting the log's term is safe: no vote for
    // that term can have left this node (votes are sent only after the hardState is durable).
    if (this.log.lastTerm() > hardState.term) {
      this.term = this.log.lastTerm();
      this.votedFor = null;
    } else {
      this.term = hardState.term;
      this.votedFor = hardState.votedFor;
    }
    this.commitIndex = Math.max(hardState.commitIndex, snapshotIndex);
    this.appliedIndex = storage.appliedIndex ?? snapshotIndex;
    assert(this.appliedIndex >= snapshotIndex, "appliedIndex below the snapshot");
    assert(this.appliedIndex <= this.commitIndex, "appliedIndex beyond commitIndex");
    this.applyHandedIndex = this.appliedIndex;
    this.handedIndex = this.log.lastIndex();
    this.persistedIndex = this.log.lastIndex();
    this.hardStateHanded = hardState;
    this.termPersisted = hardState.term;
    this.refreshConfig();
    this.resetElectionTimer();
  }

  // -------------------------------------------------------------------------------------
  // Inputs.
  // -------------------------------------------------------------------------------------

  /** Advances logical time by one tick. The driver calls it at a fixed interval. */
  tick(): void {
    this.tickCount++;
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  /** Feeds one message from a peer. Never throws for network anomalies (stale, duplicated, reordered). */
  step(message: RaftMessage): void {
    assert.equal(message.to, this.id, "message delivered to the wrong node");
    assert.notEqual(message.from, this.id, "a node never messages itself");
    assert(Number.isInteger(message.term));
    assert(message.term >= 0);

    if (message.term > this.term) {
      if (message.type === "PreVote" || message.type === "RequestVote") {
        const transfer = message.type === "RequestVote" && message.leadershipTransfer;
        if (!transfer && this.inLease()) {
          // Leader stickiness (thesis §4.2.3): we heard from a live leader within the minimum
          // election timeout, so this campaign comes from a node that is partitioned, removed
          // or impatient. Ignoring it (without adopting its term) keeps it from deposing a
          // healthy leader when it reconnects.
          return;
        }
      }
      if (message.type === "PreVote") {
        // A pre-vote is a question about a future term; answering never changes our term.
      } else if (message.type === "PreVoteResponse" && message.granted) {
        // Granted pre-votes carry the term we asked about (ours + 1); we have not moved yet.
      } else {
        const fromLeader = message.type === "AppendEntries" || message.type === "Heartbeat" || message.type === "InstallSnapshot";
        this.becomeFollower(message.term, fromLeader ? message.from : null);
      }
    } else if (message.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && (message.type === "AppendEntries" || message.type === "Heartbeat")) {
        // A leader of an older term still talks to us. With pre-vote/check-quorum our higher
        // term cannot spread through votes (they are ignored while the others hear that
        // leader), so tell the leader directly; it steps down and a new election includes us.
        // rejectedLogIndex 0 marks this notice: a genuine reject never concerns index 0.
        this.send({
          type: "AppendEntriesResponse",
          from: this.id,
          to: message.from,
          term: this.term,
          success: false,
          matchIndex: 0,
          rejectedLogIndex: 0,
          conflictIndex: 0,
          conflictTerm: 0,
        });
      } else if (message.type === "PreVote") {
        // Lets a pre-candidate stuck at an old term learn the current one.
        this.send({ type: "PreVoteResponse", from: this.id, to: message.from, term: this.term, granted: false });
      }
      return;
    }

    switch (message.type) {
      case "PreVote":
      case "RequestVote":
        this.handleVoteRequest(message);
        return;
      case "PreVoteResponse":
        if (this.role !== "preCandidate") return;
        // Granted answers carry our term + 1, rejections our term; anything else is stale.
        if (message.granted && message.term !== this.term + 1) return;
        if (!message.granted && message.term !== this.term) return;
        this.recordVote(message.from, message.granted);
        return;
      case "RequestVoteResponse":
        if (this.role !== "candidate") return;
        assert.equal(message.term, this.term);
        this.recordVote(message.from, message.granted);
        return;
      case "AppendEntries":
      case "Heartbeat":
      case "InstallSnapshot":
        assert.notEqual(this.role, "leader", `two leaders in term ${this.term}: ${this.id} and ${message.from}`);
        assert.equal(message.term, this.term);
        if (this.role !== "follower") this.becomeFollower(message.term, message.from);
        this.leaderId = message.from;
        this.electionElapsedTicks = 0;
        if (message.type === "AppendEntries") this.handleAppendEntries(message);
        else if (message.type === "Heartbeat") this.handleHeartbeat(message);
        else this.handleInstallSnapshot(message);
        return;
      case "AppendEntriesResponse":
        if (this.role === "leader") this.handleAppendEntriesResponse(message);
        return;
      case "InstallSnapshotResponse":
        if (this.role === "leader") {
          const progress = this.progress.get(message.from);
          if (progress === undefined) return;
          progress.recentActive = true;
          this.handleMatch(message.from, progress, message.matchIndex);
        }
        return;
      case "HeartbeatResponse":
        if (this.role === "leader") this.handleHeartbeatResponse(message);
        return;
      case "TimeoutNow":
        // The leader is leaving and chose us: campaign at once, skipping pre-vote.
        if (this.role !== "leader" && this.promotable()) this.campaign("transfer");
        return;
      default: {
        const unreachable: never = message;
        assert.fail(`unknown message ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** Appends one command. Returns where it will sit in the log if it commits. */
  propose(data: Uint8Array): ProposeResult {
    const result = this.proposeBatch([data]);
    assert.equal(result.firstIndex, result.lastIndex);
    return { index: result.firstIndex, term: result.term };
  }

  /**
   * Appends many commands in one call at consecutive indexes; they replicate together (one
   * AppendEntries per follower when within the per-append limits). Throws NotLeaderError
   * (with leaderHint) on a non-leader, UnavailableError when too much is uncommitted.
   */
  proposeBatch(datas: readonly Uint8Array[]): ProposeBatchResult {
    if (this.role !== "leader") throw new NotLeaderError(this.leaderId);
    if (datas.length === 0) throw new InvalidArgumentError("proposeBatch needs at least one command");
    if (datas.length > RAFT_PROPOSE_BATCH_MAX) {
      throw new InvalidArgumentError(`proposeBatch takes at most ${RAFT_PROPOSE_BATCH_MAX} commands, got ${datas.length}`);
    }
    let batchBytes = 0;
    for (const data of datas) {
      if (data.byteLength > RAFT_ENTRY_BYTES_MAX) throw new ValueTooLargeError(data.byteLength, RAFT_ENTRY_BYTES_MAX);
      batchBytes += data.byteLength;
    }
    this.checkUncommittedRoom(datas.length, batchBytes);
    const firstIndex = this.log.lastIndex() + 1;
    const entries: LogEntry[] = datas.map((data, offset) => ({ term: this.term, index: firstIndex + offset, type: "command", data }));
    this.appendAsLeader(entries);
    return { firstIndex, lastIndex: this.log.lastIndex(), term: this.term };
  }

  /**
   * Proposes a single-server membership change. The new voter set takes effect on every node
   * as soon as the entry is appended to its log (thesis §4.1), which is what makes one-at-a-
   * time changes safe: any majority of the old set overlaps any majority of the new one.
   * Refused (UnavailableError, retryable) while an earlier change is uncommitted, including
   * until the new leader's no-op commits (the fix for the single-server change bug Ongaro
   * described in 2015). A leader that removes itself keeps leading until the entry commits,
   * then hands over with TimeoutNow and steps down.
   */
  proposeConfChange(change: ConfChange): ProposeResult {
    if (this.role !== "leader") throw new NotLeaderError(this.leaderId);
    if (this.pendingConfIndex > this.commitIndex) {
      throw new UnavailableError(`a configuration change (index ${this.pendingConfIndex}) is not yet committed`);
    }
    if (typeof change.nodeId !== "string" || change.nodeId === "") throw new InvalidArgumentError("nodeId must be a non-empty string");
    let voters: NodeId[];
    if (change.type === "add") {
      if (this.voters.includes(change.nodeId)) throw new InvalidArgumentError(`${change.nodeId} is already a voter`);
      if (this.voters.length >= RAFT_VOTERS_MAX) throw new InvalidArgumentError(`a group has at most ${RAFT_VOTERS_MAX} voters`);
      voters = sortedVoters([...this.voters, change.nodeId]);
    } else if (change.type === "remove") {
      if (!this.voters.includes(change.nodeId)) throw new InvalidArgumentError(`${change.nodeId} is not a voter`);
      if (this.voters.length === 1) throw new InvalidArgumentError("cannot remove the last voter");
      voters = this.voters.filter((voter) => voter !== change.nodeId);
    } else {
      throw new InvalidArgumentError(`unknown configuration change type ${String((change as ConfChange).type)}`);
    }
    const data = encodeConfChange({ change: { type: change.type, nodeId: change.nodeId }, voters });
    this.checkUncommittedRoom(1, data.byteLength);
    const entry: LogEntry = { term: this.term, index: this.log.lastIndex() + 1, type: "config", data };
    this.appendAsLeader([entry]);
    this.pendingConfIndex = entry.index;
    return { index: entry.index, term: entry.term };
  }

  /**
   * Starts a linearizable read (ReadIndex, thesis §6.4). The leader records its commitIndex
   * (once it has committed an entry of its own term, so that index covers every write
   * acknowledged by any earlier leader), confirms it is still the leader by a heartbeat round
   * acknowledged by a quorum started after the request, and releases the read in
   * ready().readStates once appliedIndex >= the recorded index.
   *
   * Why ReadIndex and not a leader lease: a lease is only safe if clocks on different
   * machines advance at bounded relative rates (and the process is not paused past the lease,
   * e.g. by GC or a stopped container). ReadIndex assumes nothing about clocks; it costs one
   * heartbeat round per batch of reads, and reads arriving between two ready() calls share
   * one round.
   */
  readIndex(requestId: string): void {
    if (this.role !== "leader") throw new NotLeaderError(this.leaderId);
    if (this.reads.length >= RAFT_READS_PENDING_MAX) {
      throw new UnavailableError(`${RAFT_READS_PENDING_MAX} reads already wait for confirmation`);
    }
    this.readRound++;
    this.reads.push({
      requestId,
      round: this.readRound,
      readIndex: this.currentTermCommitted() ? this.commitIndex : null,
      confirmed: false,
    });
    this.confirmReads();
    this.releaseReads();
  }

  /**
   * Records that the driver has snapshotted its state machine at `index` (<= appliedIndex):
   * entries up to index are dropped from the in-memory log and followers that need them get
   * InstallSnapshot instead. Returns the snapshot (with the voters in effect at index) for the
   * driver to persist; it then drops persisted entries <= index. The driver decides when,
   * by default every RAFT_SNAPSHOT_ENTRIES_DEFAULT applied entries. `snapshotData` may be a
   * loader instead of the bytes (see snapshotLoadedOnUse); the core never reads the data
   * itself, it only hands the snapshot to InstallSnapshot messages.
   */
  compact(index: number, snapshotData: Uint8Array | (() => Uint8Array)): Snapshot {
    assert(Number.isInteger(index));
    assert(index <= this.appliedIndex, `compact(${index}) beyond appliedIndex ${this.appliedIndex}`);
    assert(index >= this.log.firstIndex(), `compact(${index}) at or below the current snapshot`);
    const lastTerm = this.log.term(index);
    assert(lastTerm !== null);
    const meta: SnapshotMeta = { lastIndex: index, lastTerm, voters: this.votersAt(index) };
    this.log.compact(index);
    this.snapshot = typeof snapshotData === "function" ? snapshotLoadedOnUse(meta, snapshotData) : { meta, data: snapshotData };
    this.snapshotVoters = [...meta.voters];
    assert(this.log.firstIndex() === index + 1);
    return this.snapshot;
  }

  // -------------------------------------------------------------------------------------
  // Outputs.
  // -------------------------------------------------------------------------------------

  hasReady(): boolean {
    if (this.readyInFlight !== null) return false;
    if (this.outbox.length > 0 || this.urgentOutbox.length > 0) return true;
    if (this.role === "leader" && (this.broadcastPending || this.readRound > this.readRoundSent)) return true;
    if (this.log.lastIndex() > this.handedIndex) return true;
    if (this.pendingTruncateFrom !== null) return true;
    if (this.snapshotToPersist !== null) return true;
    if (this.commitIndex > this.applyHandedIndex) return true;
    if (this.readStatesOut.length > 0) return true;
    if (this.readsFailedOut.length > 0) return true;
    return !this.hardStateEquals(this.hardStateHanded);
  }

  /** Collects pending work; see RaftReady for the contract. Call advance(ready) when done. */
  ready(): RaftReady {
    assert(this.readyInFlight === null, "ready() called again before advance()");
    this.flushLeaderSends();

    const snapshotToPersist = this.snapshotToPersist;
    // A snapshot replaces the whole persisted log, which subsumes any pending truncation.
    const truncateFrom = snapshotToPersist === null ? this.pendingTruncateFrom : null;
    const lastIndex = this.log.lastIndex();
    const entriesToPersist =
      lastIndex > this.handedIndex ? this.log.slice(this.handedIndex + 1, lastIndex + 1, Number.MAX_SAFE_INTEGER, Number.POSITIVE_INFINITY) : [];
    if (snapshotToPersist !== null) {
      assert(this.handedIndex >= snapshotToPersist.meta.lastIndex);
    }
    if (truncateFrom !== null) {
      assert(entriesToPersist.length === 0 || entriesToPersist[0].index >= truncateFrom);
    }

    const committedEntries: LogEntry[] = [];
    let committedBytes = 0;
    for (let index = this.applyHandedIndex + 1; index <= this.commitIndex; index++) {
      if (committedEntries.length >= RAFT_APPLY_ENTRIES_PER_READY_MAX) break;
      const entry = this.log.entry(index);
      committedBytes += entryBytes(entry);
      if (committedEntries.length > 0 && committedBytes > RAFT_APPLY_BYTES_PER_READY_MAX) break;
      committedEntries.push(entry);
    }

    const hardState: HardState = { term: this.term, votedFor: this.votedFor, commitIndex: this.commitIndex };
    const hardStateChanged = !this.hardStateEquals(this.hardStateHanded);
    const voteChanged = hardState.term !== this.hardStateHanded.term || hardState.votedFor !== this.hardStateHanded.votedFor;
    const ready: RaftReady = {
      hardState: hardStateChanged ? hardState : null,
      truncateFrom,
      snapshotToPersist,
      entriesToPersist,
      messagesToSend: this.urgentOutbox.length === 0 ? this.outbox : [...this.urgentOutbox, ...this.outbox],
      committedEntries,
      readStates: this.readStatesOut,
      readsFailed: this.readsFailedOut,
      mustSync: voteChanged || entriesToPersist.length > 0 || snapshotToPersist !== null || truncateFrom !== null,
    };

    this.outbox = [];
    this.urgentOutbox = [];
    this.readStatesOut = [];
    this.readsFailedOut = [];
    this.handedIndex = lastIndex;
    this.pendingTruncateFrom = null;
    this.snapshotToPersist = null;
    this.truncatedSinceReady = Number.POSITIVE_INFINITY;
    if (committedEntries.length > 0) this.applyHandedIndex = committedEntries[committedEntries.length - 1].index;
    this.hardStateHanded = hardState;
    this.readyInFlight = ready;
    return ready;
  }

  /** Acknowledges that the driver carried out `ready` (persisted, sent, applied). */
  advance(ready: RaftReady): void {
    assert(this.readyInFlight !== null, "advance() without ready()");
    assert(ready === this.readyInFlight, "advance() with a ready other than the last one");
    this.readyInFlight = null;
    if (ready.hardState !== null) this.termPersisted = ready.hardState.term;
    // Entries removed after this ready was produced are no longer what the driver wrote.
    const persistedCap = this.truncatedSinceReady - 1;
    if (ready.snapshotToPersist !== null) {
      this.persistedIndex = Math.max(this.persistedIndex, Math.min(ready.snapshotToPersist.meta.lastIndex, persistedCap));
      this.appliedIndex = Math.max(this.appliedIndex, ready.snapshotToPersist.meta.lastIndex);
    }
    if (ready.entriesToPersist.length > 0) {
      const last = ready.entriesToPersist[ready.entriesToPersist.length - 1];
      this.persistedIndex = Math.max(this.persistedIndex, Math.min(last.index, persistedCap));
    }
    if (ready.committedEntries.length > 0) {
      const last = ready.committedEntries[ready.committedEntries.length - 1];
      assert(last.index > this.appliedIndex, "committed entries applied twice");
      this.appliedIndex = last.index;
    }
    assert(this.persistedIndex <= this.log.lastIndex());
    assert(this.appliedIndex <= this.commitIndex);
    assert(this.appliedIndex <= this.applyHandedIndex);
    // Applied and persisted: the state machine has it and storage can read it back.
    this.log.releaseData(Math.min(this.appliedIndex, this.persistedIndex));
    // The leader counts itself towards a quorum only for persisted entries (thesis §10.2.1),
    // so its own fsync can be what completes a commit.
    if (this.role === "leader") this.maybeCommit();
    this.releaseReads();
  }

  /**
   * Heartbeats (leader) and heartbeat answers (follower) produced since the last ready(), for
   * a driver whose ready is still being persisted (a large append's write and fsync): sending
   * them at once keeps the followers from starting an election and the leader from stepping
   * down for lack of a quorum while the disk works. Safe before persistence: they carry only
   * the sender's term, already durable (a message at a term not yet persisted waits for the
   * next ready), a commitIndex the receiver is known to hold, and a ReadIndex round; none of
   * them votes or acknowledges entries. ready() hands out the rest of them itself.
   */
  takeUrgentMessages(): RaftMessage[] {
    const messages = this.urgentOutbox;
    this.urgentOutbox = [];
    return messages;
  }

  status(): RaftStatus {
    return {
      id: this.id,
      term: this.term,
      role: this.role,
      leaderId: this.leaderId,
      commitIndex: this.commitIndex,
      appliedIndex: this.appliedIndex,
      persistedIndex: this.persistedIndex,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      voters: [...this.voters],
    };
  }

  /** Read-only access to the in-memory log (for drivers' diagnostics and the simulator's checkers). */
  logView(): LogView {
    return this.log;
  }

  // -------------------------------------------------------------------------------------
  // Elections.
  // -------------------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsedTicks++;
    if (!this.promotable()) return;
    if (this.electionElapsedTicks < this.randomizedElectionTicks) return;
    this.electionElapsedTicks = 0;
    this.campaign(this.config.preVote ? "preVote" : "election");
  }

  private tickLeader(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks >= this.config.electionTicks) {
      this.electionElapsedTicks = 0;
      if (this.config.checkQuorum) {
        // A leader cut off from a quorum steps down, so its clients go elsewhere and its
        // pending reads fail, instead of it waiting forever for a commit.
        if (!this.quorumActive()) {
          this.logger.info("raft.leader_lost_quorum", { nodeId: this.id, term: this.term });
          this.becomeFollower(this.term, null);
          return;
        }
        for (const progress of this.progress.values()) progress.recentActive = false;
      }
    }
    if (this.heartbeatElapsedTicks >= this.config.heartbeatTicks) {
      this.heartbeatElapsedTicks = 0;
      this.broadcastHeartbeat();
    }
  }

  private campaign(kind: "preVote" | "election" | "transfer"): void {
    assert(this.promotable());
    let voteTerm: number;
    if (kind === "preVote") {
      this.role = "preCandidate";
      this.leaderId = null;
      this.votes.clear();
      this.resetElectionTimer();
      voteTerm = this.term + 1;
    } else {
      this.role = "candidate";
      this.term += 1;
      this.votedFor = this.id;
      this.leaderId = null;
      this.votes.clear();
      this.resetElectionTimer();
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (this.pollVotes() === "won") {
      // A single-voter group wins at once.
      if (kind === "preVote") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    for (const voter of this.voters) {
      if (voter === this.id) continue;
      if (kind === "preVote") {
        const message: PreVote = {
          type: "PreVote",
          from: this.id,
          to: voter,
          term: voteTerm,
          lastLogIndex: this.log.lastIndex(),
          lastLogTerm: this.log.lastTerm(),
        };
        this.send(message);
      } else {
        const message: RequestVote = {
          type: "RequestVote",
          from: this.id,
          to: voter,
          term: voteTerm,
          lastLogIndex: this.log.lastIndex(),
          lastLogTerm: this.log.lastTerm(),
          leadershipTransfer: kind === "transfer",
        };
        this.send(message);
      }
    }
  }

  private handleVoteRequest(message: PreVote | RequestVote): void {
    const isPreVote = message.type === "PreVote";
    // One vote per term (§5.2); a follower that knows a leader for this term votes for no one
    // else; a pre-vote for a future term binds nothing.
    const canVote =
      this.votedFor === message.from ||
      (this.votedFor === null && this.leaderId === null) ||
      (isPreVote && message.term > this.term);
    // Election restriction (§5.4.1): only a candidate whose log is at least as up-to-date as
    // ours can hold every committed entry.
    const lastTerm = this.log.lastTerm();
    const upToDate = message.lastLogTerm > lastTerm || (message.lastLogTerm === lastTerm && message.lastLogIndex >= this.log.lastIndex());
    const granted = canVote && upToDate;
    if (granted && !isPreVote) {
      this.votedFor = message.from;
      this.electionElapsedTicks = 0;
    }
    this.send({
      type: isPreVote ? "PreVoteResponse" : "RequestVoteResponse",
      from: this.id,
      to: message.from,
      term: granted ? message.term : this.term,
      granted,
    });
  }

  private recordVote(from: NodeId, granted: boolean): void {
    if (!this.voters.includes(from)) return;
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const result = this.pollVotes();
    if (result === "won") {
      if (this.role === "preCandidate") this.campaign("election");
      else this.becomeLeader();
    } else if (result === "lost") {
      this.becomeFollower(this.term, null);
    }
  }

  private pollVotes(): "won" | "lost" | "pending" {
    let grantedCount = 0;
    let rejectedCount = 0;
    for (const voter of this.voters) {
      const vote = this.votes.get(voter);
      if (vote === true) grantedCount++;
      if (vote === false) rejectedCount++;
    }
    const quorum = quorumSize(this.voters.length);
    if (grantedCount >= quorum) return "won";
    if (rejectedCount > this.voters.length - quorum) return "lost";
    return "pending";
  }

  private becomeFollower(term: number, leaderId: NodeId | null): void {
    assert(term >= this.term);
    const wasLeader = this.role === "leader";
    if (term > this.term) {
      this.term = term;
      this.votedFor = null;
    }
    this.role = "follower";
    this.leaderId = leaderId;
    this.votes.clear();
    if (wasLeader) {
      this.progress.clear();
      this.failReads();
      this.broadcastPending = false;
      this.uncommittedBytes = 0;
      this.logger.info("raft.leader_stepped_down", { nodeId: this.id, term: this.term });
    }
    this.resetElectionTimer();
  }

  private becomeLeader(): void {
    assert.equal(this.role, "candidate");
    assert.equal(this.votedFor, this.id);
    this.role = "leader";
    this.leaderId = this.id;
    this.votes.clear();
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.progress.clear();
    const lastIndex = this.log.lastIndex();
    for (const voter of this.voters) {
      if (voter !== this.id) this.progress.set(voter, new Progress(lastIndex + 1));
    }
    assert.equal(this.reads.length, 0);
    this.readRound = 0;
    this.readRoundSent = 0;
    this.uncommittedBytes = 0;
    for (let index = Math.max(this.commitIndex + 1, this.log.firstIndex()); index <= lastIndex; index++) {
      this.uncommittedBytes += entryBytes(this.log.entry(index));
    }
    // A no-op of the new term: the leader can commit only entries of its own term by counting
    // replicas (§5.4.2), so this commits everything before it promptly, and it makes ReadIndex
    // and config changes possible (both wait for a commit in the current term).
    this.appendAsLeader([{ term: this.term, index: lastIndex + 1, type: "noop", data: new Uint8Array(0) }]);
    // Entries before the no-op may hold an uncommitted config change; allow the next change
    // only after the no-op commits.
    this.pendingConfIndex = this.log.lastIndex();
    this.logger.info("raft.leader_elected", { nodeId: this.id, term: this.term });
  }

  private resetElectionTimer(): void {
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.randomizedElectionTicks = this.config.electionTicks + this.config.random.int(this.config.electionTicks);
    assert(this.randomizedElectionTicks >= this.config.electionTicks);
    assert(this.randomizedElectionTicks < 2 * this.config.electionTicks);
  }

  /** True while a follower has heard from a leader within the minimum election timeout. */
  private inLease(): boolean {
    return this.config.checkQuorum && this.leaderId !== null && this.electionElapsedTicks < this.config.electionTicks;
  }

  private promotable(): boolean {
    return this.voters.includes(this.id);
  }

  private quorumActive(): boolean {
    let activeCount = 0;
    for (const voter of this.voters) {
      if (voter === this.id) activeCount++;
      else if (this.progress.get(voter)?.recentActive === true) activeCount++;
    }
    return activeCount >= quorumSize(this.voters.length);
  }

  // -------------------------------------------------------------------------------------
  // Replication: follower side.
  // -------------------------------------------------------------------------------------

  private handleAppendEntries(message: AppendEntries): void {
    let prevIndex = message.prevLogIndex;
    let entries = message.entries;
    assert(entries.length === 0 || entries[0].index === prevIndex + 1, "AppendEntries entries must follow prevLogIndex");
    let prefixMatches = false;
    if (prevIndex < this.commitIndex) {
      // Entries up to commitIndex are committed, so the leader of this term holds them
      // (Leader Completeness, §5.4): they match. Skip them instead of rejecting a late or
      // duplicated message (our log below commitIndex may already be compacted).
      const skipCount = Math.min(this.commitIndex - prevIndex, entries.length);
      if (skipCount > 0) {
        const termHere = this.log.term(prevIndex + skipCount);
        if (termHere !== null) assert.equal(entries[skipCount - 1].term, termHere, "leader disagrees with a committed entry");
      }
      entries = entries.slice(skipCount);
      prevIndex += skipCount;
      if (prevIndex < this.commitIndex) {
        this.sendAppendSuccess(message.from, this.commitIndex);
        return;
      }
      prefixMatches = true;
    }
    if (!prefixMatches) {
      const termAtPrev = this.log.term(prevIndex);
      if (termAtPrev === null) {
        // Our log is shorter: ask the leader to continue right after our last entry.
        assert(prevIndex > this.log.lastIndex());
        this.sendAppendReject(message.from, message.prevLogIndex, this.log.lastIndex() + 1, 0);
        return;
      }
      if (termAtPrev !== message.prevLogTerm) {
        // Diverged: report our term there and where its run starts, so the leader can skip
        // the whole run in one round trip. The run never reaches below commitIndex + 1.
        const conflictIndex = this.log.firstIndexOfTermRun(prevIndex, this.commitIndex + 1);
        this.sendAppendReject(message.from, message.prevLogIndex, conflictIndex, termAtPrev);
        return;
      }
    }
    this.appendFromLeader(entries);
    const lastNewIndex = prevIndex + entries.length;
    // Commit only what this message proved we hold: a longer tail of ours may still diverge.
    this.commitTo(Math.min(message.leaderCommitIndex, lastNewIndex));
    this.sendAppendSuccess(message.from, lastNewIndex);
  }

  /** Appends the entries we lack; drops our suffix from the first entry whose term differs. */
  private appendFromLeader(entries: readonly LogEntry[]): void {
    for (let offset = 0; offset < entries.length; offset++) {
      const entry = entries[offset];
      const termHere = this.log.term(entry.index);
      if (termHere === entry.term) continue;
      if (termHere === null) {
        assert.equal(entry.index, this.log.lastIndex() + 1);
      } else {
        assert(entry.index > this.commitIndex, `leader overwrites committed entry ${entry.index}`);
        this.truncateLog(entry.index);
      }
      this.appendToLog(entries.slice(offset));
      return;
    }
  }

  private handleHeartbeat(message: Heartbeat): void {
    // The leader sends min(its commitIndex, our matchIndex), which we hold.
    assert(message.commitIndex <= this.log.lastIndex(), "heartbeat commits beyond our log");
    this.commitTo(message.commitIndex);
    const response: HeartbeatResponse = {
      type: "HeartbeatResponse",
      from: this.id,
      to: message.from,
      term: this.term,
      readRound: message.readRound,
    };
    this.send(response);
  }

  private handleInstallSnapshot(message: InstallSnapshot): void {
    const meta = message.snapshot.meta;
    assert(meta.lastIndex >= 1);
    if (meta.lastIndex <= this.commitIndex) {
      // Stale or duplicated: we are already past it.
      this.sendSnapshotAck(message.from, this.commitIndex);
      return;
    }
    if (this.log.term(meta.lastIndex) === meta.lastTerm) {
      // We hold the snapshot's last entry, hence (Log Matching) everything before it: just
      // commit up to it and keep our log.
      this.commitTo(meta.lastIndex);
      this.sendSnapshotAck(message.from, meta.lastIndex);
      return;
    }
    const commitIndexBefore = this.commitIndex;
    this.log.restore(meta.lastIndex, meta.lastTerm);
    this.snapshot = message.snapshot;
    this.snapshotVoters = sortedVoters(meta.voters);
    this.snapshotToPersist = message.snapshot;
    this.voters = [...this.snapshotVoters];
    this.configIndex = meta.lastIndex;
    this.commitIndex = meta.lastIndex;
    // The driver discards its whole log when it persists the snapshot, so nothing older
    // needs truncating, and the snapshot replaces every entry not yet handed out to apply.
    this.handedIndex = meta.lastIndex;
    this.pendingTruncateFrom = null;
    this.applyHandedIndex = meta.lastIndex;
    // Until the snapshot is persisted, only the committed prefix on disk is known to agree.
    this.persistedIndex = Math.min(this.persistedIndex, commitIndexBefore);
    this.truncatedSinceReady = Math.min(this.truncatedSinceReady, commitIndexBefore + 1);
    this.logger.info("raft.snapshot_installed", { nodeId: this.id, term: this.term, lastIndex: meta.lastIndex });
    this.sendSnapshotAck(message.from, meta.lastIndex);
  }

  private sendAppendSuccess(to: NodeId, matchIndex: number): void {
    const response: AppendEntriesResponse = {
      type: "AppendEntriesResponse",
      from: this.id,
      to,
      term: this.term,
      success: true,
      matchIndex,
      rejectedLogIndex: 0,
      conflictIndex: 0,
      conflictTerm: 0,
    };
    this.send(response);
  }

  private sendAppendReject(to: NodeId, rejectedLogIndex: number, conflictIndex: number, conflictTerm: number): void {
    assert(rejectedLogIndex >= 1, "index 0 always matches");
    assert(conflictIndex >= 1);
    assert(conflictIndex <= rejectedLogIndex);
    this.send({
      type: "AppendEntriesResponse",
      from: this.id,
      to,
      term: this.term,
      success: false,
      matchIndex: 0,
      rejectedLogIndex,
      conflictIndex,
      conflictTerm,
    });
  }

  private sendSnapshotAck(to: NodeId, matchIndex: number): void {
    this.send({ type: "InstallSnapshotResponse", from: this.id, to, term: this.term, matchIndex });
  }

  // -------------------------------------------------------------------------------------
  // Replication: leader side.
  // -------------------------------------------------------------------------------------

  private appendAsLeader(entries: readonly LogEntry[]): void {
    assert.equal(this.role, "leader");
    this.appendToLog(entries);
    for (const entry of entries) this.uncommittedBytes += entryBytes(entry);
    this.broadcastPending = true;
  }

  private checkUncommittedRoom(entryCount: number, dataBytes: number): void {
    const uncommittedCount = this.log.lastIndex() - this.commitIndex;
    if (uncommittedCount + entryCount > RAFT_UNCOMMITTED_ENTRIES_MAX) {
      throw new UnavailableError(`${uncommittedCount} entries are uncommitted; try again later`);
    }
    if (this.uncommittedBytes + dataBytes > RAFT_UNCOMMITTED_BYTES_MAX) {
      throw new UnavailableError(`${this.uncommittedBytes} bytes are uncommitted; try again later`);
    }
  }

  /** Sends what proposals and config changes appended since the last ready(). */
  private flushLeaderSends(): void {
    if (this.role !== "leader") return;
    if (this.broadcastPending) {
      this.broadcastPending = false;
      for (const [peer, progress] of this.progress) this.sendAppendsWhileAllowed(peer, progress);
    }
    if (this.readRound > this.readRoundSent) this.broadcastHeartbeat();
  }

  private broadcastHeartbeat(): void {
    assert.equal(this.role, "leader");
    this.readRoundSent = this.readRound;
    for (const [peer, progress] of this.progress) {
      const heartbeat: Heartbeat = {
        type: "Heartbeat",
        from: this.id,
        to: peer,
        term: this.term,
        commitIndex: Math.min(progress.matchIndex, this.commitIndex),
        readRound: this.readRound,
      };
      this.send(heartbeat);
    }
  }

  /** Pipelining: keeps sending until the follower is caught up or its in-flight window is full. */
  private sendAppendsWhileAllowed(peer: NodeId, progress: Progress): void {
    for (let sendCount = 0; sendCount <= this.config.maxInflightAppends; sendCount++) {
      if (!this.sendAppend(peer, progress, false)) return;
    }
  }

  /** Sends one AppendEntries (or InstallSnapshot) if the follower's state allows. Returns whether it sent. */
  private sendAppend(peer: NodeId, progress: Progress, sendIfEmpty: boolean): boolean {
    if (progress.state === "snapshot") return false;
    if (progress.state === "probe" && progress.probeSent) return false;
    if (progress.state === "replicate" && progress.inflights.length >= this.config.maxInflightAppends) return false;
    if (progress.state === "replicate" && progress.inflights.length > 0 && progress.inflightBytes >= this.config.maxInflightBytes) return false;
    const lastIndex = this.log.lastIndex();
    assert(progress.nextIndex <= lastIndex + 1, "nextIndex beyond the leader's log");
    assert(progress.nextIndex > progress.matchIndex);
    const prevLogIndex = progress.nextIndex - 1;
    const prevLogTerm = this.log.term(prevLogIndex);
    if (prevLogTerm === null) {
      // The entries this follower needs are compacted away.
      assert(prevLogIndex < this.log.firstIndex() - 1);
      return this.sendSnapshot(peer, progress);
    }
    const entries =
      progress.nextIndex <= lastIndex
        ? this.log.slice(progress.nextIndex, lastIndex + 1, this.config.maxEntriesPerAppend, this.config.maxBytesPerAppend)
        : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    const message: AppendEntries = {
      type: "AppendEntries",
      from: this.id,
      to: peer,
      term: this.term,
      prevLogIndex,
      prevLogTerm,
      entries,
      leaderCommitIndex: this.commitIndex,
    };
    this.send(message);
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    if (progress.state === "replicate" && entries.length > 0) {
      const last = entries[entries.length - 1].index;
      progress.nextIndex = last + 1;
      progress.inflights.push({ lastIndex: last, sentTick: this.tickCount, bytes });
      progress.inflightBytes += bytes;
      assert(progress.inflights.length <= this.config.maxInflightAppends);
    }
    if (progress.state === "probe") {
      progress.probeSent = true;
      progress.probeSentTick = this.tickCount;
      progress.probeBytes = bytes;
    }
    return true;
  }

  private sendSnapshot(peer: NodeId, progress: Progress): boolean {
    assert(this.snapshot !== null, "log compacted without a snapshot");
    assert(this.snapshot.meta.lastIndex === this.log.firstIndex() - 1);
    const message: InstallSnapshot = { type: "InstallSnapshot", from: this.id, to: peer, term: this.term, snapshot: this.snapshot };
    this.send(message);
    progress.state = "snapshot";
    progress.pendingSnapshotIndex = this.snapshot.meta.lastIndex;
    progress.snapshotSentTick = this.tickCount;
    this.clearInflights(progress);
    progress.probeSent = false;
    return true;
  }

  private handleAppendEntriesResponse(message: AppendEntriesResponse): void {
    const progress = this.progress.get(message.from);
    if (progress === undefined) return; // not a voter (any more)
    progress.recentActive = true;
    if (message.success) {
      this.handleMatch(message.from, progress, message.matchIndex);
      return;
    }
    if (message.rejectedLogIndex === 0) return; // a stale-term notice at our own term: nothing to learn
    if (progress.state === "snapshot") return;
    // Replies to appends sent before the last back-off are stale.
    if (progress.state === "replicate" && message.rejectedLogIndex <= progress.matchIndex) return;
    if (progress.state === "probe" && message.rejectedLogIndex !== progress.nextIndex - 1) return;
    if (progress.state === "replicate" && message.conflictTerm === 0) {
      // The follower's log merely ends before this append (nothing diverges): an earlier
      // append was lost or overtaken by this one, and the follower dropped this one. Go back
      // to the gap and resend from there, still pipelined, instead of probing one append per
      // round trip. Rejects of the other appends of the same window report the same gap;
      // they are ignored while that resend is young.
      const gapIndex = Math.max(message.conflictIndex, progress.matchIndex + 1);
      if (gapIndex === progress.resendIndex && this.tickCount - progress.resendTick < this.appendRetryTicks) return;
      progress.resendIndex = gapIndex;
      progress.resendTick = this.tickCount;
      progress.nextIndex = gapIndex;
      progress.inflights = progress.inflights.filter((inflight) => inflight.lastIndex < gapIndex);
      progress.inflightBytes = progress.inflights.reduce((sum, inflight) => sum + inflight.bytes, 0);
      this.sendAppendsWhileAllowed(message.from, progress);
      return;
    }
    let nextIndex = message.conflictIndex;
    if (message.conflictTerm > 0) {
      // If we hold entries of the follower's conflicting term, our logs agree up to our last
      // entry of that term (Log Matching); otherwise skip the follower's whole run of it.
      const lastOfTerm = this.log.lastIndexOfTerm(message.conflictTerm, message.rejectedLogIndex);
      if (lastOfTerm !== null) nextIndex = lastOfTerm + 1;
    }
    nextIndex = Math.min(nextIndex, message.rejectedLogIndex);
    nextIndex = Math.max(nextIndex, progress.matchIndex + 1);
    this.becomeProbe(progress);
    progress.nextIndex = nextIndex;
    this.sendAppend(message.from, progress, true);
  }

  private handleMatch(peer: NodeId, progress: Progress, matchIndex: number): void {
    assert(matchIndex <= this.log.lastIndex(), `${peer} acknowledges entries the leader never had`);
    let matchAdvanced = false;
    if (matchIndex > progress.matchIndex) {
      progress.matchIndex = matchIndex;
      matchAdvanced = true;
    }
    if (progress.nextIndex < matchIndex + 1) progress.nextIndex = matchIndex + 1;
    let freeCount = 0;
    while (freeCount < progress.inflights.length && progress.inflights[freeCount].lastIndex <= matchIndex) {
      progress.inflightBytes -= progress.inflights[freeCount].bytes;
      freeCount++;
    }
    if (freeCount > 0) progress.inflights.splice(0, freeCount);
    if (progress.state === "probe") {
      this.becomeReplicate(progress);
    } else if (progress.state === "snapshot" && progress.matchIndex >= progress.pendingSnapshotIndex) {
      this.becomeReplicate(progress);
    }
    if (matchAdvanced) {
      this.maybeCommit();
      // Committing our own removal makes us step down.
      if (this.role !== "leader") return;
    }
    this.sendAppendsWhileAllowed(peer, progress);
  }

  private handleHeartbeatResponse(message: HeartbeatResponse): void {
    const progress = this.progress.get(message.from);
    if (progress === undefined) return;
    progress.recentActive = true;
    // The follower is alive; a probe it has not answered was lost, unless it is a large one
    // still on its way (then sending it again would only put another copy on the wire).
    if (progress.probeSent && this.tickCount - progress.probeSentTick >= this.transferTicks(progress.probeBytes)) progress.probeSent = false;
    if (message.readRound > progress.readRoundAcked) progress.readRoundAcked = message.readRound;
    if (
      progress.state === "replicate" &&
      progress.inflights.length > 0 &&
      this.tickCount - progress.inflights[0].sentTick >= this.appendRetryTicks + this.transferTicks(progress.inflights[0].bytes)
    ) {
      // The oldest pipelined append went unanswered for appendRetryTicks (plus its transfer
      // time at the slowest rate assumed) although the follower is alive: assume it (or its
      // answer) was lost and probe again from matchIndex.
      this.becomeProbe(progress);
    }
    if (progress.state === "snapshot" && this.tickCount - progress.snapshotSentTick >= this.config.electionTicks) {
      // The snapshot or its answer was lost: find out where the follower is and retry.
      this.becomeProbe(progress);
    }
    if (progress.matchIndex < this.log.lastIndex()) {
      if (progress.state === "probe") this.sendAppend(message.from, progress, true);
      else this.sendAppendsWhileAllowed(message.from, progress);
    }
    this.confirmReads();
    this.releaseReads();
  }

  private clearInflights(progress: Progress): void {
    progress.inflights = [];
    progress.inflightBytes = 0;
  }

  private becomeProbe(progress: Progress): void {
    progress.state = "probe";
    progress.probeSent = false;
    this.clearInflights(progress);
    progress.pendingSnapshotIndex = 0;
    progress.nextIndex = progress.matchIndex + 1;
  }

  private becomeReplicate(progress: Progress): void {
    progress.state = "replicate";
    progress.probeSent = false;
    this.clearInflights(progress);
    progress.pendingSnapshotIndex = 0;
    progress.nextIndex = progress.matchIndex + 1;
  }

  /** Commits the highest index a quorum holds, if it is of the current term (§5.4.2). */
  private maybeCommit(): boolean {
    assert.equal(this.role, "leader");
    const matchIndexes: number[] = [];
    for (const voter of this.voters) {
      if (voter === this.id) {
        matchIndexes.push(this.persistedIndex);
      } else {
        const progress = this.progress.get(voter);
        assert(progress !== undefined, `no progress for voter ${voter}`);
        matchIndexes.push(progress.matchIndex);
      }
    }
    matchIndexes.sort((a, b) => b - a);
    const quorumIndex = matchIndexes[quorumSize(this.voters.length) - 1];
    if (quorumIndex <= this.commitIndex) return false;
    // An entry of an older term is committed only indirectly, by a current-term entry after
    // it (Figure 8): a replica count alone does not protect it from being overwritten.
    if (this.log.term(quorumIndex) !== this.term) return false;
    this.commitTo(quorumIndex);
    return true;
  }

  private commitTo(index: number): void {
    if (index <= this.commitIndex) return;
    assert(index <= this.log.lastIndex(), `commit ${index} beyond last index ${this.log.lastIndex()}`);
    const commitIndexBefore = this.commitIndex;
    this.commitIndex = index;
    if (this.role !== "leader") return;
    for (let entryIndex = Math.max(commitIndexBefore + 1, this.log.firstIndex()); entryIndex <= index; entryIndex++) {
      this.uncommittedBytes -= entryBytes(this.log.entry(entryIndex));
    }
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
    if (this.currentTermCommitted()) {
      for (const read of this.reads) {
        if (read.readIndex === null) read.readIndex = this.commitIndex;
      }
      this.releaseReads();
    }
    if (this.configIndex <= this.commitIndex && !this.voters.includes(this.id)) this.stepDownAfterRemoval();
  }

  private stepDownAfterRemoval(): void {
    const lastIndex = this.log.lastIndex();
    let transferee: NodeId | null = null;
    for (const voter of this.voters) {
      const progress = this.progress.get(voter);
      if (progress !== undefined && progress.matchIndex === lastIndex) {
        transferee = voter;
        break;
      }
    }
    if (transferee !== null) this.send({ type: "TimeoutNow", from: this.id, to: transferee, term: this.term });
    this.logger.info("raft.leader_removed_self", { nodeId: this.id, term: this.term, transferee });
    this.becomeFollower(this.term, null);
  }

  private currentTermCommitted(): boolean {
    return this.log.term(this.commitIndex) === this.term;
  }

  // -------------------------------------------------------------------------------------
  // ReadIndex.
  // -------------------------------------------------------------------------------------

  /** Marks reads whose heartbeat round a quorum acknowledged. Rounds grow with queue order. */
  private confirmReads(): void {
    for (const read of this.reads) {
      if (read.confirmed) continue;
      if (!this.roundAcknowledged(read.round)) return;
      read.confirmed = true;
    }
  }

  private roundAcknowledged(round: number): boolean {
    let ackCount = 0;
    for (const voter of this.voters) {
      if (voter === this.id) ackCount++;
      else if ((this.progress.get(voter)?.readRoundAcked ?? 0) >= round) ackCount++;
    }
    return ackCount >= quorumSize(this.voters.length);
  }

  /** Moves confirmed reads whose index is applied to readStatesOut, in request order. */
  private releaseReads(): void {
    let releaseCount = 0;
    for (const read of this.reads) {
      if (!read.confirmed || read.readIndex === null || read.readIndex > this.appliedIndex) break;
      this.readStatesOut.push({ requestId: read.requestId, index: read.readIndex });
      releaseCount++;
    }
    if (releaseCount > 0) this.reads.splice(0, releaseCount);
  }

  private failReads(): void {
    for (const read of this.reads) this.readsFailedOut.push(read.requestId);
    this.reads = [];
    this.readRound = 0;
    this.readRoundSent = 0;
  }

  // -------------------------------------------------------------------------------------
  // Log and configuration helpers.
  // -------------------------------------------------------------------------------------

  private appendToLog(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    this.log.append(entries);
    for (let offset = entries.length - 1; offset >= 0; offset--) {
      const entry = entries[offset];
      if (entry.type === "config") {
        // Config takes effect on append (thesis §4.1), on leaders and followers alike.
        this.applyConfig(decodeConfChange(entry.data).voters, entry.index);
        break;
      }
    }
  }

  private truncateLog(index: number): void {
    assert(index > this.commitIndex, "truncating committed entries");
    this.log.truncateFrom(index);
    if (index <= this.handedIndex) {
      this.pendingTruncateFrom = this.pendingTruncateFrom === null ? index : Math.min(this.pendingTruncateFrom, index);
      this.handedIndex = index - 1;
    }
    this.persistedIndex = Math.min(this.persistedIndex, index - 1);
    this.truncatedSinceReady = Math.min(this.truncatedSinceReady, index);
    // A dropped config entry takes its configuration with it.
    if (this.configIndex >= index) this.refreshConfig();
  }

  private applyConfig(voters: readonly NodeId[], index: number): void {
    this.voters = sortedVoters(voters);
    this.configIndex = index;
    this.logger.info("raft.config_changed", { nodeId: this.id, index, voters: this.voters });
    if (this.role !== "leader") return;
    for (const peer of [...this.progress.keys()]) {
      if (!this.voters.includes(peer)) this.progress.delete(peer);
    }
    for (const voter of this.voters) {
      if (voter !== this.id && !this.progress.has(voter)) this.progress.set(voter, new Progress(this.log.lastIndex() + 1));
    }
    // Fewer voters may already form a quorum for commits and reads.
    this.maybeCommit();
    this.confirmReads();
  }

  /** Recomputes voters from the latest config entry in the log, else the snapshot's. */
  private refreshConfig(): void {
    for (let index = this.log.lastIndex(); index >= this.log.firstIndex(); index--) {
      if (this.log.typeOf(index) === "config") {
        this.voters = sortedVoters(decodeConfChange(this.log.entry(index).data).voters);
        this.configIndex = index;
        return;
      }
    }
    this.voters = [...this.snapshotVoters];
    this.configIndex = this.log.firstIndex() - 1;
  }

  /** The voters in effect at `index` (for a snapshot taken there). */
  private votersAt(index: number): NodeId[] {
    for (let entryIndex = index; entryIndex >= this.log.firstIndex(); entryIndex--) {
      if (this.log.typeOf(entryIndex) === "config") return sortedVoters(decodeConfChange(this.log.entry(entryIndex).data).voters);
    }
    return [...this.snapshotVoters];
  }

  private hardStateEquals(other: HardState): boolean {
    return other.term === this.term && other.votedFor === this.votedFor && other.commitIndex === this.commitIndex;
  }

  private send(message: RaftMessage): void {
    assert.equal(message.from, this.id);
    assert.notEqual(message.to, this.id);
    assert(this.outbox.length + this.urgentOutbox.length < RAFT_OUTBOX_MESSAGES_MAX, "outbox full: the driver stopped calling ready()");
    const urgent = (message.type === "Heartbeat" || message.type === "HeartbeatResponse") && message.term === this.termPersisted;
    (urgent ? this.urgentOutbox : this.outbox).push(message);
  }

  /** Ticks an append of `bytes` may take beyond a small one's round trip before it counts as lost. */
  private transferTicks(bytes: number): number {
    return Math.ceil(bytes / this.config.replicationBytesPerTickMin);
  }
}
