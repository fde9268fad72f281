// Repeated runs in the report (src/report/analysis.ts aggregateRuns, report.ts).
// Method: the median and range helpers and the fold of one (group, target) on hand-made rows
// with known answers; then results from the real bench orchestration against in-process fake
// targets with every group run 3 times (test/fixtures/bench/sample_results.ts), with ops/s
// and p99 overwritten per run so the medians and ranges are known, rendered into a temporary
// directory next to the report of round 1 alone.
// Checks: odd counts take the middle value, even counts the mean of the middle two, nulls are
// ignored; errors add up over the runs; one run folds into itself unchanged; targets with the
// same label but different specs stay apart. The rendered table has one row per target with
// a runs column and `median (min–max)` cells; there is one set of charts per group and the
// memory, latency and throughput charts are exactly those of round 1; the per-node table
// shows one run per target; the failures list labels every round.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BenchResults } from "../../src/bench/results";
import { RunSummaryRow, aggregateRows, aggregateRuns, formatBytes, formatRatio, formatUs, formatWithRange, median, range, summarizeRun } from "../../src/report/analysis";
import { writeReport } from "../../src/report/report";
import { sampleResults } from "../fixtures/bench/sample_results";

function row(repeat: number, figures: Partial<RunSummaryRow> = {}): RunSummaryRow {
  return {
    run: `ecc-k2n3-B-1KiB-c64${repeat === 1 ? "" : `-r${repeat}`}`,
    group: "B-1KiB-c64",
    repeat,
    target: "ecc(n=3,k=2)",
    targetSpec: "ecc:n=3,k=2",
    kind: "ecc",
    status: "ok",
    sampler: "cgroup",
    payloadBytes: 1000,
    memoryDeltaBytes: 2000,
    memoryPartial: false,
    nodesLeftOut: [],
    nodesRestarted: [],
    overheadRatio: 2,
    idealOverhead: 1.5,
    logicalDeltaBytes: 1500,
    logicalRatio: 1.5,
    v8HeapDeltaBytes: 200,
    arrayBuffersDeltaBytes: 1700,
    otherDeltaBytes: 100,
    kernelDeltaBytes: 40,
    opsPerSecond: 10_000,
    p50Us: 800,
    p99Us: 5_000,
    readP50Us: 700,
    readP99Us: 4_000,
    writeP50Us: 1_500,
    writeP99Us: 9_000,
    errors: 0,
    readUnavailableMs: 0,
    writeUnavailableMs: 0,
    readLongestGapMs: 12,
    writeLongestGapMs: 40,
    cpuPerOpUs: null,
    nodeCpuPerOpUs: null,
    generatorCpuPerOpUs: null,
    generatorShare: null,
    generatorProcessCoresMax: null,
    generatorSaturated: false,
    clientProcesses: null,
    hitRatio: null,
    ...figures,
  };
}

describe("report repeats", function () {
  this.timeout(60_000);

  it("median: the middle value, the mean of the middle two, nulls ignored", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([null, 5, 1]), 3);
    assert.equal(median([7]), 7);
    assert.equal(median([null, null]), null);
    assert.equal(median([]), null);
    assert.deepEqual(range([null, 5, -1, 3]), { min: -1, max: 5 });
    assert.equal(range([null]), null);
  });

  it("folds three runs: medians, min–max, errors summed, partial if any run was", () => {
    const rows = [
      row(2, { memoryDeltaBytes: 3000, overheadRatio: 3, opsPerSecond: 9_000, p99Us: null, errors: 2, memoryPartial: true, writeLongestGapMs: 10 }),
      row(1, { memoryDeltaBytes: 1000, overheadRatio: 1, opsPerSecond: 12_000, p99Us: 6_000, errors: 1, writeLongestGapMs: null }),
      row(3, { memoryDeltaBytes: 2500, overheadRatio: 2.5, opsPerSecond: 10_000, p99Us: 4_000, errors: null, writeLongestGapMs: 30 }),
    ];
    const folded = aggregateRuns(rows);
    assert.equal(folded.runCount, 3);
    assert.equal(folded.run, "ecc-k2n3-B-1KiB-c64", "named after round 1");
    assert.equal(folded.repeat, 1);
    assert.equal(folded.memoryDeltaBytes, 2500);
    assert.equal(folded.overheadRatio, 2.5);
    assert.equal(folded.opsPerSecond, 10_000);
    assert.equal(folded.p99Us, 5_000, "the null is left out: median of 6000 and 4000");
    assert.equal(folded.writeLongestGapMs, 20);
    assert.equal(folded.errors, 3);
    assert.equal(folded.memoryPartial, true);
    assert.deepEqual(folded.ranges, {
      memoryDeltaBytes: { min: 1000, max: 3000 },
      overheadRatio: { min: 1, max: 3 },
      logicalRatio: { min: 1.5, max: 1.5 },
      opsPerSecond: { min: 9_000, max: 12_000 },
      p99Us: { min: 4_000, max: 6_000 },
      cpuPerOpUs: null,
      hitRatio: null,
    });
  });

  it("folds two runs into the mean of the pair; one run into itself, unchanged", () => {
    const pair = aggregateRuns([row(1, { opsPerSecond: 9_000, memoryDeltaBytes: 1000 }), row(2, { opsPerSecond: 10_001, memoryDeltaBytes: 2000 })]);
    assert.equal(pair.opsPerSecond, 9_500.5);
    assert.equal(pair.memoryDeltaBytes, 1500);
    const single = row(1, { p99Us: null, errors: 4, memoryPartial: true });
    const folded = aggregateRuns([single]);
    const { runCount, ranges, ...figures } = folded;
    assert.deepEqual(figures, single);
    assert.equal(runCount, 1);
    assert.deepEqual(ranges.memoryDeltaBytes, { min: 2000, max: 2000 });
    assert.equal(ranges.p99Us, null);
  });

  it("keeps groups and target specs apart, in first-seen order", () => {
    const table = { ...row(1), targetSpec: "ecc:n=3,k=2,codec=table", run: "ecc-codectablek2n3-B-1KiB-c64" };
    const rows = [row(1), table, row(2), { ...row(1), group: "A-1KiB-c64" }, { ...table, repeat: 2 }];
    assert.deepEqual(
      aggregateRows(rows).map((folded) => [folded.group, folded.targetSpec, folded.runCount]),
      [
        ["B-1KiB-c64", "ecc:n=3,k=2", 2],
        ["B-1KiB-c64", "ecc:n=3,k=2,codec=table", 2],
        ["A-1KiB-c64", "ecc:n=3,k=2", 1],
      ],
    );
    assert.throws(() => aggregateRuns([row(1), table]), /two targets/);
  });

  it("writes a median with its range, the unit once when shared", () => {
    const mib = 1024 * 1024;
    assert.equal(formatWithRange(formatBytes, 25.3 * mib, { min: 24.1 * mib, max: 26 * mib }), "25.3 MiB (24.1–26.0)");
    assert.equal(formatWithRange(formatBytes, 1.1 * mib, { min: 900 * 1024, max: 1.2 * mib }), "1.1 MiB (900.0 KiB–1.2 MiB)");
    assert.equal(formatWithRange(formatRatio, 0.52, { min: 0.5, max: 0.54 }), "0.52× (0.50–0.54)");
    assert.equal(formatWithRange(formatUs, 1_200, { min: 900, max: 1_500 }), "1.20 ms (900 µs–1.50 ms)");
    assert.equal(formatWithRange(formatBytes, null, null), "–");
  });

  describe("rendered", () => {
    let repeated: BenchResults;
    let failing: BenchResults;
    let dir: string;

    before(async () => {
      repeated = await sampleResults({ targets: ["fake:nodes=3,replicas=3", "other:nodes=2,replicas=1"], repeat: 3 });
      // Known medians and ranges: ops/s and p99 per round, other(2) left as measured.
      const opsPerSecond = [1_000, 3_000, 2_000];
      const p99Us = [1_500, 900, 1_200];
      for (const run of repeated.runs.filter((r) => r.target.kind === "fake")) {
        run.measured!.opsPerSecond = opsPerSecond[run.repeat - 1];
        run.measured!.latency.all.p99Us = p99Us[run.repeat - 1];
      }
      failing = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], workloads: ["A"], failures: ["kill:node1@op=200+30ms"], ops: 1_000, delayMs: 1, repeat: 2 });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-report-repeats-test-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("one row per target with runs and median (min–max) cells; the charts of round 1, once per group", async () => {
      assert.deepEqual(
        repeated.runs.map((run) => `${run.target.kind} ${run.repeat}`),
        ["fake 1", "other 1", "fake 2", "other 2", "fake 3", "other 3"],
      );
      const report = await writeReport([{ file: "repeated.json", results: repeated }], path.join(dir, "repeated"));
      const markdown = fs.readFileSync(report.markdownPath, "utf8");
      assert.match(markdown, /\| target \| runs \| payload \| memory Δ \|/);
      const fakeRows = markdown.split("\n").filter((line) => line.startsWith("| fake(3) |"));
      assert.equal(fakeRows.length, 1, "one row for the three runs");
      const cells = fakeRows[0].split(" | ");
      assert.equal(cells[1], "3");
      const fakeSummaries = repeated.runs.filter((run) => run.target.kind === "fake").map(summarizeRun);
      const deltas = fakeSummaries.map((summary) => summary.memoryDeltaBytes!).sort((a, b) => a - b);
      assert.equal(cells[3], formatWithRange(formatBytes, deltas[1], { min: deltas[0], max: deltas[2] }));
      assert.match(cells[3], /^\S+ \S*B \(.+–.+\)$/);
      assert.match(cells[4], /^\d+\.\d\d× \(\d+\.\d\d–\d+\.\d\d\)$/);
      assert.equal(cells[5], "3.00×", "the ideal in its own column");
      assert.equal(cells[7], "2000 (1000–3000)");
      assert.equal(cells[11], "1.20 ms (900 µs–1.50 ms)", "p99, after CPU/op and the generator's CPU");
      assert.match(markdown, /\| other\(2\) \| 3 \|/);
      assert.match(markdown, /Repeated: up to 3 runs per target .*show repeat 1 only/);
      assert.match(markdown, /\*Repeats\*: .*median .*\(min–max\)/);
      assert.equal(markdown.split("<sub>fake(3): memory =").length - 1, 1, "one per-node table per target");
      assert.deepEqual(report.charts.map((file) => path.basename(file)).sort(), ["latency-B-100B-c4.svg", "memory-B-100B-c4.svg", "overhead.svg", "throughput-B-100B-c4.svg"]);

      // The same charts as the report of round 1 alone.
      const roundOne = { ...repeated, runs: repeated.runs.filter((run) => run.repeat === 1) };
      const single = await writeReport([{ file: "round1.json", results: roundOne }], path.join(dir, "round1"));
      const singleMarkdown = fs.readFileSync(single.markdownPath, "utf8");
      assert.doesNotMatch(singleMarkdown, /\| runs \||Repeated: /);
      for (const name of ["latency-B-100B-c4.svg", "memory-B-100B-c4.svg", "throughput-B-100B-c4.svg"]) {
        assert.equal(
          fs.readFileSync(path.join(dir, "repeated", "charts", name), "utf8"),
          fs.readFileSync(path.join(dir, "round1", "charts", name), "utf8"),
          `${name} shows round 1`,
        );
      }
    });

    it("lists the failures of every round, labelled", async () => {
      const report = await writeReport([{ file: "failing.json", results: failing }], path.join(dir, "failing"));
      const markdown = fs.readFileSync(report.markdownPath, "utf8");
      assert.match(markdown, /\*\*fake\(3\), repeat 1\*\*\n\n- [^\n]*failure\.kill` node1/);
      assert.match(markdown, /\*\*fake\(3\), repeat 2\*\*\n\n- [^\n]*failure\.kill` node1/);
    });
  });
});
