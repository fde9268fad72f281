// Deterministic simulator for RaftCore (test/sim/raft_sim.test.ts and scripts/sim_raft.js).
//
// One seed drives everything: the network (delay in ticks, loss, duplication, reordering,
// partitions: isolate one, random split, asymmetric links; healing), storage (a node persists
// only what it carried out from ready(); a crash loses the rest, including a ready whose
// "fsync" is still in progress), crash/restart, log compaction (so InstallSnapshot runs),
// membership changes, and a client that proposes commands and ReadIndex reads.
//
// Checkers run after every event (every delivered message, every tick):
// - election safety: at most one leader per term, ever;
// - log matching for the committed prefix: every node's entries up to its commitIndex equal a
//   canonical committed log (the first (term, type, data) seen committed at each index), so
//   committed entries are never lost or changed and all committed prefixes agree;
// - state machine safety: every node applies indexes in order, each equal to the canonical
//   entry, so applied sequences are prefixes of one another (snapshots carry a hash chain of
//   the applied prefix, checked on restore);
// - the ready() contract: persisted entries stay contiguous;
// - ReadIndex: a released read's index covers every write acknowledged before it was issued;
// - after healing (all links up, all nodes up, no loss) a leader is elected and a new command
//   commits within HEAL_ELECTION_TIMEOUTS_MAX election timeouts, and every voter applies
//   everything ever committed and acknowledged within that bound plus CATCH_UP_TICKS_PER_ENTRY
//   per entry the slowest voter lacked at healing.
// A failure throws SimCheckError whose message holds the seed, scenario and the last
// TRANSCRIPT_TAIL_EVENTS events; rerunning the seed replays the run exactly.
import assert from "node:assert/strict";
import { createHash, Hash } from "node:crypto";
import { SeededRandom } from "../../src/core/env";
import { InvalidArgumentError, NotLeaderError, UnavailableError } from "../../src/core/errors";
import { RAFT_CONFIG_DEFAULTS, RaftConfig, RaftCore, RaftReady } from "../../src/raft/core";
import { RaftDriver, RaftHost } from "../../src/raft/driver";
import { HardState, LogEntry, NodeId, RaftMessage, Snapshot } from "../../src/raft/types";

export const SIM_SCENARIOS = [
  "calm",
  "lossy",
  "isolate",
  "split",
  "asymmetric",
  "crash",
  "compaction",
  "membership",
  "chaos",
] as const;
export type SimScenario = (typeof SIM_SCENARIOS)[number];

export interface SimOptions {
  readonly seed: number;
  /** Initial voters (3 or 5 in CI; membership scenarios add and remove more). */
  readonly nodeCount: number;
  readonly scenario: SimScenario;
  /** Length of the fault phase, in ticks. */
  readonly faultTicks?: number;
  readonly electionTicks?: number;
  /** Write every event to stderr as it happens (debugging a failing seed). */
  readonly trace?: boolean;
}

export interface SimResult {
  readonly seed: number;
  readonly scenario: SimScenario;
  readonly nodeCount: number;
  readonly transcriptHash: string;
  readonly eventCount: number;
  readonly tickCount: number;
  readonly healTickCount: number;
  readonly commitIndexMax: number;
  readonly ackCount: number;
  readonly readCount: number;
  readonly leaderTermCount: number;
  readonly crashCount: number;
  readonly snapshotInstallCount: number;
  readonly compactionCount: number;
  /** Entry data the cores read back from persisted storage after releasing it (releaseData runs). */
  readonly dataReadBackCount: number;
  readonly configChangeCount: number;
}

export class SimCheckError extends Error {
  override readonly name = "SimCheckError";
}

export const SIM_FAULT_TICKS_DEFAULT = 300;
/** After healing, the cluster must elect a leader and commit a new command within this many election timeouts. */
export const HEAL_ELECTION_TIMEOUTS_MAX = 50;
/** Extra ticks allowed after healing per committed entry the slowest voter lacks. */
export const CATCH_UP_TICKS_PER_ENTRY = 2;
export const TRANSCRIPT_TAIL_EVENTS = 50;
/** Bound on message deliveries within one tick (zero-delay chains); exceeding it is a livelock. */
const DELIVERIES_PER_TICK_MAX = 100_000;
/** Bound on ready() rounds per pump; a core that always has work would be a bug. */
const READY_ROUNDS_PER_PUMP_MAX = 1_000;
/** Most client proposals waiting for their outcome. */
const CLIENT_PROPOSALS_PENDING_MAX = 32;
/** Most client reads waiting. */
const CLIENT_READS_PENDING_MAX = 16;
/** A proposal with no outcome after this many ticks is forgotten (outcome unknown, never acked). */
const CLIENT_PROPOSAL_TICKS_MAX = 400;

interface ScenarioParams {
  lossRate: number;
  duplicateRate: number;
  delayTicksMax: number;
  isolateRate: number;
  splitRate: number;
  asymmetricRate: number;
  crashRate: number;
  membershipRate: number;
  /** Compact after this many applied entries; 0 = never. */
  compactEntries: number;
  /** Probability that a ready's persistence completes 1-2 ticks later instead of at once. */
  slowPersistRate: number;
  /**
   * Core options. Production runs with both on; some runs turn one off so the paths that
   * do not lean on them (ReadIndex confirmation without check-quorum step-down, elections
   * without pre-vote) are checked too.
   */
  preVote: boolean;
  checkQuorum: boolean;
  /** Replication limits, small and varied so batching, byte caps and the in-flight window bind. */
  maxEntriesPerAppend: number;
  maxInflightAppends: number;
  /**
   * The storage can read entries back (as DiskRaftStorage does): cores release the data of
   * applied, persisted entries and read it back to resend. Half the runs, so both paths run.
   */
  releaseData: boolean;
}

function scenarioParams(scenario: SimScenario, random: SeededRandom): ScenarioParams {
  const base: ScenarioParams = {
    lossRate: 0,
    duplicateRate: 0,
    delayTicksMax: 2,
    isolateRate: 0,
    splitRate: 0,
    asymmetricRate: 0,
    crashRate: 0,
    membershipRate: 0,
    // Most runs compact (InstallSnapshot paths); some never do (long-log paths).
    compactEntries: random.next() < 0.2 ? 0 : 50,
    slowPersistRate: 0.2,
    preVote: random.next() >= 0.2,
    checkQuorum: random.next() >= 0.25,
    maxEntriesPerAppend: 0,
    maxInflightAppends: 0,
    releaseData: false,
  };
  base.maxEntriesPerAppend = [1, 2, 4, 16][random.int(4)];
  // Keep at least 4 entries per round trip so catching up after healing stays well inside the bound.
  base.maxInflightAppends = base.maxEntriesPerAppend <= 2 ? [4, 8][random.int(2)] : [1, 2, 4, 8][random.int(4)];
  base.releaseData = random.next() < 0.5;
  switch (scenario) {
    case "calm":
      return base;
    case "lossy":
      return { ...base, lossRate: 0.05 + 0.2 * random.next(), duplicateRate: 0.1, delayTicksMax: 4 };
    case "isolate":
      return { ...base, lossRate: 0.02, isolateRate: 0.04 };
    case "split":
      return { ...base, lossRate: 0.02, splitRate: 0.04 };
    case "asymmetric":
      return { ...base, lossRate: 0.02, asymmetricRate: 0.05 };
    case "crash":
      return { ...base, lossRate: 0.02, duplicateRate: 0.05, crashRate: 0.04, slowPersistRate: 0.4 };
    case "compaction":
      return { ...base, lossRate: 0.05, isolateRate: 0.03, crashRate: 0.02, compactEntries: 4 + random.int(8) };
    case "membership":
      // Pre-vote and check-quorum stay on: without them a removed server that never learned
      // of its removal disrupts the group forever with higher-term votes (thesis §4.2.3).
      return { ...base, lossRate: 0.02, isolateRate: 0.02, membershipRate: 0.04, preVote: true, checkQuorum: true };
    case "chaos":
      return {
        ...base,
        lossRate: 0.05 + 0.1 * random.next(),
        duplicateRate: 0.05,
        delayTicksMax: 3,
        isolateRate: 0.015,
        splitRate: 0.015,
        asymmetricRate: 0.015,
        crashRate: 0.02,
        membershipRate: 0.02,
        preVote: true,
        checkQuorum: true,
        compactEntries: random.next() < 0.2 ? 0 : 10 + random.int(40),
      };
    default: {
      const unreachable: never = scenario;
      throw new Error(`unknown scenario ${String(unreachable)}`);
    }
  }
}

interface PersistedState {
  hardState: HardState | null;
  snapshot: Snapshot | null;
  entries: LogEntry[];
}

interface StateMachine {
  appliedIndex: number;
  /** Hash chain over the applied entries: equal hashes at an index mean equal applied prefixes. */
  hash: number;
}

interface SimNode {
  readonly id: NodeId;
  readonly bootstrapVoters: readonly NodeId[];
  core: RaftCore | null;
  /** The shared RaftDriver (src/raft/driver.ts) around the current core; null while down. */
  driver: RaftDriver | null;
  persisted: PersistedState;
  inflightReady: { ready: RaftReady; completeTick: number } | null;
  stateMachine: StateMachine;
  restartTick: number | null;
  // Checker state for the current incarnation.
  checkedIndex: number;
  checkedRewriteCount: number;
  commitIndexSeen: number;
  roleSeen: string;
}

interface CanonicalEntry {
  readonly term: number;
  readonly type: LogEntry["type"];
  readonly data: Uint8Array;
}

interface PendingProposal {
  readonly commandId: string;
  readonly nodeId: NodeId;
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  readonly proposedTick: number;
}

interface PendingRead {
  readonly nodeId: NodeId;
  /** Highest acknowledged write index when the read was issued: the read must cover it. */
  readonly ackIndexMin: number;
}

interface QueuedMessage {
  readonly message: RaftMessage;
}

const HASH_SEED = 0x811c9dc5;

function mixHash(hash: number, value: number): number {
  return Math.imul(hash ^ (value >>> 0), 16777619) >>> 0;
}

function entryHash(hash: number, entry: LogEntry): number {
  let h = mixHash(hash, entry.index);
  h = mixHash(h, entry.term);
  h = mixHash(h, entry.type === "command" ? 1 : entry.type === "config" ? 2 : 3);
  for (let offset = 0; offset < entry.data.byteLength; offset++) h = mixHash(h, entry.data[offset]);
  return mixHash(h, entry.data.byteLength);
}

function bytesEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left.byteLength !== right.byteLength) return false;
  for (let offset = 0; offset < left.byteLength; offset++) if (left[offset] !== right[offset]) return false;
  return true;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function encodeStateMachine(stateMachine: StateMachine): Uint8Array {
  return textEncoder.encode(JSON.stringify(stateMachine));
}

function decodeStateMachine(data: Uint8Array): StateMachine {
  const parsed = JSON.parse(textDecoder.decode(data)) as StateMachine;
  assert(Number.isInteger(parsed.appliedIndex));
  assert(Number.isInteger(parsed.hash));
  return parsed;
}

function describeMessage(message: RaftMessage): string {
  const head = `${message.from}>${message.to} ${message.type} t${message.term}`;
  switch (message.type) {
    case "AppendEntries":
      return `${head} prev=${message.prevLogIndex}/${message.prevLogTerm} n=${message.entries.length} c=${message.leaderCommitIndex}`;
    case "AppendEntriesResponse":
      return message.success
        ? `${head} ok m=${message.matchIndex}`
        : `${head} rej r=${message.rejectedLogIndex} ci=${message.conflictIndex} ct=${message.conflictTerm}`;
    case "PreVote":
    case "RequestVote":
      return `${head} last=${message.lastLogIndex}/${message.lastLogTerm}`;
    case "PreVoteResponse":
    case "RequestVoteResponse":
      return `${head} ${message.granted ? "yes" : "no"}`;
    case "Heartbeat":
      return `${head} c=${message.commitIndex} rr=${message.readRound}`;
    case "HeartbeatResponse":
      return `${head} rr=${message.readRound}`;
    case "InstallSnapshot":
      return `${head} snap=${message.snapshot.meta.lastIndex}/${message.snapshot.meta.lastTerm}`;
    case "InstallSnapshotResponse":
      return `${head} m=${message.matchIndex}`;
    case "TimeoutNow":
      return head;
    default: {
      const unreachable: never = message;
      return String(unreachable);
    }
  }
}

class Simulation {
  private readonly options: Required<SimOptions>;
  private readonly random: SeededRandom;
  private readonly params: ScenarioParams;
  private readonly nodes = new Map<NodeId, SimNode>();
  private nodeNumberNext: number;

  // Network.
  private readonly buckets = new Map<number, QueuedMessage[]>();
  private readonly blockedLinks = new Set<string>();
  private partitionHealTick: number | null = null;
  private lossRate: number;
  private duplicateRate: number;
  private delayTicksMax: number;

  // Time and phase.
  private now = 0;
  private healed = false;

  // Transcript.
  private readonly transcriptTail: string[] = [];
  private readonly transcriptHash: Hash = createHash("sha256");
  private eventCount = 0;

  // Checker state.
  private readonly canonical = new Map<number, CanonicalEntry>();
  private readonly canonicalAppliedHash = new Map<number, number>();
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private commitIndexMax = 0;

  // Client.
  private commandIdNext = 1;
  private readIdNext = 1;
  private believedLeader: NodeId | null = null;
  private readonly proposals = new Map<string, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private ackIndexMax = 0;
  private finalAck: { index: number } | null = null;
  /** The latest attempt at the final (post-heal) command; earlier attempts may still be acknowledged. */
  private finalProposalKey: string | null = null;
  private finalProposalTick = 0;

  // Counters.
  private ackCount = 0;
  private readCount = 0;
  private crashCount = 0;
  private snapshotInstallCount = 0;
  private compactionCount = 0;
  private dataReadBackCount = 0;
  private configChangeCount = 0;
  private healTickCount = 0;

  constructor(options: SimOptions) {
    // `??` rather than spreading defaults: an explicit `undefined` must not erase a default.
    this.options = {
      seed: options.seed,
      nodeCount: options.nodeCount,
      scenario: options.scenario,
      faultTicks: options.faultTicks ?? SIM_FAULT_TICKS_DEFAULT,
      electionTicks: options.electionTicks ?? RAFT_CONFIG_DEFAULTS.electionTicks,
      trace: options.trace ?? false,
    };
    assert(Number.isInteger(this.options.faultTicks));
    assert(this.options.faultTicks >= 0);
    assert(Number.isInteger(options.seed));
    assert(options.nodeCount >= 1);
    assert(options.nodeCount <= 9);
    this.random = new SeededRandom(options.seed);
    this.params = scenarioParams(options.scenario, this.random);
    this.lossRate = this.params.lossRate;
    this.duplicateRate = this.params.duplicateRate;
    this.delayTicksMax = this.params.delayTicksMax;
    const voters: NodeId[] = [];
    for (let number = 1; number <= options.nodeCount; number++) voters.push(`n${number}`);
    this.nodeNumberNext = options.nodeCount + 1;
    for (const id of voters) this.addNode(id, voters);
  }

  run(): SimResult {
    try {
      this.event(`start seed=${this.options.seed} scenario=${this.options.scenario} nodes=${this.options.nodeCount} ` + JSON.stringify(this.params));
      for (let tick = 0; tick < this.options.faultTicks; tick++) this.runTick();
      this.heal();
      const healTicksMax = HEAL_ELECTION_TIMEOUTS_MAX * this.options.electionTicks;
      // Bringing every voter up to date also costs time in proportion to how far behind the
      // slowest one is (small appends in some runs, no compaction in others).
      const convergeTicksMax = healTicksMax + CATCH_UP_TICKS_PER_ENTRY * this.lagEntries();
      for (;;) {
        if (this.finalAck === null && this.healTickCount >= healTicksMax) {
          this.fail(`liveness: no new command committed ${healTicksMax} ticks after healing (${this.describeCluster()})`);
        }
        if (this.converged()) break;
        if (this.healTickCount >= convergeTicksMax) {
          this.fail(`liveness: voters not caught up ${convergeTicksMax} ticks after healing (${this.describeCluster()})`);
        }
        this.healTickCount++;
        this.runTick();
      }
      this.event("converged");
    } catch (error) {
      if (error instanceof SimCheckError) throw error;
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.fail(`exception: ${reason}`, error);
    }
    return {
      seed: this.options.seed,
      scenario: this.options.scenario,
      nodeCount: this.options.nodeCount,
      transcriptHash: this.transcriptHash.digest("hex"),
      eventCount: this.eventCount,
      tickCount: this.now,
      healTickCount: this.healTickCount,
      commitIndexMax: this.commitIndexMax,
      ackCount: this.ackCount,
      readCount: this.readCount,
      leaderTermCount: this.leaderOfTerm.size,
      crashCount: this.crashCount,
      snapshotInstallCount: this.snapshotInstallCount,
      compactionCount: this.compactionCount,
      dataReadBackCount: this.dataReadBackCount,
      configChangeCount: this.configChangeCount,
    };
  }

  // -------------------------------------------------------------------------------------
  // Main loop.
  // -------------------------------------------------------------------------------------

  private runTick(): void {
    this.now++;
    for (const node of this.nodes.values()) {
      if (node.inflightReady !== null && node.inflightReady.completeTick <= this.now) {
        const ready = node.inflightReady.ready;
        node.inflightReady = null;
        this.complete(node, ready);
      }
    }
    for (const node of this.nodes.values()) node.core?.tick();
    if (!this.healed) this.injectFaults();
    this.restartDueNodes();
    this.client();
    for (const node of this.nodes.values()) this.pump(node);
    this.check();
    this.deliverDue();
  }

  private deliverDue(): void {
    const bucket = this.buckets.get(this.now);
    if (bucket === undefined) return;
    let deliveryCount = 0;
    // Messages due this tick (including zero-delay replies added meanwhile) are delivered in
    // random order: reordering.
    while (bucket.length > 0) {
      deliveryCount++;
      assert(deliveryCount <= DELIVERIES_PER_TICK_MAX, "too many deliveries in one tick");
      const position = this.random.int(bucket.length);
      const queued = bucket[position];
      bucket[position] = bucket[bucket.length - 1];
      bucket.pop();
      this.deliver(queued.message);
    }
    this.buckets.delete(this.now);
  }

  private deliver(message: RaftMessage): void {
    const target = this.nodes.get(message.to);
    if (this.blockedLinks.has(`${message.from}>${message.to}`)) {
      this.event(`cut ${describeMessage(message)}`);
      return;
    }
    if (target === undefined || target.core === null) {
      this.event(`lost-down ${describeMessage(message)}`);
      return;
    }
    this.event(`deliver ${describeMessage(message)}`);
    target.core.step(message);
    this.pump(target);
    this.check();
  }

  private send(message: RaftMessage): void {
    if (this.random.next() < this.lossRate) {
      this.event(`drop ${describeMessage(message)}`);
      return;
    }
    const copyCount = this.random.next() < this.duplicateRate ? 2 : 1;
    for (let copy = 0; copy < copyCount; copy++) {
      const deliverTick = this.now + this.random.int(this.delayTicksMax + 1);
      let bucket = this.buckets.get(deliverTick);
      if (bucket === undefined) {
        bucket = [];
        this.buckets.set(deliverTick, bucket);
      }
      bucket.push({ message });
    }
  }

  // -------------------------------------------------------------------------------------
  // The driver: the shared RaftDriver carries out each ready (persist -> send -> apply ->
  // reads -> advance -> compact); this simulator is its host, and decides only when a
  // ready's persistence completes (a slow fsync completes 1-2 ticks later).
  // -------------------------------------------------------------------------------------

  private pump(node: SimNode): void {
    if (node.core !== null && node.inflightReady !== null) {
      // What the node runtime does while a write is being persisted: heartbeats and their
      // answers leave at once (RaftCore.takeUrgentMessages).
      for (const message of node.core.takeUrgentMessages()) this.send(message);
      return;
    }
    for (let round = 0; round < READY_ROUNDS_PER_PUMP_MAX; round++) {
      const core = node.core;
      if (core === null || node.inflightReady !== null || !core.hasReady()) return;
      const ready = core.ready();
      if (this.random.next() < this.params.slowPersistRate) {
        // A slow fsync: the core keeps stepping meanwhile; a crash now loses this ready.
        node.inflightReady = { ready, completeTick: this.now + 1 + this.random.int(2) };
        return;
      }
      this.complete(node, ready);
    }
    assert.fail(`${node.id} always has a ready`);
  }

  private complete(node: SimNode, ready: RaftReady): void {
    assert(node.driver !== null);
    node.driver.carryOut(ready);
  }

  private hostFor(node: SimNode): RaftHost {
    return {
      persist: (ready) => this.persist(node, ready),
      send: (messages) => {
        for (const message of messages) this.send(message);
      },
      restore: (snapshot) => this.restoreStateMachine(node, snapshot),
      apply: (entry) => this.apply(node, entry),
      compact: (appliedIndex) => this.compact(node, appliedIndex),
    };
  }

  private persist(node: SimNode, ready: RaftReady): void {
    const persisted = node.persisted;
    if (ready.snapshotToPersist !== null) {
      persisted.snapshot = ready.snapshotToPersist;
      persisted.entries = [];
      this.snapshotInstallCount++;
      this.event(`${node.id} persist snapshot ${ready.snapshotToPersist.meta.lastIndex}/${ready.snapshotToPersist.meta.lastTerm}`);
    } else if (ready.truncateFrom !== null) {
      const firstIndex = (persisted.snapshot?.meta.lastIndex ?? 0) + 1;
      assert(ready.truncateFrom >= firstIndex, "truncateFrom reaches into the persisted snapshot");
      persisted.entries.length = Math.min(persisted.entries.length, ready.truncateFrom - firstIndex);
      this.event(`${node.id} truncate ${ready.truncateFrom}`);
    }
    for (const entry of ready.entriesToPersist) {
      const expected = persisted.entries.length > 0 ? persisted.entries[persisted.entries.length - 1].index + 1 : (persisted.snapshot?.meta.lastIndex ?? 0) + 1;
      assert.equal(entry.index, expected, `${node.id} persisted log would have a gap or overlap`);
      persisted.entries.push(entry);
    }
    if (ready.hardState !== null) persisted.hardState = ready.hardState;
  }

  private apply(node: SimNode, entry: LogEntry): void {
    const stateMachine = node.stateMachine;
    if (entry.index !== stateMachine.appliedIndex + 1) {
      this.fail(`${node.id} applies index ${entry.index} after ${stateMachine.appliedIndex}`);
    }
    this.checkCanonical(node, entry, "applied");
    stateMachine.hash = entryHash(stateMachine.hash, entry);
    stateMachine.appliedIndex = entry.index;
    const hashKnown = this.canonicalAppliedHash.get(entry.index);
    if (hashKnown === undefined) this.canonicalAppliedHash.set(entry.index, stateMachine.hash);
    else if (hashKnown !== stateMachine.hash) this.fail(`${node.id} applied prefix up to ${entry.index} differs from another node's`);
    if (entry.type === "config") {
      this.configChangeCount++;
      this.event(`${node.id} apply config ${entry.index} ${textDecoder.decode(entry.data)}`);
    }
    const key = `${node.id}:${entry.index}`;
    const proposal = this.proposals.get(key);
    if (proposal !== undefined) {
      this.proposals.delete(key);
      if (entry.term === proposal.term && bytesEqual(entry.data, proposal.data)) {
        // The acknowledgement: the leader that accepted the command applied it at the same
        // index and term, so it is committed (a client would now see success).
        this.ackCount++;
        if (entry.index > this.ackIndexMax) this.ackIndexMax = entry.index;
        if (proposal.commandId.startsWith("final") && this.finalAck === null) this.finalAck = { index: entry.index };
        this.event(`ack ${proposal.commandId} ${entry.index}/${entry.term} at ${node.id}`);
      } else {
        this.event(`lost ${proposal.commandId} (index ${entry.index} holds term ${entry.term})`);
        if (key === this.finalProposalKey) this.finalProposalKey = null;
      }
    }
  }

  private restoreStateMachine(node: SimNode, snapshot: Snapshot): void {
    const image = decodeStateMachine(snapshot.data);
    if (image.appliedIndex !== snapshot.meta.lastIndex) this.fail(`snapshot data at ${image.appliedIndex} labelled ${snapshot.meta.lastIndex}`);
    const hashKnown = this.canonicalAppliedHash.get(image.appliedIndex);
    if (hashKnown !== image.hash) this.fail(`${node.id} restores a snapshot at ${image.appliedIndex} whose state no node applied`);
    if (image.appliedIndex < node.stateMachine.appliedIndex) this.fail(`${node.id} restores an older snapshot`);
    node.stateMachine = { appliedIndex: image.appliedIndex, hash: image.hash };
    // Proposals pending at indexes the snapshot skipped have unknown outcome on this node.
    for (const [key, proposal] of this.proposals) {
      if (proposal.nodeId === node.id && proposal.index <= image.appliedIndex) {
        this.proposals.delete(key);
        if (key === this.finalProposalKey) this.finalProposalKey = null;
      }
    }
  }

  private compact(node: SimNode, appliedIndex: number): void {
    const core = node.core;
    assert(core !== null);
    assert.equal(appliedIndex, node.stateMachine.appliedIndex);
    const snapshot = core.compact(appliedIndex, encodeStateMachine(node.stateMachine));
    node.persisted.snapshot = snapshot;
    node.persisted.entries = node.persisted.entries.filter((entry) => entry.index > appliedIndex);
    this.compactionCount++;
    this.event(`${node.id} compact ${appliedIndex}`);
  }

  // -------------------------------------------------------------------------------------
  // Nodes: add, crash, restart.
  // -------------------------------------------------------------------------------------

  private coreConfig(id: NodeId, bootstrapVoters: readonly NodeId[]): RaftConfig {
    return {
      ...RAFT_CONFIG_DEFAULTS,
      id,
      voters: bootstrapVoters,
      electionTicks: this.options.electionTicks,
      heartbeatTicks: 1,
      maxEntriesPerAppend: this.params.maxEntriesPerAppend,
      maxBytesPerAppend: 256,
      maxInflightAppends: this.params.maxInflightAppends,
      preVote: this.params.preVote,
      checkQuorum: this.params.checkQuorum,
      random: new SeededRandom(this.random.int(0x7fffffff)),
    };
  }

  private addNode(id: NodeId, bootstrapVoters: readonly NodeId[]): SimNode {
    assert(!this.nodes.has(id));
    const node: SimNode = {
      id,
      bootstrapVoters: [...bootstrapVoters],
      core: null,
      driver: null,
      persisted: { hardState: null, snapshot: null, entries: [] },
      inflightReady: null,
      stateMachine: { appliedIndex: 0, hash: HASH_SEED },
      restartTick: null,
      checkedIndex: 0,
      checkedRewriteCount: 0,
      commitIndexSeen: 0,
      roleSeen: "",
    };
    this.nodes.set(id, node);
    this.startCore(node);
    return node;
  }

  private startCore(node: SimNode): void {
    const persisted = node.persisted;
    node.core = new RaftCore(this.coreConfig(node.id, node.bootstrapVoters), {
      hardState: persisted.hardState,
      snapshot: persisted.snapshot,
      entries: [...persisted.entries],
      ...(this.params.releaseData ? { readEntryData: (index: number, term: number) => this.readBack(node, index, term) } : {}),
    });
    node.driver = new RaftDriver(node.core, this.hostFor(node), {
      snapshotEntries: this.params.compactEntries,
      appliedIndex: persisted.snapshot?.meta.lastIndex ?? 0,
    });
    node.stateMachine = { appliedIndex: 0, hash: HASH_SEED };
    if (persisted.snapshot !== null) this.restoreStateMachine(node, persisted.snapshot);
    node.inflightReady = null;
    node.restartTick = null;
    node.checkedIndex = 0;
    node.checkedRewriteCount = node.core.logView().rewriteCount;
    node.commitIndexSeen = 0;
    node.roleSeen = "";
  }

  /** Stable storage read back: the entry must be persisted, with the term the core expects. */
  private readBack(node: SimNode, index: number, term: number): Uint8Array {
    const entries = node.persisted.entries;
    const position = entries.length === 0 ? -1 : index - entries[0].index;
    if (position < 0 || position >= entries.length) this.fail(`${node.id} reads back entry ${index}, which is not persisted`);
    const entry = entries[position];
    if (entry.index !== index || entry.term !== term) this.fail(`${node.id} reads back ${index}/${term} but storage holds ${entry.index}/${entry.term}`);
    this.dataReadBackCount++;
    return entry.data;
  }

  private crash(node: SimNode, downTicks: number): void {
    assert(node.core !== null);
    node.core = null;
    node.driver = null;
    // Whatever the driver had not finished persisting is gone.
    node.inflightReady = null;
    node.restartTick = this.now + downTicks;
    this.crashCount++;
    for (const [key, proposal] of this.proposals) {
      if (proposal.nodeId === node.id) {
        this.proposals.delete(key);
        if (key === this.finalProposalKey) this.finalProposalKey = null;
      }
    }
    for (const [requestId, read] of this.reads) if (read.nodeId === node.id) this.reads.delete(requestId);
    this.event(`crash ${node.id} until ${node.restartTick}`);
  }

  private restartDueNodes(): void {
    for (const node of this.nodes.values()) {
      if (node.core === null && node.restartTick !== null && node.restartTick <= this.now) {
        this.startCore(node);
        this.event(`restart ${node.id} persisted=${node.persisted.entries.length} entries`);
      }
    }
  }

  // -------------------------------------------------------------------------------------
  // Faults.
  // -------------------------------------------------------------------------------------

  private liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((node) => node.core !== null);
  }

  private currentLeader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      const status = node.core?.status();
      if (status === undefined || status.role !== "leader") continue;
      if (status.term > bestTerm) {
        best = node;
        bestTerm = status.term;
      }
    }
    return best;
  }

  private pick<T>(items: readonly T[]): T {
    assert(items.length > 0);
    return items[this.random.int(items.length)];
  }

  private injectFaults(): void {
    const params = this.params;
    const ids = [...this.nodes.keys()];
    if (this.partitionHealTick !== null && this.partitionHealTick <= this.now) {
      this.blockedLinks.clear();
      this.partitionHealTick = null;
      this.event("partition healed");
    }
    if (this.partitionHealTick === null) {
      const duration = 5 + this.random.int(60);
      if (this.random.next() < params.isolateRate) {
        const leader = this.currentLeader();
        const victim = leader !== null && this.random.next() < 0.5 ? leader.id : this.pick(ids);
        for (const other of ids) {
          if (other === victim) continue;
          this.blockedLinks.add(`${victim}>${other}`);
          this.blockedLinks.add(`${other}>${victim}`);
        }
        this.partitionHealTick = this.now + duration;
        this.event(`isolate ${victim} until ${this.partitionHealTick}`);
      } else if (this.random.next() < params.splitRate) {
        const sideA = ids.filter(() => this.random.next() < 0.5);
        for (const from of ids) {
          for (const to of ids) {
            if (from !== to && sideA.includes(from) !== sideA.includes(to)) this.blockedLinks.add(`${from}>${to}`);
          }
        }
        this.partitionHealTick = this.now + duration;
        this.event(`split [${sideA.join(",")}] until ${this.partitionHealTick}`);
      } else if (this.random.next() < params.asymmetricRate) {
        const leader = this.currentLeader();
        if (leader !== null && this.random.next() < 0.5) {
          // The leader's messages get out but nothing reaches it (or the reverse).
          const inbound = this.random.next() < 0.5;
          for (const other of ids) {
            if (other !== leader.id) this.blockedLinks.add(inbound ? `${other}>${leader.id}` : `${leader.id}>${other}`);
          }
          this.event(`asymmetric ${inbound ? "deaf" : "mute"} ${leader.id}`);
        } else {
          const linkCount = 1 + this.random.int(3);
          const links: string[] = [];
          for (let link = 0; link < linkCount; link++) {
            const from = this.pick(ids);
            const to = this.pick(ids);
            if (from !== to) {
              this.blockedLinks.add(`${from}>${to}`);
              links.push(`${from}>${to}`);
            }
          }
          this.event(`asymmetric cut ${links.join(" ")}`);
        }
        this.partitionHealTick = this.now + duration;
      }
    }
    if (this.random.next() < params.crashRate) {
      // Half the crashes hit the leader: leader changes with half-replicated tails are where
      // Raft's subtle rules (Figure 8, truncation) matter.
      const leader = this.currentLeader();
      const live = this.liveNodes();
      if (leader !== null && this.random.next() < 0.5) this.crash(leader, 3 + this.random.int(40));
      else if (live.length > 0) this.crash(this.pick(live), 3 + this.random.int(40));
    }
    if (this.random.next() < params.membershipRate) this.changeMembership();
  }

  private changeMembership(): void {
    const leader = this.currentLeader();
    if (leader === null || leader.core === null) return;
    const voters = leader.core.status().voters;
    const canAdd = voters.length < this.options.nodeCount + 2;
    const canRemove = voters.length > 3;
    if (!canAdd && !canRemove) return;
    const add = canAdd && (!canRemove || this.random.next() < 0.5);
    const nodeId = add ? `n${this.nodeNumberNext}` : this.pick(voters);
    try {
      const result = leader.core.proposeConfChange({ type: add ? "add" : "remove", nodeId });
      this.event(`conf ${add ? "add" : "remove"} ${nodeId} at ${leader.id} ${result.index}/${result.term}`);
    } catch (error) {
      if (error instanceof UnavailableError || error instanceof NotLeaderError || error instanceof InvalidArgumentError) {
        this.event(`conf ${add ? "add" : "remove"} ${nodeId} refused: ${error.message}`);
        return;
      }
      throw error;
    }
    if (add) {
      this.nodeNumberNext++;
      // A new server starts empty and knows no voters: it learns the configuration (and
      // that it is a voter) from the leader's log or snapshot.
      this.addNode(nodeId, []);
    }
  }

  private heal(): void {
    this.healed = true;
    this.blockedLinks.clear();
    this.partitionHealTick = null;
    this.lossRate = 0;
    this.delayTicksMax = Math.min(this.delayTicksMax, 2);
    for (const node of this.nodes.values()) {
      if (node.core === null) {
        this.startCore(node);
        this.event(`restart ${node.id} (heal)`);
      }
    }
    this.event("healed: all links up, all nodes up, no loss");
  }

  // -------------------------------------------------------------------------------------
  // Client.
  // -------------------------------------------------------------------------------------

  private clientTarget(): SimNode | null {
    const live = this.liveNodes();
    if (live.length === 0) return null;
    // Mostly the believed leader, sometimes anyone: several clients with different beliefs,
    // so writes reach a new leader while reads may still reach a deposed one.
    if (this.believedLeader !== null && this.random.next() < 0.8) {
      const node = this.nodes.get(this.believedLeader);
      if (node !== undefined && node.core !== null) return node;
    }
    return this.pick(live);
  }

  private client(): void {
    // Like a real client, give up on a node whose proposals go unanswered (it may be a
    // deposed leader that does not know it yet) and look for the leader elsewhere.
    const timeoutTicks = 2 * this.options.electionTicks;
    for (const proposal of this.proposals.values()) {
      if (proposal.nodeId === this.believedLeader && this.now - proposal.proposedTick > timeoutTicks) {
        this.believedLeader = null;
        break;
      }
    }
    for (const [key, proposal] of this.proposals) {
      if (this.now - proposal.proposedTick > CLIENT_PROPOSAL_TICKS_MAX) {
        this.proposals.delete(key);
        if (key === this.finalProposalKey) this.finalProposalKey = null;
      }
    }
    if (this.healed) {
      // After healing the client only pushes one final command through, retrying until it
      // is acknowledged: the liveness check.
      // A real client gives up on a request after a timeout and retries; so does this one
      // (the entry may have been dropped with a deposed leader's log suffix).
      const finalRetryTicks = 3 * this.options.electionTicks;
      if (this.finalProposalKey !== null && this.now - this.finalProposalTick > finalRetryTicks) this.finalProposalKey = null;
      if (this.finalAck === null && this.finalProposalKey === null && this.now % 3 === 0) this.propose(1, true);
      return;
    }
    if (this.random.next() < 0.3 && this.proposals.size < CLIENT_PROPOSALS_PENDING_MAX) this.propose(1 + this.random.int(3), false);
    if (this.random.next() < 0.15 && this.reads.size < CLIENT_READS_PENDING_MAX) this.read();
  }

  private propose(commandCount: number, final: boolean): void {
    const target = this.clientTarget();
    if (target === null || target.core === null) return;
    const datas: Uint8Array[] = [];
    const commandIds: string[] = [];
    for (let command = 0; command < commandCount; command++) {
      const commandId = final ? `final${this.commandIdNext}` : `c${this.commandIdNext}`;
      this.commandIdNext++;
      commandIds.push(commandId);
      datas.push(textEncoder.encode(commandId));
    }
    try {
      const result =
        datas.length === 1
          ? (() => {
              const single = target.core.propose(datas[0]);
              return { firstIndex: single.index, lastIndex: single.index, term: single.term };
            })()
          : target.core.proposeBatch(datas);
      assert.equal(result.lastIndex - result.firstIndex + 1, datas.length);
      for (let offset = 0; offset < datas.length; offset++) {
        const index = result.firstIndex + offset;
        const key = `${target.id}:${index}`;
        this.proposals.set(key, {
          commandId: commandIds[offset],
          nodeId: target.id,
          index,
          term: result.term,
          data: datas[offset],
          proposedTick: this.now,
        });
        if (final) {
          this.finalProposalKey = key;
          this.finalProposalTick = this.now;
        }
      }
      this.believedLeader = target.id;
      this.event(`propose ${commandIds.join(",")} at ${target.id} ${result.firstIndex}..${result.lastIndex}/${result.term}`);
      this.pump(target);
    } catch (error) {
      this.onClientError(target, error);
    }
  }

  private read(): void {
    // Reads go anywhere half the time: a deposed leader that still believes it leads must
    // not answer (ReadIndex confirms leadership with a quorum first).
    const live = this.liveNodes();
    const target = live.length > 0 && this.random.next() < 0.5 ? this.pick(live) : this.clientTarget();
    if (target === null || target.core === null || target.driver === null) return;
    const requestId = `r${this.readIdNext}`;
    this.readIdNext++;
    try {
      target.driver.readIndex((outcome) => {
        if (outcome.ok) {
          this.onReadReleased(target, requestId, outcome.index);
        } else {
          this.reads.delete(requestId);
          this.event(`read-failed ${requestId} at ${target.id}`);
        }
      });
      this.reads.set(requestId, { nodeId: target.id, ackIndexMin: this.ackIndexMax });
      this.believedLeader = target.id;
      this.event(`read ${requestId} at ${target.id} min=${this.ackIndexMax}`);
      this.pump(target);
    } catch (error) {
      this.onClientError(target, error);
    }
  }

  private onClientError(target: SimNode, error: unknown): void {
    if (error instanceof NotLeaderError) {
      // Follow the hint if it names someone else; otherwise try a random node next time.
      this.believedLeader = error.leaderHint !== null && error.leaderHint !== target.id ? error.leaderHint : null;
      return;
    }
    if (error instanceof UnavailableError) return;
    throw error;
  }

  private onReadReleased(node: SimNode, requestId: string, index: number): void {
    const read = this.reads.get(requestId);
    if (read === undefined) this.fail(`${node.id} released unknown read ${requestId}`);
    this.reads.delete(requestId);
    if (read.nodeId !== node.id) this.fail(`read ${requestId} released by ${node.id}, issued at ${read.nodeId}`);
    if (index < read.ackIndexMin) {
      this.fail(`stale read ${requestId} at ${node.id}: index ${index} misses a write acknowledged at ${read.ackIndexMin}`);
    }
    if (node.stateMachine.appliedIndex < index) this.fail(`read ${requestId} released before its index ${index} was applied`);
    this.readCount++;
    this.event(`read-ok ${requestId} at ${node.id} index=${index}`);
  }

  // -------------------------------------------------------------------------------------
  // Checkers.
  // -------------------------------------------------------------------------------------

  private checkCanonical(node: SimNode, entry: LogEntry, what: string): void {
    const known = this.canonical.get(entry.index);
    if (known === undefined) {
      this.canonical.set(entry.index, { term: entry.term, type: entry.type, data: entry.data });
      return;
    }
    if (known.term !== entry.term || known.type !== entry.type || !bytesEqual(known.data, entry.data)) {
      this.fail(
        `${node.id} ${what} entry ${entry.index} is ${entry.type}/${entry.term} but ${known.type}/${known.term} was committed there`,
      );
    }
  }

  private check(): void {
    for (const node of this.nodes.values()) {
      const core = node.core;
      if (core === null) continue;
      const status = core.status();
      const roleNow = `${status.role}/${status.term}`;
      if (roleNow !== node.roleSeen) {
        node.roleSeen = roleNow;
        if (status.role === "leader") this.event(`${node.id} leader t${status.term} voters=${status.voters.join(",")}`);
      }
      if (status.role === "leader") {
        const leader = this.leaderOfTerm.get(status.term);
        if (leader === undefined) this.leaderOfTerm.set(status.term, node.id);
        else if (leader !== node.id) this.fail(`two leaders in term ${status.term}: ${leader} and ${node.id}`);
      }
      if (status.commitIndex < node.commitIndexSeen) this.fail(`${node.id} commitIndex went back from ${node.commitIndexSeen} to ${status.commitIndex}`);
      node.commitIndexSeen = status.commitIndex;
      if (status.commitIndex > this.commitIndexMax) this.commitIndexMax = status.commitIndex;
      // Verify each committed index once per log rewrite: while rewriteCount is unchanged the
      // log only grew or was compacted, so checked entries cannot have changed.
      const log = core.logView();
      if (log.rewriteCount !== node.checkedRewriteCount) {
        node.checkedRewriteCount = log.rewriteCount;
        node.checkedIndex = 0;
      }
      const snapshotIndex = log.firstIndex() - 1;
      if (snapshotIndex > 0 && node.checkedIndex < snapshotIndex) {
        const known = this.canonical.get(snapshotIndex);
        if (known !== undefined && known.term !== log.term(snapshotIndex)) {
          this.fail(`${node.id} snapshot at ${snapshotIndex} has term ${log.term(snapshotIndex)}, committed ${known.term}`);
        }
      }
      for (let index = Math.max(node.checkedIndex + 1, log.firstIndex()); index <= status.commitIndex; index++) {
        this.checkCanonical(node, log.entry(index), "committed");
      }
      if (status.commitIndex > node.checkedIndex) node.checkedIndex = status.commitIndex;
    }
  }

  /** How many committed entries the furthest-behind node that any node counts as a voter lacks. */
  private lagEntries(): number {
    const voters = new Set<NodeId>();
    for (const node of this.nodes.values()) for (const voter of node.core?.status().voters ?? []) voters.add(voter);
    let appliedIndexMin = this.commitIndexMax;
    for (const voter of voters) {
      const node = this.nodes.get(voter);
      if (node !== undefined) appliedIndexMin = Math.min(appliedIndexMin, node.stateMachine.appliedIndex);
    }
    return this.commitIndexMax - appliedIndexMin;
  }

  /** After healing: a leader, the final command acknowledged, every voter caught up. */
  private converged(): boolean {
    if (this.finalAck === null) return false;
    const leader = this.currentLeader();
    if (leader === null || leader.core === null) return false;
    const target = Math.max(this.finalAck.index, this.ackIndexMax, this.commitIndexMax);
    for (const voter of leader.core.status().voters) {
      const node = this.nodes.get(voter);
      if (node === undefined) this.fail(`voter ${voter} does not exist`);
      if (node.core === null) return false;
      if (node.stateMachine.appliedIndex < target) return false;
    }
    return true;
  }

  private describeCluster(): string {
    const parts: string[] = [];
    for (const node of this.nodes.values()) {
      const status = node.core?.status();
      parts.push(
        status === undefined
          ? `${node.id}:down`
          : `${node.id}:${status.role}/t${status.term} log=${status.firstIndex}..${status.lastIndex} c=${status.commitIndex} a=${node.stateMachine.appliedIndex} v=${status.voters.join(",")}`,
      );
    }
    return `${parts.join(" ")} ackMax=${this.ackIndexMax} commitMax=${this.commitIndexMax} finalAck=${this.finalAck?.index ?? "none"}`;
  }

  // -------------------------------------------------------------------------------------
  // Transcript.
  // -------------------------------------------------------------------------------------

  private event(text: string): void {
    const line = `${this.now} ${text}`;
    this.eventCount++;
    this.transcriptHash.update(line);
    this.transcriptHash.update("\n");
    if (this.options.trace) process.stderr.write(`${line}\n`);
    this.transcriptTail.push(line);
    if (this.transcriptTail.length > TRANSCRIPT_TAIL_EVENTS) this.transcriptTail.shift();
  }

  private fail(reason: string, cause?: unknown): never {
    const { seed, scenario, nodeCount } = this.options;
    const message =
      `raft sim failed: seed=${seed} scenario=${scenario} nodes=${nodeCount} tick=${this.now}: ${reason}\n` +
      `replay: runSimulation({ seed: ${seed}, nodeCount: ${nodeCount}, scenario: "${scenario}" })\n` +
      `--- last ${this.transcriptTail.length} events ---\n${this.transcriptTail.join("\n")}`;
    throw new SimCheckError(message, cause === undefined ? undefined : { cause });
  }
}

/** Runs one simulation; throws SimCheckError (seed + transcript tail) when a check fails. */
export function runSimulation(options: SimOptions): SimResult {
  return new Simulation(options).run();
}
