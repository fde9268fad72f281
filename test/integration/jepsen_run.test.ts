// Jepsen-style runs against real clusters, one short run per mode and client (the client
// library; ioredis through the RESP front door), through the real entry point (node
// dist/src/jepsen/main.js) as a child process.
// Property: with faults inside the budget (ecc: at most n-k = 2 of 5 nodes faulty at once;
// raft: 1 of 3) -- SIGKILL + restart, SIGSTOP/SIGCONT, real network partitions when this
// machine allows network namespaces, and (ecc) CLI clients SIGKILLed between EcPrepare and
// EcCommit -- the recorded history, including a final read of every key after healing, is
// linearizable: so no acknowledged write was lost. Also: the results file follows its
// schema, the exit code is 0, at least one node fault really happened, and every process the
// run started is gone and its network namespaces removed afterwards, also when the run is
// interrupted with SIGINT half way. A raft run as a cache (a tight budget, values padded
// to fill it, TTLs) evicts and expires values, and with each drop the nodes logged added to
// the history as an "expire" of that value, the history is linearizable.
import assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const MAIN_PATH = path.resolve(__dirname, "..", "..", "src", "jepsen", "main.js");

interface RunOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runJepsenProcess(args: string[], timeoutMs: number, started: (child: ChildProcess) => void): Promise<RunOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN_PATH, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    started(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      // SIGTERM lets the runner stop its nodes and remove its namespaces; SIGKILL if it hangs.
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
      reject(new Error(`jepsen ${args.join(" ")} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function namespacesOf(pid: number): string[] {
  try {
    return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
      .split("\n")
      .map((line) => line.trim().split(/\s+/)[0])
      .filter((name) => name !== undefined && name.startsWith(`jepsen-${pid}-`));
  } catch {
    return []; // no iproute2: the run could not have made namespaces either
  }
}

// The RESP runs go through ioredis on every node's RESP port (--via resp) and do SET NX (10%
// of operations by default), which the checker models as a set only onto an absent key; the
// raft library run does too (RaftClient's NX, decided by the state machine).
const RUNS = [
  { mode: "ecc", seed: 11, timeSeconds: 45, via: "library", nxFraction: null },
  { mode: "raft", seed: 12, timeSeconds: 40, via: "library", nxFraction: "0.1" },
  { mode: "ecc", seed: 13, timeSeconds: 20, via: "resp", nxFraction: null },
  { mode: "raft", seed: 14, timeSeconds: 15, via: "resp", nxFraction: null },
] as const;

describe("jepsen runs against real clusters (faults within the budget)", function () {
  this.timeout(170_000);
  let child: ChildProcess | null = null;
  let outDir = "";

  before(() => {
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), "jepsen-test-"));
  });
  afterEach(() => {
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    child = null;
  });
  after(() => {
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  for (const run of RUNS) {
    it(`${run.mode}${run.via === "resp" ? " through RESP (ioredis)" : ""}: linearizable and no acknowledged write lost (seed ${run.seed}, ${run.timeSeconds} s)`, async () => {
      const out = path.join(outDir, `${run.mode}-${run.via}.json`);
      const args = ["--mode", run.mode, "--via", run.via, "--time", String(run.timeSeconds), "--seed", String(run.seed), "--out", out, "--heal-timeout-ms", "15000"];
      if (run.nxFraction !== null) args.push("--nx-fraction", run.nxFraction);
      const output = await runJepsenProcess(args, 160_000, (started) => (child = started));
      const pid = child!.pid!;
      const context = `exit ${output.code}\nstdout:\n${output.stdout}\nstderr (tail):\n${output.stderr.slice(-3_000)}`;
      assert.equal(output.code, 0, context);
      assert.match(output.stdout, /^linearizable/m, context);

      const result = JSON.parse(fs.readFileSync(out, "utf8"));
      assert.equal(result.schema, "ecc-cache.jepsen/1");
      assert.equal(result.mode, run.mode);
      assert.equal(result.seed, run.seed);
      assert.equal(result.verdict, "linearizable", context);
      // Liveness too: after healing every node is back (a node once stayed "recovering"
      // forever after a missed promotion; this catches that).
      assert.equal(result.health.healthy, true, `not healthy after healing: ${result.health.summary}\n${context}`);
      assert.deepEqual(result.failing, []);
      // Every key was read back after healing (the reads the lost-write check rests on).
      assert.equal(result.finalReads.length, 4);
      for (const read of result.finalReads) assert.notEqual(read.result, "failed", `final read of ${read.key} failed\n${context}`);
      assert.ok(result.counts.total.ok > 300, `only ${result.counts.total.ok} operations succeeded\n${context}`);
      assert.ok(result.counts.set.ok > 0 && result.counts.del.ok > 0 && result.counts.get.ok > 0, context);
      assert.equal(result.config.via, run.via);
      if (run.via === "resp" || run.nxFraction !== null) assert.ok(result.counts.setnx.ok > 0, `no SET NX succeeded\n${context}`);
      // The nemesis did its job: node faults happened, and never more than the budget planned.
      const nodeFaults = result.events.filter((event: { kind: string }) => ["kill", "pause", "partition"].includes(event.kind));
      assert.ok(nodeFaults.length >= 2, `only ${nodeFaults.length} node faults happened\n${context}`);
      for (const event of nodeFaults) assert.ok(event.nodes.length <= result.config.faultBudget);
      assert.equal(result.config.faultBudget, run.mode === "ecc" ? 2 : 1);
      if (run.mode === "ecc") {
        assert.ok(result.clientCrashes >= 1 || !result.config.faults.includes("client-crash"), context);
        // Seed 11 plans five partitions; the live budget check may skip some, not all.
        if (result.config.partitions.enabled) assert.ok(result.events.some((event: { kind: string }) => event.kind === "partition"), context);
      }

      // Nothing left behind: every PID stopped, every namespace removed.
      assert.ok(result.pids.length >= (run.mode === "ecc" ? 5 : 3));
      const survivors = result.pids.filter((started: number) => alive(started));
      assert.deepEqual(survivors, [], `processes still running: ${survivors.join(", ")}`);
      assert.deepEqual(namespacesOf(pid), []);
    });
  }

  it("raft as a cache (a 4 MiB budget, TTLs): evictions and expirations from the node logs keep it linearizable", async () => {
    const out = path.join(outDir, "raft-cache.json");
    const args = [
      "--mode", "raft", "--time", "20", "--seed", "21", "--keys", "200", "--max-memory", "4MiB", "--value-bytes", "30000", "--ttl-ms", "1500",
      "--faults", "kill,pause", "--out", out, "--heal-timeout-ms", "15000",
    ];
    const output = await runJepsenProcess(args, 120_000, (started) => (child = started));
    const context = `exit ${output.code}\nstdout:\n${output.stdout.slice(0, 3_000)}\nstderr (tail):\n${output.stderr.slice(-3_000)}`;
    assert.equal(output.code, 0, context);
    const result = JSON.parse(fs.readFileSync(out, "utf8"));
    assert.equal(result.verdict, "linearizable", context);
    assert.equal(result.health.healthy, true, context);
    // The cluster dropped values, and each one joined the history as an expire.
    assert.ok(result.drops.evictions > 20, `only ${result.drops.evictions} evictions\n${context}`);
    assert.ok(result.drops.expirations > 20, `only ${result.drops.expirations} expirations\n${context}`);
    assert.equal(result.drops.unmatched, 0, context);
    assert.equal(result.counts.expire.ok, result.drops.evictions + result.drops.expirations);
    assert.equal(result.config.cluster.max_memory_bytes, 4 * 1024 * 1024);
    assert.deepEqual(result.pids.filter((started: number) => alive(started)), []);
  });

  it("SIGINT half way: exit 2, every started process stopped, namespaces removed", async () => {
    let stderr = "";
    const exited = new Promise<number | null>((resolve, reject) => {
      const started = spawn(process.execPath, [MAIN_PATH, "--mode", "ecc", "--time", "60", "--seed", "5"], { stdio: ["ignore", "ignore", "pipe"] });
      child = started;
      started.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        // Interrupt once the nemesis has acted (a fault is in force or was just undone).
        if (/ s  (kill|pause|partition|client-crash)/.test(stderr) && started.signalCode === null && !started.killed) started.kill("SIGINT");
      });
      started.on("error", reject);
      started.on("exit", (code) => resolve(code));
    });
    const timer = setTimeout(() => child?.kill("SIGKILL"), 60_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /SIGINT: stopping every started process/);
    const pids = [...stderr.matchAll(/pids ([\d,]+)/g)].flatMap((match) => match[1].split(",").map(Number));
    pids.push(...[...stderr.matchAll(/pid (\d+)/g)].map((match) => Number(match[1])));
    assert.ok(pids.length >= 5, stderr);
    const survivors = pids.filter((pid) => alive(pid));
    assert.deepEqual(survivors, [], `still running after SIGINT: ${survivors.join(", ")}`);
    assert.deepEqual(namespacesOf(child!.pid!), []);
  });
});
