// RaftNodeRuntime: one raft-mode node process. The thin async shell around the pure
// RaftCore (core.ts): a tick timer, gRPC in and out, the disk, and the KV state machine.
//
// The ready loop is the shared RaftDriver (driver.ts); this runtime is its host: it persists
// to disk_storage.ts (fsync when the core says so and --fsync always; readies of a large
// append off the event loop), sends through peer_transport.ts and applies to the KV state
// machine. The core never sees a call between ready() and advance() other than the inputs
// the ready contract allows (ticks, messages, proposals).
//
// Client requests (RaftKv service, batched streams like ecc mode):
// - set/del/expire/append: queued and proposed together with proposeBatch() once per event-loop turn
//   (one log append carries many commands); answered when the entry is applied here with
//   the term it was proposed in. Leadership lost first -> NOT_LEADER (maybe_applied: the
//   entry may still commit), and the client retries with the same (clientId, seq), which the
//   state machine deduplicates (kv_state.ts). A retry this leader has already applied is
//   answered at once; one it holds in its log waits for that entry instead of appending a
//   second copy (retry_table.ts).
// - get/ttl: linearizable through ReadIndex; all reads of one turn share one ReadIndex round.
//   A value past its deadline is first expired through the log (kv_budget.ts), then read.
// - The memory budget and TTLs are the leader's decisions (kv_budget.ts): admission of each
//   write, evictions proposed before a write that needs room, active expiry and eviction
//   each tick. Every node applies the resulting drops, counts and logs them.
// - a follower answers NOT_LEADER with the leader's address.
import { Server, ServerDuplexStream } from "@grpc/grpc-js";
import { KvBatch, KvCode, KvOp, KvResult, KvResultBatch, KvSetCondition, KvStatsReply, RaftKvService } from "../gen/raft";
import { SeededRandom } from "../core/env";
import { collectGarbage } from "../core/gc";
import { processMemory } from "../core/process_memory";
import { KvError, NotLeaderError, UnauthenticatedError, errorMessage, isKvError } from "../core/errors";
import { RAFT_REPLICATION_BYTES_PER_SECOND_MIN, TTL_MS_MAX, VALUE_BYTES_MAX } from "../core/limits";
import { keyProblem } from "../core/keys";
import { parseAddress } from "../core/address";
import { Logger } from "../core/logger";
import { bindServer } from "../transport/bind";
import { channelCredentials, serverCredentials } from "../transport/tls";
import { RAFT_CONFIG_DEFAULTS, RaftCore, RaftReady, RaftStatus, RaftStorageView } from "./core";
import { RaftDriver, RaftHost, RaftOutcome } from "./driver";
import { DiskRaftStorage } from "./disk_storage";
import { DropChoice, KvBudget } from "./kv_budget";
import {
  DroppedKey,
  KvApplyResult,
  KvCommand,
  KvState,
  KvWriteOutcome,
  SetCondition,
  commandSession,
  decodeCommand,
  encodeCommand,
  isConditional,
} from "./kv_state";
import { RaftClusterConfig } from "./config";
import { ConfChange, LogEntry, RaftMessage, Snapshot, snapshotLoadedOnUse } from "./types";
import { RaftPeerTransport } from "./peer_transport";
import { RetryTable, sessionKey } from "./retry_table";
import { RAFT_SERVER_OPTIONS } from "../transport/grpc_options";
import { AuthToken, authTokenOf } from "../core/auth_token";
import { authServerInterceptors } from "../transport/auth";
import { nodeDataDir } from "../core/data_dir";
import type { NodeMetricsSink } from "../frontdoor/metrics";

/** Readies with at least this many entry bytes are persisted off the event loop. */
const RAFT_ASYNC_PERSIST_BYTES_MIN = 1024 * 1024;
const STOP_PERSIST_WAIT_MS = 5_000;
const JOIN_ATTEMPTS_MAX = 600;
const JOIN_RETRY_MS = 200;
/** The expiry scan covers the whole key index once per this long (kv_budget.ts). */
const EXPIRY_PASS_MS = 1_000;
/** Commands one proposeBatch carries at most (RAFT_PROPOSE_BATCH_MAX bounds it too). */
const PROPOSE_GROUP_MAX = 4_096;

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

type ResultBody = Omit<KvResult, "id">;

interface QueuedWrite {
  data: Buffer;
  /** "clientId:seq" of a client's command (null for the leader's drops): finds retries. */
  session: string | null;
  /** Exactly one of these runs: the proposal's outcome, or why it was never proposed. */
  done: (outcome: RaftOutcome) => void;
  failed: (error: unknown) => void;
}

interface QueuedRead {
  kind: "get" | "ttl";
  key: Buffer;
  resolve: (result: ResultBody) => void;
}

export class RaftNodeRuntime implements RaftHost {
  readonly id: string;
  private core!: RaftCore;
  private storage!: DiskRaftStorage;
  private readonly kv: KvState;
  private readonly budget: KvBudget;
  private readonly server: Server;
  /** One token for every door of the node: its server checks it, its peer streams and its own client send it. */
  private readonly auth: AuthToken | null;
  private transport!: RaftPeerTransport;
  private readonly logger: Logger;
  private tickTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private writeQueue: QueuedWrite[] = [];
  private readQueue: QueuedRead[] = [];
  private driver!: RaftDriver;
  private stopped = false;
  private readonly clientStreams = new Set<ServerDuplexStream<KvBatch, KvResultBatch>>();
  private persistsRunning = 0;
  private persistIdle: (() => void) | null = null;
  /** Leader only: the client commands in the log not yet applied, and retries waiting on them. */
  private readonly retries = new RetryTable();
  /** Eviction's sampling (leader-local choices; replicas apply the proposed drops). */
  private readonly evictionRandom = new SeededRandom(Date.now() ^ (process.pid << 4));
  private readonly counters = { evicted: 0, expired: 0, rejected: 0 };

  constructor(private readonly options: RaftNodeOptions) {
    this.id = options.address;
    this.logger = options.logger;
    const { config } = options;
    this.auth = authTokenOf(config);
    this.server = new Server({ ...RAFT_SERVER_OPTIONS, interceptors: authServerInterceptors(this.auth) });
    this.kv = new KvState({ policy: config.evictionPolicy });
    this.budget = new KvBudget(this.kv, {
      maxBytes: config.maxMemoryBytes,
      policy: config.evictionPolicy,
      expiryPassTicks: Math.max(1, Math.round(EXPIRY_PASS_MS / config.tickMs)),
    });
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
        replicationBytesPerTickMin: Math.max(1, Math.round((RAFT_REPLICATION_BYTES_PER_SECOND_MIN * config.tickMs) / 1000)),
        random: new SeededRandom(this.options.seed ?? (Date.now() ^ (process.pid << 8))),
        logger: this.logger,
      },
      view,
    );
    this.driver = new RaftDriver(this.core, this, { snapshotEntries: config.snapshotEntries, appliedIndex: snapshotIndex });
    this.transport = new RaftPeerTransport(this.id, this.logger, this.options.metrics, this.auth, channelCredentials(config.clientTls));
    this.transport.register(this.server, (messages) => {
      if (this.stopped) return;
      for (const message of messages) this.core.step(message);
      this.schedule();
    });
    this.server.addService(RaftKvService, {
      exchange: (stream: ServerDuplexStream<KvBatch, KvResultBatch>) => this.onClientStream(stream),
    });
    const port = await bindServer(this.server, this.id, serverCredentials(config.tls));
    this.tickTimer = setInterval(() => {
      this.core.tick();
      if (this.core.status().role === "leader") this.tickBudget();
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
      maxMemoryBytes: config.maxMemoryBytes,
      evictionPolicy: config.evictionPolicy,
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
    if (this.persistsRunning > 0) {
      // A write in progress finishes before its files close (bounded: the process exits anyway).
      await new Promise<void>((resolve) => {
        this.persistIdle = resolve;
        setTimeout(resolve, STOP_PERSIST_WAIT_MS).unref();
      });
    }
    this.storage.close();
  }

  // ---------------------------------------------------------------------------- inputs

  private onClientStream(stream: ServerDuplexStream<KvBatch, KvResultBatch>): void {
    this.clientStreams.add(stream);
    let outbox: KvResult[] = [];
    let flushScheduled = false;
    const reply = (id: number, result: ResultBody): void => {
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

  private handleOp(op: KvOp, resolve: (result: ResultBody) => void): void {
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
      case "get":
      case "ttl": {
        const keyError = keyProblem(body.value.key);
        if (keyError !== null) return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, keyError));
        this.readQueue.push({ kind: body.$case, key: body.value.key, resolve });
        return;
      }
      case "set":
      case "del":
      case "expire":
      case "append":
        return this.handleWrite(body, resolve);
      case "addMember":
      case "removeMember": {
        try {
          this.driver.proposeConfChange(memberChange(body.$case, body.value.address), (outcome) =>
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

  private handleWrite(body: Extract<NonNullable<KvOp["body"]>, { $case: "set" | "del" | "expire" | "append" }>, resolve: (result: ResultBody) => void): void {
    const { key, clientId, seq, floor } = body.value;
    const keyError = keyProblem(key);
    if (keyError !== null) return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, keyError));
    const value = body.$case === "set" || body.$case === "append" ? body.value.value : null;
    if (value !== null && value.length > VALUE_BYTES_MAX) {
      return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, `value is ${value.length} bytes; the limit is ${VALUE_BYTES_MAX} bytes`));
    }
    const ttlMs = body.$case === "set" || body.$case === "expire" ? body.value.ttlMs : 0;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0 || ttlMs > TTL_MS_MAX) {
      return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, `TTL of ${ttlMs} ms is out of range (1 ms to ${TTL_MS_MAX} ms)`));
    }
    const condition = body.$case === "set" ? conditionOf(body.value.condition) : "none";
    if (condition === null) return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, "unknown set condition"));
    const keepTtl = body.$case === "set" && body.value.keepTtl;
    if (keepTtl && ttlMs > 0) return resolve(fail(KvCode.KV_CODE_INVALID_ARGUMENT, "a set cannot both keep the TTL and set one"));
    const nowMs = Date.now();
    const fields = { clientId, seq, floor, atMs: nowMs, key };
    const expiresAtMs = ttlMs > 0 ? nowMs + ttlMs : 0;
    const command: KvCommand =
      body.$case === "set"
        ? { op: "set", ...fields, value: value as Buffer, expiresAtMs, condition, keepTtl, returnPrevious: body.value.returnPrevious }
        : body.$case === "del"
          ? { op: "del", ...fields, returnPrevious: body.value.returnPrevious }
          : body.$case === "append"
            ? { op: "append", ...fields, value: value as Buffer }
            : { op: "expire", ...fields, expiresAtMs };
    const conditional = isConditional(command);
    const keyText = key.toString("latin1");
    const session = clientId === 0 ? null : sessionKey(clientId, seq);
    if (session !== null) {
      // A retry of a write already applied, or already in this leader's log: never a second copy.
      if (this.kv.sessionApplied(clientId, seq)) {
        // A conditional write's answer is the one remembered from when it applied.
        if (conditional) return resolve(resultOfConditional(this.kv.rememberedOutcome(clientId, seq)));
        // Other writes' answers are not kept: answer with the key's state now.
        const entry = this.kv.summary(keyText);
        return resolve({ ...ok(), existed: entry !== null, hadTtl: body.$case === "expire" && ttlMs === 0 ? false : (entry?.expiresAtMs ?? 0) !== 0 });
      }
      const index = this.retries.find(session);
      if (index !== undefined) {
        this.retries.wait(index, (outcome) => resolve(resultOfWrite(outcome, conditional)));
        return;
      }
    }
    // The memory this write needs, and whether the budget has it (kv_budget.ts). An append
    // and a KEEPTTL set are counted with the value and deadline the key has now.
    let growth = 0;
    const current = this.kv.summary(keyText);
    if (value !== null) {
      const currentBytes = body.$case === "append" ? (this.kv.valueLength(keyText) ?? 0) : 0;
      const hasDeadline = ttlMs > 0 || ((keepTtl || body.$case === "append") && (current?.expiresAtMs ?? 0) !== 0);
      // An append past the value limit is refused when it applies: it never needs more than the limit.
      const bytes = this.kv.entryBytes(keyText, Math.min(currentBytes + value.length, VALUE_BYTES_MAX), hasDeadline, this.core.logView().lastIndex() + 1);
      growth = bytes.next - bytes.current;
    } else if (body.$case === "expire" && ttlMs > 0 && current?.expiresAtMs === 0) {
      growth = DEADLINE_FIELD_GROWTH_BYTES;
    }
    const admission = this.budget.admit(keyText, growth, nowMs, (below) => this.evictionRandom.int(below));
    if (!admission.ok) {
      this.counters.rejected++;
      return resolve(fail(KvCode.KV_CODE_OUT_OF_MEMORY, admission.message));
    }
    if (admission.evictions !== null) this.queueDrop(admission.evictions, nowMs);
    this.budget.noteWrite(growth);
    this.writeQueue.push({
      data: encodeCommand(command),
      session,
      done: (outcome) => {
        this.budget.settleWrite(growth);
        resolve(resultOfWrite(outcome, conditional));
      },
      failed: (error) => {
        this.budget.settleWrite(growth);
        resolve(resultOfError(error));
      },
    });
  }

  /** Queues the leader's drop of `choice` (proposed with the next batch); `after` gets its outcome. */
  private queueDrop(choice: DropChoice, nowMs: number, after?: (outcome: RaftOutcome | null) => void): void {
    this.budget.noteDrops(choice);
    this.writeQueue.push({
      data: encodeCommand({ op: "drop", atMs: nowMs, reason: choice.reason, keys: choice.keys }),
      session: null,
      done: (outcome) => {
        this.budget.settleDrops(choice);
        after?.(outcome);
      },
      failed: () => {
        this.budget.settleDrops(choice);
        after?.(null);
      },
    });
  }

  private tickBudget(): void {
    const nowMs = Date.now();
    for (const choice of this.budget.tick(nowMs, (below) => this.evictionRandom.int(below))) this.queueDrop(choice, nowMs);
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
    for (let start = 0; start < queued.length; start += PROPOSE_GROUP_MAX) {
      const group = queued.slice(start, start + PROPOSE_GROUP_MAX);
      try {
        const proposed = this.driver.proposeBatch(
          group.map((write) => write.data),
          group.map((write) => write.done),
        );
        group.forEach((write, offset) => {
          if (write.session !== null) this.retries.track(write.session, proposed.firstIndex + offset);
        });
      } catch (error) {
        for (const write of group) write.failed(error);
      }
    }
  }

  /** Every read of this event-loop turn shares one ReadIndex round. */
  private startQueuedReads(): void {
    if (this.readQueue.length === 0) return;
    const reads = this.readQueue;
    this.readQueue = [];
    try {
      this.driver.readIndex((outcome) => {
        if (!outcome.ok) {
          for (const read of reads) read.resolve(resultOfOutcome(outcome));
          return;
        }
        const nowMs = Date.now();
        const expiring: QueuedRead[] = [];
        const keys = new Map<string, DropChoice["keys"][number]>();
        let bytes = 0;
        for (const read of reads) {
          const keyText = read.key.toString("latin1");
          const expiry = this.budget.expiryOnRead(keyText, nowMs);
          if (expiry === null) {
            read.resolve(this.answerRead(read, nowMs));
            continue;
          }
          // Past its deadline: the expiry goes through the log first, so every later read
          // (on any leader, whatever its clock) sees the key absent too.
          expiring.push(read);
          if (!keys.has(keyText)) {
            keys.set(keyText, expiry.keys[0]);
            bytes += expiry.bytes;
          }
        }
        if (expiring.length === 0) return;
        this.queueDrop({ reason: "expire", keys: [...keys.values()], bytes }, nowMs, (dropOutcome) => {
          for (const read of expiring) {
            if (dropOutcome?.ok === true) read.resolve(this.answerRead(read, Date.now()));
            else read.resolve({ ...fail(KvCode.KV_CODE_NOT_LEADER, "leadership lost"), leaderHint: this.core.status().leaderId ?? "" });
          }
        });
        this.schedule();
      });
    } catch (error) {
      const failure = resultOfError(error);
      for (const read of reads) read.resolve(failure);
    }
  }

  /** A read answered from the state machine (the read's index is applied). */
  private answerRead(read: QueuedRead, nowMs: number): ResultBody {
    if (read.kind === "ttl") {
      const entry = this.kv.summary(read.key.toString("latin1"));
      const ttlMs = entry === null ? -2 : entry.expiresAtMs === 0 ? -1 : Math.max(1, entry.expiresAtMs - nowMs);
      return { ...ok(), found: entry !== null, ttlMs };
    }
    const value = this.kv.get(read.key);
    if (value === null) return { ...ok(), found: false };
    this.kv.touch(read.key, nowMs, this.evictionRandom.next());
    return { ...ok(), found: true, value };
  }

  // ------------------------------------------------- RaftHost: called by the driver only

  persist(ready: RaftReady): void {
    this.storage.persist(ready);
  }

  /** Large appends are written and synced off the event loop (see DiskRaftStorage.persistAsync). */
  persistAsync(ready: RaftReady, done: (error: Error | null) => void): boolean {
    let bytes = 0;
    for (const entry of ready.entriesToPersist) bytes += entry.data.byteLength;
    if (bytes < RAFT_ASYNC_PERSIST_BYTES_MIN) return false;
    this.persistsRunning++;
    this.storage.persistAsync(ready, (error) => {
      this.persistsRunning--;
      if (this.stopped) {
        this.persistIdle?.();
        return; // stopping: nothing may run on this node any more
      }
      done(error);
    });
    return true;
  }

  send(messages: readonly RaftMessage[]): void {
    this.transport.send(messages);
  }

  restore(snapshot: Snapshot): void {
    this.kv.restore(snapshot.data);
    this.logger.info("raft.snapshot_installed", { index: snapshot.meta.lastIndex });
  }

  apply(entry: LogEntry): unknown {
    let result: KvApplyResult | null = null;
    let session: string | null = null;
    if (entry.type === "command") {
      let command: KvCommand | null = null;
      try {
        command = decodeCommand(entry.data);
      } catch (error) {
        // Commands are validated before proposal; a bad one is skipped the same way on every node.
        this.logger.error("raft.bad_command", { index: entry.index, message: errorMessage(error) });
      }
      if (command !== null) {
        result = this.kv.apply(command, entry.index);
        for (const dropped of result.dropped) this.recordDrop(dropped);
        // Only a leader tracks commands in its log (followers' tables are empty).
        if (this.retries.size > 0 && command.op !== "drop" && command.clientId !== 0) session = sessionKey(command.clientId, command.seq);
      }
    } else if (entry.type === "config") {
      this.logger.info("raft.config_applied", { index: entry.index, voters: this.core.status().voters });
    }
    this.retries.applied(entry.index, session, result);
    return result;
  }

  /**
   * Counts an eviction or expiry and logs it: key, version, the value's CRC-32 and the
   * leader's time when it chose the drop. The jepsen runner reads these lines and records
   * each as an "expire" of that value in the history (src/jepsen/drops.ts).
   */
  private recordDrop(dropped: DroppedKey): void {
    if (dropped.reason === "evict") this.counters.evicted++;
    else this.counters.expired++;
    this.logger.info(dropped.reason === "evict" ? "raft.key_evicted" : "raft.key_expired", {
      key: dropped.key,
      version: dropped.version,
      valueCrc32: dropped.valueCrc32,
      atMs: dropped.atMs,
    });
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

  /**
   * A new leader learns which client commands its log holds unapplied (a retry of one waits
   * for it); a node that stopped leading fails the writes it had not proposed and the retries
   * waiting on entries (those may still commit: maybe applied).
   */
  onLeadership(leading: boolean, status: RaftStatus): void {
    if (leading) {
      this.logger.info("raft.leader_elected", { term: status.term });
      const log = this.core.logView();
      for (let index = this.driver.appliedIndex + 1; index <= log.lastIndex(); index++) {
        if (log.typeOf(index) !== "command") continue;
        const session = commandSession(log.entry(index).data);
        if (session !== null && session.clientId !== 0) this.retries.track(sessionKey(session.clientId, session.seq), index);
      }
      return;
    }
    this.logger.info("raft.leadership_lost", { term: status.term, leader: status.leaderId });
    const queued = this.writeQueue;
    this.writeQueue = [];
    for (const write of queued) write.failed(new NotLeaderError(status.leaderId, "leadership lost"));
    this.retries.clear(status.leaderId);
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
    return this.kv.scan(cursor, slotsMax, Date.now());
  }

  stats(): KvStatsReply {
    const status = this.core.status();
    const kv = this.kv.stats();
    // Entry data the log holds in memory: entries not yet applied and persisted (applied
    // ones are read back from log.bin when a follower needs them again).
    const logBytes = this.core.logView().dataBytesHeld;
    const { config } = this.options;
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
      usedBytes: this.kv.usedBytes(),
      maxMemoryBytes: config.maxMemoryBytes,
      evictionPolicy: config.evictionPolicy,
      evictedKeys: this.counters.evicted,
      expiredKeys: this.counters.expired,
      rejectedWrites: this.counters.rejected,
      indexBytes: this.kv.indexBytes(),
      arenaFreeBytes: this.kv.freeBytes(),
      volatileKeys: this.kv.volatileKeys,
    };
  }

  /** A joining node asks the cluster's leader to add it, until it is a voter. */
  private async joinCluster(): Promise<void> {
    const { RaftClient } = await import("./client");
    const client = new RaftClient({ servers: this.options.config.servers, rpcTimeoutMs: 1_000, attemptsMax: 3, authToken: this.auth ?? undefined, tls: this.options.config.clientTls });
    let refusedLogged = false;
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
          // The cluster refuses this node's token: say so once, plainly; it keeps trying (the
          // token file may be put right and the node signalled).
          if (error instanceof UnauthenticatedError && !refusedLogged) {
            refusedLogged = true;
            this.logger.error("raft.join_refused", { message: errorMessage(error) });
          }
        }
        await new Promise((resolve) => setTimeout(resolve, JOIN_RETRY_MS));
      }
      if (!this.stopped) this.logger.error("raft.join_failed", { attempts: JOIN_ATTEMPTS_MAX });
    } finally {
      client.close();
    }
  }
}

/** What an EXPIRE that gives a value its first deadline adds to its block, at most. */
const DEADLINE_FIELD_GROWTH_BYTES = 8;

function ok(): ResultBody {
  return {
    code: KvCode.KV_CODE_OK,
    message: "",
    leaderHint: "",
    value: Buffer.alloc(0),
    found: false,
    stats: undefined,
    maybeApplied: false,
    existed: false,
    ttlMs: 0,
    hadTtl: false,
    written: false,
    valueBytes: 0,
  };
}

function conditionOf(condition: KvSetCondition): SetCondition | null {
  switch (condition) {
    case KvSetCondition.KV_SET_CONDITION_NONE:
      return "none";
    case KvSetCondition.KV_SET_CONDITION_NX:
      return "nx";
    case KvSetCondition.KV_SET_CONDITION_XX:
      return "xx";
    default:
      return null;
  }
}

/**
 * A conditional write's answer from its outcome; null (a retry whose result the state machine
 * no longer keeps, kv_state.ts): applied, but what it did is unknown here, so the client must
 * report the outcome as unknown rather than guess.
 */
function resultOfConditional(outcome: KvWriteOutcome | null): ResultBody {
  if (outcome === null) {
    return { ...fail(KvCode.KV_CODE_INTERNAL, "this write was applied, but its result is no longer kept (retried too late)"), maybeApplied: true };
  }
  return { ...ok(), written: outcome.written, value: outcome.previous ?? Buffer.alloc(0), found: outcome.previous !== null, valueBytes: outcome.valueBytes };
}

function fail(code: KvCode, message: string): ResultBody {
  return { ...ok(), code, message };
}

function resultOfOutcome(outcome: RaftOutcome): ResultBody {
  if (outcome.ok) return ok();
  return { ...fail(KvCode.KV_CODE_NOT_LEADER, outcome.reason), leaderHint: outcome.leaderHint ?? "" };
}

/** A write's outcome: ok (with what it found), or failed, saying whether it may still be applied. */
function resultOfWrite(outcome: RaftOutcome, conditional: boolean): ResultBody {
  if (outcome.ok) {
    const applied = outcome.result as KvApplyResult | null | undefined;
    // A duplicate's outcome is the first application's (remembered); null: not kept.
    if (conditional) return resultOfConditional(applied?.outcome ?? null);
    return { ...ok(), existed: applied?.existed ?? false, hadTtl: applied?.hadDeadline ?? false };
  }
  return { ...fail(KvCode.KV_CODE_NOT_LEADER, outcome.reason), leaderHint: outcome.leaderHint ?? "", maybeApplied: outcome.maybeApplied };
}

/**
 * The configuration change a client's add/remove member asks for. A node id is its address,
 * so an added member must be a host:port (InvalidArgumentError otherwise): a voter with any
 * other name can never be reached, and a few of them cost the group its quorum for good (the
 * port fuzzer's addMember of ":" and "[::1" did). A remove needs no check: the core refuses
 * a name that is not a voter.
 */
export function memberChange(kind: "addMember" | "removeMember", address: string): ConfChange {
  if (kind === "addMember") parseAddress(address);
  return { type: kind === "addMember" ? "add" : "remove", nodeId: address };
}

function resultOfError(error: unknown): ResultBody {
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
