// Closed-loop load: `concurrency` workers each issue one operation at a time until `ops`
// operations are done. Latency per operation kind goes into HDR histograms (microseconds);
// errors are counted, never hidden.
import * as hdr from "hdr-histogram-js";
import { errorMessage } from "../core/errors";
import { BenchTarget } from "./target";
import { OperationGenerator, OpKind, WorkloadSpec, keyName, valueFor } from "./workload";

export interface LatencySummary {
  count: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  meanUs: number;
}

export interface RunSummary {
  workload: string;
  ops: number;
  concurrency: number;
  durationMs: number;
  opsPerSecond: number;
  errors: number;
  errorSamples: string[];
  latency: Record<string, LatencySummary>;
}

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

export function summarize(histogram: hdr.Histogram): LatencySummary {
  return {
    count: histogram.totalCount,
    p50Us: histogram.getValueAtPercentile(50),
    p90Us: histogram.getValueAtPercentile(90),
    p99Us: histogram.getValueAtPercentile(99),
    p999Us: histogram.getValueAtPercentile(99.9),
    maxUs: histogram.maxValue,
    meanUs: Math.round(histogram.mean),
  };
}

/** Writes keys key0..key{count-1} so reads and updates find them. */
export async function preload(target: BenchTarget, keyCount: number, valueBytes: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keyCount) {
      const index = next++;
      await target.set(keyName(index), valueFor(valueBytes, index));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

export async function runWorkload(target: BenchTarget, spec: WorkloadSpec, ops: number, concurrency: number): Promise<RunSummary> {
  const generator = new OperationGenerator(spec);
  const histograms = new Map<OpKind | "all", hdr.Histogram>();
  const histogramOf = (kind: OpKind | "all"): hdr.Histogram => {
    let histogram = histograms.get(kind);
    if (histogram === undefined) {
      histogram = newHistogram();
      histograms.set(kind, histogram);
    }
    return histogram;
  };
  const all = histogramOf("all");
  const values = [valueFor(spec.valueBytes, 1), valueFor(spec.valueBytes, 2), valueFor(spec.valueBytes, 3)];
  let issued = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (issued < ops) {
      issued++;
      const op = generator.next();
      const t0 = performance.now();
      try {
        if (op.kind === "read") await target.get(op.key);
        else if (op.kind === "delete") await target.del(op.key);
        else await target.set(op.key, values[issued % values.length]);
        const us = Math.max(1, Math.round((performance.now() - t0) * 1000));
        histogramOf(op.kind).recordValue(us);
        all.recordValue(us);
      } catch (error) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push(`${op.kind} ${op.key}: ${errorMessage(error)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const durationMs = performance.now() - started;
  const latency: Record<string, LatencySummary> = {};
  for (const [kind, histogram] of histograms) latency[kind] = summarize(histogram);
  return {
    workload: spec.name,
    ops,
    concurrency,
    durationMs: Math.round(durationMs),
    opsPerSecond: Math.round((ops - errors) / (durationMs / 1000)),
    errors,
    errorSamples,
    latency,
  };
}
