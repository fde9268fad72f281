// Local node processes for bench targets: one OS process per node, so each node's memory is
// its own and each can be killed, paused and restarted on its own (DESIGN.md section 2).
//
// ProcessLauncher is the bench's placement policy: each node goes into its own cgroup when
// the bench created one (the launcher, src/core/launcher.ts, does the placing). LocalCluster
// keeps the processes of one cluster: readiness (a log line or a probe), signals by node
// name, restart, and a bounded stop. Every wait has a deadline, and every node has the
// supervisor watch: none outlives the bench.
import { InvalidArgumentError } from "../core/errors";
import { LaunchedProcess, STOP_GRACE_MS_DEFAULT, killAllLaunchedSync, launch, launchedCount } from "../core/launcher";
import { NodeInfo, findNode } from "./target";
import { sleep } from "../core/env";

/** The compiled CLI entry point, for targets whose nodes are `ecc-cache ... startOne`. */
export { CLI_MAIN } from "../core/launcher";

export const READY_TIMEOUT_MS_DEFAULT = 30_000;
const OUTPUT_TAIL_LINES = 40;

/** Returns the cgroup procs file a node must be placed in, or null to spawn it plainly. */
export type Placement = (node: string) => string | null;

/** Last resort on a second Ctrl-C or at exit: SIGKILL every node still running (by PID). */
export function killLocalNodesSync(): number {
  return killAllLaunchedSync();
}

export function liveNodeCount(): number {
  return launchedCount();
}

export class ProcessLauncher {
  constructor(private readonly placement: Placement | null = null) {}

  spawn(node: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): LaunchedProcess {
    return launch({ name: node, command, args, env, cwd, procsFile: this.placement?.(node) ?? null, tailLines: OUTPUT_TAIL_LINES });
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
  /** The running process; null when the node is down. */
  process: LaunchedProcess | null;
  /** Set before we signal it, so an exit we caused is not reported as a crash. */
  expectingExit: boolean;
  /** The last output lines of the node's latest process (kept after it exited). */
  tail: string[];
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
    this.states = specs.map((spec) => ({ spec, process: null, expectingExit: false, tail: [] }));
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
      pid: state.process?.pid ?? null,
      running: state.process !== null,
      paused: state.process?.paused ?? false,
      role: state.spec.role,
    }));
  }

  /** Last output lines of a node (diagnostics). */
  tail(node: string): string[] {
    return [...this.state(node).tail];
  }

  async kill(node: string): Promise<void> {
    await this.stopState(this.state(node), "SIGKILL");
  }

  async stopNode(node: string): Promise<void> {
    await this.stopState(this.state(node), "SIGTERM");
  }

  async pause(node: string): Promise<void> {
    this.running(node).pause();
  }

  async resume(node: string): Promise<void> {
    this.running(node).resume();
  }

  async restart(node: string): Promise<void> {
    const state = this.state(node);
    await this.stopState(state, "SIGKILL");
    await this.startState(state, true);
  }

  /** Stops every node: SIGTERM (after SIGCONT, for a paused one), SIGKILL after a grace period. */
  async stop(): Promise<void> {
    await Promise.all(this.states.map((state) => this.stopState(state, "SIGTERM")));
  }

  private state(node: string): NodeState {
    return findNode(
      this.states.map((state) => ({ name: state.spec.name, state })),
      node,
    ).state;
  }

  private running(node: string): LaunchedProcess {
    const launched = this.state(node).process;
    if (launched === null) throw new Error(`${node} is not running`);
    return launched;
  }

  private async startState(state: NodeState, restart: boolean): Promise<void> {
    const { spec } = state;
    const args = restart && spec.restartArgs !== undefined ? spec.restartArgs : spec.args;
    const launched = this.launcher.spawn(spec.name, spec.command, args, { ...process.env, ...spec.env }, spec.cwd);
    state.process = launched;
    state.expectingExit = false;
    state.tail = launched.tail;
    void launched.exited.then((status) => {
      if (state.process !== launched) return;
      state.process = null;
      if (!state.expectingExit) this.hooks.onUnexpectedExit?.(spec.name, status.code, status.signal, [...launched.tail]);
    });
    await launched.waitReady({ line: spec.readyLine, probe: spec.readyProbe }, spec.readyTimeoutMs ?? READY_TIMEOUT_MS_DEFAULT);
  }

  private async stopState(state: NodeState, signal: NodeJS.Signals): Promise<void> {
    const launched = state.process;
    if (launched === null) return;
    state.expectingExit = true;
    await launched.stop(signal, STOP_GRACE_MS_DEFAULT);
  }
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
