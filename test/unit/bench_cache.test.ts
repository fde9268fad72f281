// The cache workload and memory budgets (issue 16): workload.ts `cache`, runner.ts fills,
// bench.ts budgets, scenario.ts totalMemory / maxMemory / policy / matrices, report/cache.ts.
// Method: the real bench orchestration against in-process fake targets whose nodes hold at
// most their max_memory of logical bytes and evict the least recently used keys
// (test/fixtures/bench/fake_target.ts), and scenario files parsed from objects.
// Checks: with --total-memory every target gets total ÷ its node count per node (the
// params the target was started with say so), recorded as the run's budget; the cache
// starts cold (no preload); every measured read is a hit or a miss, every miss is followed
// by one set, and both count as operations; the keys are zipfian whatever the distribution
// setting; at equal total memory a layout that stores less per key (replicas 2 of 5 nodes)
// holds about 2.5× the keys of full replication on 5 nodes, and its hit ratio is higher;
// no overhead ratio is given for an evicting run; --max-memory gives every node the same
// budget; a target without budgets is skipped with the reason; under noeviction the sets
// that do not fit fail and are counted. Scenarios: a matrix inherits what it leaves out,
// budgets name their groups, and bad budgets are refused with the field. The report gets a
// "hit ratio at equal memory" section with the predicted and the held keys and a chart.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { budgetedParams } from "../../src/bench/bench";
import { BenchRun } from "../../src/bench/results";
import { REPEAT_NONE, RunPlan, expandMatrices, parseBudget, parseScenario } from "../../src/bench/scenario";
import { OperationGenerator, meanKeyBytes } from "../../src/bench/workload";
import { summarizeRun } from "../../src/report/analysis";
import { cacheRows, keyCostBytes } from "../../src/report/cache";
import { writeReport } from "../../src/report/report";
import { fakeTarget } from "../fixtures/bench/fake_target";
import { sampleRun } from "../fixtures/bench/sample_results";

const KIB = 1024;

function medianKeys(run: BenchRun): number {
  const counts = Object.values(run.memory!.after!.nodes).map((node) => node.keyCount!).sort((a, b) => a - b);
  return counts[Math.floor(counts.length / 2)];
}

describe("bench cache workload and memory budgets", function () {
  this.timeout(60_000);

  describe("equal total memory", () => {
    let sample: Awaited<ReturnType<typeof sampleRun>>;
    const total = 40 * KIB;

    before(async () => {
      sample = await sampleRun({
        targets: ["fake:nodes=5,replicas=2", "other:nodes=5,replicas=5"],
        workloads: ["cache"],
        keys: 2_000,
        warmupOps: 1_500,
        ops: 3_000,
        budget: { totalBytes: total, nodeBytes: null, policy: "allkeys-lru" },
      });
    });

    it("gives each node total ÷ its cluster's node count, and records the budget", () => {
      for (const target of [sample.fake, sample.other]) {
        assert.equal(target.contexts.length, 1);
        assert.equal(target.contexts[0].params.max_memory, String(Math.floor(total / 5)));
        assert.equal(target.contexts[0].params.policy, "allkeys-lru");
      }
      for (const run of sample.results.runs) {
        assert.equal(run.status, "ok", run.reason);
        assert.deepEqual(run.budget, { totalBytes: total, nodeBytes: Math.floor(total / 5), nodes: 5, policy: "allkeys-lru" });
        assert.equal(run.group, "cache-100B-c4-total40KiB");
      }
    });

    it("starts cold; every read is a hit or a miss, and every miss is followed by one set", () => {
      for (const run of sample.results.runs) {
        assert.equal(run.preload!.keys, 0);
        assert.match(run.events.find((event) => event.type === "phase.preload.begin")!.detail!, /starts cold/);
        assert.equal(run.workload.fillOnMiss, true);
        assert.equal(run.workload.distribution, "zipfian");
        const measured = run.measured!;
        const cache = measured.cache!;
        assert.equal(measured.errors, 0);
        assert.equal(cache.hits + cache.misses, measured.latency.read.count, "each read is a hit or a miss");
        assert.equal(cache.fills, cache.misses, "a set after each miss");
        assert.equal(cache.fillErrors, 0);
        assert.equal(measured.latency.update.count, cache.fills, "the sets are recorded as updates");
        assert.equal(measured.ops, measured.latency.read.count + cache.fills, "both count as operations");
        assert.equal(measured.latency.read.count, 3_000, "the phase is 3,000 reads");
        assert.ok(cache.warmupMisses > 0, "the warm-up filled the cold cache");
        assert.ok(Math.abs(cache.hitRatio! - cache.hits / (cache.hits + cache.misses)) < 1e-12);
      }
    });

    it("the layout that stores less per key holds ~2.5× the keys and hits more often", () => {
      const [less, full] = sample.results.runs;
      const ratio = medianKeys(less) / medianKeys(full);
      assert.ok(ratio > 2.2 && ratio < 2.8, `keys held: ${medianKeys(less)} vs ${medianKeys(full)} (${ratio.toFixed(2)}×)`);
      assert.ok(less.measured!.cache!.hitRatio! > full.measured!.cache!.hitRatio! + 0.05, `hit ratios ${less.measured!.cache!.hitRatio} vs ${full.measured!.cache!.hitRatio}`);
      for (const run of sample.results.runs) {
        // Each node holds at most its budget.
        for (const node of Object.values(run.memory!.after!.nodes)) assert.ok(node.logicalBytes! <= Math.floor(total / 5), `${node.logicalBytes} bytes on a node`);
        const row = summarizeRun(run);
        assert.equal(row.overheadRatio, null, "no overhead ratio for an evicting run: the payload counts keys set, not held");
        assert.equal(row.logicalRatio, null);
        assert.equal(row.hitRatio, run.measured!.cache!.hitRatio);
      }
    });

    it("the report's section: hit ratio, predicted and held keys, and a chart", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-report-cache-"));
      try {
        const report = await writeReport([{ file: "cache.json", results: sample.results }], dir);
        const markdown = fs.readFileSync(report.markdownPath, "utf8");
        assert.match(markdown, /## Hit ratio at equal memory/);
        assert.match(markdown, /every target gets 40\.0 KiB in total/);
        const rows = cacheRows(sample.results.runs);
        assert.deepEqual(rows.map((row) => row.target), ["fake(5)", "other(5)"]);
        for (const row of rows) {
          const run = sample.results.runs.find((candidate) => candidate.target.label === row.target)!;
          // value × ideal ÷ nodes + key + the per-entry cost
          assert.equal(row.keyCostBytes, (100 * run.target.idealOverhead!) / 5 + meanKeyBytes(2_000) + 32);
          assert.equal(row.keyCostBytes, keyCostBytes(run));
          assert.equal(row.predictedKeys, Math.floor(Math.floor(total / 5) / row.keyCostBytes));
          assert.equal(row.measuredKeys, medianKeys(run));
          const line = markdown.split("\n").find((text) => text.startsWith(`| ${row.target} | 5 |`));
          assert.ok(line !== undefined, `a row for ${row.target}`);
          assert.ok(line.includes(`| ${row.predictedKeys} | ${row.measuredKeys} |`), line);
          assert.ok(line.includes(`${(row.hitRatio! * 100).toFixed(1)}%`), line);
        }
        assert.ok(report.charts.some((chart) => path.basename(chart) === "hit-ratio-cache-100B-c4-total40KiB.svg"), report.charts.join(", "));
        assert.match(markdown, /\| target \| payload .*\| hit ratio \| CPU\/op \| generator CPU \|/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it("--max-memory gives every node of every target the same budget", async () => {
    const { results, fake, other } = await sampleRun({
      targets: ["fake:nodes=3,replicas=3", "other:nodes=2,replicas=1"],
      workloads: ["cache"],
      keys: 500,
      ops: 300,
      budget: { totalBytes: null, nodeBytes: 6 * KIB, policy: "allkeys-lru" },
    });
    assert.deepEqual([fake, other].map((target) => target.contexts[0].params.max_memory), ["6144", "6144"]);
    assert.deepEqual(results.runs.map((run) => [run.group, run.budget!.nodeBytes, run.budget!.totalBytes]), [
      ["cache-100B-c4-node6KiB", 6144, null],
      ["cache-100B-c4-node6KiB", 6144, null],
    ]);
  });

  it("under noeviction the sets that do not fit fail, and are counted", async () => {
    const { results } = await sampleRun({
      targets: ["fake:nodes=1,replicas=1"],
      workloads: ["cache"],
      keys: 1_000,
      ops: 600,
      budget: { totalBytes: null, nodeBytes: 4 * KIB, policy: "noeviction" },
    });
    const run = results.runs[0];
    assert.equal(run.status, "ok", run.reason);
    assert.equal(run.group, "cache-100B-c4-node4KiB-noeviction");
    const cache = run.measured!.cache!;
    assert.ok(cache.fillErrors > 0 && cache.fills + cache.fillErrors === cache.misses, JSON.stringify(cache));
    assert.equal(run.measured!.errors, cache.fillErrors);
    assert.match(run.measured!.errorClasses[0].message, /OOM/);
  });

  it("a target without memory budgets is skipped with the reason; a spec's own max_memory stays", () => {
    const plan = (params: Record<string, string>): RunPlan =>
      expandMatrices(
        [
          {
            targets: [`fake:${Object.entries(params).map(([name, value]) => `${name}=${value}`).join(",")}`],
            workloads: [{ name: "cache", mix: { read: 1, update: 0, insert: 0, delete: 0 }, fillOnMiss: true }],
            valueSizes: [{ kind: "fixed", bytes: 100 }],
            concurrencies: [4],
            variants: [{ name: "steady", failures: [] }],
            keyCount: 100,
            distribution: "uniform",
            ops: 10,
            warmupOps: 0,
            seed: 1,
            repeat: REPEAT_NONE,
            budget: { totalBytes: 3_000, nodeBytes: null, policy: "allkeys-lfu" },
          },
        ],
        REPEAT_NONE,
      )[0];
    const { nodeCount: _count, ...plain } = fakeTarget("plain");
    assert.match(budgetedParams(plan({ nodes: "3" }), plain) as string, /plain has no memory budget/);
    const budgeted = budgetedParams(plan({ nodes: "3" }), fakeTarget("fake"));
    assert.deepEqual(budgeted, { params: { max_memory: "1000", policy: "allkeys-lfu", nodes: "3" }, budget: { totalBytes: 3_000, nodeBytes: 1_000, nodes: 3, policy: "allkeys-lfu" } });
    const own = budgetedParams(plan({ nodes: "3", max_memory: "2KiB" }), fakeTarget("fake"));
    assert.deepEqual(own, { params: { max_memory: "2KiB", policy: "allkeys-lfu", nodes: "3" }, budget: { totalBytes: 3_000, nodeBytes: 2_048, nodes: 3, policy: "allkeys-lfu" } });
  });

  it("the cache workload's reads carry the size of the set that follows a miss; its keys are zipfian", () => {
    const generator = new OperationGenerator({ name: "cache", mix: { read: 1, update: 0, insert: 0, delete: 0 }, keyCount: 10_000, distribution: "zipfian", valueSize: { kind: "fixed", bytes: 512 }, seed: 3, fillOnMiss: true });
    const ops = Array.from({ length: 20_000 }, () => generator.next());
    assert.ok(ops.every((op) => op.kind === "read" && op.valueBytes === 512 && op.key === `key${op.keyIndex}`));
    const hottest = ops.filter((op) => op.keyIndex === 0).length / ops.length;
    assert.ok(hottest > 0.08 && hottest < 0.13, `key0 drawn ${(hottest * 100).toFixed(1)}% of the time (zipfian over 10,000 keys: about 10%)`);
    assert.equal(meanKeyBytes(1), 4);
    assert.equal(meanKeyBytes(100), (10 * 4 + 90 * 5) / 100);
    assert.equal(meanKeyBytes(12_345), Array.from({ length: 12_345 }, (_, i) => `key${i}`.length).reduce((a, b) => a + b, 0) / 12_345);
  });

  describe("scenarios", () => {
    const base = { name: "t", targets: ["ecc:n=3,k=2"], workloads: ["B"], valueBytes: ["1KiB"], concurrency: [64], ops: 100, keys: 100 };

    it("a further matrix inherits what it leaves out; budgets name the groups; cache groups carry no -zipf", () => {
      const scenario = parseScenario(
        {
          ...base,
          distribution: "zipfian",
          duration: "5s",
          matrices: [{ name: "cache", targets: ["ecc:n=5,k=3", "redis:replicas=2"], workloads: ["cache"], keys: 5_000, totalMemory: "30MiB" }],
          repeat: { groups: ["cache-1KiB-c64-total30MiB"], times: 2 },
        },
        "t.json",
      );
      assert.equal(scenario.matrices.length, 2);
      const [top, cache] = scenario.matrices;
      assert.equal(top.budget, null);
      assert.deepEqual(cache.budget, { totalBytes: 30 * KIB * KIB, nodeBytes: null, policy: "allkeys-lru" });
      assert.equal(cache.ops, 100, "inherited");
      assert.equal(cache.keyCount, 5_000);
      assert.deepEqual(cache.variants.map((variant) => variant.durationMs), [5_000], "the top level's duration");
      const runs = expandMatrices(scenario.matrices, scenario.matrix.repeat);
      assert.deepEqual(
        runs.map((run) => run.name),
        [
          "ecc-k2n3-B-1KiB-c64-zipf",
          "ecc-k3n5-cache-1KiB-c64-total30MiB",
          "redis-replicas2-cache-1KiB-c64-total30MiB",
          "ecc-k3n5-cache-1KiB-c64-total30MiB-r2",
          "redis-replicas2-cache-1KiB-c64-total30MiB-r2",
        ],
      );
      assert.ok(runs.filter((run) => run.workload.fillOnMiss === true).every((run) => run.distribution === "zipfian" && run.budget !== null));
    });

    it("refuses bad budgets, naming the field", () => {
      assert.throws(() => parseScenario({ ...base, totalMemory: "30MiB", maxMemory: "10MiB" }, "t.json"), /scenario t\.json: totalMemory and maxMemory are two ways to set one budget/);
      assert.throws(() => parseScenario({ ...base, policy: "allkeys-lru" }, "t.json"), /policy needs a memory budget/);
      assert.throws(() => parseScenario({ ...base, matrices: [{ name: "c", totalMemory: "30MiB", policy: "lru" }] }, "t.json"), /matrices\.c\.policy: 'lru' is not an eviction policy/);
      assert.throws(() => parseScenario({ ...base, maxMemory: "lots" }, "t.json"), /maxMemory: 'lots' is not a size/);
      assert.throws(() => parseScenario({ ...base, matrices: [{ name: "again" }] }, "t.json"), /target 'ecc:n=3,k=2' is listed twice .*two matrices must not share a group/);
      assert.throws(() => parseBudget(undefined, 0, undefined), /above 0/);
      assert.equal(parseBudget(undefined, undefined, undefined), null);
    });
  });
});
