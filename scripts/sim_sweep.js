// What scripts/sim_raft.js and scripts/sim_ecc.js share: loading a compiled simulator,
// refusing bad arguments in one line, and the random-seed sweep that prints every failure
// with the command that replays it.
"use strict";
const path = require("node:path");
const crypto = require("node:crypto");
const util = require("node:util");

/** test/sim/<name>.ts as compiled to dist/, or exit 2 saying to build first. */
function loadSim(name) {
  const simPath = path.resolve(__dirname, "..", "dist", "test", "sim", `${name}.js`);
  try {
    return require(simPath);
  } catch (error) {
    console.error(`cannot load ${simPath} (${error.message}); build first: npx tsc -p tsconfig.json`);
    process.exit(2);
  }
}

/** Bad arguments: one line on stderr, exit 2 (no stack trace). */
function usageError(message) {
  console.error(message);
  process.exit(2);
}

/**
 * `--name value` flags (node's util.parseArgs) for the given names, plus --help / -h, which
 * prints `usage()` and exits 0. Unknown flags and stray arguments are refused in one line.
 * Returns { name: string | undefined }.
 */
function parseFlags(argv, names, usage) {
  const options = { help: { type: "boolean", short: "h" } };
  for (const name of names) options[name] = { type: "string" };
  let values;
  try {
    ({ values } = util.parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (error) {
    usageError(error.message);
  }
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  return values;
}

/**
 * Runs `nextRun(runIndex)` = { label, replay(seed), run(seed) -> events } on random seeds
 * until `seconds` have passed; returns the exit code (1 if any run failed). Bounded by the
 * wall-clock budget; each run is bounded by its simulator.
 */
function sweep(seconds, nextRun) {
  const deadline = Date.now() + seconds * 1000;
  const failures = [];
  let runCount = 0;
  let eventCount = 0;
  while (Date.now() < deadline) {
    const next = nextRun(runCount);
    const seed = crypto.randomInt(1, 2 ** 31 - 1);
    runCount++;
    try {
      eventCount += next.run(seed);
    } catch (error) {
      failures.push(`seed=${seed} ${next.label}`);
      console.log(`FAILED seed=${seed} ${next.label}`);
      console.log(error.message);
      console.log(`replay: ${next.replay(seed)}\n`);
    }
  }
  console.log(`${runCount} runs, ${eventCount} events, ${failures.length} failed in ${seconds} s`);
  for (const failure of failures) console.log(`failing ${failure}`);
  return failures.length > 0 ? 1 : 0;
}

module.exports = { loadSim, parseFlags, usageError, sweep };
