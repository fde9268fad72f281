// Where the raft config comes from, highest precedence first: flags (--servers,
// --tick-ms, --election-ticks, --heartbeat-ticks, --snapshot-entries, --fsync, --data-dir,
// --rpc-timeout-ms, --connect-timeout-ms, --http-port, --http-servers, --max-memory,
// --eviction-policy, the TLS flags of tls_fields.ts; each command offers the ones it uses),
// environment (RAFT_SERVERS, RAFT_TICK_MS, RAFT_ELECTION_TICKS, RAFT_HEARTBEAT_TICKS,
// RAFT_SNAPSHOT_ENTRIES, RAFT_FSYNC, RAFT_DATA_DIR, RAFT_RPC_TIMEOUT_MS,
// RAFT_CONNECT_TIMEOUT_MS, RAFT_HTTP_PORT, RAFT_HTTP_SERVERS, RAFT_MAX_MEMORY_BYTES,
// RAFT_EVICTION_POLICY, RAFT_TLS_*, RAFT_PEER_TLS, RAFT_CLIENT_*), the file (-c FILE, else
// $RAFT_CONFIG, else ./raft_config.json), the embedded defaults (3 servers on
// 127.0.0.1:4000-4002).
import { EVICTION_POLICIES } from "../core/eviction";
import { RAFT_DEFAULT_FILE, RaftClusterConfig, parseRaftConfig } from "../raft/config";
import { ConfigField, mergeConfigSources, parseJson } from "./config_sources";
import { TlsConfigFlags, tlsConfigFields } from "./tls_fields";

export interface RaftConfigFlags extends TlsConfigFlags {
  config?: string;
  servers?: string;
  tickMs?: string;
  electionTicks?: string;
  heartbeatTicks?: string;
  snapshotEntries?: string;
  fsync?: string;
  dataDir?: string;
  httpPort?: string;
  respPort?: string;
  respServers?: string;
  httpServers?: string;
  rpcTimeoutMs?: string;
  connectTimeoutMs?: string;
  maxMemory?: string;
  evictionPolicy?: string;
  authToken?: string;
  authTokenFile?: string;
  authHttp?: string;
}

export const RAFT_RESOLVED_CONFIG_ENV = "RAFT_CACHE_RESOLVED_CONFIG";

export const RAFT_CONFIG_HELP = "raft_config.json to read (default: $RAFT_CONFIG, then ./raft_config.json, then built-in defaults)";

export const RAFT_CONFIG_FIELDS: readonly ConfigField[] = [
  { flag: "servers", env: "RAFT_SERVERS", field: "servers", kind: "list", option: "--servers <list>", help: "comma-separated host:port list of the bootstrap voters" },
  { flag: "tickMs", env: "RAFT_TICK_MS", field: "tick_ms", kind: "integer", option: "--tick-ms <ms>", help: "Raft tick" },
  {
    flag: "electionTicks",
    env: "RAFT_ELECTION_TICKS",
    field: "election_ticks",
    kind: "integer",
    option: "--election-ticks <n>",
    help: "election timeout in ticks, randomised up to twice this",
  },
  { flag: "heartbeatTicks", env: "RAFT_HEARTBEAT_TICKS", field: "heartbeat_ticks", kind: "integer", option: "--heartbeat-ticks <n>", help: "heartbeat interval in ticks" },
  {
    flag: "snapshotEntries",
    env: "RAFT_SNAPSHOT_ENTRIES",
    field: "snapshot_entries",
    kind: "integer",
    option: "--snapshot-entries <n>",
    help: "snapshot and compact the log every n applied entries",
  },
  { flag: "fsync", env: "RAFT_FSYNC", field: "fsync", kind: "string", option: "--fsync <policy>", help: "always (survives power loss) or never (survives process crashes only)" },
  { flag: "dataDir", env: "RAFT_DATA_DIR", field: "data_dir", kind: "string", option: "--data-dir <dir>", help: "where nodes keep term, vote, log and snapshot" },
  { flag: "rpcTimeoutMs", env: "RAFT_RPC_TIMEOUT_MS", field: "rpc_timeout_ms", kind: "integer", option: "--rpc-timeout-ms <ms>", help: "deadline of one client request" },
  {
    flag: "connectTimeoutMs",
    env: "RAFT_CONNECT_TIMEOUT_MS",
    field: "connect_timeout_ms",
    kind: "integer",
    option: "--connect-timeout-ms <ms>",
    help: "give up when no node accepts a connection for this long",
  },
  {
    flag: "httpPort",
    env: "RAFT_HTTP_PORT",
    field: "http_port",
    kind: "integer",
    option: "--http-port <port>",
    help: "this node's HTTP admin port (/healthz, /readyz, /metrics, /v1/status) on its host; 0 turns it off (startAll without it: 9400+index)",
  },
  {
    flag: "httpServers",
    env: "RAFT_HTTP_SERVERS",
    field: "http_servers",
    kind: "list",
    option: "--http-servers <list>",
    help: "comma-separated host:port list of the nodes' HTTP admin ports, parallel to servers",
  },
  {
    flag: "respPort",
    env: "RAFT_RESP_PORT",
    field: "resp_port",
    kind: "integer",
    option: "--resp-port <port>",
    help: "this node's RESP (Redis protocol) port on its host; 0 turns it off (startAll without it: 6390+index)",
  },
  {
    flag: "respServers",
    env: "RAFT_RESP_SERVERS",
    field: "resp_servers",
    kind: "list",
    option: "--resp-servers <list>",
    help: "comma-separated host:port list of the nodes' RESP ports, parallel to servers",
  },
  {
    flag: "maxMemory",
    env: "RAFT_MAX_MEMORY_BYTES",
    field: "max_memory_bytes",
    kind: "string",
    option: "--max-memory <size>",
    help: "per-node memory budget for values, keys, index and log, e.g. 512MiB; 0 = none",
  },
  {
    flag: "evictionPolicy",
    env: "RAFT_EVICTION_POLICY",
    field: "eviction_policy",
    kind: "string",
    option: "--eviction-policy <policy>",
    help: `what the leader does when a write needs memory the budget lacks: ${EVICTION_POLICIES.join(", ")}`,
  },
  {
    flag: "authToken",
    env: "RAFT_AUTH_TOKEN",
    field: "auth_token",
    kind: "string",
    option: "--auth-token <token>",
    help: "the cluster's client token: nodes require it on every request, clients send it (prefer --auth-token-file: argv and env are visible to other local users)",
  },
  {
    flag: "authTokenFile",
    env: "RAFT_AUTH_TOKEN_FILE",
    field: "auth_token_file",
    kind: "string",
    option: "--auth-token-file <path>",
    help: "a file holding the token (one trailing newline dropped); a node reads it again on SIGHUP",
  },
  {
    flag: "authHttp",
    env: "RAFT_AUTH_HTTP",
    field: "auth_http",
    kind: "string",
    option: "--auth-http <policy>",
    help: "admin-port endpoints that need the token: status (only /v1/status, the default) or all",
  },
  ...tlsConfigFields("RAFT"),
];

export function loadRaftConfig(flags: RaftConfigFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): { config: RaftClusterConfig; source: string } {
  const resolved = env[RAFT_RESOLVED_CONFIG_ENV];
  if (resolved !== undefined && resolved !== "") {
    return { config: parseRaftConfig(parseJson(resolved, RAFT_RESOLVED_CONFIG_ENV), RAFT_RESOLVED_CONFIG_ENV), source: "parent process" };
  }
  const { merged, source } = mergeConfigSources(
    { defaults: { ...RAFT_DEFAULT_FILE }, fileFlag: flags.config, fileEnv: "RAFT_CONFIG", localFileName: "raft_config.json", fields: RAFT_CONFIG_FIELDS },
    flags as Record<string, string | undefined>,
    env,
    cwd,
  );
  return { config: parseRaftConfig(merged, source), source };
}
