// Bench target `ecc`: an ecc cluster of n node processes (`ecc-cache ecc server startOne`,
// one per shard), driven through the EcClient library. Parameters: k, n, block (shard bytes
// per stripe), codec, lease_ms, read_extra (late binding: members a read asks beyond k),
// hedge (the read hedge percentile, 0 = off), a slow node (slow_node=INDEX, slow_ms=MS: that
// node answers every read MS ms late, the test-only fault ECC_CACHE_FAULT=slow-reads), and a
// memory budget per node: max_memory, policy (the nodes' max_memory_bytes and eviction_policy). Logical bytes are each node's exact store accounting
// (EcStats: shard payload + key bytes + per-entry metadata).
import { createCodec } from "../codec";
import { CodecBackend } from "../codec/codec";
import { EcClient } from "../ecc/client";
import path from "node:path";
import { ECC_DEFAULT_FILE, EccClusterConfig, READ_EXTRA_DEFAULT, READ_HEDGE_PERCENTILE_DEFAULT, eccConfigToFile, parseEccConfig } from "../ecc/config";
import { RESOLVED_CONFIG_ENV } from "../cli/ecc_config_loader";
import { InvalidArgumentError } from "../core/errors";
import { BLOCK_BYTES_DEFAULT, EC_LOCK_LEASE_MS_DEFAULT, RPC_TIMEOUT_MS } from "../core/limits";
import { CLI_MAIN, LocalCluster, LocalFaults } from "./local_cluster";
import { allocatorEnv } from "../core/allocator";
import { NODE_PROCESS_ARGS } from "../core/limits";
import { benchTlsFields, tlsLabel } from "./tls_param";
import { BUDGET_PARAMS, BenchClient, BenchTarget, ClusterHandle, NodeBudget, NodeInfo, NodeStats, TargetContext, TargetParams, budgetParams, budgetRecord, checkParamNames, intParam, withBudgetFields } from "./target";

const PARAMS = ["k", "n", "block", "codec", "lease_ms", "read_extra", "hedge", "slow_node", "slow_ms", "tls", ...BUDGET_PARAMS] as const;
const CODECS = ["auto", "table", "wasm"];

function shape(params: TargetParams): { k: number; n: number } {
  const n = intParam(params, "n", 5, 2, 64);
  const k = intParam(params, "k", n === 5 ? 3 : Math.floor(n / 2) + 1, 1, 63);
  return { k, n };
}

export const eccTarget: BenchTarget = {
  kind: "ecc",
  description: "ecc-cache in ecc mode: Reed–Solomon shards, one per node, 2PC writes (params k, n, block, codec, lease_ms, read_extra, hedge, slow_node + slow_ms, max_memory, policy, tls=DIR: TLS with the certificates in DIR)",

  async unavailableReason(): Promise<string | null> {
    return null; // this repository's own nodes: always buildable here
  },

  label(params: TargetParams): string {
    const { k, n } = shape(params);
    return `ecc(n=${n},k=${k})${tlsLabel(params)}`;
  },

  nodeCount(params: TargetParams): number {
    return shape(params).n;
  },

  validate(params: TargetParams): void {
    checkParamNames("ecc", params, PARAMS);
    budgetParams("ecc", params);
    const { k, n } = shape(params);
    if (!(k < n) || !(2 * k > n)) throw new InvalidArgumentError(`ecc: need n/2 < k < n (got k=${k}, n=${n})`);
    intParam(params, "block", BLOCK_BYTES_DEFAULT, 64, 4 * 1024 * 1024);
    intParam(params, "lease_ms", EC_LOCK_LEASE_MS_DEFAULT, 10, 600_000);
    intParam(params, "read_extra", Math.min(READ_EXTRA_DEFAULT, n - k), 0, n - k);
    intParam(params, "hedge", READ_HEDGE_PERCENTILE_DEFAULT, 0, 99);
    intParam(params, "slow_node", 0, 0, n - 1);
    intParam(params, "slow_ms", 0, 0, 60_000);
    if ((params.slow_node === undefined) !== (params.slow_ms === undefined)) throw new InvalidArgumentError("ecc: slow_node and slow_ms go together");
    if (params.codec !== undefined && !CODECS.includes(params.codec)) {
      throw new InvalidArgumentError(`ecc: codec=${params.codec} (one of ${CODECS.join(", ")})`);
    }
  },

  async start(context: TargetContext): Promise<ClusterHandle> {
    const { params } = context;
    this.validate(params);
    const { k, n } = shape(params);
    const attached = context.servers !== null;
    if (attached && context.servers!.length !== n) {
      throw new InvalidArgumentError(`ecc: ${context.servers!.length} servers given but n=${n}`);
    }
    const servers = attached ? context.servers! : (await context.ports(n)).map((port) => `127.0.0.1:${port}`);
    // Defaults first, so fields added to the config later get their default here too; the
    // nodes' on-disk state (view control plane), if this version has any, goes into the
    // run's temporary directory, never into the working directory.
    const file: Record<string, unknown> = { ...ECC_DEFAULT_FILE };
    if ("data_dir" in file) file.data_dir = path.join(context.workDir, "ecc-data");
    const config = parseEccConfig(
      {
        ...file,
        servers,
        k,
        n,
        block_size: intParam(params, "block", BLOCK_BYTES_DEFAULT, 64, 4 * 1024 * 1024),
        heartbeat_timeout_ms: 1_000,
        lock_lease_ms: intParam(params, "lease_ms", EC_LOCK_LEASE_MS_DEFAULT, 10, 600_000),
        rpc_timeout_ms: RPC_TIMEOUT_MS,
        read_extra: intParam(params, "read_extra", Math.min(READ_EXTRA_DEFAULT, n - k), 0, n - k),
        read_hedge_percentile: intParam(params, "hedge", READ_HEDGE_PERCENTILE_DEFAULT, 0, 99),
        ...(await benchTlsFields(params, servers, attached)),
      },
      "bench target ecc",
    );
    const slowNode = params.slow_node === undefined ? null : intParam(params, "slow_node", 0, 0, n - 1);
    const slowMs = intParam(params, "slow_ms", 0, 0, 60_000);
    const codecBackend = (params.codec ?? "auto") as CodecBackend | "auto";
    const budget = budgetParams("ecc", params);
    let cluster: LocalCluster | null = null;
    if (!attached) {
      const env = { [RESOLVED_CONFIG_ENV]: JSON.stringify(withBudgetFields(eccConfigToFile(config), budget)), ECC_LOG_LEVEL: "warn", ...allocatorEnv() };
      cluster = new LocalCluster(
        servers.map((address, index) => {
          const args = [...NODE_PROCESS_ARGS, CLI_MAIN, "ecc", "server", "startOne", address, "--log-level", "info"];
          return {
            name: `node${index}`,
            address,
            role: `shard ${index}`,
            command: process.execPath,
            args,
            restartArgs: [...args.slice(0, args.indexOf(address) + 1), "recover", ...args.slice(args.indexOf(address) + 1)],
            env: index === slowNode ? { ...env, ECC_CACHE_FAULT: `slow-reads:${slowMs}` } : env,
            readyLine: /ecc\.node_started/,
          };
        }),
        context.launcher,
        {
          onUnexpectedExit: (node, code, signal) => context.log(`ecc ${node} exited unexpectedly (${signal ?? code})`),
        },
      );
      await cluster.startAll();
    }
    const statsClient = new EcClient({ config, codec: await createCodec(codecBackend, k, n - k) });
    return new EccCluster(config, codecBackend, cluster, statsClient, attached, budget);
  },
};

class EccCluster extends LocalFaults implements ClusterHandle {
  readonly kind = "ecc";
  readonly label: string;
  readonly idealOverhead: number;
  readonly logicalSource = "EcStats logical_bytes: shard payload + key bytes + per-entry metadata (exact)";
  readonly params: Record<string, string | number | boolean>;
  private readonly clients: EcClient[] = [];
  private stopped = false;

  constructor(
    private readonly config: EccClusterConfig,
    private readonly codecBackend: CodecBackend | "auto",
    cluster: LocalCluster | null,
    private readonly statsClient: EcClient,
    readonly attached: boolean,
    budget: NodeBudget | null,
  ) {
    super(cluster);
    const n = config.dataShards + config.parityShards;
    this.label = `ecc(n=${n},k=${config.dataShards})${config.tls === undefined ? "" : "+tls"}`;
    this.idealOverhead = n / config.dataShards;
    this.params = { k: config.dataShards, n, blockBytes: config.blockBytes, codec: codecBackend, lockLeaseMs: config.lockLeaseMs, ...budgetRecord(budget) };
  }

  nodes(): NodeInfo[] {
    if (this.cluster !== null) return this.cluster.nodes();
    return this.config.servers.map((address, index) => ({ name: `node${index}`, address, pid: null, running: true, paused: false, role: `shard ${index}` }));
  }

  async connect(): Promise<BenchClient> {
    const codec = await createCodec(this.codecBackend, this.config.dataShards, this.config.parityShards);
    const client = new EcClient({ config: this.config, codec });
    this.clients.push(client);
    return {
      get: (key) => client.get(key),
      set: async (key, value) => {
        await client.set(key, value);
      },
      del: async (key) => {
        await client.del(key);
      },
      close: async () => client.close(),
    };
  }

  /** Our nodes run a full GC (rate-limited) so the next memory snapshot shows live data. */
  async settle(): Promise<void> {
    await this.statsClient.stats(true);
  }

  async stats(): Promise<Array<NodeStats | null>> {
    const replies = await this.statsClient.stats();
    return replies.map((reply) =>
      reply === null
        ? null
        : {
            logicalBytes: reply.logicalBytes,
            // Live keys: a node's key count includes its tombstones (deletes and evictions,
            // kept EC_TOMBSTONE_KEEP_MS), which are not keys the cache holds.
            keyCount: reply.keyCount - reply.tombstoneCount,
            rssBytes: reply.rssBytes,
            extra: {
              payloadBytes: reply.payloadBytes,
              keyBytes: reply.keyBytes,
              metaBytes: reply.metaBytes,
              stagedBytes: reply.stagedBytes,
              tombstones: reply.tombstoneCount,
              heapUsedBytes: reply.heapUsedBytes,
              v8HeapBytes: reply.v8HeapBytes,
              arrayBuffersBytes: reply.arrayBuffersBytes,
              // Views and recovery: the epoch this node is in, whether it is a member (1) or
              // recovering (0), and its rebuild progress.
              viewEpoch: reply.view?.epoch ?? 0,
              member: reply.state === "member" ? 1 : 0,
              rebuiltKeys: reply.rebuiltKeys,
              rebuiltBytes: reply.rebuiltBytes,
            },
          },
    );
  }


  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const client of this.clients) client.close();
    this.statsClient.close();
    if (this.cluster !== null) await this.cluster.stop();
  }

}
