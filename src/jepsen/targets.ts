// KvTarget adapters over the real client libraries: one EcClient or RaftClient per
// connection, or (--via resp) one ioredis connection to a node's RESP port; values as UTF-8
// strings (the workload's values are short ASCII strings).
import { createCodec } from "../codec";
import { EcClient } from "../ecc/client";
import { EccClusterConfig } from "../ecc/config";
import { RaftClient } from "../raft/client";
import Redis from "ioredis";
import fs from "node:fs";
import { parseAddress } from "../core/address";
import type { ClientTlsSettings } from "../transport/tls_settings";
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
      setNx: async (key, value) => (await client.set(key, Buffer.from(value, "utf8"), { condition: "nx" })).applied,
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

export function raftTargets(servers: string[], rpcTimeoutMs: number, valueBytes = 0, tls?: ClientTlsSettings): TargetFactory {
  return async () => {
    const client = new RaftClient({ servers, rpcTimeoutMs, tls });
    return {
      get: async (key) => unpadded(await client.get(key)),
      set: async (key, value, ttlMs) => {
        await client.set(key, storedValue(value, valueBytes), { ttlMs });
      },
      del: async (key) => {
        await client.del(key);
      },
      setNx: async (key, value) => (await client.set(key, storedValue(value, valueBytes), { condition: "nx" })).applied,
      close: () => client.close(),
    } satisfies KvTarget;
  };
}

/**
 * Through the RESP front door with ioredis, a Redis client nobody here wrote: each client
 * connection goes to the next node in turn (ecc: that node coordinates; raft: it forwards to
 * the leader). ioredis must not retry or resend anything on its own: a resent SET NX whose
 * first attempt applied would answer "not applied" and make a correct history look wrong, so
 * retries, the offline queue and reconnection are off, and a connection that fails is
 * replaced by the workload (it opens a fresh target after an unknown outcome).
 */
export function respTargets(addresses: readonly string[], options: { commandTimeoutMs: number; tls?: ClientTlsSettings }): TargetFactory {
  const tls =
    options.tls === undefined
      ? undefined
      : {
          ca: fs.readFileSync(options.tls.caPath),
          ...(options.tls.certPath === undefined ? {} : { cert: fs.readFileSync(options.tls.certPath) }),
          ...(options.tls.keyPath === undefined ? {} : { key: fs.readFileSync(options.tls.keyPath) }),
        };
  let next = 0;
  return async () => {
    const { host, port } = parseAddress(addresses[next++ % addresses.length]);
    const redis = new Redis({
      host,
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      enableReadyCheck: false,
      retryStrategy: () => null,
      connectTimeout: 2_000,
      commandTimeout: options.commandTimeoutMs,
      ...(tls === undefined ? {} : { tls }),
    });
    redis.on("error", () => undefined); // each command's own rejection is what the workload records
    await redis.connect();
    const target: KvTarget = {
      get: (key) => redis.get(key),
      set: async (key, value) => {
        await redis.set(key, value);
      },
      del: async (key) => {
        await redis.del(key);
      },
      // Both modes decide SET NX atomically (ecc: a versioned write; raft: the state machine).
      setNx: async (key, value) => (await redis.set(key, value, "NX")) === "OK",
      close: () => redis.disconnect(),
    };
    return target;
  };
}
