// The bench result file: one JSON document per `ecc-cache bench` invocation, the only input
// of `ecc-cache report`. Schema `ecc-cache.bench/4` (zod, strict: an unknown or missing
// field is an error on write and on read, so the two sides cannot drift; the one exception is
// a run's `repeat`, added later within /2, which reads as 1 when absent).
//
// /4 added the CPU time of every process over the measured phase (`run.cpu`), the cache
// workload's hits and misses (`measured.cache`, `workload.fillOnMiss`), the nodes' memory
// budget (`run.budget`) and the number of client processes (`config.clientProcesses`).
// /3 added time-based measured phases (a run's workload has `durationMs`, and `ops` is null
// when it is set) and the memory baseline of a node's new process after a restart
// (`memory.restarts`). /3 and /2 files are still read: they are upgraded on reading (/2: no
// duration, `ops` as recorded, no restart readings; both: no CPU figures, no cache counts, no
// budget, workers in the bench process), so the committed reference keeps rendering.
//
// Top level: schema, startedAt/finishedAt, commit, seed, argv, scenario, environment,
// config (what was asked), runs. A run is one (target, workload, value size, concurrency,
// failure variant, repeat) combination on a fresh cluster, with status ok | skipped | failed (and
// the reason). An ok run carries: the cluster (label, nodes, PIDs, ideal overhead), the
// preload, the measured phase (latency summaries + HDR histograms per op kind, per-second
// timeline, error classes, error samples with times, unavailability windows), the live
// payload at the end, memory (time series per node and sampler, logical bytes per node,
// before/after-load snapshots, the reading of each restarted node's new process) and the
// event log. Times inside a run are milliseconds since
// the run's origin (its cluster start) unless the field says otherwise.
//
// /1 (the first bench: summaries only) is not readable by the report; re-run the bench.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { InvalidArgumentError } from "../core/errors";
import { SAMPLER_KINDS } from "./memory/recorder";

export const BENCH_SCHEMA = "ecc-cache.bench/4";
/** Earlier schemas, read by upgrading (upgradeV2, upgradeV3). */
export const BENCH_SCHEMA_V3 = "ecc-cache.bench/3";
export const BENCH_SCHEMA_V2 = "ecc-cache.bench/2";

const count = z.number().int().min(0);
const nonNegative = z.number().min(0);
const finite = z.number().refine(Number.isFinite, "must be a finite number");
const samplerKind = z.enum(SAMPLER_KINDS as unknown as [string, ...string[]]);
const opKind = z.enum(["read", "update", "insert", "delete"]);

const latencyEntry = z.strictObject({
  count,
  minUs: nonNegative,
  meanUs: nonNegative,
  p50Us: nonNegative,
  p90Us: nonNegative,
  p99Us: nonNegative,
  p999Us: nonNegative,
  maxUs: nonNegative,
  /** HDR histogram, compressed base64 (hdr-histogram-js encodeIntoCompressedBase64). */
  hdr: z.string(),
});

const timelineBucket = z.strictObject({
  startMs: nonNegative,
  durationMs: z.number().positive(),
  ops: count,
  errors: count,
  reads: count,
  writes: count,
  p50Us: nonNegative,
  p99Us: nonNegative,
  maxUs: nonNegative,
});

const runEvent = z.strictObject({ tMs: finite, type: z.string(), node: z.string().optional(), detail: z.string().optional() });

const measured = z.strictObject({
  startMs: finite,
  endMs: finite,
  durationMs: nonNegative,
  ops: count,
  okOps: count,
  errors: count,
  warmupOps: count,
  warmupErrors: count,
  opsPerSecond: nonNegative,
  latency: z.record(z.string(), latencyEntry),
  timeline: z.array(timelineBucket),
  errorClasses: z.array(z.strictObject({ kind: opKind, message: z.string(), count, firstMs: finite, lastMs: finite })),
  errorSamples: z.array(z.strictObject({ tMs: finite, kind: opKind, key: z.string(), message: z.string() })),
  unavailability: z.array(
    z.strictObject({ kind: z.enum(["read", "write"]), startMs: finite, endMs: finite, errors: count, ongoing: z.boolean() }),
  ),
  longestGaps: z.array(z.strictObject({ kind: z.enum(["read", "write"]), startMs: finite, endMs: finite })),
  /** The cache workload's reads: hits, misses (each followed by a set: a fill), warm-up included apart. */
  cache: z
    .strictObject({
      hits: count,
      misses: count,
      hitRatio: z.number().min(0).max(1).nullable(),
      fills: count,
      fillErrors: count,
      warmupHits: count,
      warmupMisses: count,
    })
    .nullable(),
});

/**
 * CPU time over the measured phase (cpu.ts): every process of the run, from /proc/<pid>/stat
 * (utime + stime) or process.cpuUsage() for the bench itself, sampled when the phase began,
 * periodically, and when its last operation completed.
 */
const cpu = z.strictObject({
  wallMs: nonNegative,
  cores: z.number().int().positive(),
  clockTicksPerSecond: z.number().int().positive(),
  processes: z.array(
    z.strictObject({
      /** node: a node of the cluster; generator: a process issuing the load; bench: the bench process when the load runs elsewhere. */
      role: z.enum(["node", "generator", "bench"]),
      name: z.string(),
      pids: z.array(z.number().int()),
      cpuMs: nonNegative,
      /** A process exited during the phase: its CPU after the last reading is missing. */
      partial: z.boolean(),
    }),
  ),
  /** Operations of the phase (a cache miss's set counts as one). */
  ops: count,
  /** Σ over every process ÷ ops; null when some node's CPU could not be read (no PID: attached, containers). */
  cpuPerOpUs: nonNegative.nullable(),
  nodeCpuPerOpUs: nonNegative.nullable(),
  generatorCpuPerOpUs: nonNegative,
  /** Generator CPU ÷ wall time ÷ cores: the share of the machine the load generation took. */
  generatorShare: nonNegative,
  /** The busiest generator process, in cores (CPU ÷ wall time). */
  generatorProcessCoresMax: nonNegative,
  /** generatorProcessCoresMax above GENERATOR_SATURATED_CORES: the load generator may have held the target back. */
  generatorSaturated: z.boolean(),
  notes: z.array(z.string()),
});

/** The nodes' memory budget of a run (bench --total-memory / --max-memory / --policy). */
const budget = z.strictObject({
  /** The cluster's budget when the run asked for equal total memory; null when it set a per-node budget. */
  totalBytes: count.nullable(),
  nodeBytes: z.number().int().positive(),
  nodes: z.number().int().positive(),
  policy: z.string(),
});

const nodeSnapshot = z.strictObject({
  memory: z.record(z.string(), nonNegative),
  detail: z.record(z.string(), z.record(z.string(), finite)),
  logicalBytes: nonNegative.nullable(),
  keyCount: nonNegative.nullable(),
  stats: z.record(z.string(), finite),
});

const snapshot = z.strictObject({ label: z.string(), tMs: finite, nodes: z.record(z.string(), nodeSnapshot) });

const memory = z.strictObject({
  samplers: z.array(samplerKind),
  /** The sampler whose numbers are "memory" in the report (working set first). */
  primary: samplerKind.nullable(),
  periodMs: z.number().int().positive(),
  notes: z.array(z.string()),
  truncated: z.boolean(),
  samples: z.array(z.strictObject({ tMs: finite, node: z.string(), sampler: samplerKind, bytes: nonNegative })),
  logical: z.array(z.strictObject({ tMs: finite, node: z.string(), logicalBytes: nonNegative.nullable(), keyCount: nonNegative.nullable() })),
  before: snapshot.nullable(),
  after: snapshot.nullable(),
  /**
   * One reading per restart, taken as soon as the node's new process was ready: that process's
   * baseline. Its memory after load is measured against this, never against the before-load
   * reading of the process that was killed.
   */
  restarts: z.array(z.strictObject({ node: z.string(), tMs: finite, reading: nodeSnapshot })),
});

const scalar = z.union([z.string(), z.number(), z.boolean()]);

const target = z.strictObject({
  kind: z.string(),
  label: z.string(),
  spec: z.string(),
  params: z.record(z.string(), scalar),
  idealOverhead: nonNegative.nullable(),
  logicalSource: z.string().nullable(),
  attached: z.boolean(),
  nodes: z.array(z.strictObject({ name: z.string(), address: z.string(), pid: z.number().int().nullable(), role: z.string().optional() })),
});

const workload = z.strictObject({
  name: z.string(),
  mix: z.strictObject({ read: nonNegative, update: nonNegative, insert: nonNegative, delete: nonNegative }),
  keyCount: count,
  distribution: z.enum(["uniform", "zipfian"]),
  valueSize: z.string(),
  /** Measured operations; null in a time-based run. */
  ops: count.nullable(),
  /** Length of a time-based measured phase; null when the phase was `ops` operations. */
  durationMs: z.number().int().positive().nullable(),
  warmupOps: count,
  concurrency: z.number().int().positive(),
  seed: z.number().int(),
  /** The cache workload: a read that found nothing was followed by a set of the key. */
  fillOnMiss: z.boolean(),
});

const failure = z.strictObject({
  text: z.string(),
  action: z.enum(["kill", "stop", "pause", "resume", "restart"]),
  node: z.string(),
  at: z.union([z.strictObject({ op: count }), z.strictObject({ ms: nonNegative })]),
  forMs: nonNegative.optional(),
});

const payload = z.strictObject({ keys: count, keyBytes: count, valueBytes: count, totalBytes: count, writtenBytes: count });

const run = z.strictObject({
  name: z.string(),
  /** Runs with the same group differ only in target: the report compares them side by side. */
  group: z.string(),
  variant: z.string(),
  /**
   * 1-based round of a repeated group (scenario `repeat`, `--repeat`): runs of one group and
   * target with different repeats are the same measurement taken again. Files written
   * before repeats existed have none: they parse as round 1.
   */
  repeat: z.number().int().min(1).default(1),
  status: z.enum(["ok", "skipped", "failed"]),
  reason: z.string().optional(),
  startedAt: z.string(),
  target,
  workload,
  failures: z.array(failure),
  preload: z.strictObject({ keys: count, errors: count, durationMs: nonNegative, firstError: z.string().nullable() }).nullable(),
  measured: measured.nullable(),
  payload: payload.nullable(),
  memory: memory.nullable(),
  cpu: cpu.nullable(),
  budget: budget.nullable(),
  events: z.array(runEvent),
});

export const benchResultsSchema = z.strictObject({
  schema: z.literal(BENCH_SCHEMA),
  startedAt: z.string(),
  finishedAt: z.string(),
  commit: z.strictObject({ id: z.string(), dirty: z.boolean().nullable() }),
  seed: z.number().int(),
  argv: z.array(z.string()),
  scenario: z.strictObject({ name: z.string(), file: z.string(), description: z.string() }).nullable(),
  environment: z.strictObject({
    node: z.string(),
    platform: z.string(),
    kernel: z.string(),
    arch: z.string(),
    cpus: count,
    cpuModel: z.string(),
    memoryBytes: count,
    root: z.boolean(),
    cgroup: z.string(),
    loadAverage: z.array(finite),
    tools: z.record(z.string(), z.string()),
  }),
  config: z.strictObject({
    memorySamplers: z.string(),
    memoryPeriodMs: z.number().int().positive(),
    settleMs: count,
    errorBackoffMs: count,
    preloadConcurrency: z.number().int().positive(),
    timelineBucketMs: z.number().int().positive(),
    cadvisor: z.string().nullable(),
    netdata: z.string().optional(),
    containers: z.record(z.string(), z.string()),
    /** Processes the workers ran in; 0: in the bench process itself. */
    clientProcesses: count,
  }),
  runs: z.array(run),
});

export type BenchResults = z.infer<typeof benchResultsSchema>;
export type BenchRun = z.infer<typeof run>;
export type RunMemory = z.infer<typeof memory>;
export type RunTarget = z.infer<typeof target>;
export type RunWorkload = z.infer<typeof workload>;
export type RunMeasured = z.infer<typeof measured>;
export type NodeSnapshotRecord = z.infer<typeof nodeSnapshot>;
export type RunCpu = z.infer<typeof cpu>;
export type RunBudget = z.infer<typeof budget>;

function describeIssues(error: z.ZodError, limit = 10): string {
  const lines = error.issues.slice(0, limit).map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(top level)"}: ${issue.message}`);
  if (error.issues.length > limit) lines.push(`... and ${error.issues.length - limit} more`);
  return lines.join("\n  ");
}

/**
 * A /2 document as /3: every run's workload gets `durationMs: null` (/2 phases were op
 * counts) and its memory `restarts: []` (/2 took no reading of a restarted process; the
 * report falls back to the node's first sample after the restart). Anything else is left for
 * the strict schema to judge. Returns a copy; `data` is not changed.
 */
function upgradeV2(data: Record<string, unknown>): Record<string, unknown> {
  const runs = data.runs;
  const upgradeRun = (run: unknown): unknown => {
    if (run === null || typeof run !== "object") return run;
    const copy = { ...(run as Record<string, unknown>) };
    if (copy.workload !== null && typeof copy.workload === "object" && !("durationMs" in copy.workload)) copy.workload = { ...copy.workload, durationMs: null };
    if (copy.memory !== null && typeof copy.memory === "object" && !("restarts" in copy.memory)) copy.memory = { ...copy.memory, restarts: [] };
    return copy;
  };
  return { ...data, schema: BENCH_SCHEMA_V3, runs: Array.isArray(runs) ? runs.map(upgradeRun) : runs };
}

/**
 * A /3 document as /4: no CPU figures and no budget per run, no cache counts (/3 had no cache
 * workload: `fillOnMiss` false), and the workers ran in the bench process (clientProcesses 0).
 * Returns a copy; `data` is not changed.
 */
function upgradeV3(data: Record<string, unknown>): Record<string, unknown> {
  const object = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);
  const upgradeRun = (run: unknown): unknown => {
    if (!object(run)) return run;
    const copy: Record<string, unknown> = { ...run };
    if (!("cpu" in copy)) copy.cpu = null;
    if (!("budget" in copy)) copy.budget = null;
    if (object(copy.workload) && !("fillOnMiss" in copy.workload)) copy.workload = { ...copy.workload, fillOnMiss: false };
    if (object(copy.measured) && !("cache" in copy.measured)) copy.measured = { ...copy.measured, cache: null };
    return copy;
  };
  const config = object(data.config) && !("clientProcesses" in data.config) ? { ...data.config, clientProcesses: 0 } : data.config;
  return { ...data, schema: BENCH_SCHEMA, config, runs: Array.isArray(data.runs) ? data.runs.map(upgradeRun) : data.runs };
}

/** Validates parsed JSON as a result document (/4, or /3 or /2 upgraded); throws a usage error naming the fields. */
export function validateResults(data: unknown, source: string): BenchResults {
  const schema = (data as { schema?: unknown } | null)?.schema;
  if (schema === BENCH_SCHEMA_V2) data = upgradeV2(data as Record<string, unknown>);
  if ((data as { schema?: unknown } | null)?.schema === BENCH_SCHEMA_V3) data = upgradeV3(data as Record<string, unknown>);
  else if (schema !== BENCH_SCHEMA) {
    throw new InvalidArgumentError(
      `${source}: schema is ${JSON.stringify(schema)}, expected "${BENCH_SCHEMA}" (or "${BENCH_SCHEMA_V3}", "${BENCH_SCHEMA_V2}")` +
        (schema === "ecc-cache.bench/1" ? " (files of the first bench carry summaries only; re-run `ecc-cache bench`)" : ""),
    );
  }
  const parsed = benchResultsSchema.safeParse(data);
  if (!parsed.success) throw new InvalidArgumentError(`${source}: not a valid ${BENCH_SCHEMA} document:\n  ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Validates, then writes (a document that does not validate is never written). */
export function writeResults(file: string, results: BenchResults): void {
  const parsed = benchResultsSchema.safeParse(results);
  if (!parsed.success) throw new Error(`internal: results do not match ${BENCH_SCHEMA}:\n  ${describeIssues(parsed.error)}`);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const temporary = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(temporary, JSON.stringify(results) + "\n");
  fs.renameSync(temporary, file);
}

export function readResults(file: string): BenchResults {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new InvalidArgumentError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`${file}: not JSON: ${(error as Error).message}`);
  }
  return validateResults(data, file);
}
