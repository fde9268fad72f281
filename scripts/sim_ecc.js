#!/usr/bin/env node
// Runs the ecc protocol simulator (test/sim/ecc_sim.ts, compiled to dist/) on random seeds for
// as long as asked, and prints every failing seed with its transcript tail and the command
// that replays it. Exit 1 if any failed. The test suite runs fixed seeds; this looks further.
//
// Usage: node scripts/sim_ecc.js [--seconds 60] [--profile name] [--seed N]
//   --seconds   wall-clock budget (default 60)
//   --profile   one of the profiles below (default: all, in turn)
//   --seed      replay one seed once (with --profile, default "default") and print its summary
// Build first: npx tsc -p tsconfig.json
"use strict";
const path = require("node:path");
const crypto = require("node:crypto");

const simPath = path.resolve(__dirname, "..", "dist", "test", "sim", "ecc_sim.js");
let sim;
try {
  sim = require(simPath);
} catch (error) {
  console.error(`cannot load ${simPath} (${error.message}); build first: npx tsc -p tsconfig.json`);
  process.exit(2);
}

// The test suite's four configurations, and two harsher ones.
const PROFILES = {
  default: {},
  "slow-tail": { clientCount: 6, readRatio: 0.6, slowRate: 0.3 },
  lossy: { lossRate: 0.12, slowRate: 0.2 },
  "three-keys": { clientCount: 4, keyCount: 3 },
  "hot-key": { clientCount: 8, keyCount: 1, lossRate: 0.05 },
  hostile: { lossRate: 0.2, duplicateRate: 0.2, crashRate: 0.1 },
};
const NAMES = Object.keys(PROFILES);

/** Bad arguments: one line on stderr, exit 2 (no stack trace). */
function usageError(message) {
  console.error(message);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { seconds: 60, profile: null, seed: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--seconds") options.seconds = Number(value);
    else if (flag === "--profile") options.profile = value;
    else if (flag === "--seed") options.seed = Number(value);
    else if (flag === "--help" || flag === "-h") {
      console.log("usage: node scripts/sim_ecc.js [--seconds 60] [--profile name] [--seed N]");
      for (const name of NAMES) console.log(`  ${name.padEnd(11)} ${JSON.stringify(PROFILES[name])}`);
      process.exit(0);
    } else {
      console.error(`unknown argument ${flag}`);
      process.exit(2);
    }
    i++;
  }
  if (!Number.isFinite(options.seconds) || options.seconds <= 0) usageError("--seconds must be a positive number");
  if (options.profile !== null && !NAMES.includes(options.profile)) usageError(`--profile must be one of ${NAMES.join(", ")}`);
  if (options.seed !== null && !Number.isInteger(options.seed)) usageError("--seed must be an integer");
  return options;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.seed !== null) {
    const profile = options.profile ?? "default";
    try {
      const { history: _history, transcript: _transcript, ...summary } = sim.runEccSimulation({ seed: options.seed, ...PROFILES[profile] });
      console.log(JSON.stringify(summary));
      return 0;
    } catch (error) {
      console.log(error.message);
      return 1;
    }
  }
  const deadline = Date.now() + options.seconds * 1000;
  const failures = [];
  let runCount = 0;
  let eventCount = 0;
  // Bounded by the wall-clock budget; each run is bounded in events by the simulator.
  while (Date.now() < deadline) {
    const profile = options.profile ?? NAMES[runCount % NAMES.length];
    const seed = crypto.randomInt(1, 2 ** 31 - 1);
    runCount++;
    try {
      eventCount += sim.runEccSimulation({ seed, ...PROFILES[profile] }).eventCount;
    } catch (error) {
      failures.push({ seed, profile });
      console.log(`FAILED seed=${seed} profile=${profile}`);
      console.log(error.message);
      console.log(`replay: node scripts/sim_ecc.js --seed ${seed} --profile ${profile}\n`);
    }
  }
  console.log(`${runCount} runs, ${eventCount} events, ${failures.length} failed in ${options.seconds} s`);
  for (const failure of failures) console.log(`failing seed=${failure.seed} profile=${failure.profile}`);
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = main();
