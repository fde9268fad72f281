// Live progress on stderr: a cli-progress bar with the current ops/s (over the last second)
// and the error count, only when stderr is a terminal. Otherwise one line per phase, so
// logs and CI output stay readable.
import { SingleBar } from "cli-progress";
import { ProgressSink } from "./runner";

const RATE_WINDOW_MS = 1_000;
const REDRAW_MS = 100;

export interface PhaseProgress extends ProgressSink {
  finish(): void;
}

export class ProgressDisplay {
  constructor(
    readonly live: boolean,
    readonly quiet: boolean,
  ) {}

  /** A bar on a terminal; one line per phase otherwise; nothing when disabled. */
  static forStderr(enabled: boolean): ProgressDisplay {
    return new ProgressDisplay(enabled && process.stderr.isTTY === true, !enabled);
  }

  /** A phase of `total` operations: the bar counts operations. */
  phase(runName: string, phase: string, total: number): PhaseProgress {
    return this.bar(runName, phase, `${total} ops`, total, "", (done) => done);
  }

  /** A time-based phase of `durationMs`: the bar counts seconds, the rate is still ops/s. */
  timedPhase(runName: string, phase: string, durationMs: number): PhaseProgress {
    const started = performance.now();
    const totalSeconds = Math.max(1, Math.round(durationMs / 1000));
    return this.bar(runName, phase, `${durationMs / 1000} s`, totalSeconds, " s", () => Math.min(totalSeconds, Math.floor((performance.now() - started) / 1000)));
  }

  private bar(runName: string, phase: string, size: string, total: number, unit: string, position: (done: number) => number): PhaseProgress {
    if (this.quiet) return { update: () => undefined, finish: () => undefined };
    if (!this.live) {
      process.stderr.write(`bench: ${runName}: ${phase} (${size})\n`);
      return { update: () => undefined, finish: () => undefined };
    }
    const bar = new SingleBar(
      {
        format: `${runName} ${phase.padEnd(7)} [{bar}] {value}/{total}${unit} | {rate} ops/s | errors {errors}`,
        stream: process.stderr,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        fps: 10,
      },
    );
    bar.start(total, 0, { rate: 0, errors: 0 });
    const window: Array<{ atMs: number; done: number }> = [{ atMs: performance.now(), done: 0 }];
    let lastDraw = 0;
    return {
      update(done: number, errors: number): void {
        const now = performance.now();
        const value = position(done);
        if (now - lastDraw < REDRAW_MS && value < total) return;
        lastDraw = now;
        window.push({ atMs: now, done });
        while (window.length > 2 && now - window[0].atMs > RATE_WINDOW_MS) window.shift();
        const first = window[0];
        const rate = now > first.atMs ? Math.round(((done - first.done) * 1000) / (now - first.atMs)) : 0;
        bar.update(value, { rate, errors });
      },
      finish(): void {
        bar.stop();
      },
    };
  }
}
