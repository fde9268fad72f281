// Cluster health as `cluster status` and `client stats` report it, in both modes: one rule,
// one exit code, the same for text and --json (README "Exit codes"). Modelled on
// `etcdctl endpoint health`, which exits non-zero when any endpoint is unhealthy, with one
// distinction more, since "a node is down" and "the cluster cannot serve" call for different
// reactions:
//   0  healthy: every node answered and serves (ecc: a member; raft: a voter with a leader)
//   7  degraded: the cluster serves, but some node did not answer or is recovering
//   3  cannot serve: no node answered, or too few serve (ecc: fewer than k members answered;
//      raft: no leader answered, or fewer than a majority of the members)
// The verdict's message is a diagnostic: it goes to stderr, the data to stdout.
import type { EcStatsReply, EcView } from "../gen/ecc";
import { EXIT_DEGRADED, EXIT_OK, EXIT_UNAVAILABLE } from "./exit_codes";

export interface HealthVerdict {
  exitCode: number;
  /** Null when healthy; otherwise one line, e.g. "degraded: 127.0.0.1:3004 unreachable". */
  message: string | null;
}

export interface EccNodeHealth {
  address: string;
  /** Null when the node did not answer; otherwise member, recovering or removed. */
  state: string | null;
}

/** The newest view any node reported (views only move forward, by epoch). */
export function newestView(stats: ReadonlyArray<EcStatsReply | null>): EcView | null {
  let newest: EcView | null = null;
  for (const reply of stats) if (reply?.view !== undefined && (newest === null || reply.view.epoch > newest.epoch)) newest = reply.view;
  return newest;
}

/**
 * Each node's state for eccHealth: its own, unless the newest view says otherwise. A node
 * that was frozen past the heartbeat timeout still believes its old view (member) until it
 * hears of the new one; the newest view decides whether it is one.
 */
export function eccNodeStates(stats: ReadonlyArray<EcStatsReply | null>, servers: readonly string[]): EccNodeHealth[] {
  const view = newestView(stats);
  return stats.map((reply, shardIndex) => {
    const address = servers[shardIndex];
    if (reply === null) return { address, state: null };
    if (view === null || view.members.includes(shardIndex)) return { address, state: reply.state };
    return { address, state: view.recovering.includes(shardIndex) ? "recovering" : "removed" };
  });
}

/** ecc: a value needs k members' shards, so the cluster serves while k members answer. */
export function eccHealth(nodes: readonly EccNodeHealth[], dataShards: number): HealthVerdict {
  const problems = nodes.filter((node) => node.state !== "member").map((node) => `${node.address} ${node.state ?? "unreachable"}`);
  if (problems.length === 0) return { exitCode: EXIT_OK, message: null };
  if (nodes.every((node) => node.state === null)) return noNodeAnswered(nodes.map((node) => node.address));
  const members = nodes.length - problems.length;
  if (members < dataShards) {
    return {
      exitCode: EXIT_UNAVAILABLE,
      message: `cannot serve: ${members} of ${nodes.length} nodes answered as members, k=${dataShards} are needed (${problems.join(", ")})`,
    };
  }
  return { exitCode: EXIT_DEGRADED, message: `degraded: ${problems.join(", ")}` };
}

export interface RaftNodeHealth {
  address: string;
  /** Null when the node did not answer; otherwise its role (leader, follower, candidate, ...). */
  role: string | null;
}

/**
 * raft: `members` are the voters (the leader's list when one answered, else the configured
 * servers). The cluster serves while a leader answers and a majority of the members answer.
 */
export function raftHealth(members: readonly RaftNodeHealth[]): HealthVerdict {
  if (members.every((node) => node.role === null)) return noNodeAnswered(members.map((node) => node.address));
  const answered = members.filter((node) => node.role !== null);
  const unreachable = members.filter((node) => node.role === null).map((node) => `${node.address} unreachable`);
  if (!answered.some((node) => node.role === "leader")) {
    return { exitCode: EXIT_UNAVAILABLE, message: `cannot serve: no leader among the ${answered.length} of ${members.length} members that answered${unreachable.length > 0 ? ` (${unreachable.join(", ")})` : ""}` };
  }
  if (2 * answered.length <= members.length) {
    return { exitCode: EXIT_UNAVAILABLE, message: `cannot serve: ${answered.length} of ${members.length} members answered, a majority is needed (${unreachable.join(", ")})` };
  }
  const problems = [...unreachable, ...answered.filter((node) => node.role !== "leader" && node.role !== "follower").map((node) => `${node.address} ${node.role}`)];
  if (problems.length === 0) return { exitCode: EXIT_OK, message: null };
  return { exitCode: EXIT_DEGRADED, message: `degraded: ${problems.join(", ")}` };
}

function noNodeAnswered(addresses: readonly string[]): HealthVerdict {
  return { exitCode: EXIT_UNAVAILABLE, message: `cannot serve: no node answered (${addresses.join(", ")})` };
}

/** Prints the verdict's diagnostic on stderr and sets the exit code; call after the data. */
export function reportHealth(verdict: HealthVerdict): void {
  if (verdict.message !== null) process.stderr.write(`ecc-cache: ${verdict.message}\n`);
  process.exitCode = verdict.exitCode;
}
