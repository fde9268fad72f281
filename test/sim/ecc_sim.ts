// Seeded, deterministic simulator of ecc mode that runs the real protocol cores: n=5 nodes
// (k=3), each an EccNodeCore (src/ecc/node_core.ts, owning its EcShardReplica) plus its view
// control plane: a RaftCore carried out by the shared RaftDriver with a ViewStateMachine
// (src/ecc/view.ts), exactly the pieces src/ecc/control_plane.ts and src/ecc/node.ts drive;
// clients whose writes are EcWriteCoordinators and whose reads are EcReadCoordinators, the
// cores src/ecc/client.ts drives. Nothing here decides what the protocol does: the simulator
// is the network, the clock, the disk and the nemesis.
//
// Everything runs on one event queue with a virtual clock (integer ms) and one SeededRandom:
// the same seed gives the same transcript (hashed by the tests). Faults:
// - network: delay, a slow tail (reordering), loss (a timeout at the sender), duplicates;
// - nodes: pauses (process nothing, then catch up), crashes (memory gone: shards, staged
//   transactions, the cores; the control plane's Raft state survives, as it is fsynced), and
//   restarts that join as recovering, rebuild from k members and are promoted (bulk pulls of
//   a few keys each, bounded by a few hundred bytes per reply that differ per node so runs
//   are cut short and some blobs are too large for a reply; the keys the bulk path cannot
//   settle go through per-key reads);
// - clients: crash between EcPrepare and EcCommit, in the middle of the EcCommits, or at any
//   time; the crashed write's outcome is unknown.
// At most n-k nodes are faulty (down, paused, or not yet promoted) when a node fault starts.
//
// Checked after every event: a node's version of a key never goes back except when its
// shards are thrown away (removed from the view, or a crash); no two different values are
// committed at one (key, version); no node answers a read while it is not a member with
// complete shards; a node promoted to member holds, for every key, at least the version
// acknowledged to a client before its rebuild began; every shard a node installs (written,
// rebuilt in bulk or per key) is byte for byte the shard the writer encoded for that node;
// reads return only bytes some write wrote. After the faults stop: every node is promoted to member, no lock is left, every
// node holds the same version of every key, and the history, with a final read of every
// key, is linearizable (src/check).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { HistoryRecorder, History, OperationHandle } from "../../src/check/history";
import { CheckResult, checkHistory } from "../../src/check/linearizability";
import { crc32 } from "../../src/codec/checksum";
import { TableCodec } from "../../src/codec/table_codec";
import { SeededRandom } from "../../src/core/env";
import { EC_BACKOFF_MS_MAX, EC_BACKOFF_MS_MIN } from "../../src/core/limits";
import { Op, Result, ResultCode, WriteReason } from "../../src/gen/ecc";
import { Layout } from "../../src/ecc/layout";
import { EccNodeCore, NODE_TIMING, NodeEffect, OpBody } from "../../src/ecc/node_core";
import { EcReadCoordinator, ReadEffect, ReadRange, VersionedRead, resolveRange } from "../../src/ecc/read_coordinator";
import { EcShardReplica } from "../../src/ecc/shard_replica";
import { encodeBlobs } from "../../src/ecc/shard_coding";
import { View, ViewStateMachine, initialView } from "../../src/ecc/view";
import { EcWriteCoordinator, NodeReply, WriteCondition, WriteEffect, WriteExpiry } from "../../src/ecc/write_coordinator";
import { MemoryBudget } from "../../src/ecc/shard_replica";
import { EvictionPolicy } from "../../src/core/eviction";
import { ShardStore } from "../../src/storage/shard_store";
import { RAFT_CONFIG_DEFAULTS, RaftCore } from "../../src/raft/core";
import { RaftDriver } from "../../src/raft/driver";
import { HardState, LogEntry, RaftMessage } from "../../src/raft/types";
import { EventQueue } from "./event_queue";

export const N = 5;
export const K = 3;
const M = N - K;
const BLOCK_BYTES = 16;
/** Small chunks, so most shards take several EcPrepare messages and several EcGet replies. */
const CHUNK_BYTES = 24;
const LEASE_MS = 100;
const RPC_TIMEOUT_MS = 60;
const HEARTBEAT_TIMEOUT_MS = 120;
const NODE_TICK_MS = 10;
const CONTROL_ELECTION_TICKS = 10;
const CONTROL_HEARTBEAT_TICKS = 2;
const DELAY_MS_MIN = 1;
const DELAY_MS_MAX = 8;
const SLOW_MS_MAX = 40;
const WRITE_ATTEMPTS_MAX = 12;
const READ_ATTEMPTS_MAX = 20;
const VIEW_POLL_MS = 20;
const THINK_MS_MAX = 10;
/**
 * Wall-clock time (epoch ms, what the drivers take from Date.now()) is the virtual clock plus
 * this, so a core that mixes its monotonic clock with wall time misbehaves here as it would
 * in a real process.
 */
const WALL_EPOCH_MS = 1_800_000_000_000;
const TTL_MS_MIN = 30;
const TTL_MS_MAX = 400;
const REBUILD_READ_DELAY_MS_MAX = 80;
const TRANSCRIPT_TAIL = 80;
const EVENTS_MAX = 3_000_000;
const SETTLE_MS_MAX = 30_000;
/** The node core's timing, scaled to the simulated cluster. */
const SIM_NODE_TIMING = {
  ...NODE_TIMING,
  lockScanMs: 10,
  resolveRetryMs: 40,
  joinRetryMs: 30,
  rebuildRetryMs: 30,
  peerTimeoutMs: 60,
  listPageKeys: 1,
  rebuildReadsInFlightMax: 1,
  rebuildPullsInFlightMax: 2,
  /** Between a fast pull's round trips and a slow one's, so the window both opens and closes. */
  rebuildPullLatencyMs: 25,
  rebuildPullKeysMax: 3,
  rebuildPullAttemptsMax: 3,
  rebuildRunBytes: 40,
};
/**
 * Bytes per pull reply, by node: a key costs its blob, its key and 64 bytes, so 40 answers
 * one key a reply and refuses blobs above 40 bytes (the long values), 130 two small keys,
 * 200 three; the rest of a run is pulled again.
 */
const SIM_PULL_BYTES = [40, 200, 130, 200, 70];

export type PlantedBug =
  | "acknowledge-after-one-commit"
  | "restarted-member-serves-reads"
  | "rebuild-skips-generation-check"
  | "rebuild-pull-drops-disagreeing-keys";

export interface EccSimOptions {
  seed: number;
  /** Virtual ms of workload with faults. */
  durationMs?: number;
  clientCount?: number;
  keyCount?: number;
  lossRate?: number;
  duplicateRate?: number;
  /** Client crash probabilities (after the EcPrepare phase / mid-EcCommit / per nemesis step). */
  crashRate?: number;
  /** Share of messages that take up to SLOW_MS_MAX extra ms (default 0.08). */
  slowRate?: number;
  /** Share of operations that are gets (the rest: 5/6 sets, 1/6 dels). */
  readRatio?: number;
  /** Node pauses on or off, and the share of nemesis steps that pause a node. */
  pauses?: boolean;
  pauseRate?: number;
  /** Node crashes (with restart and recovery) on or off, and their share of nemesis steps. */
  nodeCrashes?: boolean;
  nodeCrashRate?: number;
  /**
   * Per-node memory budget, on the store's logical bytes (entries, no slab rounding: the
   * simulated values are tiny), and what nodes do over it. Default: none.
   */
  memoryBudgetBytes?: number;
  evictionPolicy?: EvictionPolicy;
  /** Share of sets that carry a TTL (of TTL_MS_MIN..TTL_MS_MAX virtual ms). */
  ttlRate?: number;
  /** Test-only: a bug planted in a real core; the checks must catch it. */
  plantedBug?: PlantedBug;
  /** Keep the whole transcript in the result (for debugging). */
  keepTranscript?: boolean;
}

export interface EccSimResult {
  seed: number;
  history: History;
  check: CheckResult;
  transcriptHash: string;
  counts: { ok: number; fail: number; unknown: number };
  clientCrashes: number;
  nodeCrashes: number;
  pauses: number;
  viewChanges: number;
  promotions: number;
  /** Rebuilds' keys settled by bulk pulls, keys sent to per-key reads, pulls sent again (finished rebuilds). */
  rebuild: { pulledKeys: number; fallbackKeys: number; pullsFailed: number };
  /** Keys dropped by the cluster (committed evictions and expirations), and TTL'd sets. */
  evictions: number;
  expirations: number;
  ttlSets: number;
  /**
   * A false failure detection on top of n-k real faults left more than n-k nodes without
   * their shards at once: data may be lost, so the run checks safety only (no final reads,
   * no liveness).
   */
  beyondBudget: boolean;
  resolutions: { commit: number; abort: number };
  eventCount: number;
  simulatedMs: number;
  transcript?: string[];
}

/** Budgets in the simulator count entry bytes, not slabs: a few tiny values never fill a slab. */
class LogicalBytesStore extends ShardStore {
  override heldBytes(): number {
    return this.logicalBytes();
  }
  override usedBytes(): number {
    return this.logicalBytes();
  }
  override bytesToAdd(keyBytes: number, shardBytes: number): number {
    return keyBytes + shardBytes;
  }
}

export class SimCheckError extends Error {
  /** The whole transcript, when the run kept it (keepTranscript). */
  transcript?: string[];
}

interface Disk {
  hardState: HardState | null;
  entries: LogEntry[];
}

interface SimNode {
  index: number;
  id: string;
  /** Bumped at every crash: events scheduled for an earlier life are dropped. */
  life: number;
  alive: boolean;
  pausedUntilMs: number;
  disk: Disk;
  core: EccNodeCore | null;
  raft: RaftCore | null;
  driver: RaftDriver | null;
  views: ViewStateMachine | null;
  /** The node's own client, for rebuild reads. */
  rebuildClient: SimClient | null;
  restartAtMs: number | null;
  /** Checker state: versions seen per key in this life/generation of the store. */
  lastVersion: Map<string, number>;
  /** Versions acknowledged to clients when the node's current rebuild generation began. */
  ackedAtGenerationStart: Map<string, number> | null;
  generationSeen: string;
}

type Outcome = { kind: "ok"; value?: string | null } | { kind: "fail"; reason: string } | { kind: "unknown"; reason: string };

/** A client: the workload's, or a node's own (rebuild reads). It drives the real coordinators. */
interface SimClient {
  label: string;
  slot: number;
  incarnation: number;
  alive: () => boolean;
  view: View | null;
  refreshWaiters: Array<(view: View | null) => void> | null;
  txCounter: number;
  op: { handle: OperationHandle; kind: "get" | "set" | "del"; key: string } | null;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex").slice(0, 12);

function describeBody(body: OpBody): string {
  switch (body.$case) {
    case "prepare":
      return `prepare ${body.value.key.toString()} tx=${hex(body.value.txId)} @${body.value.offset}+${body.value.data.length}${body.value.last ? " last" : ""}${body.value.tombstone ? " tomb" : ""}`;
    case "commit":
      return `commit ${body.value.key.toString()} tx=${hex(body.value.txId)} v=${body.value.version}${body.value.resolution ? " res" : ""}`;
    case "abort":
      return `abort ${body.value.key.toString()} tx=${hex(body.value.txId)}`;
    case "get":
      return `get ${body.value.key.toString()} v=${body.value.wantVersion} @${body.value.offset}`;
    case "txStatus":
      return `txStatus ${body.value.key.toString()} tx=${hex(body.value.txId)}`;
    case "join":
      return `join ${body.value.shardIndex}${body.value.promote ? " promote" : ""} e=${body.value.epoch}`;
    case "listKeys":
      return `listKeys @${body.value.offset}`;
    case "pullShards":
      return `pullShards ${body.value.keys.map((key) => key.toString()).join(",")} max=${body.value.bytesMax} e=${body.value.epoch}`;
    default:
      return body.$case;
  }
}

class EccSimulation {
  readonly random: SeededRandom;
  readonly queue = new EventQueue();
  readonly codec = new TableCodec(K, M);
  now = 0;
  faults = true;
  workload = true;
  eventCount = 0;
  readonly transcript: string[] = [];
  readonly hash = createHash("sha256");
  readonly recorder: HistoryRecorder;
  /** Wall-clock time now (epoch ms), as the drivers read Date.now(). */
  wall(): number {
    return WALL_EPOCH_MS + this.now;
  }
  readonly nodes: SimNode[];
  readonly keys: string[];
  /** Every value some client tried to write, by key: reads must return one of these. */
  readonly written: Map<string, Set<string>>;
  /**
   * (key, version) -> what was committed there and which nodes hold it. A node that crashes
   * or drops its shards stops holding; a version no live node holds may be used again (no
   * read could ever have decoded it from fewer than k shards).
   */
  readonly committedAt = new Map<string, { identity: string; holders: Set<number> }>();
  /** (key, version) -> every node that ever committed it (kept across crashes). */
  readonly everHeld = new Map<string, Set<number>>();
  /** More than n-k nodes were without their shards at once: data may be lost; no liveness owed. */
  beyondBudget = false;
  /** Highest version acknowledged to a client, per key. */
  readonly ackedVersion = new Map<string, number>();
  readonly clients: SimClient[] = [];
  readonly stats = { clientCrashes: 0, nodeCrashes: 0, pauses: 0, viewChanges: 0, promotions: 0, commit: 0, abort: 0, evictions: 0, expirations: 0, ttlSets: 0, pulledKeys: 0, fallbackKeys: 0, pullsFailed: 0 };
  /** Every value written, by its CRC-32: what an eviction at a version removes (for the history). */
  readonly valueByCrc = new Map<number, string>();
  private rpcCounter = 0;
  private readonly lossRate: number;
  private readonly duplicateRate: number;
  private readonly slowRate: number;
  private readonly crashRate: number;

  constructor(readonly options: EccSimOptions) {
    this.random = new SeededRandom(options.seed);
    this.lossRate = options.lossRate ?? 0.03;
    this.duplicateRate = options.duplicateRate ?? 0.03;
    this.slowRate = options.slowRate ?? 0.08;
    this.crashRate = options.crashRate ?? 0.04;
    this.recorder = new HistoryRecorder({ nowMs: () => this.now });
    this.keys = Array.from({ length: options.keyCount ?? 2 }, (_, i) => `k${i}`);
    this.written = new Map(this.keys.map((key) => [key, new Set<string>()]));
    this.nodes = Array.from({ length: N }, (_, index) => ({
      index,
      id: `n${index}`,
      life: 0,
      alive: false,
      pausedUntilMs: 0,
      disk: { hardState: null, entries: [] },
      core: null,
      raft: null,
      driver: null,
      views: null,
      rebuildClient: null,
      restartAtMs: null,
      lastVersion: new Map(),
      ackedAtGenerationStart: null,
      generationSeen: "",
    }));
  }

  // ------------------------------------------------------------------ plumbing

  log(line: string): void {
    const text = `${this.now} ${line}`;
    this.hash.update(text + "\n");
    this.transcript.push(text);
    if (!this.options.keepTranscript && this.transcript.length > TRANSCRIPT_TAIL * 4) this.transcript.splice(0, this.transcript.length - TRANSCRIPT_TAIL);
  }

  fail(message: string): never {
    const planted = this.options.plantedBug === undefined ? "" : ` (planted bug: ${this.options.plantedBug})`;
    const error = new SimCheckError(
      `ecc sim seed=${this.options.seed}${planted}: ${message}\n--- transcript tail ---\n` + this.transcript.slice(-TRANSCRIPT_TAIL).join("\n"),
    );
    if (this.options.keepTranscript) error.transcript = this.transcript;
    throw error;
  }

  at(delayMs: number, run: () => void): void {
    this.queue.push(this.now + Math.max(0, Math.floor(delayMs)), run);
  }

  delay(): number {
    return DELAY_MS_MIN + this.random.int(DELAY_MS_MAX - DELAY_MS_MIN + 1) + (this.faults && this.random.next() < this.slowRate ? this.random.int(SLOW_MS_MAX) : 0);
  }

  lost(): boolean {
    return this.faults && this.random.next() < this.lossRate;
  }

  /** Runs events until `untilMs` or until `stop()` holds. */
  runUntil(untilMs: number, stop?: () => boolean): void {
    for (;;) {
      if (stop !== undefined && stop()) return;
      const event = this.queue.pop();
      if (event === undefined) return;
      if (event.atMs > untilMs) {
        this.queue.push(event.atMs, event.run);
        this.now = untilMs;
        return;
      }
      this.now = event.atMs;
      event.run();
      if (++this.eventCount > EVENTS_MAX) this.fail(`more than ${EVENTS_MAX} events`);
    }
  }

  /**
   * One request/response exchange with node `to`. `onReply` runs exactly once, with the
   * node's Result or null (no answer within timeoutMs), unless `alive()` turned false first.
   */
  rpc(from: string, to: number, body: OpBody, epoch: number, timeoutMs: number, alive: () => boolean, onReply: (result: Result | null) => void): void {
    const id = ++this.rpcCounter;
    let done = false;
    const settle = (result: Result | null): void => {
      if (done) return;
      done = true;
      if (alive()) onReply(result);
    };
    const op: Op = { id, epoch, body };
    const deliver = (copy: number): void => {
      const node = this.nodes[to];
      if (!node.alive || node.core === null) {
        this.log(`#${id} ${from}->n${to} ${describeBody(body)} to a dead node`);
        return;
      }
      if (node.pausedUntilMs > this.now) {
        const life = node.life;
        this.queue.push(node.pausedUntilMs + this.random.int(3), () => {
          if (node.life === life) deliver(copy);
        });
        return;
      }
      const result = this.handle(node, op);
      this.log(`#${id}${copy > 0 ? "'" : ""} ${from}->n${to} ${describeBody(body)} => ${ResultCode[result.code]}`);
      if (this.lost()) {
        this.log(`#${id} reply lost`);
        return;
      }
      this.at(this.delay(), () => settle(result));
    };
    if (this.lost()) {
      this.log(`#${id} ${from}->n${to} ${describeBody(body)} lost`);
    } else {
      this.at(this.delay(), () => deliver(0));
      if (this.faults && this.random.next() < this.duplicateRate) this.at(this.delay() + this.random.int(20), () => deliver(1));
    }
    this.at(timeoutMs, () => settle(null));
  }

  // ------------------------------------------------------------------ nodes

  /** A node answers one request through its core; the simulator checks what it answered. */
  handle(node: SimNode, op: Op): Result {
    const core = node.core!;
    const raft = node.raft!;
    const status = raft.status();
    const { result, effects } = core.handle(op, this.now, status.role === "leader", status.leaderId ?? "", this.wall());
    if (op.body?.$case === "get" && result.code === ResultCode.RESULT_CODE_OK) {
      const view = core.view();
      if (!(view.members.includes(node.index) && core.state.kind === "member")) {
        this.fail(`n${node.index} answered a read while ${core.state.kind} in view ${view.epoch} (members ${view.members.join(",")})`);
      }
    }
    this.carryOutNode(node, effects);
    this.checkNode(node);
    // Copy: the replica hands out views of its store, which later writes may reuse.
    if (result.body?.$case === "get") return { ...result, body: { $case: "get", value: { ...result.body.value, data: Buffer.from(result.body.value.data) } } };
    return result;
  }

  boot(node: SimNode): void {
    node.life++;
    node.alive = true;
    node.restartAtMs = null;
    const hadState = node.disk.hardState !== null || node.disk.entries.length > 0;
    const raft = new RaftCore(
      {
        ...RAFT_CONFIG_DEFAULTS,
        id: node.id,
        voters: this.nodes.map((other) => other.id),
        electionTicks: CONTROL_ELECTION_TICKS,
        heartbeatTicks: CONTROL_HEARTBEAT_TICKS,
        random: new SeededRandom(this.random.int(0x7fffffff)),
      },
      { hardState: node.disk.hardState, snapshot: null, entries: node.disk.entries.slice() },
    );
    node.raft = raft;
    const memory: MemoryBudget | undefined =
      this.options.memoryBudgetBytes === undefined ? undefined : { maxBytes: this.options.memoryBudgetBytes, policy: this.options.evictionPolicy ?? "allkeys-lru" };
    const replica = new EcShardReplica({
      shardIndex: node.index,
      dataShards: K,
      parityShards: M,
      blockBytes: BLOCK_BYTES,
      address: node.id,
      store: new LogicalBytesStore(),
      memory,
      random: new SeededRandom(this.random.int(0x7fffffff)),
    });
    const reset = replica.reset.bind(replica);
    replica.reset = (): void => {
      reset();
      node.lastVersion = new Map(); // the store was emptied on purpose: versions start over
      this.forgetHoldings(node);
    };
    const dropTombstone = replica.dropTombstone.bind(replica);
    replica.dropTombstone = (key: string, nowMs: number): boolean => {
      const dropped = dropTombstone(key, nowMs);
      if (dropped) {
        // A forgotten tombstone reads as version 0: the key's versions may start over.
        node.lastVersion.delete(key);
        for (const [slot, held] of this.committedAt) if (slot.startsWith(`${key}@`)) held.holders.delete(node.index);
      }
      return dropped;
    };
    node.lastVersion = new Map();
    let core: EccNodeCore | null = null;
    node.views = new ViewStateMachine(initialView(N), N, K, (view) => {
      this.stats.viewChanges++;
      this.log(`n${node.index} view ${view.epoch} members=${view.members.join(",")} recovering=${view.recovering.join(",")}`);
      if (core !== null) this.carryOutNode(node, core.onView(view, this.now));
    });
    core = new EccNodeCore({
      shardIndex: node.index,
      shardCount: N,
      dataShards: K,
      blockBytes: BLOCK_BYTES,
      address: node.id,
      heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
      needsRebuild: hadState,
      initialView: node.views.view(),
      codec: this.codec,
      replica,
      memory,
      random: new SeededRandom(this.random.int(0x7fffffff)),
      timing: { ...SIM_NODE_TIMING, rebuildPullBytes: SIM_PULL_BYTES[node.index] },
      plantedBug: this.options.plantedBug === "acknowledge-after-one-commit" ? undefined : this.options.plantedBug,
    });
    node.core = core;
    node.driver = new RaftDriver(raft, {
      persist: (ready) => {
        if (ready.truncateFrom !== null) node.disk.entries = node.disk.entries.filter((entry) => entry.index < ready.truncateFrom!);
        for (const entry of ready.entriesToPersist) node.disk.entries.push(entry);
        if (ready.hardState !== null) node.disk.hardState = ready.hardState;
      },
      send: (messages) => {
        for (const message of messages) this.sendRaft(message);
      },
      restore: () => assert.fail("the simulated control plane never compacts"),
      apply: (entry) => {
        if (entry.type === "command" && !node.views!.apply(entry)) this.log(`n${node.index} skips stale view entry ${entry.index}`);
      },
    }, { snapshotEntries: 0 });
    const life = node.life;
    // Its own tx ids: slot -(1 + node index), incarnation = the node's life (a client's are unique in production).
    node.rebuildClient = this.newClient(`n${node.index}.rebuild`, -(1 + node.index), life, () => node.alive && node.life === life);
    this.log(`n${node.index} BOOT life=${life}${hadState ? " (control state on disk: rebuilds)" : ""}`);
    const tick = (): void => {
      if (node.life !== life || !node.alive) return;
      if (node.pausedUntilMs <= this.now) {
        raft.tick();
        node.driver!.process();
        const status = raft.status();
        const leaderIndex = status.leaderId === null ? null : this.nodes.findIndex((other) => other.id === status.leaderId);
        this.carryOutNode(node, core!.tick(this.now, status.role === "leader", leaderIndex, this.wall()));
        this.checkNode(node);
      }
      this.at(NODE_TICK_MS, tick);
    };
    this.at(1 + this.random.int(NODE_TICK_MS), tick);
    node.driver.process();
  }

  crashNode(node: SimNode): void {
    node.life++;
    node.alive = false;
    node.core = null;
    node.raft = null;
    node.driver = null;
    node.views = null;
    node.rebuildClient = null;
    node.ackedAtGenerationStart = null;
    node.generationSeen = "";
    node.lastVersion = new Map();
    this.forgetHoldings(node);
    node.restartAtMs = this.now + 50 + this.random.int(350);
    this.stats.nodeCrashes++;
    this.log(`n${node.index} CRASH (restarts at ${node.restartAtMs})`);
    const life = node.life;
    this.queue.push(node.restartAtMs, () => {
      if (node.life === life && !node.alive) this.boot(node);
    });
  }

  sendRaft(message: RaftMessage): void {
    if (this.lost()) return;
    const copies = this.faults && this.random.next() < this.duplicateRate ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      this.at(this.delay(), () => this.deliverRaft(message));
    }
  }

  deliverRaft(message: RaftMessage): void {
    const target = this.nodes.find((node) => node.id === message.to);
    if (target === undefined || !target.alive || target.raft === null) return;
    if (target.pausedUntilMs > this.now) {
      const life = target.life;
      this.queue.push(target.pausedUntilMs + this.random.int(3), () => {
        if (target.life === life) this.deliverRaft(message);
      });
      return;
    }
    target.raft.step(message);
    target.driver!.process();
  }

  /**
   * Runs `run` on `node` as its process would: not at all if it crashed since (another life),
   * and only after a pause ends if it is paused (a stopped process handles nothing).
   */
  onNode(node: SimNode, life: number, run: () => void): void {
    if (!node.alive || node.life !== life) return;
    if (node.pausedUntilMs > this.now) {
      this.queue.push(node.pausedUntilMs + this.random.int(3), () => this.onNode(node, life, run));
      return;
    }
    run();
  }

  carryOutNode(node: SimNode, effects: NodeEffect[]): void {
    const life = node.life;
    const alive = (): boolean => node.alive && node.life === life;
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          this.rpc(`n${node.index}`, effect.node, effect.body, 0, effect.timeoutMs, alive, (result) =>
            this.onNode(node, life, () => {
              const reply = result === null ? ({ kind: "silent", message: "no answer" } as const) : ({ kind: "ok", result } as const);
              this.carryOutNode(node, node.core!.onPeerReply(effect.purpose, reply, this.now, this.wall()));
            }),
          );
          break;
        case "proposeView": {
          const raft = node.raft!;
          if (raft.status().role !== "leader") break;
          const proposal = node.views!.proposal(effect.change);
          if (proposal === null) break;
          this.log(`n${node.index} proposes view ${proposal.view.epoch} (${effect.change.kind}) members=${proposal.view.members.join(",")} recovering=${proposal.view.recovering.join(",")}`);
          try {
            node.driver!.propose(proposal.data, () => undefined);
            node.driver!.process();
          } catch (error) {
            this.log(`n${node.index} proposal refused: ${(error as Error).message}`);
          }
          break;
        }
        case "rebuildRead":
          // Random delays before and after the read: rebuilds take long enough here for a view
          // change (removal, rejoin, a new rebuild) to overtake one.
          this.at(effect.delayMs + this.random.int(REBUILD_READ_DELAY_MS_MAX), () =>
            this.onNode(node, life, () =>
              this.read(
                node.rebuildClient!,
                effect.key,
                (read) =>
                  this.at(this.random.int(REBUILD_READ_DELAY_MS_MAX), () =>
                    this.onNode(node, life, () => this.carryOutNode(node, node.core!.onRebuildRead(effect.generation, effect.key, read, this.now, this.wall()))),
                  ),
                true, // a rebuild installs expired values as they are: their owner drops them
              ),
            ),
          );
          break;
        case "repairRead":
          this.at(effect.delayMs, () =>
            this.onNode(node, life, () =>
              this.read(
              node.rebuildClient!,
              effect.key,
                (read) => this.onNode(node, life, () => this.carryOutNode(node, node.core!.onRepairRead(effect.key, read, this.wall()))),
                true,
              ),
            ),
          );
          break;
        case "dropKey":
          this.onNode(node, life, () =>
            this.drop(node, effect.key, effect.version, effect.reason, () => this.onNode(node, life, () => node.core!.onDropDone(effect.key))),
          );
          break;
        case "log":
          if (effect.event === "ec.key_evicted") this.stats.evictions++;
          if (effect.event === "ec.key_expired") this.stats.expirations++;
          if (effect.event === "ec.rebuild_finished") {
            this.stats.pulledKeys += Number(effect.fields.pulledKeys ?? 0);
            this.stats.fallbackKeys += Number(effect.fields.fallbackKeys ?? 0);
            this.stats.pullsFailed += Number(effect.fields.pullsFailed ?? 0);
          }
          if (effect.event === "ec.tx_resolved") {
            if (effect.fields.decision === "commit") this.stats.commit++;
            else this.stats.abort++;
          }
          if (effect.level !== "debug") this.log(`n${node.index} ${effect.event} ${JSON.stringify(effect.fields)}`);
          break;
      }
    }
  }

  // ------------------------------------------------------------------ invariants

  checkNode(node: SimNode): void {
    const core = node.core;
    if (core === null) return;
    const state = core.state;
    const generationKey = state.kind === "member" ? "member" : `${state.kind}:${state.generation}`;
    if (state.kind === "recovering" && !node.generationSeen.startsWith(`recovering:${state.generation}`)) {
      // A rebuild generation begins: remember what clients were told was written by now.
      node.ackedAtGenerationStart = new Map(this.ackedVersion);
    }
    if (state.kind === "member" && node.generationSeen !== "member" && node.generationSeen !== "") {
      this.stats.promotions++;
      const before = node.ackedAtGenerationStart;
      if (before !== null) {
        for (const [key, version] of before) {
          const held = core.replica.store.version(key);
          if (held < version) this.fail(`n${node.index} was promoted holding ${key}@${held}, below version ${version} acknowledged before its rebuild began`);
        }
      }
      node.ackedAtGenerationStart = null;
    }
    node.generationSeen = generationKey;
    for (const key of this.keys) {
      const entry = core.replica.store.get(key);
      const version = entry?.version ?? 0;
      const last = node.lastVersion.get(key) ?? 0;
      if (version < last) this.fail(`n${node.index}: version of ${key} went back from ${last} to ${version}`);
      node.lastVersion.set(key, version);
      if (entry === null) continue;
      if (version !== last && !entry.tombstone) this.checkShard(node, key, entry);
      const identity = `crc=${entry.valueCrc32} tomb=${entry.tombstone} bytes=${entry.valueBytes}`;
      const slot = `${key}@${version}`;
      const ever = this.everHeld.get(slot);
      if (ever === undefined) this.everHeld.set(slot, new Set([node.index]));
      else ever.add(node.index);
      const seen = this.committedAt.get(slot);
      if (seen !== undefined && seen.identity !== identity) {
        // A node the newest view no longer lists drops its shards as soon as it learns so,
        // and serves nothing meanwhile (every request carries the epoch): what it holds does
        // not count against what the nodes of the view committed.
        const inView = this.inNewestView();
        for (const holder of [...seen.holders]) if (!inView.has(holder)) seen.holders.delete(holder);
        if (!inView.has(node.index)) continue;
      }
      if (seen === undefined || seen.holders.size === 0) this.committedAt.set(slot, { identity, holders: new Set([node.index]) });
      else if (seen.identity !== identity) {
        this.fail(`two different values committed at ${slot}: ${seen.identity} (held by ${[...seen.holders].map((i) => `n${i}`).join(",")}) vs ${identity} (n${node.index})`);
      } else seen.holders.add(node.index);
    }
    this.checkBudget();
  }

  /** A newly installed shard is exactly the one the writer of its value encoded for this node. */
  checkShard(node: SimNode, key: string, entry: { version: number; valueBytes: number; valueCrc32: number; shardCrc32: number; shard: Buffer }): void {
    const value = this.valueByCrc.get(entry.valueCrc32);
    if (value === undefined) this.fail(`n${node.index} holds ${key}@${entry.version} of a value nobody wrote (crc ${entry.valueCrc32})`);
    const bytes = Buffer.from(value, "utf8");
    if (bytes.length !== entry.valueBytes) this.fail(`n${node.index} holds ${key}@${entry.version} of ${entry.valueBytes} bytes; its value has ${bytes.length}`);
    const expected = encodeBlobs(this.codec, { valueBytes: bytes.length, blockBytes: BLOCK_BYTES, dataShards: K, parityShards: M }, bytes)[node.index];
    if (!entry.shard.subarray(0, expected.length).equals(expected) || entry.shardCrc32 !== crc32(expected)) {
      this.fail(`n${node.index} holds a wrong shard of ${key}@${entry.version} (${JSON.stringify(value)})`);
    }
  }

  /** The node no longer holds what it committed (crash, or its shards were dropped). */
  forgetHoldings(node: SimNode): void {
    for (const slot of this.committedAt.values()) slot.holders.delete(node.index);
  }

  checkBudget(): void {
    if (this.beyondBudget) return;
    const shardless = this.nodes.filter((node) => !node.alive || node.core === null || node.core.state.kind !== "member").length;
    if (shardless > M) {
      this.beyondBudget = true;
      this.log(`BEYOND BUDGET: ${shardless} nodes without complete shards at once`);
    }
  }

  // ------------------------------------------------------------------ clients

  newClient(label: string, slot: number, incarnation: number, alive: () => boolean): SimClient {
    return { label, slot, incarnation, alive, view: null, refreshWaiters: null, txCounter: 0, op: null };
  }

  /** EcClient.refreshView: ask every node for its view, keep the newest; one refresh at a time. */
  refreshView(client: SimClient, done: (view: View | null) => void): void {
    if (client.refreshWaiters !== null) {
      client.refreshWaiters.push(done);
      return;
    }
    const waiters = [done];
    client.refreshWaiters = waiters;
    let pending = N;
    for (let index = 0; index < N; index++) {
      this.rpc(client.label, index, { $case: "getView", value: {} }, 0, RPC_TIMEOUT_MS, client.alive, (result) => {
        if (result !== null && result.body?.$case === "view") this.adoptView(client, result.body.value);
        if (--pending > 0) return;
        client.refreshWaiters = null;
        for (const waiter of waiters) waiter(client.view);
      });
    }
  }

  adoptView(client: SimClient, wire: { epoch: number; members: number[]; recovering: number[] } | undefined): void {
    if (wire === undefined || wire.epoch === 0) return;
    if (client.view === null || wire.epoch > client.view.epoch) client.view = { epoch: wire.epoch, members: [...wire.members], recovering: [...wire.recovering] };
  }

  /** A node's Result as the coordinators see it (EcClient.nodeReply). */
  nodeReply<T>(client: SimClient, result: Result | null, expected: "prepare" | "commit" | "get" | "txStatus"): NodeReply<T> {
    if (result === null) return { kind: "silent", message: "no answer" };
    if (result.code === ResultCode.RESULT_CODE_OK && result.body?.$case === expected) {
      return { kind: "ok", body: result.body.value as unknown as T };
    }
    this.adoptView(client, result.currentView);
    const wire = result.currentView;
    return {
      kind: "refused",
      code: result.code === ResultCode.RESULT_CODE_OK ? ResultCode.RESULT_CODE_INTERNAL : result.code,
      message: result.message,
      view: wire === undefined || wire.epoch === 0 ? null : { epoch: wire.epoch, members: [...wire.members], recovering: [...wire.recovering] },
    };
  }

  /** Carries out a core's shared effects (EcClient.drive); node effects go to `send`. */
  drive<E extends { kind: string }>(
    client: SimClient,
    start: (view: View) => E[],
    send: (effect: E, carryOut: (effects: E[]) => void) => boolean | "stop",
    onViewRefreshed: (view: View | null) => E[],
    onTimer: (timer: number) => E[],
    done: (effect: E) => void,
  ): void {
    const carryOut = (effects: E[]): void => {
      if (!client.alive()) return;
      for (const effect of effects) {
        const handled = send(effect, carryOut);
        if (handled === "stop") return;
        if (handled) continue;
        const common = effect as unknown as { kind: string; timer: number; ms: number };
        switch (common.kind) {
          case "refreshView":
            this.refreshView(client, (view) => carryOut(onViewRefreshed(view)));
            break;
          case "wait":
            this.at(common.ms, () => {
              if (client.alive()) carryOut(onTimer(common.timer));
            });
            break;
          default:
            done(effect);
        }
      }
    };
    const begin = (view: View | null): void => {
      if (view === null) {
        done({ kind: "fail", error: new Error("no node answered with its view") } as unknown as E);
        return;
      }
      carryOut(start(view));
    };
    if (client.view !== null) begin(client.view);
    else this.refreshView(client, begin);
  }

  read(
    client: SimClient,
    key: string,
    done: (read: VersionedRead | { kind: "error"; message: string; retryable: boolean }) => void,
    includeExpired = false,
    bytes?: ReadRange,
  ): void {
    const coordinator = new EcReadCoordinator({
      key: Buffer.from(key, "latin1"),
      codec: this.codec,
      dataShards: K,
      shardCount: N,
      chunkBytesMax: CHUNK_BYTES,
      attemptsMax: READ_ATTEMPTS_MAX,
      backoffMsMin: EC_BACKOFF_MS_MIN,
      backoffMsMax: EC_BACKOFF_MS_MAX,
      extraNodes: this.random.int(2),
      hedgeAfterMs: this.random.next() < 0.5 ? null : 20 + this.random.int(40),
      random: this.random,
      includeExpired,
      bytes,
    });
    this.drive<ReadEffect>(
      client,
      (view) => coordinator.start(view, this.wall()),
      (effect, carryOut) => {
        if (effect.kind !== "get") return false;
        this.rpc(client.label, effect.node, { $case: "get", value: effect.request }, effect.epoch, RPC_TIMEOUT_MS, client.alive, (result) =>
          carryOut(coordinator.onGetReply(effect.attempt, effect.node, this.nodeReply(client, result, "get"), this.wall())),
        );
        return true;
      },
      (view) => coordinator.onViewRefreshed(view, this.wall()),
      (timer) => coordinator.onTimer(timer, this.wall()),
      (effect) => {
        if (effect.kind === "succeed") {
          const result = (effect as Extract<ReadEffect, { kind: "succeed" }>).result;
          if (result.kind === "value") {
            const written = [...this.written.get(key)!].map((text) => Buffer.from(text, "utf8"));
            const cut = (value: Buffer): Buffer => {
              const range = bytes === undefined ? null : resolveRange(bytes, value.length);
              return bytes === undefined ? value : range === null ? Buffer.alloc(0) : value.subarray(range.start, range.end + 1);
            };
            if (!written.some((value) => value.length === result.valueBytes && cut(value).equals(result.value))) {
              this.fail(`read of ${key}${bytes === undefined ? "" : ` bytes ${bytes.start}..${bytes.end}`} returned bytes no write wrote: ${JSON.stringify(result.value.toString("utf8"))}`);
            }
          }
          done(result);
        } else {
          const error = (effect as Extract<ReadEffect, { kind: "fail" }>).error;
          done({ kind: "error", message: error.message, retryable: (error as { retryable?: boolean }).retryable !== false });
        }
      },
    );
  }

  write(
    client: SimClient,
    keyString: string,
    value: Buffer | null,
    done: (outcome: Outcome) => void,
    extra: { expiry?: WriteExpiry; condition?: WriteCondition; reason?: WriteReason } = {},
  ): void {
    const key = Buffer.from(keyString, "latin1");
    const bytes = value ?? Buffer.alloc(0);
    const layout: Layout = { valueBytes: bytes.length, blockBytes: BLOCK_BYTES, dataShards: K, parityShards: M };
    const blobs = value === null ? null : encodeBlobs(this.codec, layout, bytes);
    const coordinator = new EcWriteCoordinator({
      key,
      blobs,
      shardCrc32s: blobs === null ? null : blobs.map((blob) => crc32(blob)),
      layout,
      valueCrc32: crc32(bytes),
      dataShards: K,
      shardCount: N,
      lockLeaseMs: LEASE_MS,
      chunkBytesMax: CHUNK_BYTES,
      attemptsMax: WRITE_ATTEMPTS_MAX,
      backoffMsMin: EC_BACKOFF_MS_MIN,
      backoffMsMax: EC_BACKOFF_MS_MAX,
      unavailableWaitMs: 4 * HEARTBEAT_TIMEOUT_MS + RPC_TIMEOUT_MS,
      viewPollMs: VIEW_POLL_MS,
      confirmWaitMs: 4 * HEARTBEAT_TIMEOUT_MS + RPC_TIMEOUT_MS,
      random: this.random,
      newTxId: () => {
        const txId = Buffer.alloc(16);
        txId.writeInt32BE(client.slot, 0);
        txId.writeUInt32BE(client.incarnation, 4);
        txId.writeDoubleBE(++client.txCounter, 8);
        return txId;
      },
      plantedBug: this.options.plantedBug === "acknowledge-after-one-commit" ? "acknowledge-after-one-commit" : undefined,
      expiry: extra.expiry,
      condition: extra.condition,
      reason: extra.reason,
    });
    let crashChecked = false;
    this.drive<WriteEffect>(
      client,
      (view) => coordinator.start(view, this.wall()),
      (effect, carryOut) => {
        switch (effect.kind) {
          case "prepare":
            this.rpc(client.label, effect.node, { $case: "prepare", value: effect.request }, effect.epoch, RPC_TIMEOUT_MS, client.alive, (result) =>
              carryOut(coordinator.onPrepareReply(effect.attempt, effect.node, this.nodeReply(client, result, "prepare"), this.wall())),
            );
            return true;
          case "commit":
            if (!crashChecked) {
              // The commits of an attempt come together: crash before them, or after some.
              crashChecked = true;
              if (this.faults && this.random.next() < this.crashRate) {
                this.crashClient(client, `after EcPrepare of ${keyString}`);
                return "stop";
              }
            }
            if (this.faults && this.random.next() < this.crashRate / N) {
              this.crashClient(client, `in the middle of the EcCommits of ${keyString}`);
              return "stop";
            }
            this.rpc(client.label, effect.node, { $case: "commit", value: effect.request }, effect.epoch, RPC_TIMEOUT_MS, client.alive, (result) =>
              carryOut(coordinator.onCommitReply(effect.attempt, effect.node, this.nodeReply(client, result, "commit"), this.wall())),
            );
            return true;
          case "txStatus":
            this.rpc(client.label, effect.node, { $case: "txStatus", value: effect.request }, 0, RPC_TIMEOUT_MS, client.alive, (result) =>
              carryOut(coordinator.onTxStatusReply(effect.round, effect.node, this.nodeReply(client, result, "txStatus"), this.wall())),
            );
            return true;
          case "abort":
            this.rpc(client.label, effect.node, { $case: "abort", value: { key: effect.key, txId: effect.txId } }, effect.epoch, RPC_TIMEOUT_MS, client.alive, () => undefined);
            return true;
          default:
            return false;
        }
      },
      (view) => coordinator.onViewRefreshed(view, this.wall()),
      (timer) => coordinator.onTimer(timer, this.wall()),
      (effect) => {
        if (effect.kind === "succeed") {
          const result = (effect as Extract<WriteEffect, { kind: "succeed" }>).result;
          if (!result.applied) {
            done({ kind: "fail", reason: `condition did not hold (version ${result.version})` });
            return;
          }
          const version = result.version;
          // The success rule: k nodes committed before the client was told.
          const held = this.everHeld.get(`${keyString}@${version}`)?.size ?? 0;
          if (held < K) this.fail(`${client.label}'s write of ${keyString}@${version} was acknowledged when only ${held} node(s) had committed it`);
          this.ackedVersion.set(keyString, Math.max(this.ackedVersion.get(keyString) ?? 0, version));
          done({ kind: "ok" });
          return;
        }
        const error = (effect as Extract<WriteEffect, { kind: "fail" }>).error;
        // Only "outcome unknown" may have been applied; every other failure must not have been.
        if (error.name === "OutcomeUnknownError") done({ kind: "unknown", reason: error.message });
        else done({ kind: "fail", reason: error.message });
      },
    );
  }

  /**
   * The history's account of a TTL: "expire(key, value)" somewhere in [deadline - 1, the
   * later of the deadline and the write's return]; the value goes if it is still the key's
   * then. Failed write: the expiry is failed too; unknown write: an unknown expiry.
   */
  expiring(key: string, value: string, deadline: number): { writeEnded: (outcome: Outcome["kind"]) => void } {
    let handle: OperationHandle | null = null;
    let writeOutcome: Outcome["kind"] | null = null;
    let writeEndedAt = 0;
    const finish = (): void => {
      if (handle === null || writeOutcome === null) return;
      const h = handle;
      if (writeOutcome === "fail") this.recorder.fail(h);
      else if (writeOutcome === "unknown") this.recorder.unknown(h);
      else this.queue.push(Math.max(deadline, writeEndedAt, this.now), () => this.recorder.ok(h));
      handle = null;
    };
    this.queue.push(Math.max(deadline - 1, this.now), () => {
      handle = this.recorder.invoke("ttl", { kind: "expire", key, value });
      finish();
    });
    return {
      writeEnded: (outcome) => {
        writeOutcome = outcome;
        writeEndedAt = this.now;
        finish();
      },
    };
  }

  /**
   * A node drops `key` at `version` (eviction or expiry), as node.ts does with its own client.
   * In the history it is "expire(key, the value at that version)": a delete that happens only
   * if the key still holds that value.
   */
  drop(node: SimNode, key: string, version: number, reason: "evict" | "expire", done: () => void): void {
    const identity = this.committedAt.get(`${key}@${version}`)?.identity;
    const crc = identity === undefined ? undefined : Number(/crc=(\d+)/.exec(identity)?.[1]);
    const value = crc === undefined ? undefined : this.valueByCrc.get(crc);
    const handle = value === undefined ? null : this.recorder.invoke(`n${node.index}.drop`, { kind: "expire", key, value });
    this.log(`n${node.index} drops ${key}@${version} (${reason})`);
    this.write(
      node.rebuildClient!,
      key,
      null,
      (outcome) => {
        if (handle !== null) {
          if (outcome.kind === "ok") this.recorder.ok(handle);
          else if (outcome.kind === "fail") this.recorder.fail(handle);
          else this.recorder.unknown(handle);
        }
        done();
      },
      { condition: { kind: "version", version }, reason: reason === "evict" ? WriteReason.WRITE_REASON_EVICT : WriteReason.WRITE_REASON_EXPIRE },
    );
  }

  crashClient(client: SimClient, where: string): void {
    if (!client.alive()) return;
    this.stats.clientCrashes++;
    (client as { dead?: boolean }).dead = true;
    this.log(`${client.label} CRASH ${where}`);
    if (client.op !== null) {
      if (client.op.kind === "get") this.recorder.fail(client.op.handle);
      else this.recorder.unknown(client.op.handle);
      client.op = null;
    }
    const next = this.workloadClient(client.slot, client.incarnation + 1);
    this.at(1 + this.random.int(30), () => this.nextOp(next));
  }

  workloadClient(slot: number, incarnation: number): SimClient {
    const client = this.newClient(`c${slot}.${incarnation}`, slot, incarnation, () => !(client as { dead?: boolean }).dead);
    this.clients[slot] = client;
    return client;
  }

  finishOp(client: SimClient, outcome: Outcome): void {
    const op = client.op!;
    client.op = null;
    this.log(`${client.label} ${op.kind} ${op.key} -> ${outcome.kind}${outcome.kind === "ok" && op.kind === "get" ? ` ${JSON.stringify(outcome.value)}` : ""}`);
    if (outcome.kind === "ok") {
      if (op.kind === "get") this.recorder.ok(op.handle, outcome.value ?? null);
      else this.recorder.ok(op.handle);
    } else if (outcome.kind === "fail") this.recorder.fail(op.handle);
    else this.recorder.unknown(op.handle);
    this.at(this.random.int(THINK_MS_MAX + 1), () => this.nextOp(client));
  }

  nextOp(client: SimClient): void {
    if (!client.alive() || !this.workload) return;
    const key = this.keys[this.random.int(this.keys.length)];
    const dice = this.random.next();
    const readRatio = this.options.readRatio ?? 0.45;
    if (dice < readRatio) {
      client.op = { handle: this.recorder.invoke(client.label, { kind: "get", key }), kind: "get", key };
      // Some reads are range reads: of the whole value (checked like any read), or of a part
      // (checked against the values written; the history cannot judge a part, so it records
      // them as failed reads, which the checker ignores).
      const shape = this.random.next();
      const bytes: ReadRange | undefined =
        shape < 0.7 ? undefined : shape < 0.85 ? { start: 0, end: -1 } : { start: this.random.int(120) - 20, end: this.random.int(160) - 30 };
      const partial = bytes !== undefined && !(bytes.start === 0 && bytes.end === -1);
      this.log(`${client.label} invoke get ${key}${bytes === undefined ? "" : ` bytes ${bytes.start}..${bytes.end}`}`);
      this.read(
        client,
        key,
        (read) => {
          if (read.kind === "error") this.finishOp(client, { kind: "fail", reason: read.message });
          else if (partial) this.finishOp(client, { kind: "fail", reason: "a part of the value (checked when it arrived)" });
          else this.finishOp(client, { kind: "ok", value: read.kind === "value" ? read.value.toString("utf8") : null });
        },
        false,
        bytes,
      );
      return;
    }
    const tombstone = dice >= readRatio + ((1 - readRatio) * 5) / 6;
    let value = "";
    if (!tombstone) {
      value = `${client.label}-${client.txCounter + 1}`;
      const pad = this.random.int(4) === 0 ? 40 + this.random.int(120) : this.random.int(10);
      value += ".".repeat(pad);
      this.written.get(key)!.add(value);
    }
    client.op = tombstone
      ? { handle: this.recorder.invoke(client.label, { kind: "del", key }), kind: "del", key }
      : { handle: this.recorder.invoke(client.label, { kind: "set", key, value }), kind: "set", key };
    const withTtl = !tombstone && this.random.next() < (this.options.ttlRate ?? 0);
    const deadline = withTtl ? this.now + TTL_MS_MIN + this.random.int(TTL_MS_MAX - TTL_MS_MIN) : 0;
    this.log(`${client.label} invoke ${tombstone ? "del" : "set"} ${key} ${JSON.stringify(value)}${withTtl ? ` expires ${deadline}` : ""}`);
    if (!tombstone) this.valueByCrc.set(crc32(Buffer.from(value, "utf8")), value);
    const expiry = withTtl ? this.expiring(key, value, deadline) : null;
    if (withTtl) this.stats.ttlSets++;
    this.write(
      client,
      key,
      tombstone ? null : Buffer.from(value, "utf8"),
      (outcome) => {
        expiry?.writeEnded(outcome.kind);
        this.finishOp(client, outcome);
      },
      withTtl ? { expiry: { kind: "at", atMs: WALL_EPOCH_MS + deadline } } : {},
    );
  }

  // ------------------------------------------------------------------ faults

  /** Nodes of the newest view (members and recovering). */
  inNewestView(): Set<number> {
    const view = this.newestView();
    return new Set([...view.members, ...view.recovering]);
  }

  /** The newest view any live node has applied. */
  newestView(): View {
    let newest = initialView(N);
    for (const node of this.nodes) {
      const view = node.core?.view();
      if (view !== undefined && view.epoch > newest.epoch) newest = view;
    }
    return newest;
  }

  /** Nodes down, paused, with incomplete shards, or not a member of the newest view. */
  faultyCount(): number {
    const members = this.newestView().members;
    return this.nodes.filter(
      (node) => !node.alive || node.pausedUntilMs > this.now || node.core === null || node.core.state.kind !== "member" || !members.includes(node.index),
    ).length;
  }

  nemesis(): void {
    if (!this.faults) return;
    const dice = this.random.next();
    const pauseRate = this.options.pauses === false ? 0 : (this.options.pauseRate ?? 0.2);
    const crashRate = this.options.nodeCrashes === false ? 0 : (this.options.nodeCrashRate ?? 0.15);
    const nodeFaultAllowed = this.faultyCount() < M;
    if (dice < pauseRate) {
      const node = this.nodes[this.random.int(N)];
      if (nodeFaultAllowed && node.alive && node.pausedUntilMs <= this.now) {
        const hold = 20 + this.random.int(250);
        node.pausedUntilMs = this.now + hold;
        this.stats.pauses++;
        this.log(`n${node.index} PAUSE for ${hold} ms`);
      }
    } else if (dice < pauseRate + crashRate) {
      const node = this.nodes[this.random.int(N)];
      if (nodeFaultAllowed && node.alive) this.crashNode(node);
    } else if (dice < pauseRate + crashRate + 0.25) {
      const client = this.clients[this.random.int(this.clients.length)];
      if (client.op !== null) this.crashClient(client, "at a random time");
    }
    this.at(20 + this.random.int(120), () => this.nemesis());
  }

  settled(): boolean {
    if (this.clients.some((client) => client.op !== null)) return false;
    for (const node of this.nodes) {
      const core = node.core;
      if (!node.alive || core === null || core.state.kind !== "member") return false;
      const view = core.view();
      if (!view.members.includes(node.index) || view.recovering.length > 0) return false;
      if (this.keys.some((key) => core.replica.isLocked(key))) return false;
    }
    return true;
  }

  run(): EccSimResult {
    for (const node of this.nodes) this.boot(node);
    const clientCount = this.options.clientCount ?? 5;
    for (let slot = 0; slot < clientCount; slot++) {
      const client = this.workloadClient(slot, 0);
      this.at(this.random.int(THINK_MS_MAX) + 50, () => this.nextOp(client));
    }
    this.at(200 + this.random.int(100), () => this.nemesis());
    this.runUntil(this.options.durationMs ?? 2_500);

    // Heal: no more faults, no new ops; paused nodes resume, crashed ones restart.
    this.faults = false;
    this.workload = false;
    this.log("HEAL");
    for (const node of this.nodes) {
      node.pausedUntilMs = Math.min(node.pausedUntilMs, this.now);
      if (!node.alive) this.boot(node);
    }
    this.runUntil(this.now + SETTLE_MS_MAX, () => this.settled() || (this.beyondBudget && this.clients.every((client) => client.op === null)));
    if (this.beyondBudget) return this.finish(false);
    if (!this.settled()) {
      const states = this.nodes.map((node) => `n${node.index}:${node.core?.state.kind ?? "down"}@${node.core?.view().epoch ?? "-"}`).join(" ");
      const busy = this.clients.filter((client) => client.op !== null).map((client) => client.label);
      const locked = this.nodes.map((node) => `n${node.index}:[${this.keys.filter((key) => node.core?.replica.isLocked(key)).join(",")}]`).join(" ");
      const held = this.keys
        .map((key) => `${key}=${this.nodes.map((node) => {
          const entry = node.core?.replica.store.summary(key) ?? null;
          return entry === null ? "-" : `${entry.tombstone ? "t" : "v"}${entry.version}`;
        }).join("/")}`)
        .join(" ");
      this.fail(`not settled ${SETTLE_MS_MAX} ms after the faults stopped: ${states}; clients busy: ${busy.join(",") || "none"}; locks: ${locked}; held: ${held}`);
    }
    // Every node holds the same version of every key.
    for (const key of this.keys) {
      // A tombstone and a forgotten key both read as absent.
      const states = this.nodes.map((node) => {
        const entry = node.core!.replica.store.summary(key);
        return entry === null || entry.tombstone ? "absent" : `v${entry.version}`;
      });
      if (new Set(states).size > 1) this.fail(`nodes disagree on ${key} after healing: ${states.join(",")}`);
    }

    return this.finish(true);
  }

  /** Final reads (when no data was lost), the linearizability check, the result. */
  finish(finalReads: boolean): EccSimResult {
    // Final read of every key by a fresh client.
    const reader = this.newClient("final", -2, 0, () => true);
    for (const key of finalReads ? this.keys : []) {
      const handle = this.recorder.invoke("final", { kind: "get", key });
      let result: VersionedRead | { kind: "error"; message: string } | null = null;
      this.read(reader, key, (read) => (result = read));
      this.runUntil(this.now + 10_000, () => result !== null);
      const read = result as VersionedRead | { kind: "error"; message: string } | null;
      if (read === null || read.kind === "error") this.fail(`final read of ${key} did not succeed${read === null ? "" : `: ${read.message}`}`);
      const value = read.kind === "value" ? read.value.toString("utf8") : null;
      this.recorder.ok(handle, value);
      this.log(`final get ${key} -> ${JSON.stringify(value)}`);
    }

    // TTL expiries still pending (their write never returned) stay unknown, as invoked.
    const history = this.recorder.history();
    const check = checkHistory(history, { stepsMaxPerKey: 2_000_000 });
    this.log(`check ${check.ok ? "ok" : check.inconclusive ? "inconclusive" : "VIOLATION"}`);
    if (!check.ok) this.fail(check.message);
    const counts = { ok: 0, fail: 0, unknown: 0 };
    for (const op of history) counts[op.status]++;
    return {
      seed: this.options.seed,
      history,
      check,
      transcriptHash: this.hash.digest("hex"),
      counts,
      clientCrashes: this.stats.clientCrashes,
      nodeCrashes: this.stats.nodeCrashes,
      pauses: this.stats.pauses,
      viewChanges: this.stats.viewChanges,
      promotions: this.stats.promotions,
      rebuild: { pulledKeys: this.stats.pulledKeys, fallbackKeys: this.stats.fallbackKeys, pullsFailed: this.stats.pullsFailed },
      evictions: this.stats.evictions,
      expirations: this.stats.expirations,
      ttlSets: this.stats.ttlSets,
      beyondBudget: this.beyondBudget,
      resolutions: { commit: this.stats.commit, abort: this.stats.abort },
      eventCount: this.eventCount,
      simulatedMs: this.now,
      transcript: this.options.keepTranscript ? this.transcript : undefined,
    };
  }
}

export function runEccSimulation(options: EccSimOptions): EccSimResult {
  return new EccSimulation(options).run();
}

