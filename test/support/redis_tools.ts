// Debian's redis-cli (redis-tools) for the RESP tests, started through the project's launcher
// (src/core/launcher.ts), stdin given, output captured as bytes, every run bounded; and raw
// sockets on loopback for the bad-input cases.
import net from "node:net";
import { spawnSync } from "node:child_process";
import { launch } from "../../src/core/launcher";
import { sleep } from "../../src/core/env";

export function redisToolInstalled(binary = "redis-cli"): boolean {
  const result = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 5_000 });
  return result.error === undefined && result.status === 0;
}

export interface ToolResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs redis-cli against 127.0.0.1:`port` with `args`, `input` on its stdin, bounded by timeoutMs. */
export async function redisCli(port: number, args: string[], options: { input?: Uint8Array; timeoutMs?: number } = {}): Promise<ToolResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const started = launch({
    name: `redis-cli ${args.join(" ")}`,
    command: "redis-cli",
    args: ["-h", "127.0.0.1", "-p", String(port), ...args],
    stdin: "pipe",
    rawOutput: true,
  });
  const stdout: Buffer[] = [];
  let stderr = "";
  started.child.stdout!.on("data", (chunk: Buffer) => stdout.push(chunk));
  started.child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  started.child.stdin!.on("error", () => undefined); // redis-cli may exit before reading all of it
  started.child.stdin!.end(options.input);
  let timer: NodeJS.Timeout | undefined;
  const status = await Promise.race([started.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)))]);
  clearTimeout(timer);
  if (status === null) {
    await started.stop("SIGKILL");
    throw new Error(`redis-cli ${args.join(" ")} did not finish within ${timeoutMs} ms; stderr: ${stderr}`);
  }
  if (!started.child.stdout!.readableEnded) await Promise.race([new Promise((resolve) => started.child.once("close", resolve)), sleep(2_000)]);
  return { code: status.code, stdout: Buffer.concat(stdout), stderr };
}

/** A command in RESP framing, as a client sends it. */
export function respCommand(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === "string" ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

/** A raw TCP connection to 127.0.0.1:`port` that collects what the server sends and notes when it closes. */
export interface RawConnection {
  socket: net.Socket;
  received(): Buffer;
  closed: Promise<void>;
  /** Waits (bounded) until the received bytes satisfy `done`. */
  waitFor(done: (bytes: Buffer) => boolean, timeoutMs?: number): Promise<Buffer>;
}

export async function rawConnection(port: number): Promise<RawConnection> {
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => undefined); // a reset after the server closed is expected in these tests
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const received = (): Buffer => Buffer.concat(chunks);
  return {
    socket,
    received,
    closed,
    async waitFor(done, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(received())) {
        if (Date.now() > deadline) throw new Error(`no expected answer within ${timeoutMs} ms; got ${JSON.stringify(received().toString("latin1").slice(0, 200))}`);
        await sleep(10);
      }
      return received();
    },
  };
}

/** Resolves true once the socket closed, false when `timeoutMs` passed first. */
export async function closedWithin(connection: RawConnection, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([connection.closed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
  clearTimeout(timer);
  return result;
}
