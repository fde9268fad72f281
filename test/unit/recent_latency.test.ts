// RecentLatencies: the percentile of the last 256 latencies, null until 32 are in, following
// a shift in latency within one window.
import assert from "node:assert/strict";
import { RecentLatencies } from "../../src/core/recent_latency";

describe("RecentLatencies", () => {
  it("says nothing until 32 samples are in, then gives the percentile of the window", () => {
    const window = new RecentLatencies(95);
    for (let i = 0; i < 31; i++) window.record(1);
    assert.equal(window.percentile(), null);
    window.record(1);
    assert.equal(window.percentile(), 1);
    const fresh = new RecentLatencies(90);
    for (let i = 1; i <= 100; i++) fresh.record(i);
    assert.equal(fresh.percentile(), 91);
  });

  it("follows a shift: after a window of slow reads the percentile is slow; bad samples are ignored", () => {
    const window = new RecentLatencies(50);
    for (let i = 0; i < 256; i++) window.record(2);
    assert.equal(window.percentile(), 2);
    for (let i = 0; i < 256; i++) window.record(40);
    assert.equal(window.percentile(), 40);
    window.record(Number.NaN);
    window.record(-1);
    window.record(Number.POSITIVE_INFINITY);
    assert.equal(window.percentile(), 40);
    assert.throws(() => new RecentLatencies(100));
  });
});
