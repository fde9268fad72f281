// The cache workload at equal memory and CPU per operation, on real processes (issues 16 and
// 18): `ecc-cache bench` starts redis (primary + 2 replicas, and a single node) with
// --total-memory, so each node runs with --maxmemory of total ÷ its cluster's node count and
// allkeys-lru, and runs the cache workload from 2 client processes. Runs where redis-server
// is installed (Debian: apt-get install -y redis-server); otherwise skipped, saying why.
// Checks: exit 0 and a valid result file; each node got its budget and held no more keys than
// it fits; every measured read is a hit or a miss and each miss was followed by a set; the
// CPU of every node, both client processes and the bench was read over the measured phase
// and adds up to the CPU per operation; the client processes are gone afterwards; etcd,
// which has no memory budget, is skipped with the reason. Usage errors come before anything
// starts: --client-processes above the concurrency, op= failures with client processes, two
// budget flags, a policy without a budget.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { binaryVersion } from "../../src/bench/etcd_target";
import { readResults } from "../../src/bench/results";
import { processAlive, runBench } from "../fixtures/bench/run_cli";

const MIB = 1024 * 1024;

describe("bench: cache workload at equal memory, CPU per operation, client processes", function () {
  this.timeout(120_000);
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-bench-cache-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("redis 1+2 and redis(1) at 9 MiB in total, the load from 2 client processes; etcd skipped", async function () {
    if (binaryVersion("redis-server", ["--version"], /v=(\S+)/) === null) {
      console.log("      skipped: redis-server is not installed (apt-get install -y redis-server)");
      this.skip();
    }
    const out = path.join(dir, "cache.json");
    const run = await runBench([
      "--target", "redis:replicas=2",
      "--target", "redis",
      "--target", "etcd:nodes=3",
      "--workloads", "cache",
      "--keys", "20000",
      "--warmup-ops", "6000",
      "--ops", "6000",
      "--value-bytes", "1KiB",
      "--concurrency", "16",
      "--total-memory", "9MiB",
      "--client-processes", "2",
      "--settle-ms", "200",
      "--memory-period-ms", "100",
      "--out", out,
    ]);
    assert.equal(run.code, 0, run.stderr);
    fs.rmSync(run.tmpDir, { recursive: true, force: true });
    const results = readResults(out);
    assert.equal(results.config.clientProcesses, 2);
    const [replicated, single, etcd] = results.runs;
    assert.equal(etcd.status, "skipped");
    assert.match(etcd.reason!, /etcd has no memory budget/);
    for (const [bench, nodes] of [[replicated, 3], [single, 1]] as const) {
      assert.equal(bench.status, "ok", bench.reason);
      assert.equal(bench.group, "cache-1KiB-c16-total9MiB");
      const nodeBytes = Math.floor((9 * MIB) / nodes);
      assert.deepEqual(bench.budget, { totalBytes: 9 * MIB, nodeBytes, nodes, policy: "allkeys-lru" });
      assert.equal(bench.target.params.maxMemoryBytes, nodeBytes);
      // redis counts its whole allocation against maxmemory: a key of 1 KiB costs it more than 1 KiB.
      for (const [name, node] of Object.entries(bench.memory!.after!.nodes)) {
        assert.ok(node.keyCount! > 0 && node.keyCount! < nodeBytes / 1024, `${bench.target.label} ${name}: ${node.keyCount} keys in ${nodeBytes} bytes`);
      }
      if (nodes === 3) assert.ok(bench.memory!.after!.nodes.node0.stats.evictedKeys > 0, "the primary evicted");
      const measured = bench.measured!;
      const cache = measured.cache!;
      assert.equal(measured.errors, 0, JSON.stringify(measured.errorClasses));
      assert.equal(cache.hits + cache.misses, 6_000, "every measured read is a hit or a miss");
      assert.equal(cache.fills, cache.misses);
      assert.equal(measured.ops, 6_000 + cache.fills);
      assert.equal(measured.latency.all.count, measured.okOps, "the client processes' histograms merged");
      assert.ok(cache.hitRatio! > 0.2 && cache.hitRatio! < 0.99, `hit ratio ${cache.hitRatio}`);

      const cpu = bench.cpu!;
      assert.deepEqual(
        cpu.processes.map((entry) => `${entry.role} ${entry.name}`),
        ["bench bench", ...Array.from({ length: nodes }, (_, i) => `node node${i}`), "generator bench client 1/2", "generator bench client 2/2"],
      );
      for (const entry of cpu.processes) {
        assert.ok(entry.cpuMs > 0 || entry.role === "node", `${entry.name}: ${entry.cpuMs} ms`);
        assert.equal(entry.partial, false);
      }
      assert.ok(cpu.processes.filter((entry) => entry.role === "node").reduce((total, entry) => total + entry.cpuMs, 0) > 0, "the nodes' CPU was read");
      const sum = cpu.processes.reduce((total, entry) => total + entry.cpuMs, 0);
      assert.ok(Math.abs(cpu.cpuPerOpUs! - (sum * 1000) / cpu.ops) < 0.01, `${cpu.cpuPerOpUs} µs/op`);
      assert.equal(cpu.ops, measured.ops);
      assert.ok(cpu.generatorShare > 0 && cpu.generatorShare <= 1);
      for (const entry of cpu.processes.filter((candidate) => candidate.role === "generator")) {
        assert.ok(!processAlive(entry.pids[0]), `${entry.name} (pid ${entry.pids[0]}) exited`);
      }
    }
    assert.ok(single.memory!.after!.nodes.node0.keyCount! > replicated.memory!.after!.nodes.node0.keyCount!, "one node of 9 MiB holds more than three of 3 MiB");
    assert.ok(single.measured!.cache!.hitRatio! > replicated.measured!.cache!.hitRatio!, "and hits more often");
  });

  it("refuses bad client-process and budget settings before starting anything", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--client-processes", "4", "--concurrency", "2"], /4 client processes need a concurrency of at least 4/],
      [["--client-processes", "2", "--concurrency", "4", "--fail", "kill:node1@op=100"], /--client-processes: failures at op=N .* use t=DURATION/],
      [["--total-memory", "30MiB", "--max-memory", "10MiB"], /--total-memory and --max-memory are two ways to set one budget/],
      [["--policy", "allkeys-lru"], /--policy needs a memory budget/],
      [["--total-memory", "30MiB", "--policy", "lru"], /--policy: 'lru' is not an eviction policy/],
      [["--client-processes", "99"], /--client-processes: '99' is not a whole number from 0 to 32/],
    ];
    for (const [args, message] of cases) {
      const run = await runBench(["--target", "redis", "--workloads", "B", "--ops", "10", ...args], 30_000);
      fs.rmSync(run.tmpDir, { recursive: true, force: true });
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, "");
    }
  });
});
