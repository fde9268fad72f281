// KvTarget adapters over the real client libraries: one EcClient or RaftClient per
// connection, values as UTF-8 strings (the workload's values are short ASCII strings).
import { createCodec } from "../codec";
import { EcClient } from "../ecc/client";
import { EccClusterConfig } from "../ecc/config";
import { RaftClient } from "../raft/client";
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
