// The raft cluster configuration: the original raft_config.json shape (`servers`) plus
// optional knobs, validated once before anything runs.
import { z } from "zod";
import { ConfigError } from "../core/errors";
import { serverListProblems } from "../core/address";
import { SERVERS_MAX } from "../core/limits";
import { RAFT_SNAPSHOT_ENTRIES_DEFAULT } from "./types";
import { FsyncPolicy } from "./disk_storage";

export interface RaftClusterConfig {
  /** The bootstrap voters, node i at servers[i]. A node's id is its address. */
  servers: string[];
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEntries: number;
  fsync: FsyncPolicy;
  dataDir: string;
  rpcTimeoutMs: number;
}

export const RAFT_DEFAULT_FILE = {
  servers: ["127.0.0.1:4000", "127.0.0.1:4001", "127.0.0.1:4002"],
  tick_ms: 25,
  election_ticks: 12,
  heartbeat_ticks: 2,
  snapshot_entries: RAFT_SNAPSHOT_ENTRIES_DEFAULT,
  fsync: "always" as FsyncPolicy,
  data_dir: ".ecc-data/raft",
  rpc_timeout_ms: 2_000,
};

export type RaftConfigFile = typeof RAFT_DEFAULT_FILE;

const integer = (min: number, max: number) => z.number().int().min(min).max(max);

const schema = z
  .object({
    servers: z.array(z.string()).min(1).max(SERVERS_MAX),
    tick_ms: integer(1, 10_000),
    election_ticks: integer(3, 10_000),
    heartbeat_ticks: integer(1, 10_000),
    snapshot_entries: integer(10, 10_000_000),
    fsync: z.enum(["always", "never"]),
    data_dir: z.string().min(1),
    rpc_timeout_ms: integer(10, 600_000),
  })
  .strict();

export function parseRaftConfig(input: unknown, source: string): RaftClusterConfig {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(top level)"}: ${issue.message}`);
    throw new ConfigError(`invalid raft config (${source}):\n  ${problems.join("\n  ")}`);
  }
  const file = parsed.data;
  const problems: string[] = [];
  if (!(file.election_ticks > 2 * file.heartbeat_ticks)) {
    problems.push(`election_ticks (${file.election_ticks}) must be more than twice heartbeat_ticks (${file.heartbeat_ticks})`);
  }
  problems.push(...serverListProblems(file.servers));
  if (problems.length > 0) throw new ConfigError(`invalid raft config (${source}):\n  ${problems.join("\n  ")}`);
  return {
    servers: file.servers,
    tickMs: file.tick_ms,
    electionTicks: file.election_ticks,
    heartbeatTicks: file.heartbeat_ticks,
    snapshotEntries: file.snapshot_entries,
    fsync: file.fsync,
    dataDir: file.data_dir,
    rpcTimeoutMs: file.rpc_timeout_ms,
  };
}

export function raftConfigToFile(config: RaftClusterConfig): RaftConfigFile {
  return {
    servers: config.servers,
    tick_ms: config.tickMs,
    election_ticks: config.electionTicks,
    heartbeat_ticks: config.heartbeatTicks,
    snapshot_entries: config.snapshotEntries,
    fsync: config.fsync,
    data_dir: config.dataDir,
    rpc_timeout_ms: config.rpcTimeoutMs,
  };
}
