// RaftDriver: the one loop that carries out a RaftCore's work, shared by every user of the
// core: the raft-mode node (raft/node.ts), the ecc view control plane (ecc/control_plane.ts)
// and the simulators (test/sim). It decides nothing about Raft; it only keeps the ordering
// contract written on RaftReady (core.ts) and the bookkeeping every host needs around it:
//
//   persist -> send -> apply (restore a received snapshot, then committed entries) ->
//   serve/fail reads -> advance -> compact
//
// and, around that loop, which client proposal an applied entry answers (same index and the
// term it was proposed in: success; another term: the proposal was replaced), which ReadIndex
// request a read state releases, and failing every waiting proposal when leadership is lost.
//
// The host supplies the real world: where entries are persisted (a file, or a simulated disk
// whose "fsync" may complete later), how messages travel, the state machine, and how a
// snapshot of it is taken. Everything here runs synchronously: a host that persists
// asynchronously takes the ready itself (core.ready()) and hands it to carryOut() once
// persistence completed, never calling ready() again in between.
import assert from "node:assert/strict";
import { RaftCore, RaftReady, RaftStatus } from "./core";
import { ConfChange, LogEntry, NodeId, RaftMessage, Snapshot } from "./types";

/**
 * How a proposal or a ReadIndex request ended. ok: the proposal was applied at `index`, or
 * the read may be served (the state machine covers read index `index`).
 */
export type RaftOutcome = { ok: true; index: number } | { ok: false; leaderHint: NodeId | null; reason: string };

export interface RaftHost {
  /** Step 1 of RaftReady: snapshot, truncation, entries, hard state; fsync when ready.mustSync. */
  persist(ready: RaftReady): void;
  /** Step 2: only after persist. */
  send(messages: readonly RaftMessage[]): void;
  /** Step 3a: a snapshot received from the leader replaces the state machine. */
  restore(snapshot: Snapshot): void;
  /** Step 3b: one committed entry, in log order, exactly once. */
  apply(entry: LogEntry): void;
  /**
   * After advance: `appliedIndex` is `snapshotEntries` past the last snapshot. The host takes
   * its state machine's image, calls core.compact() and rewrites its storage.
   */
  compact?(appliedIndex: number): void;
  /** This node started or stopped leading (after the ready loop that changed it). */
  onLeadership?(leading: boolean, status: RaftStatus): void;
}

export interface RaftDriverOptions {
  /** Compact once this many entries were applied since the last snapshot; 0: never. */
  snapshotEntries: number;
  /** Index the state machine covers at start (the snapshot it was restored from; 0: none). */
  appliedIndex?: number;
}

/** Ready rounds one process() call may run; a core that always has work is a bug. */
const READY_ROUNDS_MAX = 10_000;

interface PendingProposal {
  term: number;
  done: (outcome: RaftOutcome) => void;
}

export class RaftDriver {
  private readonly pendingProposals = new Map<number, PendingProposal>();
  private readonly pendingReads = new Map<string, (outcome: RaftOutcome) => void>();
  private nextReadId = 1;
  /** What the host's state machine covers: the last entry applied or snapshot restored here. */
  private appliedIndexValue: number;
  private leading = false;

  constructor(
    readonly core: RaftCore,
    private readonly host: RaftHost,
    private readonly options: RaftDriverOptions,
  ) {
    assert(Number.isSafeInteger(options.snapshotEntries) && options.snapshotEntries >= 0);
    this.appliedIndexValue = options.appliedIndex ?? 0;
  }

  /** Index of the core's newest snapshot (taken here or received from a leader). */
  get snapshotIndex(): number {
    return this.core.status().firstIndex - 1;
  }

  /** The last log index the host's state machine reflects. */
  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  get proposalsPending(): number {
    return this.pendingProposals.size;
  }

  /**
   * Proposes one command; `done` runs when this node applies the entry (ok when it holds the
   * proposal's term) or when leadership is lost first. Throws what core.propose throws
   * (NotLeaderError, limits) without calling `done`.
   */
  propose(data: Uint8Array, done: (outcome: RaftOutcome) => void): void {
    const proposed = this.core.propose(data);
    this.track(proposed.index, proposed.term, done);
  }

  /** Many commands in one log append; dones[i] answers datas[i]. */
  proposeBatch(datas: readonly Uint8Array[], dones: ReadonlyArray<(outcome: RaftOutcome) => void>): void {
    assert.equal(datas.length, dones.length);
    const proposed = this.core.proposeBatch(datas);
    dones.forEach((done, offset) => this.track(proposed.firstIndex + offset, proposed.term, done));
  }

  proposeConfChange(change: ConfChange, done: (outcome: RaftOutcome) => void): void {
    const proposed = this.core.proposeConfChange(change);
    this.track(proposed.index, proposed.term, done);
  }

  /**
   * One ReadIndex round; `done` runs with ok once the state machine covers the read index
   * (serve the read from it then), or with a failure when leadership was lost. Throws what
   * core.readIndex throws.
   */
  readIndex(done: (outcome: RaftOutcome) => void): void {
    const requestId = `read-${this.nextReadId++}`;
    this.core.readIndex(requestId);
    this.pendingReads.set(requestId, done);
  }

  /** Carries out every ready the core has, in order, then notices leadership changes. */
  process(): void {
    let rounds = 0;
    while (this.core.hasReady()) {
      this.carryOut(this.core.ready());
      rounds++;
      assert(rounds < READY_ROUNDS_MAX, "ready loop does not settle");
    }
    this.noticeLeadership();
  }

  /**
   * Carries out one ready (already taken with core.ready()), in the contract's order, and
   * advances the core. For hosts whose persistence completes later; process() uses it too.
   */
  carryOut(ready: RaftReady): void {
    this.host.persist(ready);
    if (ready.messagesToSend.length > 0) this.host.send(ready.messagesToSend);
    if (ready.snapshotToPersist !== null) {
      this.host.restore(ready.snapshotToPersist);
      this.appliedIndexValue = ready.snapshotToPersist.meta.lastIndex;
      // Proposals at indexes the snapshot covers will never be applied here one by one: their
      // outcome is unknown to this node (the client retries; commands are idempotent).
      for (const [index, pending] of this.pendingProposals) {
        if (index > this.appliedIndexValue) continue;
        this.pendingProposals.delete(index);
        pending.done({ ok: false, leaderHint: this.core.status().leaderId, reason: "the entry was installed by a snapshot" });
      }
    }
    for (const entry of ready.committedEntries) {
      this.host.apply(entry);
      this.appliedIndexValue = entry.index;
      const pending = this.pendingProposals.get(entry.index);
      if (pending === undefined) continue;
      this.pendingProposals.delete(entry.index);
      if (pending.term === entry.term) pending.done({ ok: true, index: entry.index });
      else pending.done({ ok: false, leaderHint: this.core.status().leaderId, reason: "the proposal was replaced by a new leader's entry" });
    }
    for (const readState of ready.readStates) {
      const done = this.pendingReads.get(readState.requestId);
      if (done === undefined) continue;
      this.pendingReads.delete(readState.requestId);
      done({ ok: true, index: readState.index });
    }
    for (const requestId of ready.readsFailed) {
      const done = this.pendingReads.get(requestId);
      if (done === undefined) continue;
      this.pendingReads.delete(requestId);
      done({ ok: false, leaderHint: this.core.status().leaderId, reason: "leadership lost" });
    }
    this.core.advance(ready);
    this.maybeCompact();
  }

  /** Fails every waiting proposal and read (the node is stopping). */
  failAll(reason: string): void {
    const outcome: RaftOutcome = { ok: false, leaderHint: null, reason };
    for (const pending of this.pendingProposals.values()) pending.done(outcome);
    this.pendingProposals.clear();
    for (const done of this.pendingReads.values()) done(outcome);
    this.pendingReads.clear();
  }

  private track(index: number, term: number, done: (outcome: RaftOutcome) => void): void {
    assert(!this.pendingProposals.has(index), `two proposals wait on index ${index}`);
    this.pendingProposals.set(index, { term, done });
  }

  private maybeCompact(): void {
    if (this.options.snapshotEntries === 0 || this.host.compact === undefined) return;
    // The core's snapshot, not a count kept here: an InstallSnapshot may have moved it while
    // a ready was being persisted.
    if (this.appliedIndexValue - this.snapshotIndex < this.options.snapshotEntries) return;
    this.host.compact(this.appliedIndexValue);
  }

  /** A node that stopped leading fails its waiting proposals: clients retry at the leader. */
  private noticeLeadership(): void {
    const status = this.core.status();
    const leading = status.role === "leader";
    if (leading === this.leading) return;
    this.leading = leading;
    if (!leading) {
      const outcome: RaftOutcome = { ok: false, leaderHint: status.leaderId, reason: "leadership lost" };
      for (const pending of this.pendingProposals.values()) pending.done(outcome);
      this.pendingProposals.clear();
    }
    this.host.onLeadership?.(leading, status);
  }
}
