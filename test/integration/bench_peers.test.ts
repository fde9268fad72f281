// Short real benchmarks of the peers the bench compares against: a 3-member etcd cluster and
// redis (single node; primary + 2 replicas with WAIT), started by the bench on loopback from
// Debian's binaries. Runs only where the binaries are installed (CI: apt-get install -y
// etcd-server etcd-client redis-server); otherwise each suite is skipped and says why.
// Checks: exit 0; the result file validates; every operation is accounted for; memory and the
// peer's own byte count (etcd dbSizeInUse, redis used_memory_dataset) are sampled for every
// node; replicas hold every key; a killed and restarted etcd member is recorded as events
// and the cluster keeps serving (a majority remains); no process, cgroup or temporary
// directory is left behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readResults } from "../../src/bench/results";
import { leftoverCgroups, processAlive, runBench } from "../fixtures/bench/run_cli";

function installed(binary: string): boolean {
  const result = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 5_000 });
  return result.error === undefined && result.status === 0;
}

const COMMON = ["--workloads", "B", "--ops", "600", "--warmup-ops", "60", "--keys", "200", "--concurrency", "8", "--settle-ms", "300", "--memory-period-ms", "100"];

describe("bench: real etcd cluster (3 members)", function () {
  this.timeout(240_000);
  let dir: string;

  before(function () {
    if (!installed("etcd")) {
      console.log("      skipped: etcd is not installed (apt-get install -y etcd-server etcd-client)");
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-bench-etcd-"));
  });
  after(() => {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("measures etcd, with a member killed and restarted mid-run", async () => {
    const out = path.join(dir, "etcd.json");
    const run = await runBench(["--target", "etcd:nodes=3", ...COMMON, "--fail", "kill:node1@op=200+500ms", "--out", out]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(fs.readdirSync(run.tmpDir), [], "member data directories removed");
    fs.rmSync(run.tmpDir, { recursive: true, force: true });
    const results = readResults(out);
    assert.match(results.environment.tools.etcd, /^3\./);
    const bench = results.runs[0];
    assert.equal(bench.status, "ok", bench.reason);
    assert.equal(bench.target.label, "etcd(3)");
    assert.equal(bench.target.idealOverhead, 3);
    const measured = bench.measured!;
    assert.equal(measured.okOps + measured.errors, 600);
    assert.ok(measured.okOps > 500, `a majority keeps serving: ${measured.okOps} ok, errors ${JSON.stringify(measured.errorClasses)}`);
    const types = bench.events.map((event) => event.type);
    assert.ok(types.includes("failure.kill.done"), types.join(", "));
    const memory = bench.memory!;
    for (const node of ["node0", "node1", "node2"]) {
      assert.ok(memory.samples.some((s) => s.node === node && s.sampler === memory.primary), `${node}: memory series`);
      assert.ok(memory.logical.some((s) => s.node === node && (s.logicalBytes ?? 0) > 0), `${node}: dbSizeInUse`);
    }
    assert.equal(memory.after!.nodes.node0.keyCount, 200);
    for (const node of bench.target.nodes) assert.equal(processAlive(node.pid!), false, `${node.name} stopped`);
    assert.deepEqual(leftoverCgroups(run.pid), []);
  });
});

describe("bench: real redis (single node; primary + 2 replicas)", function () {
  this.timeout(240_000);
  let dir: string;

  before(function () {
    if (!installed("redis-server")) {
      console.log("      skipped: redis-server is not installed (apt-get install -y redis-server)");
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-bench-redis-"));
  });
  after(() => {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("measures redis(1) and redis(1+2,wait) in one run", async () => {
    const out = path.join(dir, "redis.json");
    const run = await runBench(["--target", "redis", "--target", "redis:replicas=2,wait=1", ...COMMON, "--out", out]);
    assert.equal(run.code, 0, run.stderr);
    fs.rmSync(run.tmpDir, { recursive: true, force: true });
    const results = readResults(out);
    assert.deepEqual(
      results.runs.map((r) => [r.target.label, r.status, r.target.idealOverhead]),
      [
        ["redis(1)", "ok", 1],
        ["redis(1+2,wait)", "ok", 3],
      ],
    );
    for (const bench of results.runs) {
      const measured = bench.measured!;
      assert.equal(measured.errors, 0, JSON.stringify(measured.errorSamples.slice(0, 3)));
      assert.equal(measured.okOps, 600);
      const after = bench.memory!.after!.nodes;
      for (const node of bench.target.nodes) {
        assert.equal(after[node.name].keyCount, 200, `${bench.target.label} ${node.name} (${node.role}) holds every key`);
        assert.ok((after[node.name].logicalBytes ?? 0) > 200 * 1024, `${node.name}: used_memory_dataset`);
        assert.equal(processAlive(node.pid!), false);
      }
      assert.deepEqual(bench.target.nodes.map((node) => node.role), bench.target.nodes.length === 1 ? ["primary"] : ["primary", "replica", "replica"]);
    }
    assert.deepEqual(leftoverCgroups(run.pid), []);
  });
});
