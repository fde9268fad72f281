// KvTarget adapters over the real client libraries: one EcClient or RaftClient per
// connection, values as UTF-8 strings (the workload's values are short ASCII strings).
import { createCodec } from "../codec";
import { EcClient } from "../ecc/client";
import { EccClusterConfig } from "../ecc/config";
import { RaftClient } from "../raft/client";
import type { KvTarget, TargetFactory } from "./workload";

/**
 * ecc targets. A set with a TTL gets its deadline here (now + ttl, what EcClient would
 * compute), recorded in `deadlines` by value, so the runner can place the expiry in the
 * history (drops.ts: ttlExpireOperations).
 */
export async function eccTargets(config: EccClusterConfig, valueBytes = 0, deadlines?: Map<string, number>): Promise<TargetFactory> {
  const codec = await createCodec("auto", config.dataShards, config.parityShards);
  return async () => {
    const client = new EcClient({ config, codec });
    return {
      get: async (key) => unpadded(await client.get(key)),
      set: async (key, value, ttlMs) => {
        const expireAtMs = ttlMs === undefined ? undefined : Date.now() + ttlMs;
        if (expireAtMs !== undefined) deadlines?.set(value, expireAtMs);
        await client.set(key, storedValue(value, valueBytes), expireAtMs === undefined ? {} : { expireAtMs });
      },
      del: async (key) => {
        await client.del(key);
      },
      close: () => client.close(),
    } satisfies KvTarget;
  };
}

/** A workload value from what a target stored (storedValue's padding removed). */
function unpadded(stored: Buffer | null): string | null {
  if (stored === null) return null;
  const end = stored.indexOf(0);
  return stored.toString("utf8", 0, end < 0 ? stored.length : end);
}

/**
 * What a target stores for a workload value: the value, then NUL bytes up to
 * `valueBytes` (so a small budget fills with few keys while the history keeps short values).
 */
export function storedValue(value: string, valueBytes: number): Buffer {
  const text = Buffer.from(value, "utf8");
  if (text.length >= valueBytes) return text;
  const stored = Buffer.alloc(valueBytes, 0);
  text.copy(stored);
  return stored;
}

export function raftTargets(servers: string[], rpcTimeoutMs: number, valueBytes = 0): TargetFactory {
  return async () => {
    const client = new RaftClient({ servers, rpcTimeoutMs });
    return {
      get: async (key) => unpadded(await client.get(key)),
      set: (key, value, ttlMs) => client.set(key, storedValue(value, valueBytes), { ttlMs }),
      del: (key) => client.del(key),
      close: () => client.close(),
    } satisfies KvTarget;
  };
}
