// Where the ecc config comes from, in order of precedence (highest first):
//   1. flags (--servers, --k, --n, --block-size, --heartbeat-timeout-ms, --lock-lease-ms,
//      --rpc-timeout-ms)
//   2. environment (ECC_SERVERS, ECC_K, ECC_N, ECC_BLOCK_SIZE, ECC_HEARTBEAT_TIMEOUT_MS,
//      ECC_LOCK_LEASE_MS, ECC_RPC_TIMEOUT_MS)
//   3. the config file: -c FILE, else $ECC_CONFIG, else ./ecc_config.json when present
//   4. the embedded defaults (5 servers on 127.0.0.1:3000-3004, k=3, n=5)
// startAll hands the resolved config to its children in ECC_CACHE_RESOLVED_CONFIG so every
// node runs with exactly the same settings.
import fs from "node:fs";
import path from "node:path";
import { ConfigError, errorMessage } from "../core/errors";
import { ECC_DEFAULT_FILE, EccClusterConfig, parseEccConfig } from "../ecc/config";

export interface EccConfigFlags {
  config?: string;
  servers?: string;
  k?: string;
  n?: string;
  blockSize?: string;
  heartbeatTimeoutMs?: string;
  lockLeaseMs?: string;
  rpcTimeoutMs?: string;
}

export const RESOLVED_CONFIG_ENV = "ECC_CACHE_RESOLVED_CONFIG";

export interface LoadedEccConfig {
  config: EccClusterConfig;
  source: string;
}

const NUMERIC_FIELDS: Array<[keyof EccConfigFlags, string, string]> = [
  ["k", "ECC_K", "k"],
  ["n", "ECC_N", "n"],
  ["blockSize", "ECC_BLOCK_SIZE", "block_size"],
  ["heartbeatTimeoutMs", "ECC_HEARTBEAT_TIMEOUT_MS", "heartbeat_timeout_ms"],
  ["lockLeaseMs", "ECC_LOCK_LEASE_MS", "lock_lease_ms"],
  ["rpcTimeoutMs", "ECC_RPC_TIMEOUT_MS", "rpc_timeout_ms"],
];

export function loadEccConfig(flags: EccConfigFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): LoadedEccConfig {
  const resolved = env[RESOLVED_CONFIG_ENV];
  if (resolved !== undefined && resolved !== "") {
    return { config: parseEccConfig(parseJson(resolved, RESOLVED_CONFIG_ENV), RESOLVED_CONFIG_ENV), source: "parent process" };
  }
  let file: Record<string, unknown> = { ...ECC_DEFAULT_FILE };
  const sources: string[] = [];
  const filePath = flags.config ?? (env.ECC_CONFIG !== undefined && env.ECC_CONFIG !== "" ? env.ECC_CONFIG : undefined);
  const localPath = path.join(cwd, "ecc_config.json");
  const chosen = filePath ?? (fs.existsSync(localPath) ? localPath : undefined);
  if (chosen !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(chosen, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read config file ${chosen}: ${errorMessage(error)}`);
    }
    const parsed = parseJson(text, chosen);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${chosen} must hold a JSON object`);
    }
    file = { ...file, ...(parsed as Record<string, unknown>) };
    // An original config that lists servers but not n means n = number of servers.
    if (!("n" in (parsed as object)) && Array.isArray((parsed as { servers?: unknown }).servers)) {
      file.n = ((parsed as { servers: unknown[] }).servers).length;
    }
    sources.push(chosen);
  } else {
    sources.push("embedded defaults");
  }
  const servers = flags.servers ?? env.ECC_SERVERS;
  if (servers !== undefined && servers !== "") {
    file.servers = servers.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (flags.n === undefined && env.ECC_N === undefined) file.n = (file.servers as string[]).length;
    sources.push(flags.servers !== undefined ? "--servers" : "ECC_SERVERS");
  }
  for (const [flag, envName, field] of NUMERIC_FIELDS) {
    const fromFlag = flags[flag];
    const fromEnv = env[envName];
    const text = fromFlag ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : undefined);
    if (text === undefined) continue;
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
      throw new ConfigError(`${fromFlag !== undefined ? "--" + kebab(flag) : envName}: '${text}' is not a whole number`);
    }
    file[field] = value;
    sources.push(fromFlag !== undefined ? "--" + kebab(flag) : envName);
  }
  const source = sources.join(" + ");
  return { config: parseEccConfig(file, source), source };
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${where} is not valid JSON: ${errorMessage(error)}`);
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}
