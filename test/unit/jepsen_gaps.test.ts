// longestGaps: the longest stretch without a successful read / write in the workload phase,
// counting from the phase's start and to its end, ignoring failures, unknowns, final reads
// and the cluster's drops.
import assert from "node:assert/strict";
import { Operation } from "../../src/check/history";
import { longestGaps } from "../../src/jepsen/gaps";

let nextId = 0;
function op(kind: Operation["kind"], returnMs: number | null, status: Operation["status"] = "ok", clientId = "c0"): Operation {
  return { id: nextId++, clientId, kind, key: "k", value: kind === "set" || kind === "expire" ? "v" : null, result: null, invokeMs: 0, returnMs, status };
}

describe("jepsen longest gaps", () => {
  it("measures from the phase's start, between successes, and to its end", () => {
    const history = [op("get", 100), op("get", 400), op("get", 1900), op("set", 50), op("del", 3000), op("get", 2000, "fail"), op("set", null, "unknown")];
    const gaps = longestGaps(history, 4000);
    assert.deepEqual(gaps.reads, { ms: 2100, fromMs: 1900, successes: 3 }, "1.9 s to the end of the phase");
    assert.deepEqual(gaps.writes, { ms: 2950, fromMs: 50, successes: 2 });
  });

  it("leaves out final reads, the cluster's drops and what completed after the phase", () => {
    const history = [op("get", 3000, "ok", "final"), op("expire", 500, "ok", "n0.drop"), op("get", 4500), op("set", 999)];
    const gaps = longestGaps(history, 4000);
    assert.deepEqual(gaps.reads, { ms: 4000, fromMs: 0, successes: 0 });
    assert.deepEqual(gaps.writes, { ms: 3001, fromMs: 999, successes: 1 });
  });
});
