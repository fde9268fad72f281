// Starts local node processes for a benchmark (one OS process per node, started the
// real way through the CLI), waits until each reports ready, stops them by PID.
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";

export const CLI_MAIN = path.resolve(__dirname, "..", "cli", "main.js");

export interface LaunchedNode {
  name: string;
  pid: number;
  child: ChildProcess;
}

export async function launchNodes(
  specs: Array<{ name: string; args: string[]; env: NodeJS.ProcessEnv }>,
  readyPattern: RegExp,
  timeoutMs = 20_000,
): Promise<LaunchedNode[]> {
  const launched: LaunchedNode[] = [];
  try {
    await Promise.all(
      specs.map(
        (spec) =>
          new Promise<void>((resolve, reject) => {
            const child = spawn(process.execPath, [CLI_MAIN, ...spec.args], { env: spec.env, stdio: ["ignore", "pipe", "pipe"] });
            launched.push({ name: spec.name, pid: child.pid!, child });
            const tail: string[] = [];
            const timer = setTimeout(() => reject(new Error(`${spec.name} not ready in ${timeoutMs} ms: ${tail.join(" | ")}`)), timeoutMs);
            const onLine = (line: string): void => {
              if (tail.length > 20) tail.shift();
              tail.push(line);
              if (readyPattern.test(line)) {
                clearTimeout(timer);
                resolve();
              }
            };
            readline.createInterface({ input: child.stdout! }).on("line", onLine);
            readline.createInterface({ input: child.stderr! }).on("line", onLine);
            child.on("exit", (code, signal) => {
              clearTimeout(timer);
              reject(new Error(`${spec.name} exited (${signal ?? code}): ${tail.join(" | ")}`));
            });
          }),
      ),
    );
  } catch (error) {
    await stopNodes(launched);
    throw error;
  }
  return launched;
}

export async function stopNodes(nodes: LaunchedNode[]): Promise<void> {
  await Promise.all(
    nodes.map(
      (node) =>
        new Promise<void>((resolve) => {
          if (node.child.exitCode !== null || node.child.signalCode !== null) return resolve();
          const timer = setTimeout(() => node.child.kill("SIGKILL"), 2_000);
          node.child.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
          node.child.kill("SIGTERM");
        }),
    ),
  );
}
