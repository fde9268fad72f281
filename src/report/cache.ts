// "Hit ratio at equal memory": the cache workload against clusters that each get the same
// total memory (bench --total-memory), or the same budget per node. Per target: the hit
// ratio, ops/s, the keys it held against the keys its budget should hold, and whether every
// node's working set stayed within its budget.
//
//   predicted keys   per-node budget ÷ what one key costs a node:
//                      value × ideal ÷ nodes + key + E
//                    (ecc: value/k of shard per node; raft, redis: the whole value), E the
//                    per-entry cost of the kind of store (ENTRY_OVERHEAD_BYTES; mean value and
//                    key sizes of the workload)
//   measured keys    the median over the nodes of the keys each held at the after-load
//                    snapshot (a node holds a shard of, or a copy of, every key it has)
//   budget used      the median over the nodes of logical bytes at that snapshot ÷ budget:
//                    near 1 when the cache was full
//   working set      per node, the highest primary-sampler reading of the second half of the
//                    measured phase (steady state) and the after-load one, minus the node's
//                    before-load baseline, ÷ its budget; the issue's limit is 1.10
import { BenchRun } from "../bench/results";
import { meanKeyBytes, parseValueSize, valueSizeMean } from "../bench/workload";
import { formatBytes, formatOps, formatRatio, median, table } from "./analysis";

/**
 * Bytes a node spends on one entry besides its key and value (shard) bytes, by target kind.
 * ecc, raft: the store's 16-byte entry header plus a 12-byte key-index slot at no more than
 * 4/5 occupancy (src/storage). redis: its dict entry, object header and key string header;
 * the allocator's rounding of the value to a size class (a 1 KiB value takes 1,280 bytes
 * under jemalloc) is not in it, so redis holds fewer keys than predicted.
 */
export const ENTRY_OVERHEAD_BYTES: Readonly<Record<string, number>> = { ecc: 31, raft: 31, redis: 80 };
const ENTRY_OVERHEAD_DEFAULT = 32;
/** The issue's limit on a node's working set: budget × this, over its idle baseline. */
export const WORKING_SET_OVER_BUDGET_MAX = 1.1;
/** The issue's targets for the pair ecc(5,3) / raft(5) at equal memory. */
const CAPACITY_PAIR = { ecc: "ecc(n=5,k=3)", raft: "raft(5)", min: 2.7 };

export interface CacheRow {
  group: string;
  target: string;
  kind: string;
  nodes: number;
  nodeBudgetBytes: number;
  totalBudgetBytes: number | null;
  policy: string;
  runCount: number;
  hitRatio: number | null;
  opsPerSecond: number | null;
  keyCostBytes: number;
  predictedKeys: number;
  measuredKeys: number | null;
  budgetUsed: number | null;
  /** The largest (peak − baseline) ÷ budget over the nodes; null without readings. */
  workingSetOverBudget: number | null;
  /** Nodes above WORKING_SET_OVER_BUDGET_MAX. */
  nodesOver: string[];
}

/** What one key costs one node of this run's target (see the header). */
export function keyCostBytes(run: BenchRun): number {
  const ideal = run.target.idealOverhead ?? 1;
  const nodes = Math.max(1, run.target.nodes.length);
  const value = valueSizeMean(parseValueSize(run.workload.valueSize));
  return (value * ideal) / nodes + meanKeyBytes(run.workload.keyCount) + (ENTRY_OVERHEAD_BYTES[run.target.kind] ?? ENTRY_OVERHEAD_DEFAULT);
}

function workingSet(run: BenchRun, nodeBudgetBytes: number): { over: number | null; nodesOver: string[] } {
  const memory = run.memory;
  const measured = run.measured;
  if (memory === null || measured === null || memory.primary === null || memory.before === null) return { over: null, nodesOver: [] };
  const steadyFrom = measured.startMs + measured.durationMs / 2;
  let over: number | null = null;
  const nodesOver: string[] = [];
  for (const [node, reading] of Object.entries(memory.before.nodes)) {
    const baseline = reading.memory[memory.primary];
    if (baseline === undefined) continue;
    const readings = memory.samples.filter((sample) => sample.node === node && sample.sampler === memory.primary && sample.tMs >= steadyFrom && sample.tMs <= measured.endMs).map((sample) => sample.bytes);
    const after = memory.after?.nodes[node]?.memory[memory.primary];
    if (after !== undefined) readings.push(after);
    if (readings.length === 0) continue;
    const ratio = (Math.max(...readings) - baseline) / nodeBudgetBytes;
    over = over === null ? ratio : Math.max(over, ratio);
    if (ratio > WORKING_SET_OVER_BUDGET_MAX) nodesOver.push(node);
  }
  return { over, nodesOver };
}

/** One row per (group, target) of the runs with a memory budget; repeats folded into medians. */
export function cacheRows(runs: BenchRun[]): CacheRow[] {
  const cells = new Map<string, BenchRun[]>();
  for (const run of runs) {
    if (run.status !== "ok" || run.budget === null) continue;
    const key = JSON.stringify([run.group, run.target.spec]);
    cells.set(key, [...(cells.get(key) ?? []), run]);
  }
  return [...cells.values()].map((cell) => {
    const first = cell[0];
    const budget = first.budget!;
    const cost = keyCostBytes(first);
    const sets = cell.map((run) => {
      const after = Object.values(run.memory?.after?.nodes ?? {});
      return {
        hitRatio: run.measured?.cache?.hitRatio ?? null,
        ops: run.measured?.opsPerSecond ?? null,
        keys: median(after.map((node) => node.keyCount)),
        used: median(after.map((node) => (node.logicalBytes === null ? null : node.logicalBytes / budget.nodeBytes))),
        ...workingSet(run, budget.nodeBytes),
      };
    });
    const overs = sets.map((set) => set.over);
    return {
      group: first.group,
      target: first.target.label,
      kind: first.target.kind,
      nodes: budget.nodes,
      nodeBudgetBytes: budget.nodeBytes,
      totalBudgetBytes: budget.totalBytes,
      policy: budget.policy,
      runCount: cell.length,
      hitRatio: median(sets.map((set) => set.hitRatio)),
      opsPerSecond: median(sets.map((set) => set.ops)),
      keyCostBytes: cost,
      predictedKeys: Math.floor(budget.nodeBytes / cost),
      measuredKeys: median(sets.map((set) => set.keys)),
      budgetUsed: median(sets.map((set) => set.used)),
      workingSetOverBudget: overs.every((value) => value === null) ? null : Math.max(...overs.filter((value): value is number => value !== null)),
      nodesOver: [...new Set(sets.flatMap((set) => set.nodesOver))],
    };
  });
}

function verdict(ok: boolean | null): string {
  return ok === null ? "–" : ok ? "met" : "**missed**";
}

const percent = (value: number | null): string => (value === null ? "–" : `${(value * 100).toFixed(1)}%`);

/** The section's text for one group (the chart is added by the caller). */
export function cacheGroupText(rows: CacheRow[]): string {
  const first = rows[0];
  const budget =
    first.totalBudgetBytes !== null
      ? `every target gets ${formatBytes(first.totalBudgetBytes)} in total: each node ${formatBytes(first.totalBudgetBytes)} ÷ its cluster's node count`
      : `every node gets ${formatBytes(first.nodeBudgetBytes)}`;
  const lines: string[] = [
    `Group \`${first.group}\`: ${budget}, eviction policy ${first.policy}.`,
    "",
    table(
      ["target", ...(rows.some((row) => row.runCount > 1) ? ["runs"] : []), "nodes", "budget per node", "hit ratio", "ops/s", "key cost per node", "keys predicted", "keys held", "held ÷ predicted", "budget used", "working set over baseline", ""],
      rows.map((row) => [
        row.target,
        ...(rows.some((other) => other.runCount > 1) ? [String(row.runCount)] : []),
        String(row.nodes),
        formatBytes(row.nodeBudgetBytes),
        percent(row.hitRatio),
        formatOps(row.opsPerSecond),
        `${Math.round(row.keyCostBytes)} B`,
        String(row.predictedKeys),
        row.measuredKeys === null ? "–" : String(Math.round(row.measuredKeys)),
        row.measuredKeys === null ? "–" : formatRatio(row.measuredKeys / row.predictedKeys),
        percent(row.budgetUsed),
        row.workingSetOverBudget === null ? "–" : `${row.workingSetOverBudget.toFixed(2)}× the budget`,
        row.workingSetOverBudget === null ? "–" : verdict(row.nodesOver.length === 0),
      ]),
    ),
  ];
  const ecc = rows.find((row) => row.target === CAPACITY_PAIR.ecc);
  const raft = rows.find((row) => row.target === CAPACITY_PAIR.raft);
  if (ecc !== undefined && raft !== undefined && first.totalBudgetBytes !== null) {
    const capacity = ecc.measuredKeys === null || raft.measuredKeys === null || raft.measuredKeys === 0 ? null : ecc.measuredKeys / raft.measuredKeys;
    const predicted = ecc.predictedKeys / raft.predictedKeys;
    const higher = ecc.hitRatio === null || raft.hitRatio === null ? null : ecc.hitRatio > raft.hitRatio;
    lines.push(
      "",
      "| target | measured | goal | |",
      "| --- | ---: | ---: | --- |",
      `| keys held ${CAPACITY_PAIR.ecc} ÷ ${CAPACITY_PAIR.raft} | ${capacity === null ? "–" : `${capacity.toFixed(2)}×`} (predicted ${predicted.toFixed(2)}×) | ≥ ${CAPACITY_PAIR.min}× | ${verdict(capacity === null ? null : capacity >= CAPACITY_PAIR.min)} |`,
      `| hit ratio ${CAPACITY_PAIR.ecc} vs ${CAPACITY_PAIR.raft} | ${percent(ecc.hitRatio)} vs ${percent(raft.hitRatio)} | higher | ${verdict(higher)} |`,
    );
  }
  return lines.join("\n");
}

export const CACHE_DEFINITIONS =
  "The cache workload reads keys of a zipfian distribution (θ = 0.99) over a key space larger than the memory; a read that finds nothing is followed by a set of the key, as an application with a database behind its cache does (both count as operations). " +
  "Nothing is preloaded: the warm-up fills the cold cache, and the *hit ratio* is hits ÷ (hits + misses) of the measured reads. " +
  "*Key cost per node* = value × ideal ÷ nodes + key + E, the bytes one key costs one node (ecc: value ÷ k of shard; raft and redis: the whole value), " +
  `with the workload's mean value and key sizes and E the store's per-entry cost (${Object.entries(ENTRY_OVERHEAD_BYTES).map(([kind, bytes]) => `${kind} ${bytes} B`).join(", ")}; redis's allocator also rounds each value up to a size class, which E leaves out). ` +
  "*Keys predicted* = budget per node ÷ key cost; *keys held* is the median over the nodes of the keys each held after the load; *budget used* the median of the nodes' logical bytes ÷ budget (near 100% when the cache was full). " +
  `*Working set over baseline* is each node's highest working set in the second half of the measured phase (and after the load) minus its before-load baseline, ÷ its budget, the largest over the nodes; the limit is ${WORKING_SET_OVER_BUDGET_MAX.toFixed(2)}× the budget.`;
