// The RESP backend of a raft node: every data command is forwarded to the leader through a
// RaftClient (the client library's own leader discovery and retries across leader changes;
// reads are linearizable through the leader's ReadIndex), so any Redis client works against
// any node unchanged. The other choice, answering a follower's commands with a redirect
// (Redis Cluster's -MOVED), would need a cluster-aware client: redis-cli, redis-benchmark and a
// plain ioredis do not follow one to another port.
//
// TTLs are the raft state machine's own (the leader turns a TTL into a deadline when it
// takes the write): SET's EX/PX (and EXAT/PXAT as the time left from now), EXPIRE, PEXPIRE,
// TTL, PTTL, PERSIST. Conditional writes are the state machine's too (kv_state.ts): SET's
// NX/XX/GET/KEEPTTL, GETDEL and APPEND each go into the log as one command whose condition is
// checked when it applies, the same on every node, so of concurrent SET NX on any nodes exactly
// one wins, and a retry across a leader change gets the first attempt's answer. DEL's count is
// the state machine's (whether the key held a value when the delete applied). DBSIZE, SCAN and KEYS list this node's state machine
// (a follower's may lag the leader's by the entries not yet applied there).
import assert from "node:assert/strict";
import { ValueTooLargeError } from "../core/errors";
import { VALUE_BYTES_MAX } from "../core/limits";
import { RaftClient, RaftSetOptions } from "../raft/client";
import { RaftClusterConfig } from "../raft/config";
import { RaftNodeRuntime } from "../raft/node";
import { BackendInfo, KeyStat, RespBackend, ScanPage, SetOutcome, SetRequest, memoryInfo, scanAsRedis } from "./backend";
import { CommandError } from "./arguments";
import { ERR_STRING_TOO_LONG } from "./errors";
import { resolveRange } from "../ecc/read_coordinator";

export class RaftRespBackend implements RespBackend {
  readonly mode = "raft" as const;

  constructor(
    private readonly node: RaftNodeRuntime,
    private readonly client: RaftClient,
    private readonly config: RaftClusterConfig,
  ) {}

  get(key: Buffer): Promise<Buffer | null> {
    return this.client.get(key);
  }

  async getRange(key: Buffer, start: number, end: number): Promise<Buffer | null> {
    const value = await this.client.get(key);
    if (value === null) return null;
    const range = resolveRange({ start, end }, value.length);
    return range === null ? Buffer.alloc(0) : value.subarray(range.start, range.end + 1);
  }

  async stat(key: Buffer): Promise<KeyStat | null> {
    const [value, ttlMs] = await Promise.all([this.client.get(key), this.client.ttl(key)]);
    if (value === null || ttlMs === -2) return null;
    return { valueBytes: value.length, expiresAtMs: ttlMs > 0 ? Date.now() + ttlMs : 0 };
  }

  async set(key: Buffer, value: Buffer, request: SetRequest): Promise<SetOutcome> {
    const options: RaftSetOptions = { condition: request.condition, returnPrevious: request.returnPrevious, keepTtl: request.expiry.kind === "keep" };
    if (request.expiry.kind === "at") {
      const ttlMs = request.expiry.atMs - Date.now();
      if (ttlMs <= 0 && request.condition === "none" && !request.returnPrevious) {
        // A deadline already past (EXAT/PXAT): the value would expire at once, as in Redis.
        await this.client.del(key);
        return { applied: true, previous: null };
      }
      // Conditional: the condition and the previous value still count, so the set goes in
      // with the shortest TTL (expiring at once after it applies).
      options.ttlMs = Math.max(1, ttlMs);
    }
    return this.client.set(key, value, options);
  }

  getDel(key: Buffer): Promise<Buffer | null> {
    return this.client.getDel(key);
  }

  del(key: Buffer): Promise<boolean> {
    return this.client.del(key);
  }

  async expire(key: Buffer, expireAtMs: number | null): Promise<boolean> {
    if (expireAtMs === null) return (await this.client.persist(key)) === "removed";
    return this.client.expire(key, Math.max(1, expireAtMs - Date.now()));
  }

  async append(key: Buffer, suffix: Buffer, lengthMax: number): Promise<number> {
    // The state machine refuses an append past VALUE_BYTES_MAX; a lower lengthMax is not one it knows.
    assert(lengthMax === VALUE_BYTES_MAX, "raft appends are bounded by VALUE_BYTES_MAX");
    try {
      return await this.client.append(key, suffix);
    } catch (error) {
      if (error instanceof ValueTooLargeError) throw new CommandError(ERR_STRING_TOO_LONG);
      throw error;
    }
  }

  async scan(cursor: number, count: number): Promise<ScanPage> {
    return scanAsRedis(cursor, count, (from, slots) => this.node.scanKeys(from, slots));
  }

  async info(): Promise<BackendInfo> {
    const stats = this.node.stats();
    return {
      server: [
        ["cache_mode", "raft"],
        ["cache_raft_role", stats.role],
        ["cache_raft_term", stats.term],
        ["cache_raft_leader", stats.leaderId],
        ["cache_raft_voters", stats.voters.join(",")],
        ["cache_raft_commit_index", stats.commitIndex],
        ["cache_raft_applied_index", stats.appliedIndex],
      ],
      memory: memoryInfo(stats, [["cache_log_bytes", stats.logBytes]]),
      replication: [
        ["role", "master"],
        ["connected_slaves", 0],
        ["cache_replication", `raft: ${stats.voters.length} voters, this node is ${stats.role}`],
      ],
      keys: stats.keyCount,
      keysWithTtl: stats.volatileKeys,
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
}
