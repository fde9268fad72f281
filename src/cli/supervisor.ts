// startAll: one OS process per node, so each node's memory is its own and each can be
// measured and killed on its own. Waits until every node reports it is listening, prints
// where, forwards node logs to stderr, and stops every node on Ctrl-C (SIGINT/SIGTERM).
import { ChildProcess, spawn } from "node:child_process";
import readline from "node:readline";
import { allocatorEnv } from "../core/allocator";
import { NODE_PROCESS_ARGS } from "../core/limits";

export interface NodeSpec {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  address: string;
}

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 3_000;

export async function superviseNodes(nodes: NodeSpec[], readyEvent: string, title: string): Promise<number> {
  const children: Array<{ spec: NodeSpec; child: ChildProcess; exited: boolean }> = [];
  let stopping = false;
  const ready = nodes.map((spec) => {
    // ECC_CACHE_NODE_ARGS passes extra flags to each node's node binary (e.g. --cpu-prof).
    const nodeArgs = [...NODE_PROCESS_ARGS, ...(process.env.ECC_CACHE_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "")];
    const child = spawn(process.execPath, [...nodeArgs, process.argv[1], ...spec.args], {
      env: { ...spec.env, ...allocatorEnv(spec.env) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const entry = { spec, child, exited: false };
    children.push(entry);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${spec.name} did not start within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      const forward = (stream: NodeJS.ReadableStream): void => {
        readline.createInterface({ input: stream }).on("line", (line) => {
          if (line.includes(`"event":"${readyEvent}"`)) {
            clearTimeout(timer);
            resolve();
          }
          process.stderr.write(`[${spec.name}] ${line}\n`);
        });
      };
      forward(child.stdout!);
      forward(child.stderr!);
      child.on("exit", (code, signal) => {
        entry.exited = true;
        clearTimeout(timer);
        reject(new Error(`${spec.name} exited (${signal ?? "code " + code}) before it was ready`));
        if (!stopping) process.stderr.write(`${spec.name} (pid ${child.pid}) exited: ${signal ?? "code " + code}\n`);
      });
    });
  });

  const stopAll = async (): Promise<void> => {
    stopping = true;
    for (const entry of children) if (!entry.exited) entry.child.kill("SIGTERM");
    const deadline = Date.now() + STOP_GRACE_MS;
    while (children.some((entry) => !entry.exited) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const entry of children) if (!entry.exited) entry.child.kill("SIGKILL");
  };

  try {
    await Promise.all(ready);
  } catch (error) {
    await stopAll();
    throw error;
  }
  process.stdout.write(`${title}: ${nodes.length} nodes running\n`);
  for (const entry of children) {
    process.stdout.write(`  ${entry.spec.name}  listening on ${entry.spec.address}  pid ${entry.child.pid}\n`);
  }
  process.stdout.write("Press Ctrl-C to stop all nodes.\n");

  return new Promise<number>((resolve) => {
    const onSignal = (): void => {
      process.stdout.write("stopping all nodes...\n");
      void stopAll().then(() => resolve(0));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    for (const entry of children) {
      entry.child.on("exit", () => {
        if (!stopping && children.every((e) => e.exited)) resolve(1);
      });
    }
  });
}
