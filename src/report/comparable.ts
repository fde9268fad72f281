// Which runs the report may put side by side, and which it may fold into one row.
//
// A run's group name (WORKLOAD-SIZE-cCONCURRENCY[-zipf][-VARIANT]) does not say everything
// that changes what a run measures: result files from two invocations can share a group name
// and differ in --keys, --ops or --duration, the seed, the failure schedule, the settle wait
// or the samplers. Folding such runs into one row of medians gives numbers no run measured
// (the median payload of 10,000 and 100,000 keys). So:
//
//   section   runs with the same group name AND the same measurement parameters (below).
//             When runs of one group name differ, each set becomes its own section, named
//             after the group plus the parameters that differ ("B-1KiB-c64 · keys 50000").
//   row       within a section, runs of one target spec that also share the resolved target
//             parameters, the commit and the machine: those are repeats of one measurement
//             and fold into one row of medians. When they differ, each becomes its own row,
//             labelled with what differs ("ecc(n=3,k=2) · commit 1a2b3c4").
//
// A single bench invocation never produces either split (its matrix shares every parameter),
// so its report keeps its group names and rows.
import { BenchResults, BenchRun } from "../bench/results";

export interface ComparableInput {
  file: string;
  results: BenchResults;
}

/** The outcome: runs with section and row identity in `group`, `target.spec` and `target.label`, plus what was split and why. */
export interface ComparableRuns {
  runs: BenchRun[];
  /** One sentence per split, for the report ("Runs of group X differ in keys: ..."). */
  notes: string[];
}

type Params = Array<[name: string, value: string]>;

/** What changes a run's measurement, besides its target: these must match for runs to share a section. */
export function measurementParams(run: BenchRun, results: BenchResults): Params {
  const { workload } = run;
  const mix = Object.entries(workload.mix)
    .filter(([, share]) => share > 0)
    .map(([kind, share]) => `${kind} ${share}`)
    .join(", ");
  return [
    ["workload", `${workload.name} (${mix})`],
    ["keys", String(workload.keyCount)],
    ["distribution", workload.distribution],
    ["values", `${workload.valueSize} B`],
    ["measured", workload.durationMs !== null ? `${workload.durationMs / 1000} s` : `${workload.ops} ops`],
    ["warm-up", `${workload.warmupOps} ops`],
    ["concurrency", String(workload.concurrency)],
    ["seed", String(workload.seed)],
    ["failures", run.failures.length === 0 ? "none" : run.failures.map((failure) => failure.text).join(" + ")],
    ["settle", `${results.config.settleMs} ms`],
    ["error backoff", `${results.config.errorBackoffMs} ms`],
    ["preload concurrency", String(results.config.preloadConcurrency)],
    ["memory samplers", results.config.memorySamplers],
    ["client processes", String(results.config.clientProcesses)],
    ["memory budget", run.budget === null ? "none" : `${run.budget.totalBytes !== null ? `${run.budget.totalBytes} B in total` : `${run.budget.nodeBytes} B per node`}, ${run.budget.policy}`],
  ];
}

/** What makes two runs of one target spec different measurements rather than repeats. */
export function targetParams(run: BenchRun, results: BenchResults): Params {
  const env = results.environment;
  const params = Object.entries(run.target.params)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join(",");
  return [
    ["parameters", params],
    ["commit", results.commit.id],
    ["machine", `${env.cpus} × ${env.cpuModel}, ${env.memoryBytes} B`],
  ];
}

const key = (params: Params): string => JSON.stringify(params);

/** Positions whose values differ among `all` (parameter lists of one shape). */
function differingAt(all: Params[]): number[] {
  return all[0].map((_, index) => index).filter((index) => new Set(all.map((params) => params[index][1])).size > 1);
}

/** "keys 50000, measured 15 s": this set's values at those positions. */
function describe(params: Params, at: number[]): string {
  return at.map((index) => `${params[index][0]} ${params[index][1]}`).join(", ");
}

const names = (params: Params, at: number[]): string => at.map((index) => params[index][0]).join(", ");

/** The runs of every input, renamed so that one section or row never mixes measurements (see the header). */
export function comparableRuns(inputs: ComparableInput[]): ComparableRuns {
  const notes: string[] = [];
  const entries = inputs.flatMap(({ results }) => results.runs.map((run) => ({ run, results, section: measurementParams(run, results) })));
  const sectionOf = new Map<BenchRun, string>();
  for (const group of new Set(entries.map((entry) => entry.run.group))) {
    const members = entries.filter((entry) => entry.run.group === group);
    const distinct = [...new Map(members.map((entry) => [key(entry.section), entry.section])).values()];
    const at = differingAt(distinct);
    for (const entry of members) sectionOf.set(entry.run, distinct.length === 1 ? group : `${group} · ${describe(entry.section, at)}`);
    if (distinct.length > 1) {
      notes.push(`Runs of group ${group} differ in ${names(distinct[0], at)}: each set is its own section (${distinct.map((params) => `${group} · ${describe(params, at)}`).join("; ")}).`);
    }
  }
  const out = entries.map(({ run }) => ({ ...run, group: sectionOf.get(run)! }));
  const rowParams = entries.map((entry) => targetParams(entry.run, entry.results));
  const cellOf = (index: number): string => JSON.stringify([out[index].group, out[index].target.spec]);
  for (const cell of new Set(out.map((_, index) => cellOf(index)))) {
    const members = out.map((_, index) => index).filter((index) => cellOf(index) === cell);
    const distinct = [...new Map(members.map((index) => [key(rowParams[index]), rowParams[index]])).values()];
    if (distinct.length === 1) continue;
    const at = differingAt(distinct);
    const { group, target } = out[members[0]];
    notes.push(`In ${group}, runs of ${target.label} differ in ${names(distinct[0], at)}: they are separate rows, not repeats of one measurement.`);
    for (const index of members) {
      const run = out[index];
      const suffix = describe(rowParams[index], at);
      out[index] = { ...run, target: { ...run.target, spec: `${run.target.spec} · ${suffix}`, label: `${run.target.label} · ${suffix}` } };
    }
  }
  return { runs: out, notes };
}
