// A local cluster of real node processes for the Jepsen-style runner: the CLI started the
// real way (`node dist/src/cli/main.js ecc|raft server startOne ...`) through the project's
// launcher (src/core/launcher.ts), each node one OS process with the supervisor watch,
// stopped by its PID, every wait bounded.
//
// Nodes listen on loopback, or, with a NamespaceNetwork, each in its own network namespace
// on its own address so the nemesis can partition them for real.
import { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createCodec } from "../codec";
import { errorMessage } from "../core/errors";
import { CLI_MAIN, LaunchedProcess, launch } from "../core/launcher";
import { freeLoopbackPorts } from "../core/ports";
import { parseAddress } from "../core/address";
import { EcClient } from "../ecc/client";
import { EccClusterConfig, eccConfigToFile, parseEccConfig } from "../ecc/config";
import { RaftClient } from "../raft/client";
import { RaftClusterConfig, parseRaftConfig, raftConfigToFile } from "../raft/config";
import { NamespaceNetwork } from "./netns";
import { NodeDrop, parseDropLine } from "./drops";
import { sleep } from "../core/env";

/** ECC_CACHE_RESOLVED_CONFIG / RAFT_CACHE_RESOLVED_CONFIG (src/cli/*_config_loader.ts). */
const ECC_RESOLVED_CONFIG_ENV = "ECC_CACHE_RESOLVED_CONFIG";
const RAFT_RESOLVED_CONFIG_ENV = "RAFT_CACHE_RESOLVED_CONFIG";

export const CLI_PATH = CLI_MAIN;

export type JepsenMode = "ecc" | "raft";

const NODE_READY_MS_MAX = 20_000;
const OUTPUT_LINES_MAX = 300;
/** Deadline of one health probe request; a paused node must not stall the nemesis for long. */
const PROBE_RPC_TIMEOUT_MS = 500;

export interface NodeProcess {
  index: number;
  process: LaunchedProcess;
  pid: number;
  /** The last lines the node printed (stdout and stderr), for diagnostics. */
  output: string[];
  /** Stopped with SIGSTOP by pauseNode. */
  readonly paused: boolean;
}

export interface ClusterOptions {
  mode: JepsenMode;
  /** Put every node in a network namespace of its own (needed for partitions). */
  network: NamespaceNetwork | null;
  /** When set, every line each node prints is appended to <logDir>/node<i>.log. */
  logDir?: string | null;
  /** Give every node a RESP port (for a run through the Redis protocol: --via resp). */
  resp?: boolean;
  /** raft only: fields of raft_config.json to set on every node (max_memory_bytes, eviction_policy). */
  /** Config fields on top of the runner's own (a memory budget, a policy). */
  overrides?: Record<string, unknown>;
  /** Mutual TLS for the nodes and every client, with certificates made for this run (src/cli/certs.ts). */
  tls?: boolean;
}

/** The RESP port of each node in a namespace network (every node has an address of its own). */
const NAMESPACE_RESP_PORT = 6379;

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
  /**
   * raft: the evictions and expirations the nodes logged, by "key@version" (every node logs
   * each one it applies; the earliest line is kept).
   */
  /** Every drop nodes logged, by key@version, with every node's log time (drops.ts). */
  readonly drops = new Map<string, NodeDrop>();
  private readonly dataDir: string;
  /** CLI clients (client crashes) still running: stopped with the cluster. */
  private readonly extraProcesses = new Set<LaunchedProcess>();
  private probeEcc: EcClient | null = null;
  private probeRaft: RaftClient | null = null;
  private readonly logDir: string | null;
  /** Set by stop(): nothing starts after it (a nemesis still running must not leak a process). */
  private stopped = false;

  /** Each node's RESP address, in node order; empty unless started with `resp`. */
  readonly respAddresses: string[];

  private constructor(options: ClusterOptions, servers: string[], dataDir: string, respAddresses: string[]) {
    this.respAddresses = respAddresses;
    // In a namespace network every node has a host of its own: one port number serves all.
    const respFields =
      respAddresses.length === 0 ? {} : options.network !== null ? { resp_port: NAMESPACE_RESP_PORT } : { resp_servers: respAddresses };
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
          ...respFields,
          ...options.overrides,
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
          ...respFields,
          ...options.overrides,
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
    const ports = options.network !== null ? [] : await freeLoopbackPorts(options.resp === true ? 2 * nodeCount : nodeCount);
    const servers =
      options.network !== null
        ? Array.from({ length: nodeCount }, (_, index) => options.network!.nodeAddress(index))
        : ports.slice(0, nodeCount).map((port) => `127.0.0.1:${port}`);
    const respAddresses =
      options.resp !== true
        ? []
        : options.network !== null
          ? servers.map((address) => `${parseAddress(address).host}:${NAMESPACE_RESP_PORT}`)
          : ports.slice(nodeCount).map((port) => `127.0.0.1:${port}`);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `jepsen-${options.mode}-`));
    let clusterOptions = options;
    if (options.tls === true) {
      const { createClusterCerts, tlsFieldsFor } = await import("../cli/certs");
      const certs = path.join(dataDir, "certs");
      await createClusterCerts({ dir: certs, nodes: servers, existing: "refuse" });
      clusterOptions = { ...options, overrides: { ...options.overrides, ...tlsFieldsFor(certs) } };
    }
    const cluster = new JepsenCluster(clusterOptions, servers, dataDir, respAddresses);
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
    const file = this.logDir === null ? null : fs.createWriteStream(path.join(this.logDir, `node${index}.log`), { flags: "a" });
    const launched = launch({
      name: `${this.mode} node ${index}`,
      command,
      args: commandArgs,
      env: { ...process.env, ...this.childEnv },
      tailLines: OUTPUT_LINES_MAX,
      onLine: (line) => {
        file?.write(`${line}\n`);
        const drop = parseDropLine(line);
        if (drop === null) return;
        const id = `${drop.key}@${drop.version}`;
        const earlier = this.drops.get(id);
        if (earlier === undefined) this.drops.set(id, drop);
        else earlier.loggedAtMs.push(...drop.loggedAtMs);
      },
    });
    const node: NodeProcess = {
      index,
      process: launched,
      pid: launched.pid,
      output: launched.tail,
      get paused() {
        return launched.paused;
      },
    };
    this.nodes[index] = node;
    if (launched.pid !== -1) this.startedPids.push(launched.pid);
    if (file !== null) {
      file.write(`--- ${new Date().toISOString()} ${args.join(" ")} pid ${node.pid}\n`);
      void launched.exited.then(() => file.end());
    }
    try {
      await launched.waitReady({ line: ready }, NODE_READY_MS_MAX);
    } catch (error) {
      await this.killNode(index);
      throw error;
    }
  }

  /** SIGKILL by PID (a paused node dies too) and waits for the exit, bounded. */
  async killNode(index: number): Promise<void> {
    const node = this.nodes[index];
    if (node === null) return;
    await node.process.stop("SIGKILL");
    this.nodes[index] = null;
  }

  pauseNode(index: number): void {
    const node = this.nodes[index];
    if (node === null || node.paused) return;
    node.process.pause();
  }

  resumeNode(index: number): void {
    const node = this.nodes[index];
    if (node === null || !node.paused) return;
    node.process.resume();
  }

  /**
   * Starts `ecc client set key value` with ECC_CACHE_FAULT=pause-after-prepare: the CLI
   * client stops between EcPrepare and EcCommit. Resolves with "paused" once it said so on
   * stderr, or "exited" (with its stderr) if it ended first (for example, too few nodes).
   * The caller kills it with killProcess(); stop() kills it too.
   */
  async startPausingWriter(key: string, value: string, timeoutMs: number): Promise<{ child: ChildProcess; exited: Promise<unknown>; outcome: "paused" | "exited" | "timeout"; output: string[] }> {
    if (this.stopped) throw new Error("the cluster was stopped");
    const writer = launch({
      name: "pausing CLI writer",
      command: process.execPath,
      args: [CLI_PATH, "ecc", "client", "set", key, value],
      env: { ...process.env, ...this.childEnv, ECC_CACHE_FAULT: "pause-after-prepare" },
      tailLines: OUTPUT_LINES_MAX,
    });
    this.extraProcesses.add(writer);
    if (writer.pid !== -1) this.startedPids.push(writer.pid);
    const exited = writer.exited.then((status) => {
      this.extraProcesses.delete(writer);
      return status;
    });
    try {
      await writer.waitReady({ line: /paused after prepare/ }, timeoutMs);
      return { child: writer.child, exited, outcome: "paused", output: writer.tail };
    } catch (error) {
      return { child: writer.child, exited, outcome: writer.running ? "timeout" : "exited", output: [...writer.tail, errorMessage(error)] };
    }
  }

  /** SIGKILL by PID a CLI client startPausingWriter started, and waits for the exit (bounded). */
  async killProcess(child: ChildProcess, _exited: Promise<unknown>): Promise<void> {
    const writer = [...this.extraProcesses].find((candidate) => candidate.child === child);
    if (writer !== undefined) await writer.stop("SIGKILL");
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
    for (const writer of this.extraProcesses) pids.push(writer.pid);
    return pids;
  }

  /** Stops everything by PID (SIGCONT first so a paused node can die), removes the data dir. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.probeEcc?.close();
    this.probeRaft?.close();
    this.probeEcc = null;
    this.probeRaft = null;
    await Promise.all(this.nodes.map((_, index) => this.killNode(index)));
    await Promise.all([...this.extraProcesses].map((writer) => writer.stop("SIGKILL")));
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
    if (this.probeRaft === null) this.probeRaft = new RaftClient({ servers: this.servers, rpcTimeoutMs: PROBE_RPC_TIMEOUT_MS, attemptsMax: 1, tls: this.raftConfig?.clientTls });
    return this.probeRaft;
  }
}

