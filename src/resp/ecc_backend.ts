// The RESP backend of an ecc node: the node that receives a command is its coordinator. It
// encodes, runs the two-phase commit and decodes through an EcClient of its own, the same
// client library (and so the same pure cores: write_coordinator.ts, read_coordinator.ts)
// every other client uses; nothing about the protocol is decided here.
//
// Conditional writes are the 2PC's own: SET NX / XX commit only when, with every node of
// the view locked for the write, no node / some node holds a live value (EcPrepare's
// answers carry each node's committed version). Commands that read and then write (SET ...
// GET, GETDEL, APPEND) write on the condition that the key is still at the version they
// read, and start over when another writer got between (EC_WRITE_ATTEMPTS_MAX attempts).
//
// DBSIZE, SCAN, KEYS and INFO's keyspace come from this node's own shard store: every node
// holds a shard of every key, so a member's store lists every key (a recovering node's does
// not yet: it answers those with LOADING).
import { EcClient, EccNodeLink } from "../ecc/client";
import { EccClusterConfig } from "../ecc/config";
import { EccNodeRuntime } from "../ecc/node";
import { WriteAbortedError } from "../core/errors";
import { EC_WRITE_ATTEMPTS_MAX } from "../core/limits";
import { BackendInfo, KeyStat, RespBackend, ScanPage, SetOutcome, SetRequest, memoryInfo, scanAsRedis } from "./backend";
import { CommandError } from "./arguments";
import { ERR_STRING_TOO_LONG } from "./errors";
import { KeyWriteQueue } from "./write_queue";

/** How long INFO's count of keys with a TTL (a walk over the store) is reused. */
const TTL_COUNT_REUSE_MS = 5_000;

export class EccRespBackend implements RespBackend {
  readonly mode = "ecc" as const;
  private ttlCount: { keys: number; atMs: number } | null = null;
  /** GETs waiting for the next turn, when their shared read starts (see get()). */
  private readonly readsToStart = new Map<string, { key: Buffer; promise: Promise<Buffer | null>; resolve(value: Buffer | null): void; reject(reason: unknown): void }>();
  /** Every write of a key through this node, one at a time, blind SETs folded (write_queue.ts). */
  private readonly writes = new KeyWriteQueue();

  constructor(
    private readonly node: EccNodeRuntime,
    private readonly client: EcClient,
    private readonly config: EccClusterConfig,
  ) {}

  /**
   * Reads of one key that arrive before the next read of it starts share that read: the read
   * starts in the next turn of the event loop (setImmediate), after every GET that arrived
   * meanwhile, on any connection, has joined it. Linearizable: each joiner was invoked before
   * the shared read began and is answered after it ended, so the read's linearization point
   * lies within every joiner's own span. A hot key read by many clients (redis-benchmark's
   * single key, a cache's most popular entries) then costs one fan-out per turn.
   */
  get(key: Buffer): Promise<Buffer | null> {
    const name = key.toString("latin1");
    let read = this.readsToStart.get(name);
    if (read === undefined) {
      let resolve: (value: Buffer | null) => void = () => undefined;
      let reject: (reason: unknown) => void = () => undefined;
      const promise = new Promise<Buffer | null>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      read = { key, promise, resolve, reject };
      this.readsToStart.set(name, read);
      if (this.readsToStart.size === 1) setImmediate(() => this.startReads());
    }
    return read.promise;
  }

  private startReads(): void {
    const reads = [...this.readsToStart.values()];
    this.readsToStart.clear();
    for (const read of reads) this.client.get(read.key).then(read.resolve, read.reject);
  }

  getRange(key: Buffer, start: number, end: number): Promise<Buffer | null> {
    return this.client.getRange(key, start, end);
  }

  stat(key: Buffer): Promise<KeyStat | null> {
    return this.client.stat(key);
  }

  set(key: Buffer, value: Buffer, request: SetRequest): Promise<SetOutcome> {
    const blind = !request.returnPrevious && request.condition === "none" && request.expiry.kind !== "keep";
    return this.writes.submit(key.toString("latin1"), blind, () => this.setNow(key, value, request));
  }

  private async setNow(key: Buffer, value: Buffer, request: SetRequest): Promise<SetOutcome> {
    const expiry =
      request.expiry.kind === "at" ? { expireAtMs: request.expiry.atMs } : request.expiry.kind === "keep" ? { keepTtl: true } : {};
    if (!request.returnPrevious) {
      const condition = request.condition === "none" ? undefined : request.condition;
      const outcome = await this.client.set(key, value, { ...expiry, condition });
      return { applied: outcome.applied, previous: null };
    }
    for (let attempt = 0; attempt < EC_WRITE_ATTEMPTS_MAX; attempt++) {
      const read = await this.client.getVersioned(key);
      const previous = read.kind === "value" ? read.value : null;
      if ((request.condition === "nx" && previous !== null) || (request.condition === "xx" && previous === null)) {
        return { applied: false, previous };
      }
      const outcome = await this.client.set(key, value, { ...expiry, ifVersion: read.version });
      if (outcome.applied) return { applied: true, previous };
    }
    throw contended("SET ... GET");
  }

  getDel(key: Buffer): Promise<Buffer | null> {
    return this.writes.submit(key.toString("latin1"), false, () => this.getDelNow(key));
  }

  private async getDelNow(key: Buffer): Promise<Buffer | null> {
    for (let attempt = 0; attempt < EC_WRITE_ATTEMPTS_MAX; attempt++) {
      const read = await this.client.getVersioned(key);
      if (read.kind !== "value") return null;
      if ((await this.client.del(key, { ifVersion: read.version })).applied) return read.value;
    }
    throw contended("GETDEL");
  }

  del(key: Buffer): Promise<boolean> {
    return this.writes.submit(key.toString("latin1"), false, async () => (await this.client.del(key)).applied);
  }

  expire(key: Buffer, expireAtMs: number | null): Promise<boolean> {
    return this.writes.submit(key.toString("latin1"), false, () => this.client.expire(key, expireAtMs === null ? null : { expireAtMs }));
  }

  append(key: Buffer, suffix: Buffer, lengthMax: number): Promise<number> {
    return this.writes.submit(key.toString("latin1"), false, () => this.appendNow(key, suffix, lengthMax));
  }

  private async appendNow(key: Buffer, suffix: Buffer, lengthMax: number): Promise<number> {
    for (let attempt = 0; attempt < EC_WRITE_ATTEMPTS_MAX; attempt++) {
      const read = await this.client.getVersioned(key);
      const before = read.kind === "value" ? read.value : Buffer.alloc(0);
      if (before.length + suffix.length > lengthMax) throw new CommandError(ERR_STRING_TOO_LONG);
      const after = Buffer.concat([before, suffix]);
      // APPEND keeps the key's TTL, as in Redis.
      const outcome = await this.client.set(key, after, { keepTtl: true, ifVersion: read.version });
      if (outcome.applied) return after.length;
    }
    throw contended("APPEND");
  }

  async scan(cursor: number, count: number): Promise<ScanPage> {
    this.requireMember();
    const nowMs = Date.now();
    return scanAsRedis(cursor, count, (from, slots) => {
      const page = this.node.replica.store.scan(from, slots);
      const keys = page.entries.filter((entry) => !entry.tombstone && !(entry.expiresAtMs !== 0 && entry.expiresAtMs <= nowMs)).map((entry) => Buffer.from(entry.key, "latin1"));
      return { keys, next: page.next };
    });
  }

  async info(): Promise<BackendInfo> {
    const stats = this.node.stats();
    const view = stats.view;
    const state = this.node.state();
    return {
      server: [
        ["cache_mode", "ecc"],
        ["cache_k", this.config.dataShards],
        ["cache_n", this.config.dataShards + this.config.parityShards],
        ["cache_shard_index", this.node.shardIndex],
        ["cache_view_epoch", view?.epoch ?? 0],
        ["cache_view_members", (view?.members ?? []).join(",")],
        ["cache_view_recovering", (view?.recovering ?? []).join(",")],
        ["cache_node_state", state],
      ],
      memory: memoryInfo(stats, [["cache_held_bytes", stats.heldBytes]]),
      replication: [
        ["role", "master"],
        ["connected_slaves", 0],
        ["cache_replication", `erasure coded: shard ${this.node.shardIndex} of ${this.config.dataShards + this.config.parityShards}`],
      ],
      keys: stats.keyCount - stats.tombstoneCount,
      keysWithTtl: this.keysWithTtl(),
    };
  }

  configValues(): Record<string, string> {
    return {
      maxmemory: String(this.config.maxMemoryBytes),
      "maxmemory-policy": this.config.evictionPolicy,
      save: "",
      appendonly: "no",
      databases: "1",
    };
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private requireMember(): void {
    const state = this.node.state();
    if (state !== "member") throw new CommandError(`LOADING this node is ${state}: it cannot list every key until its shards are rebuilt (ask a member)`);
  }

  /** Live keys with a TTL, by a walk over the store reused for a few seconds. */
  private keysWithTtl(): number {
    const nowMs = Date.now();
    if (this.ttlCount !== null && nowMs - this.ttlCount.atMs < TTL_COUNT_REUSE_MS) return this.ttlCount.keys;
    let keys = 0;
    let cursor = 0;
    do {
      const page = this.node.replica.store.scan(cursor, 65_536);
      for (const entry of page.entries) if (!entry.tombstone && entry.expiresAtMs > nowMs) keys += 1;
      cursor = page.next;
    } while (cursor !== 0);
    this.ttlCount = { keys, atMs: nowMs };
    return keys;
  }
}

function contended(command: string): WriteAbortedError {
  return new WriteAbortedError(`${command} gave up after ${EC_WRITE_ATTEMPTS_MAX} attempts: the key kept changing under it`);
}

/**
 * The link through which a node's RESP client reaches the node itself: the operation goes
 * straight to the node's handler, as the gRPC server would hand it over, without encoding it,
 * a loopback round trip and decoding it on both sides, in the busiest process of the path.
 */
export function selfLink(node: EccNodeRuntime): EccNodeLink {
  return {
    send: (body, _timeoutMs, epoch) => Promise.resolve(node.handle({ id: 0, epoch: epoch ?? 0, body })),
    healthy: () => true,
    close: () => undefined,
  };
}
