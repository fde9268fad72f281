// What a benchmark drives. Three interfaces, smallest first:
//
//   BenchClient    the key-value operations the workload issues (one per cluster per run,
//                  shared by every worker: implementations must allow concurrent calls).
//   ClusterHandle  a running cluster: its nodes (name, address, PID), per-node stats
//                  (logical bytes), faults by node name (kill / pause / resume / restart),
//                  and stop. Started by a BenchTarget, or attached to a running cluster.
//   BenchTarget    a kind of system (ecc, etcd, redis, raft): checks it can run here,
//                  validates its parameters, starts or attaches a ClusterHandle.
//
// A new target is one module exporting a BenchTarget plus one entry in registry.ts (the
// raft entry is already there: src/bench/raft_target.ts exporting `raftTarget` is picked up
// when it exists). LocalCluster (local_cluster.ts) does the process work for targets whose
// nodes are local processes: spawn (inside a per-node cgroup when the bench made one),
// readiness, signals, restart, stop. The shape of such a target (ecc_target.ts is a full
// example; bench/reference.json names raft clusters `raft:nodes=3` and `raft:nodes=5`):
//
//   export const raftTarget: BenchTarget = {
//     kind: "raft", description: "...",
//     async unavailableReason() { return null; },
//     label: (params) => `raft(${intParam(params, "nodes", 3, 1, 9)})`,
//     validate: (params) => { checkParamNames("raft", params, ["nodes"]); intParam(params, "nodes", 3, 1, 9); },
//     async start(context) {
//       // ports from context.ports(n), data dirs under context.workDir, nodes named node0..,
//       // spawned with `new LocalCluster(specs, context.launcher)` (never plain spawn: the
//       // launcher puts each node into its cgroup), then return a ClusterHandle whose
//       // idealOverhead is the replica count and whose stats() returns each node's logical bytes.
//     },
//   };
//
// Memory budgets: a target whose nodes can hold a budget and evict (ecc, raft, redis) takes
// the parameters `max_memory` (bytes per node: 1048576, 512MiB) and `policy` (Redis's names,
// core/eviction.ts), and says how many nodes a spec has (nodeCount), so the bench can give
// every target the same total memory (--total-memory). A target without nodeCount gets no
// budget: its runs with one are skipped.
import { InvalidArgumentError } from "../core/errors";
import { EVICTION_POLICIES, EVICTION_POLICY_DEFAULT, EvictionPolicy } from "../core/eviction";
import { parseByteSize } from "../core/units";
import { ProcessLauncher } from "./local_cluster";

export interface BenchClient {
  /** The value, or null when absent. */
  get(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer): Promise<void>;
  del(key: string): Promise<void>;
  close(): Promise<void>;
}

export interface NodeInfo {
  /** Stable name used by failure specs and reports: node0, node1, ... */
  name: string;
  /** host:port clients use. */
  address: string;
  /** OS process id while running locally; null when not running or not local. */
  pid: number | null;
  running: boolean;
  paused: boolean;
  /** Free-form role: "primary", "replica", "member", "shard 2". */
  role?: string;
}

/** What a node reports about itself. Every field may be missing for a given target. */
export interface NodeStats {
  /** The node's own count of stored bytes (see ClusterHandle.logicalSource). */
  logicalBytes: number | null;
  keyCount: number | null;
  /** Resident memory as the node reports it (used when no other sampler reaches it). */
  rssBytes?: number | null;
  extra?: Record<string, number>;
}

export interface ClusterHandle {
  /** "ecc(n=3,k=2)", "etcd(3)", "redis(1+2)". */
  readonly label: string;
  readonly kind: string;
  /** Ideal memory ÷ payload for this layout: n/k for ecc, the replica count for replication. */
  readonly idealOverhead: number;
  /** What NodeStats.logicalBytes counts, in words, for the report. */
  readonly logicalSource: string;
  /** True when the bench attached to a running cluster (it will not stop it). */
  readonly attached: boolean;
  /** Target parameters as resolved (k, n, replicas, versions...), recorded in results. */
  readonly params: Record<string, string | number | boolean>;
  nodes(): NodeInfo[];
  /** A new client; the bench closes it. */
  connect(): Promise<BenchClient>;
  /** One entry per node, in nodes() order; null for a node that did not answer. */
  stats(): Promise<Array<NodeStats | null>>;
  /**
   * Called before each memory snapshot, after the settle wait: a target whose nodes can
   * collect garbage on request does so, so the snapshot shows live data. Optional: the
   * peers (etcd, Redis) have no such call and are measured as they are.
   */
  settle?(): Promise<void>;
  kill(node: string): Promise<void>;
  /** SIGTERM and wait for exit. */
  stopNode(node: string): Promise<void>;
  pause(node: string): Promise<void>;
  resume(node: string): Promise<void>;
  /** Starts a node that is down again (a running one is killed first). */
  restart(node: string): Promise<void>;
  /** Stops every node the bench started and releases clients; idempotent. */
  stop(): Promise<void>;
}

export type TargetParams = Record<string, string>;

export interface TargetContext {
  params: TargetParams;
  /** Addresses of a running cluster to attach to, or null to start one. */
  servers: string[] | null;
  /** A private temporary directory (data dirs); the bench removes it after the run. */
  workDir: string;
  /** Spawns local node processes (placing each into its cgroup when there is one). */
  launcher: ProcessLauncher;
  /** Free loopback ports. */
  ports(count: number): Promise<number[]>;
  /** Progress and diagnostics, one line each (stderr). */
  log(line: string): void;
}

export interface BenchTarget {
  readonly kind: string;
  readonly description: string;
  /** null when it can run here; otherwise why not (e.g. "etcd binary not found"). */
  unavailableReason(params: TargetParams): Promise<string | null>;
  /** Label of the cluster these params describe, before starting it. */
  label(params: TargetParams): string;
  /** Throws a usage error on unknown or bad parameters. */
  validate(params: TargetParams): void;
  start(context: TargetContext): Promise<ClusterHandle>;
  /** How many nodes (each with its own memory budget) these params start; absent: no memory budgets. */
  nodeCount?(params: TargetParams): number;
}

/** Target parameters of a memory budget (see the header). */
export const BUDGET_PARAMS = ["max_memory", "policy"] as const;

export interface NodeBudget {
  maxMemoryBytes: number;
  evictionPolicy: EvictionPolicy;
}

/**
 * The budget a target's params ask of every node, or null when they set none. Throws a usage
 * error for a bad size, an unknown policy, or a policy without a size.
 */
export function budgetParams(kind: string, params: TargetParams): NodeBudget | null {
  const size = params.max_memory;
  const policy = params.policy;
  if (policy !== undefined && !(EVICTION_POLICIES as readonly string[]).includes(policy)) {
    throw new InvalidArgumentError(`target ${kind}: policy=${policy} is not an eviction policy (${EVICTION_POLICIES.join(", ")})`);
  }
  if (size === undefined) {
    if (policy !== undefined) throw new InvalidArgumentError(`target ${kind}: policy=${policy} needs max_memory=SIZE`);
    return null;
  }
  const bytes = parseByteSize(size, `target ${kind}: max_memory`);
  if (bytes < 1) throw new InvalidArgumentError(`target ${kind}: max_memory must be above 0`);
  return { maxMemoryBytes: bytes, evictionPolicy: (policy ?? EVICTION_POLICY_DEFAULT) as EvictionPolicy };
}

/**
 * A node config file (ecc_config.json or raft_config.json shape) with the budget's fields
 * `max_memory_bytes` and `eviction_policy`, added only when a budget is set: a config without
 * them reads as before, on nodes that know the fields and on nodes that do not.
 */
export function withBudgetFields<T extends object>(file: T, budget: NodeBudget | null): T & { max_memory_bytes?: number; eviction_policy?: EvictionPolicy } {
  if (budget === null) return file;
  return { ...file, max_memory_bytes: budget.maxMemoryBytes, eviction_policy: budget.evictionPolicy };
}

/** The budget's part of a ClusterHandle's resolved params (recorded in results). */
export function budgetRecord(budget: NodeBudget | null): Record<string, string | number> {
  return budget === null ? {} : { maxMemoryBytes: budget.maxMemoryBytes, evictionPolicy: budget.evictionPolicy };
}

/** Parses "ecc:k=2,n=3" / "redis:replicas=2" / "etcd". Lists inside values use '+'. */
export function parseTargetSpec(text: string): { kind: string; params: TargetParams } {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(":");
  const kind = (colon < 0 ? trimmed : trimmed.slice(0, colon)).toLowerCase();
  const params: TargetParams = {};
  if (colon >= 0) {
    for (const part of trimmed.slice(colon + 1).split(",")) {
      if (part.trim() === "") continue;
      const eq = part.indexOf("=");
      if (eq <= 0) throw new InvalidArgumentError(`target '${text}': parameter '${part}' is not NAME=VALUE`);
      params[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
  }
  return { kind, params };
}

/** Throws naming the unknown parameter (a typo must not be silently ignored). */
export function checkParamNames(kind: string, params: TargetParams, known: readonly string[]): void {
  for (const name of Object.keys(params)) {
    if (!known.includes(name)) throw new InvalidArgumentError(`target ${kind}: unknown parameter '${name}' (known: ${known.join(", ")})`);
  }
}

export function intParam(params: TargetParams, name: string, fallback: number, min: number, max: number): number {
  const text = params[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new InvalidArgumentError(`parameter ${name}=${text}: expected a whole number in ${min}..${max}`);
  return value;
}

export function findNode<T extends { name: string }>(nodes: T[], name: string): T {
  const node = nodes.find((candidate) => candidate.name === name);
  if (node === undefined) throw new InvalidArgumentError(`no node named '${name}' (nodes: ${nodes.map((n) => n.name).join(", ")})`);
  return node;
}
