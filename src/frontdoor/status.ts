// The cluster status document, one home for both consumers: `ecc|raft cluster status --json`
// prints it and every node's admin port serves it at /v1/status. Gathered the same way in
// both places, by asking every node for its stats over the client API.
import type { EcStatsReply, EcView } from "../gen/ecc";
import type { KvStatsReply } from "../gen/raft";
import type { RaftClient } from "../raft/client";
import type { RaftClusterConfig } from "../raft/config";
import { newestView } from "../cli/health";

export interface EccNodeStatus {
  address: string;
  shardIndex: number;
  reachable: boolean;
  state: string;
  epoch: number | null;
  controlLeader: boolean;
  keys: number | null;
  tombstones: number | null;
  logicalBytes: number | null;
  rssBytes: number | null;
  memory: EccNodeMemory | null;
  rebuild: { keys: number; totalKeys: number; bytes: number; bytesPerSecond: number } | null;
}

/** What counts against a node's budget, the budget and what the node did about it. */
export interface EccNodeMemory {
  usedBytes: number;
  heldBytes: number;
  maxMemoryBytes: number;
  evictionPolicy: string;
  evictedKeys: number;
  expiredKeys: number;
  rejectedWrites: number;
}

export interface EccClusterStatus {
  view: EcView | null;
  nodes: EccNodeStatus[];
}

/** A node's store counts every key it holds, tombstones (deleted keys) included. */
export function keyCounts(stats: EcStatsReply | null): { keys: number | null; tombstones: number | null } {
  if (stats === null) return { keys: null, tombstones: null };
  return { keys: stats.keyCount - stats.tombstoneCount, tombstones: stats.tombstoneCount };
}

export function memoryOf(stats: EcStatsReply | null): EccNodeMemory | null {
  if (stats === null) return null;
  return {
    usedBytes: stats.usedBytes,
    heldBytes: stats.heldBytes,
    maxMemoryBytes: stats.maxMemoryBytes,
    evictionPolicy: stats.evictionPolicy,
    evictedKeys: stats.evictedKeys,
    expiredKeys: stats.expiredKeys,
    rejectedWrites: stats.rejectedWrites,
  };
}

/** `stats[i]` is server i's reply, null when it did not answer. */
export function eccClusterStatus(stats: ReadonlyArray<EcStatsReply | null>, servers: readonly string[]): EccClusterStatus {
  const nodes = stats.map((s, index) => ({
    address: servers[index],
    shardIndex: index,
    reachable: s !== null,
    state: s?.state ?? "unreachable",
    epoch: s?.view?.epoch ?? null,
    controlLeader: s?.controlLeader ?? false,
    ...keyCounts(s),
    logicalBytes: s?.logicalBytes ?? null,
    rssBytes: s?.rssBytes ?? null,
    memory: memoryOf(s),
    rebuild:
      s === null || s.rebuildTotalKeys === 0 ? null : { keys: s.rebuiltKeys, totalKeys: s.rebuildTotalKeys, bytes: s.rebuiltBytes, bytesPerSecond: s.rebuildBytesPerSecond },
  }));
  return { view: newestView(stats), nodes };
}

export interface RaftNodeReport {
  address: string;
  /** A voter in the leader's configuration (the configured servers when no leader answered). */
  member: boolean;
  stats: KvStatsReply | null;
}

export interface RaftClusterReport {
  leader: string | null;
  term: number | null;
  members: string[];
  nodes: RaftNodeReport[];
}

/**
 * Asks every configured server, then every voter the leader names that is not configured (a
 * node added with `cluster add`), so status and stats cover the cluster as it is now.
 */
export async function gatherRaftCluster(client: RaftClient, config: RaftClusterConfig): Promise<RaftClusterReport> {
  const addresses = [...config.servers];
  const stats = await client.statsAll(addresses);
  const leaderOf = (): KvStatsReply | null =>
    stats.filter((s): s is KvStatsReply => s !== null && s.role === "leader").sort((a, b) => b.term - a.term)[0] ?? null;
  const extra = (leaderOf()?.voters ?? []).filter((voter) => !addresses.includes(voter));
  if (extra.length > 0) {
    addresses.push(...extra);
    stats.push(...(await client.statsAll(extra)));
  }
  const leader = leaderOf();
  const members = leader?.voters ?? config.servers;
  const terms = stats.filter((s): s is KvStatsReply => s !== null).map((s) => s.term);
  return {
    leader: leader?.nodeId ?? null,
    term: leader?.term ?? (terms.length > 0 ? Math.max(...terms) : null),
    members: [...members],
    nodes: addresses.map((address, index) => ({ address, member: members.includes(address), stats: stats[index] })),
  };
}

export interface RaftNodeStatus {
  address: string;
  reachable: boolean;
  member: boolean;
  role: string;
  term: number | null;
  leader: string | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  /** Memory used against the node's budget and what it did about it; null when unreachable. */
  memory: {
    usedBytes: number;
    maxMemoryBytes: number;
    evictionPolicy: string;
    evictedKeys: number;
    expiredKeys: number;
    rejectedWrites: number;
  } | null;
}

export interface RaftClusterStatus {
  leader: string | null;
  term: number | null;
  members: string[];
  nodes: RaftNodeStatus[];
}

export function raftClusterStatus(report: RaftClusterReport): RaftClusterStatus {
  const nodes = report.nodes.map(({ address, member, stats: s }) => ({
    address,
    reachable: s !== null,
    member,
    role: s?.role ?? "unreachable",
    term: s?.term ?? null,
    leader: s === null || s.leaderId === "" ? null : s.leaderId,
    commitIndex: s?.commitIndex ?? null,
    appliedIndex: s?.appliedIndex ?? null,
    memory:
      s === null
        ? null
        : {
            usedBytes: s.usedBytes,
            maxMemoryBytes: s.maxMemoryBytes,
            evictionPolicy: s.evictionPolicy,
            evictedKeys: s.evictedKeys,
            expiredKeys: s.expiredKeys,
            rejectedWrites: s.rejectedWrites,
          },
  }));
  return { leader: report.leader, term: report.term, members: report.members, nodes };
}
