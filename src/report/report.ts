// Result files → report/: README-style Markdown (report.md) and SVG charts (charts/*.svg).
// The report reads only result documents (schema ecc-cache.bench/4, or /3 and /2 upgraded on reading); it never talks to a
// cluster. Runs from several files are merged; runs that share every measurement parameter
// but the target are compared side by side (comparable.ts decides, and splits the rest). A target that ran a
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
  formatCpuPerOp,
  formatGenerator,
  formatOps,
  formatRatio,
  formatUs,
  formatWithRange,
  median,
  nodeMemoryRows,
  summarizeRun,
  table,
} from "./analysis";
import { CACHE_DEFINITIONS, cacheGroupText, cacheRows } from "./cache";
import { cacheSpec, latencySpec, memorySpec, overheadSpec, renderSvg, throughputSpec } from "./charts";
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
  const hits = rows.some((row) => row.hitRatio !== null);
  const ranged = (row: AggregateRow, format: (value: number | null) => string, figure: keyof AggregateRow["ranges"]): string =>
    row.runCount > 1 ? formatWithRange(format, row[figure], row.ranges[figure]) : format(row[figure]);
  const cpuPerOp = (row: AggregateRow): string => formatCpuPerOp(row, row.runCount > 1 ? formatWithRange(formatUs, row.cpuPerOpUs, row.ranges.cpuPerOpUs) : undefined);
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
      ...(hits ? ["hit ratio"] : []),
      "CPU/op",
      "generator CPU",
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
      ...(hits ? [ranged(row, (value) => (value === null ? "–" : `${(value * 100).toFixed(1)}%`), "hitRatio")] : []),
      cpuPerOp(row),
      formatGenerator(row),
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

/**
 * Per failure run, when each step happened (s since the measured phase began): the failure,
 * the node back (its restart done), the unavailability, the recovery (the node holds as
 * many keys as the median of the others), and the end of the phase; "–" for a step that did
 * not happen, "cancelled" for a restart the phase ended before.
 */
export function failureTimeline(runs: BenchRun[]): string {
  const rows = runs.map((run) => {
    const measured = run.measured!;
    const since = (tMs: number | undefined): string => (tMs === undefined ? "–" : `${((tMs - measured.startMs) / 1000).toFixed(2)} s`);
    const first = (type: string): BenchRun["events"][number] | undefined => run.events.find((event) => event.type === type);
    const hit = run.events.find((event) => /^failure\.(kill|stop|pause)$/.test(event.type));
    const node = hit?.node;
    const back = run.events.find((event) => (event.type === "failure.restart.done" || event.type === "failure.resume.done") && event.node === node);
    const cancelled = run.events.some((event) => event.type === "failure.cancelled" && event.node === node);
    const windows = (kind: "read" | "write"): string => {
      const list = measured.unavailability.filter((window) => window.kind === kind);
      if (list.length === 0) return "–";
      return `${since(list[0].startMs)} – ${since(list[list.length - 1].endMs)}${list[list.length - 1].ongoing ? " (still at the end)" : ""}`;
    };
    const recovered = node === undefined || back === undefined ? undefined : recoveredAt(run, node, back.tMs);
    return [
      run.repeat > 1 ? `${run.target.label}, repeat ${run.repeat}` : run.target.label,
      hit === undefined ? "not reached" : `${hit.type.replace("failure.", "")} ${node ?? ""} at ${since(hit.tMs)}`,
      back !== undefined ? since(back.tMs) : cancelled ? "cancelled: the phase ended first" : first("failure.not_reached") !== undefined ? "not reached" : "–",
      windows("read"),
      windows("write"),
      back === undefined ? "–" : recovered === undefined ? "not by the end" : recovered === null ? "no key counts" : since(recovered),
      `${(measured.durationMs / 1000).toFixed(2)} s`,
    ];
  });
  return `**Failure timeline** (s since the measured phase began)\n\n${table(["target", "failure", "back", "reads unavailable", "writes unavailable", "recovered", "phase length"], rows)}`;
}

const RECOVERED_SHARE = 0.99;

/**
 * When `node`, back at `backMs`, first held 99% of the median key count of the other
 * nodes (logical samples of one tick share a time); undefined: not by the end; null: the
 * target reports no key counts.
 */
function recoveredAt(run: BenchRun, node: string, backMs: number): number | null | undefined {
  const logical = run.memory?.logical ?? [];
  if (!logical.some((sample) => sample.keyCount !== null)) return null;
  const end = run.measured!.endMs;
  for (const sample of logical) {
    if (sample.node !== node || sample.tMs < backMs || sample.tMs > end || sample.keyCount === null) continue;
    const others = logical.filter((other) => other.tMs === sample.tMs && other.node !== node && other.keyCount !== null).map((other) => other.keyCount!);
    const middle = median(others);
    // Within 1%: under constant inserts the nodes' counts, read one after another, never match exactly.
    if (middle !== null && sample.keyCount >= RECOVERED_SHARE * middle) return sample.tMs;
  }
  return undefined;
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

export const DEFINITIONS =
  "*Payload*: key + value bytes live at the end of a run (acknowledged writes only). " +
  "*Memory*: per node, the run's primary sampler — the cgroup working set as cAdvisor computes it (usage − inactive_file) when the bench could place each node in its own cgroup, else the process RSS. " +
  "*Memory Δ*: per node, the after-load snapshot minus the node's baseline, summed over the nodes. The baseline is the before-load snapshot (taken after the cluster started and settled, before the preload), " +
  "except for a node the failure schedule restarted: its new process is measured from its own first reading (taken as soon as it was ready; in older result files, its first sample after the restart), never from the killed process's. " +
  "A node that was down at the after-load snapshot is not counted: the row says which node and is *partial*. " +
  "*Overhead* = memory Δ ÷ payload, next to the layout's ideal (n/k for ecc, the replica count for Raft/etcd/redis replicas); it is given only for a whole cluster whose memory grew and whose nodes all ran from before-load to the end: a partial sum is not the cluster's overhead, and a restarted process's baseline already holds whatever it loaded at start (raft and etcd reload their data from disk, an ecc node starts empty), so the steady runs give the overheads. " +
  "*Logical Δ ÷ payload* uses each store's own byte count (exact for ecc; etcd: bbolt bytes in use including old revisions; redis: used_memory_dataset). " +
  "*Measured phase*: a number of operations, or for a failure run a fixed time (so the kill, the outage, the restart and the recovery all fall inside it); a warm-up of operations comes first. " +
  "Latency is per completed operation (errors are counted apart, never in the percentiles); *unavailable* sums the windows from a failing operation to the next success of the same class (read / write); " +
  "*longest gap* is the longest time without any successful completion of that class (it also catches stalls where operations wait instead of failing). " +
  "In a failure run's timeline, times are seconds since the measured phase began; *back* is when the restarted process was ready, *recovered* when it held 99% of the median key count of the other nodes. " +
  "*Groups*: runs compared side by side share every parameter but the target (workload, value size, keys, operations or duration, warm-up, concurrency, distribution, seed, failures, settle time, samplers, client processes, memory budget); runs of one name that differ are shown as separate groups named after what differs. " +
  "*Repeats*: a group listed in the scenario's `repeat` (or run with `--repeat`) ran each target several times, in interleaved rounds; its table has a *runs* column, " +
  "every figure is the median over the runs (a ratio is the median of the runs' ratios), memory Δ, overhead, logical ratio, ops/s, p99, CPU/op and hit ratio are followed by their (min–max), " +
  "and *errors* is the total over the runs; the headline divides medians and gives the ratio's (min–max) over runs paired by round. " +
  "*CPU/op*: the CPU time (user + system) every process of the run used over the measured phase — each node, the load generator and the bench — divided by the phase's operations, split into the nodes' part and the generator's (the bench process's own part, when the load came from client processes, is in the total only); " +
  "read from /proc/<pid>/stat (clock ticks, 10 ms each) at the phase's start, every 500 ms and at its end, so a short phase gives a coarse figure; none where a node has no PID (an attached cluster, containers). " +
  "*Generator CPU*: the load generator's CPU ÷ wall time ÷ the machine's cores, and the busiest generator process in cores; *saturated* when one used more than 0.9 of a core, so the target's ops/s may be held down by our own client: the headline gives no ratio against such a result. " +
  "Results from before these figures were recorded show –.";

/** "15 min 54 s", "42 s", "0.5 s". */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds >= 60) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return ms < 10_000 ? `${Number((ms / 1000).toFixed(1))} s` : `${seconds} s`;
}

/**
 * The command that reproduces the report and the time it takes: `reproduce` when the caller
 * knows it (scripts/report_reference.js: one npm script), else each result file's recorded
 * bench command line, then the report command. The time is the bench's, start to finish, as
 * recorded in the result files (rendering takes seconds).
 */
function reproduceSection(inputs: ReportInput[], reproduce: string | null, outDir: string): string {
  const runs = inputs.reduce((total, input) => total + input.results.runs.length, 0);
  const benchMs = inputs.reduce((total, input) => total + Math.max(0, Date.parse(input.results.finishedAt) - Date.parse(input.results.startedAt)), 0);
  const took = `${runs} runs, ${Number.isFinite(benchMs) ? formatDuration(benchMs) : "unknown time"} of benchmarking on the machine below`;
  const files = inputs.map((input) => input.file);
  const report = `ecc-cache report ${files.join(" ")} --out ${outDir}`;
  if (reproduce !== null) return `\`${reproduce}\` reruns the bench and renders this page (${took}).`;
  const benches = inputs.map((input) => `ecc-cache ${input.results.argv.map(shellWord).join(" ")}`);
  return ["```sh", ...benches, report, "```", "", `(${took}.)`].join("\n");
}

function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

export interface ReportOptions {
  /** The command that reproduces the whole report (e.g. `npm run report:reference`); default: the recorded bench command lines. */
  reproduce?: string;
}

/** Writes report.md and charts/*.svg into outDir; returns the paths. */
export async function writeReport(inputs: ReportInput[], outDir: string, consistency = "", options: ReportOptions = {}): Promise<ReportOutput> {
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
  // How to reproduce first, then the definitions, then the tables that use them.
  out.push("## How to reproduce", "", reproduceSection(inputs, options.reproduce ?? null, outDir), "");
  out.push(environmentSection(inputs), "");
  const scenarios = [...new Set(inputs.map((i) => i.results.scenario?.name).filter((n): n is string => n !== undefined))];
  if (scenarios.length > 0) out.push(`Scenario: ${scenarios.join(", ")}. ${inputs.map((i) => i.results.scenario?.description ?? "").filter((d) => d !== "").join(" ")}`, "");
  out.push("## Definitions", "", DEFINITIONS, "");
  const top = headline(summaries);
  const breakdown = memoryBreakdown(summaries);
  if (top !== "" || breakdown !== "") out.push("## Headline", "");
  if (top !== "") out.push(top, "");
  if (breakdown !== "") out.push(breakdown, "");

  if (splits.length > 0) out.push(`**Not comparable, kept apart.** ${splits.join(" ")}`, "");

  const cache = cacheRows(okRuns);
  if (cache.length > 0) {
    out.push("## Hit ratio at equal memory", "", CACHE_DEFINITIONS, "");
    for (const group of [...new Set(cache.map((row) => row.group))]) {
      const rows = cache.filter((row) => row.group === group);
      out.push(cacheGroupText(rows), "");
      const chart = await saveChart(`hit-ratio-${group}`, cacheSpec(rows, `hit ratio at equal memory — ${group}`));
      if (chart !== null) out.push(`![hit ratio at equal memory, ${group}](${chart})`, "");
      out.push(`Memory per node over time: the section [${group}](#${group.toLowerCase().replace(/[^a-z0-9-]/g, "")}) below.`, "");
    }
  }

  // One bar per (group, target): the median of a repeated target.
  const overview = await saveChart("overhead", overheadSpec(aggregateRows(summaries), "memory overhead ratio vs ideal"));
  if (overview !== null) out.push("## Memory overhead", "", `![memory overhead ratio per target](${overview})`, "");

  for (const group of groups) {
    const groupRuns = okRuns.filter((run) => run.group === group);
    const first = groupRuns[0];
    out.push(`## ${group}`, "");
    out.push(
      `Workload ${first.workload.name} (read ${first.workload.mix.read}, update ${first.workload.mix.update}, insert ${first.workload.mix.insert}, delete ${first.workload.mix.delete}), ` +
        `${first.workload.durationMs !== null ? `${formatDuration(first.workload.durationMs)} measured` : `${first.workload.ops} ops`} after ${first.workload.warmupOps} warm-up, ${first.workload.keyCount} keys (${first.workload.distribution}), values ${first.workload.valueSize} B, concurrency ${first.workload.concurrency}` +
        (first.failures.length > 0 ? `, failures: ${first.failures.map((f) => `\`${f.text}\``).join(", ")}` : "") +
        ".",
      "",
    );
    const rows = aggregateRows(summaries.filter((row) => row.group === group));
    out.push(summaryTable(rows), "");
    if (first.failures.length > 0) out.push(failureTimeline(groupRuns), "");
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
