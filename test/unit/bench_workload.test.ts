// Workload generators of the bench (src/bench/workload.ts, runner.ts).
// Checks, by drawing large seeded samples and counting:
// - each workload's operation mix (A, B, C, S, a custom mix) lands within ±1 percentage
//   point of its shares over 100,000 operations;
// - zipfian keys are skewed as theta = 0.99 predicts (hottest key's share = 1/zeta(n), top 10%
//   of keys take most accesses) while uniform keys are not;
// - the same seed gives the same operations, keys and value sizes; a different seed does not;
//   the closed-loop runner issues the same multiset of operations at any concurrency;
// - value sizes (fixed, uniform) stay in range; parsing of sizes and mixes; live payload.
import assert from "node:assert/strict";
import { runMeasured } from "../../src/bench/runner";
import { EventLog } from "../../src/bench/events";
import { BenchClient } from "../../src/bench/target";
import {
  LivePayload,
  OperationGenerator,
  ValuePool,
  WORKLOADS,
  WorkloadSpec,
  ZipfianGenerator,
  parseBytes,
  parseMix,
  parseValueSize,
  preloadPlan,
  valueSizeLabel,
} from "../../src/bench/workload";
import { SeededRandom } from "../../src/core/env";

function spec(overrides: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return { name: "B", mix: WORKLOADS.B, keyCount: 1_000, distribution: "uniform", valueSize: { kind: "fixed", bytes: 100 }, seed: 7, ...overrides };
}

function countKinds(generator: OperationGenerator, n: number): Record<string, number> {
  const counts: Record<string, number> = { read: 0, update: 0, insert: 0, delete: 0 };
  for (let i = 0; i < n; i++) counts[generator.next().kind]++;
  return counts;
}

/** A client that records every call and answers at once. */
function recordingClient(): BenchClient & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async get(key) {
      calls.push(`get ${key}`);
      await Promise.resolve();
      return null;
    },
    async set(key, value) {
      calls.push(`set ${key} ${value.length}`);
      await Promise.resolve();
    },
    async del(key) {
      calls.push(`del ${key}`);
      await Promise.resolve();
    },
    async close() {},
  };
}

describe("bench workloads", () => {
  const N = 100_000;

  for (const [name, mix] of [...Object.entries(WORKLOADS), ["custom", parseMix("read=0.7,update=0.1,insert=0.15,delete=0.05")] as const]) {
    it(`workload ${name}: mix within ±1 point over ${N} ops`, () => {
      const counts = countKinds(new OperationGenerator(spec({ name, mix })), N);
      for (const kind of ["read", "update", "insert", "delete"] as const) {
        const share = counts[kind] / N;
        assert.ok(Math.abs(share - mix[kind]) <= 0.01, `${kind}: ${share} vs ${mix[kind]}`);
        if (mix[kind] === 0) assert.equal(counts[kind], 0, `${kind} must never occur`);
      }
    });
  }

  it("C inserts new keys in order, after the preloaded ones", () => {
    const generator = new OperationGenerator(spec({ name: "C", mix: WORKLOADS.C, keyCount: 50 }));
    const keys = Array.from({ length: 5 }, () => generator.next().key);
    assert.deepEqual(keys, ["key50", "key51", "key52", "key53", "key54"]);
  });

  it("zipfian: the hottest key's share is 1/zeta(n) and the top 10% of keys get most accesses", () => {
    const keyCount = 1_000;
    const zipf = new ZipfianGenerator(keyCount, new SeededRandom(3));
    const counts = new Array<number>(keyCount).fill(0);
    for (let i = 0; i < N; i++) counts[zipf.next()]++;
    const hottest = counts[0] / N;
    assert.ok(Math.abs(hottest - zipf.hottestShare) / zipf.hottestShare < 0.05, `key0 share ${hottest} vs ${zipf.hottestShare}`);
    assert.ok(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[500], "frequency falls with rank");
    const top = counts.slice(0, keyCount / 10).reduce((a, b) => a + b, 0) / N;
    assert.ok(top > 0.6, `top 10% of keys: ${top}`);
    const uniform = new OperationGenerator(spec({ mix: WORKLOADS.S, keyCount }));
    const uniformCounts = new Array<number>(keyCount).fill(0);
    for (let i = 0; i < N; i++) uniformCounts[Number(uniform.next().key.slice(3))]++;
    const uniformTop = uniformCounts.slice(0, keyCount / 10).reduce((a, b) => a + b, 0) / N;
    assert.ok(Math.abs(uniformTop - 0.1) < 0.01, `uniform top 10%: ${uniformTop}`);
  });

  it("the same seed gives the same operations and value sizes; another seed does not", () => {
    const s = spec({ name: "A", mix: WORKLOADS.A, distribution: "zipfian", valueSize: { kind: "uniform", minBytes: 100, maxBytes: 4096 } });
    const a = new OperationGenerator(s);
    const b = new OperationGenerator(s);
    const c = new OperationGenerator({ ...s, seed: s.seed + 1 });
    const first = Array.from({ length: 10_000 }, () => a.next());
    const second = Array.from({ length: 10_000 }, () => b.next());
    const third = Array.from({ length: 10_000 }, () => c.next());
    assert.deepEqual(second, first);
    assert.notDeepEqual(third, first);
    assert.deepEqual([...preloadPlan(s)], [...preloadPlan(s)]);
  });

  it("the key sequence does not depend on the value size distribution", () => {
    const fixed = new OperationGenerator(spec({ mix: WORKLOADS.A }));
    const varied = new OperationGenerator(spec({ mix: WORKLOADS.A, valueSize: { kind: "uniform", minBytes: 1, maxBytes: 9 } }));
    for (let i = 0; i < 1_000; i++) {
      const x = fixed.next();
      const y = varied.next();
      assert.equal(y.kind, x.kind);
      assert.equal(y.key, x.key);
    }
  });

  it("uniform value sizes stay in range and average the midpoint", () => {
    const generator = new OperationGenerator(spec({ mix: WORKLOADS.S, valueSize: parseValueSize("uniform:100-4096") }));
    let sum = 0;
    let min = Infinity;
    let max = 0;
    for (let i = 0; i < N; i++) {
      const bytes = generator.next().valueBytes;
      sum += bytes;
      min = Math.min(min, bytes);
      max = Math.max(max, bytes);
    }
    assert.equal(min, 100);
    assert.equal(max, 4096);
    assert.ok(Math.abs(sum / N - 2098) < 30, `mean ${sum / N}`);
  });

  it("the runner issues the same operations at concurrency 1 and 16 (same multiset; in order at 1)", async () => {
    const run = async (concurrency: number): Promise<string[]> => {
      const client = recordingClient();
      await runMeasured({
        client,
        spec: spec({ name: "A", mix: WORKLOADS.A }),
        ops: 2_000,
        warmupOps: 100,
        concurrency,
        values: new ValuePool(100, 7),
        payload: new LivePayload(),
        failures: [],
        faults: null,
        events: new EventLog(performance.now()),
        errorBackoffMs: 0,
      });
      return client.calls;
    };
    const serial = await run(1);
    const again = await run(1);
    const parallel = await run(16);
    assert.equal(serial.length, 2_100);
    assert.deepEqual(again, serial);
    assert.deepEqual([...parallel].sort(), [...serial].sort());
  });

  it("parses sizes and mixes, and rejects bad ones", () => {
    assert.equal(parseBytes("1KiB"), 1024);
    assert.equal(parseBytes("4 MiB"), 4 * 1024 * 1024);
    assert.equal(parseBytes("100"), 100);
    assert.deepEqual(parseValueSize("uniform:100-4KiB"), { kind: "uniform", minBytes: 100, maxBytes: 4096 });
    assert.equal(valueSizeLabel(parseValueSize("1024")), "1KiB");
    assert.equal(valueSizeLabel(parseValueSize("uniform:100-4096")), "u100B-4KiB");
    assert.throws(() => parseValueSize("uniform:5000-100"), /minimum above maximum/);
    assert.throws(() => parseBytes("1.5k"), /not a byte count/);
    assert.throws(() => parseBytes("65MiB"), /above the limit/);
    assert.throws(() => parseMix("read=0.5,update=0.4"), /sum to/);
    assert.throws(() => parseMix("read=0.5,scan=0.5"), /unknown operation/);
  });

  it("live payload counts key and value bytes of live keys only", () => {
    const payload = new LivePayload();
    payload.set("key1", 100);
    payload.set("key22", 50);
    payload.set("key1", 10); // overwrite
    payload.delete("key22");
    payload.delete("absent");
    assert.equal(payload.keys, 1);
    assert.equal(payload.keyBytes, 4);
    assert.equal(payload.valueBytes, 10);
    assert.equal(payload.writtenBytes, 160);
  });

  it("value pool slices differ between operations and are deterministic", () => {
    const pool = new ValuePool(1024, 1);
    const again = new ValuePool(1024, 1);
    assert.notDeepEqual(pool.value(1024, 1), pool.value(1024, 2));
    assert.deepEqual(pool.value(1024, 5), again.value(1024, 5));
    assert.equal(pool.value(0, 3).length, 0);
  });
});
