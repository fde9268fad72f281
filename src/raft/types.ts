// Raft types, messages and limits shared by the pure core (core.ts), its in-memory log
// (memory_log.ts), the node driver and the simulator.
//
// Glossary (one meaning per word):
// - term: Raft's logical epoch; at most one leader per term.
// - logIndex / index: 1-based position in the Raft log. Index 0 is the empty prefix (term 0).
// - entryCount: a number of log entries, never an index.
// - commitIndex: Raft's commit point, the highest log index known to be stored on a majority
//   of voters (and so never lost). "committedEntries" are entries at or below it. This is NOT
//   the ecc mode's two-phase commit, whose phases are always called EcPrepare / EcCommit /
//   EcAbort (src/ecc).
// - appliedIndex: the highest index the driver has applied to its state machine and
//   acknowledged with advance().
// - persistedIndex: the highest index the driver has written to stable storage and
//   acknowledged with advance(). The leader counts itself towards a quorum only up to it.
// - voters: the node ids whose votes and acknowledgements count for elections and commits.
//   A configuration ("config") is a voter list; config changes add or remove one voter at a
//   time (Raft thesis §4.1) and take effect when the config entry is appended, not committed.
// - tick: the only notion of time in the core; the driver calls tick() at a fixed interval.
// - ReadIndex: the linearizable-read protocol of Raft thesis §6.4 (see RaftCore.readIndex).
// - snapshot: the state machine's image at a log index (SnapshotMeta.lastIndex); entries at
//   or below it may be dropped from the log ("compaction").
// - driver: the code around the core that does I/O (node runtime, simulator, unit harness).
import assert from "node:assert/strict";

export type NodeId = string;

/** "command": a client command; "config": a membership change; "noop": a new leader's first entry. */
export type EntryType = "command" | "config" | "noop";

/** One Raft log entry. Treated as immutable once created: the core shares entry objects. */
export interface LogEntry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must survive a crash besides the log: Raft's persistent state (Figure 2) plus commitIndex. */
export interface HardState {
  readonly term: number;
  readonly votedFor: NodeId | null;
  /** Persisted so a restarted node re-applies committed entries at once; may lag (no fsync needed). */
  readonly commitIndex: number;
}

export interface SnapshotMeta {
  /** The last log index the snapshot covers. */
  readonly lastIndex: number;
  /** The term of the entry at lastIndex. */
  readonly lastTerm: number;
  /** The voters in effect at lastIndex (config entries at or below it are gone from the log). */
  readonly voters: readonly NodeId[];
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine image, opaque to the core. */
  readonly data: Uint8Array;
}

/**
 * A snapshot whose data is produced by `load` each time it is read. Why: a leader keeps its
 * latest snapshot only to send InstallSnapshot to a follower that fell behind the log, which
 * is rare, while holding the image costs about the size of the whole state machine. A driver
 * that saved the image to disk passes a loader that reads it back. `load` must return the
 * image of exactly `meta` (or throw), and reading `data` may cost I/O: read it once per use.
 */
export function snapshotLoadedOnUse(meta: SnapshotMeta, load: () => Uint8Array): Snapshot {
  return {
    meta,
    get data(): Uint8Array {
      return load();
    },
  };
}

/** A single-server membership change (Raft thesis §4.1). */
export interface ConfChange {
  readonly type: "add" | "remove";
  readonly nodeId: NodeId;
}

/**
 * A config entry's data: the change and the complete voter list after it. Carrying the whole
 * list (not just the delta) lets any node, including a freshly added one with an empty log,
 * learn the configuration from the latest config entry alone.
 */
export interface ConfChangeRecord {
  readonly change: ConfChange;
  readonly voters: readonly NodeId[];
}

export function encodeConfChange(record: ConfChangeRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ change: record.change, voters: record.voters }));
}

export function decodeConfChange(data: Uint8Array): ConfChangeRecord {
  const parsed = JSON.parse(new TextDecoder().decode(data)) as ConfChangeRecord;
  assert(parsed.change.type === "add" || parsed.change.type === "remove");
  assert(typeof parsed.change.nodeId === "string");
  assert(Array.isArray(parsed.voters));
  return parsed;
}

export type RaftRole = "follower" | "preCandidate" | "candidate" | "leader";

// ---------------------------------------------------------------------------------------
// Messages. Every message carries {from, to, term}. A receiver first compares terms:
// - term > own term: the receiver adopts the term and becomes a follower, except that
//   (a) PreVote and a granted PreVoteResponse never change terms (the pre-vote term is a
//   "what if"), and (b) a (Pre)Vote is ignored entirely while the receiver has heard from a
//   live leader within the last electionTicks (leader stickiness, thesis §4.2.3), unless it
//   is a leadership-transfer vote.
// - term < own term: dropped, except that a stale AppendEntries/Heartbeat gets an
//   AppendEntriesResponse at the higher term (so a leader that was partitioned away learns
//   it is stale and steps down) and a stale PreVote gets a rejecting PreVoteResponse (so a
//   pre-candidate with an old term catches up).
// Messages are plain objects so any transport can encode them; the core never mutates a
// message it receives or sends.
// ---------------------------------------------------------------------------------------

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/**
 * Sent by a follower whose election timer expired (preVote enabled) to every voter, before
 * it bumps its term. `term` is the term it WOULD campaign at (own term + 1). The receiver
 * changes no state: it grants if it has not heard from a leader within electionTicks and the
 * sender's log is at least as up-to-date as its own (§5.4.1). Only a pre-vote majority lets
 * the sender start a real election, so a node cut off from the majority cannot inflate terms.
 */
export interface PreVote extends MessageBase {
  readonly type: "PreVote";
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
}

/** Reply to PreVote. Granted: term echoes the PreVote's term. Rejected: the receiver's own term. */
export interface PreVoteResponse extends MessageBase {
  readonly type: "PreVoteResponse";
  readonly granted: boolean;
}

/**
 * Sent by a candidate (after a successful pre-vote, or on TimeoutNow) to every voter. The
 * receiver grants if it has not voted for someone else in this term and the candidate's log
 * is at least as up-to-date as its own (§5.2, §5.4.1); it must persist votedFor (HardState)
 * before the response leaves. `leadershipTransfer` marks a campaign started by TimeoutNow,
 * which receivers honour even while they still hear from the (departing) leader.
 */
export interface RequestVote extends MessageBase {
  readonly type: "RequestVote";
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly leadershipTransfer: boolean;
}

/** Reply to RequestVote, sent after the vote is persisted. */
export interface RequestVoteResponse extends MessageBase {
  readonly type: "RequestVoteResponse";
  readonly granted: boolean;
}

/**
 * Sent by the leader to replicate entries (§5.3), pipelined: the leader does not wait for the
 * reply before sending the next batch (bounded by maxInflightAppends). Also sent empty to
 * probe where a follower's log diverges. The receiver rejects when it lacks an entry at
 * prevLogIndex with prevLogTerm (with a hint where to retry), otherwise drops any conflicting
 * suffix, appends the entries it does not have, advances commitIndex to
 * min(leaderCommitIndex, last index of this message), persists, then answers.
 */
export interface AppendEntries extends MessageBase {
  readonly type: "AppendEntries";
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly LogEntry[];
  readonly leaderCommitIndex: number;
}

/**
 * Reply to AppendEntries (and the "you are stale" answer to a lower-term AppendEntries or
 * Heartbeat). Success: matchIndex is the highest index known to equal the leader's log.
 * Reject: rejectedLogIndex echoes the prevLogIndex that did not match, and the hint says
 * where the follower's log diverges: conflictTerm is the follower's term at rejectedLogIndex
 * (0 when the follower's log is shorter) and conflictIndex the first index the follower holds
 * with that term (or its lastIndex + 1), so the leader skips a whole term per round trip.
 */
export interface AppendEntriesResponse extends MessageBase {
  readonly type: "AppendEntriesResponse";
  readonly success: boolean;
  readonly matchIndex: number;
  readonly rejectedLogIndex: number;
  readonly conflictIndex: number;
  readonly conflictTerm: number;
}

/**
 * Sent by the leader to every voter each heartbeatTicks, and at once when ReadIndex requests
 * wait for a leadership confirmation. Kept apart from AppendEntries (as etcd does) so a
 * heartbeat never touches the follower's log: commitIndex is min(leader's commitIndex,
 * follower's matchIndex), which the follower is known to hold. The receiver resets its
 * election timer, records the leader, advances its commitIndex and answers with readRound.
 */
export interface Heartbeat extends MessageBase {
  readonly type: "Heartbeat";
  readonly commitIndex: number;
  /** The leader's latest ReadIndex round; echoed back to confirm leadership for those reads. */
  readonly readRound: number;
}

/** Reply to Heartbeat: proves the sender still accepts the leader's term at that round. */
export interface HeartbeatResponse extends MessageBase {
  readonly type: "HeartbeatResponse";
  readonly readRound: number;
}

/**
 * Sent by the leader to a follower whose next needed entry was compacted away (nextIndex <=
 * snapshot lastIndex). Carries the whole snapshot in one message (see limitations in
 * core.ts). The receiver, if its log does not already contain (lastIndex, lastTerm), drops its
 * whole log and state machine, persists the snapshot and restores from it; then answers.
 */
export interface InstallSnapshot extends MessageBase {
  readonly type: "InstallSnapshot";
  readonly snapshot: Snapshot;
}

/** Reply to InstallSnapshot, sent after the snapshot is persisted: matchIndex as in AppendEntriesResponse. */
export interface InstallSnapshotResponse extends MessageBase {
  readonly type: "InstallSnapshotResponse";
  readonly matchIndex: number;
}

/**
 * Sent by a leader that has just committed its own removal, to the voter with the most
 * complete log: "start an election now" (thesis §3.10), so the group does not sit leaderless
 * for an election timeout. The receiver campaigns at once, skipping pre-vote.
 */
export interface TimeoutNow extends MessageBase {
  readonly type: "TimeoutNow";
}

export type RaftMessage =
  | PreVote
  | PreVoteResponse
  | RequestVote
  | RequestVoteResponse
  | AppendEntries
  | AppendEntriesResponse
  | Heartbeat
  | HeartbeatResponse
  | InstallSnapshot
  | InstallSnapshotResponse
  | TimeoutNow;

export type RaftMessageType = RaftMessage["type"];

/** A linearizable read released by ReadIndex: serve it from the state machine now. */
export interface ReadState {
  readonly requestId: string;
  /** The commitIndex recorded for the read; appliedIndex is already >= it. */
  readonly index: number;
}
