#!/usr/bin/env node
// The RESP front door against a real Redis, side by side in one run (issue 17):
//
//   npm run bench:resp -- [--requests 100000] [--clients 50] [--pipelines 1,16] [--random-keys N] [--json FILE]
//
// Starts an ecc(5,3) cluster and a raft(3) cluster with `server startAll` (free loopback
// ports for gRPC and RESP, admin ports off, temporary data directories) and a real
// redis-server (Debian's, no persistence), then for each pipeline depth runs Debian's
// redis-benchmark `-t set,get -n N -c C -P P` against Redis, ecc and raft in turn (each
// against one node's RESP port: node 0, which coordinates in ecc and forwards in raft), so
// all three see the same machine. Prints a table of ops/s and p50 latency, and the ratios of
// ecc and raft to Redis. Targets (ecc GET >= 25% of Redis's ops/s at -P 1, >= 10% at -P 16)
// are checked; exit 1 when one is missed. Every process is stopped by its PID at the end.
// Without -r (the command above) redis-benchmark uses one key for every request
// ("key:__rand_int__"); --random-keys N adds `-r N` (N distinct keys). Build first.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const { freePorts, startCli, stopProcess } = require(path.join(root, "dist", "test", "support", "processes.js"));
const { launch } = require(path.join(root, "dist", "src", "core", "launcher.js"));

const READY_TIMEOUT_MS = 60_000;
const BENCHMARK_TIMEOUT_MS = 600_000;
const STOP_GRACE_MS = 5_000;
const TARGETS = { "-P 1": 0.25, "-P 16": 0.1 };

function parseArgs(argv) {
  const options = { requests: 100_000, clients: 50, pipelines: [1, 16], randomKeys: 0, json: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    const whole = (min, max) => {
      const parsed = Number(value);
      if (!/^\d+$/.test(value ?? "") || parsed < min || parsed > max) usage(`${flag} needs a whole number from ${min} to ${max}`);
      return parsed;
    };
    if (flag === "--requests") options.requests = whole(100, 10_000_000);
    else if (flag === "--clients") options.clients = whole(1, 1_000);
    else if (flag === "--random-keys") options.randomKeys = whole(0, 100_000_000);
    else if (flag === "--pipelines") {
      options.pipelines = (value ?? "").split(",").map((text) => Number(text));
      if (options.pipelines.some((depth) => !Number.isSafeInteger(depth) || depth < 1 || depth > 1_000)) usage("--pipelines needs depths from 1 to 1000, e.g. 1,16");
    } else if (flag === "--json" && value !== undefined) options.json = value;
    else usage(`unknown argument ${flag}`);
  }
  return options;
}

function usage(message) {
  process.stderr.write(`resp_benchmark: ${message}\nusage: node scripts/resp_benchmark.js [--requests N] [--clients N] [--pipelines 1,16] [--random-keys N] [--json FILE]\n`);
  process.exit(2);
}

function installed(binary) {
  const result = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 5_000 });
  return result.error === undefined && result.status === 0;
}

async function startRedis(port) {
  const redis = launch({
    name: "redis-server",
    command: "redis-server",
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
  });
  try {
    await redis.waitReady({ line: /Ready to accept connections/ }, READY_TIMEOUT_MS);
  } catch (error) {
    await redis.stop("SIGKILL");
    throw error;
  }
  return redis;
}

async function startCluster(mode, nodes, dataDir) {
  const ports = await freePorts(2 * nodes);
  const servers = ports.slice(0, nodes).map((port) => `127.0.0.1:${port}`);
  const respServers = ports.slice(nodes).map((port) => `127.0.0.1:${port}`);
  const args = [mode, "server", "startAll", "--servers", servers.join(","), "--resp-servers", respServers.join(","), "--http-port", "0", "--data-dir", dataDir];
  if (mode === "ecc") args.push("--k", "3", "--n", "5");
  const started = await startCli(args, /Press Ctrl-C/, { timeoutMs: READY_TIMEOUT_MS });
  return { started, respPort: ports[nodes] };
}

/** One redis-benchmark run: { SET: {rps, p50Ms}, GET: {...} } from its --csv output. */
function benchmark(port, options, depth) {
  const args = ["-h", "127.0.0.1", "-p", String(port), "-t", "set,get", "-n", String(options.requests), "-c", String(options.clients), "-P", String(depth), "--csv"];
  if (options.randomKeys > 0) args.push("-r", String(options.randomKeys));
  const result = spawnSync("redis-benchmark", args, { encoding: "utf8", timeout: BENCHMARK_TIMEOUT_MS });
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(`redis-benchmark ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}${result.stdout}`);
  }
  const figures = {};
  for (const line of result.stdout.split("\n")) {
    const cells = line.split(",").map((cell) => cell.replace(/^"|"$/g, ""));
    if ((cells[0] === "SET" || cells[0] === "GET") && cells.length >= 5) figures[cells[0]] = { rps: Number(cells[1]), p50Ms: Number(cells[4]) };
  }
  if (figures.SET === undefined || figures.GET === undefined) throw new Error(`no SET/GET figures in redis-benchmark's output:\n${result.stdout}\n${result.stderr}`);
  return { command: `redis-benchmark ${args.join(" ")}`, figures };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  for (const binary of ["redis-server", "redis-benchmark"]) {
    if (!installed(binary)) {
      process.stderr.write(`resp_benchmark: ${binary} is not installed (apt-get install -y redis-server redis-tools)\n`);
      process.exit(2);
    }
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "resp-bench-"));
  const running = [];
  const startedAt = Date.now();
  try {
    const [redisPort] = await freePorts(1);
    const redis = await startRedis(redisPort);
    running.push({ stop: () => redis.stop("SIGTERM", STOP_GRACE_MS) });
    const ecc = await startCluster("ecc", 5, path.join(dataDir, "ecc"));
    running.push({ stop: () => stopProcess(ecc.started, "SIGINT", STOP_GRACE_MS) });
    const raft = await startCluster("raft", 3, path.join(dataDir, "raft"));
    running.push({ stop: () => stopProcess(raft.started, "SIGINT", STOP_GRACE_MS) });
    const targets = [
      { name: "redis", port: redisPort },
      { name: "ecc(5,3)", port: ecc.respPort },
      { name: "raft(3)", port: raft.respPort },
    ];
    const rows = [];
    for (const depth of options.pipelines) {
      for (const target of targets) {
        process.stderr.write(`resp_benchmark: ${target.name} -P ${depth} ...\n`);
        const run = benchmark(target.port, options, depth);
        rows.push({ target: target.name, depth, ...run });
      }
    }
    const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}, load average ${os.loadavg().map((load) => load.toFixed(1)).join(" ")}`;
    process.stdout.write(
      `\nredis-benchmark -t set,get -n ${options.requests} -c ${options.clients}${options.randomKeys > 0 ? ` -r ${options.randomKeys}` : " (one key)"}; ${machine}\n\n`,
    );
    process.stdout.write("| target | -P | SET ops/s | SET p50 ms | GET ops/s | GET p50 ms | SET vs redis | GET vs redis |\n|---|---|---|---|---|---|---|---|\n");
    let missed = 0;
    const checks = [];
    for (const row of rows) {
      const redisRow = rows.find((other) => other.target === "redis" && other.depth === row.depth);
      const ratio = (op) => row.figures[op].rps / redisRow.figures[op].rps;
      row.ratios = { SET: ratio("SET"), GET: ratio("GET") };
      const fmt = (value) => Math.round(value).toLocaleString("en-US");
      process.stdout.write(
        `| ${row.target} | ${row.depth} | ${fmt(row.figures.SET.rps)} | ${row.figures.SET.p50Ms} | ${fmt(row.figures.GET.rps)} | ${row.figures.GET.p50Ms} | ${(100 * row.ratios.SET).toFixed(1)}% | ${(100 * row.ratios.GET).toFixed(1)}% |\n`,
      );
      const target = TARGETS[`-P ${row.depth}`];
      if (row.target.startsWith("ecc") && target !== undefined) {
        const met = row.ratios.GET >= target;
        if (!met) missed += 1;
        checks.push(`ecc GET at -P ${row.depth}: ${(100 * row.ratios.GET).toFixed(1)}% of Redis (target >= ${100 * target}%): ${met ? "met" : "MISSED"}`);
      }
    }
    process.stdout.write(`\n${checks.join("\n")}\n(${((Date.now() - startedAt) / 1000).toFixed(0)} s in all)\n`);
    if (options.json !== null) fs.writeFileSync(options.json, JSON.stringify({ options, machine, rows, checks }, null, 2) + "\n");
    process.exitCode = missed > 0 ? 1 : 0;
  } finally {
    for (const process of running.reverse()) await process.stop().catch(() => undefined); // best effort: each is stopped by PID with a bounded wait
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`resp_benchmark: ${error.stack ?? error}\n`);
  process.exit(1);
});
