// Properties of the shared RaftDriver (src/raft/driver.ts), the one loop every user of
// RaftCore runs: it carries out a ready in the contract's order (persist, send, restore/apply,
// reads, advance, compact); a proposal is answered ok only when its entry is applied with the
// term it was proposed in; a ReadIndex request is released with its index; waiting proposals
// fail when leadership is lost (maybe applied); compaction is asked for every `snapshotEntries`
// applied entries; a host that persists asynchronously gets no new ready until it is done,
// while heartbeats still leave; what apply() returns reaches the proposal.
// Method: real RaftCores stepped by hand with a recording host; no timers.
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/env";
import { RAFT_CONFIG_DEFAULTS, RaftCore } from "../../src/raft/core";
import { RaftDriver, RaftHost, RaftOutcome } from "../../src/raft/driver";
import { LogEntry, RaftMessage } from "../../src/raft/types";

function core(id: string, voters: string[]): RaftCore {
  return new RaftCore(
    { ...RAFT_CONFIG_DEFAULTS, id, voters, electionTicks: 10, heartbeatTicks: 1, random: new SeededRandom(7) },
    { hardState: null, snapshot: null, entries: [] },
  );
}

class RecordingHost implements RaftHost {
  readonly calls: string[] = [];
  readonly applied: LogEntry[] = [];
  readonly sent: RaftMessage[] = [];
  readonly compactions: number[] = [];
  constructor(private readonly coreOf: () => RaftCore) {}
  persist(): void {
    this.calls.push("persist");
  }
  send(messages: readonly RaftMessage[]): void {
    this.calls.push("send");
    this.sent.push(...messages);
  }
  restore(): void {
    this.calls.push("restore");
  }
  apply(entry: LogEntry): unknown {
    this.calls.push("apply");
    this.applied.push(entry);
    return `applied ${entry.index}`;
  }
  compact(appliedIndex: number): void {
    this.calls.push(`compact ${appliedIndex}`);
    this.compactions.push(appliedIndex);
    this.coreOf().compact(appliedIndex, new Uint8Array(0));
  }
}

/** A one-voter group: it elects itself after an election timeout. */
function soloLeader(snapshotEntries = 0): { raft: RaftCore; host: RecordingHost; driver: RaftDriver } {
  const raft = core("a", ["a"]);
  const host = new RecordingHost(() => raft);
  const driver = new RaftDriver(raft, host, { snapshotEntries });
  for (let tick = 0; tick < 40 && raft.status().role !== "leader"; tick++) {
    raft.tick();
    driver.process();
  }
  assert.equal(raft.status().role, "leader");
  return { raft, host, driver };
}

describe("RaftDriver", () => {
  it("answers a proposal once its entry is applied, with the entry's index", () => {
    const { host, driver } = soloLeader();
    const outcomes: RaftOutcome[] = [];
    driver.propose(new TextEncoder().encode("x"), (outcome) => outcomes.push(outcome));
    assert.equal(outcomes.length, 0, "not answered before the ready is carried out");
    driver.process();
    assert.equal(outcomes.length, 1);
    assert(outcomes[0].ok);
    const last = host.applied[host.applied.length - 1];
    assert.equal(outcomes[0].index, last.index);
    assert.equal(new TextDecoder().decode(last.data), "x");
    // Persist comes before apply within a ready.
    const firstApply = host.calls.indexOf("apply");
    assert(host.calls.indexOf("persist") < firstApply);
  });

  it("answers a batch in order and releases a ReadIndex read with an index the state machine covers", () => {
    const { host, driver } = soloLeader();
    const outcomes: string[] = [];
    driver.proposeBatch(
      ["p", "q", "r"].map((text) => new TextEncoder().encode(text)),
      ["p", "q", "r"].map((text) => (outcome: RaftOutcome) => outcomes.push(`${text}:${outcome.ok}`)),
    );
    let readIndex = -1;
    driver.readIndex((outcome) => {
      assert(outcome.ok);
      readIndex = outcome.index;
    });
    driver.process();
    assert.deepEqual(outcomes, ["p:true", "q:true", "r:true"]);
    assert(readIndex >= 1, "the read was released");
    assert(driver.appliedIndex >= readIndex);
    assert.equal(host.applied[host.applied.length - 1].index, driver.appliedIndex);
  });

  it("fails waiting proposals when leadership is lost, and asks the host to compact on schedule", () => {
    const raft = core("a", ["a", "b", "c"]);
    const host = new RecordingHost(() => raft);
    const driver = new RaftDriver(raft, host, { snapshotEntries: 0 });
    // Make a leader by hand: campaign, then grant the votes.
    for (let tick = 0; tick < 40 && raft.status().role === "follower"; tick++) {
      raft.tick();
      driver.process();
    }
    for (let round = 0; round < 4 && raft.status().role !== "leader"; round++) {
      const requests = host.sent.splice(0);
      for (const request of requests) {
        if (request.type !== "PreVote" && request.type !== "RequestVote") continue;
        const responseType = request.type === "PreVote" ? "PreVoteResponse" : "RequestVoteResponse";
        raft.step({ type: responseType, from: request.to, to: "a", term: request.term, granted: true } as RaftMessage);
      }
      driver.process();
    }
    assert.equal(raft.status().role, "leader");
    const outcomes: RaftOutcome[] = [];
    driver.propose(new TextEncoder().encode("never committed"), (outcome) => outcomes.push(outcome));
    driver.process();
    assert.equal(outcomes.length, 0, "no quorum: the entry waits");
    // A higher term deposes the leader.
    raft.step({ type: "Heartbeat", from: "b", to: "a", term: raft.status().term + 1, commitIndex: 0, readRound: 0 } as RaftMessage);
    driver.process();
    assert.equal(outcomes.length, 1);
    assert(!outcomes[0].ok);
    assert.match(outcomes[0].reason, /leadership lost/);
    assert.equal(outcomes[0].maybeApplied, true, "its entry is in the log and may still commit under another leader");

    const solo = soloLeader(3);
    for (let i = 0; i < 7; i++) {
      solo.driver.propose(new TextEncoder().encode(`v${i}`), () => undefined);
      solo.driver.process();
    }
    assert(solo.host.compactions.length >= 2, `compacted ${solo.host.compactions.length} times`);
    for (let i = 1; i < solo.host.compactions.length; i++) assert(solo.host.compactions[i] - solo.host.compactions[i - 1] >= 3);
    assert.equal(solo.driver.snapshotIndex, solo.host.compactions[solo.host.compactions.length - 1]);
  });

  it("hands apply()'s result to the proposal it answers", () => {
    const { driver } = soloLeader();
    let outcome: RaftOutcome | null = null;
    driver.propose(new TextEncoder().encode("r"), (result) => (outcome = result));
    driver.process();
    assert(outcome !== null && (outcome as RaftOutcome).ok);
    const ok = outcome as Extract<RaftOutcome, { ok: true }>;
    assert.equal(ok.result, `applied ${ok.index}`);
  });

  it("asynchronous persist: no new ready until it completes, heartbeats leave meanwhile, then the rest in order", () => {
    const raft = core("a", ["a", "b", "c"]);
    const host = new RecordingHost(() => raft);
    let pendingDone: ((error: Error | null) => void) | null = null;
    const asyncHost: RaftHost = Object.assign(host, {
      persistAsync: (_ready: unknown, done: (error: Error | null) => void): boolean => {
        host.calls.push("persistAsync");
        pendingDone = done;
        return true;
      },
    });
    const driver = new RaftDriver(raft, asyncHost, { snapshotEntries: 0 });
    const completePersist = (): void => {
      const done = pendingDone;
      pendingDone = null;
      done?.(null);
    };
    for (let tick = 0; tick < 40 && raft.status().role === "follower"; tick++) {
      raft.tick();
      driver.process();
      completePersist();
    }
    for (let round = 0; round < 4 && raft.status().role !== "leader"; round++) {
      for (const request of host.sent.splice(0)) {
        if (request.type !== "PreVote" && request.type !== "RequestVote") continue;
        const responseType = request.type === "PreVote" ? "PreVoteResponse" : "RequestVoteResponse";
        raft.step({ type: responseType, from: request.to, to: "a", term: request.term, granted: true } as RaftMessage);
      }
      driver.process();
      completePersist();
    }
    assert.equal(raft.status().role, "leader");
    // The followers take the new leader's first entry, so the next one is replicated at once.
    for (const append of host.sent.splice(0)) {
      if (append.type !== "AppendEntries") continue;
      const matchIndex = append.prevLogIndex + append.entries.length;
      raft.step({ type: "AppendEntriesResponse", from: append.to, to: "a", term: append.term, success: true, matchIndex, rejectedLogIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    }
    driver.process();
    completePersist();
    host.sent.length = 0;
    driver.propose(new TextEncoder().encode("big"), () => undefined);
    driver.process();
    assert(pendingDone !== null, "the append is being persisted");
    assert(driver.persistPending);
    assert(!host.sent.some((m) => m.type === "AppendEntries"), "nothing that depends on the write has left");
    for (let tick = 0; tick < 3; tick++) {
      raft.tick();
      driver.process();
    }
    assert(host.sent.some((m) => m.type === "Heartbeat"), "heartbeats left while the write ran");
    completePersist();
    assert(!driver.persistPending);
    assert(host.sent.some((m) => m.type === "AppendEntries" && m.entries.some((e) => new TextDecoder().decode(e.data) === "big")));
  });
});
