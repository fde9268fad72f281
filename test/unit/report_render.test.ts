// The report (src/report): result documents → report.md + SVG charts.
// Method: results from the real bench orchestration against in-process fake targets
// (test/fixtures/bench/sample_results.ts), one steady and one with a kill, rendered into a
// temporary directory; plus hand-made runs for the arithmetic.
// Checks: report.md has the comparison table with one row per target, the overhead ratio
// next to its ideal, the failure events and unavailability, and the skipped runs with their
// reasons; every chart (overhead, memory per node, latency CDF, throughput) is a real SVG
// document; the summary arithmetic (memory delta = Σ after − before of the primary sampler,
// overhead = delta ÷ payload, partial when a node was down; the split into the nodes' V8 heap,
// array buffers and the rest) is exact; the `report` CLI
// command reads files and writes the same.
// Restarts: a node the schedule restarted is measured from its new process's reading (or, in
// a /2 file without one, from its first sample after the restart), never from the killed
// process's before-load reading; a node down at the end is left out even when its cgroup
// still reported leftovers, the row is partial and has no overhead ratio (nor has a row with a
// restarted node, whose baseline holds what it loaded at start); no run of the
// committed report/reference.json shows a negative overhead ratio.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BenchResults, BenchRun, readResults, writeResults } from "../../src/bench/results";
import { nodeMemoryRows, summarizeRun, formatBytes } from "../../src/report/analysis";
import { memorySpec, throughputSpec, renderSvg } from "../../src/report/charts";
import { writeReport } from "../../src/report/report";
import { reportCommand } from "../../src/cli/report_commands";
import { sampleResults } from "../fixtures/bench/sample_results";

describe("report rendering", function () {
  this.timeout(60_000);
  let steady: BenchResults;
  let failing: BenchResults;
  let dir: string;

  before(async () => {
    steady = await sampleResults({ targets: ["fake:nodes=3,replicas=3", "other:nodes=2,replicas=1", "raft:nodes=3"] });
    failing = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], workloads: ["A"], failures: ["kill:node1@op=200+30ms"], ops: 1_000, delayMs: 1 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-report-test-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("summarizes a run: memory delta, overhead vs ideal, logical ratio", () => {
    const run = steady.runs[0];
    const rows = nodeMemoryRows(run);
    assert.deepEqual(rows.map((row) => row.node), ["node0", "node1", "node2"]);
    const summary = summarizeRun(run);
    const expectedDelta = rows.reduce((total, row) => total + row.deltaBytes!, 0);
    assert.equal(summary.memoryDeltaBytes, expectedDelta);
    assert.equal(summary.payloadBytes, run.payload!.totalBytes);
    assert.equal(summary.overheadRatio, expectedDelta / run.payload!.totalBytes);
    assert.equal(summary.idealOverhead, 3);
    // The fake reports logical bytes = payload × replicas ÷ nodes per node: exactly 3× in all.
    assert.ok(Math.abs(summary.logicalRatio! - 3) < 0.01, `logical ratio ${summary.logicalRatio}`);
    assert.equal(summary.errors, 0);
    assert.equal(formatBytes(1536), "1.5 KiB");
  });

  it("marks the cluster delta partial when a node has no after-load reading", () => {
    const run: BenchRun = JSON.parse(JSON.stringify(steady.runs[0]));
    delete run.memory!.after!.nodes.node2;
    const summary = summarizeRun(run);
    assert.equal(summary.memoryPartial, true);
    assert.equal(summary.memoryDeltaBytes, nodeMemoryRows(run).filter((row) => row.node !== "node2").reduce((t, row) => t + row.deltaBytes!, 0));
  });

  it("splits the delta by the nodes' own V8 heap and array-buffer figures and their cgroups' kernel memory, only when every counted node gave them", () => {
    const run: BenchRun = JSON.parse(JSON.stringify(steady.runs[0]));
    const { before, after } = run.memory!;
    ["node0", "node1", "node2"].forEach((node, i) => {
      before!.nodes[node].stats = { ...before!.nodes[node].stats, v8HeapBytes: 4_000_000, arrayBuffersBytes: 1_000_000 };
      after!.nodes[node].stats = { ...after!.nodes[node].stats, v8HeapBytes: 4_000_000 + 100_000 * (i + 1), arrayBuffersBytes: 3_000_000 + i };
    });
    // Kernel memory comes from the primary sampler's detail (cgroups report it; this fixture's sampler does not yet).
    assert.equal(summarizeRun(run).kernelDeltaBytes, null);
    const primary = run.memory!.primary!;
    ["node0", "node1", "node2"].forEach((node, i) => {
      before!.nodes[node].detail[primary] = { kernelBytes: 1_000_000 };
      after!.nodes[node].detail[primary] = { kernelBytes: 1_000_000 + 10_000 * (i + 1) };
    });
    const summary = summarizeRun(run);
    assert.equal(summary.kernelDeltaBytes, 60_000);
    assert.equal(nodeMemoryRows(run)[2].kernelDeltaBytes, 30_000);
    assert.equal(summary.v8HeapDeltaBytes, 600_000);
    assert.equal(summary.arrayBuffersDeltaBytes, 6_000_003);
    assert.equal(summary.otherDeltaBytes, summary.memoryDeltaBytes! - 6_600_003);
    assert.equal(nodeMemoryRows(run)[2].v8HeapDeltaBytes, 300_000);
    // A node without the figures: no breakdown rather than a sum over part of the cluster.
    delete after!.nodes.node1.stats.v8HeapBytes;
    const partial = summarizeRun(run);
    assert.equal(partial.v8HeapDeltaBytes, null);
    assert.equal(partial.otherDeltaBytes, null);
    assert.equal(partial.arrayBuffersDeltaBytes, 6_000_003);
    // A node left out of the memory delta (no after-load reading) is left out here too.
    delete after!.nodes.node1;
    const twoNodes = summarizeRun(run);
    assert.equal(twoNodes.v8HeapDeltaBytes, 400_000);
    assert.equal(twoNodes.kernelDeltaBytes, 40_000);
    assert.equal(twoNodes.otherDeltaBytes, twoNodes.memoryDeltaBytes! - 400_000 - 4_000_002);
  });

  it("measures a restarted node from its new process, not from the killed one's baseline", async () => {
    const results = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], workloads: ["A"], failures: ["kill:node1@t=60ms+120ms"], durationMs: 400, delayMs: 1 });
    const run: BenchRun = JSON.parse(JSON.stringify(results.runs[0]));
    assert.equal(run.status, "ok", run.reason);
    const primary = run.memory!.primary!;
    const restart = run.memory!.restarts.find((entry) => entry.node === "node1")!;
    assert.ok(restart !== undefined, "the bench read node1's new process");
    // Make the new process's baseline differ from the old one's, as a real restart does.
    restart.reading.memory[primary] = 1_000;
    const rows = nodeMemoryRows(run);
    const node1 = rows.find((row) => row.node === "node1")!;
    assert.equal(node1.baseline, "restart");
    assert.equal(node1.baselineMs, restart.tMs);
    assert.equal(node1.beforeBytes, 1_000);
    assert.equal(node1.deltaBytes, run.memory!.after!.nodes.node1.memory[primary]! - 1_000);
    assert.equal(rows.find((row) => row.node === "node0")!.baseline, "before-load");
    const summary = summarizeRun(run);
    assert.deepEqual(summary.nodesRestarted, ["node1"]);
    assert.equal(summary.memoryPartial, false);
    assert.equal(summary.memoryDeltaBytes, rows.reduce((total, row) => total + row.deltaBytes!, 0));
    assert.equal(summary.overheadRatio, null, "a new process's baseline already holds what it loaded at start: no ratio against the ideal");

    // A /2 file has no restart reading: the node's first sample after the restart is its baseline.
    run.memory!.restarts = [];
    const restartDone = run.events.find((event) => event.type === "failure.restart.done" && event.node === "node1")!.tMs;
    const firstSample = run.memory!.samples.find((sample) => sample.node === "node1" && sample.sampler === primary && sample.tMs >= restartDone)!;
    const fallback = nodeMemoryRows(run).find((row) => row.node === "node1")!;
    assert.equal(fallback.baseline, "first sample after restart");
    assert.equal(fallback.baselineMs, firstSample.tMs);
    assert.equal(fallback.beforeBytes, firstSample.bytes);
  });

  it("leaves out a node that is down at the end, even when its cgroup still reported leftovers", async () => {
    const results = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], workloads: ["A"], failures: ["kill:node1@op=100"], ops: 400, delayMs: 1 });
    const run: BenchRun = JSON.parse(JSON.stringify(results.runs[0]));
    const primary = run.memory!.primary!;
    // A /2 bench read a killed node's cgroup: a few hundred KiB of kernel leftovers.
    run.memory!.after!.nodes.node1.memory[primary] = 300 * 1024;
    const rows = nodeMemoryRows(run);
    const node1 = rows.find((row) => row.node === "node1")!;
    assert.equal(node1.downAtAfter, true);
    assert.equal(node1.afterBytes, null);
    assert.equal(node1.deltaBytes, null);
    const summary = summarizeRun(run);
    assert.equal(summary.memoryPartial, true);
    assert.deepEqual(summary.nodesLeftOut, ["node1"]);
    assert.equal(summary.memoryDeltaBytes, rows.filter((row) => row.node !== "node1").reduce((total, row) => total + row.deltaBytes!, 0));
    assert.equal(summary.overheadRatio, null, "two nodes' growth is not the cluster's overhead");
    // A cluster that shrank has a delta but no ratio.
    const shrunk: BenchRun = JSON.parse(JSON.stringify(steady.runs[0]));
    for (const node of Object.values(shrunk.memory!.after!.nodes)) node.memory[primary] = 1;
    assert.ok(summarizeRun(shrunk).memoryDeltaBytes! < 0);
    assert.equal(summarizeRun(shrunk).overheadRatio, null);
  });

  it("no run of the committed reference results has a negative overhead ratio or node delta from a dead process", () => {
    const reference = readResults(path.resolve(__dirname, "..", "..", "..", "report", "reference.json"));
    for (const run of reference.runs.filter((candidate) => candidate.status === "ok")) {
      const summary = summarizeRun(run);
      assert.ok(summary.overheadRatio === null || summary.overheadRatio > 0, `${run.name}: overhead ${summary.overheadRatio}`);
      for (const row of nodeMemoryRows(run)) {
        if (row.downAtAfter) assert.equal(row.deltaBytes, null, `${run.name} ${row.node}`);
      }
    }
  });

  it("opens with how to reproduce it and how long that takes, and defines its terms before any table", async () => {
    const report = await writeReport([{ file: "steady.json", results: steady }], path.join(dir, "order"));
    const markdown = fs.readFileSync(report.markdownPath, "utf8");
    assert.match(markdown, /^# ecc-cache benchmark report\n\n## How to reproduce\n\n```sh\necc-cache bench --test\necc-cache report steady\.json --out [^\n]*order\n```\n\n\(3 runs, [\d.]+ s of benchmarking on the machine below\.\)/);
    const definitions = markdown.indexOf("## Definitions");
    assert.ok(definitions > 0);
    const firstTable = markdown.indexOf("\n| target |");
    assert.ok(firstTable > definitions, "the first table of figures comes after the definitions");
    assert.ok(markdown.indexOf("## B-100B-c4") > definitions);
    for (const term of ["*Payload*", "*Memory Δ*", "*Overhead*", "*unavailable*", "*Measured phase*", "*Groups*"]) assert.ok(markdown.indexOf(term) > definitions && markdown.indexOf(term) < firstTable, term);

    const scripted = await writeReport([{ file: "steady.json", results: steady }], path.join(dir, "order2"), "", { reproduce: "npm run report:reference" });
    assert.match(fs.readFileSync(scripted.markdownPath, "utf8"), /^# ecc-cache benchmark report\n\n## How to reproduce\n\n`npm run report:reference` reruns the bench and renders this page \(3 runs, [\d.]+ s of benchmarking/);
  });

  it("a failure run's timeline shows the kill, the node back, the outage and the recovery inside the phase", async () => {
    const timed = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], workloads: ["A"], failures: ["kill:node1@t=60ms+120ms"], durationMs: 500, delayMs: 1 });
    const report = await writeReport([{ file: "timed.json", results: timed }], path.join(dir, "timeline"));
    const markdown = fs.readFileSync(report.markdownPath, "utf8");
    assert.match(markdown, /A-100B-c4-failure\n\nWorkload A [^\n]*, 0\.5 s measured after 50 warm-up/);
    const row = /\n\| fake\(3\) \| kill node1 at (\d+\.\d\d) s \| (\d+\.\d\d) s \| – \| (\d+\.\d\d) s – (\d+\.\d\d) s \| (\d+\.\d\d) s \| (\d+\.\d\d) s \|/.exec(markdown);
    assert.ok(row !== null, markdown.slice(markdown.indexOf("**Failure timeline**"), markdown.indexOf("**Failure timeline**") + 600));
    const [kill, back, outageStart, outageEnd, recovered, phase] = row.slice(1).map(Number);
    assert.ok(kill >= 0.05 && back >= kill + 0.1 && outageStart >= kill - 0.01 && outageEnd >= back - 0.01, row[0]);
    assert.ok(recovered >= back && recovered <= phase && phase >= 0.5, row[0]);
  });

  it("writes report.md and SVG charts for every comparison group", async () => {
    const out = path.join(dir, "report");
    const report = await writeReport(
      [
        { file: "steady.json", results: steady },
        { file: "failing.json", results: failing },
      ],
      out,
    );
    const markdown = fs.readFileSync(report.markdownPath, "utf8");
    assert.match(markdown, /^# ecc-cache benchmark report/);
    assert.match(markdown, /## B-100B-c4\n/);
    assert.match(markdown, /\| fake\(3\) \| [^|]+ \| [^|]+ \| \d+\.\d\d× \| 3\.00× \|/, "overhead next to its ideal");
    assert.match(markdown, /\| other\(2\) \|/);
    assert.match(markdown, /failure\.kill` node1/);
    assert.match(markdown, /writes unavailable from/);
    assert.match(markdown, /\| raft-nodes3-B-100B-c4 \| raft:nodes=3 \| skipped \| target 'raft' is not built in this version \|/);
    const names = report.charts.map((file) => path.basename(file)).sort();
    assert.deepEqual(names, [
      "latency-A-100B-c4-failure.svg",
      "latency-B-100B-c4.svg",
      "memory-A-100B-c4-failure.svg",
      "memory-B-100B-c4.svg",
      "overhead.svg",
      "throughput-A-100B-c4-failure.svg",
      "throughput-B-100B-c4.svg",
    ]);
    for (const chart of report.charts) {
      const svg = fs.readFileSync(chart, "utf8");
      assert.match(svg, /^<svg[^>]*width="\d+(\.\d+)?"/, `${path.basename(chart)} is an SVG with a finite width`);
      assert.match(svg, /<\/svg>\s*$/);
      assert.ok(markdown.includes(`charts/${path.basename(chart)}`), `${path.basename(chart)} is linked from report.md`);
    }
  });

  it("draws every node as its own line and failure events as rules", async () => {
    const spec = memorySpec(failing.runs, "memory") as { data: { values: Array<Record<string, unknown>> } };
    const nodes = new Set(spec.data.values.filter((row) => row.layer === "line").map((row) => row.node));
    assert.deepEqual([...nodes].sort(), ["node0", "node1", "node2"]);
    assert.ok(spec.data.values.some((row) => row.layer === "event" && row.label === "kill node1"));
    const throughput = throughputSpec(failing.runs, "throughput") as { data: { values: Array<Record<string, unknown>> } };
    assert.ok(throughput.data.values.some((row) => row.layer === "errors"));
    assert.match(await renderSvg(throughputSpec(failing.runs, "t")!), /<svg/);
  });

  it("the report command reads result files and writes the report", async () => {
    const file = path.join(dir, "steady.json");
    writeResults(file, steady);
    const out = path.join(dir, "cli-report");
    const written: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      await reportCommand().exitOverride().parseAsync([file, "--out", out], { from: "user" });
    } finally {
      process.stdout.write = original;
    }
    assert.ok(fs.existsSync(path.join(out, "report.md")));
    assert.ok(written.join("").includes(path.join(out, "charts", "overhead.svg")));
  });
});
