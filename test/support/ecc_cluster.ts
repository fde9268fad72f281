// An ecc cluster of real node processes on loopback for tests.
import { EccClusterConfig, parseEccConfig, eccConfigToFile } from "../../src/ecc/config";
import { RESOLVED_CONFIG_ENV } from "../../src/cli/ecc_config_loader";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StartedProcess, freePorts, startCli, stopProcess } from "./processes";

export interface EccTestCluster {
  config: EccClusterConfig;
  env: NodeJS.ProcessEnv;
  nodes: Array<StartedProcess | null>;
  start(index: number, recover?: boolean): Promise<void>;
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export async function startEccCluster(
  options: {
    k?: number;
    n?: number;
    blockSize?: number;
    lockLeaseMs?: number;
    rpcTimeoutMs?: number;
    heartbeatTimeoutMs?: number;
    maxMemory?: number | string;
    evictionPolicy?: string;
    /** Give every node a RESP (Redis protocol) port of its own (config resp_servers). */
    resp?: boolean;
    /** More environment for every node. */
    env?: NodeJS.ProcessEnv;
    /** More config-file fields (e.g. auth_token_file, tls_cert, tls_key, tls_ca). */
    config?: Record<string, unknown>;
    /** Start nodes as startAll does (node flags, allocator), each in the cgroup this names. */
    procsFileOf?: (index: number) => string;
  } = {},
): Promise<EccTestCluster> {
  const n = options.n ?? 5;
  const allPorts = await freePorts(options.resp === true ? 2 * n : n);
  const ports = allPorts.slice(0, n);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-test-"));
  const config = parseEccConfig(
    {
      servers: ports.map((port) => `127.0.0.1:${port}`),
      k: options.k ?? 3,
      n,
      block_size: options.blockSize ?? 256 * 1024,
      heartbeat_timeout_ms: options.heartbeatTimeoutMs ?? 1_000,
      lock_lease_ms: options.lockLeaseMs ?? 500,
      rpc_timeout_ms: options.rpcTimeoutMs ?? 2_000,
      data_dir: dataDir,
      ...(options.maxMemory === undefined ? {} : { max_memory_bytes: options.maxMemory }),
      ...(options.evictionPolicy === undefined ? {} : { eviction_policy: options.evictionPolicy }),
      ...(options.resp === true ? { resp_servers: allPorts.slice(n).map((port) => `127.0.0.1:${port}`) } : {}),
      ...options.config,
    },
    "test",
  );
  const env = { ...options.env, [RESOLVED_CONFIG_ENV]: JSON.stringify(eccConfigToFile(config)), ECC_LOG_LEVEL: "warn" };
  const nodes: Array<StartedProcess | null> = new Array(n).fill(null);
  const cluster: EccTestCluster = {
    config,
    env,
    nodes,
    async start(index: number, recover = false) {
      const args = ["ecc", "server", "startOne", config.servers[index], ...(recover ? ["recover"] : [])];
      const procsFile = options.procsFileOf?.(index);
      nodes[index] = await startCli(args, /ecc\.node_started/, {
        env: { ...env, ECC_LOG_LEVEL: "info" },
        ...(procsFile === undefined ? {} : { asNode: true, procsFile }),
      });
    },
    async kill(index: number, signal: NodeJS.Signals = "SIGKILL") {
      const node = nodes[index];
      if (node === null) return;
      await stopProcess(node, signal, 1_000);
      nodes[index] = null;
    },
    async stop() {
      await Promise.all(nodes.map((node) => (node === null ? Promise.resolve() : stopProcess(node, "SIGKILL", 500))));
      nodes.fill(null);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(config.servers.map((_, index) => cluster.start(index)));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
