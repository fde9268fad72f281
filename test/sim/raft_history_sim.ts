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
//
// Requests are handled as node.ts handles them: a retry of a write the leader applied or
// holds in its log (RetryTable) never appends a second copy, which the run checks at the end
// on every node's committed log; a retry of an applied SET NX (setNxFraction) is answered
// with the result the state machine remembered (kv_state.ts). With `cache`, the nodes run a tight memory budget
// (allkeys-lru, a few keys fit) and clients set TTLs on some values: the leader's KvBudget
// decides evictions and expirations (on the simulated clock) and proposes them as drop
// commands; each drop proposed is recorded in the history as an "expire" of the value it
// names, from the proposal to its first apply (a drop that never applies: unknown; one that
// applies without dropping: failed), and reads of a value past its deadline first commit its
// expiry, as on a real node.
import { EventQueue } from "./event_queue";
import { HistoryRecorder, History, SETNX_APPLIED, SETNX_NOT_APPLIED } from "../../src/check/history";
import { CheckResult, checkHistory } from "../../src/check/linearizability";
import { Clock, SeededRandom } from "../../src/core/env";
import { NotLeaderError } from "../../src/core/errors";
import assert from "node:assert/strict";
import { RAFT_CONFIG_DEFAULTS, RaftCore, RaftReady } from "../../src/raft/core";
import { RaftDriver, RaftHost, RaftOutcome } from "../../src/raft/driver";
import { DropChoice, KV_BUDGET_ROUNDING_BYTES, KvBudget } from "../../src/raft/kv_budget";
import { KvApplyResult, KvCommand, KvState, commandSession, decodeCommand, encodeCommand } from "../../src/raft/kv_state";
import { RetryTable, sessionKey } from "../../src/raft/retry_table";
import { HardState, LogEntry, NodeId, RaftMessage } from "../../src/raft/types";
import { crc32 } from "../../src/codec/checksum";
import { OperationHandle } from "../../src/check/history";

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
  mutation?: "local-reads" | "nx-no-memory";
  /**
   * Fraction of operations that are SET NX, from the sets' share (default 0). Decided by the
   * state machine; a retry of one already applied is answered with its remembered result.
   * Mutation "nx-no-memory" (harness self-test) answers such a retry from the key's state
   * now instead, as a node without remembered results would.
   */
  setNxFraction?: number;
  /** A tight memory budget with evictions, and TTLs on some sets (see the header). */
  cache?: boolean;
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
  /** With `cache`: drops applied, by reason. */
  evictions: number;
  expirations: number;
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
  | { kind: "set"; key: string; value: string; clientId: number; seq: number; floor: number; ttlMs: number }
  | { kind: "del"; key: string; clientId: number; seq: number; floor: number }
  | { kind: "setnx"; key: string; value: string; clientId: number; seq: number; floor: number };

/** "oom": refused for memory (nothing written). written: a setnx's answer. */
type Reply = { code: "ok"; value?: string | null; written?: boolean } | { code: "not-leader"; leaderHint: number | null } | { code: "unavailable" } | { code: "oom" };

/** The budget of `cache` runs beyond the index and the rounding room: a few small entries. */
const CACHE_ENTRY_ROOM_BYTES = 60;
const TTL_MS_MIN = 20;
const TTL_MS_MAX_SIM = 300;

interface SimNode {
  index: number;
  id: NodeId;
  core: RaftCore | null;
  /** The shared RaftDriver around the current core (src/raft/driver.ts), as node.ts uses it. */
  driver: RaftDriver | null;
  kv: KvState;
  budget: KvBudget | null;
  retries: RetryTable;
  /** Eviction's sampling on this node (leader-local choices). */
  evictionRandom: SeededRandom;
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
  /** Drops proposed and not yet seen applied, by their entry ("term:index"): each key's history operation. */
  private readonly dropsInFlight = new Map<string, Array<{ id: string; handle: OperationHandle }>>();
  /** Every value written, by key and CRC-32 (a drop names a value by its checksum). */
  private readonly valuesByCrc = new Map<string, string>();
  evictions = 0;
  expirations = 0;

  constructor(
    readonly seed: number,
    lossRate: number,
    readonly mutation: SimHistoryOptions["mutation"],
    readonly cache: boolean,
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
      budget: null,
      retries: new RetryTable(),
      evictionRandom: new SeededRandom(seed ^ (index * 7_001)),
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
    node.kv = new KvState({ policy: "allkeys-lru" });
    node.budget = this.cache
      ? new KvBudget(node.kv, { maxBytes: KV_BUDGET_ROUNDING_BYTES + node.kv.indexBytes() + CACHE_ENTRY_ROOM_BYTES, policy: "allkeys-lru", expiryPassTicks: 10 })
      : null;
    node.retries = new RetryTable();
    node.driver = new RaftDriver(node.core, this.hostFor(node), { snapshotEntries: 0 });
    const life = node.life;
    const tick = (): void => {
      if (node.life !== life || node.core === null) return;
      node.core.tick();
      if (node.budget !== null && node.core.status().role === "leader") {
        for (const choice of node.budget.tick(this.nowMs, (below) => node.evictionRandom.int(below))) this.proposeDrop(node, choice);
      }
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
        let result: KvApplyResult | null = null;
        let session: string | null = null;
        if (entry.type === "command") {
          const command = decodeCommand(entry.data);
          result = node.kv.apply(command, entry.index);
          if (command.op !== "drop" && command.clientId !== 0) session = sessionKey(command.clientId, command.seq);
          if (command.op === "drop") this.dropApplied(`${entry.term}:${entry.index}`, command, result);
        }
        node.retries.applied(entry.index, session, result);
        return result;
      },
      onLeadership: (leading, status) => {
        if (!leading) {
          node.retries.clear(status.leaderId);
          return;
        }
        // As node.ts: learn the unapplied client commands this new leader holds.
        const log = node.core!.logView();
        for (let index = node.driver!.appliedIndex + 1; index <= log.lastIndex(); index++) {
          if (log.typeOf(index) !== "command") continue;
          const found = commandSession(log.entry(index).data);
          if (found !== null && found.clientId !== 0) node.retries.track(sessionKey(found.clientId, found.seq), index);
        }
      },
    };
  }

  /**
   * A leader proposes drops (evictions, expirations). Each key's value leaves the history as
   * an "expire" from now (the decision, before the commit) to the drop's first apply.
   */
  proposeDrop(node: SimNode, choice: DropChoice, after?: (outcome: RaftOutcome) => void): void {
    const budget = node.budget!;
    budget.noteDrops(choice);
    const data = encodeCommand({ op: "drop", atMs: this.nowMs, reason: choice.reason, keys: choice.keys });
    let index: number;
    try {
      index = node.driver!.propose(data, (outcome) => {
        budget.settleDrops(choice);
        after?.(outcome);
      });
    } catch {
      budget.settleDrops(choice);
      after?.({ ok: false, leaderHint: null, reason: "not proposed", maybeApplied: false });
      return;
    }
    const operations: Array<{ id: string; handle: OperationHandle }> = [];
    for (const dropped of choice.keys) {
      const key = dropped.key.toString("latin1");
      const crc = node.kv.summary(key)?.version === dropped.version ? crc32(node.kv.get(dropped.key)!) : null;
      const value = crc === null ? undefined : this.valuesByCrc.get(`${key}/${crc}`);
      if (value === undefined) continue; // the leader's state no longer holds that version: nothing to drop
      operations.push({ id: `${key}@${dropped.version}`, handle: this.recorder.invoke(`n${node.index}.drop`, { kind: "expire", key, value }) });
    }
    this.dropsInFlight.set(`${node.core!.status().term}:${index}`, operations);
  }

  /**
   * The first apply (on any node) of the drop entry `entryId` settles its history operations:
   * each key dropped, or left as it was (its version changed, or it is no longer due).
   */
  private dropApplied(entryId: string, command: Extract<KvCommand, { op: "drop" }>, result: KvApplyResult): void {
    const operations = this.dropsInFlight.get(entryId);
    if (operations === undefined) return;
    this.dropsInFlight.delete(entryId);
    const dropped = new Set(result.dropped.map((entry) => `${entry.key}@${entry.version}`));
    for (const { id, handle } of operations) {
      if (dropped.has(id)) {
        this.recorder.ok(handle);
        if (command.reason === "evict") this.evictions++;
        else this.expirations++;
      } else {
        this.recorder.fail(handle);
      }
    }
  }

  /** Drops proposed that no node applied by the end: their effect is unknown. */
  settleDropsInFlight(): void {
    for (const operations of this.dropsInFlight.values()) for (const { handle } of operations) this.recorder.unknown(handle);
    this.dropsInFlight.clear();
  }

  noteValue(key: string, value: string): void {
    this.valuesByCrc.set(`${key}/${crc32(Buffer.from(value))}`, value);
  }

  /** No node's committed log holds one client command twice (a retry never appended again). */
  checkNoDuplicateCommands(): void {
    for (const node of this.nodes) {
      const commitIndex = node.hardState?.commitIndex ?? 0;
      const seen = new Map<string, number>();
      for (const entry of node.entries) {
        if (entry.index > commitIndex || entry.type !== "command") continue;
        const found = commandSession(entry.data);
        if (found === null || found.clientId === 0) continue;
        const session = sessionKey(found.clientId, found.seq);
        const earlier = seen.get(session);
        if (earlier !== undefined) throw new Error(`seed ${this.seed}: n${node.index}'s committed log holds command ${session} twice (indexes ${earlier} and ${entry.index})`);
        seen.set(session, entry.index);
      }
    }
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
    const read = (): string | null => node.kv.get(Buffer.from(request.key))?.toString("utf8") ?? null;
    try {
      if (request.kind === "get") {
        driver.readIndex((outcome) => {
          const expiry = outcome.ok && node.budget !== null ? node.budget.expiryOnRead(request.key, this.nowMs) : null;
          if (expiry === null) return answer(outcome, read);
          // Past its deadline: commit the expiry first, then answer (node.ts does the same).
          this.proposeDrop(node, expiry, (dropOutcome) => answer(dropOutcome, read));
        });
      } else {
        const session = sessionKey(request.clientId, request.seq);
        const nx = request.kind === "setnx";
        // A setnx's answer: what its application did (node.ts resultOfConditional); null when not kept.
        const answerWrite = (outcome: RaftOutcome): void => {
          if (!nx || !outcome.ok) return answer(outcome);
          const written = (outcome.result as KvApplyResult | null)?.outcome?.written;
          reply(written === undefined ? { code: "unavailable" } : { code: "ok", written });
        };
        if (node.kv.sessionApplied(request.clientId, request.seq)) {
          if (!nx) return reply({ code: "ok" });
          if (this.mutation === "nx-no-memory") return reply({ code: "ok", written: read() === request.value });
          const remembered = node.kv.rememberedOutcome(request.clientId, request.seq);
          reply(remembered === null ? { code: "unavailable" } : { code: "ok", written: remembered.written });
          return;
        }
        const index = node.retries.find(session);
        if (index !== undefined) {
          node.retries.wait(index, answerWrite);
          return;
        }
        let growth = 0;
        if (request.kind !== "del" && node.budget !== null) {
          const bytes = node.kv.entryBytes(request.key, Buffer.byteLength(request.value), request.kind === "set" && request.ttlMs > 0, core.status().lastIndex + 1);
          growth = bytes.next - bytes.current;
          const admission = node.budget.admit(request.key, growth, this.nowMs, (below) => node.evictionRandom.int(below));
          if (!admission.ok) {
            reply({ code: "oom" });
            return;
          }
          if (admission.evictions !== null) this.proposeDrop(node, admission.evictions);
          node.budget.noteWrite(growth);
        }
        const fields = { clientId: request.clientId, seq: request.seq, floor: request.floor, atMs: this.nowMs, key: Buffer.from(request.key) };
        const data = encodeCommand(
          request.kind === "set"
            ? { op: "set", ...fields, value: Buffer.from(request.value), expiresAtMs: request.ttlMs > 0 ? this.nowMs + request.ttlMs : 0 }
            : request.kind === "setnx"
              ? { op: "set", ...fields, value: Buffer.from(request.value), expiresAtMs: 0, condition: "nx" }
              : { op: "del", ...fields },
        );
        try {
          const proposed = driver.propose(data, (outcome) => {
            node.budget?.settleWrite(growth);
            answerWrite(outcome);
          });
          node.retries.track(session, proposed);
        } catch (error) {
          node.budget?.settleWrite(growth);
          throw error;
        }
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

  /** Runs one request to completion: the reply, or null after ATTEMPTS_MAX attempts; and the attempts made. */
  perform(request: Request, done: (reply: Reply | null, attempts: number) => void): void {
    const operation = ++this.operationNumber;
    let attempts = 0;
    this.current = { operation, done: (reply) => done(reply, attempts) };
    let finished = false;
    const finish = (reply: Reply | null): void => {
      if (finished) return;
      finished = true;
      this.current = null;
      done(reply, attempts);
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
        if (reply.code === "oom") return finish(reply); // refused for memory: the caller judges
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
  const cache = options.cache ?? false;
  const keys = Array.from({ length: options.keyCount ?? (cache ? 4 : 2) }, (_, index) => `k${index}`);
  const simulation = new Simulation(options.seed, options.lossRate ?? 0.01, options.mutation, cache);
  const setNxFraction = options.setNxFraction ?? 0;
  assert(setNxFraction >= 0 && setNxFraction <= 0.35, "SET NX takes a share of the sets (0.35 of operations)");
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
      // With `cache`, a third of the sets expire after TTL_MS_MIN..TTL_MS_MAX_SIM.
      const ttlMs = cache && clientRandom.next() < 1 / 3 ? TTL_MS_MIN + clientRandom.int(TTL_MS_MAX_SIM - TTL_MS_MIN + 1) : 0;
      const request: Request =
        draw < 0.85 - setNxFraction
          ? { kind: "set", key, value, clientId: client.id, seq, floor: seq, ttlMs }
          : draw < 0.85
            ? { kind: "setnx", key, value, clientId: client.id, seq, floor: seq }
            : { kind: "del", key, clientId: client.id, seq, floor: seq };
      if (request.kind !== "del") simulation.noteValue(key, value);
      const handle = recorder.invoke(client.name, request.kind === "del" ? { kind: "del", key } : { kind: request.kind, key, value });
      client.perform(request, (reply, attempts) => {
        // Gave up: the write may still be applied (a retry or the first attempt may commit).
        // Refused for memory at the first attempt: it never happened.
        if (reply?.code === "ok" && request.kind === "setnx") recorder.ok(handle, reply.written === true ? SETNX_APPLIED : SETNX_NOT_APPLIED);
        else if (reply?.code === "ok") recorder.ok(handle);
        else if (reply?.code === "oom" && attempts === 1) recorder.fail(handle);
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

  simulation.settleDropsInFlight();
  simulation.checkNoDuplicateCommands();
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
    evictions: simulation.evictions,
    expirations: simulation.expirations,
  };
}
