// The nemesis schedule: which faults happen when, derived from one seed and nothing else.
//
// A schedule is a list of fault windows. A window holds a fault on a set of nodes from
// `startMs` for `holdMs` (then the fault is undone: restart, SIGCONT, heal) and counts those
// nodes as faulty for `recoveryMs` more, because a node that was just restarted, resumed or
// reconnected is not yet a full member (an ecc node must rebuild its shards and be promoted
// first; a raft node must catch up). The generator keeps, at every instant, the number of
// nodes covered by some window (start to end of recovery) at or below the fault budget:
// ecc tolerates n - k faulty nodes, raft a minority.
//
// Pure: no clock, no processes. The runner (nemesis.ts) carries a schedule out against real
// processes and checks the budget a second time against the live cluster, because real
// recovery can take longer than the allowance.
import { SeededRandom } from "../core/env";
import { InvalidArgumentError } from "../core/errors";

export type FaultKind = "kill" | "pause" | "partition" | "client-crash";

export const FAULT_KINDS: readonly FaultKind[] = ["kill", "pause", "partition", "client-crash"];

/** One fault, held on `nodes` during [startMs, startMs + holdMs), then undone. */
export interface FaultWindow {
  /** Position in the schedule, from 0. */
  windowIndex: number;
  kind: FaultKind;
  /** Milliseconds after the workload started. */
  startMs: number;
  /** How long the fault is held; 0 for a client crash (an instant event). */
  holdMs: number;
  /**
   * How long after the fault is undone its nodes still count as faulty (rebuild, catch-up).
   * 0 for a client crash, which makes no node faulty.
   */
  recoveryMs: number;
  /** Node indexes the fault hits; for a partition, the side cut off from every other node. */
  nodes: number[];
  /** Client crash only: index of the key the crashed client writes. */
  keyIndex: number | null;
}

export interface ScheduleOptions {
  seed: number;
  /** Length of the workload; no window starts later than runMs - quietEndMs. */
  runMs: number;
  nodeCount: number;
  /** Most nodes that may be faulty (held or recovering) at one instant. */
  faultBudget: number;
  /** Enabled fault kinds; each window picks one uniformly. */
  kinds: readonly FaultKind[];
  /** Keys of the workload (client crashes pick one). */
  keyCount: number;
  /** No fault before this: the cluster warms up. */
  quietStartMs?: number;
  /** No fault starts in this last stretch of the run. */
  quietEndMs?: number;
  gapMsMin?: number;
  gapMsMax?: number;
  holdMsMin?: number;
  holdMsMax?: number;
  recoveryMs?: number;
}

export const SCHEDULE_WINDOWS_MAX = 10_000;

export const SCHEDULE_DEFAULTS = {
  quietStartMs: 2_000,
  quietEndMs: 2_000,
  gapMsMin: 500,
  gapMsMax: 3_000,
  holdMsMin: 1_000,
  holdMsMax: 4_000,
  recoveryMs: 3_000,
} as const;

type ResolvedScheduleOptions = Required<ScheduleOptions>;

function resolve(options: ScheduleOptions): ResolvedScheduleOptions {
  const resolved: ResolvedScheduleOptions = { ...SCHEDULE_DEFAULTS, ...options };
  const integers: Array<[string, number, number]> = [
    ["runMs", resolved.runMs, 0],
    ["nodeCount", resolved.nodeCount, 1],
    ["faultBudget", resolved.faultBudget, 0],
    ["keyCount", resolved.keyCount, 1],
    ["quietStartMs", resolved.quietStartMs, 0],
    ["quietEndMs", resolved.quietEndMs, 0],
    ["gapMsMin", resolved.gapMsMin, 1],
    ["gapMsMax", resolved.gapMsMax, 1],
    ["holdMsMin", resolved.holdMsMin, 1],
    ["holdMsMax", resolved.holdMsMax, 1],
    ["recoveryMs", resolved.recoveryMs, 0],
  ];
  for (const [name, value, min] of integers) {
    if (!Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${value}`);
  }
  if (!Number.isSafeInteger(resolved.seed)) throw new InvalidArgumentError(`seed must be an integer, got ${resolved.seed}`);
  if (resolved.gapMsMax < resolved.gapMsMin) throw new InvalidArgumentError("gapMsMax must be >= gapMsMin");
  if (resolved.holdMsMax < resolved.holdMsMin) throw new InvalidArgumentError("holdMsMax must be >= holdMsMin");
  if (resolved.faultBudget >= resolved.nodeCount) {
    throw new InvalidArgumentError(`faultBudget (${resolved.faultBudget}) must be below nodeCount (${resolved.nodeCount})`);
  }
  for (const kind of resolved.kinds) {
    if (!FAULT_KINDS.includes(kind)) throw new InvalidArgumentError(`unknown fault kind ${JSON.stringify(kind)}`);
  }
  return resolved;
}

/** The instant a window's nodes stop counting as faulty. */
export function windowEndMs(window: FaultWindow): number {
  return window.startMs + window.holdMs + window.recoveryMs;
}

/**
 * Generates the schedule for a seed. The same options always give the same schedule. Windows
 * are in start order; a window that touches nodes never starts while it would push the
 * number of faulty nodes over the budget (the generator moves on in time instead).
 */
export function nemesisSchedule(options: ScheduleOptions): FaultWindow[] {
  const o = resolve(options);
  const random = new SeededRandom(o.seed ^ 0x6a65_7073); // "jeps": decouples from workload streams of the same seed
  const windows: FaultWindow[] = [];
  // With no budget only client crashes remain possible (they make no node faulty).
  const kinds = o.faultBudget === 0 ? o.kinds.filter((kind) => kind === "client-crash") : o.kinds;
  if (kinds.length === 0) return windows;
  const lastStartMs = o.runMs - o.quietEndMs;
  const between = (min: number, max: number): number => min + random.int(max - min + 1);
  let nowMs = o.quietStartMs;
  while (nowMs <= lastStartMs && windows.length < SCHEDULE_WINDOWS_MAX) {
    const kind = kinds[random.int(kinds.length)];
    if (kind === "client-crash") {
      windows.push({ windowIndex: windows.length, kind, startMs: nowMs, holdMs: 0, recoveryMs: 0, nodes: [], keyIndex: random.int(o.keyCount) });
      nowMs += between(o.gapMsMin, o.gapMsMax);
      continue;
    }
    const busy = new Set<number>();
    for (const window of windows) if (window.startMs <= nowMs && windowEndMs(window) > nowMs) for (const node of window.nodes) busy.add(node);
    const available = o.faultBudget - busy.size;
    if (available <= 0) {
      // Jump to the moment the first busy window is over; the budget is free again then.
      let nextFreeMs = Number.POSITIVE_INFINITY;
      for (const window of windows) if (window.nodes.length > 0 && windowEndMs(window) > nowMs) nextFreeMs = Math.min(nextFreeMs, windowEndMs(window));
      nowMs = nextFreeMs;
      continue;
    }
    const free = [];
    for (let node = 0; node < o.nodeCount; node++) if (!busy.has(node)) free.push(node);
    // Fisher–Yates prefix: `count` distinct free nodes.
    const count = 1 + random.int(available);
    for (let position = 0; position < count; position++) {
      const pick = position + random.int(free.length - position);
      [free[position], free[pick]] = [free[pick], free[position]];
    }
    const nodes = free.slice(0, count).sort((a, b) => a - b);
    const holdMs = between(o.holdMsMin, o.holdMsMax);
    windows.push({ windowIndex: windows.length, kind, startMs: nowMs, holdMs, recoveryMs: o.recoveryMs, nodes, keyIndex: null });
    nowMs += between(o.gapMsMin, o.gapMsMax);
  }
  return windows;
}

/** Nodes covered by some window at `atMs` (held or still recovering). */
export function faultyNodesAt(schedule: readonly FaultWindow[], atMs: number): Set<number> {
  const faulty = new Set<number>();
  for (const window of schedule) if (window.startMs <= atMs && windowEndMs(window) > atMs) for (const node of window.nodes) faulty.add(node);
  return faulty;
}

/** The largest number of faulty nodes at any instant (checked at every window start). */
export function maxFaultyNodes(schedule: readonly FaultWindow[]): number {
  let max = 0;
  for (const window of schedule) max = Math.max(max, faultyNodesAt(schedule, window.startMs).size);
  return max;
}

