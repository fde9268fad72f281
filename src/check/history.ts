// Operation histories for the linearizability checker (src/check/linearizability.ts).
//
// A history is what clients saw, nothing more: for each operation, when it was invoked, when
// (and whether) it returned, and what a read returned. The recorder takes time from an
// injected Clock so a simulated run records the same history on every replay.
//
// Outcomes, and what the checker may assume about each:
// - "ok":      the operation took effect exactly once, at some instant in [invokeMs, returnMs].
// - "fail":    it definitely did not take effect (for example rejected before it was sent).
//              The checker ignores it; the recorder keeps it only so a dumped history is complete.
// - "unknown": timed out or otherwise indeterminate. It may have taken effect at any instant
//              after invokeMs, even long after the client gave up, or never. Its return time
//              is +infinity, so returnMs is null.
//
// Values are compared as strings; callers hash binary values (hex) before recording them.
//
// Clocks with coarse resolution make equal timestamps common, and a tie hides which event
// came first. The recorder therefore also stamps every event with its position in the
// recorder's own event sequence (invokeEventIndex, returnEventIndex). Those are real-time
// order as the recorder saw it, so the checker uses them to break ties. Hand-written
// histories may leave them out; ties are then treated as overlapping, which can hide a
// violation but never invent one.
import assert from "node:assert/strict";

import type { Clock } from "../core/env";
import { InvalidArgumentError, errorMessage } from "../core/errors";

/**
 * get, set, del: a client's. expire: the key's value is removed if it is still `value`
 * (a TTL running out, or the cluster evicting the key at the version that held `value`);
 * otherwise nothing changes. setnx: Redis's SET NX, a set of `value` only if the key is
 * absent; an ok one's result says whether it applied ("1") or found the key present ("0").
 */
export type OperationKind = "get" | "set" | "del" | "expire" | "setnx";

/** The results an ok setnx records. */
export const SETNX_APPLIED = "1";
export const SETNX_NOT_APPLIED = "0";

/** Kinds that carry a value (the value written, or removed by an expire). */
export function carriesValue(kind: OperationKind): boolean {
  return kind === "set" || kind === "expire" || kind === "setnx";
}
export type OperationStatus = "ok" | "fail" | "unknown";

/** One client operation on one key. Plain data: survives JSON round trips unchanged. */
export interface Operation {
  /** Unique within a history; the recorder numbers operations in invocation order from 0. */
  id: number;
  clientId: string;
  kind: OperationKind;
  key: string;
  /** The value written by a "set", or removed by an "expire"; null for "get" and "del". */
  value: string | null;
  /**
   * What an "ok" "get" returned: the value, or null when the key was absent. Null for every
   * other operation (a "set" or "del" returns nothing the register model checks).
   */
  result: string | null;
  invokeMs: number;
  /** Null exactly when status is "unknown" (return at +infinity). */
  returnMs: number | null;
  status: OperationStatus;
  /** Position of the invoke event in the recorder's event sequence (0-based); tie-breaker. */
  invokeEventIndex?: number;
  /** Position of the return event; absent when status is "unknown". */
  returnEventIndex?: number;
}

export type History = Operation[];

/** What a client asks for; `value` only for "set" and "expire". */
export interface OperationRequest {
  kind: OperationKind;
  key: string;
  value?: string;
}

export type OperationHandle = number;

/** Default cap on recorded operations, so a runaway workload fails loudly, not out of memory. */
export const RECORDER_OPERATIONS_MAX_DEFAULT = 1_000_000;

export interface HistoryRecorderOptions {
  operationsMax?: number;
}

/**
 * Records invocations and outcomes in the order they happen. Not thread-safe by design:
 * Node runs one callback at a time, and the call order is the real-time order.
 */
export class HistoryRecorder {
  private readonly clock: Clock;
  private readonly operationsMax: number;
  private readonly operations: Operation[] = [];
  /** Handles invoked but not yet completed. */
  private readonly pending = new Set<OperationHandle>();
  private eventCount = 0;
  private lastMs = Number.NEGATIVE_INFINITY;

  constructor(clock: Clock, options: HistoryRecorderOptions = {}) {
    const operationsMax = options.operationsMax ?? RECORDER_OPERATIONS_MAX_DEFAULT;
    if (!Number.isSafeInteger(operationsMax) || operationsMax < 1) {
      throw new InvalidArgumentError(`operationsMax must be a positive integer, got ${operationsMax}`);
    }
    this.clock = clock;
    this.operationsMax = operationsMax;
  }

  get operationCount(): number {
    return this.operations.length;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  invoke(clientId: string, request: OperationRequest): OperationHandle {
    assert(typeof clientId === "string", "clientId must be a string");
    assert(typeof request.key === "string", "key must be a string");
    if (carriesValue(request.kind)) {
      assert(typeof request.value === "string", `a ${request.kind} needs a string value (hash binary values to hex)`);
    } else {
      assert(request.kind === "get" || request.kind === "del", `unknown operation kind ${String(request.kind)}`);
      assert(request.value === undefined, `a ${request.kind} carries no value`);
    }
    assert(this.operations.length < this.operationsMax, `more than ${this.operationsMax} operations recorded; raise operationsMax`);
    const id = this.operations.length;
    this.operations.push({
      id,
      clientId,
      kind: request.kind,
      key: request.key,
      value: carriesValue(request.kind) ? (request.value as string) : null,
      result: null,
      invokeMs: this.now(),
      returnMs: null,
      status: "unknown",
      invokeEventIndex: this.eventCount++,
    });
    this.pending.add(id);
    return id;
  }

  /** The operation took effect. For a "get", `result` is the value read, or null when absent. */
  ok(id: OperationHandle, result?: string | null): void {
    const kind = this.pendingOperation(id).kind;
    if (kind === "get") {
      assert(result === null || typeof result === "string", "an ok get needs its result: a string, or null when absent");
    } else if (kind === "setnx") {
      assert(result === SETNX_APPLIED || result === SETNX_NOT_APPLIED, "an ok setnx needs its result: \"1\" applied, \"0\" not");
    } else {
      assert(result === undefined, `an ok ${kind} has no result`);
    }
    const operation = this.take(id);
    if (kind === "get" || kind === "setnx") operation.result = result as string | null;
    this.complete(operation, "ok");
  }

  /** The operation definitely did not take effect. */
  fail(id: OperationHandle): void {
    this.complete(this.take(id), "fail");
  }

  /** The outcome is indeterminate: it may take effect at any time after its invocation, or never. */
  unknown(id: OperationHandle): void {
    const operation = this.take(id);
    // Return stays null (+infinity): the effect may land after the client stopped waiting.
    operation.status = "unknown";
  }

  /**
   * A deep copy of everything recorded so far, in invocation order. Operations still pending
   * appear as "unknown", which is exactly what they are to a checker run now.
   */
  history(): History {
    return this.operations.map((operation) => ({ ...operation }));
  }

  private pendingOperation(id: OperationHandle): Operation {
    assert(Number.isSafeInteger(id) && id >= 0 && id < this.operations.length, `no operation ${id}`);
    assert(this.pending.has(id), `operation ${id} already completed`);
    return this.operations[id];
  }

  private take(id: OperationHandle): Operation {
    const operation = this.pendingOperation(id);
    this.pending.delete(id);
    return operation;
  }

  private complete(operation: Operation, status: "ok" | "fail"): void {
    operation.status = status;
    operation.returnMs = this.now();
    operation.returnEventIndex = this.eventCount++;
  }

  private now(): number {
    const nowMs = this.clock.nowMs();
    assert(Number.isFinite(nowMs), "the clock returned a non-finite time");
    // Events are recorded in real-time order; a clock going backwards would reorder them.
    assert(nowMs >= this.lastMs, `the clock went backwards: ${nowMs} < ${this.lastMs}`);
    this.lastMs = nowMs;
    return nowMs;
  }
}

const HISTORY_FORMAT = "ecc-cache-history";
const HISTORY_FORMAT_VERSION = 1;

/** JSON text, one operation per line so dumped histories diff well. */
export function historyToJson(history: History): string {
  validateHistory(history);
  const lines = history.map((operation) => "  " + JSON.stringify(operation));
  const body = lines.length === 0 ? "[]" : "[\n" + lines.join(",\n") + "\n]";
  return `{"format":"${HISTORY_FORMAT}","version":${HISTORY_FORMAT_VERSION},"operations":${body}}\n`;
}

/** Parses and validates; malformed input is an InvalidArgumentError naming the problem. */
export function historyFromJson(text: string): History {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`history is not JSON: ${errorMessage(error)}`, { cause: error });
  }
  if (typeof parsed !== "object" || parsed === null) throw new InvalidArgumentError("history must be a JSON object");
  const document = parsed as Record<string, unknown>;
  if (document.format !== HISTORY_FORMAT || document.version !== HISTORY_FORMAT_VERSION) {
    throw new InvalidArgumentError(`history format must be ${HISTORY_FORMAT} version ${HISTORY_FORMAT_VERSION}`);
  }
  if (!Array.isArray(document.operations)) throw new InvalidArgumentError("history.operations must be an array");
  const history: History = document.operations.map((raw: unknown, position: number) => readOperation(raw, position));
  validateHistory(history);
  return history;
}

const OPERATION_FIELDS = new Set([
  "id",
  "clientId",
  "kind",
  "key",
  "value",
  "result",
  "invokeMs",
  "returnMs",
  "status",
  "invokeEventIndex",
  "returnEventIndex",
]);

function readOperation(raw: unknown, position: number): Operation {
  const where = `operations[${position}]`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new InvalidArgumentError(`${where} must be an object`);
  const fields = raw as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!OPERATION_FIELDS.has(name)) throw new InvalidArgumentError(`${where} has unknown field ${JSON.stringify(name)}`);
  }
  const operation: Operation = {
    id: fields.id as number,
    clientId: fields.clientId as string,
    kind: fields.kind as OperationKind,
    key: fields.key as string,
    value: fields.value as string | null,
    result: fields.result as string | null,
    invokeMs: fields.invokeMs as number,
    returnMs: fields.returnMs as number | null,
    status: fields.status as OperationStatus,
  };
  if (fields.invokeEventIndex !== undefined) operation.invokeEventIndex = fields.invokeEventIndex as number;
  if (fields.returnEventIndex !== undefined) operation.returnEventIndex = fields.returnEventIndex as number;
  return operation;
}

/**
 * Checks the shape rules every history must meet; throws InvalidArgumentError on the first
 * violation. Histories come from files too, so this is input checking, not an assertion.
 */
export function validateHistory(history: readonly Operation[]): void {
  if (!Array.isArray(history)) throw new InvalidArgumentError("a history is an array of operations");
  const ids = new Set<number>();
  let withEventIndexes = 0;
  for (const operation of history) {
    const where = `operation ${JSON.stringify(operation?.id)}`;
    if (typeof operation !== "object" || operation === null) throw new InvalidArgumentError("every operation must be an object");
    if (!Number.isSafeInteger(operation.id)) throw new InvalidArgumentError(`${where}: id must be an integer`);
    if (ids.has(operation.id)) throw new InvalidArgumentError(`${where}: duplicate id`);
    ids.add(operation.id);
    if (typeof operation.clientId !== "string") throw new InvalidArgumentError(`${where}: clientId must be a string`);
    if (typeof operation.key !== "string") throw new InvalidArgumentError(`${where}: key must be a string`);
    if (operation.kind !== "get" && operation.kind !== "set" && operation.kind !== "del" && operation.kind !== "expire" && operation.kind !== "setnx") {
      throw new InvalidArgumentError(`${where}: kind must be get, set, del, expire or setnx`);
    }
    if (operation.status !== "ok" && operation.status !== "fail" && operation.status !== "unknown") {
      throw new InvalidArgumentError(`${where}: status must be ok, fail or unknown`);
    }
    if (carriesValue(operation.kind) ? typeof operation.value !== "string" : operation.value !== null) {
      throw new InvalidArgumentError(`${where}: value must be a string for set, expire and setnx, and null otherwise`);
    }
    const readsResult = operation.kind === "get" && operation.status === "ok";
    const setnxResult = operation.kind === "setnx" && operation.status === "ok";
    if (setnxResult ? operation.result !== SETNX_APPLIED && operation.result !== SETNX_NOT_APPLIED : readsResult ? !(operation.result === null || typeof operation.result === "string") : operation.result !== null) {
      throw new InvalidArgumentError(`${where}: result must be a string or null for an ok get, "1" or "0" for an ok setnx, and null otherwise`);
    }
    if (!Number.isFinite(operation.invokeMs)) throw new InvalidArgumentError(`${where}: invokeMs must be a finite number`);
    if (operation.status === "unknown") {
      if (operation.returnMs !== null) throw new InvalidArgumentError(`${where}: an unknown operation has returnMs null`);
      if (operation.returnEventIndex !== undefined) {
        throw new InvalidArgumentError(`${where}: an unknown operation has no returnEventIndex`);
      }
    } else {
      if (typeof operation.returnMs !== "number" || !Number.isFinite(operation.returnMs)) {
        throw new InvalidArgumentError(`${where}: a completed operation needs a finite returnMs`);
      }
      if (operation.returnMs < operation.invokeMs) throw new InvalidArgumentError(`${where}: returnMs is before invokeMs`);
    }
    if (operation.invokeEventIndex !== undefined) {
      withEventIndexes++;
      if (!Number.isSafeInteger(operation.invokeEventIndex) || operation.invokeEventIndex < 0) {
        throw new InvalidArgumentError(`${where}: invokeEventIndex must be a non-negative integer`);
      }
      if (operation.status !== "unknown") {
        const returnEventIndex = operation.returnEventIndex;
        if (returnEventIndex === undefined || !Number.isSafeInteger(returnEventIndex) || returnEventIndex <= operation.invokeEventIndex) {
          throw new InvalidArgumentError(`${where}: returnEventIndex must be an integer after invokeEventIndex`);
        }
      }
    } else if (operation.returnEventIndex !== undefined) {
      throw new InvalidArgumentError(`${where}: returnEventIndex without invokeEventIndex`);
    }
  }
  // Ties are broken by event index only when every event has one; a mix has no total order.
  if (withEventIndexes !== 0 && withEventIndexes !== history.length) {
    throw new InvalidArgumentError("either every operation carries event indexes or none does");
  }
}
