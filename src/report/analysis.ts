// Numbers the report derives from a result document (never from a cluster).
//
//   payload          key + value bytes live at the end of the run (acknowledged writes)
//   memory           per node: the run's primary sampler (cgroup working set first, DESIGN.md
//                    section 5); delta = after-load snapshot − before-load snapshot
//   cluster delta    sum of node deltas (nodes down at either snapshot are left out, and
//                    the row is marked partial)
//   overhead ratio   cluster delta ÷ payload; ideal = n/k (ecc) or the replica count
//   logical ratio    (Σ logical bytes after − before) ÷ payload: the store's own count
import { BenchRun } from "../bench/results";

export interface NodeMemoryRow {
  node: string;
  role: string | null;
  beforeBytes: number | null;
  afterBytes: number | null;
  deltaBytes: number | null;
  logicalBeforeBytes: number | null;
  logicalAfterBytes: number | null;
  logicalDeltaBytes: number | null;
  keysAfter: number | null;
}

export interface RunSummaryRow {
  run: string;
  group: string;
  target: string;
  kind: string;
  status: string;
  sampler: string | null;
  payloadBytes: number | null;
  memoryDeltaBytes: number | null;
  memoryPartial: boolean;
  overheadRatio: number | null;
  idealOverhead: number | null;
  logicalDeltaBytes: number | null;
  logicalRatio: number | null;
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
}

export function nodeMemoryRows(run: BenchRun): NodeMemoryRow[] {
  const memory = run.memory;
  const primary = memory?.primary ?? null;
  const names = new Set<string>(run.target.nodes.map((node) => node.name));
  for (const name of Object.keys(memory?.before?.nodes ?? {})) names.add(name);
  for (const name of Object.keys(memory?.after?.nodes ?? {})) names.add(name);
  return [...names].map((name) => {
    const before = memory?.before?.nodes[name];
    const after = memory?.after?.nodes[name];
    const beforeBytes = primary === null ? null : (before?.memory[primary] ?? null);
    const afterBytes = primary === null ? null : (after?.memory[primary] ?? null);
    const logicalBefore = before?.logicalBytes ?? null;
    const logicalAfter = after?.logicalBytes ?? null;
    return {
      node: name,
      role: run.target.nodes.find((node) => node.name === name)?.role ?? null,
      beforeBytes,
      afterBytes,
      deltaBytes: beforeBytes !== null && afterBytes !== null ? afterBytes - beforeBytes : null,
      logicalBeforeBytes: logicalBefore,
      logicalAfterBytes: logicalAfter,
      logicalDeltaBytes: logicalBefore !== null && logicalAfter !== null ? logicalAfter - logicalBefore : null,
      keysAfter: after?.keyCount ?? null,
    };
  });
}

function sumKnown(values: Array<number | null>): { sum: number | null; partial: boolean } {
  const known = values.filter((value): value is number => value !== null);
  if (known.length === 0) return { sum: null, partial: values.length > 0 };
  return { sum: known.reduce((a, b) => a + b, 0), partial: known.length < values.length };
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
  const memory = sumKnown(rows.map((row) => row.deltaBytes));
  const logical = sumKnown(rows.map((row) => row.logicalDeltaBytes));
  const payloadBytes = run.payload?.totalBytes ?? null;
  const ratio = (bytes: number | null): number | null => (bytes === null || payloadBytes === null || payloadBytes === 0 ? null : bytes / payloadBytes);
  const latency = run.measured?.latency ?? {};
  const writes = latency.update ?? latency.insert ?? latency.delete;
  return {
    run: run.name,
    group: run.group,
    target: run.target.label,
    kind: run.target.kind,
    status: run.status,
    sampler: run.memory?.primary ?? null,
    payloadBytes,
    memoryDeltaBytes: memory.sum,
    memoryPartial: memory.partial,
    overheadRatio: ratio(memory.sum),
    idealOverhead: run.target.idealOverhead,
    logicalDeltaBytes: logical.sum,
    logicalRatio: ratio(logical.sum),
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
  };
}

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return "–";
  const sign = bytes < 0 ? "−" : "";
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024 * 1024) return `${sign}${(abs / 1024 ** 3).toFixed(2)} GiB`;
  if (abs >= 1024 * 1024) return `${sign}${(abs / 1024 ** 2).toFixed(1)} MiB`;
  if (abs >= 1024) return `${sign}${(abs / 1024).toFixed(1)} KiB`;
  return `${sign}${abs} B`;
}

export function formatUs(us: number | null): string {
  if (us === null) return "–";
  if (us >= 1_000_000) return `${(us / 1_000_000).toFixed(2)} s`;
  if (us >= 1_000) return `${(us / 1_000).toFixed(2)} ms`;
  return `${us} µs`;
}

export function formatRatio(ratio: number | null): string {
  return ratio === null ? "–" : `${ratio.toFixed(2)}×`;
}
