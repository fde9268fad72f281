// The workload: concurrent clients doing random get/set/del (and SET NX where the target has
// it) on a few keys, every operation
// recorded in a HistoryRecorder for the linearizability checker.
//
// How outcomes are recorded (history.ts defines what each means to the checker):
// - a get that returns: ok with its result; a get that throws or misses its deadline: fail
//   (a read changes nothing, so the checker may ignore it either way);
// - a set/del that returns: ok; a setnx (SET NX) that returns: ok, with whether it applied;
// - a set/del rejected as bad input (InvalidArgumentError, KeyTooLargeError,
//   ValueTooLargeError): fail, it never left the client;
// - a set/del that throws anything else or misses its deadline: unknown. The clients'
//   errors do not tell reliably whether a write reached some node's EcCommit (an ecc write
//   that failed after a member acknowledged EcCommit surfaces as "outcome unknown", and a
//   raft write may have been appended before the leader was lost), so we never call it fail.
//
// After an unknown outcome the client closes its connection object and opens a fresh one:
// the abandoned operation may still land later (the history allows that), but no retry of
// it can race the client's next operation on the same object.
import { InvalidArgumentError, KeyTooLargeError, ValueTooLargeError, errorMessage } from "../core/errors";
import { Random, SeededRandom } from "../core/env";
import assert from "node:assert/strict";
import { HistoryRecorder, OperationKind, SETNX_APPLIED, SETNX_NOT_APPLIED } from "../check/history";

/** What the workload needs of a store: one client connection. */
export interface KvTarget {
  get(key: string): Promise<string | null>;
  /** ttlMs: the value expires that long after the write (targets that support TTLs). */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  del(key: string): Promise<void>;
  /** SET NX: true when it applied, false when the key held a value. Absent: the target has no conditional writes. */
  setNx?(key: string, value: string): Promise<boolean>;
  close(): void;
}

export type TargetFactory = () => Promise<KvTarget>;

export interface WorkloadOptions {
  clientCount: number;
  keys: readonly string[];
  seed: number;
  /** Per-operation deadline: past it the operation is given up as unknown (writes). */
  operationTimeoutMs: number;
  /** Each client waits up to this long (uniform) between operations. */
  thinkMsMax: number;
  /** Fractions of get and set; the rest are del. */
  getFraction: number;
  setFraction: number;
  /** Fraction of SET NX, taken from the sets' share (only for targets with setNx). */
  setNxFraction?: number;
  /** Told of every operation recorded as unknown, with the error class that made it so. */
  onUnknown?: (operationId: number, errorName: string) => void;
  /** When set, a third of the sets carry this TTL (the cluster's expirations join the history from its logs). */
  ttlMs?: number;
}

export const WORKLOAD_DEFAULTS = {
  clientCount: 8,
  keyCount: 4,
  operationTimeoutMs: 8_000,
  thinkMsMax: 20,
  getFraction: 0.5,
  setFraction: 0.35,
} as const;

export type OperationOutcome = { operationId: number } & (
  | { status: "ok"; result?: string | null }
  | { status: "fail"; reason: string }
  | { status: "unknown"; reason: string; errorName: string }
);

/** Write errors that mean "never sent": the only write errors recorded as fail. */
export function isDefiniteWriteFailure(error: unknown): boolean {
  return error instanceof InvalidArgumentError || error instanceof KeyTooLargeError || error instanceof ValueTooLargeError;
}

class DeadlineError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = "DeadlineError";
  }
}

/**
 * Runs `operation` with a deadline. The error is created when the wait starts (so a stack
 * shows who waited); a late rejection of the abandoned promise is swallowed on purpose: its
 * outcome is already recorded as unknown.
 */
export async function withDeadline<T>(operation: Promise<T>, timeoutMs: number): Promise<T> {
  const deadlineError = new DeadlineError(timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  operation.catch(() => undefined);
  try {
    return await Promise.race([
      operation,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(deadlineError), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Performs one recorded operation on `target`. */
export async function recordedOperation(
  recorder: HistoryRecorder,
  clientId: string,
  target: KvTarget,
  kind: OperationKind,
  key: string,
  value: string | null,
  timeoutMs: number,
  ttlMs?: number,
): Promise<OperationOutcome> {
  const handle = recorder.invoke(clientId, kind === "set" || kind === "setnx" ? { kind, key, value: value as string } : { kind, key });
  try {
    if (kind === "get") {
      const result = await withDeadline(target.get(key), timeoutMs);
      recorder.ok(handle, result);
      return { operationId: handle, status: "ok", result };
    }
    if (kind === "setnx") {
      assert.ok(target.setNx !== undefined, "a setnx needs a target with conditional writes");
      const applied = await withDeadline(target.setNx(key, value as string), timeoutMs);
      const result = applied ? SETNX_APPLIED : SETNX_NOT_APPLIED;
      recorder.ok(handle, result);
      return { operationId: handle, status: "ok", result };
    }
    await withDeadline(kind === "set" ? target.set(key, value as string, ttlMs) : target.del(key), timeoutMs);
    recorder.ok(handle);
    return { operationId: handle, status: "ok" };
  } catch (error) {
    const errorName = error instanceof Error ? error.name : "Error";
    const reason = `${errorName}: ${errorMessage(error)}`;
    if (kind === "get" || isDefiniteWriteFailure(error)) {
      recorder.fail(handle);
      return { operationId: handle, status: "fail", reason };
    }
    recorder.unknown(handle);
    return { operationId: handle, status: "unknown", reason, errorName };
  }
}

export interface ClientStats {
  clientId: string;
  operations: number;
  reconnects: number;
  /** The last few distinct error reasons, for the report. */
  sampleErrors: string[];
}

export interface RunningWorkload {
  /** Asks every client to stop after its current operation; resolves when all stopped. */
  stop(): Promise<ClientStats[]>;
}

/**
 * Starts `clientCount` client loops. Each has its own target (connection), its own random
 * stream derived from the seed, and unique values `c<client>-<n>`.
 */
export function startWorkload(recorder: HistoryRecorder, openTarget: TargetFactory, options: WorkloadOptions, sleep: (ms: number) => Promise<void>): RunningWorkload {
  let running = true;
  const loops = Array.from({ length: options.clientCount }, (_, clientIndex) =>
    clientLoop(recorder, openTarget, options, clientIndex, () => running, sleep),
  );
  return {
    async stop() {
      running = false;
      return Promise.all(loops);
    },
  };
}

const SAMPLE_ERRORS_MAX = 5;

async function clientLoop(
  recorder: HistoryRecorder,
  openTarget: TargetFactory,
  options: WorkloadOptions,
  clientIndex: number,
  running: () => boolean,
  sleep: (ms: number) => Promise<void>,
): Promise<ClientStats> {
  const clientId = `c${clientIndex}`;
  const random: Random = new SeededRandom((options.seed * 1_000_003 + clientIndex * 7_919) | 0);
  const stats: ClientStats = { clientId, operations: 0, reconnects: 0, sampleErrors: [] };
  const noteError = (reason: string): void => {
    if (!stats.sampleErrors.includes(reason) && stats.sampleErrors.length < SAMPLE_ERRORS_MAX) stats.sampleErrors.push(reason);
  };
  let target: KvTarget | null = null;
  let sequence = 0;
  while (running()) {
    if (target === null) {
      try {
        target = await openTarget();
      } catch (error) {
        noteError(`connect: ${errorMessage(error)}`);
        await sleep(200);
        continue;
      }
    }
    const draw = random.next();
    const setNxFraction = target.setNx === undefined ? 0 : (options.setNxFraction ?? 0);
    const kind: OperationKind =
      draw < options.getFraction
        ? "get"
        : draw < options.getFraction + setNxFraction
          ? "setnx"
          : draw < options.getFraction + options.setFraction
            ? "set"
            : "del";
    const key = options.keys[random.int(options.keys.length)];
    const value = kind === "set" || kind === "setnx" ? `${clientId}-${sequence}` : null;
    // Drawn only when TTLs are asked for, so runs without them replay as before.
    const ttlMs = kind === "set" && options.ttlMs !== undefined && random.next() < 1 / 3 ? options.ttlMs : undefined;
    sequence++;
    const outcome = await recordedOperation(recorder, clientId, target, kind, key, value, options.operationTimeoutMs, ttlMs);
    stats.operations++;
    if (outcome.status !== "ok") noteError(outcome.reason.slice(0, 200));
    if (outcome.status === "unknown") {
      options.onUnknown?.(outcome.operationId, outcome.errorName);
      // A fresh connection object: nothing of the abandoned operation can retry behind us.
      target.close();
      target = null;
      stats.reconnects++;
    } else if (outcome.status === "fail") {
      await sleep(50); // the cluster is struggling; do not spin
    }
    if (options.thinkMsMax > 0) await sleep(random.int(options.thinkMsMax + 1));
  }
  target?.close();
  return stats;
}
