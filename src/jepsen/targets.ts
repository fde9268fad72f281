// KvTarget adapters over the real client libraries: one EcClient or RaftClient per
// connection, or (--via resp) one ioredis connection to a node's RESP port; values as UTF-8
// strings (the workload's values are short ASCII strings).
import { createCodec } from "../codec";
import { EcClient } from "../ecc/client";
import { EccClusterConfig } from "../ecc/config";
import { RaftClient } from "../raft/client";
import Redis from "ioredis";
import { parseAddress } from "../core/address";
import type { KvTarget, TargetFactory } from "./workload";

export async function eccTargets(config: EccClusterConfig): Promise<TargetFactory> {
  const codec = await createCodec("auto", config.dataShards, config.parityShards);
  return async () => {
    const client = new EcClient({ config, codec });
    return {
      get: async (key) => (await client.get(key))?.toString("utf8") ?? null,
      set: async (key, value) => {
        await client.set(key, Buffer.from(value, "utf8"));
      },
      del: async (key) => {
        await client.del(key);
      },
      setNx: async (key, value) => (await client.set(key, Buffer.from(value, "utf8"), { condition: "nx" })).applied,
      close: () => client.close(),
    } satisfies KvTarget;
  };
}

export function raftTargets(servers: string[], rpcTimeoutMs: number): TargetFactory {
  return async () => {
    const client = new RaftClient({ servers, rpcTimeoutMs });
    return {
      get: async (key) => (await client.get(key))?.toString("utf8") ?? null,
      set: (key, value) => client.set(key, Buffer.from(value, "utf8")),
      del: (key) => client.del(key),
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
export function respTargets(addresses: readonly string[], options: { setNx: boolean; commandTimeoutMs: number }): TargetFactory {
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
      close: () => redis.disconnect(),
    };
    if (options.setNx) target.setNx = async (key, value) => (await redis.set(key, value, "NX")) === "OK";
    return target;
  };
}
