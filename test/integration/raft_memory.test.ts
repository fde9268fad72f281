// raft mode's memory budget and TTLs against real node processes (3 nodes, fast timers).
// Properties checked, each on a cluster with a tight budget (max_memory_bytes 6 MiB):
// - filled past its budget once per eviction policy, no node dies and every node's used
//   bytes stay within the budget (sampled during the flood and after), and every node
//   applies the same evictions (the leader decides, followers never evict on their own);
// - noeviction refuses writes that need memory with OutOfMemoryError (the CLI: exit 9) and
//   keeps every acknowledged key readable; reads and deletes go on working;
// - allkeys-lru keeps a hot set that fits while cold keys flood in;
// - volatile-* evict only keys with a TTL (volatile-ttl the nearest deadlines first) and
//   refuse writes once none is left; no other policy ever returns a wrong value;
// - keys with a TTL disappear within the stated bound (deadline + 2 s) from every node,
//   which counts each expiration, and read as not found;
// - bad input: TTL 0, negative, not a number or too long is a usage error (exit 2); an
//   unknown policy or a budget below the minimum is a config error (exit 4).
import assert from "node:assert/strict";
import { OutOfMemoryError } from "../../src/core/errors";
import { KvStatsReply } from "../../src/gen/raft";
import { RaftClient } from "../../src/raft/client";
import { RaftTestCluster, startRaftCluster } from "../support/raft_cluster";
import { runCli, sleep } from "../support/processes";

const BUDGET_BYTES = 6 * 1024 * 1024;
const VALUE_BYTES = 4 * 1024;
/** The bound README states: a value is gone from every node within this long after its deadline. */
const EXPIRY_BOUND_MS = 2_000;

function valueOf(key: string, bytes = VALUE_BYTES): Buffer {
  const value = Buffer.alloc(bytes, key.length);
  value.write(key, 0, "latin1");
  return value;
}

interface FloodResult {
  acknowledged: Set<string>;
  outOfMemory: number;
  otherErrors: string[];
}

/**
 * Sets `keys` with `concurrency` writers; each key's value is valueOf(key). With
 * `writesPerSecond`, no faster than that.
 */
async function flood(
  client: RaftClient,
  keys: string[],
  concurrency: number,
  ttlMsOf: (key: string) => number | undefined = () => undefined,
  writesPerSecond = Number.POSITIVE_INFINITY,
): Promise<FloodResult> {
  const result: FloodResult = { acknowledged: new Set(), outOfMemory: 0, otherErrors: [] };
  const startedMs = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < keys.length) {
        const position = next++;
        const key = keys[position];
        const dueMs = startedMs + (position * 1000) / writesPerSecond;
        if (dueMs > performance.now()) await sleep(dueMs - performance.now());
        try {
          await client.set(key, valueOf(key), { ttlMs: ttlMsOf(key) });
          result.acknowledged.add(key);
        } catch (error) {
          if (error instanceof OutOfMemoryError) result.outOfMemory++;
          else result.otherErrors.push(String(error));
        }
      }
    }),
  );
  return result;
}

/** Polls every node's stats until stopped: the most each used, and whether any was unreachable. */
function watchMemory(cluster: RaftTestCluster, client: RaftClient): { stop: () => Promise<{ usedMax: number[]; samples: number }> } {
  const usedMax = cluster.config.servers.map(() => 0);
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const stats = await client.statsAll(cluster.config.servers);
      stats.forEach((s, index) => {
        if (s !== null) usedMax[index] = Math.max(usedMax[index], s.usedBytes);
      });
      samples++;
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { usedMax, samples };
    },
  };
}

async function statsOfAll(cluster: RaftTestCluster, client: RaftClient): Promise<KvStatsReply[]> {
  const stats = await client.statsAll(cluster.config.servers);
  assert(stats.every((s) => s !== null), "every node answers");
  return stats as KvStatsReply[];
}

/** Waits until every node applied what the leader committed (bounded). */
async function settled(cluster: RaftTestCluster, client: RaftClient): Promise<KvStatsReply[]> {
  for (let round = 0; round < 100; round++) {
    const stats = await client.statsAll(cluster.config.servers);
    const leader = stats.find((s) => s?.role === "leader");
    const commitIndex = leader?.commitIndex;
    if (commitIndex !== undefined && stats.every((s) => s !== null && s.appliedIndex >= commitIndex)) return stats as KvStatsReply[];
    await sleep(50);
  }
  throw new Error("the nodes did not catch up with the leader within 5 s");
}

function assertAlive(cluster: RaftTestCluster): void {
  for (const [address, node] of cluster.nodes) assert(node.launched.running, `${address} is running (it exited: ${node.launched.describeExit()})`);
}

function assertWithinBudget(usedMax: number[], stats: KvStatsReply[]): void {
  usedMax.forEach((used, index) => assert(used <= BUDGET_BYTES, `node ${index} used ${used} bytes, budget ${BUDGET_BYTES}`));
  for (const s of stats) assert(s.usedBytes <= BUDGET_BYTES, `${s.nodeId} uses ${s.usedBytes} bytes, budget ${BUDGET_BYTES}`);
}

/** Every node applied the same evictions: the leader's, replicated. */
function assertSameEvictions(stats: KvStatsReply[]): void {
  const evicted = stats.map((s) => s.evictedKeys);
  assert(evicted[0] > 0, "keys were evicted");
  assert(evicted.every((count) => count === evicted[0]), `every node evicted the same keys: ${evicted.join(", ")}`);
  const keys = stats.map((s) => s.keyCount);
  assert(keys.every((count) => count === keys[0]), `every node holds the same keys: ${keys.join(", ")}`);
}

/**
 * After a flood: every node caught up, alive, within the budget (sampled and now), and (when
 * the policy evicts) every node applied the same evictions. Returns every node's stats.
 */
async function assertSettledWithinBudget(cluster: RaftTestCluster, client: RaftClient, usedMax: number[], evicts: boolean): Promise<KvStatsReply[]> {
  const stats = await settled(cluster, client);
  assertAlive(cluster);
  assertWithinBudget(usedMax, stats);
  if (evicts) assertSameEvictions(stats);
  return stats;
}

/** Every key reads as absent or as the value written to it, never anything else; returns how many are present. */
async function assertNoWrongValue(client: RaftClient, keys: Iterable<string>): Promise<number> {
  const pending = [...keys];
  let present = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let key = pending.pop(); key !== undefined; key = pending.pop()) {
        const read = await client.get(key);
        if (read === null) continue;
        assert(read.equals(valueOf(key)), `key ${key} holds a value nobody wrote to it`);
        present++;
      }
    }),
  );
  return present;
}

describe("raft memory budget, eviction and TTLs (real processes)", function () {
  this.timeout(180_000);
  let cluster: RaftTestCluster | null = null;
  let client: RaftClient;

  async function start(policy: string): Promise<void> {
    cluster = await startRaftCluster({ config: { max_memory_bytes: "6MiB", eviction_policy: policy } });
    client = cluster.client();
    await cluster.leader();
  }

  afterEach(async () => {
    await cluster?.stop();
    cluster = null;
  });

  const keysFrom = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

  it("noeviction: writes past the budget fail with OutOfMemoryError (CLI: exit 9); every acknowledged key stays readable; reads and deletes work", async () => {
    await start("noeviction");
    const watch = watchMemory(cluster!, client);
    const keys = keysFrom("n", 2_500); // about 10 MiB of values
    const result = await flood(client, keys, 16);
    const { usedMax } = await watch.stop();
    assert.deepEqual(result.otherErrors, []);
    assert(result.outOfMemory > 0, "some writes were refused");
    assert(result.acknowledged.size > 500, `${result.acknowledged.size} writes fit`);
    for (const key of result.acknowledged) assert((await client.get(key))?.equals(valueOf(key)), `acknowledged ${key} reads back`);
    const cli = await runCli(["raft", "client", "set", "one-more", valueOf("x").toString("latin1"), "--servers", cluster!.config.servers.join(",")]);
    assert.equal(cli.code, 9, cli.stderr);
    assert.match(cli.stderr, /out of memory.*noeviction/);
    // A delete frees room, and the next write fits.
    const deleted = [...result.acknowledged].slice(0, 20);
    for (const key of deleted) await client.del(key);
    await client.set("after-delete", valueOf("after-delete"));
    const stats = await assertSettledWithinBudget(cluster!, client, usedMax, false);
    assert(stats.every((s) => s.evictedKeys === 0), "noeviction never evicts");
    const leader = stats.find((s) => s.role === "leader");
    assert(leader !== undefined);
    assert(leader.rejectedWrites >= result.outOfMemory + 1, `the leader counted ${leader.rejectedWrites} refused writes`);
    // The CLI reports used against the budget, in text and JSON.
    const servers = cluster!.config.servers.join(",");
    const status = await runCli(["raft", "cluster", "status", "--json", "--servers", servers]);
    assert.equal(status.code, 0, status.stderr);
    for (const node of JSON.parse(status.stdout.toString()).nodes) {
      assert.equal(node.memory.maxMemoryBytes, BUDGET_BYTES);
      assert(node.memory.usedBytes > 0 && node.memory.usedBytes <= BUDGET_BYTES);
      assert.equal(node.memory.evictionPolicy, "noeviction");
    }
    const text = (await runCli(["raft", "client", "stats", "--servers", servers])).stdout.toString();
    assert.match(text, /used_B\s+budget_B\s+evicted\s+expired\s+rejected/);
    assert.match(text, new RegExp(`\\b${BUDGET_BYTES}\\b`));
  });

  it("allkeys-lru keeps a hot set that fits while cold keys flood in", async () => {
    await start("allkeys-lru");
    const hot = keysFrom("hot", 100); // 400 KiB of a 6 MiB budget
    for (const key of hot) await client.set(key, valueOf(key));
    const watch = watchMemory(cluster!, client);
    let reading = true;
    const reader = (async () => {
      while (reading) {
        for (const key of hot) await client.get(key);
        await sleep(100);
      }
    })();
    // Cold keys, twice the budget, over six seconds: the LRU clock counts seconds, and the
    // budget's worth of keys turns over in about three.
    const cold = keysFrom("cold", 3_000);
    const result = await flood(client, cold, 4, undefined, 500);
    reading = false;
    await reader;
    const { usedMax } = await watch.stop();
    assert.deepEqual([result.otherErrors, result.outOfMemory], [[], 0]);
    await assertSettledWithinBudget(cluster!, client, usedMax, true);
    const hotKept = await assertNoWrongValue(client, hot);
    const coldKept = await assertNoWrongValue(client, cold);
    assert.equal(hotKept, hot.length, `${hotKept} of ${hot.length} hot keys kept`);
    assert(coldKept / cold.length < 0.5, `${coldKept} of ${cold.length} cold keys kept`);
  });

  for (const policy of ["allkeys-lfu", "allkeys-random"] as const) {
    it(`${policy}: filled three times over, every node stays within budget, evicts the same keys, returns no wrong value`, async () => {
      await start(policy);
      const watch = watchMemory(cluster!, client);
      const keys = keysFrom("k", 4_500);
      const result = await flood(client, keys, 16);
      const { usedMax } = await watch.stop();
      assert.deepEqual([result.otherErrors, result.outOfMemory], [[], 0]);
      await assertSettledWithinBudget(cluster!, client, usedMax, true);
      const kept = await assertNoWrongValue(client, keys);
      assert(kept > 500 && kept < 2_500, `${kept} keys kept`);
    });
  }

  for (const policy of ["volatile-lru", "volatile-ttl"] as const) {
    it(`${policy}: evicts only keys with a TTL${policy === "volatile-ttl" ? ", nearest deadline first" : ""}, and refuses writes once none is left`, async () => {
      await start(policy);
      const watch = watchMemory(cluster!, client);
      // 600 keys without a TTL (2.4 MiB), then keys with TTLs of 10 to 20 minutes.
      const persistent = keysFrom("p", 600);
      const volatile = keysFrom("v", 2_000);
      const persistentResult = await flood(client, persistent, 8);
      const ttlOf = (key: string): number => 600_000 + Number(key.slice(1)) * 200;
      const volatileResult = await flood(client, volatile, 8, ttlOf);
      assert.deepEqual([persistentResult.otherErrors, persistentResult.outOfMemory, volatileResult.otherErrors, volatileResult.outOfMemory], [[], 0, [], 0]);
      for (const key of persistent) assert((await client.get(key))?.equals(valueOf(key)), `${key} has no TTL: never evicted`);
      const volatileKept = new Set<string>();
      for (const key of volatile) if ((await client.get(key)) !== null) volatileKept.add(key);
      assert(volatileKept.size < volatile.length, "keys with a TTL were evicted");
      if (policy === "volatile-ttl") {
        // Sampling 5 at a time: not strictly in deadline order, but far from random.
        const mean = (keys: string[]): number => keys.reduce((sum, key) => sum + ttlOf(key), 0) / keys.length;
        const evicted = volatile.filter((key) => !volatileKept.has(key));
        assert(mean([...volatileKept]) > mean(evicted) + 60_000, "the kept keys expire later than the evicted ones");
      }
      // Only keys without a TTL now: a write that needs memory is refused.
      for (const key of volatileKept) await client.del(key);
      const more = await flood(client, keysFrom("q", 1_000), 8);
      assert.deepEqual(more.otherErrors, []);
      assert(more.outOfMemory > 0, "refused once no key with a TTL is left");
      const { usedMax } = await watch.stop();
      await assertSettledWithinBudget(cluster!, client, usedMax, true);
    });
  }

  it(`keys with a TTL disappear from every node within ${EXPIRY_BOUND_MS} ms of their deadline and read as not found`, async () => {
    await start("allkeys-lru");
    const expiring = keysFrom("e", 300);
    const lasting = keysFrom("l", 300);
    const ttlMs = 1_000;
    const result = await flood(client, expiring, 8, () => ttlMs);
    const writtenAtMs = Date.now();
    await flood(client, lasting, 8);
    assert.equal(result.acknowledged.size, expiring.length);
    assert.equal(await client.ttl(expiring[0]) <= ttlMs, true);
    assert.equal(await client.ttl(lasting[0]), -1);
    // Every deadline passed by writtenAtMs + ttlMs; every node must have dropped them by the bound.
    await sleep(writtenAtMs + ttlMs + EXPIRY_BOUND_MS - Date.now());
    const stats = await statsOfAll(cluster!, client);
    for (const s of stats) assert.deepEqual([s.keyCount, s.expiredKeys, s.volatileKeys], [lasting.length, expiring.length, 0], `${s.nodeId}`);
    for (const key of expiring.slice(0, 50)) assert.equal(await client.get(key), null, key);
    assert.equal(await client.ttl(expiring[0]), -2);
    assert.equal(await assertNoWrongValue(client, lasting), lasting.length);
  });

  it("bad input: TTL 0, negative, not a number or too long (exit 2); unknown policy or budget below the minimum (exit 4)", async () => {
    for (const ttl of ["0", "-5s", "soon", "1e3", "99999999d"]) {
      const run = await runCli(["raft", "client", "set", "k", "v", `--ttl=${ttl}`, "--servers", "127.0.0.1:1"]);
      assert.equal(run.code, 2, `--ttl ${ttl}: ${run.stderr}`);
      assert.match(run.stderr, /TTL/);
      const expire = await runCli(["raft", "client", "expire", "k", ttl, "--servers", "127.0.0.1:1"]);
      assert.equal(expire.code, 2, `expire ${ttl}: ${expire.stderr}`);
    }
    for (const [flag, value, pattern] of [
      ["--eviction-policy", "lru", /eviction_policy: expected one of noeviction, allkeys-lru/],
      ["--max-memory", "1MiB", /max_memory_bytes: expected 0 \(no limit\) or a size from 4194304/],
      ["--max-memory", "plenty", /max_memory_bytes: expected a size in bytes/],
    ] as const) {
      const run = await runCli(["raft", "server", "startOne", "0", flag, value, "--servers", "127.0.0.1:1"]);
      assert.equal(run.code, 4, `${flag} ${value}: ${run.stderr}`);
      assert.match(run.stderr, pattern);
    }
    const env = await runCli(["raft", "client", "stats", "--servers", "127.0.0.1:1"], { env: { RAFT_EVICTION_POLICY: "lfu" } });
    assert.equal(env.code, 4, env.stderr);
  });
});
