// The one way this project starts and stops OS processes: the nodes of `server startAll`
// (src/cli/supervisor.ts), the bench's local clusters (src/bench/local_cluster.ts: ours, etcd,
// Redis), the Jepsen runner's nodes and CLI clients (src/jepsen/cluster.ts) and the
// integration tests' (test/support/processes.ts). Each of them keeps only its policy: what
// to print, what counts as ready, which signal stops a node. This file owns the rest:
// - spawning, optionally inside a cgroup (a tiny shell writes its own PID into the cgroup's
//   procs file and then execs the command, so the process is charged for every page from
//   its first instruction and keeps the PID we were given);
// - the supervisor watch (supervisor_watch.ts): by default every process gets a pipe whose
//   end-of-file tells it that the process that launched it is gone, so a node never
//   outlives its supervisor, even one killed with SIGKILL;
// - output split into lines, with the last lines kept for diagnostics;
// - readiness (a line, or a probe that answers true) with a bounded wait that also ends
//   when the process exits;
// - stopping by PID: a signal, SIGKILL after a grace period, a bounded wait for the exit.
//
// Every process launched and not yet exited is listed, so a last-resort handler can
// SIGKILL them all synchronously (killAllLaunchedSync).
import { ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { allocatorEnv } from "./allocator";
import { UnavailableError, errorMessage } from "./errors";
import { NODE_PROCESS_ARGS } from "./limits";
import { SUPERVISOR_FD, SUPERVISOR_FD_ENV } from "./supervisor_watch";
import { sleep } from "./env";

/** The compiled CLI entry point (dist/src/cli/main.js), for processes that are `ecc-cache ...`. */
export const CLI_MAIN = path.resolve(__dirname, "..", "cli", "main.js");

export const STOP_GRACE_MS_DEFAULT = 3_000;
/** After SIGKILL, how long to wait for the exit before giving up on it (a process stuck in the kernel). */
const KILLED_EXIT_MS_MAX = 5_000;
/** After the exit, how long the output pipes may take to drain so a not-ready error shows the last lines. */
const OUTPUT_DRAIN_MS_MAX = 500;
const PROBE_PERIOD_MS_DEFAULT = 100;
/** Lines of output a not-ready error quotes. */
const ERROR_TAIL_LINES = 8;

export type OutputStream = "stdout" | "stderr";
export type LineMatcher = RegExp | ((line: string) => boolean);

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. the command does not exist). */
  spawnError?: Error;
}

export interface LaunchOptions {
  /** What the process is, for messages ("ecc node 2 (shard 2)"). */
  name: string;
  command: string;
  args: readonly string[];
  /** The child's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A cgroup procs file to place the process in before it runs the command; null: none. */
  procsFile?: string | null;
  /** Give the process the supervisor watch (default true): it exits once this process is gone. */
  supervised?: boolean;
  /** "pipe": write to child.stdin (default "ignore": /dev/null). */
  stdin?: "ignore" | "pipe";
  /** Own process group (tests that signal a whole group, as a terminal's Ctrl-C does). */
  detached?: boolean;
  /** Called for every output line, stdout and stderr alike. */
  onLine?: (line: string, stream: OutputStream) => void;
  /** How many of the last output lines `tail` keeps (default 40). */
  tailLines?: number;
  /** Leave stdout and stderr unread, for a caller that reads raw bytes (default false). */
  rawOutput?: boolean;
}

export interface ReadyCondition {
  /** Ready when an output line matches ... */
  line?: LineMatcher;
  /** ... or when this probe resolves true (polled; a throw counts as "not yet"). */
  probe?: () => Promise<boolean>;
  probePeriodMs?: number;
}

const TAIL_LINES_DEFAULT = 40;

/** Every launched process that has not exited yet. */
const live = new Set<LaunchedProcess>();

/** Starts a process; never throws for a command that cannot run (its `exited` says so). */
export function launch(options: LaunchOptions): LaunchedProcess {
  return new LaunchedProcess(options);
}

/**
 * How to start a node process of ours: `node` with NODE_PROCESS_ARGS (and any extra node
 * flags), then the script and its arguments, on the allocator allocator.ts chooses.
 */
export function nodeProcess(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  extraNodeArgs: readonly string[] = [],
): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  return { command: process.execPath, args: [...NODE_PROCESS_ARGS, ...extraNodeArgs, script, ...args], env: { ...env, ...allocatorEnv(env) } };
}

/** Last resort (a second Ctrl-C, or exit): SIGKILL by PID every launched process still running. */
export function killAllLaunchedSync(): number {
  let killed = 0;
  for (const launched of live) if (launched.signal("SIGKILL")) killed++;
  live.clear();
  return killed;
}

/** How many launched processes have not exited yet. */
export function launchedCount(): number {
  return live.size;
}

function matches(matcher: LineMatcher, line: string): boolean {
  return typeof matcher === "function" ? matcher(line) : matcher.test(line);
}


export class LaunchedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The OS process id; -1 when the process could not be started. */
  readonly pid: number;
  /** The last output lines (a live array: it keeps filling while the process runs). */
  readonly tail: string[] = [];
  /** Resolves once the process exited (or could not be started). */
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | null = null;
  private readonly drained: Promise<void>;
  private readonly listeners = new Set<(line: string, stream: OutputStream) => void>();
  private isPaused = false;

  constructor(options: LaunchOptions) {
    this.name = options.name;
    const supervised = options.supervised ?? true;
    const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
    // Only the launcher hands out the watch: a variable inherited from our own supervisor
    // would name a descriptor the child does not have.
    delete env[SUPERVISOR_FD_ENV];
    const stdio: Array<"ignore" | "pipe"> = [options.stdin ?? "ignore", "pipe", "pipe"];
    if (supervised) {
      env[SUPERVISOR_FD_ENV] = String(SUPERVISOR_FD);
      stdio[SUPERVISOR_FD] = "pipe";
    }
    const procsFile = options.procsFile ?? null;
    const [command, args] =
      procsFile === null ? [options.command, [...options.args]] : ["/bin/sh", ["-c", 'echo $$ > "$0" && exec "$@"', procsFile, options.command, ...options.args]];
    this.child = spawn(command, args, { env, cwd: options.cwd, stdio, detached: options.detached ?? false });
    this.pid = this.child.pid ?? -1;
    if (this.pid !== -1) live.add(this);

    const tailLines = options.tailLines ?? TAIL_LINES_DEFAULT;
    if (options.onLine !== undefined) this.listeners.add(options.onLine);
    if (options.rawOutput !== true) {
      const onLine = (stream: OutputStream) => (line: string) => {
        this.tail.push(line);
        if (this.tail.length > tailLines) this.tail.shift();
        for (const listener of this.listeners) listener(line, stream);
      };
      // Always drain both pipes: a child blocked on a full pipe would stall.
      readline.createInterface({ input: this.child.stdout! }).on("line", onLine("stdout"));
      readline.createInterface({ input: this.child.stderr! }).on("line", onLine("stderr"));
    }
    const watch = supervised ? (this.child.stdio[SUPERVISOR_FD] as net.Socket | null) : null;
    if (watch !== null) {
      // This end only has to stay open while we live; it must not keep this process alive.
      watch.unref();
      watch.on("error", () => undefined); // the child's end closed first (it exited): nothing to do
    }

    this.exited = new Promise<ExitStatus>((resolve) => {
      const settle = (status: ExitStatus): void => {
        if (this.status !== null) return;
        this.status = status;
        this.isPaused = false;
        live.delete(this);
        watch?.destroy();
        resolve(status);
      };
      this.child.once("exit", (code, signal) => settle({ code, signal }));
      this.child.on("error", (error) => {
        // A spawn failure may come without an exit event; an error of a running process
        // (a failed kill or send) is not an exit.
        if (this.child.pid === undefined) settle({ code: null, signal: null, spawnError: error });
      });
    });
    const closed = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.drained = this.exited.then(() => Promise.race([closed, sleep(OUTPUT_DRAIN_MS_MAX)]));
  }

  get running(): boolean {
    return this.status === null;
  }

  /** How it ended; null while it runs. */
  get exitStatus(): ExitStatus | null {
    return this.status;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /** Calls `listener` for every later output line; returns the call that stops it. */
  onLine(listener: (line: string, stream: OutputStream) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves once the process is ready; rejects (UnavailableError, quoting its last output)
   * when it exits first or timeoutMs passes. A line printed before the wait began counts
   * while it is still in `tail`. No line and no probe: ready at once.
   */
  waitReady(ready: ReadyCondition, timeoutMs: number): Promise<void> {
    // Created when the wait starts, so the stack shows who waited.
    const notReady = new UnavailableError(`${this.name} not ready within ${timeoutMs} ms`);
    const exitedFirst = new UnavailableError(`${this.name} exited before it was ready`);
    return new Promise<void>((resolve, reject) => {
      let done = false;
      let stopListening = (): void => undefined;
      const finish = (error: UnavailableError | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        stopListening();
        if (error === null) return resolve();
        const detail = error === exitedFirst ? ` (${this.describeExit()})` : "";
        error.message = `${error.message}${detail}; last output: ${this.tail.slice(-ERROR_TAIL_LINES).join(" | ")}`;
        reject(error);
      };
      const timer = setTimeout(() => finish(notReady), timeoutMs);
      void this.drained.then(() => finish(exitedFirst));
      if (ready.line !== undefined) {
        const matcher = ready.line;
        stopListening = this.onLine((line) => {
          if (matches(matcher, line)) finish(null);
        });
        if (this.tail.some((line) => matches(matcher, line))) finish(null);
      }
      if (ready.probe !== undefined) void this.poll(ready.probe, ready.probePeriodMs ?? PROBE_PERIOD_MS_DEFAULT, () => done, finish);
      if (ready.line === undefined && ready.probe === undefined) finish(null);
    });
  }

  /** Sends a signal by PID; false when the process is no longer running. */
  signal(signal: NodeJS.Signals): boolean {
    if (this.status !== null || this.pid === -1) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false; // it exited and the exit event is still on its way
    }
  }

  /** SIGSTOP: the process keeps its memory and sockets but runs no more. */
  pause(): boolean {
    const sent = this.signal("SIGSTOP");
    if (sent) this.isPaused = true;
    return sent;
  }

  resume(): boolean {
    const sent = this.signal("SIGCONT");
    if (sent) this.isPaused = false;
    return sent;
  }

  /**
   * Stops the process by PID: SIGCONT (a stopped process cannot act on a signal), then
   * `signal`, then SIGKILL after graceMs; waits for the exit. Resolves with how it ended,
   * or null if it still had not exited KILLED_EXIT_MS_MAX after the SIGKILL.
   */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = STOP_GRACE_MS_DEFAULT): Promise<ExitStatus | null> {
    if (this.status !== null) return this.status;
    if (signal !== "SIGKILL") this.signal("SIGCONT");
    this.signal(signal);
    const killAfterMs = signal === "SIGKILL" ? 0 : graceMs;
    const killTimer = signal === "SIGKILL" ? null : setTimeout(() => this.signal("SIGKILL"), killAfterMs);
    let giveUpTimer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<null>((resolve) => (giveUpTimer = setTimeout(() => resolve(null), killAfterMs + KILLED_EXIT_MS_MAX)));
    const status = await Promise.race([this.exited, gaveUp]);
    if (killTimer !== null) clearTimeout(killTimer);
    clearTimeout(giveUpTimer);
    return status;
  }

  /** "code 1", "SIGKILL", or the spawn error. */
  describeExit(): string {
    const status = this.status;
    if (status === null) return "running";
    if (status.spawnError !== undefined) return `could not start: ${errorMessage(status.spawnError)}`;
    return status.signal ?? `code ${status.code}`;
  }

  private async poll(probe: () => Promise<boolean>, periodMs: number, done: () => boolean, finish: (error: null) => void): Promise<void> {
    while (!done()) {
      let ok = false;
      try {
        ok = await probe();
      } catch {
        ok = false; // not up yet
      }
      if (ok) return finish(null);
      await sleep(periodMs);
    }
  }
}
