// The ecc cluster configuration: the original ecc_config.json shape (servers, k, n,
// block_size, heartbeat_timeout_ms) plus optional knobs, validated once before anything
// runs. Field names stay as the original spelled them in JSON; inside the code they are
// dataShards (k) and parityShards (n - k).
import { z } from "zod";
import { ConfigError } from "../core/errors";
import { serverListProblems } from "../core/address";
import {
  BLOCK_BYTES_DEFAULT,
  BLOCK_BYTES_MAX,
  BLOCK_BYTES_MIN,
  EC_LOCK_LEASE_MS_DEFAULT,
  RPC_TIMEOUT_MS,
  SERVERS_MAX,
} from "../core/limits";

export interface EccClusterConfig {
  servers: string[];
  dataShards: number;
  parityShards: number;
  blockBytes: number;
  heartbeatTimeoutMs: number;
  lockLeaseMs: number;
  rpcTimeoutMs: number;
  /** Where each node keeps its view control plane's Raft state (not shards: those are memory). */
  dataDir: string;
}

export const ECC_DEFAULT_FILE = {
  servers: ["127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003", "127.0.0.1:3004"],
  k: 3,
  n: 5,
  block_size: BLOCK_BYTES_DEFAULT,
  heartbeat_timeout_ms: 1_000,
  lock_lease_ms: EC_LOCK_LEASE_MS_DEFAULT,
  rpc_timeout_ms: RPC_TIMEOUT_MS,
  data_dir: ".ecc-data/ecc",
};

export type EccConfigFile = typeof ECC_DEFAULT_FILE;

const integer = (min: number, max: number) => z.number().int().min(min).max(max);

const schema = z
  .object({
    servers: z.array(z.string()).min(2).max(SERVERS_MAX),
    k: integer(1, SERVERS_MAX),
    n: integer(2, SERVERS_MAX),
    block_size: integer(BLOCK_BYTES_MIN, BLOCK_BYTES_MAX),
    heartbeat_timeout_ms: integer(10, 600_000),
    lock_lease_ms: integer(10, 600_000),
    rpc_timeout_ms: integer(10, 600_000),
    data_dir: z.string().min(1),
  })
  .strict();

/** Validates a config object (defaults already merged in) and returns the typed config. */
export function parseEccConfig(input: unknown, source: string): EccClusterConfig {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
      return `${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid ecc config (${source}):\n  ${problems.join("\n  ")}`);
  }
  const file = parsed.data;
  const problems: string[] = [];
  if (file.n !== file.servers.length) {
    problems.push(`n is ${file.n} but ${file.servers.length} servers are listed; n must equal the number of servers`);
  }
  if (!(file.k < file.n)) problems.push(`k (${file.k}) must be below n (${file.n}): at least one parity shard`);
  if (!(2 * file.k > file.n)) {
    problems.push(`k (${file.k}) must be more than n/2 (${file.n / 2}) so any k nodes are a majority`);
  }
  problems.push(...serverListProblems(file.servers));
  if (problems.length > 0) throw new ConfigError(`invalid ecc config (${source}):\n  ${problems.join("\n  ")}`);
  return {
    servers: file.servers,
    dataShards: file.k,
    parityShards: file.n - file.k,
    blockBytes: file.block_size,
    heartbeatTimeoutMs: file.heartbeat_timeout_ms,
    lockLeaseMs: file.lock_lease_ms,
    rpcTimeoutMs: file.rpc_timeout_ms,
    dataDir: file.data_dir,
  };
}

export function eccConfigToFile(config: EccClusterConfig): EccConfigFile {
  return {
    servers: config.servers,
    k: config.dataShards,
    n: config.dataShards + config.parityShards,
    block_size: config.blockBytes,
    heartbeat_timeout_ms: config.heartbeatTimeoutMs,
    lock_lease_ms: config.lockLeaseMs,
    rpc_timeout_ms: config.rpcTimeoutMs,
    data_dir: config.dataDir,
  };
}
