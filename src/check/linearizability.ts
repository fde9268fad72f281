// Linearizability checker for a key-value store seen as one register per key.
//
// Model: each key is an independent register, initially absent. "set v" makes it v, "del"
// makes it absent, "expire v" makes it absent if it still holds v (a TTL or an eviction),
// "get" must return the current value (null when absent). Because the
// registers are independent, a history is linearizable exactly when each key's sub-history is
// (P-compositionality, Herlihy & Wing 1990), so keys are checked one at a time: the search
// is exponential in concurrency, and splitting keeps each search small.
//
// Per key this is the Wing–Gong algorithm as improved by Lowe (WGL), with Porcupine's
// memoisation:
// - Every operation becomes a call entry and, if it completed, a return entry; entries are
//   sorted by time in one doubly linked list.
// - The search walks the list from the front. At a call entry it tries to linearize that
//   operation next: if the model allows it and the pair (set of linearized operations, model
//   state) was never seen, it records the choice on a stack, unlinks the operation's entries
//   ("lift") and restarts from the front. At a return entry it has hit an operation that
//   must already be linearized but is not, so it backtracks: pops the last choice, relinks it
//   and tries the next call entry after it.
// - The memo is what makes this practical: two paths that linearized the same set of
//   operations and reached the same register value have the same future, so the second is
//   cut. The set is a bitset over the key's operations, stored run-length encoded because in
//   practice it is "almost everything before the frontier, plus a few".
//
// Unknown ("unknown" status) operations have no return entry: their return is at +infinity,
// so nothing ever forces them to be linearized. The search succeeds once every *completed*
// operation is linearized; unknown writes it used took effect, the rest never happened.
// Unknown gets observe nothing and are dropped up front; failed operations never happened.
//
// Two sound prunings beyond Porcupine, each argued where it is applied:
// - an unknown write whose value no completed read returns is dropped (relevantOperations);
// - a read that is legal when the scan reaches it is the only choice tried from that
//   configuration (the backtracking loop in searchRegister).
// The tests compare the result with an exhaustive search on small random histories.
//
// Cost: each step is O(n/32) for the memo key, with n the key's operation count. Memoisation
// bounds the steps by (reachable linearized sets) x (values), roughly n x 2^c for c
// concurrently open writes (open reads mostly collapse under the read rule), and every
// unknown write that is read somewhere stays open to the end, doubling the space again. The
// worst case is exponential, so every search has a step budget; running out is reported as
// inconclusive, never as a violation. The memo gains at most one entry per step, so the
// budget also bounds memory. Many concurrent clients or a large share of unknown writes can
// exhaust the default budget.
import assert from "node:assert/strict";

import { InvalidArgumentError } from "../core/errors";
import { SETNX_APPLIED, carriesValue, validateHistory, type History, type Operation } from "./history";

/** Default search budget for one key: a few seconds of work at worst. */
export const CHECK_STEPS_MAX_PER_KEY_DEFAULT = 5_000_000;
/**
 * Largest step budget accepted. The memo is a JavaScript Set with at most one entry per step,
 * and V8 caps a Set at 2^24 entries.
 */
export const CHECK_STEPS_MAX_PER_KEY_LIMIT = 16_000_000;
/** Default number of re-checks spent shrinking a failing key to a short witness. */
export const SHRINK_CHECKS_MAX_DEFAULT = 300;
/** Default budget of each shrink re-check; an inconclusive re-check keeps the operation. */
export const SHRINK_STEPS_MAX_PER_CHECK_DEFAULT = 200_000;

export interface CheckOptions {
  /** Search steps per key before the verdict is inconclusive. */
  stepsMaxPerKey?: number;
  /** Re-checks spent shrinking the failing key; 0 returns the key's whole history. */
  shrinkChecksMax?: number;
  /** Search steps per shrink re-check. */
  shrinkStepsMaxPerCheck?: number;
}

export interface CheckPassed {
  ok: true;
  keys: number;
  /** Operations checked: every operation except failed ones. */
  operations: number;
}

/** No linearization exists for `key`: a definite violation. */
export interface CheckFailed {
  ok: false;
  inconclusive: false;
  key: string;
  /** A sub-history of `key` that is still not linearizable, found by greedy shrinking. */
  minimalFailingSubHistory: Operation[];
  message: string;
  /** Every key with a definite violation (sorted); `key` is the first. */
  failingKeys: string[];
}

/** The search budget ran out on `key` before a verdict; the history may well be fine. */
export interface CheckInconclusive {
  ok: false;
  inconclusive: true;
  key: string;
  message: string;
  /** Every key whose search ran out of budget (sorted); `key` is the first. */
  inconclusiveKeys: string[];
}

export type CheckResult = CheckPassed | CheckFailed | CheckInconclusive;

export type RegisterVerdict = "linearizable" | "violation" | "inconclusive";

export interface RegisterCheck {
  verdict: RegisterVerdict;
  stepCount: number;
}

interface ResolvedOptions {
  stepsMaxPerKey: number;
  shrinkChecksMax: number;
  shrinkStepsMaxPerCheck: number;
}

function resolveOptions(options: CheckOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    stepsMaxPerKey: options.stepsMaxPerKey ?? CHECK_STEPS_MAX_PER_KEY_DEFAULT,
    shrinkChecksMax: options.shrinkChecksMax ?? SHRINK_CHECKS_MAX_DEFAULT,
    shrinkStepsMaxPerCheck: options.shrinkStepsMaxPerCheck ?? SHRINK_STEPS_MAX_PER_CHECK_DEFAULT,
  };
  checkStepBudget("stepsMaxPerKey", resolved.stepsMaxPerKey);
  checkStepBudget("shrinkStepsMaxPerCheck", resolved.shrinkStepsMaxPerCheck);
  if (!Number.isSafeInteger(resolved.shrinkChecksMax) || resolved.shrinkChecksMax < 0) {
    throw new InvalidArgumentError(`shrinkChecksMax must be a non-negative integer, got ${resolved.shrinkChecksMax}`);
  }
  return resolved;
}

function checkStepBudget(name: string, steps: number): void {
  if (!Number.isSafeInteger(steps) || steps < 1 || steps > CHECK_STEPS_MAX_PER_KEY_LIMIT) {
    throw new InvalidArgumentError(`${name} must be an integer in 1..${CHECK_STEPS_MAX_PER_KEY_LIMIT}, got ${steps}`);
  }
}

/**
 * Checks a whole history, key by key. Throws InvalidArgumentError for malformed histories
 * or options. When keys both fail and run out of budget, the definite failure is reported.
 */
export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  validateHistory(history);
  const resolved = resolveOptions(options);
  const byKey = new Map<string, Operation[]>();
  let operationCount = 0;
  for (const operation of history) {
    if (operation.status === "fail") continue;
    operationCount++;
    let operations = byKey.get(operation.key);
    if (operations === undefined) {
      operations = [];
      byKey.set(operation.key, operations);
    }
    operations.push(operation);
  }
  // Sorted so the reported key does not depend on the order clients happened to run in.
  const keys = [...byKey.keys()].sort();
  const failingKeys: string[] = [];
  const inconclusiveKeys: string[] = [];
  const stepCounts = new Map<string, number>();
  for (const key of keys) {
    const check = searchRegister(byKey.get(key) as Operation[], resolved.stepsMaxPerKey);
    stepCounts.set(key, check.stepCount);
    if (check.verdict === "violation") failingKeys.push(key);
    if (check.verdict === "inconclusive") inconclusiveKeys.push(key);
  }
  if (failingKeys.length > 0) {
    const key = failingKeys[0];
    const operations = byKey.get(key) as Operation[];
    const shrunk = shrinkFailing(operations, resolved);
    const message =
      `key ${JSON.stringify(key)} is not linearizable: no order of its ${operations.length} operations ` +
      `fits a register (searched ${stepCounts.get(key)} steps). ` +
      `A failing sub-history of ${shrunk.operations.length} operations (greedy shrink, ${shrunk.checkCount} re-checks):\n` +
      formatOperations(shrunk.operations) +
      surroundings(operations, shrunk.operations) +
      (failingKeys.length > 1 ? `\nother failing keys: ${failingKeys.slice(1).map((k) => JSON.stringify(k)).join(", ")}` : "");
    return { ok: false, inconclusive: false, key, minimalFailingSubHistory: shrunk.operations, message, failingKeys };
  }
  if (inconclusiveKeys.length > 0) {
    const key = inconclusiveKeys[0];
    const operations = byKey.get(key) as Operation[];
    const unknownCount = operations.filter((operation) => operation.status === "unknown").length;
    const message =
      `search budget exhausted on key ${JSON.stringify(key)} after ${stepCounts.get(key)} steps ` +
      `(${operations.length} operations, ${unknownCount} unknown): the history may or may not be linearizable; ` +
      `raise stepsMaxPerKey or check shorter histories` +
      (inconclusiveKeys.length > 1 ? ` (${inconclusiveKeys.length} keys ran out of budget)` : "");
    return { ok: false, inconclusive: true, key, message, inconclusiveKeys };
  }
  return { ok: true, keys: keys.length, operations: operationCount };
}

/** Most operations of the full history shown around a shrunk sub-history. */
const SURROUNDING_OPERATIONS_MAX = 40;

/**
 * The full history's other operations that overlap the shrunk sub-history's time span. A
 * sub-history fails on its own, but dropping a write can itself make a history fail (drop
 * the del between a set and a setnx that applied), so the shrunk one need not show why the
 * whole history failed: read it with what happened around it. (A false violation of the
 * checker was once misread this way: its shrunk history was "set ok, then setnx applied",
 * with an ok del in between in the full history.)
 */
function surroundings(all: readonly Operation[], shrunk: readonly Operation[]): string {
  const fromMs = Math.min(...shrunk.map((operation) => operation.invokeMs));
  const untilMs = Math.max(...shrunk.map((operation) => operation.returnMs ?? operation.invokeMs));
  const kept = new Set(shrunk);
  const around = all
    .filter((operation) => !kept.has(operation) && operation.status !== "fail" && operation.invokeMs <= untilMs && (operation.returnMs ?? Infinity) >= fromMs)
    .sort(compareByInvocation);
  if (around.length === 0) return "";
  const shown = around.slice(0, SURROUNDING_OPERATIONS_MAX);
  const more = around.length > shown.length ? `\n  ... and ${around.length - shown.length} more` : "";
  return `\nthe full history's other operations in that span (${around.length}; a dropped write can be what made the sub-history fail):\n${formatOperations(shown)}${more}`;
}

/**
 * WGL search over one key's operations (all must share a key; failed ones are ignored).
 * Exported for tests and for callers that already partitioned their history.
 */
export function checkRegister(operations: readonly Operation[], stepsMax: number): RegisterCheck {
  validateHistory(operations);
  checkStepBudget("stepsMax", stepsMax);
  const keys = new Set(operations.map((operation) => operation.key));
  if (keys.size > 1) throw new InvalidArgumentError(`checkRegister takes one key's operations, got ${keys.size} keys`);
  return searchRegister(operations, stepsMax);
}

/** The search itself, on operations already validated and of one key. */
function searchRegister(operations: readonly Operation[], stepsMax: number): RegisterCheck {
  const relevant = relevantOperations(operations);
  const operationCount = relevant.length;
  if (operationCount === 0) return { verdict: "linearizable", stepCount: 0 };

  // Register values are interned to small integers so the model state is a number; 0 is
  // "absent". A get result nobody wrote still gets an id, one no state will ever equal.
  const valueIds = new Map<string, number>();
  const intern = (value: string | null): number => {
    if (value === null) return 0;
    let valueId = valueIds.get(value);
    if (valueId === undefined) {
      valueId = valueIds.size + 1;
      valueIds.set(value, valueId);
    }
    return valueId;
  };
  const kindCodes = new Uint8Array(operationCount); // 0 get, 1 set, 2 del, 3 expire, 4 setnx
  const argumentIds = new Int32Array(operationCount); // set, setnx: value written; get: value read; expire: value removed
  // setnx: 1 it applied, 0 it found the key present, -1 unknown (either, whichever the state allows)
  const setnxApplied = new Int8Array(operationCount);
  const completed = new Uint8Array(operationCount);
  let completedRemaining = 0;
  for (let operationIndex = 0; operationIndex < operationCount; operationIndex++) {
    const operation = relevant[operationIndex];
    kindCodes[operationIndex] = operation.kind === "get" ? 0 : operation.kind === "set" ? 1 : operation.kind === "del" ? 2 : operation.kind === "expire" ? 3 : 4;
    argumentIds[operationIndex] = carriesValue(operation.kind) ? intern(operation.value) : operation.kind === "get" ? intern(operation.result) : 0;
    setnxApplied[operationIndex] = operation.status !== "ok" ? -1 : operation.result === SETNX_APPLIED ? 1 : 0;
    if (operation.status === "ok") {
      completed[operationIndex] = 1;
      completedRemaining++;
    }
  }
  if (completedRemaining === 0) return { verdict: "linearizable", stepCount: 0 };

  // Entries: a call per operation and a return per completed one, in real-time order.
  interface Entry {
    operationIndex: number;
    isCall: boolean;
    timeMs: number;
    eventIndex: number | undefined;
  }
  const entries: Entry[] = [];
  for (let operationIndex = 0; operationIndex < operationCount; operationIndex++) {
    const operation = relevant[operationIndex];
    entries.push({ operationIndex, isCall: true, timeMs: operation.invokeMs, eventIndex: operation.invokeEventIndex });
    if (completed[operationIndex] === 1) {
      entries.push({ operationIndex, isCall: false, timeMs: operation.returnMs as number, eventIndex: operation.returnEventIndex });
    }
  }
  entries.sort((a, b) => {
    if (a.timeMs !== b.timeMs) return a.timeMs - b.timeMs;
    // The recorder's event order is the real order of equal timestamps.
    if (a.eventIndex !== undefined && b.eventIndex !== undefined && a.eventIndex !== b.eventIndex) return a.eventIndex - b.eventIndex;
    // Without it, calls go first: equal times are treated as overlapping, which may accept
    // a violation hidden by the tie but never rejects a correct history.
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.operationIndex - b.operationIndex;
  });

  // Doubly linked list over entry positions, with head and tail sentinels.
  const entryCount = entries.length;
  const head = entryCount;
  const tail = entryCount + 1;
  const next = new Int32Array(entryCount + 2);
  const prev = new Int32Array(entryCount + 2);
  const entryOperation = new Int32Array(entryCount);
  const entryIsCall = new Uint8Array(entryCount);
  const callEntryOf = new Int32Array(operationCount).fill(-1);
  const returnEntryOf = new Int32Array(operationCount).fill(-1);
  let previous = head;
  for (let position = 0; position < entryCount; position++) {
    const entry = entries[position];
    entryOperation[position] = entry.operationIndex;
    entryIsCall[position] = entry.isCall ? 1 : 0;
    if (entry.isCall) callEntryOf[entry.operationIndex] = position;
    else returnEntryOf[entry.operationIndex] = position;
    next[previous] = position;
    prev[position] = previous;
    previous = position;
  }
  next[previous] = tail;
  prev[tail] = previous;

  const unlink = (position: number): void => {
    next[prev[position]] = next[position];
    prev[next[position]] = prev[position];
  };
  const relink = (position: number): void => {
    next[prev[position]] = position;
    prev[next[position]] = position;
  };
  // Lifts and unlifts nest like the stack, so relinking in reverse order restores the list.
  const lift = (operationIndex: number): void => {
    unlink(callEntryOf[operationIndex]);
    if (returnEntryOf[operationIndex] >= 0) unlink(returnEntryOf[operationIndex]);
  };
  const unlift = (operationIndex: number): void => {
    if (returnEntryOf[operationIndex] >= 0) relink(returnEntryOf[operationIndex]);
    relink(callEntryOf[operationIndex]);
  };

  const linearized = new Uint32Array(Math.ceil(operationCount / 32));
  const memo = new Set<string>();
  const stackOperation = new Int32Array(operationCount);
  const stackState = new Int32Array(operationCount);
  let stackDepth = 0;
  let state = 0;
  let entry = next[head];
  let stepCount = 0;
  while (completedRemaining > 0) {
    if (stepCount >= stepsMax) return { verdict: "inconclusive", stepCount };
    stepCount++;
    // The scan never passes a return entry (it stops there), and every unlinearized
    // completed operation has one, so the tail is out of reach while any remain.
    assert(entry !== tail && entry !== head);
    const operationIndex = entryOperation[entry];
    if (entryIsCall[entry] === 1) {
      const kindCode = kindCodes[operationIndex];
      const isRead = kindCode === 0;
      // A setnx that returned must have found the key as its result says (absent: applied).
      const setnxFits = kindCode !== 4 || setnxApplied[operationIndex] === -1 || (setnxApplied[operationIndex] === 1) === (state === 0);
      if ((!isRead || argumentIds[operationIndex] === state) && setnxFits) {
        // set: its value; del: absent; expire: absent if the value is still the one it
        // removes; setnx: its value if the key is absent, else nothing changes.
        const stateNext = isRead
          ? state
          : kindCode === 3
            ? argumentIds[operationIndex] === state
              ? 0
              : state
            : kindCode === 4
              ? state === 0
                ? argumentIds[operationIndex]
                : state
              : argumentIds[operationIndex];
        const word = operationIndex >>> 5;
        const bit = 1 << (operationIndex & 31);
        linearized[word] |= bit;
        const memoSizeBefore = memo.size;
        memo.add(memoKey(linearized, stateNext));
        if (memo.size !== memoSizeBefore) {
          stackOperation[stackDepth] = operationIndex;
          stackState[stackDepth] = state;
          stackDepth++;
          state = stateNext;
          lift(operationIndex);
          if (completed[operationIndex] === 1) completedRemaining--;
          entry = next[head];
          continue;
        }
        // Seen before: that configuration was explored to the end and failed.
        linearized[word] &= ~bit;
        if (!isRead) {
          entry = next[entry];
          continue;
        }
        // A legal read is the only choice worth trying here (see backtrack below), so a
        // failed one means this whole configuration fails: fall through and backtrack.
      } else {
        entry = next[entry];
        continue;
      }
    }
    // Dead end: an operation returned without being linearized, or a forced read failed.
    // Undo choices until one has alternatives left. A read that was legal when reached is
    // never one: moving a read earlier keeps every other read's result (reads change no
    // state) and every real-time constraint (all operations that returned before its call
    // are already linearized, or the scan would have stopped at their return entry). So if
    // any order works from here, one that takes the read now works too.
    for (;;) {
      if (stackDepth === 0) return { verdict: "violation", stepCount };
      stackDepth--;
      const undone = stackOperation[stackDepth];
      state = stackState[stackDepth];
      linearized[undone >>> 5] &= ~(1 << (undone & 31));
      unlift(undone);
      if (completed[undone] === 1) completedRemaining++;
      if (kindCodes[undone] !== 0) {
        entry = next[callEntryOf[undone]];
        break;
      }
    }
  }
  return { verdict: "linearizable", stepCount };
}

/**
 * The operations that can matter to the search. Failed operations never happened. Unknown
 * gets observe nothing and change nothing. An unknown write whose resulting value no
 * completed read returns (a get, or a setnx: applied reads "absent", not applied reads "some
 * value") and no expire removes is dropped too: in any order that uses it,
 * the next operation must be another write (no read can follow it, and no expire of its
 * value can turn it into "absent"), so deleting it leaves a valid order. This
 * matters because an unknown operation stays in play until the end of the history, and each
 * one doubles the configurations the search may visit.
 */
function relevantOperations(operations: readonly Operation[]): Operation[] {
  const valuesRead = new Set<string | null>();
  // A setnx that returned is a read too: "applied" saw the key absent, "not applied" saw it
  // hold some value, which any set invoked before that setnx returned may have written
  // (found in CI: an unknown del pruned as unobserved was what a later applied setnx saw).
  let absenceSeenUntilMs = -Infinity;
  let presenceSeenUntilMs = -Infinity;
  for (const operation of operations) {
    if (operation.kind === "get" && operation.status === "ok") valuesRead.add(operation.result);
    if (operation.kind === "setnx" && operation.status === "ok") {
      const returnMs = operation.returnMs ?? Infinity;
      if (operation.result === SETNX_APPLIED) absenceSeenUntilMs = Math.max(absenceSeenUntilMs, returnMs);
      else presenceSeenUntilMs = Math.max(presenceSeenUntilMs, returnMs);
    }
    // An expire of v may follow a set of v and be followed by a read of "absent": that set
    // matters even if no read returned v.
    if (operation.kind === "expire" && operation.status !== "fail") valuesRead.add(operation.value);
  }
  return operations.filter((operation) => {
    if (operation.status === "ok") return true;
    if (operation.status === "fail" || operation.kind === "get") return false;
    // An unknown del or expire matters only if some read saw the key absent; an unknown set
    // or setnx only if some read saw its value, or a setnx that returned after it began
    // found the key present (or absent, for a del or an expire).
    if (operation.kind === "set" || operation.kind === "setnx") return valuesRead.has(operation.value) || operation.invokeMs < presenceSeenUntilMs;
    return valuesRead.has(null) || operation.invokeMs < absenceSeenUntilMs;
  });
}

/**
 * Memo key: the model state, then the positions where the bitset flips between 0 and 1.
 * Whole words of one value are skipped, so the key stays short for long histories.
 */
function memoKey(bits: Uint32Array, state: number): string {
  const parts: number[] = [state];
  let current = 0;
  for (let wordIndex = 0; wordIndex < bits.length; wordIndex++) {
    const word = bits[wordIndex];
    if (word === (current === 0 ? 0 : 0xffffffff)) continue;
    for (let bitIndex = 0; bitIndex < 32; bitIndex++) {
      const bit = (word >>> bitIndex) & 1;
      if (bit !== current) {
        parts.push(wordIndex * 32 + bitIndex);
        current = bit;
      }
    }
  }
  return parts.join(",");
}

interface Shrunk {
  operations: Operation[];
  checkCount: number;
}

/**
 * Greedy shrinking of a failing key. First the shortest failing prefix in invocation order
 * (binary search), then one operation at a time: an operation is dropped when the history
 * without it still fails, and kept when its removal makes it pass or the re-check runs out
 * of budget. Every accepted candidate was re-checked, so the result always fails.
 *
 * A write is never dropped while a remaining read returns its value and no other remaining
 * write does: that would turn, say, a stale read into a read of a value never written, which
 * still fails but no longer shows what went wrong.
 */
function shrinkFailing(operations: readonly Operation[], options: ResolvedOptions): Shrunk {
  let current = relevantOperations(operations).sort(compareByInvocation);
  let checkCount = 0;
  const fails = (candidate: readonly Operation[]): boolean => {
    checkCount++;
    return searchRegister(candidate, options.shrinkStepsMaxPerCheck).verdict === "violation";
  };

  // The prefix search assumes nothing about monotonicity: `high` is always a checked failure.
  let low = 1;
  let high = current.length;
  while (low < high && checkCount < options.shrinkChecksMax) {
    const middle = Math.floor((low + high) / 2);
    if (fails(current.slice(0, middle))) high = middle;
    else low = middle + 1;
  }
  current = current.slice(0, high);

  // Passes repeat because dropping a read can free its write for removal on the next pass.
  // Each pass that continues removed at least one operation, so there are at most n passes.
  for (let removedInPass = true; removedInPass && checkCount < options.shrinkChecksMax; ) {
    removedInPass = false;
    for (let position = 0; position < current.length && checkCount < options.shrinkChecksMax; ) {
      const removed = current[position];
      const candidate = current.slice(0, position).concat(current.slice(position + 1));
      if (!orphansARead(removed, candidate) && fails(candidate)) {
        current = candidate;
        removedInPass = true;
      } else {
        position++;
      }
    }
  }
  assert(current.length > 0);
  return { operations: current, checkCount };
}

function orphansARead(removed: Operation, remaining: readonly Operation[]): boolean {
  if (removed.kind !== "set" && removed.kind !== "setnx") return false;
  const value = removed.value;
  const read = remaining.some((operation) => operation.kind === "get" && operation.status === "ok" && operation.result === value);
  if (!read) return false;
  return !remaining.some((operation) => (operation.kind === "set" || operation.kind === "setnx") && operation.value === value);
}

function compareByInvocation(a: Operation, b: Operation): number {
  if (a.invokeMs !== b.invokeMs) return a.invokeMs - b.invokeMs;
  if (a.invokeEventIndex !== undefined && b.invokeEventIndex !== undefined) return a.invokeEventIndex - b.invokeEventIndex;
  return a.id - b.id;
}

/**
 * One line per operation, in invocation order:
 *   `#3  c2  get x          -> "a"      [12, 15]`
 * Unknown operations show `-> unknown` and `[invokeMs, ∞)`.
 */
export function formatOperations(operations: readonly Operation[]): string {
  const sorted = [...operations].sort(compareByInvocation);
  const rows = sorted.map((operation) => {
    const request = carriesValue(operation.kind)
      ? `${operation.kind} ${JSON.stringify(operation.key)} ${JSON.stringify(operation.value)}`
      : `${operation.kind} ${JSON.stringify(operation.key)}`;
    let outcome: string;
    if (operation.status === "unknown") outcome = "unknown";
    else if (operation.status === "fail") outcome = "fail";
    else if (operation.kind === "get") outcome = operation.result === null ? "absent" : JSON.stringify(operation.result);
    else if (operation.kind === "setnx") outcome = operation.result === SETNX_APPLIED ? "applied" : "not applied (present)";
    else outcome = "ok";
    const window = operation.returnMs === null ? `[${operation.invokeMs}, ∞)` : `[${operation.invokeMs}, ${operation.returnMs}]`;
    return [`#${operation.id}`, operation.clientId, request, `-> ${outcome}`, window];
  });
  const widths = [0, 0, 0, 0];
  for (const row of rows) for (let column = 0; column < widths.length; column++) widths[column] = Math.max(widths[column], row[column].length);
  return rows.map((row) => "  " + row.map((cell, column) => (column < widths.length ? cell.padEnd(widths[column]) : cell)).join("  ")).join("\n");
}
