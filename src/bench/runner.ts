// Closed-loop load: `concurrency` workers each issue one operation at a time until
// warm-up + measured operations are done, or, for a time-based phase (durationMs), until the
// warm-up operations are done and then the measured phase has lasted durationMs (operations
// in flight at that moment still complete and count). Operations come from one seeded generator in
// issue order (workload.ts). Under the cache workload a read that finds nothing is followed
// at once, by the same worker, by a set of that key: both are operations of the run. Only
// measured operations are recorded (PhaseRecorder): latency per kind in HDR
// histograms (microseconds), a per-second timeline, and every error — counted by kind and
// message class, sampled with timestamps, and folded into unavailability windows (per
// class, read or write: from the first failure after a success to the next success).
// The workers run in this process, or in client processes (RemoteWorkers, client_pool.ts)
// that each issue every N-th operation of the same stream and report their completions,
// which are merged by end time and counted by the same recorder.
// Failures (failures.ts) fire when the N-th measured operation is issued or at a time after
// the measured phase began, without blocking the workers; each is logged as an event when
// it starts and when it is done; `onFailureDone` then lets the bench act on it (a restarted
// node's memory baseline is read right away).
import * as hdr from "hdr-histogram-js";
import { InvalidArgumentError, errorMessage } from "../core/errors";
import { Completion, CompletionStream, mergeByEndTime } from "./completions";
import { EventLog } from "./events";
import { FailureAction, FailureSpec, followUpOf } from "./failures";
import { LatencySummary, Timeline, TimelineBucket, encodeHistogram, latencyUs, newLatencyHistogram, summarize } from "./histogram";
import { sleep } from "../core/env";
import { BenchClient, ClusterHandle } from "./target";
import { LivePayload, OpKind, Operation, OperationGenerator, OperationTable, ValuePool, WorkloadSpec, preloadPlan } from "./workload";

export const ERROR_SAMPLES_MAX = 50;
export const ERROR_CLASSES_MAX = 50;
const PRELOAD_ATTEMPTS = 3;

export type LatencyKey = OpKind | "all" | "error";

export interface ErrorClass {
  kind: OpKind;
  message: string;
  count: number;
  firstMs: number;
  lastMs: number;
}

export interface ErrorSample {
  tMs: number;
  kind: OpKind;
  key: string;
  message: string;
}

export interface UnavailabilityWindow {
  kind: "read" | "write";
  startMs: number;
  endMs: number;
  errors: number;
  /** Still failing when the measured phase ended. */
  ongoing: boolean;
}

export interface MeasuredResult {
  /** Times in ms since the run origin (the EventLog's clock). */
  startMs: number;
  endMs: number;
  durationMs: number;
  ops: number;
  okOps: number;
  errors: number;
  warmupOps: number;
  /** Errors of warm-up operations (not in latency or timeline, but not hidden either). */
  warmupErrors: number;
  opsPerSecond: number;
  latency: Record<string, LatencySummary & { hdr: string }>;
  /** Buckets in ms since startMs. */
  timeline: TimelineBucket[];
  errorClasses: ErrorClass[];
  errorSamples: ErrorSample[];
  /** Windows in ms since the run origin. */
  unavailability: UnavailabilityWindow[];
  /**
   * Per class (read / write), the longest time without a successful completion: from the
   * start (or a success) to the next success (or the end). Shows stalls where operations
   * wait instead of failing (e.g. while a cluster changes its membership).
   */
  longestGaps: Array<{ kind: "read" | "write"; startMs: number; endMs: number }>;
  /** Hits and misses of the cache workload; null for the other workloads. */
  cache: CacheCounts | null;
}

export interface ProgressSink {
  update(done: number, errors: number): void;
}

/** What the failure scheduler needs of a cluster. */
export type FaultTarget = Pick<ClusterHandle, "kill" | "stopNode" | "pause" | "resume" | "restart">;

export interface PreloadResult {
  keys: number;
  errors: number;
  durationMs: number;
  firstError: string | null;
}

/** Writes key0..key{keyCount-1} (sizes from the workload's value size, seeded) so reads and updates find them. */
export async function preload(
  client: BenchClient,
  spec: WorkloadSpec,
  values: ValuePool,
  payload: LivePayload,
  concurrency: number,
  progress?: ProgressSink,
  interrupted: () => boolean = () => false,
): Promise<PreloadResult> {
  const plan = preloadPlan(spec);
  const started = performance.now();
  let done = 0;
  let errors = 0;
  let firstError: string | null = null;
  const worker = async (): Promise<void> => {
    for (let item = plan.next(); !item.done && !interrupted(); item = plan.next()) {
      const { key, valueBytes, index } = item.value;
      for (let attempt = 1; attempt <= PRELOAD_ATTEMPTS; attempt++) {
        try {
          await client.set(key, values.value(valueBytes, index));
          payload.set(key, valueBytes);
          break;
        } catch (error) {
          if (attempt === PRELOAD_ATTEMPTS) {
            errors++;
            firstError ??= `${key}: ${errorMessage(error)}`;
          } else {
            await sleep(10 * attempt);
          }
        }
      }
      done++;
      progress?.update(done, errors);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return { keys: done - errors, errors, durationMs: Math.round(performance.now() - started), firstError };
}

/** Replaces digits and long hex runs so "timed out after 2000 ms" and keys group together. */
export function errorClassOf(message: string): string {
  return message
    .replace(/key\d+/g, "keyN")
    .replace(/\b[0-9a-f]{12,}\b/gi, "<id>")
    .replace(/\d+/g, "N")
    .slice(0, 200);
}

class FailureScheduler {
  /** Armed timers and what each would do (reported as cancelled if the run ends first). */
  private readonly timers = new Map<NodeJS.Timeout, { node: string; what: string }>();
  private readonly pending = new Set<Promise<void>>();
  private readonly fired = new Set<FailureSpec>();
  private stopped = false;

  constructor(
    private readonly specs: FailureSpec[],
    private readonly faults: FaultTarget | null,
    private readonly events: EventLog,
    private readonly onDone: ((action: FailureAction, node: string) => Promise<void>) | null,
  ) {}

  /** Arms the time triggers; called when the measured phase begins. */
  begin(): void {
    for (const spec of this.specs) {
      if ("ms" in spec.at) {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.fire(spec, spec.action, spec.text);
        }, spec.at.ms);
        this.timers.set(timer, { node: spec.node, what: spec.text });
      }
    }
  }

  beforeOp(measuredIndex: number): void {
    for (const spec of this.specs) {
      if ("op" in spec.at && spec.at.op === measuredIndex) this.fire(spec, spec.action, spec.text);
    }
  }

  /** Cancels what has not fired, waits for actions in progress. */
  async end(): Promise<void> {
    this.stopped = true;
    for (const [timer, armed] of this.timers) {
      clearTimeout(timer);
      if (!armed.what.startsWith("restart after") && !armed.what.startsWith("resume after")) continue;
      this.events.record("failure.cancelled", armed.node, `${armed.what}: the measured phase ended first`);
    }
    this.timers.clear();
    for (const spec of this.specs) {
      if (!this.fired.has(spec)) this.events.record("failure.not_reached", spec.node, spec.text);
    }
    await Promise.all([...this.pending]);
  }

  private fire(spec: FailureSpec, action: FailureAction, text: string): void {
    if (this.stopped) {
      this.events.record("failure.cancelled", spec.node, `${action} (${text}): the measured phase had ended`);
      return;
    }
    this.fired.add(spec);
    this.events.record(`failure.${action}`, spec.node, text);
    const run = (async () => {
      if (this.faults === null) throw new Error("this cluster cannot inject faults");
      const started = performance.now();
      await this.faults[action === "stop" ? "stopNode" : action](spec.node);
      this.events.record(`failure.${action}.done`, spec.node, `${Math.round(performance.now() - started)} ms`);
      if (this.onDone !== null) await this.onDone(action, spec.node);
      const followUp = followUpOf(action);
      if (followUp !== null && spec.forMs !== undefined && action === spec.action) {
        const what = `${followUp} after ${spec.forMs} ms (${spec.text})`;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.fire(spec, followUp, what);
        }, spec.forMs);
        this.timers.set(timer, { node: spec.node, what });
      }
    })().catch((error: unknown) => {
      this.events.record(`failure.${action}.failed`, spec.node, errorMessage(error));
    });
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }
}

/** Hits and misses of the cache workload's reads, and the sets that followed the misses. */
export interface CacheCounts {
  /** Measured reads that returned a value. */
  hits: number;
  /** Measured reads that found nothing (each followed by a set). */
  misses: number;
  /** hits ÷ (hits + misses); null when no read succeeded. */
  hitRatio: number | null;
  /** Measured sets after a miss that succeeded / failed. */
  fills: number;
  fillErrors: number;
  /** The same during the warm-up, which fills the cold cache. */
  warmupHits: number;
  warmupMisses: number;
}

/**
 * The accounting of one run's operations, fed in the order they completed (in-process workers
 * call it as they go; completions from client processes are merged by end time first).
 * Warm-up completions only count and change the payload; measured ones fill the histograms,
 * the timeline, the error classes and samples, the unavailability windows and the longest
 * gaps. One home for all of it, so a run counts the same however its load was generated.
 */
export class PhaseRecorder {
  private readonly histograms = new Map<LatencyKey, hdr.Histogram>();
  private readonly timeline: Timeline;
  private readonly errorClasses = new Map<string, ErrorClass>();
  private readonly errorSamples: ErrorSample[] = [];
  private readonly unavailability: UnavailabilityWindow[] = [];
  private readonly openWindows: Record<"read" | "write", { startMs: number; errors: number } | null> = { read: null, write: null };
  private readonly lastOk: Record<"read" | "write", number> = { read: 0, write: 0 };
  private readonly issuedClass: Record<"read" | "write", boolean> = { read: false, write: false };
  private readonly longest: Record<"read" | "write", { startMs: number; endMs: number } | null> = { read: null, write: null };
  private readonly cache: CacheCounts | null;
  private startRunMs = -1;
  private lastEndRunMs = -Infinity;
  measuredDone = 0;
  okOps = 0;
  errors = 0;
  warmupDone = 0;
  warmupErrors = 0;

  constructor(
    private readonly payload: LivePayload,
    timelineBucketMs: number,
    fillOnMiss: boolean,
  ) {
    this.timeline = new Timeline(timelineBucketMs);
    this.cache = fillOnMiss ? { hits: 0, misses: 0, hitRatio: null, fills: 0, fillErrors: 0, warmupHits: 0, warmupMisses: 0 } : null;
    this.histogramOf("all");
  }

  get began(): boolean {
    return this.startRunMs >= 0;
  }

  /** When the measured phase began (ms since the run's origin); -1 before. */
  get startMs(): number {
    return this.startRunMs;
  }

  /** The measured phase began at `startRunMs` (ms since the run's origin). */
  begin(startRunMs: number): void {
    this.startRunMs = startRunMs;
    this.lastOk.read = this.lastOk.write = startRunMs;
  }

  /** One completed operation; `op` is operation `completion.index` of the stream. */
  record(op: Operation, completion: Completion): void {
    const kind: OpKind = completion.fill ? "update" : op.kind;
    const ok = completion.ok;
    if (ok) {
      if (kind === "update" || kind === "insert") this.payload.set(op.key, op.valueBytes);
      else if (kind === "delete") this.payload.delete(op.key);
    }
    if (this.cache !== null && completion.hit !== null) {
      if (!completion.measured) {
        if (completion.hit) this.cache.warmupHits++;
        else this.cache.warmupMisses++;
      } else if (completion.hit) this.cache.hits++;
      else this.cache.misses++;
    }
    if (!completion.measured) {
      this.warmupDone++;
      if (!ok) this.warmupErrors++;
      return;
    }
    if (this.cache !== null && completion.fill) {
      if (ok) this.cache.fills++;
      else this.cache.fillErrors++;
    }
    const nowRun = completion.tEndRunMs;
    const us = completion.latencyUs;
    const kindClass = kind === "read" ? "read" : "write";
    this.lastEndRunMs = Math.max(this.lastEndRunMs, nowRun);
    this.measuredDone++;
    this.issuedClass[kindClass] = true;
    const elapsedMeasure = nowRun - this.startRunMs;
    if (ok) {
      this.okOps++;
      this.noteGap(kindClass, nowRun);
      this.lastOk[kindClass] = nowRun;
      this.histogramOf(kind).recordValue(us);
      this.histogramOf("all").recordValue(us);
      this.timeline.record(elapsedMeasure, kindClass, true, us);
      const open = this.openWindows[kindClass];
      if (open !== null) {
        this.unavailability.push({ kind: kindClass, startMs: round1(open.startMs), endMs: round1(nowRun), errors: open.errors, ongoing: false });
        this.openWindows[kindClass] = null;
      }
      return;
    }
    this.errors++;
    this.histogramOf("error").recordValue(us);
    this.timeline.record(elapsedMeasure, kindClass, false, us);
    const message = completion.error ?? "unknown error";
    const classKey = `${kind}\u0000${errorClassOf(message)}`;
    let entry = this.errorClasses.get(classKey);
    if (entry === undefined && this.errorClasses.size >= ERROR_CLASSES_MAX) {
      entry = this.errorClasses.get(`${kind}\u0000(other)`);
      if (entry === undefined) {
        entry = { kind, message: "(other)", count: 0, firstMs: round1(nowRun), lastMs: round1(nowRun) };
        this.errorClasses.set(`${kind}\u0000(other)`, entry);
      }
    } else if (entry === undefined) {
      entry = { kind, message: errorClassOf(message), count: 0, firstMs: round1(nowRun), lastMs: round1(nowRun) };
      this.errorClasses.set(classKey, entry);
    }
    entry.count++;
    entry.lastMs = round1(nowRun);
    if (this.errorSamples.length < ERROR_SAMPLES_MAX) this.errorSamples.push({ tMs: round1(nowRun), kind, key: op.key, message: message.slice(0, 500) });
    const open = this.openWindows[kindClass];
    if (open === null) this.openWindows[kindClass] = { startMs: nowRun, errors: 1 };
    else open.errors++;
  }

  /** The measured phase's result; call once, after the last completion. */
  result(warmupOps: number): MeasuredResult {
    const startRun = this.startRunMs;
    const endRun = Math.max(this.lastEndRunMs, startRun);
    const longestGaps: MeasuredResult["longestGaps"] = [];
    for (const kind of ["read", "write"] as const) {
      const open = this.openWindows[kind];
      if (open !== null) this.unavailability.push({ kind, startMs: round1(open.startMs), endMs: round1(endRun), errors: open.errors, ongoing: true });
      if (!this.issuedClass[kind]) continue;
      this.noteGap(kind, endRun);
      longestGaps.push({ kind, ...this.longest[kind]! });
    }
    const durationMs = endRun - startRun;
    const latency: Record<string, LatencySummary & { hdr: string }> = {};
    for (const [key, histogram] of this.histograms) {
      if (histogram.totalCount === 0 && key !== "all") continue;
      latency[key] = { ...summarize(histogram), hdr: encodeHistogram(histogram) };
    }
    this.unavailability.sort((a, b) => a.startMs - b.startMs);
    const cache = this.cache === null ? null : { ...this.cache, hitRatio: this.cache.hits + this.cache.misses === 0 ? null : this.cache.hits / (this.cache.hits + this.cache.misses) };
    return {
      startMs: round1(startRun),
      endMs: round1(endRun),
      durationMs: round1(durationMs),
      ops: this.measuredDone,
      okOps: this.okOps,
      errors: this.errors,
      warmupOps,
      warmupErrors: this.warmupErrors,
      opsPerSecond: durationMs > 0 ? Math.round(this.okOps / (durationMs / 1000)) : 0,
      latency,
      timeline: this.timeline.buckets(durationMs),
      errorClasses: [...this.errorClasses.values()].sort((a, b) => b.count - a.count),
      errorSamples: this.errorSamples,
      unavailability: this.unavailability,
      longestGaps,
      cache,
    };
  }

  private histogramOf(key: LatencyKey): hdr.Histogram {
    let histogram = this.histograms.get(key);
    if (histogram === undefined) {
      histogram = newLatencyHistogram();
      this.histograms.set(key, histogram);
    }
    return histogram;
  }

  private noteGap(kind: "read" | "write", endMs: number): void {
    const current = this.longest[kind];
    if (current === null || endMs - this.lastOk[kind] > current.endMs - current.startMs) this.longest[kind] = { startMs: round1(this.lastOk[kind]), endMs: round1(endMs) };
  }
}

/**
 * Issues one operation (or, with `fill`, the set that follows a miss of it) and returns its
 * completion. `runOffsetMs` turns this process's performance.now() into ms since the run's
 * origin. Never throws for the operation's own failure.
 */
export async function performOperation(
  client: BenchClient,
  op: Operation,
  index: number,
  measured: boolean,
  fill: boolean,
  values: ValuePool,
  runOffsetMs: number,
): Promise<Completion> {
  let error: string | null = null;
  let hit: boolean | null = null;
  const t0 = performance.now();
  try {
    if (fill || op.kind === "update" || op.kind === "insert") await client.set(op.key, values.value(op.valueBytes, index));
    else if (op.kind === "read") hit = (await client.get(op.key)) !== null;
    else await client.del(op.key);
  } catch (failure) {
    error = errorMessage(failure);
  }
  const t1 = performance.now();
  return { index, fill, measured, ok: error === null, hit, tEndRunMs: t1 + runOffsetMs, latencyUs: latencyUs(t0, t1), error };
}

/**
 * Workers in other processes (client_pool.ts): runMeasured drives them phase by phase and
 * counts what they report with the same PhaseRecorder as its own workers.
 */
export interface RemoteWorkers {
  /** Every process does its share of the warm-up; resolves once all are done. */
  warmUp(progress: ProgressSink | undefined, interrupted: () => boolean): Promise<void>;
  /**
   * Starts the measured phase at `startRunMs` (ms since the run's origin; a time-based phase
   * ends its duration later, each process knows it); resolves once every process finished
   * its share, with each process's completions (warm-up included).
   */
  measure(startRunMs: number, progress: ProgressSink | undefined, interrupted: () => boolean): Promise<CompletionStream[]>;
}

export interface MeasureOptions {
  client: BenchClient;
  spec: WorkloadSpec;
  /** Measured operations (ignored when durationMs is set). */
  ops: number;
  /** A time-based measured phase of this length; null or absent: `ops` operations. */
  durationMs?: number | null;
  warmupOps: number;
  concurrency: number;
  values: ValuePool;
  payload: LivePayload;
  failures: FailureSpec[];
  faults: FaultTarget | null;
  events: EventLog;
  /** Pause of a worker after a failed operation, so a dead cluster is not spun against. */
  errorBackoffMs: number;
  warmupProgress?: ProgressSink;
  progress?: ProgressSink;
  /** Checked before each operation: true stops issuing (Ctrl-C). */
  interrupted?: () => boolean;
  /** Timeline bucket (default one second). */
  timelineBucketMs?: number;
  /** Called after a failure action completed (its `.done` event is recorded first). */
  onFailureDone?(action: FailureAction, node: string): Promise<void>;
  /** The workers run in these processes instead of this one (`client` is then unused). */
  remote?: RemoteWorkers | null;
  /** Called when the measured phase begins and once its last operation completed (CPU sampling). */
  onMeasureBegin?(): void;
  onMeasureEnd?(): Promise<void> | void;
}

export async function runMeasured(options: MeasureOptions): Promise<MeasuredResult> {
  const { client, spec, ops, warmupOps, concurrency, values, payload, events } = options;
  const phaseMs = options.durationMs ?? null;
  const remote = options.remote ?? null;
  const opTriggered = options.failures.filter((failure) => "op" in failure.at);
  if (remote !== null && opTriggered.length > 0) {
    throw new InvalidArgumentError(`failures at op=N need the workers in the bench process (${opTriggered.map((f) => f.text).join(", ")}); with client processes use t=DURATION`);
  }
  const recorder = new PhaseRecorder(payload, options.timelineBucketMs ?? 1_000, spec.fillOnMiss === true);
  const scheduler = new FailureScheduler(options.failures, options.faults, events, options.onFailureDone ?? null);
  const interrupted = options.interrupted ?? (() => false);
  if (warmupOps > 0) events.record("phase.warmup.begin", undefined, `${warmupOps} ops`);
  const beginMeasure = (): void => {
    recorder.begin(events.elapsedMs());
    events.record("phase.measure.begin", undefined, `${phaseMs === null ? `${ops} ops` : `${phaseMs} ms`}, concurrency ${concurrency}`);
    options.onMeasureBegin?.();
    scheduler.begin();
  };

  if (remote !== null) {
    await remote.warmUp(options.warmupProgress, interrupted);
    beginMeasure();
    const streams = await remote.measure(recorder.startMs, options.progress, interrupted);
    await options.onMeasureEnd?.();
    const table = new OperationTable(spec);
    mergeByEndTime(streams, (completion) => recorder.record(table.at(completion.index), completion));
  } else {
    const generator = new OperationGenerator(spec);
    const total = warmupOps + ops;
    let issued = 0;
    let measureStart = -1; // performance.now() when the first measured op was issued
    let progressDone = 0;
    // Whether another operation may be issued: the op count, or the clock once measuring began.
    const more = (): boolean => {
      if (interrupted()) return false;
      if (phaseMs === null) return issued < total;
      return issued < warmupOps || measureStart < 0 || performance.now() - measureStart < phaseMs;
    };
    const runOffsetMs = -events.originMs;
    const worker = async (): Promise<void> => {
      while (more()) {
        const index = issued++;
        const measured = index >= warmupOps;
        if (measured) {
          if (measureStart < 0) {
            measureStart = performance.now();
            beginMeasure();
          }
          scheduler.beforeOp(index - warmupOps);
        }
        const op = generator.next();
        const done = await performOperation(client, op, index, measured, false, values, runOffsetMs);
        recorder.record(op, done);
        let failed = !done.ok;
        if (spec.fillOnMiss === true && done.hit === false) {
          const filled = await performOperation(client, op, index, measured, true, values, runOffsetMs);
          recorder.record(op, filled);
          failed = !filled.ok;
        }
        if (measured) options.progress?.update(++progressDone, recorder.errors);
        else options.warmupProgress?.update(recorder.warmupDone, recorder.warmupErrors);
        if (failed && options.errorBackoffMs > 0) await sleep(options.errorBackoffMs);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    if (!recorder.began) beginMeasure(); // ops = 0
    await options.onMeasureEnd?.();
  }
  const result = recorder.result(warmupOps);
  // At the last completion: counting completions from client processes comes after it.
  events.record("phase.measure.end", undefined, `${result.okOps} ok, ${result.errors} errors`, remote === null ? undefined : result.endMs);
  await scheduler.end();
  return result;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
