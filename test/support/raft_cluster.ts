// A raft cluster of real node processes on loopback for tests, with fast timers and its
// own temporary data directory.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RaftClusterConfig, parseRaftConfig, raftConfigToFile } from "../../src/raft/config";
import { RAFT_RESOLVED_CONFIG_ENV } from "../../src/cli/raft_config_loader";
import { RaftClient } from "../../src/raft/client";
import { readTokenFile } from "../../src/core/auth_token";
import { StartedProcess, freePorts, sleep, startCli, stopProcess } from "./processes";

export interface RaftTestCluster {
  config: RaftClusterConfig;
  env: NodeJS.ProcessEnv;
  /** By address; includes nodes added later. */
  nodes: Map<string, StartedProcess>;
  start(address: string, extraArgs?: string[]): Promise<void>;
  kill(address: string, signal?: NodeJS.Signals): Promise<void>;
  leader(timeoutMs?: number): Promise<string>;
  client(): RaftClient;
  stop(): Promise<void>;
}

export async function startRaftCluster(
  options: {
    size?: number;
    snapshotEntries?: number;
    extraPorts?: number;
    config?: Record<string, unknown>;
    env?: NodeJS.ProcessEnv;
    /** Give every node a RESP (Redis protocol) port of its own (config resp_servers). */
    resp?: boolean;
  } = {},
): Promise<RaftTestCluster> {
  const size = options.size ?? 3;
  const respCount = options.resp === true ? size : 0;
  const allPorts = await freePorts(size + (options.extraPorts ?? 0) + respCount);
  const ports = allPorts.slice(0, allPorts.length - respCount);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-test-"));
  const config = parseRaftConfig(
    {
      servers: ports.slice(0, size).map((port) => `127.0.0.1:${port}`),
      tick_ms: 10,
      election_ticks: 15,
      heartbeat_ticks: 2,
      snapshot_entries: options.snapshotEntries ?? 5_000,
      fsync: "never",
      data_dir: dataDir,
      rpc_timeout_ms: 1_000,
      ...(respCount > 0 ? { resp_servers: allPorts.slice(allPorts.length - respCount).map((port) => `127.0.0.1:${port}`) } : {}),
      ...options.config,
    },
    "test",
  );
  const env = { [RAFT_RESOLVED_CONFIG_ENV]: JSON.stringify(raftConfigToFile(config)), RAFT_LOG_LEVEL: "info", ...options.env };
  const nodes = new Map<string, StartedProcess>();
  const clients: RaftClient[] = [];
  const cluster: RaftTestCluster = {
    config,
    env,
    nodes,
    async start(address: string, extraArgs: string[] = []) {
      const id = config.servers.includes(address) ? String(config.servers.indexOf(address)) : address;
      nodes.set(address, await startCli(["raft", "server", "startOne", id, ...extraArgs], /raft\.node_started/, { env }));
    },
    async kill(address: string, signal: NodeJS.Signals = "SIGKILL") {
      const node = nodes.get(address);
      if (node === undefined) return;
      await stopProcess(node, signal, 1_000);
      nodes.delete(address);
    },
    async leader(timeoutMs = 10_000) {
      const client = cluster.client();
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const stats = await client.statsAll([...nodes.keys()]);
        const leaders = stats.filter((s) => s !== null && s.role === "leader");
        if (leaders.length === 1) return leaders[0]!.nodeId;
        await sleep(50);
      }
      throw new Error(`no single leader within ${timeoutMs} ms`);
    },
    client() {
      // The cluster's token as it is now (a test may rotate the file).
      const authToken = config.authTokenFile !== undefined ? readTokenFile(config.authTokenFile) : config.authToken;
      const client = new RaftClient({ servers: config.servers, rpcTimeoutMs: 1_000, attemptsMax: 60, authToken });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.close();
      await Promise.all([...nodes.values()].map((node) => stopProcess(node, "SIGKILL", 500)));
      nodes.clear();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(config.servers.map((address) => cluster.start(address)));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
