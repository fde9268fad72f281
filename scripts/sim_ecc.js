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
const { loadSim, parseFlags, sweep, usageError } = require("./sim_sweep");

const sim = loadSim("ecc_sim");

// The test suite's configurations, and harsher ones.
const PROFILES = {
  default: {},
  "slow-tail": { clientCount: 6, readRatio: 0.6, slowRate: 0.3 },
  lossy: { lossRate: 0.12, slowRate: 0.2 },
  "three-keys": { clientCount: 4, keyCount: 3 },
  "hot-key": { clientCount: 8, keyCount: 1, lossRate: 0.05 },
  hostile: { lossRate: 0.2, duplicateRate: 0.2, crashRate: 0.1 },
  evicting: { keyCount: 4, memoryBudgetBytes: 120, ttlRate: 0.3 },
  "evicting-lfu": { keyCount: 6, memoryBudgetBytes: 150, ttlRate: 0.2, evictionPolicy: "allkeys-lfu" },
  "volatile-ttl": { keyCount: 5, memoryBudgetBytes: 150, ttlRate: 0.5, evictionPolicy: "volatile-ttl" },
};
const NAMES = Object.keys(PROFILES);

function parseArgs(argv) {
  const flags = parseFlags(argv, ["seconds", "profile", "seed"], () =>
    [
      "usage: node scripts/sim_ecc.js [--seconds 60] [--profile name] [--seed N]",
      ...NAMES.map((name) => `  ${name.padEnd(11)} ${JSON.stringify(PROFILES[name])}`),
    ].join("\n"),
  );
  const options = {
    seconds: flags.seconds === undefined ? 60 : Number(flags.seconds),
    profile: flags.profile ?? null,
    seed: flags.seed === undefined ? null : Number(flags.seed),
  };
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
  return sweep(options.seconds, (runIndex) => {
    const profile = options.profile ?? NAMES[runIndex % NAMES.length];
    return {
      label: `profile=${profile}`,
      replay: (seed) => `node scripts/sim_ecc.js --seed ${seed} --profile ${profile}`,
      run: (seed) => sim.runEccSimulation({ seed, ...PROFILES[profile] }).eventCount,
    };
  });
}

process.exitCode = main();
