// Result files → report/: README-style Markdown (report.md) and SVG charts (charts/*.svg).
// The report reads only result documents (schema ecc-cache.bench/2); it never talks to a
// cluster. Runs from several files are merged; runs with the same group (same workload,
// value size, concurrency, failure variant) are compared side by side. A target that ran a
// group several times (scenario `repeat`) gets one table row of medians with min–max
// (analysis.ts aggregateRuns); its charts and per-node table show one run, the first round,
// because overlaid repeats would hide the differences between targets the charts are for.
import fs from "node:fs";
import path from "node:path";
import { BenchResults, BenchRun } from "../bench/results";
import {
  AggregateRow,
  NodeMemoryRow,
  aggregateRows,
  formatBytes,
  formatOps,
  formatRatio,
  formatUs,
  formatWithRange,
  nodeMemoryRows,
  summarizeRun,
  table,
} from "./analysis";
import { latencySpec, memorySpec, overheadSpec, renderSvg, throughputSpec } from "./charts";
import { comparableRuns } from "./comparable";
import { headline, memoryBreakdown } from "./headline";

export interface ReportInput {
  file: string;
  results: BenchResults;
}

export interface ReportOutput {
  markdownPath: string;
  charts: string[];
}

function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9_.-]+/g, "_");
}

function summaryTable(rows: AggregateRow[]): string {
  // The runs column only where some target ran more than once: single-run reports stay as they were.
  const repeated = rows.some((row) => row.runCount > 1);
  const ranged = (row: AggregateRow, format: (value: number | null) => string, figure: keyof AggregateRow["ranges"]): string =>
    row.runCount > 1 ? formatWithRange(format, row[figure], row.ranges[figure]) : format(row[figure]);
  return table(
    [
      "target",
      ...(repeated ? ["runs"] : []),
      "payload",
      "memory Δ",
      "overhead",
      "ideal",
      "logical Δ ÷ payload",
      "ops/s",
      "p50",
      "p99",
      "read p50 / p99",
      "write p50 / p99",
      "errors",
      "unavailable r / w",
      "longest gap r / w",
    ],
    rows.map((row) => [
      row.target,
      ...(repeated ? [String(row.runCount)] : []),
      formatBytes(row.payloadBytes),
      `${ranged(row, formatBytes, "memoryDeltaBytes")}${memoryNote(row)}`,
      ranged(row, formatRatio, "overheadRatio"),
      formatRatio(row.idealOverhead),
      ranged(row, formatRatio, "logicalRatio"),
      ranged(row, formatOps, "opsPerSecond"),
      formatUs(row.p50Us),
      ranged(row, formatUs, "p99Us"),
      `${formatUs(row.readP50Us)} / ${formatUs(row.readP99Us)}`,
      `${formatUs(row.writeP50Us)} / ${formatUs(row.writeP99Us)}`,
      row.errors === null ? "–" : String(row.errors),
      `${Math.round(row.readUnavailableMs)} / ${Math.round(row.writeUnavailableMs)} ms`,
      `${formatMs(row.readLongestGapMs)} / ${formatMs(row.writeLongestGapMs)} ms`,
    ]),
  );
}

/** Which nodes the memory Δ leaves out, and which it measures from their restart. */
function memoryNote(row: AggregateRow): string {
  const notes: string[] = [];
  if (row.nodesLeftOut.length > 0) notes.push(`partial: ${row.nodesLeftOut.join(", ")} not counted`);
  else if (row.memoryPartial) notes.push("partial");
  if (row.nodesRestarted.length > 0) notes.push(`${row.nodesRestarted.join(", ")} from ${row.nodesRestarted.length === 1 ? "its" : "their"} restart`);
  return notes.length === 0 ? "" : ` (${notes.join("; ")})`;
}

function formatMs(ms: number | null): string {
  return ms === null ? "–" : String(Math.round(ms));
}

/** The run each target shows in the charts and per-node table: its first round that ran. */
function firstRoundPerTarget(runs: BenchRun[]): BenchRun[] {
  const first = new Map<string, BenchRun>();
  for (const run of runs) {
    const shown = first.get(run.target.spec);
    if (shown === undefined || run.repeat < shown.repeat) first.set(run.target.spec, run);
  }
  return [...first.values()];
}

function nodeTable(run: BenchRun, rows: NodeMemoryRow[]): string {
  // The split of the memory delta (see the headline group's breakdown), for nodes that report it.
  const split = rows.some((row) => row.arrayBuffersDeltaBytes !== null || row.v8HeapDeltaBytes !== null);
  const kernel = rows.some((row) => row.kernelDeltaBytes !== null);
  return table(
    [
      "node",
      "role",
      "baseline",
      "memory at baseline",
      "after",
      "Δ",
      "logical at baseline",
      "after",
      "Δ",
      "keys",
      ...(split ? ["array buffers Δ", "V8 heap Δ"] : []),
      ...(kernel ? ["kernel Δ"] : []),
    ],
    rows.map((row) => [
      row.node,
      row.role ?? "",
      row.baseline === "before-load" ? row.baseline : `${row.baseline}${row.baselineMs === null ? "" : ` (${(row.baselineMs / 1000).toFixed(2)} s)`}`,
      formatBytes(row.beforeBytes),
      row.downAtAfter ? "down" : formatBytes(row.afterBytes),
      formatBytes(row.deltaBytes),
      formatBytes(row.logicalBeforeBytes),
      formatBytes(row.logicalAfterBytes),
      formatBytes(row.logicalDeltaBytes),
      row.keysAfter === null ? "–" : String(row.keysAfter),
      ...(split ? [formatBytes(row.arrayBuffersDeltaBytes), formatBytes(row.v8HeapDeltaBytes)] : []),
      ...(kernel ? [formatBytes(row.kernelDeltaBytes)] : []),
    ]),
  ) + `\n\n<sub>${run.target.label}: memory = ${run.memory?.primary ?? "no sampler"}; logical = ${run.target.logicalSource ?? "not reported"}</sub>`;
}

function eventsSection(run: BenchRun, labelRepeat: boolean): string {
  const lines: string[] = [];
  const measured = run.measured;
  const interesting = run.events.filter((event) => event.type.startsWith("failure.") || event.type === "cluster.log" || event.type === "sampler.error" || event.type === "run.failed");
  for (const event of interesting) {
    const since = measured === null ? "" : ` (${((event.tMs - measured.startMs) / 1000).toFixed(2)} s into the measured phase)`;
    lines.push(`- ${(event.tMs / 1000).toFixed(2)} s${since}: \`${event.type}\` ${event.node ?? ""} ${event.detail ?? ""}`.trimEnd());
  }
  if (measured !== null) {
    for (const window of measured.unavailability) {
      lines.push(
        `- ${window.kind}s unavailable from ${(window.startMs / 1000).toFixed(2)} s to ${(window.endMs / 1000).toFixed(2)} s ` +
          `(${Math.round(window.endMs - window.startMs)} ms, ${window.errors} errors${window.ongoing ? ", still failing at the end" : ""})`,
      );
    }
    for (const error of measured.errorClasses.slice(0, 8)) {
      lines.push(`- ${error.count} × ${error.kind}: ${error.message} (first ${(error.firstMs / 1000).toFixed(2)} s, last ${(error.lastMs / 1000).toFixed(2)} s)`);
    }
    if (measured.warmupErrors > 0) lines.push(`- ${measured.warmupErrors} errors during warm-up`);
  }
  if (run.preload !== null && run.preload.errors > 0) lines.push(`- ${run.preload.errors} preload writes failed (first: ${run.preload.firstError})`);
  for (const note of run.memory?.notes ?? []) lines.push(`- memory: ${note}`);
  const title = labelRepeat ? `${run.target.label}, repeat ${run.repeat}` : run.target.label;
  return lines.length === 0 ? "" : `**${title}**\n\n${lines.join("\n")}\n`;
}

function environmentSection(inputs: ReportInput[]): string {
  const rows = inputs.map(({ file, results }) => {
    const env = results.environment;
    return [
      path.basename(file),
      `${results.commit.id}${results.commit.dirty ? " (modified)" : ""}`,
      results.startedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      String(results.seed),
      `${env.node}, ${env.platform}, ${env.cpus} × ${env.cpuModel}, ${formatBytes(env.memoryBytes)}`,
      Object.entries(env.tools).map(([tool, version]) => `${tool} ${version}`).join(", ") || "–",
      `${results.config.memorySamplers} every ${results.config.memoryPeriodMs} ms; cgroup ${env.cgroup}`,
    ];
  });
  return table(["results", "commit", "started", "seed", "machine", "peers", "memory sampling"], rows);
}

/** Writes report.md and charts/*.svg into outDir; returns the paths. */
export async function writeReport(inputs: ReportInput[], outDir: string, consistency = ""): Promise<ReportOutput> {
  const chartsDir = path.join(outDir, "charts");
  fs.mkdirSync(chartsDir, { recursive: true });
  const charts: string[] = [];
  // Sections and rows never mix measurements that differ in more than their target (comparable.ts).
  const { runs, notes: splits } = comparableRuns(inputs);
  const okRuns = runs.filter((run) => run.status === "ok");
  const summaries = okRuns.map(summarizeRun);
  const groups = [...new Set(okRuns.map((run) => run.group))];
  const out: string[] = [];

  const saveChart = async (name: string, spec: Record<string, unknown> | null): Promise<string | null> => {
    if (spec === null) return null;
    const file = path.join(chartsDir, `${slug(name)}.svg`);
    fs.writeFileSync(file, await renderSvg(spec));
    charts.push(file);
    return path.relative(outDir, file).split(path.sep).join("/");
  };

  out.push("# ecc-cache benchmark report", "");
  const top = headline(summaries);
  if (top !== "") out.push(top, "");
  const breakdown = memoryBreakdown(summaries);
  if (breakdown !== "") out.push(breakdown, "");
  out.push(`Generated by \`ecc-cache report\` from ${inputs.length} result file(s): ${inputs.map((i) => `\`${path.basename(i.file)}\``).join(", ")}.`, "");
  const scenarios = [...new Set(inputs.map((i) => i.results.scenario?.name).filter((n): n is string => n !== undefined))];
  if (scenarios.length > 0) out.push(`Scenario: ${scenarios.join(", ")}. ${inputs.map((i) => i.results.scenario?.description ?? "").filter((d) => d !== "").join(" ")}`, "");
  out.push(environmentSection(inputs), "");
  out.push(
    "**Definitions.** *Payload*: key + value bytes live at the end of a run (acknowledged writes only). " +
      "*Memory*: per node, the run's primary sampler — the cgroup working set as cAdvisor computes it (usage − inactive_file) when the bench could place each node in its own cgroup, else the process RSS; " +
      "*memory Δ* is the after-load snapshot minus the before-load snapshot (taken after the cluster started and settled, before the preload), summed over the nodes. " +
      "*Overhead* = memory Δ ÷ payload, next to the layout's ideal (n/k for ecc, the replica count for Raft/etcd/redis replicas). " +
      "*Logical Δ ÷ payload* uses each store's own byte count (exact for ecc; etcd: bbolt bytes in use including old revisions; redis: used_memory_dataset). " +
      "Latency is per completed operation (errors are counted apart, never in the percentiles); *unavailable* sums the windows from a failing operation to the next success of the same class (read / write); " +
      "*longest gap* is the longest time without any successful completion of that class (it also catches stalls where operations wait instead of failing). " +
      "*Repeats*: a group listed in the scenario's `repeat` (or run with `--repeat`) ran each target several times, in interleaved rounds; its table has a *runs* column, " +
      "every figure is the median over the runs (a ratio is the median of the runs' ratios), memory Δ, overhead, logical ratio, ops/s and p99 are followed by their (min–max), " +
      "and *errors* is the total over the runs; the headline divides medians and gives the ratio's (min–max) over runs paired by round.",
    "",
  );

  if (splits.length > 0) out.push(`**Not comparable, kept apart.** ${splits.join(" ")}`, "");

  // One bar per (group, target): the median of a repeated target.
  const overview = await saveChart("overhead", overheadSpec(aggregateRows(summaries), "memory overhead ratio vs ideal"));
  if (overview !== null) out.push("## Memory overhead", "", `![memory overhead ratio per target](${overview})`, "");

  for (const group of groups) {
    const groupRuns = okRuns.filter((run) => run.group === group);
    const first = groupRuns[0];
    out.push(`## ${group}`, "");
    out.push(
      `Workload ${first.workload.name} (read ${first.workload.mix.read}, update ${first.workload.mix.update}, insert ${first.workload.mix.insert}, delete ${first.workload.mix.delete}), ` +
        `${first.workload.ops} ops after ${first.workload.warmupOps} warm-up, ${first.workload.keyCount} keys (${first.workload.distribution}), values ${first.workload.valueSize} B, concurrency ${first.workload.concurrency}` +
        (first.failures.length > 0 ? `, failures: ${first.failures.map((f) => `\`${f.text}\``).join(", ")}` : "") +
        ".",
      "",
    );
    const rows = aggregateRows(summaries.filter((row) => row.group === group));
    out.push(summaryTable(rows), "");
    const repeated = groupRuns.some((run) => run.repeat > 1);
    const shownRuns = firstRoundPerTarget(groupRuns);
    if (repeated) {
      const others = shownRuns.filter((run) => run.repeat !== 1).map((run) => `${run.target.label} repeat ${run.repeat}`);
      out.push(
        `Repeated: up to ${Math.max(...rows.map((row) => row.runCount))} runs per target (medians, with min–max in parentheses). ` +
          `The charts and the per-node tables below show repeat 1 only${others.length > 0 ? ` (${others.join(", ")}: their first run that was measured)` : ""}; the failures and errors list every run.`,
        "",
      );
    }
    const memoryChart = await saveChart(`memory-${group}`, memorySpec(shownRuns, `memory per node — ${group}`));
    if (memoryChart !== null) out.push(`![memory over time, ${group}](${memoryChart})`, "");
    const latencyChart = await saveChart(`latency-${group}`, latencySpec(shownRuns, `latency CDF — ${group}`));
    if (latencyChart !== null) out.push(`![latency CDF, ${group}](${latencyChart})`, "");
    const throughputChart = await saveChart(`throughput-${group}`, throughputSpec(shownRuns, `throughput — ${group}`));
    if (throughputChart !== null) out.push(`![throughput over time, ${group}](${throughputChart})`, "");
    out.push("<details><summary>per node</summary>", "");
    for (const run of shownRuns) out.push(nodeTable(run, nodeMemoryRows(run)), "");
    out.push("</details>", "");
    const events = groupRuns.map((run) => eventsSection(run, repeated)).filter((text) => text !== "");
    if (events.length > 0) out.push("**Failures, errors and unavailability**", "", ...events, "");
  }

  if (consistency !== "") out.push(consistency, "");

  const notOk = runs.filter((run) => run.status !== "ok");
  if (notOk.length > 0) {
    out.push("## Runs not measured", "");
    out.push(table(["run", "target", "status", "reason"], notOk.map((run) => [run.name, run.target.label, run.status, run.reason ?? ""])), "");
  }
  const markdownPath = path.join(outDir, "report.md");
  fs.writeFileSync(markdownPath, out.join("\n") + "\n");
  return { markdownPath, charts };
}
