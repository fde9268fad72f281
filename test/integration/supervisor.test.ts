// `server startAll` supervises its nodes, and no node may outlive it, whatever ends it.
// Properties, with real processes on loopback:
// - SIGKILL of the supervisor (it can run no cleanup at all): every node process exits
//   within NODE_EXIT_MS_MAX and its port is free again (ecc and raft);
// - SIGTERM and SIGHUP of the supervisor after startup: likewise;
// - Ctrl-C while the nodes are still starting, sent to the supervisor alone (`kill -INT`)
//   or to its whole process group (a terminal's Ctrl-C): no node is left behind;
// - a node started by hand (`startOne`, stdin closed at once) does not take the closed
//   stdin for a dead supervisor: it keeps serving.
// Node PIDs come from the supervisor's "pid N" lines, or, before it printed them, from
// /proc (children of the supervisor). Any process a test saw is SIGKILLed by PID afterwards.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { findBusyAddresses } from "../../src/core/ports";
import { StartedProcess, childPids, freePorts, processGone, runCli, startCli, stopProcess, waitUntil } from "../support/processes";

/** How long a node may take to notice its supervisor is gone and exit. */
const NODE_EXIT_MS_MAX = 10_000;
const SUPERVISOR_READY_MS_MAX = 60_000;
/** How long the slow node of the Ctrl-C tests sleeps before it starts (longer than the others take). */
const SLOW_START_MS = 20_000;

type Mode = "ecc" | "raft";

interface ClusterArgs {
  servers: string[];
  args: string[];
}

async function clusterArgs(mode: Mode, dataDir: string): Promise<ClusterArgs> {
  const count = mode === "ecc" ? 5 : 3;
  const addresses = (await freePorts(3 * count)).map((port) => `127.0.0.1:${port}`);
  const servers = addresses.slice(0, count);
  // The front doors on free ports too (startAll's defaults, 9300+i and 6379+i, may be taken
  // by a cluster someone runs on this machine); their processes are the same nodes.
  const args = [mode, "server", "startAll", "--servers", servers.join(","), "--data-dir", dataDir];
  args.push("--http-servers", addresses.slice(count, 2 * count).join(","), "--resp-servers", addresses.slice(2 * count).join(","));
  if (mode === "raft") args.push("--fsync", "never");
  return { servers, args };
}

function nodePidsPrinted(supervisor: StartedProcess): number[] {
  return supervisor.output.flatMap((line) => {
    const match = /listening on \S+\s+pid (\d+)/.exec(line);
    return match === null ? [] : [Number(match[1])];
  });
}

describe("startAll supervisor: nodes never outlive it (real processes)", function () {
  this.timeout(120_000);
  let dataDir = "";
  /** Every process a test saw: SIGKILLed by PID after the test if still running. */
  const seen = new Set<number>();
  let supervisor: StartedProcess | null = null;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "supervisor-test-"));
  });
  afterEach(async () => {
    if (supervisor !== null) await stopProcess(supervisor, "SIGKILL");
    supervisor = null;
    for (const pid of seen) {
      if (processGone(pid)) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // exited between the check and the kill
      }
    }
    seen.clear();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function startSupervisor(mode: Mode, options: { detached?: boolean } = {}): Promise<ClusterArgs & { nodePids: number[] }> {
    const cluster = await clusterArgs(mode, dataDir);
    supervisor = await startCli(cluster.args, /Press Ctrl-C/, { timeoutMs: SUPERVISOR_READY_MS_MAX, detached: options.detached });
    const nodePids = nodePidsPrinted(supervisor);
    assert.equal(nodePids.length, cluster.servers.length, supervisor.output.join("\n"));
    for (const pid of nodePids) seen.add(pid);
    return { ...cluster, nodePids };
  }

  async function assertNodesGone(nodePids: number[], servers: string[]): Promise<void> {
    await waitUntil(() => nodePids.every(processGone), NODE_EXIT_MS_MAX, `node processes ${nodePids.filter((pid) => !processGone(pid)).join(", ")} still running`);
    assert.deepEqual(await findBusyAddresses(servers), [], "every node's port is free again");
  }

  for (const mode of ["ecc", "raft"] as const) {
    it(`${mode}: SIGKILL of the supervisor stops every node and frees its port`, async () => {
      const { nodePids, servers } = await startSupervisor(mode);
      await stopProcess(supervisor!, "SIGKILL");
      await assertNodesGone(nodePids, servers);
    });
  }

  for (const signal of ["SIGTERM", "SIGHUP"] as const) {
    it(`ecc: ${signal} of a running supervisor stops every node and frees its port`, async () => {
      const { nodePids, servers } = await startSupervisor("ecc");
      await stopProcess(supervisor!, signal, NODE_EXIT_MS_MAX);
      assert.equal(supervisor!.child.signalCode, null, `the supervisor handled ${signal} (stopped its nodes, then exited)`);
      await assertNodesGone(nodePids, servers);
    });
  }

  for (const target of ["the supervisor alone", "the process group"] as const) {
    it(`ecc: Ctrl-C (SIGINT to ${target}) while a node is still starting leaves no node behind`, async () => {
      const { servers, args } = await clusterArgs("ecc", dataDir);
      // One node is slow to start (a preload passed through ECC_CACHE_NODE_ARGS sleeps in
      // it before the CLI runs), so the signal comes when the others are up and quiet and
      // that one is still starting: the moment a Ctrl-C once left nodes running.
      const slowNode = servers[servers.length - 1];
      const preload = path.join(dataDir, "slow_start.js");
      fs.writeFileSync(
        preload,
        `if (process.argv.includes(${JSON.stringify(slowNode)})) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${SLOW_START_MS});\n`,
      );
      supervisor = await startCli(args, /^ecc cluster: k=/, {
        timeoutMs: SUPERVISOR_READY_MS_MAX,
        detached: target === "the process group",
        env: { ECC_CACHE_NODE_ARGS: `--require ${preload}` },
      });
      const started = supervisor;
      let nodePids: number[] = [];
      await waitUntil(
        () => {
          nodePids = childPids(started.pid);
          for (const child of nodePids) seen.add(child);
          return nodePids.length === servers.length && started.output.filter((line) => /ecc\.node_started/.test(line)).length === servers.length - 1;
        },
        SUPERVISOR_READY_MS_MAX,
        `the supervisor spawned ${servers.length} nodes and all but ${slowNode} started`,
      );
      assert.ok(!started.output.some((line) => /nodes running/.test(line)), "the signal must come while a node is still starting");
      process.kill(target === "the process group" ? -started.pid : started.pid, "SIGINT");
      const exit = await Promise.race([started.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), NODE_EXIT_MS_MAX))]);
      assert.notEqual(exit, null, `the supervisor exited within ${NODE_EXIT_MS_MAX} ms of SIGINT`);
      assert.deepEqual(exit, { code: 130, signal: null }, "the supervisor handled the SIGINT: it stopped its nodes and exited 130");
      await assertNodesGone(nodePids, servers);
    });
  }

  it("ecc: a node started by hand with stdin closed keeps serving (the supervisor watch is opt-in)", async () => {
    const { servers } = await clusterArgs("ecc", dataDir);
    const base = ["--servers", servers.join(","), "--k", "3", "--n", "5", "--data-dir", dataDir];
    // Started without the watch, as by hand; startCli gives the node /dev/null as stdin, as a
    // script or nohup would, and this test process never reads it.
    const nodes: StartedProcess[] = [];
    try {
      for (const address of servers) {
        const node = await startCli(["ecc", "server", "startOne", address, ...base], /ecc\.node_started/, { timeoutMs: SUPERVISOR_READY_MS_MAX, supervised: false });
        nodes.push(node);
        seen.add(node.pid);
      }
      const set = await runCli(["ecc", "client", "set", "kept", "alive", ...base]);
      assert.equal(set.code, 0, set.stderr);
      const get = await runCli(["ecc", "client", "get", "kept", ...base]);
      assert.equal(get.stdout.toString(), "alive", get.stderr);
      for (const node of nodes) assert.ok(!processGone(node.pid), `node ${node.pid} still runs`);
    } finally {
      await Promise.all(nodes.map((node) => stopProcess(node, "SIGTERM", 3_000)));
    }
  });
});
