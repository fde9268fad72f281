// Properties of the jepsen workload recording and verdict (src/jepsen/workload.ts,
// src/jepsen/runner.ts), with fake targets and no processes:
// 1. Outcomes are recorded conservatively: a write that throws anything but a bad-input error,
//    or misses its deadline, is unknown; bad input is fail; a read error is fail; successes
//    are ok with the read's result.
// 2. The verdict: a lost acknowledged write (the final read returns an older value) is
//    "not-linearizable" with a failing sub-history that names the lost value; a clean history
//    is "linearizable"; a key whose final read never succeeded makes it "inconclusive".
// 3. startWorkload with a fake in-memory register produces a linearizable history with unique
//    set values, and every client stops when asked.
import assert from "node:assert/strict";
import { HistoryRecorder, History } from "../../src/check/history";
import { Clock } from "../../src/core/env";
import { InvalidArgumentError, TimeoutError, UnavailableError, ValueTooLargeError } from "../../src/core/errors";
import { countOperations, judge } from "../../src/jepsen/runner";
import { KvTarget, isDefiniteWriteFailure, recordedOperation, startWorkload } from "../../src/jepsen/workload";

function manualClock(): Clock & { advance(ms: number): void } {
  let nowMs = 0;
  return { nowMs: () => nowMs, advance: (ms) => void (nowMs += ms) };
}

function failingTarget(error: unknown): KvTarget {
  return {
    get: async () => {
      throw error;
    },
    set: async () => {
      throw error;
    },
    del: async () => {
      throw error;
    },
    close: () => undefined,
  };
}

describe("jepsen workload recording and verdict", () => {
  it("records write errors as unknown unless the input was rejected", async () => {
    assert.equal(isDefiniteWriteFailure(new InvalidArgumentError("x")), true);
    assert.equal(isDefiniteWriteFailure(new ValueTooLargeError(10, 1)), true);
    assert.equal(isDefiniteWriteFailure(new TimeoutError("outcome unknown")), false);
    assert.equal(isDefiniteWriteFailure(new UnavailableError("fewer than k")), false);
    const recorder = new HistoryRecorder(manualClock());
    assert.equal((await recordedOperation(recorder, "c0", failingTarget(new UnavailableError("down")), "set", "k", "v1", 1_000)).status, "unknown");
    assert.equal((await recordedOperation(recorder, "c0", failingTarget(new TimeoutError("unknown")), "del", "k", null, 1_000)).status, "unknown");
    assert.equal((await recordedOperation(recorder, "c0", failingTarget(new InvalidArgumentError("bad")), "set", "k", "v2", 1_000)).status, "fail");
    assert.equal((await recordedOperation(recorder, "c0", failingTarget(new UnavailableError("down")), "get", "k", null, 1_000)).status, "fail");
    const hanging: KvTarget = { get: () => new Promise(() => undefined), set: () => new Promise(() => undefined), del: () => new Promise(() => undefined), close: () => undefined };
    assert.equal((await recordedOperation(recorder, "c0", hanging, "set", "k", "v3", 20)).status, "unknown");
    assert.equal((await recordedOperation(recorder, "c0", hanging, "get", "k", null, 20)).status, "fail");
    const statuses = recorder.history().map((operation) => operation.status);
    assert.deepEqual(statuses, ["unknown", "unknown", "fail", "fail", "unknown", "fail"]);
  });

  it("judges a lost acknowledged write as not linearizable, naming the lost value", () => {
    const clock = manualClock();
    const recorder = new HistoryRecorder(clock);
    const write = (clientId: string, value: string): void => {
      const handle = recorder.invoke(clientId, { kind: "set", key: "k0", value });
      clock.advance(1);
      recorder.ok(handle);
      clock.advance(1);
    };
    write("c0", "c0-0");
    write("c1", "c1-0"); // acknowledged, then lost
    const handle = recorder.invoke("final", { kind: "get", key: "k0" });
    clock.advance(1);
    recorder.ok(handle, "c0-0");
    const history: History = recorder.history();
    const verdict = judge(history, [{ key: "k0", result: "c0-0" }], {});
    assert.equal(verdict.verdict, "not-linearizable");
    assert.equal(verdict.failing.length, 1);
    assert.equal(verdict.failing[0].key, "k0");
    assert.match(verdict.failing[0].text, /c1-0/);
    assert.deepEqual(countOperations(history).set, { ok: 2, fail: 0, unknown: 0 });
  });

  it("is linearizable on a clean history and inconclusive when a final read failed", () => {
    const clock = manualClock();
    const recorder = new HistoryRecorder(clock);
    const handle = recorder.invoke("c0", { kind: "set", key: "k0", value: "a" });
    clock.advance(1);
    recorder.ok(handle);
    const read = recorder.invoke("final", { kind: "get", key: "k0" });
    clock.advance(1);
    recorder.ok(read, "a");
    const failedRead = recorder.invoke("final", { kind: "get", key: "k1" });
    recorder.fail(failedRead);
    assert.equal(judge(recorder.history(), [{ key: "k0", result: "a" }], {}).verdict, "linearizable");
    const partial = judge(recorder.history(), [{ key: "k0", result: "a" }, { key: "k1", result: "failed" }], {});
    assert.equal(partial.verdict, "inconclusive");
    assert.match(partial.message, /k1/);
  });

  it("runs clients against an in-memory register and stops them", async () => {
    const store = new Map<string, string>();
    const delay = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const openTarget = async (): Promise<KvTarget> => ({
      get: async (key) => {
        await delay();
        return store.get(key) ?? null;
      },
      set: async (key, value) => {
        await delay();
        store.set(key, value);
      },
      del: async (key) => {
        await delay();
        store.delete(key);
      },
      close: () => undefined,
    });
    const recorder = new HistoryRecorder({ nowMs: () => performance.now() });
    const workload = startWorkload(
      recorder,
      openTarget,
      { clientCount: 4, keys: ["a", "b"], seed: 7, operationTimeoutMs: 1_000, thinkMsMax: 1, getFraction: 0.5, setFraction: 0.35 },
      (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    const stats = await workload.stop();
    assert.equal(stats.length, 4);
    const history = recorder.history();
    assert.ok(history.length > 20, `only ${history.length} operations`);
    assert.equal(recorder.pendingCount, 0);
    const values = history.filter((operation) => operation.kind === "set").map((operation) => operation.value);
    assert.equal(new Set(values).size, values.length, "set values must be unique");
    assert.equal(judge(history, [], {}).verdict, "linearizable");
  });
});
