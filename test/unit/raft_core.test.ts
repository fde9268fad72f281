// Hand-stepped tests of RaftCore, each tied to a claim of the Raft paper (Ongaro & Ousterhout,
// "In Search of an Understandable Consensus Algorithm", section numbers §x) or Ongaro's thesis
// ("Consensus: Bridging Theory and Practice", thesis §x), in the spirit of etcd's
// raft_paper_test.go. Method: a tiny synchronous harness hosts the shared RaftDriver (persist,
// then send, then apply, then advance) and delivers messages only when a test says so, so each
// test controls exactly which messages arrive, are dropped, or wait.
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/env";
import { ConfigError, NotLeaderError, UnavailableError } from "../../src/core/errors";
import { RAFT_CONFIG_DEFAULTS, RaftConfig, RaftCore, RaftReady, RaftStorageView } from "../../src/raft/core";
import { RaftDriver, RaftHost } from "../../src/raft/driver";
import { HardState, LogEntry, NodeId, RaftMessage, RequestVote, Snapshot } from "../../src/raft/types";

const ELECTION_TICKS = 10;

interface TestNode {
  readonly id: NodeId;
  core: RaftCore;
  driver: RaftDriver;
  persisted: { hardState: HardState | null; snapshot: Snapshot | null; entries: LogEntry[] };
  applied: LogEntry[];
  readies: RaftReady[];
}

function entry(index: number, term: number, text = `e${index}t${term}`): LogEntry {
  return { index, term, type: "command", data: new TextEncoder().encode(text) };
}

function storageOf(term: number, entries: LogEntry[], commitIndex = 0, votedFor: NodeId | null = null): RaftStorageView {
  return { hardState: { term, votedFor, commitIndex }, snapshot: null, entries };
}

class Harness {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered or dropped, in send order. */
  inbox: RaftMessage[] = [];
  /** Isolated nodes: messages to or from them are dropped at delivery. */
  readonly isolated = new Set<NodeId>();
  private seed = 1;

  constructor(
    ids: NodeId[],
    private readonly overrides: Partial<RaftConfig> = {},
    storages: Record<NodeId, RaftStorageView> = {},
  ) {
    for (const id of ids) this.add(id, ids, storages[id]);
  }

  add(id: NodeId, voters: NodeId[], storage?: RaftStorageView, overrides: Partial<RaftConfig> = {}): TestNode {
    const view = storage ?? { hardState: null, snapshot: null, entries: [] };
    const config: RaftConfig = {
      ...RAFT_CONFIG_DEFAULTS,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: 1,
      id,
      voters,
      random: new SeededRandom(this.seed++),
      ...this.overrides,
      ...overrides,
    };
    const core = new RaftCore(config, view);
    const node: TestNode = {
      id,
      core,
      driver: null as unknown as RaftDriver,
      persisted: { hardState: view.hardState, snapshot: view.snapshot, entries: [...view.entries] },
      applied: [],
      readies: [],
    };
    node.driver = new RaftDriver(core, this.hostFor(node), { snapshotEntries: 0 });
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    assert(node !== undefined, `no node ${id}`);
    return node;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  /** The shared RaftDriver's host: persist into `persisted`, send into the inbox, apply into `applied`. */
  private hostFor(node: TestNode): RaftHost {
    return {
      persist: (ready) => {
        if (ready.snapshotToPersist !== null) {
          node.persisted.snapshot = ready.snapshotToPersist;
          node.persisted.entries = [];
        } else if (ready.truncateFrom !== null) {
          node.persisted.entries = node.persisted.entries.filter((e) => e.index < (ready.truncateFrom as number));
        }
        node.persisted.entries.push(...ready.entriesToPersist);
        if (ready.hardState !== null) node.persisted.hardState = ready.hardState;
      },
      send: (messages) => {
        this.inbox.push(...messages);
      },
      restore: () => undefined,
      apply: (entry) => {
        node.applied.push(entry);
      },
    };
  }

  /** One ready, carried out by the driver (persist, send into the inbox, apply, advance); kept for inspection. */
  process(id: NodeId): RaftReady | null {
    const node = this.node(id);
    if (!node.core.hasReady()) return null;
    const ready = node.core.ready();
    node.readies.push(ready);
    node.driver.carryOut(ready);
    return ready;
  }

  processAll(): void {
    for (let round = 0; round < 100; round++) {
      let any = false;
      for (const id of this.nodes.keys()) if (this.process(id) !== null) any = true;
      if (!any) return;
    }
    assert.fail("cores keep producing readies");
  }

  /** Delivers (in order) the inbox messages matching `which`; the rest stay queued. */
  deliver(which: (message: RaftMessage) => boolean = () => true): number {
    const selected = this.inbox.filter(which);
    this.inbox = this.inbox.filter((message) => !which(message));
    for (const message of selected) {
      if (this.isolated.has(message.from) || this.isolated.has(message.to)) continue;
      const target = this.nodes.get(message.to);
      if (target === undefined) continue;
      target.core.step(message);
      this.processAll();
    }
    return selected.length;
  }

  drop(which: (message: RaftMessage) => boolean): number {
    const before = this.inbox.length;
    this.inbox = this.inbox.filter((message) => !which(message));
    return before - this.inbox.length;
  }

  /** Processes and delivers until nothing is left to do. */
  stabilize(): void {
    for (let round = 0; round < 10_000; round++) {
      this.processAll();
      if (this.inbox.length === 0) return;
      this.deliver();
    }
    assert.fail("no quiescence");
  }

  tick(id: NodeId, count = 1): void {
    for (let tick = 0; tick < count; tick++) {
      this.core(id).tick();
      this.processAll();
    }
  }

  /** Every node ticks once per round and messages flow in between (a healthy cluster's clock). */
  tickAll(rounds: number): void {
    for (let round = 0; round < rounds; round++) {
      for (const id of this.nodes.keys()) this.core(id).tick();
      this.stabilize();
    }
  }

  /** Lets `id` time out alone, then delivers everything: it campaigns and (usually) wins. */
  campaign(id: NodeId): void {
    for (let tick = 0; tick < 2 * ELECTION_TICKS && this.core(id).status().role === "follower"; tick++) this.tick(id);
    assert.notEqual(this.core(id).status().role, "follower", `${id} did not campaign`);
    this.stabilize();
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((node) => node.core.status().role === "leader").map((node) => node.id);
  }

  messagesOf(id: NodeId): RaftMessage[] {
    return this.node(id).readies.flatMap((ready) => ready.messagesToSend);
  }
}

function propose(harness: Harness, leader: NodeId, text: string): { index: number; term: number } {
  return harness.core(leader).propose(new TextEncoder().encode(text));
}

describe("RaftCore (hand-stepped, tied to the Raft paper)", () => {
  it("§5.2 election: a node times out, wins a majority, and becomes the only leader", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    assert.deepEqual(harness.leaders(), ["n1"]);
    for (const id of ["n2", "n3"]) {
      assert.equal(harness.core(id).status().leaderId, "n1");
      assert.equal(harness.core(id).status().term, harness.core("n1").status().term);
    }
    // The new leader's no-op (§8) is committed everywhere.
    const commitIndex = harness.core("n1").status().commitIndex;
    assert.equal(commitIndex, 1);
    harness.tickAll(1); // a heartbeat carries the commit to the followers
    for (const id of ["n1", "n2", "n3"]) assert.equal(harness.node(id).applied.at(-1)?.type, "noop");
  });

  it("§5.2 election safety: one vote per term, so two candidates of one term cannot both win", () => {
    const harness = new Harness(["n1", "n2", "n3"], { preVote: false });
    for (let tick = 0; tick < 2 * ELECTION_TICKS; tick++) {
      if (harness.core("n1").status().role === "follower") harness.core("n1").tick();
      if (harness.core("n2").status().role === "follower") harness.core("n2").tick();
    }
    harness.processAll();
    assert.equal(harness.core("n1").status().role, "candidate");
    assert.equal(harness.core("n2").status().role, "candidate");
    assert.equal(harness.core("n1").status().term, 1);
    assert.equal(harness.core("n2").status().term, 1);
    // n3 hears n1 first and votes for it; its vote is persisted before the answer leaves.
    harness.deliver((m) => m.type === "RequestVote" && m.from === "n1" && m.to === "n3");
    const voteReady = harness.node("n3").readies.at(-1);
    assert(voteReady !== undefined);
    assert.equal(voteReady.hardState?.votedFor, "n1");
    assert.equal(voteReady.mustSync, true);
    // n2's request in the same term is refused, and the candidates refuse each other.
    harness.deliver((m) => m.type === "RequestVote" && m.from === "n2" && m.to === "n3");
    const answer = harness.inbox.find((m) => m.type === "RequestVoteResponse" && m.from === "n3" && m.to === "n2");
    assert(answer !== undefined);
    assert(answer.type === "RequestVoteResponse");
    assert.equal(answer.granted, false);
    harness.stabilize();
    assert.deepEqual(harness.leaders(), ["n1"]);
    assert.equal(harness.core("n2").status().role, "follower");
  });

  it("§5.4.1 election restriction: a candidate whose log is behind cannot win", () => {
    const upToDate = [entry(1, 1), entry(2, 2)];
    const harness = new Harness(
      ["n1", "n2", "n3"],
      {},
      {
        n1: storageOf(2, [entry(1, 1)], 1),
        n2: storageOf(2, upToDate, 1),
        n3: storageOf(2, upToDate, 1),
      },
    );
    for (let tick = 0; tick < 2 * ELECTION_TICKS; tick++) harness.tick("n1");
    harness.stabilize();
    assert.notEqual(harness.core("n1").status().role, "leader");
    assert.equal(harness.core("n1").status().term, 2, "pre-vote failed, so no term was burnt");
    const answers = harness.messagesOf("n2").concat(harness.messagesOf("n3"));
    assert(answers.some((m) => m.type === "PreVoteResponse" && !m.granted));
    assert(!answers.some((m) => (m.type === "PreVoteResponse" || m.type === "RequestVoteResponse") && m.granted));
    // A node with the up-to-date log wins, and the stale node receives the missing entry.
    harness.campaign("n2");
    assert.deepEqual(harness.leaders(), ["n2"]);
    assert.equal(harness.core("n1").logView().term(2), 2);
  });

  it("§5.4.2 / Figure 8: a leader does not commit an old-term entry by counting replicas", () => {
    // Figure 8 (c): s1 leads term 4 and holds (2, term 2), as do s2 and, after one append, s3;
    // s5 holds a different (2, term 3) and could still win an election with s3's and s4's
    // votes, overwriting index 2. So index 2 must not count as committed until an entry of
    // term 4 is on a majority.
    const ids = ["s1", "s2", "s3", "s4", "s5"];
    // Plain Raft of the paper: no pre-vote, no check-quorum (so s3, which heard s1 a moment
    // ago, may vote at once).
    const harness = new Harness(ids, { preVote: false, checkQuorum: false, maxEntriesPerAppend: 1 }, {
      s1: storageOf(3, [entry(1, 1), entry(2, 2)], 1),
      s2: storageOf(3, [entry(1, 1), entry(2, 2)], 1),
      s3: storageOf(3, [entry(1, 1)], 1),
      s4: storageOf(3, [entry(1, 1)], 1),
      s5: storageOf(3, [entry(1, 1), entry(2, 3)], 1),
    });
    for (let tick = 0; tick < 2 * ELECTION_TICKS && harness.core("s1").status().role === "follower"; tick++) harness.tick("s1");
    harness.deliver((m) => m.type === "RequestVote");
    harness.deliver((m) => m.type === "RequestVoteResponse");
    assert.deepEqual(harness.leaders(), ["s1"]);
    assert.equal(harness.core("s1").status().term, 4);
    assert.equal(harness.core("s1").status().lastIndex, 3, "no-op of term 4 at index 3");
    // Replicate to s2 and s3 only; s3 first needs index 2, which travels alone (1 entry per append).
    const toOthers = (m: RaftMessage): boolean => m.to === "s4" || m.to === "s5" || m.from === "s4" || m.from === "s5";
    harness.drop(toOthers);
    harness.deliver((m) => m.to === "s2");
    harness.deliver((m) => m.from === "s2");
    assert.equal(harness.core("s2").logView().term(3), 4, "s2 holds the no-op");
    harness.deliver((m) => m.type === "AppendEntries" && m.to === "s3"); // probe prev=2: rejected
    harness.deliver((m) => m.type === "AppendEntriesResponse" && m.from === "s3");
    const resend = harness.inbox.find((m) => m.type === "AppendEntries" && m.to === "s3");
    assert(resend !== undefined);
    assert(resend.type === "AppendEntries");
    assert.equal(resend.prevLogIndex, 1);
    assert.deepEqual(resend.entries.map((e) => [e.index, e.term]), [[2, 2]]);
    harness.deliver((m) => m.type === "AppendEntries" && m.to === "s3");
    harness.deliver((m) => m.type === "AppendEntriesResponse" && m.from === "s3");
    // Index 2 (term 2) is now on s1, s2, s3: a majority of five. Not committed.
    assert.equal(harness.core("s3").logView().term(2), 2);
    assert.equal(harness.core("s3").logView().lastIndex(), 2, "s3 lacks the no-op");
    assert.equal(harness.core("s1").status().commitIndex, 1);
    // s1 crashes before its no-op reaches s3. s5 (last term 3) wins with s3 and s4 (last terms 2 and 1).
    harness.nodes.delete("s1");
    harness.inbox = [];
    for (let tick = 0; tick < 2 * ELECTION_TICKS && harness.core("s5").status().role === "follower"; tick++) harness.tick("s5");
    harness.stabilize();
    assert.deepEqual(harness.leaders(), ["s5"]);
    // ...and overwrote index 2 on s3: had s1 counted replicas, a committed entry would be lost.
    assert.equal(harness.core("s3").logView().term(2), 3);
    for (const node of harness.nodes.values()) {
      assert(!node.applied.some((e) => e.index === 2 && e.term === 2), `${node.id} applied the overwritten entry`);
    }
  });

  it("§5.4.2: once an entry of the current term is on a majority, earlier entries commit with it", () => {
    const harness = new Harness(["n1", "n2", "n3"], {}, {
      n1: storageOf(2, [entry(1, 1), entry(2, 2)], 1),
      n2: storageOf(2, [entry(1, 1)], 1),
      n3: storageOf(2, [entry(1, 1)], 1),
    });
    harness.campaign("n1");
    assert.deepEqual(harness.leaders(), ["n1"]);
    const status = harness.core("n1").status();
    assert.equal(status.commitIndex, 3, "the no-op (term 3) committed, and index 2 with it");
    harness.tickAll(1);
    // Index 1 was committed before the restart and is re-applied from the log (the state
    // machine is in memory); 2 and 3 follow.
    for (const id of ["n2", "n3"]) assert.deepEqual(harness.node(id).applied.map((e) => e.index), [1, 2, 3]);
  });

  it("§5.3 a follower deletes a conflicting suffix and takes the leader's entries", () => {
    const harness = new Harness(["n1", "n2", "n3"], {}, {
      n1: storageOf(2, [entry(1, 1), entry(2, 2)], 1),
      n2: storageOf(2, [entry(1, 1), entry(2, 1, "stale-a"), entry(3, 1, "stale-b"), entry(4, 1, "stale-c")], 1),
      n3: storageOf(2, [entry(1, 1), entry(2, 2)], 1),
    });
    harness.campaign("n1");
    assert.deepEqual(harness.leaders(), ["n1"]);
    const n2 = harness.node("n2");
    const truncation = n2.readies.find((ready) => ready.truncateFrom !== null);
    assert(truncation !== undefined, "n2 was told to drop its suffix");
    assert.equal(truncation.truncateFrom, 2);
    assert.equal(truncation.mustSync, true);
    assert.deepEqual(
      n2.persisted.entries.map((e) => [e.index, e.term]),
      [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
    );
    // The reject hint skipped n2's whole run of term 1 in one round trip.
    const rejects = harness.messagesOf("n2").filter((m) => m.type === "AppendEntriesResponse" && !m.success);
    assert.equal(rejects.length, 1);
  });

  it("§9.6 pre-vote: a partitioned node does not bump its term, and rejoins without deposing the leader", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    const term = harness.core("n1").status().term;
    harness.isolated.add("n3");
    harness.tickAll(10 * ELECTION_TICKS);
    assert.equal(harness.core("n3").status().term, term, "pre-votes failed, so the term stayed");
    assert.notEqual(harness.core("n3").status().role, "leader");
    harness.isolated.delete("n3");
    harness.tickAll(3 * ELECTION_TICKS);
    assert.deepEqual(harness.leaders(), ["n1"]);
    for (const id of ["n1", "n2", "n3"]) assert.equal(harness.core(id).status().term, term);
  });

  it("without pre-vote the same partition inflates the term and forces a new election (contrast)", () => {
    const harness = new Harness(["n1", "n2", "n3"], { preVote: false });
    harness.campaign("n1");
    const term = harness.core("n1").status().term;
    harness.isolated.add("n3");
    harness.tickAll(10 * ELECTION_TICKS);
    assert(harness.core("n3").status().term > term + 3);
    harness.isolated.delete("n3");
    harness.tickAll(3 * ELECTION_TICKS);
    assert(harness.core("n1").status().term > term, "the old leader had to step down");
  });

  it("check-quorum: a leader that hears from no quorum for an election timeout steps down", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    harness.isolated.add("n1");
    harness.inbox = [];
    for (let tick = 0; tick < 2 * ELECTION_TICKS && harness.core("n1").status().role === "leader"; tick++) harness.tick("n1");
    assert.equal(harness.core("n1").status().role, "follower");
    assert.equal(harness.core("n1").status().leaderId, null);
    assert.throws(() => propose(harness, "n1", "x"), NotLeaderError);
  });

  it("leader stickiness (thesis §4.2.3): a follower that hears its leader ignores higher-term votes", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    harness.tickAll(1);
    const term = harness.core("n2").status().term;
    const vote: RequestVote = {
      type: "RequestVote",
      from: "n3",
      to: "n2",
      term: term + 5,
      lastLogIndex: 100,
      lastLogTerm: term + 4,
      leadershipTransfer: false,
    };
    harness.core("n2").step(vote);
    assert.equal(harness.core("n2").status().term, term, "term not adopted");
    assert.equal(harness.core("n2").hasReady(), false, "no answer at all");
    // A leadership transfer (TimeoutNow) is honoured even within the lease.
    harness.core("n2").step({ ...vote, leadershipTransfer: true });
    assert.equal(harness.core("n2").status().term, term + 5);
  });

  it("§6.4 ReadIndex: a read is released only after a quorum answers a heartbeat sent after it", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    harness.tickAll(1);
    const leader = harness.core("n1");
    const commitIndex = leader.status().commitIndex;
    // A heartbeat sent before the read (round 0) is still in flight.
    harness.tick("n1");
    const released = (): unknown[] => harness.node("n1").readies.flatMap((r) => r.readStates);
    leader.readIndex("read-1");
    const ready = harness.process("n1");
    assert(ready !== null);
    assert.deepEqual(ready.readStates, []);
    const heartbeats = ready.messagesToSend.filter((m) => m.type === "Heartbeat");
    assert.equal(heartbeats.length, 2, "the read starts a heartbeat round at once");
    assert(heartbeats.every((m) => m.type === "Heartbeat" && m.readRound === 1));
    // Answers to the older heartbeat prove nothing about leadership after the read arrived.
    harness.deliver((m) => m.type === "Heartbeat" && m.readRound === 0);
    harness.deliver((m) => m.type === "HeartbeatResponse");
    assert.deepEqual(released(), []);
    // One follower's answer to the new round plus the leader itself is a quorum of three.
    harness.drop((m) => m.to === "n3");
    harness.deliver((m) => m.type === "Heartbeat" && m.to === "n2");
    harness.deliver((m) => m.type === "HeartbeatResponse" && m.from === "n2");
    assert.deepEqual(released(), [{ requestId: "read-1", index: commitIndex }]);
    // Followers refuse reads, naming the leader.
    assert.throws(
      () => harness.core("n2").readIndex("read-2"),
      (error: unknown) => error instanceof NotLeaderError && error.leaderHint === "n1",
    );
  });

  it("§6.4 ReadIndex: a deposed leader that cannot reach a quorum never releases, and fails the read on stepping down", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    harness.isolated.add("n1");
    harness.core("n1").readIndex("read-1");
    for (let tick = 0; tick < 2 * ELECTION_TICKS; tick++) harness.tick("n1");
    const readies = harness.node("n1").readies;
    assert.equal(readies.flatMap((r) => r.readStates).length, 0);
    assert.deepEqual(readies.flatMap((r) => r.readsFailed), ["read-1"]);
  });

  it("§6.4 ReadIndex: a new leader delays reads until it commits an entry of its term", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    for (let tick = 0; tick < 2 * ELECTION_TICKS && harness.core("n1").status().role !== "leader"; tick++) {
      harness.tick("n1");
      harness.deliver((m) => m.type !== "AppendEntries");
    }
    assert.deepEqual(harness.leaders(), ["n1"]);
    assert.equal(harness.core("n1").status().commitIndex, 0, "the no-op is not yet replicated");
    harness.core("n1").readIndex("early");
    harness.tick("n1");
    harness.deliver((m) => m.type === "Heartbeat" || m.type === "HeartbeatResponse");
    harness.deliver((m) => m.type === "HeartbeatResponse");
    assert.equal(harness.node("n1").readies.flatMap((r) => r.readStates).length, 0, "leadership confirmed, index unknown");
    harness.stabilize();
    assert.deepEqual(harness.node("n1").readies.flatMap((r) => r.readStates), [{ requestId: "early", index: 1 }]);
  });

  it("thesis §4.1: config changes take effect on append, one uncommitted change at a time", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    const leader = harness.core("n1");
    harness.add("n4", []);
    leader.proposeConfChange({ type: "add", nodeId: "n4" });
    assert.deepEqual(leader.status().voters, ["n1", "n2", "n3", "n4"], "in effect before commit");
    assert.throws(() => leader.proposeConfChange({ type: "remove", nodeId: "n2" }), UnavailableError);
    harness.tickAll(3);
    assert.deepEqual(harness.core("n4").status().voters, ["n1", "n2", "n3", "n4"], "n4 learned the config from the log");
    assert.equal(harness.core("n4").status().commitIndex, leader.status().commitIndex);
    // Committed: the next change is accepted. Quorum is now 3 of 4.
    leader.proposeConfChange({ type: "remove", nodeId: "n2" });
    assert.deepEqual(leader.status().voters, ["n1", "n3", "n4"]);
    harness.tickAll(3);
    for (const id of ["n1", "n3", "n4"]) assert.deepEqual(harness.core(id).status().voters, ["n1", "n3", "n4"]);
  });

  it("thesis §4.2.2: a leader that removes itself leads until the change commits, then hands over", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    const { index } = harness.core("n1").proposeConfChange({ type: "remove", nodeId: "n1" });
    assert.equal(harness.core("n1").status().role, "leader");
    harness.stabilize();
    assert(harness.core("n1").status().commitIndex >= index);
    assert.equal(harness.core("n1").status().role, "follower");
    assert(harness.messagesOf("n1").some((m) => m.type === "TimeoutNow"), "handed over with TimeoutNow");
    const leaders = harness.leaders();
    assert.equal(leaders.length, 1);
    assert.notEqual(leaders[0], "n1");
    // The removed node never campaigns again.
    harness.tickAll(5 * ELECTION_TICKS);
    assert.notEqual(harness.core("n1").status().role, "preCandidate");
    assert.notEqual(harness.core("n1").status().role, "leader");
    const next = propose(harness, leaders[0], "after removal");
    harness.tickAll(2);
    assert(harness.core(leaders[0]).status().commitIndex >= next.index);
  });

  /** n1 leads and commits 20 commands while n3 is cut off (compact next to make it lag past the log). */
  function laggingFollower(): { harness: Harness; leader: ReturnType<Harness["core"]> } {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    harness.isolated.add("n3");
    for (let command = 0; command < 20; command++) propose(harness, "n1", `c${command}`);
    harness.tickAll(2);
    return { harness, leader: harness.core("n1") };
  }

  it("§7 InstallSnapshot: a follower that lags past the compaction point gets the snapshot", () => {
    const { harness, leader } = laggingFollower();
    const appliedIndex = leader.status().appliedIndex;
    assert.equal(appliedIndex, 21);
    const snapshot = leader.compact(appliedIndex, new TextEncoder().encode("state@21"));
    assert.deepEqual(snapshot.meta, { lastIndex: 21, lastTerm: leader.status().term, voters: ["n1", "n2", "n3"] });
    assert.equal(leader.status().firstIndex, 22);
    propose(harness, "n1", "after-snapshot");
    harness.isolated.delete("n3");
    harness.tickAll(5);
    const n3 = harness.node("n3");
    const installed = n3.readies.find((ready) => ready.snapshotToPersist !== null);
    assert(installed !== undefined, "n3 persisted the snapshot");
    assert.equal(new TextDecoder().decode(installed.snapshotToPersist?.data), "state@21");
    assert.equal(n3.core.status().firstIndex, 22);
    assert.equal(n3.core.status().commitIndex, leader.status().commitIndex);
    assert.equal(n3.applied.at(-1)?.index, 22, "applies entries after the snapshot");
    assert.equal(new TextDecoder().decode(n3.applied.at(-1)?.data), "after-snapshot");
  });

  it("§7 InstallSnapshot from a loader: the data is produced only when a snapshot is sent", () => {
    // A driver that saved its snapshot to disk hands compact() a loader instead of the bytes.
    const { harness, leader } = laggingFollower();
    let loads = 0;
    const snapshot = leader.compact(leader.status().appliedIndex, () => {
      loads++;
      return new TextEncoder().encode("state@21");
    });
    assert.equal(snapshot.meta.lastIndex, 21);
    assert.equal(loads, 0, "compacting alone reads nothing");
    propose(harness, "n1", "after-snapshot");
    harness.isolated.delete("n3");
    harness.tickAll(5);
    const installed = harness.node("n3").readies.find((ready) => ready.snapshotToPersist !== null);
    assert(installed !== undefined, "n3 persisted the snapshot");
    assert.equal(new TextDecoder().decode(installed.snapshotToPersist?.data), "state@21");
    assert(loads >= 1);
  });

  it("pipelining: a replicating follower gets up to maxInflightAppends appends before any answer", () => {
    const harness = new Harness(["n1", "n2", "n3"], { maxEntriesPerAppend: 2, maxInflightAppends: 3 });
    harness.campaign("n1");
    harness.tickAll(1);
    for (let command = 0; command < 20; command++) propose(harness, "n1", `c${command}`);
    const ready = harness.process("n1");
    assert(ready !== null);
    const appendsToN2 = ready.messagesToSend.filter((m) => m.type === "AppendEntries" && m.to === "n2");
    assert.equal(appendsToN2.length, 3);
    assert.deepEqual(
      appendsToN2.map((m) => (m.type === "AppendEntries" ? m.entries.length : -1)),
      [2, 2, 2],
    );
    harness.stabilize();
    assert.equal(harness.core("n2").status().lastIndex, harness.core("n1").status().lastIndex);
  });

  it("pacing: a follower gets at most maxInflightBytes of unacknowledged entries (one append always goes)", () => {
    const harness = new Harness(["n1", "n2", "n3"], { maxEntriesPerAppend: 1, maxInflightBytes: 3_000 });
    harness.campaign("n1");
    harness.tickAll(1);
    for (let command = 0; command < 4; command++) harness.core("n1").propose(new Uint8Array(2_000).fill(command));
    const ready = harness.process("n1");
    assert(ready !== null);
    // 2,000 bytes each: the second append brings the bytes in flight past 3,000; no third.
    assert.equal(ready.messagesToSend.filter((m) => m.type === "AppendEntries" && m.to === "n2").length, 2);
    harness.stabilize();
    assert.equal(harness.core("n2").status().lastIndex, harness.core("n1").status().lastIndex, "the rest follows as answers come in");
  });

  it("a large append still on its way is not sent again on a heartbeat answer; a lost one is, after its transfer time", () => {
    const bytesPerTick = 10_000;
    const harness = new Harness(["n1", "n2", "n3"], { replicationBytesPerTickMin: bytesPerTick });
    harness.campaign("n1");
    harness.tickAll(1);
    harness.core("n1").propose(new Uint8Array(100_000)); // 10 ticks of transfer at the slowest rate assumed
    harness.processAll();
    const isBigAppend = (m: RaftMessage): boolean => m.type === "AppendEntries" && m.to === "n2" && m.entries.length > 0;
    assert.equal(harness.drop(isBigAppend), 1, "sent once");
    const bigAppendsAfter = (ticks: number): number => {
      let sent = 0;
      for (let tick = 0; tick < ticks; tick++) {
        harness.core("n1").tick();
        harness.processAll();
        harness.deliver((m) => m.type === "Heartbeat" || m.type === "HeartbeatResponse");
        sent += harness.drop(isBigAppend);
        harness.drop((m) => m.to === "n3" || m.from === "n3");
      }
      return sent;
    };
    // appendRetryTicks is max(2, ELECTION_TICKS / 2) = 5 ticks for a small append; this one gets 10 more.
    assert.equal(bigAppendsAfter(12), 0, "not resent while it may still be arriving");
    assert.equal(bigAppendsAfter(6), 1, "resent once its time is up");
  });

  it("urgent messages: while a ready is being persisted, heartbeats and their answers can leave; a new term's cannot", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    harness.tickAll(1);
    // The follower holds a ready (a slow fsync): its heartbeat answer is still free to go.
    harness.core("n1").propose(new TextEncoder().encode("slow"));
    harness.process("n1");
    harness.deliver((m) => m.to === "n2" && m.type === "AppendEntries");
    const follower = harness.core("n2");
    const held = follower.ready();
    const heartbeat = { type: "Heartbeat", from: "n1", to: "n2", term: follower.status().term, commitIndex: 0, readRound: 7 } as const;
    follower.step(heartbeat);
    assert.equal(follower.hasReady(), false, "no ready before advance()");
    const urgent = follower.takeUrgentMessages();
    assert.deepEqual(
      urgent.map((m) => [m.type, m.to, m.type === "HeartbeatResponse" ? m.readRound : -1]),
      [["HeartbeatResponse", "n1", 7]],
    );
    assert(!held.messagesToSend.some((m) => m.type === "HeartbeatResponse"), "the held ready's own messages still wait");
    // A heartbeat of a term this node has not persisted yet: its answer waits for the next ready.
    follower.step({ ...heartbeat, from: "n3", term: follower.status().term + 1 });
    assert.deepEqual(follower.takeUrgentMessages(), []);
    harness.node("n2").driver.carryOut(held);
    const next = follower.ready();
    assert(next.messagesToSend.some((m) => m.type === "HeartbeatResponse" && m.to === "n3"));
    assert(next.hardState !== null && next.mustSync, "the new term is persisted before that answer leaves");
  });

  it("batching: proposeBatch appends many commands with one call and one append per follower", () => {
    const harness = new Harness(["n1", "n2", "n3"], { maxEntriesPerAppend: 64 });
    harness.campaign("n1");
    harness.tickAll(1);
    const datas = Array.from({ length: 10 }, (_, i) => new TextEncoder().encode(`batch${i}`));
    const result = harness.core("n1").proposeBatch(datas);
    assert.equal(result.lastIndex - result.firstIndex + 1, 10);
    const ready = harness.process("n1");
    assert(ready !== null);
    const appends = ready.messagesToSend.filter((m) => m.type === "AppendEntries");
    assert.equal(appends.length, 2);
    for (const append of appends) assert.equal(append.type === "AppendEntries" ? append.entries.length : 0, 10);
  });

  it("proposals on a non-leader fail with NotLeaderError naming the leader", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    assert.throws(
      () => propose(harness, "n2", "x"),
      (error: unknown) => error instanceof NotLeaderError && error.leaderHint === "n1",
    );
  });

  it("ready/advance contract: one ready at a time; a restart re-applies committed entries from storage", () => {
    const harness = new Harness(["n1", "n2", "n3"]);
    harness.campaign("n1");
    propose(harness, "n1", "x");
    const core = harness.core("n1");
    core.ready();
    assert.throws(() => core.ready(), /before advance/);
    // Restart n2 from what it persisted: it re-applies the committed prefix.
    harness.tickAll(0);
    const n2 = harness.node("n2");
    const restarted = new RaftCore(
      { ...RAFT_CONFIG_DEFAULTS, id: "n2", voters: ["n1", "n2", "n3"], random: new SeededRandom(9) },
      { hardState: n2.persisted.hardState, snapshot: null, entries: n2.persisted.entries },
    );
    assert.equal(restarted.status().term, harness.core("n1").status().term);
    const ready = restarted.ready();
    assert.equal(ready.committedEntries.length, n2.persisted.hardState?.commitIndex);
  });

  it("config validation rejects an election timeout too close to the heartbeat", () => {
    assert.throws(
      () =>
        new RaftCore(
          { ...RAFT_CONFIG_DEFAULTS, id: "n1", voters: ["n1"], electionTicks: 4, heartbeatTicks: 2, random: new SeededRandom(1) },
          { hardState: null, snapshot: null, entries: [] },
        ),
      ConfigError,
    );
  });

  it("a single-voter group elects itself and commits once its own log is persisted", () => {
    const harness = new Harness(["n1"]);
    harness.campaign("n1");
    assert.deepEqual(harness.leaders(), ["n1"]);
    const { index } = propose(harness, "n1", "solo");
    const ready = harness.process("n1");
    assert(ready !== null);
    assert.equal(ready.committedEntries.length, 0, "not committed before the leader's own write is durable");
    harness.processAll();
    assert.equal(harness.core("n1").status().commitIndex, index);
    assert.equal(new TextDecoder().decode(harness.node("n1").applied.at(-1)?.data), "solo");
  });
});
