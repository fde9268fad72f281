// The raft cluster configuration: the original raft_config.json shape (`servers`) plus
// optional knobs, validated once before anything runs.
import { ConfigError } from "../core/errors";
import { serverListProblems } from "../core/address";
import { FieldRules, flatConfigProblems } from "../core/flat_config";
import { HTTP_FIELD_RULES, httpServersProblems } from "../frontdoor/admin_address";
import { MAX_MEMORY_BYTES_DEFAULT, MAX_MEMORY_BYTES_MAX, MAX_MEMORY_BYTES_MIN, RAFT_SNAPSHOT_ENTRIES_DEFAULT, SERVERS_MAX } from "../core/limits";
import { EVICTION_POLICIES, EVICTION_POLICY_DEFAULT, EvictionPolicy } from "../core/eviction";
import { parseByteSize } from "../core/units";
import { RESP_FIELD_RULES, respServersProblems } from "../resp/resp_address";
import { AUTH_FIELD_RULES, AuthFileFields, AuthSettings, authConfigProblems, authSettingsOf, authSettingsToFile } from "../core/auth_token";
import { ClientTlsSettings, NodeTlsSettings, TLS_FIELD_RULES, TlsConfigFields, parseTlsSettings, tlsProblems, tlsSettingsToFile } from "../transport/tls_settings";
import { FsyncPolicy } from "./disk_storage";

/** The auth fields (auth_token, auth_token_file, auth_http) are src/core/auth_token.ts's AuthSettings. */
export interface RaftClusterConfig extends AuthSettings {
  /** The bootstrap voters, node i at servers[i]. A node's id is its address. */
  servers: string[];
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEntries: number;
  fsync: FsyncPolicy;
  dataDir: string;
  rpcTimeoutMs: number;
  /** A client gives up when no node accepted a connection for this long (client only). */
  connectTimeoutMs: number;
  /** The HTTP admin port: this node's port (0: off), or one host:port per server; src/frontdoor/admin_address.ts. */
  httpPort?: number;
  httpServers?: string[];
  /** The RESP (Redis protocol) port: this node's port (0: off), or one host:port per server; src/resp/resp_address.ts. */
  respPort?: number;
  respServers?: string[];
  /**
   * Per-node memory budget for the state machine (values, keys, index, arena) and the log
   * data held in memory; 0 = none. The leader keeps every node within it (kv_budget.ts).
   */
  maxMemoryBytes: number;
  evictionPolicy: EvictionPolicy;
  /** This node's TLS (src/transport/tls_settings.ts); absent: plaintext. */
  tls?: NodeTlsSettings;
  /** What this process trusts and presents when it dials nodes (--cacert, --cert, --key); absent: plaintext. */
  clientTls?: ClientTlsSettings;
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
  connect_timeout_ms: 2_000,
  max_memory_bytes: MAX_MEMORY_BYTES_DEFAULT as number | string,
  eviction_policy: EVICTION_POLICY_DEFAULT as string,
};

/** The admin port's fields are optional: without them each node gets the default port (admin_address.ts). */
export type RaftConfigFile = typeof RAFT_DEFAULT_FILE & { http_port?: number; http_servers?: string[]; resp_port?: number; resp_servers?: string[] } & AuthFileFields & TlsConfigFields;

const RULES: FieldRules = {
  servers: { kind: "strings", itemsMin: 1, itemsMax: SERVERS_MAX },
  tick_ms: { kind: "integer", min: 1, max: 10_000 },
  election_ticks: { kind: "integer", min: 3, max: 10_000 },
  heartbeat_ticks: { kind: "integer", min: 1, max: 10_000 },
  snapshot_entries: { kind: "integer", min: 10, max: 10_000_000 },
  fsync: { kind: "choice", choices: ["always", "never"] },
  data_dir: { kind: "string" },
  rpc_timeout_ms: { kind: "integer", min: 10, max: 600_000 },
  // Optional: client-only, and the config objects built in code for nodes (jepsen, tests)
  // leave it out.
  connect_timeout_ms: { kind: "integer", min: 10, max: 600_000, optional: true },
  ...HTTP_FIELD_RULES,
  ...AUTH_FIELD_RULES,
  ...RESP_FIELD_RULES,
  // Optional like connect_timeout_ms; the defaults apply when left out. A budget below
  // MAX_MEMORY_BYTES_MIN cannot hold a node's index and one value in flight: refused.
  max_memory_bytes: { kind: "bytes", min: MAX_MEMORY_BYTES_MIN, max: MAX_MEMORY_BYTES_MAX, optional: true },
  eviction_policy: { kind: "choice", choices: EVICTION_POLICIES, optional: true },
  ...TLS_FIELD_RULES,
};

export function parseRaftConfig(input: unknown, source: string): RaftClusterConfig {
  const fieldProblems = flatConfigProblems(input, RULES);
  if (fieldProblems.length > 0) throw new ConfigError(`invalid raft config (${source}):\n  ${fieldProblems.join("\n  ")}`);
  const file = input as Omit<RaftConfigFile, "connect_timeout_ms" | "max_memory_bytes" | "eviction_policy"> & {
    connect_timeout_ms?: number;
    max_memory_bytes?: number | string;
    eviction_policy?: string;
  };
  const problems: string[] = [];
  if (!(file.election_ticks > 2 * file.heartbeat_ticks)) {
    problems.push(`election_ticks (${file.election_ticks}) must be more than twice heartbeat_ticks (${file.heartbeat_ticks})`);
  }
  problems.push(...serverListProblems(file.servers));
  problems.push(...httpServersProblems(file.servers, file.http_servers));
  problems.push(...authConfigProblems(file));
  problems.push(...tlsProblems(file));
  problems.push(...respServersProblems(file.servers, file.resp_servers));
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
    connectTimeoutMs: file.connect_timeout_ms ?? RAFT_DEFAULT_FILE.connect_timeout_ms,
    ...(file.http_port === undefined ? {} : { httpPort: file.http_port }),
    ...(file.http_servers === undefined ? {} : { httpServers: file.http_servers }),
    ...(file.resp_port === undefined ? {} : { respPort: file.resp_port }),
    ...(file.resp_servers === undefined ? {} : { respServers: file.resp_servers }),
    maxMemoryBytes: parseByteSize(file.max_memory_bytes ?? MAX_MEMORY_BYTES_DEFAULT, "max_memory_bytes"),
    evictionPolicy: (file.eviction_policy ?? EVICTION_POLICY_DEFAULT) as EvictionPolicy,
    ...authSettingsOf(file),
    ...parseTlsSettings(file),
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
    connect_timeout_ms: config.connectTimeoutMs,
    ...(config.httpPort === undefined ? {} : { http_port: config.httpPort }),
    ...(config.httpServers === undefined ? {} : { http_servers: config.httpServers }),
    ...(config.respPort === undefined ? {} : { resp_port: config.respPort }),
    ...(config.respServers === undefined ? {} : { resp_servers: config.respServers }),
    max_memory_bytes: config.maxMemoryBytes,
    eviction_policy: config.evictionPolicy,
    ...authSettingsToFile(config),
    ...tlsSettingsToFile(config),
  };
}
