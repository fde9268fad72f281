#!/usr/bin/env node
// Runs the Raft simulator (test/sim/raft_sim.ts, compiled to dist/) on random seeds for as
// long as asked, and prints every failing seed with its transcript tail. Exit 1 if any failed.
//
// Usage: node scripts/sim_raft.js [--seconds 60] [--nodes 3|5] [--scenario name] [--seed N] [--fault-ticks T]
//   --seconds   wall-clock budget (default 60)
//   --fault-ticks  length of each run's fault phase in ticks (default: the simulator's, 300)
//   --nodes     initial voters per run (default: 3 and 5 alternately)
//   --scenario  one of the simulator's scenarios (default: all, in turn)
//   --seed      replay one seed once (with --scenario and --nodes) and print its summary
// Build first: npx tsc -p tsconfig.json
"use strict";
const path = require("node:path");
const crypto = require("node:crypto");

const simPath = path.resolve(__dirname, "..", "dist", "test", "sim", "raft_sim.js");
let sim;
try {
  sim = require(simPath);
} catch (error) {
  console.error(`cannot load ${simPath} (${error.message}); build first: npx tsc -p tsconfig.json`);
  process.exit(2);
}

/** Bad arguments: one line on stderr, exit 2 (no stack trace). */
function usageError(message) {
  console.error(message);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { seconds: 60, nodes: null, scenario: null, seed: null, faultTicks: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--seconds") options.seconds = Number(value);
    else if (flag === "--nodes") options.nodes = Number(value);
    else if (flag === "--scenario") options.scenario = value;
    else if (flag === "--seed") options.seed = Number(value);
    else if (flag === "--fault-ticks") options.faultTicks = Number(value);
    else if (flag === "--help" || flag === "-h") {
      console.log("usage: node scripts/sim_raft.js [--seconds 60] [--nodes 3|5] [--scenario name] [--seed N] [--fault-ticks T]");
      console.log(`scenarios: ${sim.SIM_SCENARIOS.join(", ")}`);
      process.exit(0);
    } else {
      console.error(`unknown argument ${flag}`);
      process.exit(2);
    }
    i++;
  }
  if (!Number.isFinite(options.seconds) || options.seconds <= 0) usageError("--seconds must be a positive number");
  if (options.nodes !== null && (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 9)) {
    usageError("--nodes must be an integer in [1, 9]");
  }
  if (options.scenario !== null && !sim.SIM_SCENARIOS.includes(options.scenario)) {
    usageError(`--scenario must be one of ${sim.SIM_SCENARIOS.join(", ")}`);
  }
  if (options.seed !== null && !Number.isInteger(options.seed)) usageError("--seed must be an integer");
  if (options.faultTicks !== undefined && (!Number.isInteger(options.faultTicks) || options.faultTicks < 1)) {
    usageError("--fault-ticks must be a positive integer");
  }
  return options;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.seed !== null) {
    const scenario = options.scenario ?? "chaos";
    const nodeCount = options.nodes ?? 5;
    try {
      const result = sim.runSimulation({ seed: options.seed, nodeCount, scenario, faultTicks: options.faultTicks });
      console.log(JSON.stringify(result));
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
  // Bounded by the wall-clock budget; each run is bounded in ticks by the simulator.
  while (Date.now() < deadline) {
    const scenario = options.scenario ?? sim.SIM_SCENARIOS[runCount % sim.SIM_SCENARIOS.length];
    const nodeCount = options.nodes ?? (Math.floor(runCount / sim.SIM_SCENARIOS.length) % 2 === 0 ? 3 : 5);
    const seed = crypto.randomInt(1, 2 ** 31 - 1);
    runCount++;
    try {
      eventCount += sim.runSimulation({ seed, nodeCount, scenario, faultTicks: options.faultTicks }).eventCount;
    } catch (error) {
      failures.push({ seed, nodeCount, scenario });
      console.log(`FAILED seed=${seed} nodes=${nodeCount} scenario=${scenario}`);
      console.log(error.message);
      const faultTicks = options.faultTicks === undefined ? "" : ` --fault-ticks ${options.faultTicks}`;
      console.log(`replay: node scripts/sim_raft.js --seed ${seed} --nodes ${nodeCount} --scenario ${scenario}${faultTicks}\n`);
    }
  }
  console.log(`${runCount} runs, ${eventCount} events, ${failures.length} failed in ${options.seconds} s`);
  for (const failure of failures) console.log(`failing seed=${failure.seed} nodes=${failure.nodeCount} scenario=${failure.scenario}`);
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = main();
