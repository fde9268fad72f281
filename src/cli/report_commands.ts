// `ecc-cache report <results...> [--out DIR] [--reproduce CMD]`: bench result files (schema ecc-cache.bench/3 or /2)
// and jepsen result files (ecc-cache.jepsen/1, the "consistency under faults" section)
// → DIR/report.md + DIR/charts/*.svg. Reads files only; never talks to a cluster. Its
// summary is in main.ts.
import { Command } from "commander";
import { readResults } from "../bench/results";
import { writeReport } from "../report/report";
import { consistencySection, isJepsenFile, readJepsenResult } from "../report/consistency";

export function reportCommand(): Command {
  return new Command("report")
    .argument("<results...>", "result JSON files written by `ecc-cache bench` or `npm run jepsen -- --out FILE`")
    .option("--out <dir>", "output directory", "report")
    .option("--reproduce <command>", "the command that reproduces these results, shown at the top of the report (default: the bench command lines the result files recorded)")
    .action(async (files: string[], flags: { out: string; reproduce?: string }) => {
      const jepsenFiles = files.filter(isJepsenFile);
      const inputs = files.filter((file) => !jepsenFiles.includes(file)).map((file) => ({ file, results: readResults(file) }));
      const consistency = consistencySection(jepsenFiles.map((file) => ({ file, result: readJepsenResult(file) })));
      const output = await writeReport(inputs, flags.out, consistency, flags.reproduce === undefined ? {} : { reproduce: flags.reproduce });
      process.stdout.write(`${output.markdownPath}\n`);
      for (const chart of output.charts) process.stdout.write(`${chart}\n`);
    });
}
