// Bench target `redis`: Debian's redis-server as a single node (replicas=0) or a primary
// with asynchronous replicas (replicas=2: node0 primary, node1..2 replicas), on loopback,
// with persistence off (--save "" --appendonly no), as an in-memory cache runs it.
//
// The client (ioredis, redis/client.ts) pipelines the commands of each event-loop turn on one
// connection to the primary; reads and writes go to the primary. Replication is asynchronous: a write is acknowledged
// when the primary has it; with wait=1 every write is followed by WAIT <replicas> so it is
// acknowledged only once every replica has it (closer to what ecc and Raft promise). There is
// no automatic failover (that needs Sentinel): a killed primary means errors until it is back,
// and a restarted primary comes back empty and its replicas resynchronise to empty.
//
// Logical bytes: redis's own INFO memory used_memory_dataset (allocator bytes of the
// dataset: keys, values and their per-entry overhead), not an exact count of user bytes.
//
// Memory budget (max_memory, policy): every node runs with --maxmemory and --maxmemory-policy.
// A replica leaves evicting to its primary (Redis's replica-ignore-maxmemory default): it
// applies the primary's evictions, which reach it as deletes.
//
// Parameters: replicas (0..4), wait (0|1), binary (path of redis-server), max_memory, policy.
import path from "node:path";
import fs from "node:fs";
import { InvalidArgumentError } from "../core/errors";
import { RPC_TIMEOUT_MS } from "../core/limits";
import { binaryVersion } from "./etcd_target";
import { sleep } from "../core/env";
import { LocalCluster, LocalFaults } from "./local_cluster";
import { RedisClient, parseInfo, redisClient } from "./redis/client";
import { BUDGET_PARAMS, BenchClient, BenchTarget, ClusterHandle, NodeBudget, NodeInfo, NodeStats, TargetContext, TargetParams, budgetParams, budgetRecord, checkParamNames, intParam } from "./target";

const PARAMS = ["replicas", "wait", "binary", ...BUDGET_PARAMS] as const;

/** redis-server arguments of a memory budget (none without one). */
export function redisBudgetArgs(budget: NodeBudget | null): string[] {
  return budget === null ? [] : ["--maxmemory", String(budget.maxMemoryBytes), "--maxmemory-policy", budget.evictionPolicy];
}
const CLUSTER_READY_TIMEOUT_MS = 30_000;

export const redisTarget: BenchTarget = {
  kind: "redis",
  description: "redis-server (Debian), single node or primary + async replicas, persistence off (params replicas, wait, binary)",

  async unavailableReason(params: TargetParams): Promise<string | null> {
    const binary = params.binary ?? "redis-server";
    return binaryVersion(binary, ["--version"], /v=(\S+)/) === null
      ? `redis binary '${binary}' not found or not runnable (Debian: apt-get install -y redis-server)`
      : null;
  },

  label(params: TargetParams): string {
    const replicas = intParam(params, "replicas", 0, 0, 4);
    const wait = intParam(params, "wait", 0, 0, 1);
    return replicas === 0 ? "redis(1)" : `redis(1+${replicas}${wait === 1 ? ",wait" : ""})`;
  },

  nodeCount(params: TargetParams): number {
    return intParam(params, "replicas", 0, 0, 4) + 1;
  },

  validate(params: TargetParams): void {
    checkParamNames("redis", params, PARAMS);
    budgetParams("redis", params);
    intParam(params, "replicas", 0, 0, 4);
    intParam(params, "wait", 0, 0, 1);
  },

  async start(context: TargetContext): Promise<ClusterHandle> {
    const { params } = context;
    this.validate(params);
    const replicas = intParam(params, "replicas", 0, 0, 4);
    const wait = intParam(params, "wait", 0, 0, 1) === 1;
    const binary = params.binary ?? "redis-server";
    const version = binaryVersion(binary, ["--version"], /v=(\S+)/) ?? "unknown";
    const label = this.label(params);
    const budget = budgetParams("redis", params);
    if (context.servers !== null) {
      if (context.servers.length !== replicas + 1) throw new InvalidArgumentError(`redis: ${context.servers.length} servers given but replicas=${replicas}`);
      return new RedisCluster(label, context.servers, null, replicas, wait, true, version, budget);
    }
    const ports = await context.ports(replicas + 1);
    const addresses = ports.map((port) => `127.0.0.1:${port}`);
    const cluster = new LocalCluster(
      ports.map((port, index) => {
        const dir = path.join(context.workDir, `redis-node${index}`);
        fs.mkdirSync(dir, { recursive: true });
        const args = [
          "--port", String(port),
          "--bind", "127.0.0.1",
          "--save", "",
          "--appendonly", "no",
          "--daemonize", "no",
          "--dir", dir,
          "--loglevel", "notice",
          "--logfile", "",
          ...redisBudgetArgs(budget),
        ];
        if (index > 0) args.push("--replicaof", "127.0.0.1", String(ports[0]));
        return {
          name: `node${index}`,
          address: addresses[index],
          role: index === 0 ? "primary" : "replica",
          command: binary,
          args,
          readyLine: /Ready to accept connections/,
        };
      }),
      context.launcher,
      { onUnexpectedExit: (node, code, signal) => context.log(`redis ${node} exited unexpectedly (${signal ?? code})`) },
    );
    await cluster.startAll();
    const handle = new RedisCluster(label, addresses, cluster, replicas, wait, false, version, budget);
    try {
      await handle.waitForReplicas(CLUSTER_READY_TIMEOUT_MS);
    } catch (error) {
      await handle.stop();
      throw error;
    }
    return handle;
  },
};

/** Keys the node evicted so far (INFO stats evicted_keys), when it says. */
function evictedKeys(info: Record<string, string>): Record<string, number> {
  const value = Number(info.evicted_keys);
  return Number.isFinite(value) && info.evicted_keys !== undefined ? { evictedKeys: value } : {};
}

function connection(address: string): RedisClient {
  return redisClient(address, RPC_TIMEOUT_MS);
}

class RedisCluster extends LocalFaults implements ClusterHandle {
  readonly kind = "redis";
  readonly idealOverhead: number;
  readonly logicalSource = "redis INFO used_memory_dataset: allocator bytes of keys, values and per-entry overhead";
  readonly params: Record<string, string | number | boolean>;
  private readonly statsConnections: RedisClient[];
  private readonly clients: RedisClient[] = [];
  private stopped = false;

  constructor(
    readonly label: string,
    private readonly addresses: string[],
    cluster: LocalCluster | null,
    private readonly replicas: number,
    private readonly wait: boolean,
    readonly attached: boolean,
    version: string,
    budget: NodeBudget | null,
  ) {
    super(cluster);
    this.idealOverhead = replicas + 1;
    this.params = { replicas, wait, version, persistence: "off", ...budgetRecord(budget) };
    this.statsConnections = addresses.map(connection);
  }

  nodes(): NodeInfo[] {
    if (this.cluster !== null) return this.cluster.nodes();
    return this.addresses.map((address, index) => ({
      name: `node${index}`,
      address,
      pid: null,
      running: true,
      paused: false,
      role: index === 0 ? "primary" : "replica",
    }));
  }

  async waitForReplicas(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last = "";
    while (performance.now() < deadline) {
      try {
        const info = parseInfo(await this.statsConnections[0].info("replication"));
        const online = Object.keys(info).filter((field) => /^slave\d+$/.test(field) && info[field].includes("state=online")).length;
        if (online >= this.replicas) return;
        last = `${online} of ${this.replicas} replicas online`;
      } catch (error) {
        last = (error as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`redis replicas not in sync after ${timeoutMs} ms (${last})`);
  }

  async connect(): Promise<BenchClient> {
    const primary = connection(this.addresses[0]);
    this.clients.push(primary);
    const replicas = this.replicas;
    const wait = this.wait;
    return {
      get: async (key) => primary.getBuffer(key),
      set: async (key, value) => {
        if (!wait) {
          await primary.set(key, value);
          return;
        }
        const [, acknowledged] = await Promise.all([primary.set(key, value), primary.wait(replicas, RPC_TIMEOUT_MS)]);
        if (acknowledged < replicas) throw new Error(`WAIT: only ${acknowledged} of ${replicas} replicas acknowledged the write`);
      },
      del: async (key) => {
        await primary.del(key);
        if (wait) await primary.wait(replicas, RPC_TIMEOUT_MS);
      },
      close: async () => primary.disconnect(),
    };
  }

  async stats(): Promise<Array<NodeStats | null>> {
    return Promise.all(
      this.statsConnections.map(async (stats) => {
        try {
          const [memory, counters, keys] = await Promise.all([stats.info("memory"), stats.info("stats"), stats.dbsize()]);
          const info = parseInfo(memory);
          return {
            logicalBytes: Number(info.used_memory_dataset),
            keyCount: Number(keys),
            rssBytes: Number(info.used_memory_rss),
            extra: { usedMemoryBytes: Number(info.used_memory), usedMemoryOverheadBytes: Number(info.used_memory_overhead), ...evictedKeys(parseInfo(counters)) },
          };
        } catch {
          return null; // unreachable (killed, paused)
        }
      }),
    );
  }


  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const client of this.clients) client.disconnect();
    for (const stats of this.statsConnections) stats.disconnect();
    if (this.cluster !== null) await this.cluster.stop();
  }

}
