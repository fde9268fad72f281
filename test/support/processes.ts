// Real OS processes for integration tests: the CLI started the real way (node + the
// compiled main.js), stopped by PID, every wait bounded.
import { freeLoopbackPorts } from "../../src/core/ports";
import { ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";

export const CLI_PATH = path.resolve(__dirname, "..", "..", "src", "cli", "main.js");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the CLI to completion (bounded by timeoutMs) and captures its output. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; input?: Uint8Array; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      cwd: options.cwd,
    });
    const stdout: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`ecc-cache ${args.join(" ")} did not finish within ${options.timeoutMs ?? 30_000} ms; stderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

export interface StartedProcess {
  child: ChildProcess;
  pid: number;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a long-running CLI process and waits until a line matching `ready` appears. */
export async function startCli(args: string[], ready: RegExp, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<StartedProcess> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`process ${args.join(" ")} not ready within ${options.timeoutMs ?? 20_000} ms:\n${output.join("\n")}`));
    }, options.timeoutMs ?? 20_000);
    const onLine = (line: string): void => {
      output.push(line);
      if (output.length > 2_000) output.shift();
      if (ready.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    };
    readline.createInterface({ input: child.stdout! }).on("line", onLine);
    readline.createInterface({ input: child.stderr! }).on("line", onLine);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`process ${args.join(" ")} exited (${signal ?? code}) before ready:\n${output.join("\n")}`));
    });
  });
  return { child, pid: child.pid!, output, exited };
}

/** Stops a process by PID: the signal, then SIGKILL after graceMs; waits for exit. */
export async function stopProcess(started: StartedProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 3_000): Promise<void> {
  if (started.child.exitCode !== null || started.child.signalCode !== null) return;
  try {
    process.kill(started.pid, signal);
  } catch {
    return; // already gone
  }
  const timer = setTimeout(() => {
    try {
      process.kill(started.pid, "SIGKILL");
    } catch {
      // already gone: nothing to stop
    }
  }, graceMs);
  await started.exited;
  clearTimeout(timer);
}

/** Free loopback ports, distinct from each other. */
export const freePorts = freeLoopbackPorts;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
