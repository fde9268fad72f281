// The admin port of an ecc node: readiness from its own state, /metrics gauges read from its
// stats at scrape time, and /v1/status gathered from every node as `ecc cluster status` does.
import type { ErasureCodec } from "../codec/codec";
import type { EccClusterConfig } from "../ecc/config";
import type { EccNodeRuntime } from "../ecc/node";
import { EcClient } from "../ecc/client";
import type { EcStatsReply } from "../gen/ecc";
import { Logger } from "../core/logger";
import { tlsServerOptions } from "../transport/tls";
import { AdminHttpServer, Readiness, startNodeAdmin } from "./http";
import { NodeMetrics, registerMemoryGauges, registerStoreGauges } from "./metrics";
import { eccClusterStatus } from "./status";
import { httpAuthOf } from "../core/auth_token";

export interface EccAdminOptions {
  node: EccNodeRuntime;
  config: EccClusterConfig;
  codec: ErasureCodec;
  /** host:port the admin port listens on. */
  httpAddress: string;
  metrics: NodeMetrics;
  logger: Logger;
}

const NODE_STATES = ["member", "recovering", "removed"] as const;

/** Ready = a member of the node's current view that serves reads (not recovering, not removed). */
export function eccReadiness(node: Pick<EccNodeRuntime, "core">): Readiness {
  const state = node.core.reportedState();
  const epoch = node.core.view().epoch;
  if (state === "member") return { ready: true, reason: `member of view epoch ${epoch}` };
  const progress = node.core.progress;
  const rebuild = state === "recovering" && progress !== null ? ` (rebuilt ${progress.rebuiltKeys} of ${progress.totalKeys} keys)` : "";
  return { ready: false, reason: `${state} in view epoch ${epoch}${rebuild}` };
}

export function registerEccGauges(metrics: NodeMetrics, node: Pick<EccNodeRuntime, "core" | "stats">): void {
  let stats: EcStatsReply = node.stats();
  metrics.onScrape(() => (stats = node.stats()));
  metrics.gauge("view_epoch", "Epoch of the view this node is in", () => stats.view?.epoch ?? 0);
  metrics.gauge("view_members", "Members in this node's view", () => stats.view?.members.length ?? 0);
  metrics.gauge("view_recovering", "Recovering nodes in this node's view", () => stats.view?.recovering.length ?? 0);
  metrics.stateGauge("node_state", "This node's standing in its view (1 for the current state)", "state", NODE_STATES, () => stats.state);
  metrics.gauge("control_plane_leader", "1 when this node leads the view control plane", () => (stats.controlLeader ? 1 : 0));
  metrics.gauge("rebuild_running", "1 while this node rebuilds its shards", () => {
    const progress = node.core.progress;
    return progress !== null && progress.finishedAtMs === null ? 1 : 0;
  });
  metrics.gauge("rebuild_listed_keys", "Keys the current or last rebuild set out to rebuild", () => stats.rebuildTotalKeys);
  metrics.gauge("rebuild_rebuilt_keys", "Keys the current or last rebuild has rebuilt", () => stats.rebuiltKeys);
  metrics.gauge("rebuild_rebuilt_bytes", "Shard bytes the current or last rebuild has rebuilt", () => stats.rebuiltBytes);
  registerMemoryGauges(metrics, () => ({
    usedBytes: stats.usedBytes,
    heldBytes: stats.heldBytes,
    budgetBytes: stats.maxMemoryBytes,
    evictedKeys: stats.evictedKeys,
    expiredKeys: stats.expiredKeys,
    rejectedWrites: stats.rejectedWrites,
  }));
  metrics.gauge("staged_shards", "Shards staged by EcPrepare and not yet committed or aborted", () => stats.stagedCount);
  metrics.gauge("staged_bytes", "Bytes of staged shards", () => stats.stagedBytes);
  registerStoreGauges(metrics, () => ({
    keys: stats.keyCount - stats.tombstoneCount,
    tombstones: stats.tombstoneCount,
    parts: { payload: stats.payloadBytes, key: stats.keyBytes, meta: stats.metaBytes },
    logicalBytes: stats.logicalBytes,
    v8HeapBytes: stats.v8HeapBytes,
    arrayBuffersBytes: stats.arrayBuffersBytes,
  }));
}

export async function startEccAdmin(options: EccAdminOptions): Promise<AdminHttpServer> {
  const { node, config, metrics } = options;
  registerEccGauges(metrics, node);
  let client: EcClient | null = null;
  return startNodeAdmin({
    httpAddress: options.httpAddress,
    metrics,
    logger: options.logger,
    readiness: () => eccReadiness(node),
    auth: httpAuthOf(config),
    gatherStatus: async () => {
      client ??= new EcClient({ config, codec: options.codec });
      return eccClusterStatus(await client.stats(), config.servers);
    },
    release: () => client?.close(),
    // HTTPS with the node's certificate when it serves TLS; no client certificate asked:
    // the admin port is read-only, and probes and Prometheus must reach it.
    secure: config.tls === undefined ? undefined : tlsServerOptions(config.tls, false),
  });
}
