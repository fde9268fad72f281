// Numbers the report derives from a result document (never from a cluster).
//
//   payload          key + value bytes live at the end of the run (acknowledged writes)
//   memory           per node: the run's primary sampler (cgroup working set first, DESIGN.md
//                    section 5); delta = after-load snapshot − the baseline of the process
//                    measured after load: the before-load snapshot, or for a node the failure
//                    schedule restarted, its new process's reading when it came back
//                    (memory.restarts; a /2 file has none: the node's first sample after
//                    the restart). A killed process's baseline is never subtracted from a
//                    new one's memory.
//   cluster delta    sum of node deltas; a node down at the after-load snapshot (killed or
//                    stopped and not restarted; from the events, so /2 files whose sampler
//                    still read its cgroup's leftovers are caught too) or without a reading
//                    is left out, and the row is marked partial
//   overhead ratio   cluster delta ÷ payload, only for a whole cluster that grew, every node
//                    measured from before-load: a partial sum is not the cluster's overhead, a
//                    delta ≤ 0 gives no ratio (the table shows the delta itself), and a
//                    restarted node's new baseline holds whatever the process loaded when it
//                    started (raft and etcd reload their data from disk, an ecc node starts
//                    empty), so such a delta does not compare with the ideal either;
//                    ideal = n/k (ecc) or the replica count
//   logical ratio    (Σ logical bytes after − baseline) ÷ payload: the store's own count
//                    (none when a node's count is missing at either end: a partial sum)
//   breakdown        our nodes only (their stats replies): Σ delta of the V8 heap's resident
//                    pages and of ArrayBuffer memory over the nodes counted in the memory
//                    delta; "other" = memory delta − the two (allocator, native runtime, kernel)
//   aggregate        the runs of one (group, target) repeated (scenario `repeat`): the median
//                    of every figure over the runs, min–max of the noisy ones, the run count
//   CPU per op       Σ CPU time of every process over the measured phase ÷ its operations
//                    (nodes, the load generator, the bench; bench/cpu.ts), split into the
//                    nodes' part and the generator's; generator share = generator CPU ÷ wall
//                    time ÷ cores; saturated when one generator process used more than
//                    GENERATOR_SATURATED_CORES of a core (a ratio against it is not given)
//   hit ratio        the cache workload's measured reads: hits ÷ (hits + misses)
//   budgeted runs    (a memory budget: nodes evict) the payload counts keys set, not keys
//                    live, so no overhead or logical ratio is given for them
import assert from "node:assert/strict";
import { BenchRun } from "../bench/results";

/** What a node's delta is measured from (see "memory" above). */
export type NodeBaseline = "before-load" | "restart" | "first sample after restart";

export interface NodeMemoryRow {
  node: string;
  role: string | null;
  baseline: NodeBaseline;
  /** When the baseline was taken (ms since the run origin); null: no reading. */
  baselineMs: number | null;
  /** Killed or stopped, and not restarted, when the after-load snapshot was taken. */
  downAtAfter: boolean;
  beforeBytes: number | null;
  afterBytes: number | null;
  deltaBytes: number | null;
  logicalBeforeBytes: number | null;
  logicalAfterBytes: number | null;
  logicalDeltaBytes: number | null;
  keysAfter: number | null;
  /** Delta of the node's V8 heap pages / ArrayBuffer memory (stats v8HeapBytes, arrayBuffersBytes). */
  v8HeapDeltaBytes: number | null;
  arrayBuffersDeltaBytes: number | null;
  /** Delta of the kernel memory charged to the node's cgroup (the primary sampler's detail kernelBytes). */
  kernelDeltaBytes: number | null;
}

export interface RunSummaryRow {
  run: string;
  group: string;
  /** 1-based round of a repeated group. */
  repeat: number;
  /** Display name; two specs may share it (ecc with two codecs), so rows are folded by targetSpec. */
  target: string;
  targetSpec: string;
  kind: string;
  status: string;
  sampler: string | null;
  payloadBytes: number | null;
  memoryDeltaBytes: number | null;
  memoryPartial: boolean;
  /** Nodes left out of the delta (down at the end, or no reading) and nodes measured from their restart. */
  nodesLeftOut: string[];
  nodesRestarted: string[];
  overheadRatio: number | null;
  idealOverhead: number | null;
  logicalDeltaBytes: number | null;
  logicalRatio: number | null;
  /** Memory delta split (see "breakdown" above); null unless every counted node reported it. */
  v8HeapDeltaBytes: number | null;
  arrayBuffersDeltaBytes: number | null;
  otherDeltaBytes: number | null;
  /** The part of "other" that is kernel memory charged to the nodes' cgroups. */
  kernelDeltaBytes: number | null;
  opsPerSecond: number | null;
  p50Us: number | null;
  p99Us: number | null;
  readP50Us: number | null;
  readP99Us: number | null;
  writeP50Us: number | null;
  writeP99Us: number | null;
  errors: number | null;
  readUnavailableMs: number;
  writeUnavailableMs: number;
  readLongestGapMs: number | null;
  writeLongestGapMs: number | null;
  /** CPU per operation (see "CPU per op" above); null without CPU figures (older files) or node PIDs. */
  cpuPerOpUs: number | null;
  nodeCpuPerOpUs: number | null;
  generatorCpuPerOpUs: number | null;
  generatorShare: number | null;
  generatorProcessCoresMax: number | null;
  generatorSaturated: boolean;
  /** Processes the load came from (0: the bench process); null without CPU figures. */
  clientProcesses: number | null;
  /** The cache workload's hit ratio; null for other workloads. */
  hitRatio: number | null;
}

/**
 * A node's state at `atMs` from the failure events: down (killed or stopped, not restarted
 * since) and when it last came back. Pause and resume keep the process, so they do not count.
 */
export function nodeLifeAt(run: BenchRun, node: string, atMs: number): { down: boolean; restartedMs: number | null } {
  let down = false;
  let restartedMs: number | null = null;
  const events = run.events.filter((event) => event.node === node && event.tMs <= atMs).sort((a, b) => a.tMs - b.tMs);
  for (const event of events) {
    if (event.type === "failure.kill.done" || event.type === "failure.stop.done") {
      down = true;
      restartedMs = null;
    } else if (event.type === "failure.restart.done") {
      down = false;
      restartedMs = event.tMs;
    }
  }
  return { down, restartedMs };
}

type NodeReading = NonNullable<NonNullable<BenchRun["memory"]>["before"]>["nodes"][string];

/**
 * The reading a node's after-load figures are measured from: before-load, or for a node
 * restarted before the after-load snapshot its new process's first reading (see "memory").
 */
function baselineOf(run: BenchRun, name: string, restartedMs: number | null): { baseline: NodeBaseline; tMs: number | null; reading: NodeReading | undefined } {
  const memory = run.memory;
  if (restartedMs === null) return { baseline: "before-load", tMs: memory?.before?.tMs ?? null, reading: memory?.before?.nodes[name] };
  const afterMs = memory?.after?.tMs ?? Infinity;
  // The reading is taken after the restart's `.done` event; both times are rounded.
  const restart = (memory?.restarts ?? []).filter((entry) => entry.node === name && entry.tMs >= restartedMs - 1 && entry.tMs <= afterMs).at(-1);
  if (restart !== undefined) return { baseline: "restart", tMs: restart.tMs, reading: restart.reading };
  const primary = memory?.primary ?? null;
  const sample = memory?.samples.find((entry) => entry.node === name && entry.sampler === primary && entry.tMs >= restartedMs && entry.tMs <= afterMs);
  if (sample === undefined || primary === null) return { baseline: "first sample after restart", tMs: null, reading: undefined };
  const logical = memory!.logical.find((entry) => entry.node === name && entry.tMs >= sample.tMs && entry.tMs <= afterMs);
  return {
    baseline: "first sample after restart",
    tMs: sample.tMs,
    reading: { memory: { [primary]: sample.bytes }, detail: {}, logicalBytes: logical?.logicalBytes ?? null, keyCount: logical?.keyCount ?? null, stats: {} },
  };
}

export function nodeMemoryRows(run: BenchRun): NodeMemoryRow[] {
  const memory = run.memory;
  const primary = memory?.primary ?? null;
  const names = new Set<string>(run.target.nodes.map((node) => node.name));
  for (const name of Object.keys(memory?.before?.nodes ?? {})) names.add(name);
  for (const name of Object.keys(memory?.after?.nodes ?? {})) names.add(name);
  return [...names].map((name) => {
    const life = memory?.after === null || memory?.after === undefined ? { down: false, restartedMs: null } : nodeLifeAt(run, name, memory.after.tMs);
    const base = baselineOf(run, name, life.restartedMs);
    const before = base.reading;
    // A node that is down has no process: whatever its cgroup still holds is not its memory.
    const after = life.down ? undefined : memory?.after?.nodes[name];
    const beforeBytes = primary === null ? null : (before?.memory[primary] ?? null);
    const afterBytes = primary === null ? null : (after?.memory[primary] ?? null);
    const logicalBefore = before?.logicalBytes ?? null;
    const logicalAfter = after?.logicalBytes ?? null;
    const statDelta = (stat: string): number | null => {
      const from = before?.stats[stat];
      const to = after?.stats[stat];
      return from === undefined || to === undefined ? null : to - from;
    };
    const kernelBefore = primary === null ? undefined : before?.detail[primary]?.kernelBytes;
    const kernelAfter = primary === null ? undefined : after?.detail[primary]?.kernelBytes;
    return {
      node: name,
      role: run.target.nodes.find((node) => node.name === name)?.role ?? null,
      baseline: base.baseline,
      baselineMs: base.tMs,
      downAtAfter: life.down,
      beforeBytes,
      afterBytes,
      deltaBytes: beforeBytes !== null && afterBytes !== null ? afterBytes - beforeBytes : null,
      logicalBeforeBytes: logicalBefore,
      logicalAfterBytes: logicalAfter,
      logicalDeltaBytes: logicalBefore !== null && logicalAfter !== null ? logicalAfter - logicalBefore : null,
      keysAfter: after?.keyCount ?? null,
      v8HeapDeltaBytes: statDelta("v8HeapBytes"),
      arrayBuffersDeltaBytes: statDelta("arrayBuffersBytes"),
      kernelDeltaBytes: kernelBefore === undefined || kernelAfter === undefined ? null : kernelAfter - kernelBefore,
    };
  });
}

function sumKnown(values: Array<number | null>): { sum: number | null; partial: boolean } {
  const known = values.filter((value): value is number => value !== null);
  if (known.length === 0) return { sum: null, partial: values.length > 0 };
  return { sum: known.reduce((a, b) => a + b, 0), partial: known.length < values.length };
}

/** Σ of one figure over the nodes counted in the memory delta; null if any of them lacks it. */
function sumOverCounted(rows: NodeMemoryRow[], figure: (row: NodeMemoryRow) => number | null): number | null {
  const counted = rows.filter((row) => row.deltaBytes !== null);
  if (counted.length === 0) return null;
  let sum = 0;
  for (const row of counted) {
    const value = figure(row);
    if (value === null) return null;
    sum += value;
  }
  return sum;
}

function unavailableMs(run: BenchRun, kind: "read" | "write"): number {
  return Math.round((run.measured?.unavailability ?? []).filter((w) => w.kind === kind).reduce((total, w) => total + (w.endMs - w.startMs), 0));
}

function longestGapMs(run: BenchRun, kind: "read" | "write"): number | null {
  const gap = run.measured?.longestGaps.find((g) => g.kind === kind);
  return gap === undefined ? null : Math.round(gap.endMs - gap.startMs);
}

export function summarizeRun(run: BenchRun): RunSummaryRow {
  const rows = nodeMemoryRows(run);
  // With a budget the nodes evict: the payload counts what was set, not what is held.
  const evicting = run.budget !== null;
  const cpu = run.cpu;
  const restarted = rows.some((row) => row.baseline !== "before-load");
  const memory = sumKnown(rows.map((row) => row.deltaBytes));
  const logical = sumKnown(rows.map((row) => row.logicalDeltaBytes));
  const v8Heap = sumOverCounted(rows, (row) => row.v8HeapDeltaBytes);
  const arrayBuffers = sumOverCounted(rows, (row) => row.arrayBuffersDeltaBytes);
  const payloadBytes = run.payload?.totalBytes ?? null;
  const ratio = (bytes: number | null): number | null => (bytes === null || payloadBytes === null || payloadBytes === 0 ? null : bytes / payloadBytes);
  const latency = run.measured?.latency ?? {};
  const writes = latency.update ?? latency.insert ?? latency.delete;
  return {
    run: run.name,
    group: run.group,
    repeat: run.repeat,
    target: run.target.label,
    targetSpec: run.target.spec,
    kind: run.target.kind,
    status: run.status,
    sampler: run.memory?.primary ?? null,
    payloadBytes,
    memoryDeltaBytes: memory.sum,
    memoryPartial: memory.partial,
    nodesLeftOut: rows.filter((row) => row.deltaBytes === null).map((row) => row.node),
    nodesRestarted: rows.filter((row) => row.baseline !== "before-load").map((row) => row.node),
    overheadRatio: evicting || memory.partial || restarted || memory.sum === null || memory.sum <= 0 ? null : ratio(memory.sum),
    idealOverhead: run.target.idealOverhead,
    logicalDeltaBytes: logical.sum,
    logicalRatio: evicting || logical.partial ? null : ratio(logical.sum),
    v8HeapDeltaBytes: v8Heap,
    arrayBuffersDeltaBytes: arrayBuffers,
    otherDeltaBytes: memory.sum === null || v8Heap === null || arrayBuffers === null ? null : memory.sum - v8Heap - arrayBuffers,
    kernelDeltaBytes: sumOverCounted(rows, (row) => row.kernelDeltaBytes),
    opsPerSecond: run.measured?.opsPerSecond ?? null,
    p50Us: latency.all?.count ? latency.all.p50Us : null,
    p99Us: latency.all?.count ? latency.all.p99Us : null,
    readP50Us: latency.read?.p50Us ?? null,
    readP99Us: latency.read?.p99Us ?? null,
    writeP50Us: writes?.p50Us ?? null,
    writeP99Us: writes?.p99Us ?? null,
    errors: run.measured === null ? null : run.measured.errors + run.measured.warmupErrors + (run.preload?.errors ?? 0),
    readUnavailableMs: unavailableMs(run, "read"),
    writeUnavailableMs: unavailableMs(run, "write"),
    readLongestGapMs: longestGapMs(run, "read"),
    writeLongestGapMs: longestGapMs(run, "write"),
    cpuPerOpUs: cpu?.cpuPerOpUs ?? null,
    nodeCpuPerOpUs: cpu?.nodeCpuPerOpUs ?? null,
    generatorCpuPerOpUs: cpu?.generatorCpuPerOpUs ?? null,
    generatorShare: cpu?.generatorShare ?? null,
    generatorProcessCoresMax: cpu?.generatorProcessCoresMax ?? null,
    generatorSaturated: cpu?.generatorSaturated ?? false,
    clientProcesses: cpu === null ? null : cpu.processes.filter((entry) => entry.role === "generator" && entry.name !== "bench").length,
    hitRatio: run.measured?.cache?.hitRatio ?? null,
  };
}

/** Figures shown with their min–max next to the median when a target ran more than once. */
export const RANGED_FIGURES = ["memoryDeltaBytes", "overheadRatio", "logicalRatio", "opsPerSecond", "p99Us", "cpuPerOpUs", "hitRatio"] as const;
export type RangedFigure = (typeof RANGED_FIGURES)[number];

export interface FigureRange {
  min: number;
  max: number;
}

/**
 * One (group, target) over its runs. The figures of RunSummaryRow are medians over the runs
 * (each run's own ratio, not a ratio of medians), except `errors` (the sum: every error any
 * run saw is counted once, none is hidden by a quieter run) and `memoryPartial` (set when
 * any run's delta was partial). `run` and `repeat` name the first round, the run the charts
 * show. With one run every RunSummaryRow field is that run's, unchanged.
 */
export interface AggregateRow extends RunSummaryRow {
  runCount: number;
  /** min–max over the runs; null when no run has the figure. */
  ranges: Record<RangedFigure, FigureRange | null>;
}

/** Median of the known values (nulls ignored): the middle one, or the mean of the middle two; null if none. */
export function median(values: Array<number | null>): number | null {
  const known = values.filter((value): value is number => value !== null).sort((a, b) => a - b);
  if (known.length === 0) return null;
  const middle = Math.floor(known.length / 2);
  return known.length % 2 === 1 ? known[middle] : (known[middle - 1] + known[middle]) / 2;
}

/** min–max of the known values (nulls ignored); null if none. */
export function range(values: Array<number | null>): FigureRange | null {
  const known = values.filter((value): value is number => value !== null);
  if (known.length === 0) return null;
  return { min: Math.min(...known), max: Math.max(...known) };
}

/** Folds the rows of one (group, target), in any order, into one row (see AggregateRow). */
export function aggregateRuns(rows: RunSummaryRow[]): AggregateRow {
  assert(rows.length > 0, "aggregateRuns: no rows");
  const sorted = [...rows].sort((a, b) => a.repeat - b.repeat);
  const first = sorted[0];
  for (const row of sorted) {
    assert.equal(row.group, first.group, "aggregateRuns: rows of two groups");
    assert.equal(row.targetSpec, first.targetSpec, "aggregateRuns: rows of two targets");
  }
  const mid = (pick: (row: RunSummaryRow) => number | null): number | null => median(sorted.map(pick));
  const errors = sorted.map((row) => row.errors).filter((value): value is number => value !== null);
  const samplers = [...new Set(sorted.map((row) => row.sampler))];
  const ranges = {} as Record<RangedFigure, FigureRange | null>;
  for (const figure of RANGED_FIGURES) ranges[figure] = range(sorted.map((row) => row[figure]));
  return {
    run: first.run,
    group: first.group,
    repeat: first.repeat,
    target: first.target,
    targetSpec: first.targetSpec,
    kind: first.kind,
    status: first.status,
    // Runs whose samplers differ should not be folded silently: the name shows both.
    sampler: samplers.length === 1 ? first.sampler : samplers.map((sampler) => sampler ?? "none").join("+"),
    payloadBytes: mid((row) => row.payloadBytes),
    memoryDeltaBytes: mid((row) => row.memoryDeltaBytes),
    memoryPartial: sorted.some((row) => row.memoryPartial),
    nodesLeftOut: [...new Set(sorted.flatMap((row) => row.nodesLeftOut))],
    nodesRestarted: [...new Set(sorted.flatMap((row) => row.nodesRestarted))],
    overheadRatio: mid((row) => row.overheadRatio),
    idealOverhead: first.idealOverhead,
    logicalDeltaBytes: mid((row) => row.logicalDeltaBytes),
    logicalRatio: mid((row) => row.logicalRatio),
    v8HeapDeltaBytes: mid((row) => row.v8HeapDeltaBytes),
    arrayBuffersDeltaBytes: mid((row) => row.arrayBuffersDeltaBytes),
    otherDeltaBytes: mid((row) => row.otherDeltaBytes),
    kernelDeltaBytes: mid((row) => row.kernelDeltaBytes),
    opsPerSecond: mid((row) => row.opsPerSecond),
    p50Us: mid((row) => row.p50Us),
    p99Us: mid((row) => row.p99Us),
    readP50Us: mid((row) => row.readP50Us),
    readP99Us: mid((row) => row.readP99Us),
    writeP50Us: mid((row) => row.writeP50Us),
    writeP99Us: mid((row) => row.writeP99Us),
    errors: errors.length === 0 ? null : errors.reduce((a, b) => a + b, 0),
    readUnavailableMs: mid((row) => row.readUnavailableMs)!,
    writeUnavailableMs: mid((row) => row.writeUnavailableMs)!,
    readLongestGapMs: mid((row) => row.readLongestGapMs),
    writeLongestGapMs: mid((row) => row.writeLongestGapMs),
    cpuPerOpUs: mid((row) => row.cpuPerOpUs),
    nodeCpuPerOpUs: mid((row) => row.nodeCpuPerOpUs),
    generatorCpuPerOpUs: mid((row) => row.generatorCpuPerOpUs),
    generatorShare: mid((row) => row.generatorShare),
    generatorProcessCoresMax: mid((row) => row.generatorProcessCoresMax),
    // One saturated run is enough to doubt the row's ops/s.
    generatorSaturated: sorted.some((row) => row.generatorSaturated),
    clientProcesses: first.clientProcesses,
    hitRatio: mid((row) => row.hitRatio),
    runCount: sorted.length,
    ranges,
  };
}

/** One AggregateRow per (group, target spec), in the order the rows first name them. */
export function aggregateRows(rows: RunSummaryRow[]): AggregateRow[] {
  const byKey = new Map<string, RunSummaryRow[]>();
  for (const row of rows) {
    const key = JSON.stringify([row.group, row.targetSpec]);
    const list = byKey.get(key);
    if (list === undefined) byKey.set(key, [row]);
    else list.push(row);
  }
  return [...byKey.values()].map(aggregateRuns);
}

/** A Markdown table: the first column left-aligned, the others right-aligned; `|` in cells escaped. */
export function table(header: string[], rows: string[][]): string {
  const escape = (cell: string): string => cell.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return [
    `| ${header.map(escape).join(" | ")} |`,
    `| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((row) => `| ${row.map(escape).join(" | ")} |`),
  ].join("\n");
}

export { formatBytes } from "../core/units";

export function formatUs(us: number | null): string {
  if (us === null) return "–";
  if (us >= 1_000_000) return `${(us / 1_000_000).toFixed(2)} s`;
  if (us >= 1_000) return `${(us / 1_000).toFixed(2)} ms`;
  return `${Math.round(us)} µs`; // a median of two runs may end in .5
}

export function formatRatio(ratio: number | null): string {
  return ratio === null ? "–" : `${ratio.toFixed(2)}×`;
}

/** "<total> (<nodes> nodes + <generator> generator)": CPU time per operation; "–" without figures. */
export function formatCpuPerOp(row: Pick<RunSummaryRow, "cpuPerOpUs" | "nodeCpuPerOpUs" | "generatorCpuPerOpUs">, total = formatUs(row.cpuPerOpUs)): string {
  if (row.cpuPerOpUs === null) return row.generatorCpuPerOpUs === null ? "–" : `– (generator ${formatUs(row.generatorCpuPerOpUs)})`;
  return `${total} (${formatUs(row.nodeCpuPerOpUs)} nodes + ${formatUs(row.generatorCpuPerOpUs)} generator)`;
}

/**
 * "<share of the machine>% (<busiest process> core, in the bench process | N processes)",
 * with ", saturated" when a generator process was; "–" without figures.
 */
export function formatGenerator(row: Pick<RunSummaryRow, "generatorShare" | "generatorProcessCoresMax" | "generatorSaturated" | "clientProcesses">): string {
  if (row.generatorShare === null || row.generatorProcessCoresMax === null) return "–";
  const where = row.clientProcesses === null || row.clientProcesses === 0 ? "in the bench process" : `busiest of ${row.clientProcesses} processes`;
  return `${Math.round(row.generatorShare * 100)}% (${row.generatorProcessCoresMax.toFixed(2)} core, ${where}${row.generatorSaturated ? ", saturated" : ""})`;
}

/** ops/s as a whole number (a median of two runs may end in .5). */
export function formatOps(opsPerSecond: number | null): string {
  return opsPerSecond === null ? "–" : String(Math.round(opsPerSecond));
}

/**
 * "25.3 MiB (24.1–26.0)": a median with its min–max, the unit written once when all three
 * share it ("1.1 MiB (900.0 KiB–1.2 MiB)" when not). Just the median without a range.
 */
export function formatWithRange(format: (value: number | null) => string, value: number | null, spread: FigureRange | null): string {
  const text = format(value);
  if (spread === null || value === null) return text;
  const low = format(spread.min);
  const high = format(spread.max);
  const unit = (formatted: string): string => formatted.replace(/^[−-]?[\d.]+/, "");
  const shared = unit(text);
  if (unit(low) !== shared || unit(high) !== shared) return `${text} (${low}–${high})`;
  const bare = (formatted: string): string => formatted.slice(0, formatted.length - shared.length);
  return `${text} (${bare(low)}–${bare(high)})`;
}
