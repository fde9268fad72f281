// Real OS processes for integration tests: the CLI started the real way (node + the
// compiled main.js) through the project's launcher (src/core/launcher.ts), stopped by PID,
// every wait bounded. Processes get the supervisor watch unless a test asks otherwise, so
// a node a test started with startOne does not outlive a test run that was killed (a
// `startAll` does not read the watch; its own nodes watch it).
import fs from "node:fs";
import { ChildProcess } from "node:child_process";
import { CLI_MAIN, LaunchedProcess, launch, nodeProcess } from "../../src/core/launcher";
import { freeLoopbackPorts } from "../../src/core/ports";
import { sleep } from "../../src/core/env";
export { sleep };

export const CLI_PATH = CLI_MAIN;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** How long runCli waits for a finished CLI's output pipes to close. */
const OUTPUT_DRAIN_MS_MAX = 2_000;

/** Runs the CLI to completion (bounded by timeoutMs) and captures its output. */
export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; input?: Uint8Array; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const failure = new Error(`ecc-cache ${args.join(" ")} did not finish within ${timeoutMs} ms`);
  const started = launch({
    name: `ecc-cache ${args.join(" ")}`,
    command: process.execPath,
    args: [CLI_PATH, ...args],
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    stdin: "pipe",
    rawOutput: true,
  });
  const stdout: Buffer[] = [];
  let stderr = "";
  started.child.stdout!.on("data", (chunk: Buffer) => stdout.push(chunk));
  started.child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  started.child.stdin!.end(options.input);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  const status = await Promise.race([started.exited, timedOut]);
  clearTimeout(timer);
  if (status === null) {
    await started.stop("SIGKILL");
    failure.message += `; stderr: ${stderr}`;
    throw failure;
  }
  if (status.spawnError !== undefined) throw status.spawnError;
  // The exit can come before the last output was read: wait for the pipes to close (bounded).
  if (!started.child.stdout!.readableEnded || !started.child.stderr!.readableEnded) {
    await Promise.race([new Promise((resolve) => started.child.once("close", resolve)), sleep(OUTPUT_DRAIN_MS_MAX)]);
  }
  return { code: status.code, signal: status.signal, stdout: Buffer.concat(stdout), stderr };
}

export interface StartedProcess {
  child: ChildProcess;
  pid: number;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  launched: LaunchedProcess;
}

/** Output lines a started process keeps for assertions. */
const OUTPUT_LINES_MAX = 2_000;

/**
 * Starts a long-running CLI process and waits until a line matching `ready` appears.
 * `supervised: false` starts it as a person would by hand (no supervisor watch); `detached`
 * gives it a process group of its own.
 */
export async function startCli(
  args: string[],
  ready: RegExp,
  options: {
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    detached?: boolean;
    supervised?: boolean;
    /** Start it as startAll starts a node (NODE_PROCESS_ARGS, the chosen allocator). */
    asNode?: boolean;
    /** Place it in this cgroup (its cgroup.procs file) before it runs. */
    procsFile?: string;
  } = {},
): Promise<StartedProcess> {
  const env = { ...process.env, ...options.env };
  const how = options.asNode === true ? nodeProcess(CLI_PATH, args, env) : { command: process.execPath, args: [CLI_PATH, ...args], env };
  const launched = launch({
    name: `process ${args.join(" ")}`,
    command: how.command,
    args: how.args,
    env: how.env,
    detached: options.detached,
    supervised: options.supervised,
    tailLines: OUTPUT_LINES_MAX,
    procsFile: options.procsFile ?? null,
  });
  try {
    await launched.waitReady({ line: ready }, options.timeoutMs ?? 20_000);
  } catch (error) {
    await launched.stop("SIGKILL");
    throw error;
  }
  return { child: launched.child, pid: launched.pid, output: launched.tail, exited: launched.exited, launched };
}

/** Stops a process by PID: the signal, then SIGKILL after graceMs; waits for exit (bounded). */
export async function stopProcess(started: StartedProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 3_000): Promise<void> {
  await started.launched.stop(signal, graceMs);
}

/** Free loopback ports, distinct from each other. */
export const freePorts = freeLoopbackPorts;


/** PIDs whose parent is `parentPid` right now (read from /proc; Linux only). */
export function childPids(parentPid: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat !== null && stat.parentPid === parentPid) children.push(Number(entry));
  }
  return children;
}

/** True once `pid` no longer runs: gone, or a zombie nobody reaped yet (it holds no sockets). */
export function processGone(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat === null || stat.state === "Z";
}

function readProcStat(pid: number): { state: string; parentPid: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null; // the process is gone
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], parentPid: Number(fields[1]) };
}

/** Polls `condition` every 50 ms until it holds; throws after timeoutMs. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const failure = new Error(`${what}: not within ${timeoutMs} ms`);
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw failure;
    await sleep(50);
  }
}
