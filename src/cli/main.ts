#!/usr/bin/env node
// ecc-cache command line: `ecc-cache ecc|raft server|client|cluster ...`, `bench`, `report`.
// Parsing and output only; every error is mapped to an exit code in one place (exit_codes.ts).
//
// A command loads only what it needs: the module that defines a top-level command is
// required only when the command line names it (the others are listed for help by name and
// summary), and within a mode the client, the node runtime and the codec are imported by the
// actions that use them. `ecc client get` therefore never loads raft, bench, report or their
// dependencies (test/unit/cli_modules.test.ts; scripts/cli_startup.js times it).
import { Command, CommanderError } from "commander";
import { errorMessage, isKvError } from "../core/errors";
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, exitCodeOf } from "./exit_codes";

interface TopLevelCommand {
  name: string;
  summary: string;
  /** Builds the command's full tree; requires its module on first use. */
  load(): Command;
}

const TOP_LEVEL_COMMANDS: readonly TopLevelCommand[] = [
  {
    name: "ecc",
    summary: "erasure-coded mode: Reed–Solomon shards, one per node, 2PC writes",
    load: () => (require("./ecc_commands") as typeof import("./ecc_commands")).eccCommand(),
  },
  {
    name: "raft",
    summary: "Raft mode: full values replicated to every node by our own Raft",
    load: () => (require("./raft_commands") as typeof import("./raft_commands")).raftCommand(),
  },
  {
    name: "certs",
    summary: "make TLS certificates for a cluster (a CA, one per node, a client's) with openssl",
    load: () => (require("./certs") as typeof import("./certs")).certsCommand(),
  },
  {
    name: "bench",
    summary: "run YCSB-style workloads against ecc, raft, etcd and redis; record latency, throughput, errors and memory per node",
    load: () => (require("./bench_commands") as typeof import("./bench_commands")).benchCommand(),
  },
  {
    name: "report",
    summary: "render bench and jepsen result files as Markdown with SVG charts (memory per node, overhead ratio, latency CDFs, throughput with failures, consistency under faults)",
    load: () => (require("./report_commands") as typeof import("./report_commands")).reportCommand(),
  },
];

/**
 * The program. With `argv` (node, script, args...) only the top-level command it names is
 * built in full (for `help <command>`, the one after `help`); without, all of them are.
 */
export function buildProgram(argv?: readonly string[]): Command {
  const program = new Command("ecc-cache")
    .description("distributed in-memory KV cache: erasure-coded (ecc) and Raft (raft) modes")
    .version(require("../../../package.json").version as string)
    .enablePositionalOptions();
  const wanted = argv === undefined ? undefined : namedCommand(argv.slice(2));
  for (const top of TOP_LEVEL_COMMANDS) {
    const command = wanted === undefined || wanted === top.name ? top.load() : new Command(top.name);
    program.addCommand(command.description(top.summary));
  }
  configureTree(program, "ecc-cache");
  return program;
}

/** The first operand (skipping `help`), which is the top-level command to build. */
function namedCommand(args: readonly string[]): string | null {
  const operands = args.filter((arg) => !arg.startsWith("-"));
  const name = operands[0] === "help" ? operands[1] : operands[0];
  return name ?? null;
}

/**
 * Every command, however deep, turns errors into exceptions (main maps them to exit codes)
 * and ends a usage error with a hint naming its own --help: commands built on their own and
 * added with addCommand do not inherit these settings from the program.
 */
function configureTree(command: Command, path: string): void {
  command.exitOverride();
  command.showHelpAfterError(`(run \`${path} --help\` for usage)`);
  for (const sub of command.commands) configureTree(sub, `${path} ${sub.name()}`);
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with code 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    const prefix = isKvError(error) ? "" : "internal error: ";
    process.stderr.write(`ecc-cache: ${prefix}${errorMessage(error)}\n`);
    if (!isKvError(error) && process.env.ECC_CACHE_DEBUG === "1" && error instanceof Error) {
      process.stderr.write(`${error.stack}\n`);
    }
    return exitCodeOf(error);
  }
}

if (require.main === module) {
  // `ecc-cache ... | head`: the reader went away; stop quietly, as other command-line tools do.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
      // Clients close their channels; nodes run until signalled. Nothing else should keep us.
    },
    (error: unknown) => {
      process.stderr.write(`ecc-cache: internal error: ${errorMessage(error)}\n`);
      process.exitCode = EXIT_INTERNAL;
    },
  );
}
