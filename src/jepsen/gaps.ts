// How long clients went without a success: per class of operation (reads, writes), the
// longest stretch of the workload phase in which no operation of that class completed
// successfully, and when it began. Issue 18's target is read in these terms: with at most
// n-k nodes faulty at a time, reads never go more than 1 s and writes more than 2 s without
// a success. Final reads (client "final") and the cluster's own drops ("expire") are left
// out: they are not the workload's clients.
import type { History } from "../check/history";

export interface Gap {
  /** Length of the longest stretch without a success, in ms. */
  ms: number;
  /** When it began, ms since the workload started (a success, or the start of the phase). */
  fromMs: number;
  /** Successes of the class in the phase. */
  successes: number;
}

export interface LongestGaps {
  reads: Gap;
  writes: Gap;
}

/** Longest gaps over [0, phaseEndMs] of the recorder's clock (the workload phase). */
export function longestGaps(history: History, phaseEndMs: number): LongestGaps {
  const completions = { reads: [] as number[], writes: [] as number[] };
  for (const operation of history) {
    if (operation.status !== "ok" || operation.returnMs === null || operation.clientId === "final" || operation.kind === "expire") continue;
    if (operation.returnMs > phaseEndMs) continue;
    (operation.kind === "get" ? completions.reads : completions.writes).push(operation.returnMs);
  }
  return { reads: longest(completions.reads, phaseEndMs), writes: longest(completions.writes, phaseEndMs) };
}

function longest(times: number[], phaseEndMs: number): Gap {
  times.sort((a, b) => a - b);
  let gap: Gap = { ms: 0, fromMs: 0, successes: times.length };
  let previous = 0;
  for (const time of [...times, phaseEndMs]) {
    if (time - previous > gap.ms) gap = { ms: time - previous, fromMs: previous, successes: times.length };
    previous = Math.max(previous, time);
  }
  return gap;
}
