// Where the raft config comes from, highest precedence first: flags (--servers,
// --tick-ms, --election-ticks, --heartbeat-ticks, --snapshot-entries, --fsync, --data-dir,
// --rpc-timeout-ms), environment (RAFT_SERVERS, RAFT_TICK_MS, RAFT_ELECTION_TICKS,
// RAFT_HEARTBEAT_TICKS, RAFT_SNAPSHOT_ENTRIES, RAFT_FSYNC, RAFT_DATA_DIR,
// RAFT_RPC_TIMEOUT_MS), the file (-c FILE, else $RAFT_CONFIG, else ./raft_config.json),
// the embedded defaults (3 servers on 127.0.0.1:4000-4002).
import { RAFT_DEFAULT_FILE, RaftClusterConfig, parseRaftConfig } from "../raft/config";
import { ConfigField, mergeConfigSources, parseJson } from "./config_sources";

export interface RaftConfigFlags {
  config?: string;
  servers?: string;
  tickMs?: string;
  electionTicks?: string;
  heartbeatTicks?: string;
  snapshotEntries?: string;
  fsync?: string;
  dataDir?: string;
  rpcTimeoutMs?: string;
}

export const RAFT_RESOLVED_CONFIG_ENV = "RAFT_CACHE_RESOLVED_CONFIG";

const FIELDS: ConfigField[] = [
  { flag: "servers", env: "RAFT_SERVERS", field: "servers", kind: "list" },
  { flag: "tickMs", env: "RAFT_TICK_MS", field: "tick_ms", kind: "integer" },
  { flag: "electionTicks", env: "RAFT_ELECTION_TICKS", field: "election_ticks", kind: "integer" },
  { flag: "heartbeatTicks", env: "RAFT_HEARTBEAT_TICKS", field: "heartbeat_ticks", kind: "integer" },
  { flag: "snapshotEntries", env: "RAFT_SNAPSHOT_ENTRIES", field: "snapshot_entries", kind: "integer" },
  { flag: "fsync", env: "RAFT_FSYNC", field: "fsync", kind: "string" },
  { flag: "dataDir", env: "RAFT_DATA_DIR", field: "data_dir", kind: "string" },
  { flag: "rpcTimeoutMs", env: "RAFT_RPC_TIMEOUT_MS", field: "rpc_timeout_ms", kind: "integer" },
];

export function loadRaftConfig(flags: RaftConfigFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): { config: RaftClusterConfig; source: string } {
  const resolved = env[RAFT_RESOLVED_CONFIG_ENV];
  if (resolved !== undefined && resolved !== "") {
    return { config: parseRaftConfig(parseJson(resolved, RAFT_RESOLVED_CONFIG_ENV), RAFT_RESOLVED_CONFIG_ENV), source: "parent process" };
  }
  const { merged, source } = mergeConfigSources(
    { defaults: { ...RAFT_DEFAULT_FILE }, fileFlag: flags.config, fileEnv: "RAFT_CONFIG", localFileName: "raft_config.json", fields: FIELDS },
    flags as Record<string, string | undefined>,
    env,
    cwd,
  );
  return { config: parseRaftConfig(merged, source), source };
}
