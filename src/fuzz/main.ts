#!/usr/bin/env node
// `node dist/src/fuzz/main.js --mode ecc|raft --seed N --inputs N --time S` (npm run fuzz -- ...):
// fuzzes every port of every node of a real local cluster (src/fuzz/runner.ts) and prints the
// inputs tried per port. Exit codes: 0 every node came through, 1 a property failed (the seed,
// a replay command and a file with the last inputs are printed), 2 the run could not be
// carried out (bad flags, the cluster did not start).
import { Command, Option } from "commander";
import { errorMessage } from "../core/errors";
import { integerOption } from "../cli/commander_options";
import { killAllLaunchedSync } from "../core/launcher";
import { defaultFailureDir, formatReport, runFuzz, FuzzMode } from "./runner";

export const EXIT_PASSED = 0;
export const EXIT_FAILED = 1;
export const EXIT_NOT_RUN = 2;

export function fuzzProgram(): Command {
  return new Command("fuzz")
    .description(
      "Fuzz every port of every node of a real local cluster (ecc: 5 nodes, k=3; raft: 3 nodes): random and mutated " +
        "protobuf for every gRPC method, mutated RESP commands, malformed HTTP requests, raw bytes and slow connections. " +
        "Afterwards every node must still run and serve, and every key acknowledged before the fuzz must read back unchanged.",
    )
    .addOption(new Option("--mode <mode>", "which store to fuzz (required)").choices(["ecc", "raft"]).makeOptionMandatory())
    .option("--seed <n>", "seed of every input (default: random, printed)", integerOption("--seed", 0, 2 ** 32 - 1))
    .option("--inputs <n>", "inputs per port (slow connections: a hundredth)", integerOption("--inputs", 1, 10_000_000), 2_000)
    .option("--time <seconds>", "the fuzz stops here even with inputs left", integerOption("--time", 1, 86_400), 60)
    .option("--drip-ms <ms>", "a slow connection writes one byte this often", integerOption("--drip-ms", 1, 10_000), 25)
    .option("--failure-dir <dir>", "where the last inputs go when a property fails", defaultFailureDir())
    .option("--log-dir <dir>", "append every line each node prints to <dir>/node<i>.log")
    .exitOverride();
}

export async function main(argv: string[]): Promise<number> {
  const program = fuzzProgram();
  try {
    program.parse(argv);
  } catch (error) {
    return (error as { exitCode?: number }).exitCode === 0 ? EXIT_PASSED : EXIT_NOT_RUN;
  }
  const flags = program.opts<{ mode: FuzzMode; seed?: number; inputs: number; time: number; dripMs: number; failureDir: string; logDir?: string }>();
  const seed = flags.seed ?? Math.floor(Math.random() * 2 ** 32);
  try {
    const result = await runFuzz({
      mode: flags.mode,
      seed,
      inputsPerPort: flags.inputs,
      timeMs: flags.time * 1000,
      dripMs: flags.dripMs,
      failureDir: flags.failureDir,
      logDir: flags.logDir ?? null,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${formatReport(result)}\n`);
    return result.problems.length === 0 ? EXIT_PASSED : EXIT_FAILED;
  } catch (error) {
    process.stderr.write(`fuzz: seed ${seed}: the run could not be carried out: ${errorMessage(error)}\n`);
    return EXIT_NOT_RUN;
  }
}

export function runAsProcess(argv: string[] = process.argv): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`fuzz: ${signal}: stopping every node it started\n`);
    killAllLaunchedSync();
    process.exit(EXIT_NOT_RUN);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  main(argv).then(
    (code) => {
      process.exitCode = code;
      // gRPC channels of abandoned calls may linger; every node was stopped by its PID.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (error: unknown) => {
      process.stderr.write(`fuzz: ${errorMessage(error)}\n`);
      killAllLaunchedSync();
      process.exit(EXIT_NOT_RUN);
    },
  );
}

if (require.main === module) runAsProcess();
