// RetryTable: how a raft leader recognises a client's retry of a write it already holds, so
// the retry never appends a second copy of the command (a 64 MiB value retried 40 times
// once filled a data directory with 1.5 GB of copies).
//
// A client retries with the same (clientId, seq) (kv_state.ts). The state machine's sessions
// know the seqs it applied; this table knows the client commands in the leader's log that are
// not applied yet: those this node proposed while leading, and those it found in its log
// when it became leader (a previous leader's entries it holds). A retry then:
//   - of a command applied already: is answered at once (KvState.sessionApplied);
//   - of a command in the table: waits for that entry to be applied (or for this node to stop
//     leading, when its outcome is unknown here);
//   - otherwise: is proposed. Entries not in the leader's log can never commit once it has
//     committed in its own term, so this cannot apply a command twice either.
// Pure bookkeeping: the node (node.ts) and the history simulator (test/sim) drive it.
import { RaftOutcome } from "./driver";

/** A client command's identity: "clientId:seq". */
export function sessionKey(clientId: number, seq: number): string {
  return `${clientId}:${seq}`;
}

export class RetryTable {
  /** session → log index of the command, while not yet applied. */
  private readonly inLog = new Map<string, number>();
  private readonly waiters = new Map<number, Array<(outcome: RaftOutcome) => void>>();

  get size(): number {
    return this.inLog.size;
  }

  /** The log index of the unapplied command with this identity, if this leader holds one. */
  find(session: string): number | undefined {
    return this.inLog.get(session);
  }

  /** Records a command now in the log at `index` (proposed here, or found when taking over). */
  track(session: string, index: number): void {
    this.inLog.set(session, index);
  }

  /** Runs `done` once the entry at `index` is applied, or when leadership ends first. */
  wait(index: number, done: (outcome: RaftOutcome) => void): void {
    let list = this.waiters.get(index);
    if (list === undefined) {
      list = [];
      this.waiters.set(index, list);
    }
    list.push(done);
  }

  /** The entry at `index` (of `session`, null for other entries) was applied with `result`. */
  applied(index: number, session: string | null, result: unknown): void {
    if (session !== null && this.inLog.get(session) === index) this.inLog.delete(session);
    const list = this.waiters.get(index);
    if (list === undefined) return;
    this.waiters.delete(index);
    for (const done of list) done({ ok: true, index, result });
  }

  /** Leadership ended: the table is forgotten, and waiting retries learn their write may still commit. */
  clear(leaderHint: string | null): void {
    this.inLog.clear();
    const lists = [...this.waiters.values()];
    this.waiters.clear();
    for (const list of lists) for (const done of list) done({ ok: false, leaderHint, reason: "leadership lost", maybeApplied: true });
  }
}
