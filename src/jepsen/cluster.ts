// A local cluster of real node processes for the Jepsen-style runner: the CLI started the
// real way (`node dist/src/cli/main.js ecc|raft server startOne ...`), each node one OS
// process, stopped by its PID, every wait bounded. The small launching logic mirrors
// test/support (src/ must not import from test/).
//
// Nodes listen on loopback, or, with a NamespaceNetwork, each in its own network namespace
// on its own address so the nemesis can partition them for real.
import { ChildProcess, spawn } from "node:child_process";
import { freeLoopbackPorts } from "../core/ports";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { createCodec } from "../codec";
import { errorMessage } from "../core/errors";
import { EcClient } from "../ecc/client";
import { EccClusterConfig, eccConfigToFile, parseEccConfig } from "../ecc/config";
import { RaftClient } from "../raft/client";
import { RaftClusterConfig, parseRaftConfig, raftConfigToFile } from "../raft/config";
import { NamespaceNetwork } from "./netns";

/** ECC_CACHE_RESOLVED_CONFIG / RAFT_CACHE_RESOLVED_CONFIG (src/cli/*_config_loader.ts). */
const ECC_RESOLVED_CONFIG_ENV = "ECC_CACHE_RESOLVED_CONFIG";
const RAFT_RESOLVED_CONFIG_ENV = "RAFT_CACHE_RESOLVED_CONFIG";

export const CLI_PATH = path.resolve(__dirname, "..", "cli", "main.js");

export type JepsenMode = "ecc" | "raft";

const NODE_READY_MS_MAX = 20_000;
const NODE_EXIT_MS_MAX = 5_000;
const OUTPUT_LINES_MAX = 300;
/** Deadline of one health probe request; a paused node must not stall the nemesis for long. */
const PROBE_RPC_TIMEOUT_MS = 500;

export interface NodeProcess {
  index: number;
  child: ChildProcess;
  pid: number;
  /** The last lines the node printed (stdout and stderr), for diagnostics. */
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  paused: boolean;
}

export interface ClusterOptions {
  mode: JepsenMode;
  /** Put every node in a network namespace of its own (needed for partitions). */
  network: NamespaceNetwork | null;
  /** When set, every line each node prints is appended to <logDir>/node<i>.log. */
  logDir?: string | null;
}

export interface NodeHealth {
  /** Nodes that are full members (ecc) or reachable voters in the leader's term (raft). */
  healthy: Set<number>;
  /** A short description for event logs. */
  summary: string;
}

export class JepsenCluster {
  readonly mode: JepsenMode;
  readonly nodeCount: number;
  /** Most nodes that may be faulty at once: n - k for ecc, a minority for raft. */
  readonly faultBudget: number;
  readonly servers: string[];
  readonly eccConfig: EccClusterConfig | null;
  readonly raftConfig: RaftClusterConfig | null;
  /** Environment that hands the exact config to every child (nodes and CLI clients). */
  readonly childEnv: NodeJS.ProcessEnv;
  readonly network: NamespaceNetwork | null;
  readonly nodes: Array<NodeProcess | null>;
  /** Every PID this cluster ever started (nodes, restarts, CLI clients), in start order. */
  readonly startedPids: number[] = [];
  private readonly dataDir: string;
  /** CLI clients (client crashes) still running: stopped with the cluster. */
  private readonly extraProcesses = new Set<ChildProcess>();
  private probeEcc: EcClient | null = null;
  private probeRaft: RaftClient | null = null;
  private readonly logDir: string | null;
  /** Set by stop(): nothing starts after it (a nemesis still running must not leak a process). */
  private stopped = false;

  private constructor(options: ClusterOptions, servers: string[], dataDir: string) {
    this.mode = options.mode;
    this.network = options.network;
    this.servers = servers;
    this.nodeCount = servers.length;
    this.dataDir = dataDir;
    this.nodes = new Array(this.nodeCount).fill(null);
    this.logDir = options.logDir ?? null;
    if (this.logDir !== null) fs.mkdirSync(this.logDir, { recursive: true });
    if (options.mode === "ecc") {
      this.eccConfig = parseEccConfig(
        {
          servers,
          k: 3,
          n: servers.length,
          block_size: 256 * 1024,
          heartbeat_timeout_ms: 1_000,
          lock_lease_ms: 500,
          rpc_timeout_ms: 2_000,
          data_dir: dataDir,
        },
        "jepsen",
      );
      this.raftConfig = null;
      this.faultBudget = this.eccConfig.parityShards;
      this.childEnv = { [ECC_RESOLVED_CONFIG_ENV]: JSON.stringify(eccConfigToFile(this.eccConfig)), ECC_LOG_LEVEL: "info" };
    } else {
      this.raftConfig = parseRaftConfig(
        {
          servers,
          tick_ms: 10,
          election_ticks: 15,
          heartbeat_ticks: 2,
          snapshot_entries: 5_000,
          fsync: "never",
          data_dir: dataDir,
          rpc_timeout_ms: 1_000,
        },
        "jepsen",
      );
      this.eccConfig = null;
      this.faultBudget = Math.floor((servers.length - 1) / 2);
      this.childEnv = { [RAFT_RESOLVED_CONFIG_ENV]: JSON.stringify(raftConfigToFile(this.raftConfig)), RAFT_LOG_LEVEL: "info" };
    }
  }

  /** Starts every node (ecc n=5 k=3, raft 3 nodes) and waits until each says it started. */
  static async start(options: ClusterOptions): Promise<JepsenCluster> {
    const nodeCount = options.mode === "ecc" ? 5 : 3;
    if (options.network !== null && options.network.nodeCount !== nodeCount) {
      throw new Error(`the namespace network has ${options.network.nodeCount} nodes, ${options.mode} needs ${nodeCount}`);
    }
    const servers =
      options.network !== null
        ? Array.from({ length: nodeCount }, (_, index) => options.network!.nodeAddress(index))
        : (await freeLoopbackPorts(nodeCount)).map((port) => `127.0.0.1:${port}`);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `jepsen-${options.mode}-`));
    const cluster = new JepsenCluster(options, servers, dataDir);
    try {
      await Promise.all(servers.map((_, index) => cluster.startNode(index, false)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  alive(index: number): boolean {
    return this.nodes[index] !== null;
  }

  /** Starts node `index`; `restart` means it ran before (ecc: starts with `recover`). */
  async startNode(index: number, restart: boolean): Promise<void> {
    if (this.stopped) throw new Error("the cluster was stopped");
    if (this.nodes[index] !== null) throw new Error(`node ${index} is already running`);
    const args =
      this.mode === "ecc"
        ? ["ecc", "server", "startOne", this.servers[index], ...(restart ? ["recover"] : [])]
        : ["raft", "server", "startOne", String(index)];
    const ready = this.mode === "ecc" ? /ecc\.node_started/ : /raft\.node_started/;
    let command = process.execPath;
    let commandArgs = [CLI_PATH, ...args];
    if (this.network !== null) ({ command, args: commandArgs } = this.network.wrap(index, command, commandArgs));
    const child = spawn(command, commandArgs, { env: { ...process.env, ...this.childEnv }, stdio: ["ignore", "pipe", "pipe"] });
    const node: NodeProcess = {
      index,
      child,
      pid: child.pid ?? -1,
      output: [],
      exited: new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal }))),
      paused: false,
    };
    child.once("error", () => undefined); // a spawn failure also ends in "exit" or the ready timeout
    this.nodes[index] = node;
    if (child.pid !== undefined) this.startedPids.push(child.pid);
    if (this.logDir !== null) {
      const file = fs.createWriteStream(path.join(this.logDir, `node${index}.log`), { flags: "a" });
      file.write(`--- ${new Date().toISOString()} ${args.join(" ")} pid ${node.pid}\n`);
      child.stdout?.pipe(file, { end: false });
      child.stderr?.pipe(file, { end: false });
      void node.exited.then(() => file.end());
    }
    try {
      await waitForLine(child, node.output, ready, node.exited, NODE_READY_MS_MAX, `${this.mode} node ${index}`);
    } catch (error) {
      await this.killNode(index);
      throw error;
    }
  }

  /** SIGKILL by PID (a paused node dies too) and waits for the exit, bounded. */
  async killNode(index: number): Promise<void> {
    const node = this.nodes[index];
    if (node === null) return;
    await killAndWait(node.child, node.exited);
    this.nodes[index] = null;
  }

  pauseNode(index: number): void {
    const node = this.nodes[index];
    if (node === null || node.paused) return;
    process.kill(node.pid, "SIGSTOP");
    node.paused = true;
  }

  resumeNode(index: number): void {
    const node = this.nodes[index];
    if (node === null || !node.paused) return;
    process.kill(node.pid, "SIGCONT");
    node.paused = false;
  }

  /**
   * Starts `ecc client set key value` with ECC_CACHE_FAULT=pause-after-prepare: the CLI
   * client stops between EcPrepare and EcCommit. Resolves with "paused" once it said so on
   * stderr, or "exited" (with its stderr) if it ended first (for example, too few nodes).
   * The caller kills it with killProcess(); stop() kills it too.
   */
  async startPausingWriter(key: string, value: string, timeoutMs: number): Promise<{ child: ChildProcess; exited: Promise<unknown>; outcome: "paused" | "exited" | "timeout"; output: string[] }> {
    if (this.stopped) throw new Error("the cluster was stopped");
    const child = spawn(process.execPath, [CLI_PATH, "ecc", "client", "set", key, value], {
      env: { ...process.env, ...this.childEnv, ECC_CACHE_FAULT: "pause-after-prepare" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.once("error", () => undefined);
    this.extraProcesses.add(child);
    if (child.pid !== undefined) this.startedPids.push(child.pid);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => {
        this.extraProcesses.delete(child);
        resolve({ code, signal });
      }),
    );
    const output: string[] = [];
    try {
      await waitForLine(child, output, /paused after prepare/, exited, timeoutMs, "pausing CLI writer");
      return { child, exited, outcome: "paused", output };
    } catch (error) {
      const finished = child.exitCode !== null || child.signalCode !== null;
      return { child, exited, outcome: finished ? "exited" : "timeout", output: [...output, errorMessage(error)] };
    }
  }

  async killProcess(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
    await killAndWait(child, exited);
  }

  /** Which nodes are healthy right now, asked of the nodes themselves (bounded). */
  async probe(): Promise<NodeHealth> {
    const healthy = new Set<number>();
    if (this.mode === "ecc") {
      const client = await this.eccProbe();
      const stats = await client.stats();
      const epochs = stats.map((s) => s?.view?.epoch ?? 0);
      const newest = Math.max(0, ...epochs);
      stats.forEach((s, index) => {
        if (s !== null && s.state === "member" && (s.view?.epoch ?? 0) === newest && this.nodes[index] !== null && !this.nodes[index]!.paused) healthy.add(index);
      });
      const view = stats.find((s) => s?.view?.epoch === newest)?.view;
      const summary = view === undefined ? "no view" : `epoch ${view.epoch} members [${view.members.join(",")}] recovering [${view.recovering.join(",")}]`;
      return { healthy, summary };
    }
    const client = this.raftProbe();
    const addresses = this.servers;
    const stats = await client.statsAll(addresses);
    const leaders = stats.filter((s) => s !== null && s.role === "leader");
    const leaderTerm = leaders.length > 0 ? Math.max(...leaders.map((s) => Number(s!.term))) : -1;
    stats.forEach((s, index) => {
      if (s !== null && this.nodes[index] !== null && !this.nodes[index]!.paused && leaderTerm >= 0 && Number(s.term) === leaderTerm) healthy.add(index);
    });
    const summary = stats.map((s, index) => `${index}:${s === null ? "down" : `${s.role}@${s.term}/${s.appliedIndex}`}`).join(" ");
    return { healthy, summary };
  }

  /**
   * Waits until every node is healthy: ecc, all n full members of the newest view with none
   * recovering; raft, one leader and every node in its term with everything committed
   * applied. Returns the last probe's summary and whether it got there in time.
   */
  async waitHealthy(timeoutMs: number): Promise<{ healthy: boolean; summary: string; waitedMs: number }> {
    const startedMs = performance.now();
    let summary = "not probed";
    while (performance.now() - startedMs < timeoutMs) {
      try {
        const health = await this.probe();
        summary = health.summary;
        let caughtUp = true;
        if (this.mode === "raft" && health.healthy.size === this.nodeCount) {
          const stats = await this.raftProbe().statsAll(this.servers);
          const leader = stats.find((s) => s?.role === "leader");
          caughtUp = leader !== undefined && stats.every((s) => s !== null && Number(s.appliedIndex) >= Number(leader!.commitIndex));
        }
        if (this.mode === "ecc" && health.healthy.size === this.nodeCount) caughtUp = /recovering \[\]/.test(summary);
        if (health.healthy.size === this.nodeCount && caughtUp) return { healthy: true, summary, waitedMs: Math.round(performance.now() - startedMs) };
      } catch (error) {
        summary = `probe failed: ${errorMessage(error)}`;
      }
      await sleep(200);
    }
    return { healthy: false, summary, waitedMs: Math.round(performance.now() - startedMs) };
  }

  /** Every PID this cluster started that is still running (nodes and CLI clients). */
  pids(): number[] {
    const pids: number[] = [];
    for (const node of this.nodes) if (node !== null) pids.push(node.pid);
    for (const child of this.extraProcesses) if (child.pid !== undefined) pids.push(child.pid);
    return pids;
  }

  /** Stops everything by PID (SIGCONT first so a paused node can die), removes the data dir. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.probeEcc?.close();
    this.probeRaft?.close();
    this.probeEcc = null;
    this.probeRaft = null;
    await Promise.all(
      this.nodes.map(async (node, index) => {
        if (node === null) return;
        await killAndWait(node.child, node.exited);
        this.nodes[index] = null;
      }),
    );
    await Promise.all([...this.extraProcesses].map((child) => killAndWait(child, new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once("exit", resolve))))));
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async eccProbe(): Promise<EcClient> {
    if (this.probeEcc === null) {
      const config = { ...this.eccConfig!, rpcTimeoutMs: PROBE_RPC_TIMEOUT_MS };
      const codec = await createCodec("auto", config.dataShards, config.parityShards);
      this.probeEcc = new EcClient({ config, codec });
    }
    return this.probeEcc;
  }

  private raftProbe(): RaftClient {
    if (this.probeRaft === null) this.probeRaft = new RaftClient({ servers: this.servers, rpcTimeoutMs: PROBE_RPC_TIMEOUT_MS, attemptsMax: 1 });
    return this.probeRaft;
  }
}

/** Waits for a line matching `ready` on the child's stdout or stderr, bounded. */
function waitForLine(
  child: ChildProcess,
  output: string[],
  ready: RegExp,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      reject(new Error(`${what} not ready within ${timeoutMs} ms:\n${output.slice(-20).join("\n")}`));
    }, timeoutMs);
    const onLine = (line: string): void => {
      output.push(line);
      if (output.length > OUTPUT_LINES_MAX) output.shift();
      if (!settled && ready.test(line)) {
        settled = true;
        clearTimeout(timer);
        resolve();
      }
    };
    if (child.stdout !== null) readline.createInterface({ input: child.stdout }).on("line", onLine);
    if (child.stderr !== null) readline.createInterface({ input: child.stderr }).on("line", onLine);
    void exited.then(({ code, signal }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${what} exited (${signal ?? code}) before it was ready:\n${output.slice(-20).join("\n")}`));
    });
  });
}

/** SIGCONT (harmless when running), SIGKILL by PID, then waits for the exit, bounded. */
async function killAndWait(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  for (const signal of ["SIGCONT", "SIGKILL"] as const) {
    try {
      process.kill(child.pid, signal);
    } catch {
      return; // already gone
    }
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, NODE_EXIT_MS_MAX)))]);
  clearTimeout(timer);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
