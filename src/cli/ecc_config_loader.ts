// Where the ecc config comes from, in order of precedence (highest first):
//   1. flags (--servers, --k, --n, --block-size, --heartbeat-timeout-ms, --lock-lease-ms,
//      --rpc-timeout-ms, --data-dir, --http-port, --http-servers, --resp-port, --resp-servers,
//      the TLS flags of tls_fields.ts, ...; each command offers the ones it uses)
//   2. environment (ECC_SERVERS, ECC_K, ECC_N, ECC_BLOCK_SIZE, ECC_HEARTBEAT_TIMEOUT_MS,
//      ECC_LOCK_LEASE_MS, ECC_RPC_TIMEOUT_MS, ECC_DATA_DIR, ECC_HTTP_PORT, ECC_HTTP_SERVERS,
//      ECC_RESP_PORT, ECC_RESP_SERVERS, ...)
//   3. the config file: -c FILE, else $ECC_CONFIG, else ./ecc_config.json when present
//   4. the embedded defaults (5 servers on 127.0.0.1:3000-3004, k=3, n=5)
// startAll hands the resolved config to its children in ECC_CACHE_RESOLVED_CONFIG so every
// node runs with exactly the same settings.
import { BLOCK_BYTES_DEFAULT } from "../core/limits";
import { EVICTION_POLICIES } from "../core/eviction";
import { ECC_DEFAULT_FILE, EccClusterConfig, originalBlockSizeNotice, parseEccConfig } from "../ecc/config";
import { ConfigField, mergeConfigSources, parseJson } from "./config_sources";
import { TlsConfigFlags, tlsConfigFields } from "./tls_fields";

export interface EccConfigFlags extends TlsConfigFlags {
  config?: string;
  servers?: string;
  k?: string;
  n?: string;
  blockSize?: string;
  heartbeatTimeoutMs?: string;
  lockLeaseMs?: string;
  rpcTimeoutMs?: string;
  dataDir?: string;
  maxMemory?: string;
  evictionPolicy?: string;
  readExtra?: string;
  readHedgePercentile?: string;
  respPort?: string;
  respServers?: string;
  httpPort?: string;
  httpServers?: string;
  authToken?: string;
  authTokenFile?: string;
  authHttp?: string;
}

export const RESOLVED_CONFIG_ENV = "ECC_CACHE_RESOLVED_CONFIG";

export const ECC_CONFIG_HELP = "ecc_config.json to read (default: $ECC_CONFIG, then ./ecc_config.json, then built-in defaults)";

export interface LoadedEccConfig {
  config: EccClusterConfig;
  source: string;
  /** How fields that mean something else here were read (one line each, for stderr). */
  notices: string[];
}

export const ECC_CONFIG_FIELDS: readonly ConfigField[] = [
  { flag: "servers", env: "ECC_SERVERS", field: "servers", kind: "list", option: "--servers <list>", help: "comma-separated host:port list" },
  { flag: "k", env: "ECC_K", field: "k", kind: "integer", option: "--k <count>", help: "data shards k" },
  { flag: "n", env: "ECC_N", field: "n", kind: "integer", option: "--n <count>", help: "total shards n = number of servers" },
  { flag: "blockSize", env: "ECC_BLOCK_SIZE", field: "block_size", kind: "integer", option: "--block-size <bytes>", help: "shard bytes per stripe; a stripe holds k of these" },
  {
    flag: "heartbeatTimeoutMs",
    env: "ECC_HEARTBEAT_TIMEOUT_MS",
    field: "heartbeat_timeout_ms",
    kind: "integer",
    option: "--heartbeat-timeout-ms <ms>",
    help: "a node silent this long leaves the view; a writer waits about four of these for a view change",
  },
  {
    flag: "lockLeaseMs",
    env: "ECC_LOCK_LEASE_MS",
    field: "lock_lease_ms",
    kind: "integer",
    option: "--lock-lease-ms <ms>",
    help: "how long a write's EcPrepare lock lasts without news from its client",
  },
  { flag: "rpcTimeoutMs", env: "ECC_RPC_TIMEOUT_MS", field: "rpc_timeout_ms", kind: "integer", option: "--rpc-timeout-ms <ms>", help: "deadline of one request to one node" },
  { flag: "dataDir", env: "ECC_DATA_DIR", field: "data_dir", kind: "string", option: "--data-dir <dir>", help: "where nodes keep their view control plane state" },
  {
    flag: "maxMemory",
    env: "ECC_MAX_MEMORY_BYTES",
    field: "max_memory_bytes",
    kind: "string",
    option: "--max-memory <size>",
    help: "per-node memory budget for shards and index, e.g. 512MiB; 0 = none",
  },
  {
    flag: "evictionPolicy",
    env: "ECC_EVICTION_POLICY",
    field: "eviction_policy",
    kind: "string",
    option: "--eviction-policy <policy>",
    help: `what a node over budget does: ${EVICTION_POLICIES.join(", ")}`,
  },
  {
    flag: "readExtra",
    env: "ECC_READ_EXTRA",
    field: "read_extra",
    kind: "integer",
    option: "--read-extra <count>",
    help: "members a read asks beyond k; it decodes the first k that agree (0..n-k, default 1)",
  },
  {
    flag: "readHedgePercentile",
    env: "ECC_READ_HEDGE_PERCENTILE",
    field: "read_hedge_percentile",
    kind: "integer",
    option: "--read-hedge-percentile <p>",
    help: "a read waiting past this percentile of recent reads asks one more member; 0 = never (default 95)",
  },
  {
    flag: "respPort",
    env: "ECC_RESP_PORT",
    field: "resp_port",
    kind: "integer",
    option: "--resp-port <port>",
    help: "this node's RESP (Redis protocol) port on its host; 0 turns it off (startAll without it: 6379+index)",
  },
  {
    flag: "respServers",
    env: "ECC_RESP_SERVERS",
    field: "resp_servers",
    kind: "list",
    option: "--resp-servers <list>",
    help: "comma-separated host:port list of the nodes' RESP ports, parallel to servers",
  },
  {
    flag: "httpPort",
    env: "ECC_HTTP_PORT",
    field: "http_port",
    kind: "integer",
    option: "--http-port <port>",
    help: "this node's HTTP admin port (/healthz, /readyz, /metrics, /v1/status) on its host; 0 turns it off (startAll without it: 9300+index)",
  },
  {
    flag: "httpServers",
    env: "ECC_HTTP_SERVERS",
    field: "http_servers",
    kind: "list",
    option: "--http-servers <list>",
    help: "comma-separated host:port list of the nodes' HTTP admin ports, parallel to servers",
  },
  {
    flag: "authToken",
    env: "ECC_AUTH_TOKEN",
    field: "auth_token",
    kind: "string",
    option: "--auth-token <token>",
    help: "the cluster's client token: nodes require it on every request, clients send it (prefer --auth-token-file: argv and env are visible to other local users)",
  },
  {
    flag: "authTokenFile",
    env: "ECC_AUTH_TOKEN_FILE",
    field: "auth_token_file",
    kind: "string",
    option: "--auth-token-file <path>",
    help: "a file holding the token (one trailing newline dropped); a node reads it again on SIGHUP",
  },
  {
    flag: "authHttp",
    env: "ECC_AUTH_HTTP",
    field: "auth_http",
    kind: "string",
    option: "--auth-http <policy>",
    help: "admin-port endpoints that need the token: status (only /v1/status, the default) or all",
  },
  ...tlsConfigFields("ECC"),
];

export function loadEccConfig(flags: EccConfigFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): LoadedEccConfig {
  const resolved = env[RESOLVED_CONFIG_ENV];
  if (resolved !== undefined && resolved !== "") {
    return { config: parseEccConfig(parseJson(resolved, RESOLVED_CONFIG_ENV), RESOLVED_CONFIG_ENV), source: "parent process", notices: [] };
  }
  let blockSizeNotice: string | null = null;
  const { merged, source } = mergeConfigSources(
    {
      defaults: { ...ECC_DEFAULT_FILE },
      fileFlag: flags.config,
      fileEnv: "ECC_CONFIG",
      localFileName: "ecc_config.json",
      fields: ECC_CONFIG_FIELDS,
      afterFile: (mergedFile, fromFile, file) => {
        // An original config that lists servers but not n means n = number of servers.
        if (!("n" in fromFile) && Array.isArray(fromFile.servers)) mergedFile.n = fromFile.servers.length;
        blockSizeNotice = originalBlockSizeNotice(fromFile.block_size, file);
        if (blockSizeNotice !== null) mergedFile.block_size = BLOCK_BYTES_DEFAULT;
      },
      afterFlags: (mergedFile, given) => {
        if (given.has("servers") && !given.has("n")) mergedFile.n = (mergedFile.servers as string[]).length;
        if (given.has("block_size")) blockSizeNotice = null; // the flag or env decides
      },
    },
    flags as Record<string, string | undefined>,
    env,
    cwd,
  );
  return { config: parseEccConfig(merged, source), source, notices: blockSizeNotice === null ? [] : [blockSizeNotice] };
}
