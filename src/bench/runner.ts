// Closed-loop load: `concurrency` workers each issue one operation at a time until
// warm-up + measured operations are done, or, for a time-based phase (durationMs), until the
// warm-up operations are done and then the measured phase has lasted durationMs (operations
// in flight at that moment still complete and count). Operations come from one seeded generator in
// issue order (workload.ts). Only measured operations are recorded: latency per kind in HDR
// histograms (microseconds), a per-second timeline, and every error — counted by kind and
// message class, sampled with timestamps, and folded into unavailability windows (per
// class, read or write: from the first failure after a success to the next success).
// Failures (failures.ts) fire when the N-th measured operation is issued or at a time after
// the measured phase began, without blocking the workers; each is logged as an event when
// it starts and when it is done; `onFailureDone` then lets the bench act on it (a restarted
// node's memory baseline is read right away).
import * as hdr from "hdr-histogram-js";
import { errorMessage } from "../core/errors";
import { EventLog } from "./events";
import { FailureAction, FailureSpec, followUpOf } from "./failures";
import { LatencySummary, Timeline, TimelineBucket, encodeHistogram, latencyUs, newLatencyHistogram, summarize } from "./histogram";
import { sleep } from "../core/env";
import { BenchClient, ClusterHandle } from "./target";
import { LivePayload, OpKind, OperationGenerator, ValuePool, WorkloadSpec, preloadPlan } from "./workload";

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
}

export async function runMeasured(options: MeasureOptions): Promise<MeasuredResult> {
  const { client, spec, ops, warmupOps, concurrency, values, payload, events } = options;
  const phaseMs = options.durationMs ?? null;
  const generator = new OperationGenerator(spec);
  const histograms = new Map<LatencyKey, hdr.Histogram>();
  const histogramOf = (key: LatencyKey): hdr.Histogram => {
    let histogram = histograms.get(key);
    if (histogram === undefined) {
      histogram = newLatencyHistogram();
      histograms.set(key, histogram);
    }
    return histogram;
  };
  const all = histogramOf("all");
  const timeline = new Timeline(options.timelineBucketMs ?? 1_000);
  const scheduler = new FailureScheduler(options.failures, options.faults, events, options.onFailureDone ?? null);
  const errorClasses = new Map<string, ErrorClass>();
  const errorSamples: ErrorSample[] = [];
  const unavailability: UnavailabilityWindow[] = [];
  const openWindows: Record<"read" | "write", { startMs: number; errors: number } | null> = { read: null, write: null };
  const lastOk: Record<"read" | "write", number> = { read: 0, write: 0 };
  const issuedClass: Record<"read" | "write", boolean> = { read: false, write: false };
  const longest: Record<"read" | "write", { startMs: number; endMs: number } | null> = { read: null, write: null };
  const noteGap = (kind: "read" | "write", endMs: number): void => {
    const current = longest[kind];
    if (current === null || endMs - lastOk[kind] > current.endMs - current.startMs) longest[kind] = { startMs: round1(lastOk[kind]), endMs: round1(endMs) };
  };
  const total = warmupOps + ops;
  let issued = 0;
  let measuredDone = 0;
  let warmupDone = 0;
  let warmupErrors = 0;
  let okOps = 0;
  let errors = 0;
  let measureStart = -1; // performance.now() when the first measured op was issued
  let lastCompletion = 0;
  if (warmupOps > 0) events.record("phase.warmup.begin", undefined, `${warmupOps} ops`);

  const beginMeasure = (): void => {
    measureStart = performance.now();
    lastOk.read = lastOk.write = events.elapsedMs();
    events.record("phase.measure.begin", undefined, `${phaseMs === null ? `${ops} ops` : `${phaseMs} ms`}, concurrency ${concurrency}`);
    scheduler.begin();
  };

  const interrupted = options.interrupted ?? (() => false);
  // Whether another operation may be issued: the op count, or the clock once measuring began.
  const more = (): boolean => {
    if (interrupted()) return false;
    if (phaseMs === null) return issued < total;
    return issued < warmupOps || measureStart < 0 || performance.now() - measureStart < phaseMs;
  };
  const worker = async (): Promise<void> => {
    while (more()) {
      const index = issued++;
      const measured = index >= warmupOps;
      if (measured) {
        if (measureStart < 0) beginMeasure();
        scheduler.beforeOp(index - warmupOps);
      }
      const op = generator.next();
      const t0 = performance.now();
      let failure: unknown = null;
      try {
        if (op.kind === "read") await client.get(op.key);
        else if (op.kind === "delete") await client.del(op.key);
        else await client.set(op.key, values.value(op.valueBytes, index));
      } catch (error) {
        failure = error;
      }
      const t1 = performance.now();
      if (failure === null) {
        if (op.kind === "update" || op.kind === "insert") payload.set(op.key, op.valueBytes);
        else if (op.kind === "delete") payload.delete(op.key);
      }
      if (!measured) {
        warmupDone++;
        if (failure !== null) warmupErrors++;
        options.warmupProgress?.update(warmupDone, warmupErrors);
        if (failure !== null && options.errorBackoffMs > 0) await sleep(options.errorBackoffMs);
        continue;
      }
      const us = latencyUs(t0, t1);
      const elapsedMeasure = t1 - measureStart;
      const kindClass = op.kind === "read" ? "read" : "write";
      const nowRun = events.elapsedMs();
      lastCompletion = Math.max(lastCompletion, t1);
      measuredDone++;
      issuedClass[kindClass] = true;
      if (failure === null) {
        okOps++;
        noteGap(kindClass, nowRun);
        lastOk[kindClass] = nowRun;
        histogramOf(op.kind).recordValue(us);
        all.recordValue(us);
        timeline.record(elapsedMeasure, kindClass, true, us);
        const open = openWindows[kindClass];
        if (open !== null) {
          unavailability.push({ kind: kindClass, startMs: round1(open.startMs), endMs: round1(nowRun), errors: open.errors, ongoing: false });
          openWindows[kindClass] = null;
        }
      } else {
        errors++;
        histogramOf("error").recordValue(us);
        timeline.record(elapsedMeasure, kindClass, false, us);
        const message = errorMessage(failure);
        const classKey = `${op.kind}\u0000${errorClassOf(message)}`;
        let entry = errorClasses.get(classKey);
        if (entry === undefined && errorClasses.size >= ERROR_CLASSES_MAX) {
          entry = errorClasses.get(`${op.kind}\u0000(other)`);
          if (entry === undefined) {
            entry = { kind: op.kind, message: "(other)", count: 0, firstMs: round1(nowRun), lastMs: round1(nowRun) };
            errorClasses.set(`${op.kind}\u0000(other)`, entry);
          }
        } else if (entry === undefined) {
          entry = { kind: op.kind, message: errorClassOf(message), count: 0, firstMs: round1(nowRun), lastMs: round1(nowRun) };
          errorClasses.set(classKey, entry);
        }
        entry.count++;
        entry.lastMs = round1(nowRun);
        if (errorSamples.length < ERROR_SAMPLES_MAX) errorSamples.push({ tMs: round1(nowRun), kind: op.kind, key: op.key, message: message.slice(0, 500) });
        const open = openWindows[kindClass];
        if (open === null) openWindows[kindClass] = { startMs: nowRun, errors: 1 };
        else open.errors++;
      }
      options.progress?.update(measuredDone, errors);
      if (failure !== null && options.errorBackoffMs > 0) await sleep(options.errorBackoffMs);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  if (measureStart < 0) beginMeasure(); // ops = 0
  const endNow = Math.max(lastCompletion, measureStart);
  const endRun = events.elapsedMs() - (performance.now() - endNow);
  const longestGaps: MeasuredResult["longestGaps"] = [];
  for (const kind of ["read", "write"] as const) {
    const open = openWindows[kind];
    if (open !== null) unavailability.push({ kind, startMs: round1(open.startMs), endMs: round1(endRun), errors: open.errors, ongoing: true });
    if (!issuedClass[kind]) continue;
    noteGap(kind, endRun);
    longestGaps.push({ kind, ...longest[kind]! });
  }
  events.record("phase.measure.end", undefined, `${okOps} ok, ${errors} errors`);
  await scheduler.end();
  const durationMs = endNow - measureStart;
  const startRun = endRun - durationMs;
  const latency: Record<string, LatencySummary & { hdr: string }> = {};
  for (const [key, histogram] of histograms) {
    if (histogram.totalCount === 0 && key !== "all") continue;
    latency[key] = { ...summarize(histogram), hdr: encodeHistogram(histogram) };
  }
  unavailability.sort((a, b) => a.startMs - b.startMs);
  return {
    startMs: round1(startRun),
    endMs: round1(endRun),
    durationMs: round1(durationMs),
    ops: measuredDone,
    okOps,
    errors,
    warmupOps,
    warmupErrors,
    opsPerSecond: durationMs > 0 ? Math.round(okOps / (durationMs / 1000)) : 0,
    latency,
    timeline: timeline.buckets(durationMs),
    errorClasses: [...errorClasses.values()].sort((a, b) => b.count - a.count),
    errorSamples,
    unavailability,
    longestGaps,
  };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
