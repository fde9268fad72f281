// The ecc cluster configuration: the original ecc_config.json shape (servers, k, n,
// block_size, heartbeat_timeout_ms) plus optional knobs, validated once before anything
// runs. Field names stay as the original spelled them in JSON; inside the code they are
// dataShards (k) and parityShards (n - k).
import { ConfigError } from "../core/errors";
import { serverListProblems } from "../core/address";
import { FieldRules, flatConfigProblems } from "../core/flat_config";
import { HTTP_FIELD_RULES, httpServersProblems } from "../frontdoor/admin_address";
import {
  BLOCK_BYTES_DEFAULT,
  BLOCK_BYTES_MAX,
  BLOCK_BYTES_MIN,
  EC_LOCK_LEASE_MS_DEFAULT,
  RPC_TIMEOUT_MS,
  MAX_MEMORY_BYTES_DEFAULT,
  MAX_MEMORY_BYTES_MAX,
  MAX_MEMORY_BYTES_MIN,
  SERVERS_MAX,
  VALUE_BYTES_MAX,
} from "../core/limits";
import { EVICTION_POLICIES, EVICTION_POLICY_DEFAULT, EvictionPolicy } from "../core/eviction";
import { parseByteSize } from "../core/units";
import { RESP_FIELD_RULES, respServersProblems } from "../resp/resp_address";
import { AUTH_FIELD_RULES, AuthFileFields, AuthSettings, authConfigProblems, authSettingsOf, authSettingsToFile } from "../core/auth_token";
import { ClientTlsSettings, NodeTlsSettings, TLS_FIELD_RULES, TlsConfigFields, parseTlsSettings, tlsProblems, tlsSettingsToFile } from "../transport/tls_settings";

/** Late binding: one member beyond k, so one slow node does not hold a read up. */
export const READ_EXTRA_DEFAULT = 1;
export const READ_HEDGE_PERCENTILE_DEFAULT = 95;

/** The auth fields (auth_token, auth_token_file, auth_http) are src/core/auth_token.ts's AuthSettings. */
export interface EccClusterConfig extends AuthSettings {
  servers: string[];
  dataShards: number;
  parityShards: number;
  blockBytes: number;
  heartbeatTimeoutMs: number;
  lockLeaseMs: number;
  rpcTimeoutMs: number;
  /** Where each node keeps its view control plane's Raft state (not shards: those are memory). */
  dataDir: string;
  /** Per-node memory budget for shards, staged shards and the key index; 0 = none. */
  maxMemoryBytes: number;
  evictionPolicy: EvictionPolicy;
  /** Members a read asks beyond k (late binding): it decodes the first k that agree. */
  readExtra: number;
  /** A read asks one more member once it waited past this percentile of recent reads; 0: never. */
  readHedgePercentile: number;
  /** The RESP (Redis protocol) port: this node's port (0: off), or one host:port per server; src/resp/resp_address.ts. */
  respPort?: number;
  respServers?: string[];
  /** The HTTP admin port: this node's port (0: off), or one host:port per server; src/frontdoor/admin_address.ts. */
  httpPort?: number;
  httpServers?: string[];
  /** This node's TLS (src/transport/tls_settings.ts); absent: plaintext. */
  tls?: NodeTlsSettings;
  /** What this process trusts and presents when it dials nodes (--cacert, --cert, --key); absent: plaintext. */
  clientTls?: ClientTlsSettings;
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
  max_memory_bytes: MAX_MEMORY_BYTES_DEFAULT as number | string,
  eviction_policy: EVICTION_POLICY_DEFAULT as string,
  read_extra: READ_EXTRA_DEFAULT as number | undefined,
  read_hedge_percentile: READ_HEDGE_PERCENTILE_DEFAULT as number | undefined,
};

/**
 * The front doors' fields are optional: without them startAll gives each node the default
 * ports (admin_address.ts, resp_address.ts).
 */
export type EccConfigFile = typeof ECC_DEFAULT_FILE & { http_port?: number; http_servers?: string[]; resp_port?: number; resp_servers?: string[] } & AuthFileFields & TlsConfigFields;

/**
 * The original's block_size meant something else: values were capped at k × block_size bytes
 * (its own file shipped 4, so 12-byte values). Here block_size is the shard bytes of one
 * stripe and values are not capped by it. A file value below BLOCK_BYTES_MIN can only be
 * meant the original's way, so it is read as that cap, which does not apply here: the stripe
 * size stays at its default, and the returned notice says so (the original's files must work
 * unchanged). Null when the value is not such a case (in range, or not a whole number, which
 * validation then reports).
 */
export function originalBlockSizeNotice(blockSize: unknown, source: string): string | null {
  if (typeof blockSize !== "number" || !Number.isSafeInteger(blockSize) || blockSize < 1 || blockSize >= BLOCK_BYTES_MIN) return null;
  return (
    `block_size ${blockSize} in ${source} is read as the original's value cap (k × block_size bytes), ` +
    `which does not apply here (values up to ${VALUE_BYTES_MAX / (1024 * 1024)} MiB); stripes keep the default block_size ${BLOCK_BYTES_DEFAULT}`
  );
}

const RULES: FieldRules = {
  servers: { kind: "strings", itemsMin: 2, itemsMax: SERVERS_MAX },
  k: { kind: "integer", min: 1, max: SERVERS_MAX },
  n: { kind: "integer", min: 2, max: SERVERS_MAX },
  block_size: { kind: "integer", min: BLOCK_BYTES_MIN, max: BLOCK_BYTES_MAX },
  heartbeat_timeout_ms: { kind: "integer", min: 10, max: 600_000 },
  lock_lease_ms: { kind: "integer", min: 10, max: 600_000 },
  rpc_timeout_ms: { kind: "integer", min: 10, max: 600_000 },
  data_dir: { kind: "string" },
  max_memory_bytes: { kind: "bytes", min: MAX_MEMORY_BYTES_MIN, max: MAX_MEMORY_BYTES_MAX, optional: true },
  eviction_policy: { kind: "choice", choices: EVICTION_POLICIES, optional: true },
  read_extra: { kind: "integer", min: 0, max: SERVERS_MAX, optional: true },
  read_hedge_percentile: { kind: "integer", min: 0, max: 99, optional: true },
  ...RESP_FIELD_RULES,
  ...HTTP_FIELD_RULES,
  ...AUTH_FIELD_RULES,
  ...TLS_FIELD_RULES,
};

/** Validates a config object (defaults already merged in) and returns the typed config. */
export function parseEccConfig(input: unknown, source: string): EccClusterConfig {
  const fieldProblems = flatConfigProblems(input, RULES);
  if (fieldProblems.length > 0) throw new ConfigError(`invalid ecc config (${source}):\n  ${fieldProblems.join("\n  ")}`);
  const file = input as EccConfigFile;
  const problems: string[] = [];
  if (file.n !== file.servers.length) {
    problems.push(`n is ${file.n} but ${file.servers.length} servers are listed; n must equal the number of servers`);
  }
  if (!(file.k < file.n)) problems.push(`k (${file.k}) must be below n (${file.n}): at least one parity shard`);
  if (!(2 * file.k > file.n)) {
    problems.push(`k (${file.k}) must be more than n/2 (${file.n / 2}) so any k nodes are a majority`);
  }
  const readExtra = file.read_extra ?? Math.min(READ_EXTRA_DEFAULT, file.n - file.k);
  if (readExtra > file.n - file.k) problems.push(`read_extra (${readExtra}) must be at most n - k (${file.n - file.k}): there are no more members to ask`);
  const hedge = file.read_hedge_percentile ?? READ_HEDGE_PERCENTILE_DEFAULT;
  if (hedge !== 0 && hedge < 50) problems.push(`read_hedge_percentile (${hedge}) must be 0 (no hedging) or 50..99`);
  problems.push(...serverListProblems(file.servers));
  problems.push(...respServersProblems(file.servers, file.resp_servers));
  problems.push(...httpServersProblems(file.servers, file.http_servers));
  problems.push(...authConfigProblems(file));
  problems.push(...tlsProblems(file));
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
    maxMemoryBytes: parseByteSize(file.max_memory_bytes ?? MAX_MEMORY_BYTES_DEFAULT, "max_memory_bytes"),
    evictionPolicy: (file.eviction_policy ?? EVICTION_POLICY_DEFAULT) as EvictionPolicy,
    ...authSettingsOf(file),
    readExtra,
    readHedgePercentile: hedge,
    ...(file.resp_port === undefined ? {} : { respPort: file.resp_port }),
    ...(file.resp_servers === undefined ? {} : { respServers: file.resp_servers }),
    ...(file.http_port === undefined ? {} : { httpPort: file.http_port }),
    ...(file.http_servers === undefined ? {} : { httpServers: file.http_servers }),
    ...parseTlsSettings(file),
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
    max_memory_bytes: config.maxMemoryBytes,
    eviction_policy: config.evictionPolicy,
    read_extra: config.readExtra,
    read_hedge_percentile: config.readHedgePercentile,
    ...(config.respPort === undefined ? {} : { resp_port: config.respPort }),
    ...(config.respServers === undefined ? {} : { resp_servers: config.respServers }),
    ...(config.httpPort === undefined ? {} : { http_port: config.httpPort }),
    ...(config.httpServers === undefined ? {} : { http_servers: config.httpServers }),
    ...authSettingsToFile(config),
    ...tlsSettingsToFile(config),
  };
}
