// The latencies of the last few hundred operations of one kind, and a percentile of them:
// what a read waits for before it hedges (asks one more node). A ring buffer, the percentile
// recomputed every RECOMPUTE_EVERY records (a sort of the window), so a record costs O(1)
// amortised a few comparisons. Null until the window holds MIN_SAMPLES: too few reads say
// nothing about what is late.
import assert from "node:assert/strict";

const WINDOW = 256;
const RECOMPUTE_EVERY = 32;
const MIN_SAMPLES = 32;

export class RecentLatencies {
  private readonly samples = new Float64Array(WINDOW);
  private count = 0;
  private sinceRecompute = 0;
  private cached: number | null = null;

  constructor(private readonly percentileValue: number) {
    assert(percentileValue > 0 && percentileValue < 100);
  }

  record(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    this.samples[this.count % WINDOW] = ms;
    this.count++;
    if (++this.sinceRecompute >= RECOMPUTE_EVERY) {
      this.sinceRecompute = 0;
      this.cached = null;
    }
  }

  /** The percentile of the window, in ms; null while it holds fewer than MIN_SAMPLES. */
  percentile(): number | null {
    const filled = Math.min(this.count, WINDOW);
    if (filled < MIN_SAMPLES) return null;
    if (this.cached === null) {
      const sorted = this.samples.slice(0, filled).sort();
      this.cached = sorted[Math.min(filled - 1, Math.floor((this.percentileValue / 100) * filled))];
    }
    return this.cached;
  }
}
