// Latency recording: HDR histograms in microseconds (3 significant digits, up to 120 s), one
// per operation kind plus "all", and a per-second timeline of throughput, errors and
// latency percentiles. Histograms are stored in results in HDR's compressed base64 form, so
// the report can draw full CDFs without keeping every sample.
import assert from "node:assert/strict";
import * as hdr from "hdr-histogram-js";

export const LATENCY_US_MAX = 120_000_000;

export interface LatencySummary {
  count: number;
  minUs: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

export function newLatencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: 3 });
}

/** Clamps to [1, LATENCY_US_MAX] so a recording never throws. */
export function latencyUs(startMs: number, endMs: number): number {
  const us = Math.round((endMs - startMs) * 1000);
  return Math.min(LATENCY_US_MAX, Math.max(1, us));
}

export function summarize(histogram: hdr.Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, minUs: 0, meanUs: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
  return {
    count: histogram.totalCount,
    minUs: histogram.minNonZeroValue,
    meanUs: Math.round(histogram.mean),
    p50Us: histogram.getValueAtPercentile(50),
    p90Us: histogram.getValueAtPercentile(90),
    p99Us: histogram.getValueAtPercentile(99),
    p999Us: histogram.getValueAtPercentile(99.9),
    maxUs: histogram.maxValue,
  };
}

export function encodeHistogram(histogram: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(encoded: string): hdr.Histogram {
  return hdr.decodeFromCompressedBase64(encoded);
}

/** Percentiles at which a CDF is drawn: dense in the tail ("nines"). Integer steps, no float drift. */
export const CDF_PERCENTILES: readonly number[] = (() => {
  const points = new Set<number>();
  for (let i = 0; i < 36; i++) points.add(i * 2.5); // 0 .. 87.5
  for (let i = 0; i < 18; i++) points.add(90 + i * 0.5); // 90 .. 98.5
  for (let i = 0; i < 18; i++) points.add(Math.round((99 + i * 0.05) * 100) / 100); // 99 .. 99.85
  for (let i = 0; i < 9; i++) points.add(Math.round((99.9 + i * 0.01) * 1000) / 1000); // 99.9 .. 99.98
  for (const p of [99.99, 99.999, 100]) points.add(p);
  return [...points].sort((a, b) => a - b);
})();

/** [latencyUs, percentile] points of a histogram's CDF. */
export function cdfPoints(histogram: hdr.Histogram): Array<{ latencyUs: number; percentile: number }> {
  if (histogram.totalCount === 0) return [];
  return CDF_PERCENTILES.map((percentile) => ({ latencyUs: histogram.getValueAtPercentile(percentile), percentile }));
}

export interface TimelineBucket {
  /** Start of the bucket, ms since the start of the measured phase. */
  startMs: number;
  /** Length of the bucket: the bucket size, except for a last, partial one. */
  durationMs: number;
  ops: number;
  errors: number;
  reads: number;
  writes: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/**
 * Per-bucket (default one second) counts and latency percentiles of completed operations.
 * Buckets are indexed by completion time; an empty second still appears (ops = 0), so a
 * stall is visible as a gap to zero and not as a missing point.
 */
export class Timeline {
  private readonly counts: Array<{ ops: number; errors: number; reads: number; writes: number; histogram: hdr.Histogram | null }> = [];
  static readonly BUCKETS_MAX = 86_400;

  constructor(readonly bucketMs = 1_000) {
    assert(bucketMs > 0);
  }

  record(elapsedMs: number, kind: "read" | "write", ok: boolean, latencyUsValue: number): void {
    const index = Math.min(Timeline.BUCKETS_MAX - 1, Math.max(0, Math.floor(elapsedMs / this.bucketMs)));
    while (this.counts.length <= index) this.counts.push({ ops: 0, errors: 0, reads: 0, writes: 0, histogram: null });
    const bucket = this.counts[index];
    if (!ok) {
      bucket.errors++;
      return;
    }
    bucket.ops++;
    if (kind === "read") bucket.reads++;
    else bucket.writes++;
    if (bucket.histogram === null) bucket.histogram = newLatencyHistogram();
    bucket.histogram.recordValue(latencyUsValue);
  }

  /**
   * The buckets, padded with empty ones up to `untilMs` (the end of the measured phase) so a
   * trailing stall shows; the last bucket's duration ends at `untilMs`.
   */
  buckets(untilMs?: number): TimelineBucket[] {
    if (untilMs !== undefined) {
      const last = Math.min(Timeline.BUCKETS_MAX - 1, Math.floor(Math.max(0, untilMs - 1) / this.bucketMs));
      while (this.counts.length <= last) this.counts.push({ ops: 0, errors: 0, reads: 0, writes: 0, histogram: null });
    }
    return this.counts.map((bucket, index) => ({
      startMs: index * this.bucketMs,
      durationMs:
        untilMs !== undefined && index === this.counts.length - 1
          ? Math.max(1, Math.min(this.bucketMs, Math.round(untilMs - index * this.bucketMs)))
          : this.bucketMs,
      ops: bucket.ops,
      errors: bucket.errors,
      reads: bucket.reads,
      writes: bucket.writes,
      p50Us: bucket.histogram?.getValueAtPercentile(50) ?? 0,
      p99Us: bucket.histogram?.getValueAtPercentile(99) ?? 0,
      maxUs: bucket.histogram?.maxValue ?? 0,
    }));
  }
}
