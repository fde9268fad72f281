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
// snapshot of it is taken. A host may persist a ready asynchronously (persistAsync: a large
// append's write and fsync then leave the event loop free); until it completes, process()
// takes no new ready and only sends the core's urgent messages (heartbeats and their
// answers, see RaftCore.takeUrgentMessages), so leadership stays visible while the disk works.
// A host that schedules persistence itself (the simulator) takes the ready with core.ready()
// and hands it to carryOut() once it is persisted.
import assert from "node:assert/strict";
import { ProposeBatchResult, RaftCore, RaftReady, RaftStatus } from "./core";
import { ConfChange, LogEntry, NodeId, RaftMessage, Snapshot } from "./types";

/**
 * How a proposal or a ReadIndex request ended. ok: the proposal was applied at `index`, or
 * the read may be served (the state machine covers read index `index`).
 */
export type RaftOutcome =
  | { ok: true; index: number; result?: unknown }
  | {
      ok: false;
      leaderHint: NodeId | null;
      reason: string;
      /**
       * The proposal's entry may still commit (leadership was lost after it was appended, or
       * a snapshot covered its index): its effect is unknown here. False: it will never be
       * applied (it was replaced by another leader's entry).
       */
      maybeApplied: boolean;
    };

export interface RaftHost {
  /** Step 1 of RaftReady: snapshot, truncation, entries, hard state; fsync when ready.mustSync. */
  persist(ready: RaftReady): void;
  /**
   * Step 1, asynchronously, when the host chooses to for this ready (returns true; false: call
   * persist now). `done` must be called once the ready is durable; an error there is fatal.
   */
  persistAsync?(ready: RaftReady, done: (error: Error | null) => void): boolean;
  /** Step 2: only after persist. */
  send(messages: readonly RaftMessage[]): void;
  /** Step 3a: a snapshot received from the leader replaces the state machine. */
  restore(snapshot: Snapshot): void;
  /**
   * Step 3b: one committed entry, in log order, exactly once. What it returns is handed to
   * the proposal the entry answers (RaftOutcome.result).
   */
  apply(entry: LogEntry): unknown;
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
  /** The ready whose asynchronous persistence has not completed. */
  private persisting: RaftReady | null = null;
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
   * proposal's term) or when leadership is lost first. Returns the entry's index. Throws what
   * core.propose throws (NotLeaderError, limits) without calling `done`.
   */
  propose(data: Uint8Array, done: (outcome: RaftOutcome) => void): number {
    const proposed = this.core.propose(data);
    this.track(proposed.index, proposed.term, done);
    return proposed.index;
  }

  /** Many commands in one log append; dones[i] answers datas[i]. Returns where they went. */
  proposeBatch(datas: readonly Uint8Array[], dones: ReadonlyArray<(outcome: RaftOutcome) => void>): ProposeBatchResult {
    assert.equal(datas.length, dones.length);
    const proposed = this.core.proposeBatch(datas);
    dones.forEach((done, offset) => this.track(proposed.firstIndex + offset, proposed.term, done));
    return proposed;
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

  /** True while a ready's asynchronous persistence runs. */
  get persistPending(): boolean {
    return this.persisting !== null;
  }

  /**
   * Carries out every ready the core has, in order, then notices leadership changes. While
   * an asynchronous persist runs it sends only the urgent messages, and the rest waits for it.
   */
  process(): void {
    if (this.persisting !== null) {
      const urgent = this.core.takeUrgentMessages();
      if (urgent.length > 0) this.host.send(urgent);
      this.noticeLeadership();
      return;
    }
    let rounds = 0;
    while (this.core.hasReady()) {
      const ready = this.core.ready();
      rounds++;
      assert(rounds < READY_ROUNDS_MAX, "ready loop does not settle");
      if (this.host.persistAsync?.(ready, (error) => this.persisted(ready, error)) === true) {
        this.persisting = ready;
        break;
      }
      this.host.persist(ready);
      this.afterPersist(ready);
    }
    this.noticeLeadership();
  }

  /**
   * Carries out one ready (already taken with core.ready()), in the contract's order, and
   * advances the core. For hosts whose persistence completes later; process() uses it too.
   */
  carryOut(ready: RaftReady): void {
    this.host.persist(ready);
    this.afterPersist(ready);
  }

  private persisted(ready: RaftReady, error: Error | null): void {
    // Storage that failed cannot be trusted with anything after it: stop the process.
    if (error !== null) throw error;
    assert.equal(this.persisting, ready, "an asynchronous persist completed out of turn");
    this.persisting = null;
    this.afterPersist(ready);
    this.process();
  }

  /** Steps 2-5 of the ready contract, and compaction. */
  private afterPersist(ready: RaftReady): void {
    if (ready.messagesToSend.length > 0) this.host.send(ready.messagesToSend);
    if (ready.snapshotToPersist !== null) {
      this.host.restore(ready.snapshotToPersist);
      this.appliedIndexValue = ready.snapshotToPersist.meta.lastIndex;
      // Proposals at indexes the snapshot covers will never be applied here one by one: their
      // outcome is unknown to this node (the client retries; commands are idempotent).
      for (const [index, pending] of this.pendingProposals) {
        if (index > this.appliedIndexValue) continue;
        this.pendingProposals.delete(index);
        pending.done({ ok: false, leaderHint: this.core.status().leaderId, reason: "the entry was installed by a snapshot", maybeApplied: true });
      }
    }
    for (const entry of ready.committedEntries) {
      const result = this.host.apply(entry);
      this.appliedIndexValue = entry.index;
      const pending = this.pendingProposals.get(entry.index);
      if (pending === undefined) continue;
      this.pendingProposals.delete(entry.index);
      if (pending.term === entry.term) pending.done({ ok: true, index: entry.index, result });
      else pending.done({ ok: false, leaderHint: this.core.status().leaderId, reason: "the proposal was replaced by a new leader's entry", maybeApplied: false });
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
      done({ ok: false, leaderHint: this.core.status().leaderId, reason: "leadership lost", maybeApplied: false });
    }
    this.core.advance(ready);
    this.maybeCompact();
  }

  /** Fails every waiting proposal and read (the node is stopping). */
  failAll(reason: string): void {
    const outcome: RaftOutcome = { ok: false, leaderHint: null, reason, maybeApplied: true };
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
      const outcome: RaftOutcome = { ok: false, leaderHint: status.leaderId, reason: "leadership lost", maybeApplied: true };
      for (const pending of this.pendingProposals.values()) pending.done(outcome);
      this.pendingProposals.clear();
    }
    this.host.onLeadership?.(leading, status);
  }
}
