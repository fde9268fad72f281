// Local node processes for bench targets: one OS process per node, so each node's memory is
// its own and each can be killed, paused and restarted on its own (DESIGN.md section 2).
//
// ProcessLauncher spawns a node, inside its own cgroup when the bench created one: a tiny
// shell writes its own PID into the cgroup's procs file and then execs the node, so the node
// is charged for every page from its first instruction and keeps the PID we were given.
// LocalCluster keeps the processes of one cluster: readiness (a log line or a probe),
// signals by node name, restart, and a bounded stop. Every wait has a deadline.
import { InvalidArgumentError } from "../core/errors";
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { errorMessage } from "../core/errors";
import { NodeInfo, findNode } from "./target";

/** The compiled CLI entry point, for targets whose nodes are `ecc-cache ... startOne`. */
export const CLI_MAIN = path.resolve(__dirname, "..", "cli", "main.js");

export const READY_TIMEOUT_MS_DEFAULT = 30_000;
const STOP_GRACE_MS = 3_000;
const OUTPUT_TAIL_LINES = 40;
const PROBE_PERIOD_MS = 100;

/** Returns the cgroup procs file a node must be placed in, or null to spawn it plainly. */
export type Placement = (node: string) => string | null;

/** Every node process spawned by this bench process and not yet exited. */
const liveChildren = new Set<ChildProcess>();

/** Last resort on a second Ctrl-C or at exit: SIGKILL every node still running (by PID). */
export function killLocalNodesSync(): number {
  let killed = 0;
  for (const child of liveChildren) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      killed++;
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  return killed;
}

export function liveNodeCount(): number {
  return liveChildren.size;
}

export class ProcessLauncher {
  constructor(private readonly placement: Placement | null = null) {}

  spawn(node: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): ChildProcess {
    const procsFile = this.placement?.(node) ?? null;
    const options = { env, cwd, stdio: ["ignore", "pipe", "pipe"] as ["ignore", "pipe", "pipe"] };
    const child =
      procsFile === null ? spawn(command, args, options) : spawn("/bin/sh", ["-c", 'echo $$ > "$0" && exec "$@"', procsFile, command, ...args], options);
    liveChildren.add(child);
    child.once("exit", () => liveChildren.delete(child));
    child.once("error", () => liveChildren.delete(child));
    return child;
  }
}

export interface LocalNodeSpec {
  name: string;
  address: string;
  role?: string;
  command: string;
  args: string[];
  /** Arguments for a restart (e.g. ecc's `recover`); default: args. */
  restartArgs?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Ready when a stdout/stderr line matches ... */
  readyLine?: RegExp;
  /** ... or when this probe resolves true (polled). */
  readyProbe?: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

interface NodeState {
  spec: LocalNodeSpec;
  child: ChildProcess | null;
  pid: number | null;
  paused: boolean;
  exited: Promise<void> | null;
  /** Set before we signal it, so an exit we caused is not reported as a crash. */
  expectingExit: boolean;
  tail: string[];
  watchers: Set<(line: string) => void>;
}

export interface LocalClusterHooks {
  /** A node exited without being asked to (crash, OOM kill). */
  onUnexpectedExit?(node: string, code: number | null, signal: NodeJS.Signals | null, tail: string[]): void;
}

export class LocalCluster {
  private readonly states: NodeState[];

  constructor(
    specs: LocalNodeSpec[],
    private readonly launcher: ProcessLauncher,
    private readonly hooks: LocalClusterHooks = {},
  ) {
    this.states = specs.map((spec) => ({ spec, child: null, pid: null, paused: false, exited: null, expectingExit: false, tail: [], watchers: new Set() }));
  }

  /** Starts every node in parallel; on any failure stops them all and throws. */
  async startAll(): Promise<void> {
    try {
      await Promise.all(this.states.map((state) => this.startState(state, false)));
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  nodes(): NodeInfo[] {
    return this.states.map((state) => ({
      name: state.spec.name,
      address: state.spec.address,
      pid: state.child !== null ? state.pid : null,
      running: state.child !== null,
      paused: state.paused,
      role: state.spec.role,
    }));
  }

  /** Last output lines of a node (diagnostics). */
  tail(node: string): string[] {
    return [...this.state(node).tail];
  }

  async kill(node: string): Promise<void> {
    await this.signalAndWait(this.state(node), "SIGKILL", 0);
  }

  async stopNode(node: string): Promise<void> {
    await this.signalAndWait(this.state(node), "SIGTERM", STOP_GRACE_MS);
  }

  async pause(node: string): Promise<void> {
    const state = this.state(node);
    if (state.child === null) throw new Error(`${node} is not running`);
    process.kill(state.pid!, "SIGSTOP");
    state.paused = true;
  }

  async resume(node: string): Promise<void> {
    const state = this.state(node);
    if (state.child === null) throw new Error(`${node} is not running`);
    process.kill(state.pid!, "SIGCONT");
    state.paused = false;
  }

  async restart(node: string): Promise<void> {
    const state = this.state(node);
    if (state.child !== null) await this.signalAndWait(state, "SIGKILL", 0);
    await this.startState(state, true);
  }

  /** Stops every node: SIGCONT (a stopped process cannot act on SIGTERM), SIGTERM, SIGKILL after a grace period. */
  async stop(): Promise<void> {
    await Promise.all(this.states.map((state) => this.signalAndWait(state, "SIGTERM", STOP_GRACE_MS)));
  }

  private state(node: string): NodeState {
    return findNode(
      this.states.map((state) => ({ name: state.spec.name, state })),
      node,
    ).state;
  }

  private async startState(state: NodeState, restart: boolean): Promise<void> {
    const { spec } = state;
    const args = restart && spec.restartArgs !== undefined ? spec.restartArgs : spec.args;
    const child = this.launcher.spawn(spec.name, spec.command, args, { ...process.env, ...spec.env }, spec.cwd);
    state.child = child;
    state.pid = child.pid ?? null;
    state.paused = false;
    state.expectingExit = false;
    state.tail = [];
    state.watchers = new Set();
    const onLine = (line: string): void => {
      state.tail.push(line);
      if (state.tail.length > OUTPUT_TAIL_LINES) state.tail.shift();
      for (const watcher of state.watchers) watcher(line);
    };
    // Always drain both pipes: a child blocked on a full pipe would stall the benchmark.
    readline.createInterface({ input: child.stdout! }).on("line", onLine);
    readline.createInterface({ input: child.stderr! }).on("line", onLine);
    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    state.exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        exitInfo = { code, signal };
        if (state.child === child) {
          state.child = null;
          state.paused = false;
          if (!state.expectingExit) this.hooks.onUnexpectedExit?.(spec.name, code, signal, [...state.tail]);
        }
        resolve();
      });
      child.once("error", (error) => {
        onLine(`spawn error: ${errorMessage(error)}`);
      });
    });
    const timeoutMs = spec.readyTimeoutMs ?? READY_TIMEOUT_MS_DEFAULT;
    const deadline = performance.now() + timeoutMs;
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (error: Error | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (error === null) resolve();
        else reject(error);
      };
      const timer = setTimeout(
        () => finish(new Error(`${spec.name} not ready within ${timeoutMs} ms; last output: ${state.tail.slice(-8).join(" | ")}`)),
        timeoutMs,
      );
      void state.exited!.then(() => {
        const info = exitInfo ?? { code: null, signal: null };
        finish(new Error(`${spec.name} exited (${info.signal ?? info.code}) before it was ready; last output: ${state.tail.slice(-8).join(" | ")}`));
      });
      if (spec.readyLine !== undefined) {
        const pattern = spec.readyLine;
        const watch = (line: string): void => {
          if (pattern.test(line)) {
            state.watchers.delete(watch);
            finish(null);
          }
        };
        state.watchers.add(watch);
      }
      if (spec.readyProbe !== undefined) {
        const probe = spec.readyProbe;
        const poll = async (): Promise<void> => {
          while (!done && performance.now() < deadline) {
            let ok = false;
            try {
              ok = await probe();
            } catch {
              ok = false; // not up yet
            }
            if (ok) return finish(null);
            await sleep(PROBE_PERIOD_MS);
          }
        };
        void poll();
      }
      if (spec.readyLine === undefined && spec.readyProbe === undefined) finish(null);
    });
  }

  private async signalAndWait(state: NodeState, signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = state.child;
    if (child === null || state.exited === null) return;
    state.expectingExit = true;
    const exited = state.exited;
    try {
      if (state.paused && signal !== "SIGKILL") process.kill(state.pid!, "SIGCONT");
      process.kill(state.pid!, signal);
    } catch {
      // already gone: the exit event follows
    }
    const timer =
      signal === "SIGKILL"
        ? null
        : setTimeout(() => {
            try {
              process.kill(state.pid!, "SIGKILL");
            } catch {
              // already gone
            }
          }, graceMs);
    await exited;
    if (timer !== null) clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The fault half of a ClusterHandle whose nodes a LocalCluster started (kill, stop, pause,
 * resume, restart by node name). Targets extend it; attached clusters (--servers) have no
 * processes of ours, so faults on them are refused.
 */
export abstract class LocalFaults {
  constructor(protected readonly cluster: LocalCluster | null) {}

  kill(node: string): Promise<void> {
    return this.local().kill(node);
  }
  stopNode(node: string): Promise<void> {
    return this.local().stopNode(node);
  }
  pause(node: string): Promise<void> {
    return this.local().pause(node);
  }
  resume(node: string): Promise<void> {
    return this.local().resume(node);
  }
  /** Starts a node that is down again with its restart arguments (ecc: `recover`). */
  restart(node: string): Promise<void> {
    return this.local().restart(node);
  }

  protected local(): LocalCluster {
    if (this.cluster === null) throw new InvalidArgumentError("faults need a cluster the bench started (not --servers)");
    return this.cluster;
  }
}
