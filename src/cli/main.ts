#!/usr/bin/env node
// ecc-cache command line: `ecc-cache ecc|raft server|client ...`. Parsing and output only;
// every error is mapped to an exit code in one place (exit_codes.ts).
import { Command, CommanderError } from "commander";
import { errorMessage, isKvError } from "../core/errors";
import { eccCommand } from "./ecc_commands";
import { EXIT_OK, EXIT_USAGE, exitCodeOf } from "./exit_codes";

export function buildProgram(): Command {
  const program = new Command("ecc-cache")
    .description("distributed in-memory KV cache: erasure-coded (ecc) and Raft (raft) modes")
    .version(require("../../../package.json").version as string)
    .showHelpAfterError("(run with --help for usage)")
    .enablePositionalOptions();
  program.addCommand(eccCommand());
  for (const extra of optionalCommands()) program.addCommand(extra);
  const exitOverride = (command: Command): void => {
    command.exitOverride();
    for (const sub of command.commands) exitOverride(sub);
  };
  exitOverride(program);
  return program;
}

/** Commands from modules that may not be present in every build (raft, bench, report). */
function optionalCommands(): Command[] {
  const commands: Command[] = [];
  for (const [path, factory] of [
    ["./raft_commands", "raftCommand"],
    ["./bench_commands", "benchCommand"],
    ["./report_commands", "reportCommand"],
  ] as const) {
    let module: Record<string, () => Command>;
    try {
      module = require(path) as Record<string, () => Command>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND" && errorMessage(error).includes(path.slice(2))) continue;
      throw error;
    }
    commands.push(module[factory]());
  }
  return commands;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
      // Clients close their channels; nodes run until signalled. Nothing else should keep us.
    },
    (error: unknown) => {
      process.stderr.write(`ecc-cache: internal error: ${errorMessage(error)}\n`);
      process.exitCode = 5;
    },
  );
}
