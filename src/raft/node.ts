// RaftNodeRuntime: one raft-mode node process. The thin async shell around the pure
// RaftCore (core.ts): a tick timer, gRPC in and out, the disk, and the KV state machine.
//
// The ready loop is the shared RaftDriver (driver.ts); this runtime is its host: it persists
// to disk_storage.ts (fsync when the core says so and --fsync always), sends through
// peer_transport.ts and applies to the KV state machine. Everything runs on the event loop
// synchronously inside process(), so the core never sees a call between ready() and advance().
//
// Client requests (RaftKv service, batched streams like ecc mode):
// - set/del: queued and proposed together with proposeBatch() once per event-loop turn
//   (one log append carries many commands); answered when the entry is applied here with
//   the term it was proposed in. Leadership lost first -> NOT_LEADER, and the client retries
//   with the same (clientId, seq), which the state machine deduplicates (kv_state.ts).
// - get: linearizable through ReadIndex; all gets of one turn share one ReadIndex round.
// - a follower answers NOT_LEADER with the leader's address.
import { Server, ServerDuplexStream } from "@grpc/grpc-js";
import { KvBatch, KvCode, KvOp, KvResult, KvResultBatch, RaftKvService } from "../gen/raft";
import { SeededRandom } from "../core/env";
import { collectGarbage } from "../core/gc";
import { processMemory } from "../core/process_memory";
import { KvError, NotLeaderError, errorMessage, isKvError } from "../core/errors";
import { VALUE_BYTES_MAX } from "../core/limits";
import { keyProblem } from "../core/keys";
import { Logger } from "../core/logger";
import { bindServer } from "../transport/bind";
import { RAFT_CONFIG_DEFAULTS, RaftCore, RaftReady, RaftStatus, RaftStorageView } from "./core";
import { RaftDriver, RaftHost, RaftOutcome } from "./driver";
import { DiskRaftStorage } from "./disk_storage";
import { KvState, decodeCommand, encodeCommand } from "./kv_state";
import { RaftClusterConfig } from "./config";
import { LogEntry, RaftMessage, Snapshot, snapshotLoadedOnUse } from "./types";
import { RaftPeerTransport } from "./peer_transport";
import { RAFT_SERVER_OPTIONS } from "../transport/grpc_options";
import { nodeDataDir } from "../core/data_dir";
import type { NodeMetricsSink } from "../frontdoor/metrics";

const JOIN_ATTEMPTS_MAX = 600;
const JOIN_RETRY_MS = 200;

export interface RaftNodeOptions {
  config: RaftClusterConfig;
  /** This node's address, also its Raft id. */
  address: string;
  logger: Logger;
  /** Start with no voters and ask the cluster to add this node. */
  join: boolean;
  /** Seed of the election-timeout randomness (defaults to time-based). */
  seed?: number;
  /** Counters and latency for the admin port's /metrics (src/frontdoor/metrics.ts). */
  metrics?: NodeMetricsSink;
}

interface QueuedWrite {
  data: Buffer;
  resolve: (result: Omit<KvResult, "id">) => void;
}

interface QueuedRead {
  key: Buffer;
  resolve: (result: Omit<KvResult, "id">) => void;
}

export class RaftNodeRuntime implements RaftHost {
  readonly id: string;
  private core!: RaftCore;
  private storage!: DiskRaftStorage;
  private readonly kv = new KvState();
  private readonly server = new Server(RAFT_SERVER_OPTIONS);
  private transport!: RaftPeerTransport;
  private readonly logger: Logger;
  private tickTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private writeQueue: QueuedWrite[] = [];
  private readQueue: QueuedRead[] = [];
  private driver!: RaftDriver;
  private stopped = false;
  private readonly clientStreams = new Set<ServerDuplexStream<KvBatch, KvResultBatch>>();

  constructor(private readonly options: RaftNodeOptions) {
    this.id = options.address;
    this.logger = options.logger;
  }

  async start(): Promise<number> {
    const { config } = this.options;
    const dataDir = nodeDataDir(config.dataDir, this.id);
    this.storage = new DiskRaftStorage(dataDir, config.fsync);
    const loaded = this.storage.view();
    let view: RaftStorageView = loaded;
    let snapshotIndex = 0;
    if (loaded.snapshot !== null) {
      this.kv.restore(loaded.snapshot.data);
      snapshotIndex = loaded.snapshot.meta.lastIndex;
      // The core holds the snapshot only for InstallSnapshot; it reads the file when it sends one.
      const loadedIndex = snapshotIndex;
      view = { ...loaded, snapshot: snapshotLoadedOnUse(loaded.snapshot.meta, () => this.storage.readSnapshotData(loadedIndex)) };
    }
    const bootstrapVoters = this.options.join ? [] : config.servers;
    this.core = new RaftCore(
      {
        ...RAFT_CONFIG_DEFAULTS,
        id: this.id,
        voters: bootstrapVoters,
        electionTicks: config.electionTicks,
        heartbeatTicks: config.heartbeatTicks,
        random: new SeededRandom(this.options.seed ?? (Date.now() ^ (process.pid << 8))),
        logger: this.logger,
      },
      view,
    );
    this.driver = new RaftDriver(this.core, this, { snapshotEntries: config.snapshotEntries, appliedIndex: snapshotIndex });
    this.transport = new RaftPeerTransport(this.id, this.logger, this.options.metrics);
    this.transport.register(this.server, (messages) => {
      if (this.stopped) return;
      for (const message of messages) this.core.step(message);
      this.schedule();
    });
    this.server.addService(RaftKvService, {
      exchange: (stream: ServerDuplexStream<KvBatch, KvResultBatch>) => this.onClientStream(stream),
    });
    const port = await bindServer(this.server, this.id);
    this.tickTimer = setInterval(() => {
      this.core.tick();
      this.schedule();
      this.noteLeader();
    }, config.tickMs);
    this.logger.info("raft.node_started", {
      address: this.id,
      dataDir,
      term: view.hardState?.term ?? 0,
      entries: view.entries.length,
      snapshotIndex,
      join: this.options.join,
      fsync: config.fsync,
    });
    this.schedule();
    if (this.options.join) void this.joinCluster();
    return port;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.transport.close();
    for (const stream of this.clientStreams) stream.end();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.storage.close();
  }

  // ---------------------------------------------------------------------------- inputs

  private onClientStream(stream: ServerDuplexStream<KvBatch, KvResultBatch>): void {
    this.clientStreams.add(stream);
    let outbox: KvResult[] = [];
    let flushScheduled = false;
    const reply = (id: number, result: Omit<KvResult, "id">): void => {
      outbox.push({ id, ...result });
      if (flushScheduled) return;
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        const results = outbox;
        outbox = [];
        if (!stream.writableEnded && !stream.destroyed) stream.write({ results });
      });
    };
    stream.on("data", (batch: KvBatch) => {
      for (const op of batch.ops) this.handleOp(op, (result) => reply(op.id, result));
      this.schedule();
    });
    stream.on("end", () => {
      this.clientStreams.delete(stream);
      stream.end();
    });
    stream.on("error", () => this.clientStreams.delete(stream));
    stream.on("close", () => this.clientStreams.delete(stream));
  }

  private handleOp(op: KvOp, resolve: (result: Omit<KvResult, "id">) => void): void {
    const metrics = this.options.metrics;
    if (metrics !== undefined) {
      const startedMs = performance.now();
      const command = op.body?.$case ?? "none";
      const answer = resolve;
      resolve = (result) => {
        metrics.opDone(command, KvCode[result.code], startedMs);
        answer(result);
      };
    }
    const body = op.body;
    if (body === undefined) return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, "operation without a body"));
    if (body.$case === "stats") {
      if (body.value.collectGarbage) collectGarbage();
      return resolve({ ...ok(), stats: this.stats() });
    }
    const status = this.core.status();
    if (status.role !== "leader") {
      return resolve({ ...fail(KvCode.KV_CODE_NOT_LEADER, "not the leader"), leaderHint: status.leaderId ?? "" });
    }
    switch (body.$case) {
      case "get": {
        const keyError = keyProblem(body.value.key);
        if (keyError !== null) return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, keyError));
        this.readQueue.push({ key: body.value.key, resolve });
        return;
      }
      case "set":
      case "del": {
        const keyError = keyProblem(body.value.key);
        if (keyError !== null) return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, keyError));
        const value = body.$case === "set" ? body.value.value : Buffer.alloc(0);
        if (value.length > VALUE_BYTES_MAX) {
          return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, `value is ${value.length} bytes; the limit is ${VALUE_BYTES_MAX} bytes`));
        }
        const data = encodeCommand({
          op: body.$case,
          clientId: body.value.clientId,
          seq: body.value.seq,
          floor: body.value.floor,
          key: body.value.key,
          value,
        });
        this.writeQueue.push({ data, resolve });
        return;
      }
      case "addMember":
      case "removeMember": {
        try {
          this.driver.proposeConfChange({ type: body.$case === "addMember" ? "add" : "remove", nodeId: body.value.address }, (outcome) =>
            resolve(resultOfOutcome(outcome)),
          );
          this.schedule();
        } catch (error) {
          resolve(resultOfError(error));
        }
        return;
      }
    }
  }

  // ------------------------------------------------------------------------- the loop

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => this.process());
  }

  private process(): void {
    this.scheduled = false;
    if (this.stopped) return;
    this.proposeQueued();
    this.startQueuedReads();
    this.driver.process();
  }

  private proposeQueued(): void {
    if (this.writeQueue.length === 0) return;
    const queued = this.writeQueue;
    this.writeQueue = [];
    for (let start = 0; start < queued.length; start += 4_096) {
      const group = queued.slice(start, start + 4_096);
      try {
        this.driver.proposeBatch(
          group.map((write) => write.data),
          group.map((write) => (outcome: RaftOutcome) => write.resolve(resultOfOutcome(outcome))),
        );
      } catch (error) {
        const failure = resultOfError(error);
        for (const write of group) write.resolve(failure);
      }
    }
  }

  /** Every get of this event-loop turn shares one ReadIndex round. */
  private startQueuedReads(): void {
    if (this.readQueue.length === 0) return;
    const reads = this.readQueue;
    this.readQueue = [];
    try {
      this.driver.readIndex((outcome) => {
        for (const read of reads) {
          if (!outcome.ok) {
            read.resolve(resultOfOutcome(outcome));
            continue;
          }
          const value = this.kv.get(read.key);
          read.resolve(value === null ? { ...ok(), found: false } : { ...ok(), found: true, value });
        }
      });
    } catch (error) {
      const failure = resultOfError(error);
      for (const read of reads) read.resolve(failure);
    }
  }

  // ------------------------------------------------- RaftHost: called by the driver only

  persist(ready: RaftReady): void {
    this.storage.persist(ready);
  }

  send(messages: readonly RaftMessage[]): void {
    this.transport.send(messages);
  }

  restore(snapshot: Snapshot): void {
    this.kv.restore(snapshot.data);
    this.logger.info("raft.snapshot_installed", { index: snapshot.meta.lastIndex });
  }

  apply(entry: LogEntry): void {
    if (entry.type === "command") {
      try {
        this.kv.apply(decodeCommand(entry.data));
      } catch (error) {
        // Commands are validated before proposal; a bad one is skipped the same way on every node.
        this.logger.error("raft.bad_command", { index: entry.index, message: errorMessage(error) });
      }
    } else if (entry.type === "config") {
      this.logger.info("raft.config_applied", { index: entry.index, voters: this.core.status().voters });
    }
  }

  compact(index: number): void {
    // The state machine image goes straight to disk in chunks and the core gets a loader
    // instead of the bytes: no buffer of the whole state (about the size of all values) is
    // built or kept; it is read back only to send InstallSnapshot to a lagging follower.
    // The file is written below, before anything can ask the core to send a snapshot.
    const snapshot = this.core.compact(index, () => this.storage.readSnapshotData(index));
    const log = this.core.logView();
    const remaining: LogEntry[] = [];
    for (let i = index + 1; i <= log.lastIndex(); i++) remaining.push(log.entry(i));
    const snapshotBytes = this.storage.compactStreaming(snapshot.meta, (write) => this.kv.writeSnapshot(write), remaining);
    this.logger.info("raft.compacted", { index, snapshotBytes });
  }

  /** A node that stopped leading also fails the writes it had not proposed yet. */
  onLeadership(leading: boolean, status: RaftStatus): void {
    if (leading) {
      this.logger.info("raft.leader_elected", { term: status.term });
      return;
    }
    this.logger.info("raft.leadership_lost", { term: status.term, leader: status.leaderId });
    const failure = { ...fail(KvCode.KV_CODE_NOT_LEADER, "leadership lost"), leaderHint: status.leaderId ?? "" };
    for (const write of this.writeQueue) write.resolve(failure);
    this.writeQueue = [];
  }

  /** The leader this node knows of changed since the last tick: counted for /metrics. */
  private noteLeader(): void {
    const leader = this.core.status().leaderId ?? "";
    if (leader === this.lastLeader) return;
    this.lastLeader = leader;
    if (leader !== "") this.options.metrics?.leaderChanged();
  }

  private lastLeader = "";

  /** Keys of this node's state machine (RESP's SCAN and KEYS; a follower's may lag the leader's). */
  scanKeys(cursor: number, slotsMax: number): { keys: Buffer[]; next: number } {
    return this.kv.scan(cursor, slotsMax);
  }

  stats() {
    const status = this.core.status();
    const kv = this.kv.stats();
    // Entry data the log holds in memory: entries not yet applied and persisted (applied
    // ones are read back from log.bin when a follower needs them again).
    const logBytes = this.core.logView().dataBytesHeld;
    return {
      nodeId: this.id,
      role: status.role,
      term: status.term,
      leaderId: status.leaderId ?? "",
      commitIndex: status.commitIndex,
      appliedIndex: status.appliedIndex,
      firstIndex: status.firstIndex,
      lastIndex: status.lastIndex,
      voters: [...status.voters],
      keyCount: kv.keyCount,
      valueBytes: kv.valueBytes,
      keyBytes: kv.keyBytes,
      metaBytes: kv.metaBytes,
      logBytes,
      logicalBytes: kv.valueBytes + kv.keyBytes + kv.metaBytes + logBytes,
      ...processMemory(),
      snapshotIndex: this.driver.snapshotIndex,
    };
  }

  /** A joining node asks the cluster's leader to add it, until it is a voter. */
  private async joinCluster(): Promise<void> {
    const { RaftClient } = await import("./client");
    const client = new RaftClient({ servers: this.options.config.servers, rpcTimeoutMs: 1_000, attemptsMax: 3 });
    try {
      for (let attempt = 0; attempt < JOIN_ATTEMPTS_MAX && !this.stopped; attempt++) {
        if (this.core.status().voters.includes(this.id)) {
          this.logger.info("raft.joined", { voters: this.core.status().voters });
          return;
        }
        try {
          await client.addMember(this.id);
        } catch (error) {
          // Also "already a voter": the config entry is committed but not yet applied here;
          // the check at the top of the loop sees it once it is.
          this.logger.debug("raft.join_retry", { message: errorMessage(error) });
        }
        await new Promise((resolve) => setTimeout(resolve, JOIN_RETRY_MS));
      }
      if (!this.stopped) this.logger.error("raft.join_failed", { attempts: JOIN_ATTEMPTS_MAX });
    } finally {
      client.close();
    }
  }
}

function ok(): Omit<KvResult, "id"> {
  return { code: KvCode.KV_CODE_OK, message: "", leaderHint: "", value: Buffer.alloc(0), found: false, stats: undefined };
}

function fail(code: KvCode, message: string): Omit<KvResult, "id"> {
  return { code, message, leaderHint: "", value: Buffer.alloc(0), found: false, stats: undefined };
}

function resultOfOutcome(outcome: RaftOutcome): Omit<KvResult, "id"> {
  if (outcome.ok) return ok();
  return { ...fail(KvCode.KV_CODE_NOT_LEADER, outcome.reason), leaderHint: outcome.leaderHint ?? "" };
}

function resultOfError(error: unknown): Omit<KvResult, "id"> {
  if (error instanceof NotLeaderError) return { ...fail(KvCode.KV_CODE_NOT_LEADER, error.message), leaderHint: error.leaderHint ?? "" };
  if (isKvError(error)) {
    const kvError = error as KvError;
    if (kvError.code === "INVALID_ARGUMENT" || kvError.code === "VALUE_TOO_LARGE" || kvError.code === "KEY_TOO_LARGE") {
      return fail(KvCode.KV_CODE_INVALID_ARGUMENT, kvError.message);
    }
    return fail(KvCode.KV_CODE_UNAVAILABLE, kvError.message);
  }
  return fail(KvCode.KV_CODE_INTERNAL, errorMessage(error));
}

