// `ecc-cache report <results...> [--out DIR]`: bench result files (schema ecc-cache.bench/2)
// → DIR/report.md + DIR/charts/*.svg. Reads files only; never talks to a cluster.
import { Command } from "commander";
import { readResults } from "../bench/results";
import { writeReport } from "../report/report";

export function reportCommand(): Command {
  return new Command("report")
    .description("render bench result files as Markdown with SVG charts (memory per node, overhead ratio, latency CDFs, throughput with failures)")
    .argument("<results...>", "result JSON files written by `ecc-cache bench`")
    .option("--out <dir>", "output directory", "report")
    .action(async (files: string[], flags: { out: string }) => {
      const inputs = files.map((file) => ({ file, results: readResults(file) }));
      const output = await writeReport(inputs, flags.out);
      process.stdout.write(`${output.markdownPath}\n`);
      for (const chart of output.charts) process.stdout.write(`${chart}\n`);
    });
}
