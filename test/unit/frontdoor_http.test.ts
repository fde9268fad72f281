// The admin port's HTTP server (src/frontdoor/http.ts) against bad input: a real server on
// 127.0.0.1 with canned handlers, spoken to over raw TCP sockets the way a broken or hostile
// client would. Each case checks the 4xx the client gets and then that the server still
// answers /healthz. Timeouts are shortened (the mechanism is Node's; the production values
// are the module's constants) so a slow client is caught within a second or two; every
// wait is bounded.
import assert from "node:assert/strict";
import net from "node:net";
import { AdminHandlers, AdminHttpLimits, AdminHttpServer, HEADER_BYTES_MAX, coalesced, startAdminHttp } from "../../src/frontdoor/http";
import { silentLogger } from "../../src/core/logger";

const LIMITS: AdminHttpLimits = { headersTimeoutMs: 600, requestTimeoutMs: 800, idleTimeoutMs: 1_500, timeoutCheckMs: 100, connectionsMax: 8 };
/** Longest any single exchange in these tests may take. */
const EXCHANGE_MS_MAX = 5_000;

interface Exchange {
  /** Everything the server sent before it closed the connection (or the wait ended). */
  text: string;
  closed: boolean;
  elapsedMs: number;
}

/** Opens a socket, runs `talk`, and collects the reply until the server closes it (bounded). */
function exchange(port: number, talk: (socket: net.Socket) => void, waitMs = EXCHANGE_MS_MAX): Promise<Exchange> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed, elapsedMs: performance.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("data", (chunk) => (text += chunk.toString("latin1")));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    socket.on("connect", () => talk(socket));
  });
}

function statusOf(reply: Exchange): number {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(reply.text);
  assert.ok(match !== null, `no HTTP status line in ${JSON.stringify(reply.text.slice(0, 200))}`);
  return Number(match[1]);
}

async function get(port: number, path: string, method = "GET"): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, signal: AbortSignal.timeout(EXCHANGE_MS_MAX) });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

describe("admin HTTP server: endpoints and bad input", function () {
  this.timeout(30_000);
  let server: AdminHttpServer;
  let ready = true;
  let statusCalls = 0;
  const refused: number[] = [];
  const handlers: AdminHandlers = {
    readiness: () => ({ ready, reason: ready ? "member of view epoch 4" : "recovering in view epoch 4" }),
    status: async () => {
      statusCalls++;
      return { view: { epoch: 4 }, nodes: [] };
    },
    metrics: async () => ({ contentType: "text/plain; version=0.0.4; charset=utf-8", body: "# HELP x_total X\n# TYPE x_total counter\nx_total 1\n" }),
    refused: (status) => refused.push(status),
  };

  before(async () => {
    server = await startAdminHttp("127.0.0.1", 0, handlers, silentLogger, LIMITS);
  });
  after(async () => server.close());

  async function stillServes(): Promise<void> {
    const health = await get(server.port, "/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.body, "ok\n");
  }

  it("serves /healthz, /readyz (200 ready, 503 not), /metrics and /v1/status", async () => {
    await stillServes();
    ready = true;
    assert.deepEqual(await get(server.port, "/readyz").then((r) => [r.status, r.body]), [200, "ready: member of view epoch 4\n"]);
    ready = false;
    assert.deepEqual(await get(server.port, "/readyz").then((r) => [r.status, r.body]), [503, "not ready: recovering in view epoch 4\n"]);
    ready = true;
    const metrics = await get(server.port, "/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.body, /^x_total 1$/m);
    const status = await get(server.port, "/v1/status?pretty=1");
    assert.equal(status.status, 200);
    assert.deepEqual(JSON.parse(status.body), { view: { epoch: 4 }, nodes: [] });
    const head = await get(server.port, "/healthz", "HEAD");
    assert.deepEqual([head.status, head.body], [200, ""]);
  });

  it("unknown paths get 404, other methods 405 with Allow, bodies 413; each counted as refused", async () => {
    refused.length = 0;
    assert.equal((await get(server.port, "/nope")).status, 404);
    assert.equal((await get(server.port, "/../../etc/passwd")).status, 404);
    const post = await get(server.port, "/metrics", "DELETE");
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    const withBody = await fetch(`http://127.0.0.1:${server.port}/healthz`, { method: "POST", body: "x".repeat(100), signal: AbortSignal.timeout(EXCHANGE_MS_MAX) });
    assert.equal(withBody.status, 413);
    assert.deepEqual(refused, [404, 404, 405, 413]);
    await stillServes();
  });

  it("garbage bytes get 400 and the connection is closed", async () => {
    for (const garbage of [Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a]), Buffer.from("HELLO WORLD\r\n\r\n"), Buffer.from("GET / HTTP/9.9\r\n\r\n")]) {
      const reply = await exchange(server.port, (socket) => socket.write(garbage));
      assert.equal(statusOf(reply), 400, `for ${garbage.toString("hex")}`);
      assert.ok(reply.closed);
    }
    await stillServes();
  });

  it("headers over the size limit get 431", async () => {
    const reply = await exchange(server.port, (socket) => socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(HEADER_BYTES_MAX * 2)}\r\n\r\n`));
    assert.equal(statusOf(reply), 431);
    assert.ok(reply.closed);
    await stillServes();
  });

  it("slowloris (headers dribbled in, never finished) gets 408 once the headers deadline passes, and others are served meanwhile", async () => {
    let dribble: NodeJS.Timeout | undefined;
    const slow = exchange(server.port, (socket) => {
      socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
      dribble = setInterval(() => socket.writable && socket.write("X-Slow: 1\r\n"), 100);
    });
    await stillServes(); // served while the slow client holds its connection
    const reply = await slow;
    clearInterval(dribble);
    assert.equal(statusOf(reply), 408);
    assert.ok(reply.closed);
    assert.ok(reply.elapsedMs < LIMITS.headersTimeoutMs + 5 * LIMITS.timeoutCheckMs + 1_000, `closed after ${reply.elapsedMs} ms`);
  });

  it("a half-open connection (connects, sends nothing) is closed by the server", async () => {
    const reply = await exchange(server.port, () => undefined);
    assert.ok(reply.closed, "the server never closed the silent connection");
    assert.ok(reply.elapsedMs < LIMITS.idleTimeoutMs + 1_500, `closed after ${reply.elapsedMs} ms`);
    await stillServes();
  });

  it("a flood of idle connections beyond the cap is turned away, and the server recovers once they go", async () => {
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < LIMITS.connectionsMax + 4; i++) {
        const socket = net.connect(server.port, "127.0.0.1");
        socket.on("error", () => undefined); // refused ones are reset
        sockets.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const closedEarly = sockets.filter((socket) => socket.destroyed || socket.readableEnded).length;
      assert.ok(closedEarly >= 4, `only ${closedEarly} of the connections beyond the cap were closed`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    await stillServes();
  });

  it("/v1/status requests in flight together share one gather", async () => {
    statusCalls = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let runs = 0;
    const shared = coalesced(async () => {
      runs++;
      await gate;
      return runs;
    });
    const results = [shared(), shared(), shared()];
    release();
    assert.deepEqual(await Promise.all(results), [1, 1, 1]);
    assert.equal(await shared(), 2, "a call after the first finished starts a new gather");
  });

  it("a port in use is a clear error", async () => {
    await assert.rejects(startAdminHttp("127.0.0.1", server.port, handlers, silentLogger, LIMITS), /cannot listen on 127\.0\.0\.1:\d+ \(HTTP admin port\): the address is already in use/);
  });
});
