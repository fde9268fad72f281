// Properties of the linearizability checker (src/check/linearizability.ts) and the history
// recorder (src/check/history.ts):
//
// 1. Soundness on hand-written histories: sequential runs, reads racing writes that see
//    either value, unknown writes seen later or never, deletes read as absent, and failed
//    operations are all ACCEPTED.
// 2. Each classic anomaly is REJECTED as a definite violation on the right key: stale read,
//    lost write, read of a value never written, read after delete returning the old value,
//    read of a torn write, two readers disagreeing on order, and a read of an unknown write
//    from before that write was invoked.
// 3. Keys are independent: a violation on one key is reported on that key only.
// 4. The failing sub-history is shorter than the input and fails again on its own.
// 5. The step budget turns a long search into an inconclusive result, never a violation.
// 6. The recorder keeps real-time order even when the clock does not advance, and its JSON
//    round-trips; malformed input is an InvalidArgumentError, misuse an AssertionError.
// 7. Randomized: a seeded simulation of a real linearizable register (each operation takes
//    effect at a random instant inside its window; some time out and may land later or
//    never) yields histories the checker must all accept. Changing one read to a value that
//    provably was not current anywhere in its window (its only writer was overwritten by a
//    write that finished before the read began) must then be rejected on that key.
// 8. On small random histories (repeated values, ties, unknown and failed operations) the
//    verdict equals an exhaustive search over all orders, which checks the memo and the
//    prunings against the definition itself.
import assert from "node:assert/strict";

import { SeededRandom } from "../../src/core/env";
import { InvalidArgumentError } from "../../src/core/errors";
import { HistoryRecorder, historyFromJson, historyToJson, type History, type Operation } from "../../src/check/history";
import { checkHistory, checkRegister, formatOperations, type CheckResult } from "../../src/check/linearizability";

// Builders for hand-written histories. A null returnMs makes the operation unknown.
let nextId = 0;
function operation(fields: Partial<Operation> & Pick<Operation, "kind" | "invokeMs" | "returnMs">): Operation {
  return {
    id: nextId++,
    clientId: "c0",
    key: "x",
    value: null,
    result: null,
    status: fields.returnMs === null ? "unknown" : "ok",
    ...fields,
  };
}
function set(clientId: string, value: string, invokeMs: number, returnMs: number | null, key = "x"): Operation {
  return operation({ clientId, kind: "set", key, value, invokeMs, returnMs });
}
function get(clientId: string, result: string | null, invokeMs: number, returnMs: number | null, key = "x"): Operation {
  return operation({ clientId, kind: "get", key, result: returnMs === null ? null : result, invokeMs, returnMs });
}
function del(clientId: string, invokeMs: number, returnMs: number | null, key = "x"): Operation {
  return operation({ clientId, kind: "del", key, invokeMs, returnMs });
}

function assertAccepted(history: History): void {
  const result = checkHistory(history);
  assert.equal(result.ok, true, result.ok ? "" : result.message);
}

function assertRejected(history: History, key = "x"): Extract<CheckResult, { inconclusive: false }> {
  const result = checkHistory(history);
  assert.equal(result.ok, false, "the history was accepted");
  assert(!result.ok);
  assert.equal(result.inconclusive, false, result.message);
  assert(!result.inconclusive);
  assert.equal(result.key, key);
  // The witness must fail again on its own.
  const again = checkHistory(result.minimalFailingSubHistory);
  assert.equal(again.ok, false);
  return result;
}

describe("linearizability checker: accepted histories", () => {
  it("accepts the empty history and a sequential run", () => {
    assert.deepEqual(checkHistory([]), { ok: true, keys: 0, operations: 0 });
    const history = [get("c1", null, 0, 1), set("c1", "a", 2, 3), get("c2", "a", 4, 5), set("c2", "b", 6, 7), get("c1", "b", 8, 9)];
    assert.deepEqual(checkHistory(history), { ok: true, keys: 1, operations: 5 });
  });

  it("accepts a read concurrent with a write returning either the old or the new value", () => {
    for (const seen of ["a", "b"]) {
      assertAccepted([set("c1", "a", 0, 1), set("c1", "b", 2, 10), get("c2", seen, 3, 4)]);
    }
  });

  it("accepts reads overlapping a write that see the new value, then keep seeing it", () => {
    // r1 and r2 both overlap the write; r1 sees it early, r2 (after r1) must see it too.
    assertAccepted([set("c1", "a", 0, 1), set("c1", "b", 2, 20), get("c2", "b", 3, 5), get("c3", "b", 6, 8), get("c2", "b", 21, 22)]);
    // Both see the old value first and the new one later: the write lands between them.
    assertAccepted([set("c1", "a", 0, 1), set("c1", "b", 2, 20), get("c2", "a", 3, 5), get("c3", "b", 6, 8)]);
  });

  it("accepts concurrent writes ordered either way by later reads", () => {
    for (const last of ["a", "b"]) {
      assertAccepted([set("c1", "a", 0, 10), set("c2", "b", 1, 9), get("c3", last, 11, 12), get("c1", last, 13, 14)]);
    }
  });

  it("accepts an unknown write whose effect is seen later, even after a read of the old value", () => {
    assertAccepted([set("c1", "a", 0, 1), set("c1", "b", 2, null), get("c2", "b", 100, 101)]);
    assertAccepted([set("c1", "a", 0, 1), set("c1", "b", 2, null), get("c2", "a", 50, 51), get("c2", "b", 100, 101)]);
  });

  it("accepts an unknown write that is never seen", () => {
    assertAccepted([set("c1", "a", 0, 1), set("c1", "b", 2, null), get("c2", "a", 10, 11), get("c2", "a", 20, 21)]);
    assertAccepted([set("c1", "a", 0, 1), del("c1", 2, null), get("c2", "a", 10, 11)]);
  });

  it("accepts a delete followed by reads of absent, and ignores failed operations", () => {
    assertAccepted([set("c1", "a", 0, 1), del("c1", 2, 3), get("c2", null, 4, 5)]);
    const failed = set("c1", "b", 2, 3);
    failed.status = "fail";
    const result = checkHistory([set("c1", "a", 0, 1), failed, get("c2", "a", 4, 5), get("c3", "a", 4, 6, "y"), get("c4", null, 4, 6, "y")]);
    // A read of a value on y that was never written there is still a violation: values are per key.
    assert(!result.ok && !result.inconclusive && result.key === "y");
    assertAccepted([set("c1", "a", 0, 1), failed, get("c2", "a", 4, 5)]);
  });

  it("drops unknown reads: they observe nothing", () => {
    assertAccepted([set("c1", "a", 0, 1), get("c2", null, 2, null), get("c3", "a", 3, 4)]);
  });
});

function setnx(clientId: string, value: string, applied: boolean | null, invokeMs: number, returnMs: number | null, key = "x"): Operation {
  return operation({ clientId, kind: "setnx", key, value, result: applied === null ? null : applied ? "1" : "0", invokeMs, returnMs });
}

describe("linearizability checker: SET NX (setnx)", () => {
  it("accepts one winner among concurrent setnx, and a loser that saw the key present", () => {
    assertAccepted([setnx("a", "va", true, 0, 10), setnx("b", "vb", false, 1, 9), get("c", "va", 11, 12)]);
    // the loser may also come first in real time, if the winner's write was already in
    assertAccepted([set("a", "v0", 0, 1), setnx("b", "vb", false, 2, 3), get("c", "v0", 4, 5)]);
    // after a delete the key is absent again: a later setnx may win
    assertAccepted([setnx("a", "va", true, 0, 1), del("b", 2, 3), setnx("c", "vc", true, 4, 5), get("d", "vc", 6, 7)]);
    // an unknown setnx may have applied (its value read later) or not
    assertAccepted([setnx("a", "va", null, 0, null), get("b", "va", 5, 6)]);
    assertAccepted([setnx("a", "va", null, 0, null), get("b", null, 5, 6)]);
  });

  it("rejects two winners, a winner over a present value, and a loser over an absent key", () => {
    assertRejected([setnx("a", "va", true, 0, 10), setnx("b", "vb", true, 1, 9), get("c", "vb", 11, 12)]);
    assertRejected([setnx("a", "va", true, 0, 1), setnx("b", "vb", true, 2, 3)]);
    assertRejected([set("a", "v0", 0, 1), setnx("b", "vb", true, 2, 3)]);
    assertRejected([setnx("b", "vb", false, 0, 1), get("c", null, 2, 3)]);
    const rejected = assertRejected([setnx("a", "va", true, 0, 1), setnx("b", "vb", true, 2, 3)]);
    assert.match(rejected.message, /setnx "x" "vb"\s+-> applied/);
  });

  it("an unknown write a setnx observed is kept: a del that made the key absent for a setnx that applied, a set that made it present for one that did not", () => {
    // CI's raft run through RESP was called non-linearizable on a history like the first:
    // no read returned "absent", so the unknown del was pruned as unobserved, yet the setnx
    // that applied after it observed exactly that absence.
    assertAccepted([set("a", "v0", 0, 1), del("b", 2, null), setnx("c", "vc", true, 10, 11), get("d", "vc", 12, 13)]);
    assertAccepted([set("a", "v0", 0, 1), del("b", 2, null), setnx("c", "vc", true, 10, 11)]);
    // An unknown set (no read ever returned its value) explains a setnx that found the key present.
    assertAccepted([set("b", "vb", 2, null), setnx("c", "vc", false, 10, 11)]);
    assertAccepted([setnx("b", "vb", null, 2, null), setnx("c", "vc", false, 10, 11)]);
    // Still rejected when nothing can explain it.
    assertRejected([set("a", "v0", 0, 1), setnx("c", "vc", true, 10, 11)]);
    assertRejected([setnx("c", "vc", false, 10, 11)]);
  });

  it("shows the full history's operations around the shrunk sub-history (a dropped write may be what fails it)", () => {
    // Shrinking drops the del, and "set, then setnx applied" fails on its own; the del is
    // shown beside it, since it is what the real history had in between.
    const rejected = assertRejected([set("a", "va", 0, 1), del("b", 2, 3), setnx("c", "vc", true, 4, 5), get("d", "va", 6, 7)]);
    assert.match(rejected.message, /the full history's other operations in that span \(\d+;[^\n]*\n(.*\n)*.*del "x"/);
  });

  it("records setnx outcomes and round-trips them through JSON", () => {
    let nowMs = 0;
    const recorder = new HistoryRecorder({ nowMs: () => nowMs++ });
    const first = recorder.invoke("c0", { kind: "setnx", key: "k", value: "v" });
    recorder.ok(first, "1");
    const second = recorder.invoke("c1", { kind: "setnx", key: "k", value: "w" });
    assert.throws(() => recorder.ok(second, "yes"));
    recorder.ok(second, "0");
    const history = recorder.history();
    assert.deepEqual(historyFromJson(historyToJson(history)), history);
    assert.equal(checkHistory(history).ok, true);
  });
});

describe("linearizability checker: rejected histories", () => {
  it("rejects a stale read after a completed write", () => {
    const result = assertRejected([set("c1", "a", 0, 10), get("c2", null, 20, 30)]);
    assert.equal(result.minimalFailingSubHistory.length, 2);
  });

  it("rejects a lost write and keeps both writes in the witness", () => {
    const a = set("c1", "a", 0, 1);
    const b = set("c2", "b", 2, 3);
    const read = get("c3", "a", 4, 5);
    const noise = [get("c4", null, 0, 1, "x"), set("c4", "c", 6, 7), get("c4", "c", 8, 9)];
    const result = assertRejected([noise[0], a, b, read, noise[1], noise[2]]);
    assert.deepEqual(
      result.minimalFailingSubHistory.map((op) => op.id),
      [a.id, b.id, read.id],
    );
  });

  it("rejects a read of a value never written", () => {
    assertRejected([set("c1", "a", 0, 1), get("c2", "z", 2, 3)]);
  });

  it("rejects a read after a delete that returns the old value", () => {
    const result = assertRejected([set("c1", "a", 0, 1), del("c1", 2, 3), get("c2", "a", 4, 5)]);
    assert.equal(result.minimalFailingSubHistory.length, 3);
  });

  it("rejects a read of a torn write (a mix of old and new)", () => {
    assertRejected([set("c1", "aa", 0, 1), set("c1", "bb", 2, 10), get("c2", "ab", 3, 9)]);
  });

  it("rejects two readers that disagree on the order (new, then old)", () => {
    // Both reads overlap the write, but r2 starts after r1 finished, so it may not go back.
    assertRejected([set("c1", "old", 0, 1), set("c1", "new", 2, 20), get("r1", "new", 3, 5), get("r2", "old", 6, 8)]);
  });

  it("rejects a read of an unknown write before that write was invoked", () => {
    assertRejected([set("c1", "a", 0, 1), get("c2", "b", 2, 3), set("c1", "b", 5, null)]);
  });

  it("reports the violating key and only that key", () => {
    const history = [
      set("c1", "a", 0, 1, "y"),
      get("c2", "a", 2, 3, "y"),
      set("c1", "a", 0, 1, "x"),
      set("c1", "b", 2, 3, "x"),
      get("c2", "a", 4, 5, "x"),
      set("c3", "q", 0, 5, "z"),
      get("c3", "q", 6, 7, "z"),
    ];
    const result = assertRejected(history, "x");
    assert.deepEqual(result.failingKeys, ["x"]);
    assert(result.minimalFailingSubHistory.every((op) => op.key === "x"));
    assertAccepted(history.filter((op) => op.key !== "x"));
    assert.throws(() => checkRegister(history, 1000), InvalidArgumentError);
  });

  it("shrinks to a shorter history that still fails, and renders it readably", () => {
    // Twenty clean operations on x around one lost write.
    const history: History = [];
    for (let round = 0; round < 10; round++) {
      history.push(set(`c${round % 3}`, `v${round}`, round * 10, round * 10 + 5), get(`c${(round + 1) % 3}`, `v${round}`, round * 10 + 6, round * 10 + 8));
    }
    history.push(set("c1", "p", 200, 201), set("c2", "q", 202, 203), get("c3", "p", 204, 205), set("c1", "z", 206, null));
    const result = assertRejected(history);
    assert(result.minimalFailingSubHistory.length < history.length);
    assert.equal(result.minimalFailingSubHistory.length, 3);
    const text = formatOperations(result.minimalFailingSubHistory);
    assert.match(text, /c1 +set "x" "p" +-> ok +\[200, 201\]/);
    assert.match(text, /c3 +get "x" +-> "p" +\[204, 205\]/);
    assert.match(result.message, /key "x" is not linearizable/);
    assert.match(formatOperations([set("c9", "z", 7, null), get("c9", null, 8, 9)]), /-> unknown +\[7, ∞\)[\s\S]*-> absent +\[8, 9\]/);
  });

  it("reports an exhausted step budget as inconclusive, not as a violation", () => {
    const history: History = [];
    for (let round = 0; round < 20; round++) history.push(set("c1", `v${round}`, round * 2, round * 2 + 1));
    const result = checkHistory(history, { stepsMaxPerKey: 5 });
    assert(!result.ok);
    assert.equal(result.inconclusive, true);
    assert(result.inconclusive);
    assert.equal(result.key, "x");
    assert.match(result.message, /search budget exhausted/);
    assert.equal(checkHistory(history).ok, true);
    assert.throws(() => checkHistory(history, { stepsMaxPerKey: 0 }), InvalidArgumentError);
  });
});

describe("HistoryRecorder", () => {
  it("records outcomes with times from the injected clock", () => {
    const clock = { timeMs: 100, nowMs: () => clock.timeMs };
    const recorder = new HistoryRecorder(clock);
    const write = recorder.invoke("c1", { kind: "set", key: "x", value: "a" });
    clock.timeMs = 105;
    const read = recorder.invoke("c2", { kind: "get", key: "x" });
    const rejected = recorder.invoke("c3", { kind: "del", key: "x" });
    recorder.fail(rejected);
    clock.timeMs = 110;
    recorder.ok(write);
    recorder.ok(read, "a");
    const lost = recorder.invoke("c1", { kind: "set", key: "x", value: "b" });
    recorder.unknown(lost);
    const stillPending = recorder.invoke("c2", { kind: "get", key: "x" });
    assert.equal(recorder.pendingCount, 1);
    const history = recorder.history();
    assert.deepEqual(
      history.map((op) => [op.id, op.clientId, op.kind, op.value, op.result, op.invokeMs, op.returnMs, op.status]),
      [
        [0, "c1", "set", "a", null, 100, 110, "ok"],
        [1, "c2", "get", null, "a", 105, 110, "ok"],
        [2, "c3", "del", null, null, 105, 105, "fail"],
        [3, "c1", "set", "b", null, 110, null, "unknown"],
        [4, "c2", "get", null, null, 110, null, "unknown"],
      ],
    );
    assert.equal(checkHistory(history).ok, true);
    assert.throws(() => recorder.ok(write), /already completed/);
    assert.throws(() => recorder.ok(stillPending), /needs its result/);
    assert.throws(() => recorder.invoke("c1", { kind: "set", key: "x" }), /needs a string value/);
  });

  it("keeps real-time order when the clock does not advance", () => {
    // Every event at 0 ms: only the event indexes say the read began after the write ended.
    const recorder = new HistoryRecorder({ nowMs: () => 0 });
    const write = recorder.invoke("c1", { kind: "set", key: "x", value: "a" });
    recorder.ok(write);
    const read = recorder.invoke("c2", { kind: "get", key: "x" });
    recorder.ok(read, null);
    const history = recorder.history();
    assertRejected(history);
    // Without event indexes equal times overlap, so the same reads are accepted.
    const timesOnly = history.map(({ invokeEventIndex: _invoke, returnEventIndex: _return, ...rest }) => rest);
    assertAccepted(timesOnly);
  });

  it("round-trips through JSON and rejects malformed input", () => {
    const clock = { timeMs: 0, nowMs: () => clock.timeMs++ };
    const recorder = new HistoryRecorder(clock);
    recorder.ok(recorder.invoke("c1", { kind: "set", key: "k", value: "v" }));
    recorder.ok(recorder.invoke("c1", { kind: "get", key: "k" }), "v");
    recorder.unknown(recorder.invoke("c2", { kind: "del", key: "k" }));
    recorder.fail(recorder.invoke("c2", { kind: "get", key: "k" }));
    const history = recorder.history();
    const text = historyToJson(history);
    assert.deepEqual(historyFromJson(text), history);
    assert.deepEqual(historyFromJson(historyToJson([])), []);
    const bad = [
      "not json",
      "{}",
      JSON.stringify({ format: "ecc-cache-history", version: 1, operations: [{ ...history[0], returnMs: null }] }),
      JSON.stringify({ format: "ecc-cache-history", version: 1, operations: [history[0], history[0]] }),
      JSON.stringify({ format: "ecc-cache-history", version: 1, operations: [{ ...history[1], result: undefined }] }),
      JSON.stringify({ format: "ecc-cache-history", version: 1, operations: [{ ...history[0], extra: 1 }] }),
    ];
    for (const input of bad) assert.throws(() => historyFromJson(input), InvalidArgumentError, input);
  });
});

// Exhaustive reference: tries every order of every subset that contains all completed
// operations, with no memo and no pruning beyond real-time order. Only for tiny histories.
function linearizableByBruteForce(history: History): boolean {
  const candidates = history.filter((op) => op.status === "ok" || (op.status === "unknown" && op.kind !== "get"));
  const search = (remaining: Operation[], state: string | null): boolean => {
    if (remaining.every((op) => op.status !== "ok")) return true;
    for (const op of remaining) {
      // `op` may go next only if no other remaining operation returned before it was invoked.
      const blocked = remaining.some((other) => other !== op && other.returnMs !== null && other.returnMs < op.invokeMs);
      if (blocked) continue;
      if (op.kind === "get" && op.result !== state) continue;
      const stateNext = op.kind === "set" ? op.value : op.kind === "del" ? null : state;
      if (search(remaining.filter((other) => other !== op), stateNext)) return true;
    }
    return false;
  };
  return search(candidates, null);
}

// A linearizable register under concurrent clients. Every operation takes effect at one
// random instant strictly between its invoke and return; with probability unknownProbability
// it times out instead, and its effect (if any) may land long after the timeout, or never.
// Written values are unique so a mutation can point at exactly one writer.
interface Simulation {
  clientCount: number;
  keyCount: number;
  operationCount: number;
  unknownProbability: number;
}

function simulate(random: SeededRandom, simulation: Simulation): History {
  interface InFlight {
    id: number;
    kind: "get" | "set" | "del";
    key: string;
    value: string | null;
    effectAtMs: number;
    returnAtMs: number;
    applied: boolean;
    read: string | null;
    willTimeOut: boolean;
  }
  const clock = { timeMs: 0, nowMs: () => clock.timeMs };
  const recorder = new HistoryRecorder(clock);
  const registers = new Map<string, string | null>();
  const clients: Array<InFlight | null> = new Array(simulation.clientCount).fill(null);
  let limbo: InFlight[] = [];
  let started = 0;
  let valueCount = 0;
  const apply = (op: InFlight): void => {
    assert(!op.applied);
    op.applied = true;
    if (op.kind === "get") op.read = registers.get(op.key) ?? null;
    else registers.set(op.key, op.kind === "set" ? op.value : null);
  };
  const order = clients.map((_, index) => index);
  for (let tick = 0; tick < 100_000; tick++) {
    if (started === simulation.operationCount && clients.every((op) => op === null)) break;
    clock.timeMs += 1 + random.int(2);
    // Fisher–Yates, so clients interleave differently within a millisecond.
    for (let index = order.length - 1; index > 0; index--) {
      const other = random.int(index + 1);
      [order[index], order[other]] = [order[other], order[index]];
    }
    for (const clientIndex of order) {
      const op = clients[clientIndex];
      if (op === null) {
        if (started < simulation.operationCount && random.next() < 0.6) {
          const roll = random.next();
          const kind = roll < 0.45 ? "get" : roll < 0.85 ? "set" : "del";
          const key = `k${random.int(simulation.keyCount)}`;
          const value = kind === "set" ? `v${valueCount++}` : null;
          const id = recorder.invoke(`c${clientIndex}`, kind === "set" ? { kind, key, value: value as string } : { kind, key });
          const effectAtMs = clock.timeMs + 1 + random.int(6);
          const willTimeOut = random.next() < simulation.unknownProbability;
          clients[clientIndex] = {
            id,
            kind,
            key,
            value,
            // A timed-out operation may land anywhere up to long after its timeout, or never.
            effectAtMs: willTimeOut ? (random.next() < 0.3 ? Number.POSITIVE_INFINITY : clock.timeMs + 1 + random.int(60)) : effectAtMs,
            returnAtMs: effectAtMs + random.int(6),
            applied: false,
            read: null,
            willTimeOut,
          };
          started++;
        }
        continue;
      }
      if (!op.applied && clock.timeMs >= op.effectAtMs) apply(op);
      if (clock.timeMs >= op.returnAtMs) {
        if (op.willTimeOut) {
          recorder.unknown(op.id);
          if (!op.applied) limbo.push(op);
        } else {
          assert(op.applied);
          if (op.kind === "get") recorder.ok(op.id, op.read);
          else recorder.ok(op.id);
        }
        clients[clientIndex] = null;
      }
    }
    for (const op of limbo) if (clock.timeMs >= op.effectAtMs) apply(op);
    limbo = limbo.filter((op) => !op.applied);
  }
  assert.equal(started, simulation.operationCount);
  return recorder.history();
}

/**
 * Reads that provably cannot return `value`: the only write of `value` returned before
 * another completed write began, and that write returned before the read began. Strict
 * inequalities, so the argument holds whatever the tie-breaking.
 */
function impossibleReads(history: History): Array<{ read: Operation; value: string }> {
  const found: Array<{ read: Operation; value: string }> = [];
  const completedWrites = history.filter((op) => op.status === "ok" && op.kind !== "get");
  for (const write of completedWrites) {
    if (write.kind !== "set") continue;
    const value = write.value as string;
    for (const read of history) {
      if (read.kind !== "get" || read.status !== "ok" || read.key !== write.key || read.result === value) continue;
      const overwritten = completedWrites.some(
        (later) =>
          later.key === write.key && later.invokeMs > (write.returnMs as number) && (later.returnMs as number) < read.invokeMs,
      );
      if (overwritten) found.push({ read, value });
    }
  }
  return found;
}

describe("linearizability checker: randomized simulated registers", () => {
  it("agrees with exhaustive search on small random histories", () => {
    // Small value and time ranges make ties, repeated values and violations common.
    const random = new SeededRandom(42);
    const values = ["a", "b", "c"];
    const verdicts = { linearizable: 0, violation: 0 };
    for (let round = 0; round < 1500; round++) {
      const history: History = [];
      const operationCount = 1 + random.int(7);
      for (let index = 0; index < operationCount; index++) {
        const invokeMs = random.int(12);
        const returnMs = random.next() < 0.15 ? null : invokeMs + random.int(6);
        const roll = random.next();
        const client = `c${random.int(3)}`;
        if (roll < 0.45) history.push(get(client, random.next() < 0.25 ? null : values[random.int(3)], invokeMs, returnMs));
        else if (roll < 0.85) history.push(set(client, values[random.int(3)], invokeMs, returnMs));
        else history.push(del(client, invokeMs, returnMs));
        if (returnMs !== null && random.next() < 0.05) Object.assign(history[history.length - 1], { status: "fail", result: null });
      }
      const expected = linearizableByBruteForce(history);
      const check = checkRegister(history, 1_000_000);
      assert.equal(check.verdict, expected ? "linearizable" : "violation", `round ${round}:\n${formatOperations(history)}`);
      verdicts[check.verdict as "linearizable" | "violation"]++;
    }
    assert(verdicts.linearizable > 300 && verdicts.violation > 300, JSON.stringify(verdicts));
  });


  it("accepts every simulated history and rejects each after one impossible read", function () {
    this.timeout(20_000);
    const historyCount = 300;
    let staleMutations = 0;
    let operationTotal = 0;
    let unknownTotal = 0;
    for (let seed = 1; seed <= historyCount; seed++) {
      const random = new SeededRandom(seed);
      const keyCount = 1 + random.int(3);
      const simulation: Simulation = {
        clientCount: 1 + random.int(8),
        keyCount,
        operationCount: keyCount * (20 + random.int(21)),
        unknownProbability: random.next() < 0.5 ? 0 : 0.08,
      };
      const history = simulate(random, simulation);
      operationTotal += history.length;
      unknownTotal += history.filter((op) => op.status === "unknown").length;
      const verdict = checkHistory(history);
      assert.equal(verdict.ok, true, `seed ${seed}: ${verdict.ok ? "" : verdict.message}`);

      // Mutate one read; shrink only a few, to keep the test fast.
      const candidates = impossibleReads(history);
      const mutated = history.map((op) => ({ ...op }));
      let target: Operation;
      if (candidates.length > 0) {
        const choice = candidates[random.int(candidates.length)];
        target = mutated.find((op) => op.id === choice.read.id) as Operation;
        target.result = choice.value;
        staleMutations++;
      } else {
        const reads = mutated.filter((op) => op.kind === "get" && op.status === "ok");
        if (reads.length === 0) continue;
        target = reads[random.int(reads.length)];
        target.result = "never-written";
      }
      const rejected = checkHistory(mutated, { shrinkChecksMax: seed % 25 === 0 ? 300 : 0 });
      assert(!rejected.ok, `seed ${seed}: mutated read #${target.id} was accepted`);
      assert(!rejected.inconclusive, `seed ${seed}: ${rejected.message}`);
      assert.equal(rejected.key, target.key, `seed ${seed}`);
      if (seed % 25 === 0) {
        assert(rejected.minimalFailingSubHistory.length <= mutated.filter((op) => op.key === target.key).length);
        assert.equal(checkRegister(rejected.minimalFailingSubHistory, 1_000_000).verdict, "violation", `seed ${seed}`);
      }
    }
    // The stale mutations are the interesting ones; make sure most histories had one.
    assert(staleMutations >= historyCount * 0.6, `only ${staleMutations} stale mutations`);
    assert(unknownTotal > 0 && operationTotal > historyCount * 20);
  });
});
