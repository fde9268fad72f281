#!/usr/bin/env node
// How long `ecc-cache ecc client get` takes from process start to exit against a running
// local cluster (issue 15: target <= 250 ms wall time, warm disk), and how many modules it
// loads. Not a test: timings depend on the machine and its load, so this prints figures and
// checks the target, and the unit test test/unit/cli_modules.test.ts checks the module list.
//
//   node scripts/cli_startup.js [--runs 20] [--warmup 3] [--target-ms 250] [--json FILE]
//
// Method: start a 5-node ecc cluster (`ecc server startAll` on free loopback ports, its own
// temporary data directory), store one 6-byte value, then run `node dist/src/cli/main.js ecc
// client get fruit` and `node -e 0` (Node's own start-up, the floor under any command) in
// turn, --warmup pairs uncounted and --runs pairs counted, so both see the same load on the
// machine. Each run is timed from spawn to exit with a monotonic clock, and reports its own
// CPU time (user + system) through a preload (test/support/module_census.ts), which a busy
// machine disturbs far less than wall time. Prints min, median and max of both; exits 1 when
// the median wall time of the get is above --target-ms. The cluster is stopped by its PID at
// the end. Build first (npm run build).
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const cli = path.join(root, "dist", "src", "cli", "main.js");
const census = path.join(root, "dist", "test", "support", "module_census.js");
const READY_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

function parseArgs(argv) {
  const options = { runs: 20, warmup: 3, targetMs: 250, json: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const number = () => {
      const parsed = Number(value);
      if (!Number.isSafeInteger(parsed) || parsed < 0 || parsed > 1000) usage(`${flag} needs a whole number from 0 to 1000`);
      i++;
      return parsed;
    };
    if (flag === "--runs") options.runs = Math.max(1, number());
    else if (flag === "--warmup") options.warmup = number();
    else if (flag === "--target-ms") options.targetMs = number();
    else if (flag === "--json" && value !== undefined) (options.json = value), i++;
    else usage(`unknown argument ${flag}`);
  }
  return options;
}

function usage(message) {
  process.stderr.write(`cli_startup: ${message}\nusage: node scripts/cli_startup.js [--runs N] [--warmup N] [--target-ms MS] [--json FILE]\n`);
  process.exit(2);
}

// Starting and stopping the cluster: the test suite's helpers (real processes, stopped by
// PID, every wait bounded).
const { freePorts, startCli, stopProcess } = require(path.join(root, "dist", "test", "support", "processes.js"));

/** One run of `node ...args` with the census preload: wall ms, CPU ms, modules loaded. */
function run(args) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cli-startup-")), "census.json");
  try {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, ["-r", census, ...args], {
      env: { ...process.env, MODULE_CENSUS_FILE: file },
      timeout: COMMAND_TIMEOUT_MS,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== 0) throw new Error(`node ${args.join(" ")} failed (${result.signal ?? result.status}): ${String(result.stderr)}`);
    const { modules, cpuMs } = JSON.parse(fs.readFileSync(file, "utf8"));
    return { wallMs, cpuMs, modules: modules.length, stdout: result.stdout };
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { min: sorted[0], median, max: sorted[sorted.length - 1] };
}

/** Runs the commands in turn (A B A B ...), so a change in the machine's load hits both. */
function measure(commands, options) {
  for (let i = 0; i < options.warmup; i++) for (const args of commands) run(args);
  const samples = commands.map(() => ({ wallMs: [], cpuMs: [], modules: 0 }));
  for (let i = 0; i < options.runs; i++) {
    commands.forEach((args, index) => {
      const sample = run(args);
      samples[index].wallMs.push(sample.wallMs);
      samples[index].cpuMs.push(sample.cpuMs);
      samples[index].modules = sample.modules;
    });
  }
  return samples.map((sample) => ({ runs: options.runs, modules: sample.modules, wallMs: summary(sample.wallMs), cpuMs: summary(sample.cpuMs) }));
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(cli) || !fs.existsSync(census)) usage("no build found: run `npm run build` first");
  const servers = (await freePorts(5)).map((port) => `127.0.0.1:${port}`).join(",");
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-startup-"));
  const cluster = await startCli(["ecc", "server", "startAll", "--servers", servers, "--data-dir", dataDir], /Press Ctrl-C/, { timeoutMs: READY_TIMEOUT_MS });
  let result;
  try {
    run([cli, "ecc", "client", "set", "fruit", "cherry", "--servers", servers]);
    const get = [cli, "ecc", "client", "get", "fruit", "--servers", servers];
    const answer = run(get).stdout.toString();
    if (answer !== "cherry") throw new Error(`get printed ${JSON.stringify(answer)}, expected "cherry"`);
    const [measured, floor] = measure([get, ["-e", "0"]], options);
    result = {
      command: "ecc-cache ecc client get fruit",
      node: process.version,
      cpus: os.cpus().length,
      loadAverage1m: os.loadavg()[0],
      get: measured,
      nodeStartup: floor,
      targetMs: options.targetMs,
    };
  } finally {
    await stopProcess(cluster, "SIGINT", STOP_GRACE_MS);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const cells = (values) => values.map((value) => (typeof value === "number" ? value.toFixed(0) : value).padStart(8)).join("");
  const row = (name, figures) =>
    `${name.padEnd(32)}${cells([figures.wallMs.min, figures.wallMs.median, figures.wallMs.max, figures.cpuMs.min, figures.cpuMs.median, figures.cpuMs.max])}`;
  process.stdout.write(
    `${result.command}: ${result.get.modules} modules; ${options.runs} runs each after ${options.warmup} warm-up, in turn; ` +
      `node ${result.node}, ${result.cpus} cpus, load average ${result.loadAverage1m.toFixed(1)}\n`,
  );
  process.stdout.write(`${"ms".padEnd(32)}${cells(["wall min", "median", "max", "cpu min", "median", "max"])}\n`);
  process.stdout.write(`${row("ecc-cache ecc client get", result.get)}\n${row("node -e 0 (Node's own start-up)", result.nodeStartup)}\n`);
  const met = result.get.wallMs.median <= options.targetMs;
  process.stdout.write(`target: median wall time <= ${options.targetMs} ms: ${met ? "met" : "MISSED"}\n`);
  if (options.json !== null) fs.writeFileSync(options.json, JSON.stringify({ ...result, met }, null, 2) + "\n");
  process.exitCode = met ? 0 : 1;
}

main().catch((error) => {
  process.stderr.write(`cli_startup: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 5;
});
