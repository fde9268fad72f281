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
const { loadSim, parseFlags, sweep, usageError } = require("./sim_sweep");

const sim = loadSim("raft_sim");

function parseArgs(argv) {
  const flags = parseFlags(argv, ["seconds", "nodes", "scenario", "seed", "fault-ticks"], () =>
    [
      "usage: node scripts/sim_raft.js [--seconds 60] [--nodes 3|5] [--scenario name] [--seed N] [--fault-ticks T]",
      `scenarios: ${sim.SIM_SCENARIOS.join(", ")}`,
    ].join("\n"),
  );
  const number = (text) => (text === undefined ? null : Number(text));
  const options = {
    seconds: number(flags.seconds) ?? 60,
    nodes: number(flags.nodes),
    scenario: flags.scenario ?? null,
    seed: number(flags.seed),
    faultTicks: number(flags["fault-ticks"]) ?? undefined,
  };
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
  return sweep(options.seconds, (runIndex) => {
    const scenario = options.scenario ?? sim.SIM_SCENARIOS[runIndex % sim.SIM_SCENARIOS.length];
    const nodeCount = options.nodes ?? (Math.floor(runIndex / sim.SIM_SCENARIOS.length) % 2 === 0 ? 3 : 5);
    const faultTicks = options.faultTicks === undefined ? "" : ` --fault-ticks ${options.faultTicks}`;
    return {
      label: `nodes=${nodeCount} scenario=${scenario}`,
      replay: (seed) => `node scripts/sim_raft.js --seed ${seed} --nodes ${nodeCount} --scenario ${scenario}${faultTicks}`,
      run: (seed) => sim.runSimulation({ seed, nodeCount, scenario, faultTicks: options.faultTicks }).eventCount,
    };
  });
}

process.exitCode = main();
