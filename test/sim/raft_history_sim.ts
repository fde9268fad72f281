// In-process, deterministic Jepsen-style run of raft mode: three RaftCore + KvState nodes
// driven by the same RaftDriver as src/raft/node.ts, clients that behave like src/raft/client.ts
// (leader hints, retries with the same (clientId, seq), a per-attempt deadline, give-up after
// a bounded number of attempts), a simulated network (delay, reordering, loss), and a
// nemesis that crashes and restarts nodes and cuts one node off from the others (a minority:
// 1 of 3 at a time). Every client operation is recorded in a HistoryRecorder on the
// simulated clock and the history is checked with checkHistory, final reads included.
//
// One seed drives everything (SeededRandom), no real timers or sockets: the same seed gives
// the same history, so a failing seed replays exactly. What this covers that the process
// runner cannot: many seeds per second and rare interleavings (a leader cut off right after
// proposing, replies lost after the commit, retries racing the new leader). What it does not:
// the gRPC layer, disk storage, the real node's batching (one ReadIndex per read here).
//
// Storage model: a node persists everything ready() hands it before it sends (fsync
// "always"), so a crash loses only volatile state: the RaftCore, the KvState (rebuilt by
// re-applying the persisted committed log) and pending client requests.
import { EventQueue } from "./event_queue";
import { HistoryRecorder, History } from "../../src/check/history";
import { CheckResult, checkHistory } from "../../src/check/linearizability";
import { Clock, SeededRandom } from "../../src/core/env";
import { NotLeaderError } from "../../src/core/errors";
import assert from "node:assert/strict";
import { RAFT_CONFIG_DEFAULTS, RaftCore, RaftReady } from "../../src/raft/core";
import { RaftDriver, RaftHost, RaftOutcome } from "../../src/raft/driver";
import { KvState, decodeCommand, encodeCommand } from "../../src/raft/kv_state";
import { HardState, LogEntry, NodeId, RaftMessage } from "../../src/raft/types";

export interface SimHistoryOptions {
  seed: number;
  /** Simulated milliseconds of workload with faults. */
  durationMs?: number;
  clientCount?: number;
  keyCount?: number;
  /** Inject crashes and partitions (a minority at a time). */
  faults?: boolean;
  /** Probability that any one message (peer or client) is lost. */
  lossRate?: number;
  /**
   * Self-test of the harness only: "local-reads" makes every node, leader or not, answer gets
   * from its own state machine with no ReadIndex round: the classic stale-read bug (a
   * follower, or a node cut off from the others, serves what it last applied). The tests use
   * it to show that the harness and the checker catch a real violation.
   */
  mutation?: "local-reads";
}

export interface SimHistoryResult {
  seed: number;
  history: History;
  check: CheckResult;
  counts: { ok: number; fail: number; unknown: number };
  faults: string[];
  leaderTerms: number;
  simulatedMs: number;
  eventCount: number;
}

const NODE_COUNT = 3;
const TICK_MS = 10;
const ELECTION_TICKS = 10;
const HEARTBEAT_TICKS = 1;
const NETWORK_DELAY_MS_MIN = 1;
const NETWORK_DELAY_MS_MAX = 8;
const ATTEMPT_TIMEOUT_MS = 150;
const ATTEMPTS_MAX = 25;
const THINK_MS_MAX = 15;
const FAULT_GAP_MS_MIN = 200;
const FAULT_GAP_MS_MAX = 900;
const FAULT_HOLD_MS_MIN = 100;
const FAULT_HOLD_MS_MAX = 1_200;
const SETTLE_MS = 3_000;
const FINAL_READ_ROUNDS_MAX = 40;
/** A bound on simulated events: a run that does not settle is a bug, not a long run. */
const EVENTS_MAX = 5_000_000;

type Request =
  | { kind: "get"; key: string }
  | { kind: "set"; key: string; value: string; clientId: number; seq: number; floor: number }
  | { kind: "del"; key: string; clientId: number; seq: number; floor: number };

type Reply = { code: "ok"; value?: string | null } | { code: "not-leader"; leaderHint: number | null } | { code: "unavailable" };

interface SimNode {
  index: number;
  id: NodeId;
  core: RaftCore | null;
  /** The shared RaftDriver around the current core (src/raft/driver.ts), as node.ts uses it. */
  driver: RaftDriver | null;
  kv: KvState;
  /** Durable across crashes. */
  hardState: HardState | null;
  entries: LogEntry[];
  /** Crash generation: events scheduled for an earlier life are dropped. */
  life: number;
}

class Simulation {
  readonly queue = new EventQueue();
  readonly random: SeededRandom;
  readonly nodes: SimNode[];
  readonly ids: NodeId[];
  readonly recorder: HistoryRecorder;
  readonly faults: string[] = [];
  nowMs = 0;
  eventCount = 0;
  /** Pairs of node indexes that cannot talk, as "a-b" with a < b. */
  readonly cut = new Set<string>();
  readonly leaderTermsSeen = new Set<number>();
  private readonly lossRate: number;

  constructor(
    readonly seed: number,
    lossRate: number,
    readonly mutation: SimHistoryOptions["mutation"],
  ) {
    this.random = new SeededRandom(seed);
    this.lossRate = lossRate;
    this.ids = Array.from({ length: NODE_COUNT }, (_, index) => `n${index}`);
    const clock: Clock = { nowMs: () => this.nowMs };
    this.recorder = new HistoryRecorder(clock);
    this.nodes = this.ids.map((id, index) => ({
      index,
      id,
      core: null,
      driver: null,
      kv: new KvState(),
      hardState: null,
      entries: [],
      life: 0,
    }));
    for (const node of this.nodes) this.boot(node);
  }

  at(delayMs: number, run: () => void): void {
    this.queue.push(this.nowMs + delayMs, run);
  }

  delay(): number {
    return NETWORK_DELAY_MS_MIN + this.random.int(NETWORK_DELAY_MS_MAX - NETWORK_DELAY_MS_MIN + 1);
  }

  lost(): boolean {
    return this.lossRate > 0 && this.random.next() < this.lossRate;
  }

  runUntil(endMs: number): void {
    while (this.queue.size > 0) {
      const event = this.queue.pop()!;
      if (event.atMs > endMs) {
        this.queue.push(event.atMs, event.run);
        break;
      }
      this.nowMs = event.atMs;
      this.eventCount++;
      if (this.eventCount > EVENTS_MAX) throw new Error(`seed ${this.seed}: more than ${EVENTS_MAX} events`);
      event.run();
    }
    this.nowMs = Math.max(this.nowMs, endMs);
  }

  // ------------------------------------------------------------------ nodes (node.ts)

  boot(node: SimNode): void {
    node.life++;
    node.core = new RaftCore(
      {
        ...RAFT_CONFIG_DEFAULTS,
        id: node.id,
        voters: this.ids,
        electionTicks: ELECTION_TICKS,
        heartbeatTicks: HEARTBEAT_TICKS,
        random: new SeededRandom((this.seed * 31 + node.index * 1_009 + node.life * 7_919) | 0),
      },
      { hardState: node.hardState, snapshot: null, entries: node.entries.slice() },
    );
    // The state machine is memory: rebuilt by re-applying the committed log from ready().
    node.kv = new KvState();
    node.driver = new RaftDriver(node.core, this.hostFor(node), { snapshotEntries: 0 });
    const life = node.life;
    const tick = (): void => {
      if (node.life !== life || node.core === null) return;
      node.core.tick();
      this.process(node);
      this.at(TICK_MS, tick);
    };
    // Nodes tick out of phase, as separate processes would.
    this.at(1 + this.random.int(TICK_MS), tick);
    this.process(node);
  }

  crash(node: SimNode): void {
    node.core = null;
    node.driver = null;
    node.life++; // drops its timers and in-flight deliveries
  }

  deliver(message: RaftMessage): void {
    const from = this.ids.indexOf(message.from);
    const to = this.ids.indexOf(message.to);
    if (to < 0 || from < 0) return;
    if (this.cut.has(pairKey(from, to)) || this.lost()) return;
    const target = this.nodes[to];
    const life = target.life;
    this.at(this.delay(), () => {
      if (target.life !== life || target.core === null) return;
      if (this.cut.has(pairKey(from, to))) return; // cut while in flight
      target.core.step(message);
      this.process(target);
    });
  }

  process(node: SimNode): void {
    if (node.driver === null) return;
    node.driver.process();
    const status = node.driver.core.status();
    if (status.role === "leader") this.leaderTermsSeen.add(status.term);
  }

  /** The RaftHost of node.ts: persist, send, apply to the KV state machine. */
  private hostFor(node: SimNode): RaftHost {
    return {
      persist: (ready: RaftReady) => {
        if (ready.truncateFrom !== null) node.entries = node.entries.filter((entry) => entry.index < ready.truncateFrom!);
        for (const entry of ready.entriesToPersist) node.entries.push(entry);
        if (ready.hardState !== null) node.hardState = ready.hardState;
      },
      send: (messages) => {
        for (const message of messages) this.deliver(message);
      },
      restore: () => assert.fail("this simulation never compacts, so no snapshot is sent"),
      apply: (entry) => {
        if (entry.type === "command") node.kv.apply(decodeCommand(entry.data));
      },
    };
  }

  private hintOf(leaderId: NodeId | null): number | null {
    return leaderId === null ? null : this.ids.indexOf(leaderId);
  }

  /** A client request arriving at a node (node.ts handleOp). */
  handleRequest(node: SimNode, request: Request, reply: (reply: Reply) => void): void {
    const core = node.core;
    if (core === null) return; // a dead node answers nothing
    if (request.kind === "get" && this.mutation === "local-reads") {
      reply({ code: "ok", value: node.kv.get(Buffer.from(request.key))?.toString("utf8") ?? null });
      return;
    }
    const status = core.status();
    if (status.role !== "leader") {
      reply({ code: "not-leader", leaderHint: status.leaderId === null ? null : this.ids.indexOf(status.leaderId) });
      return;
    }
    const driver = node.driver!;
    const answer = (outcome: RaftOutcome, value?: () => string | null): void =>
      reply(outcome.ok ? { code: "ok", value: value?.() } : { code: "not-leader", leaderHint: this.hintOf(outcome.leaderHint) });
    try {
      if (request.kind === "get") {
        driver.readIndex((outcome) => answer(outcome, () => node.kv.get(Buffer.from(request.key))?.toString("utf8") ?? null));
      } else {
        const fields = { clientId: request.clientId, seq: request.seq, floor: request.floor, atMs: this.nowMs, key: Buffer.from(request.key) };
        const data = encodeCommand(request.kind === "set" ? { op: "set", ...fields, value: Buffer.from(request.value), expiresAtMs: 0 } : { op: "del", ...fields });
        driver.propose(data, (outcome) => answer(outcome));
      }
    } catch (error) {
      reply(error instanceof NotLeaderError ? { code: "not-leader", leaderHint: null } : { code: "unavailable" });
    }
    this.process(node);
  }
}

function pairKey(a: number, b: number): string {
  return a < b ? `${a}-${b}` : `${b}-${a}`;
}

/** A client like RaftClient: one operation at a time, retries with the same seq. */
class SimClient {
  private leader: number | null = null;
  private rotation: number;
  private nextSeq = 1;
  private operationNumber = 0;
  /** The operation in progress: replies for older ones are ignored. */
  private current: { operation: number; done: (outcome: Reply | null) => void } | null = null;

  constructor(
    private readonly simulation: Simulation,
    readonly name: string,
    private readonly numericId: number,
    private readonly random: SeededRandom,
  ) {
    this.rotation = random.int(NODE_COUNT);
  }

  /** Runs one request to completion: the reply, or null after ATTEMPTS_MAX attempts. */
  perform(request: Request, done: (reply: Reply | null) => void): void {
    const operation = ++this.operationNumber;
    this.current = { operation, done };
    let attempts = 0;
    let finished = false;
    const finish = (reply: Reply | null): void => {
      if (finished) return;
      finished = true;
      this.current = null;
      done(reply);
    };
    const attempt = (): void => {
      if (finished) return;
      if (attempts >= ATTEMPTS_MAX) return finish(null);
      attempts++;
      const target = this.leader ?? this.rotation % NODE_COUNT;
      const attemptNumber = attempts;
      let answered = false;
      const onReply = (reply: Reply): void => {
        if (finished) return;
        if (reply.code === "ok") return finish(reply); // any attempt's success is the operation's
        if (answered || attemptNumber !== attempts) return; // a stale refusal: the newer attempt decides
        answered = true;
        if (reply.code === "not-leader" && reply.leaderHint !== null && reply.leaderHint !== target) {
          this.leader = reply.leaderHint;
          attempt();
        } else {
          this.forget(target);
          this.simulation.at(5 + this.random.int(20), attempt);
        }
      };
      const simulation = this.simulation;
      if (!simulation.lost()) {
        simulation.at(simulation.delay(), () => {
          simulation.handleRequest(simulation.nodes[target], request, (reply) => {
            if (simulation.lost()) return;
            simulation.at(simulation.delay(), () => onReply(reply));
          });
        });
      }
      simulation.at(ATTEMPT_TIMEOUT_MS, () => {
        if (finished || answered || attemptNumber !== attempts) return;
        answered = true;
        this.forget(target);
        attempt();
      });
    };
    attempt();
  }

  takeSeq(): number {
    return this.nextSeq++;
  }

  get id(): number {
    return this.numericId;
  }

  private forget(target: number): void {
    if (this.leader === target) this.leader = null;
    this.rotation++;
  }
}

/** Runs one seed; deterministic. */
export function runSimRaftHistory(options: SimHistoryOptions): SimHistoryResult {
  const durationMs = options.durationMs ?? 5_000;
  const clientCount = options.clientCount ?? 4;
  const keys = Array.from({ length: options.keyCount ?? 2 }, (_, index) => `k${index}`);
  const simulation = new Simulation(options.seed, options.lossRate ?? 0.01, options.mutation);
  const random = simulation.random;
  const recorder = simulation.recorder;
  let running = true;

  // Clients: random get/set/del with think time; unique values c<client>-<n>.
  for (let clientIndex = 0; clientIndex < clientCount; clientIndex++) {
    const clientRandom = new SeededRandom((options.seed * 7_919 + clientIndex * 104_729) | 0);
    const client = new SimClient(simulation, `c${clientIndex}`, 1_000 + clientIndex, clientRandom);
    let counter = 0;
    const next = (): void => {
      if (!running) return;
      const draw = clientRandom.next();
      const key = keys[clientRandom.int(keys.length)];
      if (draw < 0.5) {
        const handle = recorder.invoke(client.name, { kind: "get", key });
        client.perform({ kind: "get", key }, (reply) => {
          if (reply?.code === "ok") recorder.ok(handle, reply.value ?? null);
          else recorder.fail(handle);
          simulation.at(clientRandom.int(THINK_MS_MAX + 1), next);
        });
        return;
      }
      const seq = client.takeSeq();
      const value = `${client.name}-${counter++}`;
      const request: Request = draw < 0.85 ? { kind: "set", key, value, clientId: client.id, seq, floor: seq } : { kind: "del", key, clientId: client.id, seq, floor: seq };
      const handle = recorder.invoke(client.name, request.kind === "set" ? { kind: "set", key, value } : { kind: "del", key });
      client.perform(request, (reply) => {
        // Gave up: the write may still be applied (a retry or the first attempt may commit).
        if (reply?.code === "ok") recorder.ok(handle);
        else recorder.unknown(handle);
        simulation.at(clientRandom.int(THINK_MS_MAX + 1), next);
      });
    };
    simulation.at(clientRandom.int(50), next);
  }

  // Nemesis: one fault at a time (a minority of 1 of 3): crash+restart or cut off one node.
  if (options.faults ?? true) {
    const nemesis = (): void => {
      if (!running) return;
      const victim = random.int(NODE_COUNT);
      const holdMs = FAULT_HOLD_MS_MIN + random.int(FAULT_HOLD_MS_MAX - FAULT_HOLD_MS_MIN + 1);
      const node = simulation.nodes[victim];
      const gapMs = FAULT_GAP_MS_MIN + random.int(FAULT_GAP_MS_MAX - FAULT_GAP_MS_MIN + 1);
      if (random.next() < 0.5) {
        simulation.faults.push(`${simulation.nowMs} ms: crash n${victim} for ${holdMs} ms`);
        simulation.crash(node);
        simulation.at(holdMs, () => {
          simulation.boot(node);
          simulation.at(gapMs, nemesis);
        });
      } else {
        simulation.faults.push(`${simulation.nowMs} ms: cut off n${victim} for ${holdMs} ms`);
        for (let other = 0; other < NODE_COUNT; other++) if (other !== victim) simulation.cut.add(pairKey(victim, other));
        simulation.at(holdMs, () => {
          simulation.cut.clear();
          simulation.at(gapMs, nemesis);
        });
      }
    };
    simulation.at(300, nemesis);
  }

  simulation.runUntil(durationMs);
  running = false;
  // Heal: restart crashed nodes, reconnect everyone; let in-flight operations finish.
  simulation.cut.clear();
  for (const node of simulation.nodes) if (node.core === null) simulation.boot(node);
  simulation.runUntil(simulation.nowMs + SETTLE_MS);

  // Final reads by a fresh client, recorded like any other operation.
  const reader = new SimClient(simulation, "final", 999, new SeededRandom(options.seed ^ 0x5eed));
  for (const key of keys) {
    for (let round = 0; round < FINAL_READ_ROUNDS_MAX; round++) {
      let outcome: Reply | null | undefined;
      const handle = recorder.invoke("final", { kind: "get", key });
      reader.perform({ kind: "get", key }, (reply) => (outcome = reply));
      while (outcome === undefined && simulation.queue.size > 0) simulation.runUntil(simulation.nowMs + 50);
      if (outcome?.code === "ok") {
        recorder.ok(handle, outcome.value ?? null);
        break;
      }
      recorder.fail(handle);
    }
  }

  const history = recorder.history();
  const counts = { ok: 0, fail: 0, unknown: 0 };
  for (const operation of history) counts[operation.status]++;
  return {
    seed: options.seed,
    history,
    check: checkHistory(history),
    counts,
    faults: simulation.faults,
    leaderTerms: simulation.leaderTermsSeen.size,
    simulatedMs: simulation.nowMs,
    eventCount: simulation.eventCount,
  };
}
