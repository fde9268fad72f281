// Where the ecc config comes from, in order of precedence (highest first):
//   1. flags (--servers, --k, --n, --block-size, --heartbeat-timeout-ms, --lock-lease-ms,
//      --rpc-timeout-ms, --data-dir)
//   2. environment (ECC_SERVERS, ECC_K, ECC_N, ECC_BLOCK_SIZE, ECC_HEARTBEAT_TIMEOUT_MS,
//      ECC_LOCK_LEASE_MS, ECC_RPC_TIMEOUT_MS, ECC_DATA_DIR)
//   3. the config file: -c FILE, else $ECC_CONFIG, else ./ecc_config.json when present
//   4. the embedded defaults (5 servers on 127.0.0.1:3000-3004, k=3, n=5)
// startAll hands the resolved config to its children in ECC_CACHE_RESOLVED_CONFIG so every
// node runs with exactly the same settings.
import { ECC_DEFAULT_FILE, EccClusterConfig, parseEccConfig } from "../ecc/config";
import { ConfigField, mergeConfigSources, parseJson } from "./config_sources";

export interface EccConfigFlags {
  config?: string;
  servers?: string;
  k?: string;
  n?: string;
  blockSize?: string;
  heartbeatTimeoutMs?: string;
  lockLeaseMs?: string;
  rpcTimeoutMs?: string;
  dataDir?: string;
}

export const RESOLVED_CONFIG_ENV = "ECC_CACHE_RESOLVED_CONFIG";

export interface LoadedEccConfig {
  config: EccClusterConfig;
  source: string;
}

const FIELDS: ConfigField[] = [
  { flag: "servers", env: "ECC_SERVERS", field: "servers", kind: "list" },
  { flag: "k", env: "ECC_K", field: "k", kind: "integer" },
  { flag: "n", env: "ECC_N", field: "n", kind: "integer" },
  { flag: "blockSize", env: "ECC_BLOCK_SIZE", field: "block_size", kind: "integer" },
  { flag: "heartbeatTimeoutMs", env: "ECC_HEARTBEAT_TIMEOUT_MS", field: "heartbeat_timeout_ms", kind: "integer" },
  { flag: "lockLeaseMs", env: "ECC_LOCK_LEASE_MS", field: "lock_lease_ms", kind: "integer" },
  { flag: "rpcTimeoutMs", env: "ECC_RPC_TIMEOUT_MS", field: "rpc_timeout_ms", kind: "integer" },
  { flag: "dataDir", env: "ECC_DATA_DIR", field: "data_dir", kind: "string" },
];

export function loadEccConfig(flags: EccConfigFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): LoadedEccConfig {
  const resolved = env[RESOLVED_CONFIG_ENV];
  if (resolved !== undefined && resolved !== "") {
    return { config: parseEccConfig(parseJson(resolved, RESOLVED_CONFIG_ENV), RESOLVED_CONFIG_ENV), source: "parent process" };
  }
  const { merged, source } = mergeConfigSources(
    {
      defaults: { ...ECC_DEFAULT_FILE },
      fileFlag: flags.config,
      fileEnv: "ECC_CONFIG",
      localFileName: "ecc_config.json",
      fields: FIELDS,
      // An original config that lists servers but not n means n = number of servers.
      afterFile: (mergedFile, fromFile) => {
        if (!("n" in fromFile) && Array.isArray(fromFile.servers)) mergedFile.n = fromFile.servers.length;
      },
      afterFlags: (mergedFile, given) => {
        if (given.has("servers") && !given.has("n")) mergedFile.n = (mergedFile.servers as string[]).length;
      },
    },
    flags as Record<string, string | undefined>,
    env,
    cwd,
  );
  return { config: parseEccConfig(merged, source), source };
}
