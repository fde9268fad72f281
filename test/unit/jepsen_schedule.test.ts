// Properties of the jepsen nemesis schedule (src/jepsen/schedule.ts):
// 1. Deterministic: the same options give the same schedule, different seeds different ones.
// 2. Never over budget: over hundreds of seeds, for ecc (5 nodes, budget n-k = 2) and raft
//    (3 nodes, budget 1), the nodes covered by some window (held or recovering) never exceed
//    the budget at any instant; the count only rises at a window start, so checking every
//    start checks every instant.
// 3. Well formed: windows in start order inside [quietStartMs, runMs - quietEndMs], distinct
//    nodes in range, holds within bounds, client crashes name a key and hold no node.
// 4. Edge cases: budget 0 leaves only client crashes; no kinds, no windows; bad options are
//    InvalidArgumentError.
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../src/core/errors";
import { FaultKind, FaultWindow, SCHEDULE_DEFAULTS, faultyNodesAt, maxFaultyNodes, nemesisSchedule, windowEndMs } from "../../src/jepsen/schedule";

const ECC = { nodeCount: 5, faultBudget: 2, kinds: ["kill", "pause", "partition", "client-crash"] as FaultKind[] };
const RAFT = { nodeCount: 3, faultBudget: 1, kinds: ["kill", "pause", "partition"] as FaultKind[] };

function schedule(shape: typeof ECC, seed: number, runMs = 60_000): FaultWindow[] {
  return nemesisSchedule({ seed, runMs, keyCount: 4, ...shape });
}

/** Faulty count at every instant where it can change, computed independently of the module. */
function peakFaulty(windows: readonly FaultWindow[]): number {
  const instants = new Set<number>();
  for (const window of windows) {
    instants.add(window.startMs);
    instants.add(windowEndMs(window));
  }
  let peak = 0;
  for (const atMs of instants) {
    const nodes = new Set<number>();
    for (const window of windows) if (window.startMs <= atMs && atMs < windowEndMs(window)) for (const node of window.nodes) nodes.add(node);
    peak = Math.max(peak, nodes.size);
  }
  return peak;
}

describe("jepsen nemesis schedule", () => {
  it("is deterministic by seed", () => {
    for (const shape of [ECC, RAFT]) {
      assert.deepEqual(schedule(shape, 42), schedule(shape, 42));
      assert.notDeepEqual(schedule(shape, 42), schedule(shape, 43));
    }
  });

  it("never exceeds the fault budget (ecc n-k=2 of 5, raft 1 of 3) over 300 seeds", () => {
    for (const shape of [ECC, RAFT]) {
      let multiNodeWindows = 0;
      let overlapping = 0;
      for (let seed = 0; seed < 300; seed++) {
        const windows = schedule(shape, seed);
        assert.ok(windows.length > 5, `seed ${seed}: only ${windows.length} windows in 60 s`);
        const peak = peakFaulty(windows);
        assert.ok(peak <= shape.faultBudget, `seed ${seed}: ${peak} faulty nodes at once, budget ${shape.faultBudget}`);
        assert.equal(maxFaultyNodes(windows), peak, `seed ${seed}: maxFaultyNodes disagrees with the independent count`);
        multiNodeWindows += windows.filter((window) => window.nodes.length > 1).length;
        if (peak === shape.faultBudget && shape.faultBudget > 1) overlapping++;
      }
      // The budget is used, not just respected: ecc schedules do take two nodes down at once.
      if (shape.faultBudget > 1) {
        assert.ok(multiNodeWindows > 0, "no window ever hit two nodes");
        assert.ok(overlapping > 0, "the schedule never reached the budget");
      }
    }
  });

  it("produces well-formed windows", () => {
    for (const shape of [ECC, RAFT]) {
      for (let seed = 0; seed < 100; seed++) {
        const runMs = 45_000;
        const windows = schedule(shape, seed, runMs);
        let previousStartMs = -1;
        windows.forEach((window, position) => {
          assert.equal(window.windowIndex, position);
          assert.ok(shape.kinds.includes(window.kind), `unexpected kind ${window.kind}`);
          assert.ok(window.startMs >= previousStartMs, "windows out of start order");
          previousStartMs = window.startMs;
          assert.ok(window.startMs >= SCHEDULE_DEFAULTS.quietStartMs);
          assert.ok(window.startMs <= runMs - SCHEDULE_DEFAULTS.quietEndMs);
          if (window.kind === "client-crash") {
            assert.deepEqual(window.nodes, []);
            assert.equal(window.holdMs, 0);
            assert.ok(window.keyIndex !== null && window.keyIndex >= 0 && window.keyIndex < 4);
          } else {
            assert.equal(window.keyIndex, null);
            assert.ok(window.nodes.length >= 1 && window.nodes.length <= shape.faultBudget);
            assert.equal(new Set(window.nodes).size, window.nodes.length, "a node listed twice");
            for (const node of window.nodes) assert.ok(Number.isInteger(node) && node >= 0 && node < shape.nodeCount);
            assert.ok(window.holdMs >= SCHEDULE_DEFAULTS.holdMsMin && window.holdMs <= SCHEDULE_DEFAULTS.holdMsMax);
          }
        });
      }
    }
  });

  it("never plans a fault on a node that is still faulty", () => {
    for (let seed = 0; seed < 200; seed++) {
      const windows = schedule(ECC, seed);
      for (const window of windows) {
        const before = faultyNodesAt(
          windows.filter((other) => other.windowIndex < window.windowIndex),
          window.startMs,
        );
        for (const node of window.nodes) assert.ok(!before.has(node), `seed ${seed} window ${window.windowIndex}: node ${node} already faulty`);
      }
    }
  });

  it("with budget 0 only client crashes remain; with no kinds there are no windows", () => {
    const windows = nemesisSchedule({ seed: 1, runMs: 30_000, nodeCount: 5, faultBudget: 0, kinds: ["kill", "client-crash"], keyCount: 2 });
    assert.ok(windows.length > 0);
    assert.ok(windows.every((window) => window.kind === "client-crash"));
    assert.deepEqual(nemesisSchedule({ seed: 1, runMs: 30_000, nodeCount: 5, faultBudget: 2, kinds: [], keyCount: 2 }), []);
    assert.deepEqual(nemesisSchedule({ seed: 1, runMs: 30_000, nodeCount: 5, faultBudget: 0, kinds: ["kill"], keyCount: 2 }), []);
  });

  it("rejects bad options", () => {
    const base = { seed: 1, runMs: 10_000, nodeCount: 3, faultBudget: 1, kinds: ["kill"] as FaultKind[], keyCount: 1 };
    assert.throws(() => nemesisSchedule({ ...base, faultBudget: 3 }), InvalidArgumentError);
    assert.throws(() => nemesisSchedule({ ...base, runMs: -1 }), InvalidArgumentError);
    assert.throws(() => nemesisSchedule({ ...base, gapMsMin: 10, gapMsMax: 5 }), InvalidArgumentError);
    assert.throws(() => nemesisSchedule({ ...base, kinds: ["flood" as FaultKind] }), InvalidArgumentError);
    assert.throws(() => nemesisSchedule({ ...base, seed: 1.5 }), InvalidArgumentError);
  });
});
