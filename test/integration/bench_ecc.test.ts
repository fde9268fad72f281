// A short real benchmark of a local ecc cluster (n=3, k=2: three node processes on loopback)
// through the CLI, then the report of its result file.
// Checks: `ecc-cache bench` exits 0; its JSON validates against ecc-cache.bench/3 and holds
// an ok run with every measured operation accounted for (ok + errors), latency per kind,
// a memory time series for each of the 3 nodes (cgroup working set when running as root with
// a cgroup memory controller, else RSS) and each node's exact logical bytes (every node holds
// every key: one shard each); a time-based run (`--duration`) with node2 killed and restarted
// and node1 killed for good holds the kill, the restart and node2's recovery inside its
// measured phase, accounts every error in error classes and unavailability windows, reads
// node2's new process when it is ready (its baseline in the report) and does not read the
// dead node1 at the end (left out of the cluster's delta);
// `ecc-cache report` renders report.md and SVG charts; afterwards no node process, cgroup
// or temporary directory of the bench is left. A bad scenario (a target twice once the
// CLI's --n/--k apply; a repeat group --concurrency renamed) fails before any cluster
// starts, and only the second error carries the hint about --concurrency.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BenchResults, readResults } from "../../src/bench/results";
import { nodeMemoryRows, summarizeRun } from "../../src/report/analysis";
import { runCli } from "../support/processes";
import { SHORT_B_RUN_ARGS, leftoverCgroups, processAlive, runBench } from "../fixtures/bench/run_cli";

describe("bench: real ecc cluster (n=3, k=2)", function () {
  this.timeout(240_000);
  let dir: string;
  let results: BenchResults;
  let benchPid = 0;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-bench-ecc-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("runs workload B and writes a result file that validates", async () => {
    const out = path.join(dir, "ecc.json");
    const run = await runBench(["--target", "ecc:n=3,k=2", ...SHORT_B_RUN_ARGS, "--warmup-ops", "40", "--out", out]);
    benchPid = run.pid;
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(fs.readdirSync(run.tmpDir), [], "the bench removed its temporary directories");
    fs.rmSync(run.tmpDir, { recursive: true, force: true });
    assert.match(run.stdout, /ecc-k2n3-B-1KiB-c8 +\d+ ops\/s/);
    results = readResults(out);
    assert.equal(results.runs.length, 1);
    const bench = results.runs[0];
    assert.equal(bench.status, "ok", bench.reason);
    assert.equal(bench.target.label, "ecc(n=3,k=2)");
    assert.equal(bench.target.idealOverhead, 1.5);
    assert.equal(bench.target.nodes.length, 3);
    const measured = bench.measured!;
    assert.equal(measured.okOps + measured.errors, 400);
    assert.equal(measured.errors, 0, JSON.stringify(measured.errorSamples.slice(0, 3)));
    assert.ok(measured.latency.read.count > 300 && measured.latency.update.count > 0);
    assert.ok(measured.latency.read.p50Us > 0 && measured.latency.read.p99Us >= measured.latency.read.p50Us);
    const memory = bench.memory!;
    const expectedPrimary = results.environment.root && results.environment.cgroup !== "none" ? "cgroup" : "proc";
    assert.equal(memory.primary, expectedPrimary, memory.notes.join("; "));
    for (const node of ["node0", "node1", "node2"]) {
      assert.ok(memory.samples.filter((s) => s.node === node && s.sampler === memory.primary).length >= 3, `${node}: memory series`);
      const after = memory.after!.nodes[node];
      assert.ok((after.memory[memory.primary!] ?? 0) > 1024 * 1024, `${node}: memory after load`);
      assert.equal(after.keyCount, 100, `${node} holds one shard of every key`);
      assert.ok(after.logicalBytes! > 100 * 512, `${node}: logical bytes ≥ its shard bytes (${after.logicalBytes})`);
      // The node's own memory figures, which the report's breakdown subtracts.
      assert.ok(after.stats.v8HeapBytes > 1024 * 1024, `${node}: V8 heap pages (${after.stats.v8HeapBytes})`);
      assert.ok(after.stats.arrayBuffersBytes >= after.logicalBytes!, `${node}: array buffers hold the store (${after.stats.arrayBuffersBytes})`);
    }
    assert.equal(bench.payload!.keys, 100);
    assert.equal(bench.payload!.valueBytes, 100 * 1024);
    for (const node of bench.target.nodes) assert.equal(processAlive(node.pid!), false, `${node.name} (pid ${node.pid}) was stopped`);
    assert.deepEqual(leftoverCgroups(benchPid), []);
  });

  it("measures for --duration with a kill, restart and recovery inside; the restarted node from its new process, a dead one not at all", async () => {
    const out = path.join(dir, "ecc-fail.json");
    const run = await runBench([
      "--target", "ecc:n=3,k=2",
      "--workloads", "A",
      "--duration", "8s",
      "--warmup-ops", "0",
      "--keys", "100",
      "--concurrency", "8",
      "--settle-ms", "200",
      "--memory-period-ms", "200",
      // node2 is back about 2 s in and holds every key again about 2 s later; node1 dies after that.
      "--fail", "kill:node2@t=500ms+1s",
      "--fail", "kill:node1@t=7s",
      "--out", out,
    ]);
    assert.equal(run.code, 0, run.stderr);
    fs.rmSync(run.tmpDir, { recursive: true, force: true });
    const bench = readResults(out).runs[0];
    assert.equal(bench.status, "ok", bench.reason);
    assert.equal(bench.name, "ecc-k2n3-A-1KiB-c8-kill-node2+kill-node1");
    assert.equal(bench.workload.durationMs, 8_000);
    const measured = bench.measured!;
    assert.ok(measured.durationMs >= 8_000, `measured ${measured.durationMs} ms`);
    const at = (type: string, node: string): number => {
      const event = bench.events.find((candidate) => candidate.type === type && candidate.node === node);
      assert.ok(event !== undefined, `${type} ${node} in ${bench.events.map((e) => `${e.type} ${e.node ?? ""}`).join(", ")}`);
      return event.tMs;
    };
    for (const [type, node] of [["failure.kill", "node2"], ["failure.restart.done", "node2"], ["failure.kill.done", "node1"]]) {
      assert.ok(at(type, node) >= measured.startMs && at(type, node) <= measured.endMs, `${type} ${node} inside the measured phase`);
    }
    assert.ok(!bench.events.some((event) => event.type === "failure.cancelled"));
    assert.equal(measured.okOps + measured.errors, measured.ops);
    assert.equal(measured.errorClasses.reduce((total, error) => total + error.count, 0), measured.errors);
    assert.equal(measured.unavailability.reduce((total, window) => total + window.errors, 0), measured.errors);
    assert.ok(measured.latency.read.count > 0, "reads keep working with one of three nodes down (k=2)");
    // The restarted node was read as soon as its new process was ready, and recovered every key.
    const memory = bench.memory!;
    const primary = memory.primary!;
    const restart = memory.restarts.find((entry) => entry.node === "node2")!;
    assert.ok(restart !== undefined && restart.reading.memory[primary]! > 1024 * 1024, JSON.stringify(memory.restarts));
    const logical = memory.logical.filter((sample) => sample.node === "node2" && sample.tMs > at("failure.restart.done", "node2") && sample.tMs <= at("failure.kill", "node1"));
    assert.ok(logical.some((sample) => sample.keyCount === 100), "node2 holds every key again before node1 dies");
    // node1 is dead at the end: not read (its cgroup holds only kernel leftovers), left out of the sum.
    assert.equal(memory.after!.nodes.node1.memory[primary], undefined, JSON.stringify(memory.after!.nodes.node1.memory));
    const rows = nodeMemoryRows(bench);
    assert.equal(rows.find((row) => row.node === "node2")!.baseline, "restart");
    assert.equal(rows.find((row) => row.node === "node1")!.deltaBytes, null);
    const summary = summarizeRun(bench);
    assert.deepEqual(summary.nodesLeftOut, ["node1"]);
    assert.ok(summary.memoryDeltaBytes! > 0, `cluster delta ${summary.memoryDeltaBytes}`);
    assert.equal(summary.overheadRatio, null);
    for (const node of bench.target.nodes) assert.equal(processAlive(node.pid!), false);
    assert.deepEqual(leftoverCgroups(run.pid), []);
  });

  it("refuses a bad scenario before starting anything, with the --concurrency hint only where it applies", async () => {
    const scenario = path.join(dir, "bad-scenario.json");
    const base = { name: "bad", workloads: ["B"], valueBytes: ["1KiB"], concurrency: [64], ops: 100, keys: 100 };
    // Distinct in the file; --n/--k make "ecc" the same target as the other one.
    fs.writeFileSync(scenario, JSON.stringify({ ...base, targets: ["ecc", "ecc:n=5,k=3"] }));
    const twice = await runBench(["--scenario", scenario, "--n", "5", "--k", "3", "--concurrency", "8"], 30_000);
    fs.rmSync(twice.tmpDir, { recursive: true, force: true });
    assert.notEqual(twice.code, 0);
    assert.match(twice.stderr, /targets 'ecc:k=3,n=5' and 'ecc:n=5,k=3' are the same target/);
    assert.doesNotMatch(twice.stderr, /group names/, "the hint is about repeat groups, not duplicate targets");
    fs.writeFileSync(scenario, JSON.stringify({ ...base, targets: ["ecc:n=3,k=2"], repeat: { groups: ["B-1KiB-c64"], times: 2 } }));
    const renamed = await runBench(["--scenario", scenario, "--concurrency", "8"], 30_000);
    fs.rmSync(renamed.tmpDir, { recursive: true, force: true });
    assert.notEqual(renamed.code, 0);
    assert.match(renamed.stderr, /'B-1KiB-c64' is not a group of this matrix; its groups are B-1KiB-c8 \(--concurrency changes the group names/);
  });

  it("`ecc-cache report` renders Markdown and SVG charts from the result files", async () => {
    const out = path.join(dir, "report");
    const result = await runCli(["report", path.join(dir, "ecc.json"), path.join(dir, "ecc-fail.json"), "--out", out], { timeoutMs: 60_000 });
    assert.equal(result.code, 0, result.stderr);
    const markdown = fs.readFileSync(path.join(out, "report.md"), "utf8");
    assert.match(markdown, /\| ecc\(n=3,k=2\) \|/);
    assert.match(markdown, /failure\.kill` node2/);
    assert.match(markdown, /\*\*Failure timeline\*\*/);
    const charts = fs.readdirSync(path.join(out, "charts"));
    for (const prefix of ["memory-", "latency-", "throughput-", "overhead"]) assert.ok(charts.some((name) => name.startsWith(prefix)), `${prefix} chart in ${charts.join(", ")}`);
    for (const chart of charts) assert.match(fs.readFileSync(path.join(out, "charts", chart), "utf8"), /^<svg[\s\S]*<\/svg>\s*$/);
  });
});
