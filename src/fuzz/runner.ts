// The port fuzzer's driver: starts a real local cluster (ecc: 5 nodes, k=3; raft: 3 nodes;
// every node with its gRPC, RESP and HTTP admin port), writes keys with the library client,
// sends seeded inputs at every port of every node, then checks that the nodes came through:
// 1. every node process is still running (its PID, watched throughout the fuzz);
// 2. every node still serves: /healthz answers 200, a SET and GET through its RESP port
//    work, its gRPC port answers the library client's stats, and a library set/get works;
// 3. every key acknowledged before the fuzz reads back byte for byte.
//
// Inputs come in lanes, one per RPC (src/fuzz/grpc_inputs.ts), one for RESP commands, one
// for HTTP requests, and one raw-bytes and one slow-connection lane per port kind
// (src/fuzz/text_inputs.ts). Each lane draws from a Random seeded by (seed, lane), and picks
// an input's target node with it, so a lane's inputs are the same on every run of a seed
// whatever the timing. Every lane stops after `inputsPerPort` inputs or at the deadline;
// every wait has a deadline; every process is stopped by its PID.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Client, Metadata, ServiceError, credentials, status as grpcStatus } from "@grpc/grpc-js";
import { createCodec } from "../codec";
import { Random, SeededRandom, sleep } from "../core/env";
import { errorMessage } from "../core/errors";
import { freeLoopbackPorts } from "../core/ports";
import { parseAddress } from "../core/address";
import { EcClient } from "../ecc/client";
import { RaftClient } from "../raft/client";
import { JepsenCluster } from "../jepsen/cluster";
import { GrpcFuzzContext, GrpcRpc, grpcRpcs } from "./grpc_inputs";
import { PortKind, httpInput, rawInput, respFrame, respInput, slowInput } from "./text_inputs";

export type FuzzMode = "ecc" | "raft";

export interface FuzzOptions {
  mode: FuzzMode;
  seed: number;
  /** Inputs per lane (each RPC, RESP, HTTP, raw per port kind); slow lanes get a hundredth. */
  inputsPerPort: number;
  /** The fuzz phase ends here even if lanes have inputs left. */
  timeMs: number;
  /** A slow connection writes one byte every dripMs. */
  dripMs: number;
  /** Progress and the report go here. */
  log: (line: string) => void;
  /** Where the last inputs of every lane are written when a property fails. */
  failureDir: string;
  /** When set, every line each node prints is appended to <logDir>/node<i>.log. */
  logDir?: string | null;
  /**
   * Self-check of the checker (tests only): SIGKILL node 0 by its PID this long into the fuzz.
   * The run must then fail and name node 0.
   */
  killNodeAfterMs?: number;
}

export interface LaneReport {
  lane: string;
  /** Inputs sent. */
  tried: number;
  /** Inputs generated and left out by a guard (src/fuzz/grpc_inputs.ts header). */
  skipped: number;
  /** How the node answered, by outcome ("OK", "INTERNAL", "HTTP 400", "closed", ...). */
  outcomes: Record<string, number>;
}

export interface FuzzResult {
  mode: FuzzMode;
  seed: number;
  lanes: LaneReport[];
  /** Properties that failed; empty when the nodes came through. */
  problems: string[];
  fuzzMs: number;
  /** The command that replays this run's inputs. */
  replay: string;
  /** Where the last inputs were written (on failure), else null. */
  failureFile: string | null;
}

/** Keys written before the fuzz and read back after it. */
export const ACKNOWLEDGED_KEYS = 50;
/** Every acknowledged key starts with this; no fuzz input contains it. */
export const ACKNOWLEDGED_KEY_PREFIX = "fuzz-acknowledged:";
/** Inputs of one lane in flight at once. */
const LANE_CONCURRENCY = 8;
/** Deadline of one gRPC call. */
const RPC_DEADLINE_MS = 2_000;
/** How long a RESP, HTTP or raw input waits for the node's answer before it hangs up. */
const TEXT_ANSWER_WAIT_MS = 400;
const RAW_WAIT_MS = 100;
/** A loopback connect takes well under this; the answer waits above start counting after it. */
const CONNECT_MS_MAX = 1_000;
/** How long a slow connection drips at most (then it hangs up): past the admin port's 5 s header deadline (checked every second). */
const SLOW_CONNECTION_MS_MAX = 7_000;
/** Slow connections per slow lane at once. */
const SLOW_CONCURRENCY = 3;
/** How often the node processes are checked during the fuzz. */
const WATCH_INTERVAL_MS = 250;
/** After the fuzz, how long the cluster may take to be whole again (a raft election). */
const SETTLE_MS_MAX = 30_000;
const HTTP_CHECK_TIMEOUT_MS = 5_000;
/** Inputs of each lane kept for the failure file. */
const RECENT_INPUTS_MAX = 20;
/** The largest message the fuzzer's gRPC client sends (above every node's receive limit). */
const CLIENT_MESSAGE_BYTES_MAX = 128 * 1024 * 1024;

interface Lane {
  name: string;
  count: number;
  concurrency: number;
  random: Random;
  report: LaneReport;
  recent: Array<{ index: number; node: number; hex: string }>;
  /** Sends input number `index` (drawn synchronously from the lane's Random) and returns its outcome. */
  next(index: number): { node: number; bytes: Buffer | Buffer[]; send: () => Promise<string> } | { skipped: string };
}

/** 32-bit FNV-1a of the lane name mixed with the seed: each lane's own seed. */
export function laneSeed(seed: number, lane: string): number {
  let hash = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < lane.length; i++) hash = Math.imul(hash ^ lane.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

const identity = (value: Buffer): Buffer => value;

export function replayCommand(options: Pick<FuzzOptions, "mode" | "seed" | "inputsPerPort" | "timeMs">): string {
  return `npm run fuzz -- --mode ${options.mode} --seed ${options.seed} --inputs ${options.inputsPerPort} --time ${Math.ceil(options.timeMs / 1000)}`;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const { log } = options;
  const replay = replayCommand(options);
  log(`fuzz: mode ${options.mode}, seed ${options.seed}, ${options.inputsPerPort} inputs per port, at most ${Math.ceil(options.timeMs / 1000)} s; replay: ${replay}`);
  const httpPorts = await freeLoopbackPorts(options.mode === "ecc" ? 5 : 3);
  const httpAddresses = httpPorts.map((port) => `127.0.0.1:${port}`);
  const cluster = await JepsenCluster.start({ mode: options.mode, network: null, resp: true, logDir: options.logDir ?? null, overrides: { http_servers: httpAddresses } });
  const grpcClients: Client[] = [];
  let ecc: EcClient | null = null;
  let raft: RaftClient | null = null;
  try {
    const settled = await cluster.waitHealthy(SETTLE_MS_MAX);
    if (!settled.healthy) throw new Error(`the cluster did not become healthy: ${settled.summary}`);
    if (options.mode === "ecc") {
      const config = cluster.eccConfig!;
      ecc = new EcClient({ config, codec: await createCodec("auto", config.dataShards, config.parityShards) });
    } else {
      raft = new RaftClient({ servers: cluster.servers, rpcTimeoutMs: RPC_DEADLINE_MS, attemptsMax: 10 });
    }
    const store = {
      set: (key: string, value: Buffer) => (ecc !== null ? ecc.set(key, value).then(() => undefined) : raft!.set(key, value).then(() => undefined)),
      get: (key: string) => (ecc !== null ? ecc.get(key) : raft!.get(key)),
    };

    // Acknowledged keys: binary values of 0..2,000 bytes, from the seed.
    const valueRandom = new SeededRandom(laneSeed(options.seed, "acknowledged values"));
    const acknowledged = new Map<string, Buffer>();
    for (let i = 0; i < ACKNOWLEDGED_KEYS; i++) {
      const value = Buffer.alloc(valueRandom.int(2_001));
      for (let j = 0; j < value.length; j++) value[j] = valueRandom.int(256);
      const key = `${ACKNOWLEDGED_KEY_PREFIX}${i}`;
      await store.set(key, value);
      acknowledged.set(key, value);
    }
    log(`fuzz: ${ACKNOWLEDGED_KEYS} keys written and acknowledged`);

    for (const server of cluster.servers) {
      grpcClients.push(
        new Client(server, credentials.createInsecure(), {
          "grpc.max_send_message_length": CLIENT_MESSAGE_BYTES_MAX,
          "grpc.max_receive_message_length": CLIENT_MESSAGE_BYTES_MAX,
          "grpc.enable_retries": 0,
          "grpc.use_local_subchannel_pool": 1,
        }),
      );
    }
    const respPorts = cluster.respAddresses.map((address) => parseAddress(address).port);
    const grpcPorts = cluster.servers.map((address) => parseAddress(address).port);
    const ports: Record<PortKind, number[]> = { grpc: grpcPorts, resp: respPorts, http: httpPorts };
    const lanes = makeLanes(options, cluster.servers, grpcClients, ports);

    // The fuzz, with the node processes watched throughout.
    const problems: string[] = [];
    let stop = false;
    const watch = setInterval(() => {
      cluster.nodes.forEach((node, index) => {
        if (node !== null && node.process.running) return;
        const tail = node === null ? [] : node.output.slice(-15);
        const problem = `node ${index} (${cluster.servers[index]}) exited during the fuzz; its last lines:\n${tail.join("\n")}`;
        if (!problems.some((known) => known.startsWith(`node ${index} `))) problems.push(problem);
        stop = true;
      });
    }, WATCH_INTERVAL_MS);
    const startedMs = performance.now();
    const deadlineMs = startedMs + options.timeMs;
    const killFirstNode = (): void => {
      try {
        process.kill(cluster.nodes[0]!.pid, "SIGKILL");
      } catch {
        // Already gone (ESRCH): the watch reports it as a node that exited, as it must.
      }
    };
    const selfCheck = options.killNodeAfterMs === undefined ? undefined : setTimeout(killFirstNode, options.killNodeAfterMs);
    const progress = setInterval(() => log(`fuzz: ${lanes.map((lane) => `${lane.name} ${lane.report.tried}`).join(", ")}`), 10_000);
    try {
      await Promise.all(lanes.map((lane) => runLane(lane, () => stop || performance.now() > deadlineMs)));
    } finally {
      clearInterval(progress);
      clearInterval(watch);
      clearTimeout(selfCheck);
    }
    const fuzzMs = Math.round(performance.now() - startedMs);
    for (const client of grpcClients) client.close();
    log(`fuzz: sent for ${fuzzMs} ms; checking the nodes`);

    if (problems.length === 0) problems.push(...(await checkNodes(cluster, httpAddresses, respPorts, store, acknowledged, ecc, raft)));
    const result: FuzzResult = { mode: options.mode, seed: options.seed, lanes: lanes.map((lane) => lane.report), problems, fuzzMs, replay, failureFile: null };
    if (problems.length > 0) result.failureFile = writeFailure(options, lanes, problems);
    return result;
  } finally {
    for (const client of grpcClients) client.close();
    ecc?.close();
    raft?.close();
    await cluster.stop();
  }
}

async function runLane(lane: Lane, stopped: () => boolean): Promise<void> {
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    while (!stopped() && nextIndex < lane.count) {
      const index = nextIndex++;
      const input = lane.next(index);
      if ("skipped" in input) {
        lane.report.skipped++;
        continue;
      }
      const bytes = Array.isArray(input.bytes) ? Buffer.concat(input.bytes) : input.bytes;
      lane.recent.push({ index, node: input.node, hex: bytes.subarray(0, 4_096).toString("hex") });
      if (lane.recent.length > RECENT_INPUTS_MAX) lane.recent.shift();
      const outcome = await input.send();
      lane.report.tried++;
      lane.report.outcomes[outcome] = (lane.report.outcomes[outcome] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: lane.concurrency }, () => worker()));
}

function newLane(options: FuzzOptions, name: string, count: number, concurrency: number, next: (random: Random, index: number) => ReturnType<Lane["next"]>): Lane {
  const random = new SeededRandom(laneSeed(options.seed, name));
  const lane: Lane = {
    name,
    count,
    concurrency,
    random,
    report: { lane: name, tried: 0, skipped: 0, outcomes: {} },
    recent: [],
    next: (index) => next(random, index),
  };
  return lane;
}

function makeLanes(options: FuzzOptions, servers: string[], clients: Client[], ports: Record<PortKind, number[]>): Lane[] {
  const lanes: Lane[] = [];
  const count = options.inputsPerPort;
  const nodeCount = servers.length;
  for (const rpc of grpcRpcs(options.mode)) {
    lanes.push(
      newLane(options, `grpc ${rpc.name}`, count, LANE_CONCURRENCY, (random) => {
        const node = random.int(nodeCount);
        const context: GrpcFuzzContext = { servers, target: servers[node], shardCount: options.mode === "ecc" ? nodeCount : 0, acknowledgedKeyPrefix: ACKNOWLEDGED_KEY_PREFIX };
        const messages = rpc.kind === "unary" ? [rpc.generate(random, context)] : Array.from({ length: 1 + random.int(3) }, () => rpc.generate(random, context));
        for (const message of messages) {
          const reason = rpc.guard(message, context);
          if (reason !== null) return { skipped: reason };
        }
        return { node, bytes: messages, send: () => sendGrpc(clients[node], rpc, messages) };
      }),
    );
  }
  const textGuard = (bytes: Buffer): boolean => bytes.includes(ACKNOWLEDGED_KEY_PREFIX);
  lanes.push(
    newLane(options, "resp", count, LANE_CONCURRENCY * 2, (random) => {
      const node = random.int(nodeCount);
      const bytes = respInput(random);
      if (textGuard(bytes)) return { skipped: "acknowledged key" };
      return { node, bytes, send: () => sendResp(ports.resp[node], bytes) };
    }),
  );
  lanes.push(
    newLane(options, "http", count, LANE_CONCURRENCY * 2, (random) => {
      const node = random.int(nodeCount);
      const bytes = httpInput(random);
      return { node, bytes, send: () => sendHttp(ports.http[node], bytes) };
    }),
  );
  for (const kind of ["grpc", "resp", "http"] as PortKind[]) {
    lanes.push(
      newLane(options, `raw ${kind}`, count, LANE_CONCURRENCY * 2, (random) => {
        const node = random.int(nodeCount);
        const bytes = rawInput(random, kind);
        if (textGuard(bytes)) return { skipped: "acknowledged key" };
        return { node, bytes, send: () => sendRaw(ports[kind][node], bytes) };
      }),
    );
  }
  for (const kind of ["grpc", "resp", "http"] as PortKind[]) {
    lanes.push(
      newLane(options, `slow ${kind}`, Math.max(1, Math.ceil(count / 100)), SLOW_CONCURRENCY, (random) => {
        const node = random.int(nodeCount);
        const bytes = slowInput(random, kind);
        return { node, bytes, send: () => sendSlow(ports[kind][node], bytes, options.dripMs) };
      }),
    );
  }
  return lanes;
}

// ------------------------------------------------------------------ sending

/** A call's outcome: its status, and for INTERNAL whether the request did not decode (the usual) or what else. */
function callOutcome(code: number, details: string): string {
  const name = grpcStatus[code] ?? `code ${code}`;
  if (code !== grpcStatus.INTERNAL) return name;
  return details.startsWith("Error deserializing") ? `${name} (undecodable)` : `${name}: ${details.slice(0, 60)}`;
}

/** One call of `rpc` carrying `messages` as raw bytes; the outcome is the call's status. */
function sendGrpc(client: Client, rpc: GrpcRpc, messages: Buffer[]): Promise<string> {
  const deadline = Date.now() + RPC_DEADLINE_MS;
  return new Promise((resolve) => {
    const done = (error: ServiceError | null): void => resolve(error === null ? callOutcome(grpcStatus.OK, "") : callOutcome(error.code, error.details));
    if (rpc.kind === "unary") {
      client.makeUnaryRequest(rpc.path, identity, identity, messages[0], new Metadata(), { deadline }, (error) => done(error));
      return;
    }
    if (rpc.kind === "clientStream") {
      const call = client.makeClientStreamRequest(rpc.path, identity, identity, new Metadata(), { deadline }, (error) => done(error));
      for (const message of messages) call.write(message);
      call.end();
      return;
    }
    const call = client.makeBidiStreamRequest(rpc.path, identity, identity, new Metadata(), { deadline });
    call.on("data", () => undefined);
    call.on("error", () => undefined); // the status below says how the call ended
    call.on("status", (status) => resolve(callOutcome(status.code, status.details)));
    for (const message of messages) call.write(message);
    call.end();
  });
}

interface Exchange {
  received: Buffer;
  closedByServer: boolean;
}

/** Connects to 127.0.0.1:`port`, runs `talk`, collects what comes back until `done` or `waitMs`, hangs up. */
function exchange(port: number, talk: (socket: net.Socket) => void, done: (received: Buffer) => boolean, waitMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let finished = false;
    let timer: NodeJS.Timeout | undefined = undefined;
    const finish = (closedByServer: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closedByServer });
    };
    // Bounded from the start: the connect has CONNECT_MS_MAX, then the answer waitMs.
    timer = setTimeout(() => finish(false), CONNECT_MS_MAX);
    socket.on("connect", () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), waitMs);
      talk(socket);
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (done(Buffer.concat(chunks))) finish(false);
    });
    socket.on("error", () => finish(true)); // a reset from the node after bad input is an answer too
    socket.on("close", () => finish(true));
  });
}

const PING = respFrame([Buffer.from("PING")]);

async function sendResp(port: number, bytes: Buffer): Promise<string> {
  // A PING after the input: its PONG says the connection got through the input and serves on.
  const result = await exchange(port, (socket) => socket.write(Buffer.concat([bytes, PING])), (received) => received.subarray(-7).toString() === "+PONG\r\n", TEXT_ANSWER_WAIT_MS);
  if (result.received.subarray(-7).toString() === "+PONG\r\n") return result.received.includes("-ERR") ? "errors, then PONG" : "PONG";
  if (result.closedByServer) return result.received.includes("-ERR") ? "error, closed" : "closed";
  return result.received.length > 0 ? "partial answer" : "waiting for more";
}

async function sendHttp(port: number, bytes: Buffer): Promise<string> {
  const result = await exchange(port, (socket) => socket.write(bytes), (received) => received.includes("\r\n\r\n"), TEXT_ANSWER_WAIT_MS);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(result.received.toString("latin1"));
  if (status !== null) return `HTTP ${status[1]}`;
  if (result.closedByServer) return "closed";
  return result.received.length > 0 ? "not HTTP" : "waiting for more";
}

async function sendRaw(port: number, bytes: Buffer): Promise<string> {
  const result = await exchange(port, (socket) => socket.write(bytes), () => false, RAW_WAIT_MS);
  return result.closedByServer ? "closed" : result.received.length > 0 ? "answered, open" : "open";
}

/** Drips `bytes` one byte every `dripMs` (for SLOW_CONNECTION_MS_MAX at most), then hangs up. */
async function sendSlow(port: number, bytes: Buffer, dripMs: number): Promise<string> {
  const dripBytes = Math.max(1, Math.min(bytes.length, Math.floor(SLOW_CONNECTION_MS_MAX / dripMs)));
  let written = 0;
  let drip: NodeJS.Timeout | undefined;
  const result = await exchange(
    port,
    (socket) => {
      drip = setInterval(() => {
        if (written >= dripBytes || !socket.writable) {
          clearInterval(drip);
          return;
        }
        socket.write(bytes.subarray(written, written + 1));
        written++;
      }, dripMs);
    },
    () => false,
    dripMs * (dripBytes + 2),
  );
  clearInterval(drip);
  if (!result.closedByServer) return "held to the end";
  return written < dripBytes ? "cut off by the node" : "closed after the last byte";
}

// ------------------------------------------------------------------ checks

interface Store {
  set(key: string, value: Buffer): Promise<void>;
  get(key: string): Promise<Buffer | null>;
}

async function checkNodes(
  cluster: JepsenCluster,
  httpAddresses: string[],
  respPorts: number[],
  store: Store,
  acknowledged: Map<string, Buffer>,
  ecc: EcClient | null,
  raft: RaftClient | null,
): Promise<string[]> {
  const problems: string[] = [];
  const settled = await cluster.waitHealthy(SETTLE_MS_MAX);
  if (!settled.healthy) problems.push(`the cluster was not whole again within ${SETTLE_MS_MAX} ms: ${settled.summary}`);
  for (const [index, node] of cluster.nodes.entries()) {
    if (node === null || !node.process.running || !pidRuns(node.pid)) problems.push(`node ${index}: its process (pid ${node?.pid ?? "?"}) is gone`);
  }
  for (const [index, address] of httpAddresses.entries()) {
    try {
      const response = await fetch(`http://${address}/healthz`, { signal: AbortSignal.timeout(HTTP_CHECK_TIMEOUT_MS) });
      if (response.status !== 200) problems.push(`node ${index}: /healthz answered ${response.status}`);
    } catch (error) {
      problems.push(`node ${index}: /healthz failed: ${errorMessage(error)}`);
    }
  }
  for (const [index, port] of respPorts.entries()) {
    const key = `fz:check:${index}`;
    const value = `after the fuzz ${index}`;
    const expected = `+OK\r\n$${value.length}\r\n${value}\r\n`;
    const result = await exchange(port, (socket) => socket.write(Buffer.concat([respFrame([Buffer.from("SET"), Buffer.from(key), Buffer.from(value)]), respFrame([Buffer.from("GET"), Buffer.from(key)])])), (received) => received.length >= expected.length, HTTP_CHECK_TIMEOUT_MS);
    if (result.received.toString("latin1") !== expected) problems.push(`node ${index}: SET and GET on its RESP port answered ${JSON.stringify(result.received.toString("latin1").slice(0, 200))}`);
  }
  try {
    const stats = ecc !== null ? await ecc.stats() : await raft!.statsAll(cluster.servers);
    stats.forEach((one, index) => {
      if (one === null) problems.push(`node ${index}: its gRPC port did not answer stats`);
    });
    await store.set("fz:check:library", Buffer.from("library"));
    const read = await store.get("fz:check:library");
    if (read === null || read.toString() !== "library") problems.push(`a library set/get read back ${read === null ? "nothing" : JSON.stringify(read.toString())}`);
  } catch (error) {
    problems.push(`the library client failed: ${errorMessage(error)}`);
  }
  let mismatched = 0;
  for (const [key, value] of acknowledged) {
    try {
      const read = await store.get(key);
      if (read === null || !read.equals(value)) {
        mismatched++;
        if (mismatched <= 5) problems.push(`${key}: read back ${read === null ? "absent" : `${read.length} bytes that differ`} (acknowledged ${value.length} bytes)`);
      }
    } catch (error) {
      mismatched++;
      if (mismatched <= 5) problems.push(`${key}: the read failed: ${errorMessage(error)}`);
    }
  }
  if (mismatched > 5) problems.push(`... ${mismatched} of ${acknowledged.size} acknowledged keys in all did not read back`);
  return problems;
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // no such process
  }
}

function writeFailure(options: FuzzOptions, lanes: Lane[], problems: string[]): string {
  fs.mkdirSync(options.failureDir, { recursive: true });
  const file = path.join(options.failureDir, `fuzz-${options.mode}-seed${options.seed}-${Date.now()}.json`);
  const document = {
    mode: options.mode,
    seed: options.seed,
    replay: replayCommand(options),
    problems,
    recentInputs: Object.fromEntries(lanes.map((lane) => [lane.name, lane.recent])),
  };
  fs.writeFileSync(file, JSON.stringify(document, null, 2));
  return file;
}

export function defaultFailureDir(): string {
  return path.join(os.tmpdir(), "ecc-cache-fuzz");
}

/** The per-lane table of a result, for the CLI and the test's log. */
export function formatReport(result: FuzzResult): string {
  const lines = [`fuzz ${result.mode}, seed ${result.seed}: ${result.problems.length === 0 ? "every node came through" : "FAILED"} (${(result.fuzzMs / 1000).toFixed(1)} s of inputs)`];
  const width = Math.max(...result.lanes.map((lane) => lane.lane.length));
  lines.push(`  ${"port".padEnd(width)}  ${"inputs".padStart(7)}  ${"skipped".padStart(7)}  outcomes`);
  for (const lane of result.lanes) {
    const outcomes = Object.entries(lane.outcomes)
      .sort((a, b) => b[1] - a[1])
      .map(([outcome, count]) => `${outcome} ${count}`)
      .join(", ");
    lines.push(`  ${lane.lane.padEnd(width)}  ${String(lane.tried).padStart(7)}  ${String(lane.skipped).padStart(7)}  ${outcomes}`);
  }
  const total = result.lanes.reduce((sum, lane) => sum + lane.tried, 0);
  lines.push(`  ${"total".padEnd(width)}  ${String(total).padStart(7)}`);
  for (const problem of result.problems) lines.push(`  problem: ${problem}`);
  if (result.problems.length > 0) {
    lines.push(`  seed ${result.seed}; replay: ${result.replay}`);
    if (result.failureFile !== null) lines.push(`  the last inputs of every port: ${result.failureFile}`);
  }
  return lines.join("\n");
}
