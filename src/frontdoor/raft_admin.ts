// The admin port of a raft node: readiness from its own Raft status, /metrics gauges read from
// its stats at scrape time, and /v1/status gathered from every node as `raft cluster status` does.
import type { RaftClusterConfig } from "../raft/config";
import type { RaftNodeRuntime } from "../raft/node";
import { RaftClient } from "../raft/client";
import type { KvStatsReply } from "../gen/raft";
import type { RaftRole } from "../raft/types";
import { Logger } from "../core/logger";
import { tlsServerOptions } from "../transport/tls";
import { AdminHttpServer, Readiness, startNodeAdmin } from "./http";
import { NodeMetrics, registerMemoryGauges, registerStoreGauges } from "./metrics";
import { gatherRaftCluster, raftClusterStatus } from "./status";
import { authTokenOf, httpAuthOf } from "../core/auth_token";

export interface RaftAdminOptions {
  node: RaftNodeRuntime;
  config: RaftClusterConfig;
  httpAddress: string;
  metrics: NodeMetrics;
  logger: Logger;
}

const ROLES: readonly RaftRole[] = ["follower", "preCandidate", "candidate", "leader"];

/**
 * Ready = a voter that knows a leader: it then answers reads and writes (a follower by
 * naming the leader, which clients follow). A node in an election, or one still joining, is not.
 */
export function raftReadiness(stats: Pick<KvStatsReply, "nodeId" | "role" | "term" | "leaderId" | "voters">): Readiness {
  if (!stats.voters.includes(stats.nodeId)) return { ready: false, reason: `not a voter (yet): voters are [${stats.voters.join(",")}]` };
  if (stats.leaderId === "") return { ready: false, reason: `no leader known in term ${stats.term} (${stats.role})` };
  return { ready: true, reason: stats.role === "leader" ? `leader in term ${stats.term}` : `${stats.role} of leader ${stats.leaderId} in term ${stats.term}` };
}

export function registerRaftGauges(metrics: NodeMetrics, node: Pick<RaftNodeRuntime, "stats">): void {
  let stats: KvStatsReply = node.stats();
  metrics.onScrape(() => (stats = node.stats()));
  metrics.gauge("raft_term", "This node's current Raft term", () => stats.term);
  metrics.gauge("raft_commit_index", "Highest log index known committed", () => stats.commitIndex);
  metrics.gauge("raft_applied_index", "Highest log index applied to the key-value state", () => stats.appliedIndex);
  metrics.gauge("raft_first_index", "First log index still held (after compaction)", () => stats.firstIndex);
  metrics.gauge("raft_last_index", "Last log index", () => stats.lastIndex);
  metrics.gauge("raft_snapshot_index", "Log index of the latest snapshot", () => stats.snapshotIndex);
  metrics.gauge("raft_voters", "Voters in this node's configuration", () => stats.voters.length);
  metrics.gauge("raft_has_leader", "1 when this node knows a leader", () => (stats.leaderId === "" ? 0 : 1));
  metrics.stateGauge("raft_role", "This node's Raft role (1 for the current one)", "role", ROLES, () => stats.role);
  registerMemoryGauges(metrics, () => ({
    usedBytes: stats.usedBytes,
    heldBytes: stats.usedBytes + stats.arenaFreeBytes,
    budgetBytes: stats.maxMemoryBytes,
    evictedKeys: stats.evictedKeys,
    expiredKeys: stats.expiredKeys,
    rejectedWrites: stats.rejectedWrites,
  }));
  registerStoreGauges(metrics, () => ({
    keys: stats.keyCount,
    tombstones: 0,
    parts: { value: stats.valueBytes, key: stats.keyBytes, meta: stats.metaBytes, log: stats.logBytes },
    logicalBytes: stats.logicalBytes,
    v8HeapBytes: stats.v8HeapBytes,
    arrayBuffersBytes: stats.arrayBuffersBytes,
  }));
}

export async function startRaftAdmin(options: RaftAdminOptions): Promise<AdminHttpServer> {
  const { node, config, metrics } = options;
  registerRaftGauges(metrics, node);
  let client: RaftClient | null = null;
  return startNodeAdmin({
    httpAddress: options.httpAddress,
    metrics,
    logger: options.logger,
    readiness: () => raftReadiness(node.stats()),
    auth: httpAuthOf(config),
    gatherStatus: async () => {
      client ??= new RaftClient({ servers: config.servers, rpcTimeoutMs: config.rpcTimeoutMs, connectTimeoutMs: config.connectTimeoutMs, authToken: authTokenOf(config) ?? undefined, tls: config.clientTls });
      return raftClusterStatus(await gatherRaftCluster(client, config));
    },
    release: () => client?.close(),
    // HTTPS with the node's certificate when it serves TLS; no client certificate asked:
    // the admin port is read-only, and probes and Prometheus must reach it.
    secure: config.tls === undefined ? undefined : tlsServerOptions(config.tls, false),
  });
}
