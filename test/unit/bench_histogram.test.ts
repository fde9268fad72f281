// Latency histograms and timelines of the bench (src/bench/histogram.ts).
// Checks, on known inputs: percentile summaries of a uniform 1..10,000 µs sample match the
// exact order statistics within HDR's 3 significant digits; an empty histogram summarizes
// to zeros; the compressed base64 form decodes to the same counts and percentiles; CDF points
// rise monotonically to the maximum; the per-second timeline counts ok and failed
// operations in the right buckets, pads a trailing stall with empty buckets and gives the
// last, partial bucket its true length.
import assert from "node:assert/strict";
import {
  Timeline,
  cdfPoints,
  decodeHistogram,
  encodeHistogram,
  latencyUs,
  newLatencyHistogram,
  summarize,
} from "../../src/bench/histogram";

function near(actual: number, expected: number, relative = 0.001): void {
  assert.ok(Math.abs(actual - expected) <= expected * relative + 1, `${actual} is not within ${relative * 100}% of ${expected}`);
}

describe("bench histograms", () => {
  it("summarizes a uniform 1..10000 µs sample to its order statistics", () => {
    const histogram = newLatencyHistogram();
    for (let us = 1; us <= 10_000; us++) histogram.recordValue(us);
    const summary = summarize(histogram);
    assert.equal(summary.count, 10_000);
    assert.equal(summary.minUs, 1);
    near(summary.p50Us, 5_000);
    near(summary.p90Us, 9_000);
    near(summary.p99Us, 9_900);
    near(summary.p999Us, 9_990);
    near(summary.maxUs, 10_000);
    near(summary.meanUs, 5_000);
  });

  it("an empty histogram summarizes to zeros", () => {
    assert.deepEqual(summarize(newLatencyHistogram()), { count: 0, minUs: 0, meanUs: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 });
    assert.deepEqual(cdfPoints(newLatencyHistogram()), []);
  });

  it("round-trips through the compressed base64 form", () => {
    const histogram = newLatencyHistogram();
    for (let i = 0; i < 5_000; i++) histogram.recordValue(100 + ((i * 7919) % 50_000));
    histogram.recordValue(2_000_000);
    const decoded = decodeHistogram(encodeHistogram(histogram));
    assert.equal(decoded.totalCount, histogram.totalCount);
    for (const p of [50, 90, 99, 99.9, 100]) assert.equal(decoded.getValueAtPercentile(p), histogram.getValueAtPercentile(p));
  });

  it("CDF points rise monotonically and end at the maximum", () => {
    const histogram = newLatencyHistogram();
    for (let i = 1; i <= 1_000; i++) histogram.recordValue(i * i);
    const points = cdfPoints(histogram);
    for (let i = 1; i < points.length; i++) {
      assert.ok(points[i].percentile > points[i - 1].percentile);
      assert.ok(points[i].latencyUs >= points[i - 1].latencyUs);
    }
    assert.equal(points[points.length - 1].percentile, 100);
    near(points[points.length - 1].latencyUs, 1_000_000);
  });

  it("clamps recorded latencies into the histogram's range", () => {
    assert.equal(latencyUs(10, 10), 1);
    assert.equal(latencyUs(0, 1e9), 120_000_000);
    assert.equal(latencyUs(0, 1.5), 1_500);
  });

  it("timeline: counts per second, errors apart, trailing stall padded, partial last bucket", () => {
    const timeline = new Timeline(1_000);
    timeline.record(10, "read", true, 100);
    timeline.record(999, "write", true, 300);
    timeline.record(1_500, "read", false, 2_000_000);
    timeline.record(1_600, "read", true, 500);
    const buckets = timeline.buckets(4_250);
    assert.equal(buckets.length, 5);
    assert.deepEqual(
      buckets.map((b) => [b.startMs, b.durationMs, b.ops, b.errors, b.reads, b.writes]),
      [
        [0, 1_000, 2, 0, 1, 1],
        [1_000, 1_000, 1, 1, 1, 0],
        [2_000, 1_000, 0, 0, 0, 0],
        [3_000, 1_000, 0, 0, 0, 0],
        [4_000, 250, 0, 0, 0, 0],
      ],
    );
    near(buckets[0].maxUs, 300);
    near(buckets[1].p99Us, 500); // the failed operation's latency is not in the percentiles
  });
});
