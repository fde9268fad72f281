// The HTTP admin port on real node processes (issue 17), both modes, started the real way
// (`server startAll` with --http-servers on free loopback ports):
// - /healthz and /readyz answer on every node; /readyz turns 200 once the node serves;
// - /metrics is Prometheus text that Debian's promtool accepts (`promtool check metrics`, its
//   linter: names, units, `_total` on counters only) on every node, and its figures move
//   with the traffic (operations by command and result, latency, raft term and indexes, view
//   epoch, gRPC errors once a peer is killed);
// - /v1/status is the document `cluster status --json` prints;
// - garbage and a slow client on a node's admin port get 4xx, and the node keeps serving
//   both its admin port and its clients.
// Every process is stopped by PID; every wait is bounded.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePorts, runCli, startCli, stopProcess, StartedProcess, waitUntil } from "../support/processes";

const PROMTOOL = spawnSync("promtool", ["--version"], { encoding: "utf8" }).status === 0 ? "promtool" : null;
if (PROMTOOL === null) console.log("      promtool not installed (apt-get install prometheus): `promtool check metrics` is not run on the nodes' /metrics");
const HTTP_WAIT_MS = 5_000;

async function httpGet(address: string, pathname: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://${address}${pathname}`, { signal: AbortSignal.timeout(HTTP_WAIT_MS) });
  return { status: response.status, body: await response.text() };
}

/** The value of one sample line (`name{labels} value`), or null when it is absent. */
function sample(text: string, name: string, labels = ""): number | null {
  const line = text.split("\n").find((candidate) => candidate.startsWith(labels === "" ? `${name} ` : `${name}{${labels}} `));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** The sum of every sample of `name`, whatever its labels, that matches `filter`. */
function sum(text: string, name: string, filter: RegExp = /.*/): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!filter.test(line)) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

function promtoolProblems(text: string): string {
  const result = spawnSync(PROMTOOL!, ["check", "metrics"], { input: text, encoding: "utf8", timeout: 10_000 });
  return result.status === 0 ? "" : `${result.stdout}${result.stderr}`.trim() || `exit ${result.status}`;
}

/** PIDs startAll printed, by node index ("  ... listening on A  pid P  http H"). */
function printedNodes(output: string[]): Array<{ address: string; pid: number; http: string }> {
  return output.flatMap((line) => {
    const match = /listening on (\S+)\s+pid (\d+)\s+http (\S+)/.exec(line);
    return match === null ? [] : [{ address: match[1], pid: Number(match[2]), http: match[3] }];
  });
}

/** Sends raw bytes and returns what came back before the server closed the connection (bounded). */
function rawExchange(address: string, bytes: Buffer, then?: (socket: net.Socket) => void, waitMs = HTTP_WAIT_MS): Promise<{ text: string; closed: boolean }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let text = "";
    const timer = setTimeout(() => finish(false), waitMs);
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    socket.on("connect", () => {
      if (bytes.length > 0) socket.write(bytes);
      then?.(socket);
    });
    socket.on("data", (chunk) => (text += chunk.toString("latin1")));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
  });
}

async function badInputLeavesNodeServing(http: string): Promise<void> {
  // A slowloris (headers dribbled in, never finished) and a half-open connection (opens,
  // sends nothing) hold their sockets while the checks below run; the node's own deadlines
  // (HEADERS_TIMEOUT_MS, 5 s) end them.
  let dribble: NodeJS.Timeout | undefined;
  const slowloris = rawExchange(http, Buffer.from("GET /metrics HTTP/1.1\r\nHost: x\r\n"), (socket) => {
    dribble = setInterval(() => socket.writable && socket.write("X-Slow: 1\r\n"), 200);
  }, 10_000);
  const silent = rawExchange(http, Buffer.alloc(0), undefined, 10_000);
  assert.match((await rawExchange(http, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]))).text, /^HTTP\/1\.1 400 /, "garbage bytes");
  assert.match((await rawExchange(http, Buffer.from(`GET /metrics HTTP/1.1\r\nX: ${"y".repeat(64 * 1024)}\r\n\r\n`))).text, /^HTTP\/1\.1 431 /, "oversized headers");
  assert.equal((await httpGet(http, "/nothing-here")).status, 404);
  const put = await fetch(`http://${http}/metrics`, { method: "PUT", signal: AbortSignal.timeout(HTTP_WAIT_MS) });
  assert.equal(put.status, 405);
  const withBody = await fetch(`http://${http}/metrics`, { method: "POST", body: "x".repeat(1000), signal: AbortSignal.timeout(HTTP_WAIT_MS) });
  assert.equal(withBody.status, 413);
  assert.equal((await httpGet(http, "/healthz")).status, 200, "the admin port still serves");
  const metrics = await httpGet(http, "/metrics");
  assert.ok(sum(metrics.body, "ecc_cache_http_refused_requests_total") >= 5, "the refusals are counted");
  const slow = await slowloris;
  clearInterval(dribble);
  assert.match(slow.text, /^HTTP\/1\.1 408 /, "the slowloris is cut off with 408");
  assert.ok(slow.closed);
  const quiet = await silent;
  assert.ok(quiet.closed, "the node closed the silent connection");
  assert.doesNotMatch(quiet.text, /^HTTP\/1\.1 [^4]/, "with no answer or a 4xx");
  assert.equal((await httpGet(http, "/healthz")).status, 200, "and the admin port still serves");
}

describe("HTTP admin port (real processes)", function () {
  this.timeout(180_000);
  let dataDir = "";
  let all: StartedProcess | null = null;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "admin-http-test-"));
  });
  afterEach(async () => {
    if (all !== null) await stopProcess(all, "SIGTERM", 5_000);
    all = null;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("ecc: every node serves /healthz, /readyz, /metrics (promtool-clean) and /v1/status; bad input gets 4xx", async () => {
    const ports = await freePorts(6);
    const servers = ports.slice(0, 3).map((port) => `127.0.0.1:${port}`);
    const https = ports.slice(3).map((port) => `127.0.0.1:${port}`);
    const flags = ["--servers", servers.join(","), "--k", "2", "--n", "3"];
    all = await startCli(["ecc", "server", "startAll", ...flags, "--http-servers", https.join(","), "--data-dir", dataDir, "--heartbeat-timeout-ms", "500", "--max-memory", "64MiB"], /Press Ctrl-C/, {
      timeoutMs: 30_000,
    });
    const nodes = printedNodes(all.output);
    assert.deepEqual(nodes.map((node) => [node.address, node.http]), servers.map((server, index) => [server, https[index]]), "startAll prints each node's admin address");

    for (const http of https) {
      await waitUntil(async () => (await httpGet(http, "/readyz").catch(() => ({ status: 0 }))).status === 200, 15_000, `${http}/readyz`);
      assert.deepEqual(await httpGet(http, "/healthz"), { status: 200, body: "ok\n" });
      assert.match((await httpGet(http, "/readyz")).body, /^ready: member of view epoch \d+\n$/);
    }

    for (let i = 0; i < 5; i++) assert.equal((await runCli(["ecc", "client", "set", `key${i}`, `value${i}`, ...flags])).code, 0);
    assert.equal((await runCli(["ecc", "client", "get", "key3", ...flags])).stdout.toString(), "value3");

    for (const http of https) {
      const { status, body } = await httpGet(http, "/metrics");
      assert.equal(status, 200);
      if (PROMTOOL !== null) assert.equal(promtoolProblems(body), "", `promtool check metrics on ${http}`);
      assert.equal(sample(body, "ecc_cache_ops_total", 'command="prepare",result="ok"'), 5, `${http}: one EcPrepare per set`);
      assert.equal(sample(body, "ecc_cache_ops_total", 'command="commit",result="ok"'), 5);
      assert.equal(sample(body, "ecc_cache_op_duration_seconds_count", 'command="prepare"'), 5, "latency observed per operation");
      assert.equal(sample(body, "ecc_cache_node_state", 'state="member"'), 1);
      assert.equal(sample(body, "ecc_cache_keys"), 5);
      assert.ok(sample(body, "ecc_cache_logical_bytes")! > 0);
      assert.ok(sample(body, "process_resident_memory_bytes")! > 0, "prom-client's process metrics are there");
      assert.equal(sample(body, "ecc_cache_memory_budget_bytes"), 64 * 1024 * 1024, "the node's budget");
      assert.ok(sample(body, "ecc_cache_memory_used_bytes")! > 0);
      assert.equal(sample(body, "ecc_cache_evicted_keys_total"), 0, "nothing evicted under the budget");
      assert.equal(sample(body, "ecc_cache_expired_keys_total"), 0);
      assert.equal(sample(body, "ecc_cache_view_epoch"), sample(body, "ecc_cache_view_epoch"));
    }
    assert.equal(
      https.length,
      (await Promise.all(https.map((http) => httpGet(http, "/metrics")))).filter(({ body }) => (sample(body, "ecc_cache_leader_changes_total") ?? 0) >= 1).length,
      "every node saw the control plane elect a leader",
    );

    const cli = await runCli(["ecc", "cluster", "status", "--json", ...flags]);
    assert.equal(cli.code, 0);
    const fromCli = JSON.parse(cli.stdout.toString());
    const fromHttp = JSON.parse((await httpGet(https[1], "/v1/status")).body);
    const withoutRss = (status: { nodes: Array<Record<string, unknown>> }) => ({ ...status, nodes: status.nodes.map(({ rssBytes: _, ...rest }) => rest) });
    assert.deepEqual(withoutRss(fromHttp), withoutRss(fromCli), "/v1/status is what `cluster status --json` prints (RSS aside, which moves)");

    await badInputLeavesNodeServing(https[0]);
    assert.equal((await runCli(["ecc", "client", "get", "key1", ...flags])).stdout.toString(), "value1", "the node still serves clients");

    // A node killed: the others count failed gRPC calls to it, their view moves on, and
    // /v1/status on a survivor shows it unreachable.
    const epochBefore = sample((await httpGet(https[0], "/metrics")).body, "ecc_cache_view_epoch")!;
    process.kill(nodes[2].pid, "SIGKILL");
    await waitUntil(async () => sample((await httpGet(https[0], "/metrics")).body, "ecc_cache_view_epoch")! > epochBefore, 15_000, "a new view without node 2");
    const after = (await httpGet(https[0], "/metrics")).body;
    assert.equal(sample(after, "ecc_cache_view_members"), 2);
    const errors = sum(after, "ecc_cache_grpc_errors_total") + sum((await httpGet(https[1], "/metrics")).body, "ecc_cache_grpc_errors_total");
    assert.ok(errors > 0, "failed calls to the killed node are counted by gRPC code");
    const degraded = JSON.parse((await httpGet(https[0], "/v1/status")).body);
    assert.deepEqual(degraded.nodes.map((node: { state: string }) => node.state), ["member", "member", "unreachable"]);
  });

  it("raft: every node serves the four endpoints; metrics carry term, indexes, leader changes and ops", async function () {
    const ports = await freePorts(6);
    const servers = ports.slice(0, 3).map((port) => `127.0.0.1:${port}`);
    const https = ports.slice(3).map((port) => `127.0.0.1:${port}`);
    const flags = ["--servers", servers.join(",")];
    all = await startCli(["raft", "server", "startAll", ...flags, "--http-servers", https.join(","), "--data-dir", dataDir, "--fsync", "never"], /Press Ctrl-C/, {
      timeoutMs: 30_000,
    });
    assert.deepEqual(printedNodes(all.output).map((node) => node.http), https);
    for (const http of https) {
      await waitUntil(async () => (await httpGet(http, "/readyz").catch(() => ({ status: 0 }))).status === 200, 15_000, `${http}/readyz`);
      assert.match((await httpGet(http, "/readyz")).body, /^ready: (leader in term \d+|follower of leader \S+ in term \d+)\n$/);
    }
    for (let i = 0; i < 4; i++) assert.equal((await runCli(["raft", "client", "set", `key${i}`, `value${i}`, ...flags])).code, 0);
    assert.equal((await runCli(["raft", "client", "get", "key2", ...flags])).stdout.toString(), "value2");

    const bodies = await Promise.all(https.map(async (http) => (await httpGet(http, "/metrics")).body));
    for (const [index, body] of bodies.entries()) {
      if (PROMTOOL !== null) assert.equal(promtoolProblems(body), "", `promtool check metrics on ${https[index]}`);
      assert.ok(sample(body, "ecc_cache_raft_term")! >= 1);
      assert.ok(sample(body, "ecc_cache_raft_commit_index")! >= 4, "four sets committed");
      assert.ok(sample(body, "ecc_cache_leader_changes_total")! >= 1, "every node saw a leader elected");
      assert.equal(sample(body, "ecc_cache_raft_has_leader"), 1);
    }
    const leaders = bodies.filter((body) => sample(body, "ecc_cache_raft_role", 'role="leader"') === 1);
    assert.equal(leaders.length, 1, "exactly one node reports the leader role");
    assert.equal(sample(leaders[0], "ecc_cache_ops_total", 'command="set",result="ok"'), 4, "the leader answered the four sets");
    assert.ok(sample(leaders[0], "ecc_cache_op_duration_seconds_count", 'command="set"')! >= 4);

    const cli = await runCli(["raft", "cluster", "status", "--json", ...flags]);
    assert.equal(cli.code, 0);
    assert.deepEqual(JSON.parse((await httpGet(https[2], "/v1/status")).body), JSON.parse(cli.stdout.toString()), "/v1/status is what `cluster status --json` prints");

    await badInputLeavesNodeServing(https[1]);
    assert.equal((await runCli(["raft", "client", "get", "key0", ...flags])).stdout.toString(), "value0");
  });

  it("startAll with --http-port 0 starts no admin port; a busy admin port stops startAll with exit 3", async () => {
    const ports = await freePorts(4);
    const servers = ports.slice(0, 3).map((port) => `127.0.0.1:${port}`);
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(ports[3], "127.0.0.1", () => resolve()));
    try {
      const https = [`127.0.0.1:${ports[3]}`, "127.0.0.1:1", "127.0.0.1:2"];
      const refused = await runCli(["raft", "server", "startAll", "--servers", servers.join(","), "--http-servers", https.join(","), "--data-dir", dataDir]);
      assert.equal(refused.code, 3);
      assert.match(refused.stderr, new RegExp(`cannot start: 127\\.0\\.0\\.1:${ports[3]} already in use`));
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
    all = await startCli(["raft", "server", "startAll", "--servers", servers.join(","), "--http-port", "0", "--data-dir", dataDir, "--fsync", "never"], /Press Ctrl-C/, {
      timeoutMs: 30_000,
    });
    assert.equal(printedNodes(all.output).length, 0, "no node prints an admin address");
    assert.ok(all.output.some((line) => /listening on 127\.0\.0\.1:\d+\s+pid \d+(\s+resp \S+)?$/.test(line)));
  });
});
