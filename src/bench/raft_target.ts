// Bench target `raft`: a raft-mode cluster of node processes (`ecc-cache raft server
// startOne <index>`), driven through the RaftClient library. Parameters: nodes (default 3),
// fsync (default never: the comparison peers run without fsync too, etcd with
// --unsafe-no-fsync), snapshot_entries, and a memory budget per node: max_memory, policy (the
// nodes' max_memory_bytes and eviction_policy). Logical bytes are each node's exact accounting
// (state machine keys + values + per-entry metadata + the data of log entries not yet applied
// and persisted: applied ones are released from memory and read back from disk when needed).
import path from "node:path";
import { InvalidArgumentError } from "../core/errors";
import { RaftClient } from "../raft/client";
import { RAFT_DEFAULT_FILE, RaftClusterConfig, parseRaftConfig, raftConfigToFile } from "../raft/config";
import { RAFT_RESOLVED_CONFIG_ENV } from "../cli/raft_config_loader";
import { RAFT_SNAPSHOT_ENTRIES_DEFAULT } from "../core/limits";
import { CLI_MAIN, LocalCluster, LocalFaults } from "./local_cluster";
import { allocatorEnv } from "../core/allocator";
import { NODE_PROCESS_ARGS } from "../core/limits";
import { benchTlsFields, tlsLabel } from "./tls_param";
import { BUDGET_PARAMS, BenchClient, BenchTarget, ClusterHandle, NodeBudget, NodeInfo, NodeStats, TargetContext, TargetParams, budgetParams, budgetRecord, checkParamNames, intParam, withBudgetFields } from "./target";

const PARAMS = ["nodes", "fsync", "snapshot_entries", "tls", ...BUDGET_PARAMS] as const;

export const raftTarget: BenchTarget = {
  kind: "raft",
  description: "ecc-cache in raft mode: full values replicated by our own Raft (params nodes, fsync, snapshot_entries, tls=DIR: TLS with the certificates in DIR)",

  async unavailableReason(): Promise<string | null> {
    return null; // this repository's own nodes: always buildable here
  },

  label(params: TargetParams): string {
    return `raft(${intParam(params, "nodes", 3, 1, 64)})${tlsLabel(params)}`;
  },

  nodeCount(params: TargetParams): number {
    return intParam(params, "nodes", 3, 1, 64);
  },

  validate(params: TargetParams): void {
    checkParamNames("raft", params, PARAMS);
    budgetParams("raft", params);
    intParam(params, "nodes", 3, 1, 64);
    intParam(params, "snapshot_entries", RAFT_SNAPSHOT_ENTRIES_DEFAULT, 10, 10_000_000);
    if (params.fsync !== undefined && params.fsync !== "always" && params.fsync !== "never") {
      throw new InvalidArgumentError(`raft: fsync=${params.fsync} (always or never)`);
    }
  },

  async start(context: TargetContext): Promise<ClusterHandle> {
    const { params } = context;
    this.validate(params);
    const count = intParam(params, "nodes", 3, 1, 64);
    const attached = context.servers !== null;
    const servers = attached ? context.servers! : (await context.ports(count)).map((port) => `127.0.0.1:${port}`);
    const config = parseRaftConfig(
      {
        ...RAFT_DEFAULT_FILE,
        servers,
        fsync: params.fsync ?? "never",
        snapshot_entries: intParam(params, "snapshot_entries", RAFT_SNAPSHOT_ENTRIES_DEFAULT, 10, 10_000_000),
        data_dir: path.join(context.workDir, "raft-data"),
        ...(await benchTlsFields(params, servers, attached)),
      },
      "bench target raft",
    );
    const budget = budgetParams("raft", params);
    let cluster: LocalCluster | null = null;
    if (!attached) {
      const env = { [RAFT_RESOLVED_CONFIG_ENV]: JSON.stringify(withBudgetFields(raftConfigToFile(config), budget)), RAFT_LOG_LEVEL: "warn", ...allocatorEnv() };
      cluster = new LocalCluster(
        servers.map((address, index) => {
          const args = [...NODE_PROCESS_ARGS, CLI_MAIN, "raft", "server", "startOne", String(index), "--log-level", "info"];
          return { name: `node${index}`, address, role: "voter", command: process.execPath, args, restartArgs: args, env, readyLine: /raft\.node_started/ };
        }),
        context.launcher,
        { onUnexpectedExit: (node, code, signal) => context.log(`raft ${node} exited unexpectedly (${signal ?? code})`) },
      );
      await cluster.startAll();
    }
    const statsClient = new RaftClient({ servers, rpcTimeoutMs: config.rpcTimeoutMs, tls: config.clientTls });
    return new RaftCluster(config, cluster, statsClient, attached, budget);
  },
};

class RaftCluster extends LocalFaults implements ClusterHandle {
  readonly kind = "raft";
  readonly label: string;
  readonly idealOverhead: number;
  readonly logicalSource = "KvStats logical_bytes: values + keys + per-entry metadata + log entry data held in memory (entries not yet applied and persisted; exact)";
  readonly params: Record<string, string | number | boolean>;
  private readonly clients: RaftClient[] = [];
  private stopped = false;

  constructor(
    private readonly config: RaftClusterConfig,
    cluster: LocalCluster | null,
    private readonly statsClient: RaftClient,
    readonly attached: boolean,
    budget: NodeBudget | null,
  ) {
    super(cluster);
    this.label = `raft(${config.servers.length})${config.tls === undefined ? "" : "+tls"}`;
    this.idealOverhead = config.servers.length;
    this.params = { nodes: config.servers.length, fsync: config.fsync, snapshotEntries: config.snapshotEntries, tickMs: config.tickMs, ...budgetRecord(budget) };
  }

  nodes(): NodeInfo[] {
    if (this.cluster !== null) return this.cluster.nodes();
    return this.config.servers.map((address, index) => ({ name: `node${index}`, address, pid: null, running: true, paused: false, role: "voter" }));
  }

  async connect(): Promise<BenchClient> {
    const client = new RaftClient({ servers: this.config.servers, rpcTimeoutMs: this.config.rpcTimeoutMs, tls: this.config.clientTls });
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
    await this.statsClient.statsAll(this.config.servers, true);
  }

  async stats(): Promise<Array<NodeStats | null>> {
    const replies = await this.statsClient.statsAll(this.config.servers);
    return replies.map((reply) =>
      reply === null
        ? null
        : {
            logicalBytes: reply.logicalBytes,
            keyCount: reply.keyCount,
            rssBytes: reply.rssBytes,
            extra: {
              valueBytes: reply.valueBytes,
              keyBytes: reply.keyBytes,
              metaBytes: reply.metaBytes,
              logBytes: reply.logBytes,
              term: reply.term,
              heapUsedBytes: reply.heapUsedBytes,
              v8HeapBytes: reply.v8HeapBytes,
              arrayBuffersBytes: reply.arrayBuffersBytes,
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
