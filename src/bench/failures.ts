// Failure schedule: what to do to which node, and when.
//
//   ACTION:NODE@TRIGGER[+DURATION]
//   ACTION   kill (SIGKILL) | stop (SIGTERM) | pause (SIGSTOP) | resume (SIGCONT) | restart
//   NODE     a node name of the target (node0, node1, ...)
//   TRIGGER  op=N   before the N-th measured operation is issued (0-based, after warm-up)
//            t=D    D after the measured phase began (D: 500ms, 2s, 1.5s, 1m)
//   +D       for kill/stop: restart the node D later; for pause: resume it D later
//
// An op=N phase ends when its operations are done, which may be long before a +D follow-up
// is due (the scheduler then records it as cancelled). A time-based phase (--duration) has a
// known end, so failureOutsideWindow() refuses a schedule whose time triggers and follow-ups
// would not all fall inside it.
//
// Examples: kill:node1@op=5000   pause:node2@t=3s+2s   kill:node0@op=2000+5s   restart:node1@t=10s
import { InvalidArgumentError } from "../core/errors";

export type FailureAction = "kill" | "stop" | "pause" | "resume" | "restart";
export const FAILURE_ACTIONS: readonly FailureAction[] = ["kill", "stop", "pause", "resume", "restart"];

export type FailureTrigger = { op: number } | { ms: number };

export interface FailureSpec {
  action: FailureAction;
  node: string;
  at: FailureTrigger;
  /** kill/stop → restart after; pause → resume after. */
  forMs?: number;
  /** The text it was parsed from (kept in results). */
  text: string;
}

export function parseDurationMs(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(text);
  if (match === null) throw new InvalidArgumentError(`'${text}' is not a duration (e.g. 500ms, 2s, 1m)`);
  const value = Number(match[1]);
  const unit = match[2] ?? "ms";
  const ms = unit === "m" ? value * 60_000 : unit === "s" ? value * 1_000 : value;
  if (!Number.isFinite(ms) || ms > 24 * 3600_000) throw new InvalidArgumentError(`duration '${text}' is out of range`);
  return Math.round(ms);
}

export function parseFailure(text: string): FailureSpec {
  const match = /^\s*([a-z]+):([A-Za-z0-9_.-]+)@(op|t)=([^+]+)(?:\+(.+))?\s*$/.exec(text);
  if (match === null) {
    throw new InvalidArgumentError(`failure '${text}': expected ACTION:NODE@op=N or ACTION:NODE@t=DURATION, optionally +DURATION`);
  }
  const [, action, node, triggerKind, triggerValue, duration] = match;
  if (!(FAILURE_ACTIONS as readonly string[]).includes(action)) {
    throw new InvalidArgumentError(`failure '${text}': unknown action '${action}' (${FAILURE_ACTIONS.join(", ")})`);
  }
  let at: FailureTrigger;
  if (triggerKind === "op") {
    if (!/^\d+$/.test(triggerValue.trim())) throw new InvalidArgumentError(`failure '${text}': op=${triggerValue} is not a whole number`);
    at = { op: Number(triggerValue.trim()) };
  } else {
    at = { ms: parseDurationMs(triggerValue) };
  }
  const spec: FailureSpec = { action: action as FailureAction, node, at, text: text.trim() };
  if (duration !== undefined) {
    if (action !== "kill" && action !== "stop" && action !== "pause") {
      throw new InvalidArgumentError(`failure '${text}': +DURATION applies to kill, stop and pause only`);
    }
    spec.forMs = parseDurationMs(duration);
  }
  return spec;
}

/** The action that undoes `action` after its +DURATION. */
export function followUpOf(action: FailureAction): FailureAction | null {
  if (action === "kill" || action === "stop") return "restart";
  if (action === "pause") return "resume";
  return null;
}

/**
 * Why `spec` cannot run inside a time-based measured phase of `durationMs`, or null when its
 * time trigger and its follow-up (+D) both fall inside (an op=N trigger cannot be checked
 * before the run: how many operations fit depends on the target).
 */
export function failureOutsideWindow(spec: FailureSpec, durationMs: number): string | null {
  if (!("ms" in spec.at)) return null;
  const seconds = (ms: number): string => `${ms / 1000} s`;
  if (spec.at.ms >= durationMs) return `failure '${spec.text}' fires at ${seconds(spec.at.ms)}, after the ${seconds(durationMs)} measured phase ends`;
  const followUp = followUpOf(spec.action);
  if (followUp !== null && spec.forMs !== undefined && spec.at.ms + spec.forMs >= durationMs) {
    return `failure '${spec.text}': its ${followUp} at ${seconds(spec.at.ms + spec.forMs)} falls after the ${seconds(durationMs)} measured phase ends (make the duration longer)`;
  }
  return null;
}

/** A short label for a failure variant, used in run names: "kill-node1". */
export function failureLabel(specs: FailureSpec[]): string {
  if (specs.length === 0) return "";
  return specs.map((spec) => `${spec.action}-${spec.node}`).join("+");
}
