// The RESP backend of a raft node: every data command is forwarded to the leader through a
// RaftClient (the client library's own leader discovery and retries across leader changes;
// reads are linearizable through the leader's ReadIndex), so any Redis client works against
// any node unchanged. The other choice, answering a follower's commands with a redirect
// (Redis Cluster's -MOVED), would need a cluster-aware client: redis-cli, redis-benchmark and a
// plain ioredis do not follow one to another port.
//
// What raft mode cannot do yet through this front door, because the raft state machine on
// this branch has no TTLs and no conditional writes: SET's EX/PX/EXAT/PXAT/KEEPTTL/NX/XX/GET,
// EXPIRE, PEXPIRE, GETDEL and APPEND answer "ERR ... not supported in raft mode"; TTL and PTTL
// answer -1 for a key that exists; PERSIST 0. DEL's count comes from a read before the delete
// (two keys' deletes by other clients in between can make it off by one); a delete itself is
// linearizable. DBSIZE, SCAN and KEYS list this node's state machine (a follower's may lag).
import { RaftClient } from "../raft/client";
import { RaftClusterConfig } from "../raft/config";
import { RaftNodeRuntime } from "../raft/node";
import { BackendInfo, KeyStat, RespBackend, ScanPage, SetOutcome, SetRequest } from "./backend";
import { CommandError } from "./arguments";
import { resolveRange } from "../ecc/read_coordinator";

function notInRaft(what: string): CommandError {
  return new CommandError(`ERR ${what} is not supported in raft mode yet (the raft state machine has no TTLs or conditional writes)`);
}

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
    const value = await this.client.get(key);
    return value === null ? null : { valueBytes: value.length, expiresAtMs: 0 };
  }

  async set(key: Buffer, value: Buffer, request: SetRequest): Promise<SetOutcome> {
    if (request.condition !== "none") throw notInRaft(`SET ${request.condition.toUpperCase()}`);
    if (request.returnPrevious) throw notInRaft("SET ... GET");
    if (request.expiry.kind !== "none") throw notInRaft("a TTL");
    await this.client.set(key, value);
    return { applied: true, previous: null };
  }

  async getDel(): Promise<Buffer | null> {
    throw notInRaft("GETDEL");
  }

  async del(key: Buffer): Promise<boolean> {
    const existed = (await this.client.get(key)) !== null;
    if (existed) await this.client.del(key);
    return existed;
  }

  async expire(_key: Buffer, expireAtMs: number | null): Promise<boolean> {
    if (expireAtMs === null) return false; // PERSIST: no key has a TTL here
    throw notInRaft("EXPIRE");
  }

  async append(): Promise<number> {
    throw notInRaft("APPEND");
  }

  async scan(cursor: number, count: number): Promise<ScanPage> {
    const keys: Buffer[] = [];
    let next = cursor;
    let slots = 0;
    do {
      const page = this.node.scanKeys(next, count);
      keys.push(...page.keys);
      next = page.next;
      slots += count;
    } while (next !== 0 && keys.length < count && slots < 10 * count);
    return { cursor: next, keys };
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
      memory: [
        ["used_memory", stats.valueBytes + stats.keyBytes + stats.metaBytes],
        ["cache_log_bytes", stats.logBytes],
      ],
      replication: [
        ["role", "master"],
        ["connected_slaves", 0],
        ["cache_replication", `raft: ${stats.voters.length} voters, this node is ${stats.role}`],
      ],
      keys: stats.keyCount,
      keysWithTtl: 0,
    };
  }

  configValues(): Record<string, string> {
    return { save: "", appendonly: "no", databases: "1", "cache-servers": this.config.servers.join(",") };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
