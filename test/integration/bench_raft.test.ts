// A short real benchmark of a local raft cluster (3 node processes on loopback) through the
// CLI, then the report of its result file.
// Checks: `ecc-cache bench --target raft:nodes=3` exits 0; its JSON validates and holds an ok
// run with every measured operation accounted for and no errors; each node has a memory
// series, holds every key (full replicas: logical bytes at least the values), and reported
// its V8 heap and array-buffer memory at the after-load snapshot; the report renders the
// comparison row and the memory breakdown of the run (kernel memory too where the node
// cgroups report it), per cluster and per node; afterwards no node process or cgroup of the
// bench is left.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readResults } from "../../src/bench/results";
import { runCli } from "../support/processes";
import { SHORT_B_RUN_ARGS, leftoverCgroups, processAlive, runBench } from "../fixtures/bench/run_cli";

describe("bench: real raft cluster (3 nodes)", function () {
  this.timeout(240_000);
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-bench-raft-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("runs workload B, writes a result file that validates, and its report shows where the memory went", async () => {
    const out = path.join(dir, "raft.json");
    const run = await runBench(["--target", "raft:nodes=3", ...SHORT_B_RUN_ARGS, "--warmup-ops", "50", "--out", out]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(fs.readdirSync(run.tmpDir), [], "the bench removed its temporary directories");
    fs.rmSync(run.tmpDir, { recursive: true, force: true });
    const results = readResults(out);
    assert.equal(results.runs.length, 1);
    const bench = results.runs[0];
    assert.equal(bench.status, "ok", bench.reason);
    assert.equal(bench.target.label, "raft(3)");
    assert.equal(bench.target.idealOverhead, 3);
    const measured = bench.measured!;
    assert.equal(measured.okOps + measured.errors, 400);
    assert.equal(measured.errors, 0, JSON.stringify(measured.errorSamples.slice(0, 3)));
    const memory = bench.memory!;
    for (const node of ["node0", "node1", "node2"]) {
      assert.ok(memory.samples.filter((s) => s.node === node && s.sampler === memory.primary).length >= 3, `${node}: memory series`);
      const after = memory.after!.nodes[node];
      assert.equal(after.keyCount, 100, `${node} holds every key`);
      assert.ok(after.logicalBytes! >= 100 * 1024, `${node}: logical bytes ≥ the values (${after.logicalBytes})`);
      assert.ok(after.stats.v8HeapBytes > 1024 * 1024, `${node}: V8 heap pages (${after.stats.v8HeapBytes})`);
      assert.ok(after.stats.arrayBuffersBytes >= 100 * 1024, `${node}: array buffers hold the values (${after.stats.arrayBuffersBytes})`);
    }
    for (const node of bench.target.nodes) assert.equal(processAlive(node.pid!), false, `${node.name} (pid ${node.pid}) was stopped`);
    assert.deepEqual(leftoverCgroups(run.pid), []);

    const report = path.join(dir, "report");
    const rendered = await runCli(["report", out, "--out", report], { timeoutMs: 60_000 });
    assert.equal(rendered.code, 0, rendered.stderr);
    const markdown = fs.readFileSync(path.join(report, "report.md"), "utf8");
    assert.match(markdown, /\| raft\(3\) \| [\d.]+ KiB \|/, "comparison row");
    assert.match(markdown, /\*\*Where the memory went\*\* \(group `B-1KiB-c8`/);
    // Any size, signed: a short run's V8 heap may not grow at all, or shrink.
    const size = String.raw`−?[\d.]+ (?:B|KiB|MiB)`;
    assert.match(markdown, new RegExp(String.raw`\| raft\(3\) \| ${size} \| [\d.]+ KiB \| ${size} \| ${size} \| ${size} \|`), "breakdown row");
    // Per node too: every node's row ends with its array buffers Δ and V8 heap Δ.
    assert.match(markdown, /\| keys \| array buffers Δ \| V8 heap Δ \|/);
    for (const node of ["node0", "node1", "node2"]) {
      assert.match(markdown, new RegExp(String.raw`\| ${node} \|.*\| 100 \| ${size} \| ${size} \|`), `${node}: per-node split`);
    }
    // Where the node cgroups report kernel memory (as root: v1 memory.kmem.usage_in_bytes, v2
    // memory.stat kernel on Linux 5.18+), both tables get one more column; elsewhere neither does.
    const nodes = ["node0", "node1", "node2"];
    const kernel = memory.primary === "cgroup" && nodes.every((node) => memory.after!.nodes[node].detail.cgroup?.kernelBytes !== undefined);
    if (kernel) {
      assert.match(markdown, new RegExp(String.raw`^\| raft\(3\) \| ${size} \| [\d.]+ KiB \| ${size} \| ${size} \| ${size} \| ${size} \|$`, "m"), "breakdown row with kernel");
      assert.match(markdown, /\| V8 heap Δ \| kernel Δ \|$/m);
      for (const node of nodes) assert.match(markdown, new RegExp(String.raw`^\| ${node} \|.*\| 100 \| ${size} \| ${size} \| ${size} \|$`, "m"), `${node}: kernel Δ`);
    } else {
      assert.doesNotMatch(markdown, /of which kernel|kernel Δ/);
    }
  });
});
