// Scenario files (bench/*.json): a named matrix of runs. Every combination of
// targets × variants × workloads × value sizes × concurrencies is one run on a fresh cluster;
// runs that differ only in target form one comparison group in the report.
//
// {
//   "name": "reference",
//   "description": "...",
//   "targets": ["ecc:n=3,k=2", "etcd:nodes=3", "redis", "redis:replicas=2", "raft:nodes=3"],
//   "workloads": ["A", "B", "C"],            // or {"name": "mostly-reads", "mix": "read=0.9,update=0.1"}
//   "valueBytes": ["1KiB", "100"],           // each: bytes, 1KiB, or uniform:100-4096
//   "concurrency": [64],
//   "ops": 10000, "warmupOps": 1000, "keys": 10000, "distribution": "uniform", "seed": 1,
//   "variants": [{ "name": "steady", "failures": [] },
//                { "name": "kill-node1", "failures": ["kill:node1@t=3s+3s"], "duration": "15s" }],
//   "memory": { "samplers": "auto", "periodMs": 500 }, "settleMs": 2000, "timelineMs": 1000,
//   "repeat": { "groups": ["B-1KiB-c64-steady"], "times": 3 }   // optional
// }
//
// duration (top level, or per variant, which wins): the measured phase lasts this long
// instead of `ops` operations. A failure variant needs it: an op-count phase of a fast target
// is over in a second, before a restart 3 s after the kill is due, and its window would hold
// neither the restart nor the recovery. Its time triggers and follow-ups must fall inside the
// duration (failures.ts failureOutsideWindow). The warm-up stays `warmupOps` operations.
// Under workload C a time-based phase inserts as many keys as the target manages to.
//
// repeat: every run of the listed groups runs `times` times (2..20), in interleaved rounds:
// all of the group's targets once, then all of them again, so slow drift of the machine
// (memory, load) touches every target alike. Group names are the report's section names,
// WORKLOAD-SIZE-cCONCURRENCY[-zipf][-VARIANT]; a name the matrix does not produce is an
// error that lists the groups it does. Repeat 1 keeps the plain run name, repeat i >= 2 adds
// `-r<i>`. `ecc-cache bench --repeat N` sets `times` (or repeats every group when the
// scenario lists none).
import assert from "node:assert/strict";
import fs from "node:fs";
import { z } from "zod";
import { InvalidArgumentError } from "../core/errors";
import { FailureSpec, failureOutsideWindow, parseDurationMs, parseFailure } from "./failures";
import { parseTargetSpec } from "./target";
import { KeyDistribution, Mix, ValueSize, parseMix, parseValueSize, valueSizeLabel, workloadMix } from "./workload";

/** Most rounds of a repeated group: beyond this, run a longer scenario instead. */
export const REPEAT_TIMES_MAX = 20;

const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().default(""),
  targets: z.array(z.string().min(1)).min(1),
  workloads: z.array(z.union([z.string().min(1), z.strictObject({ name: z.string().min(1), mix: z.string().min(1) })])).min(1),
  valueBytes: z.array(z.union([z.string(), z.number().int().min(0)])).min(1),
  concurrency: z.array(z.number().int().min(1).max(4096)).min(1),
  ops: z.number().int().min(1),
  warmupOps: z.number().int().min(0).default(0),
  keys: z.number().int().min(1),
  distribution: z.enum(["uniform", "zipfian"]).default("uniform"),
  seed: z.number().int().default(1),
  /** Measured phase length ("15s") for variants without their own; absent: `ops` operations. */
  duration: z.string().min(1).optional(),
  variants: z
    .array(z.strictObject({ name: z.string().min(1), failures: z.array(z.string()), duration: z.string().min(1).optional() }))
    .default([{ name: "steady", failures: [] }]),
  memory: z.strictObject({ samplers: z.string().default("auto"), periodMs: z.number().int().min(50).default(500) }).default({ samplers: "auto", periodMs: 500 }),
  settleMs: z.number().int().min(0).default(2_000),
  /** Bucket of the throughput/latency timeline. */
  timelineMs: z.number().int().min(10).default(1_000),
  repeat: z
    .strictObject({ groups: z.array(z.string().min(1)).min(1), times: z.number().int().min(2).max(REPEAT_TIMES_MAX) })
    .optional(),
});

export type ScenarioFile = z.infer<typeof scenarioSchema>;

export interface WorkloadChoice {
  name: string;
  mix: Mix;
}

export interface RunPlan {
  name: string;
  group: string;
  variant: string;
  targetSpec: string;
  kind: string;
  params: Record<string, string>;
  workload: WorkloadChoice;
  valueSize: ValueSize;
  keyCount: number;
  distribution: KeyDistribution;
  /** Measured operations; ignored when durationMs is set. */
  ops: number;
  /** Length of a time-based measured phase; null: the phase is `ops` operations. */
  durationMs: number | null;
  warmupOps: number;
  concurrency: number;
  seed: number;
  failures: FailureSpec[];
  /** 1-based round of a repeated group (1 when the group is not repeated). */
  repeat: number;
}

/** Which groups run more than once, and how often (times 1: every run once). */
export interface RepeatSpec {
  /** Group names, or "all" (the --repeat flag without a scenario). */
  groups: string[] | "all";
  times: number;
}

export const REPEAT_NONE: RepeatSpec = Object.freeze({ groups: "all", times: 1 });

export interface MatrixInput {
  targets: string[];
  workloads: WorkloadChoice[];
  valueSizes: ValueSize[];
  concurrencies: number[];
  /** durationMs: a time-based measured phase of this length (absent or null: `ops` operations). */
  variants: Array<{ name: string; failures: FailureSpec[]; durationMs?: number | null }>;
  keyCount: number;
  distribution: KeyDistribution;
  ops: number;
  warmupOps: number;
  seed: number;
  repeat: RepeatSpec;
}

/**
 * "ecc:n=3,k=2" → "ecc-k2n3"; "redis:replicas=2" → "redis-replicas2": safe in file and run
 * names, parameters sorted so their order in the spec does not matter.
 */
export function targetSlug(spec: string): string {
  const { kind, params } = parseTargetSpec(spec);
  const parts = Object.entries(params)
    .filter(([name]) => name !== "binary")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}${value}`.replace(/[^A-Za-z0-9]/g, ""));
  return parts.length === 0 ? kind : `${kind}-${parts.join("")}`;
}

/** The run name of a plan: target, group, and `-r<i>` from the second round on. */
export function runName(targetSpec: string, group: string, repeat: number): string {
  return `${targetSlug(targetSpec)}-${group}${repeat === 1 ? "" : `-r${repeat}`}`;
}

/** A repeat group the matrix does not have (an InvalidArgumentError; callers add hints). */
export class UnknownRepeatGroupError extends InvalidArgumentError {}

/**
 * The runs of a matrix, in order: variants, workloads, value sizes, concurrencies; within
 * one group, every target for round 1, then every target for round 2, and so on.
 */
export function expandMatrix(input: MatrixInput): RunPlan[] {
  const { times } = input.repeat;
  assert(Number.isInteger(times) && times >= 1, `repeat times ${times} is not a whole number >= 1`);
  assert(times <= REPEAT_TIMES_MAX, `repeat times ${times} is above ${REPEAT_TIMES_MAX}`);
  for (const variant of input.variants) {
    const durationMs = variant.durationMs ?? null;
    if (durationMs === null) continue;
    if (!(durationMs > 0)) throw new InvalidArgumentError(`variant ${variant.name}: the measured phase's duration must be above 0`);
    for (const failure of variant.failures) {
      const problem = failureOutsideWindow(failure, durationMs);
      if (problem !== null) throw new InvalidArgumentError(`variant ${variant.name}: ${problem}`);
    }
  }
  const cells: Array<{ group: string; variant: MatrixInput["variants"][number]; workload: WorkloadChoice; valueSize: ValueSize; concurrency: number }> = [];
  for (const variant of input.variants) {
    for (const workload of input.workloads) {
      for (const valueSize of input.valueSizes) {
        for (const concurrency of input.concurrencies) {
          const variantSuffix = variant.failures.length === 0 && input.variants.length === 1 ? "" : `-${variant.name}`;
          const group = `${workload.name}-${valueSizeLabel(valueSize)}-c${concurrency}${input.distribution === "zipfian" ? "-zipf" : ""}${variantSuffix}`;
          cells.push({ group, variant, workload, valueSize, concurrency });
        }
      }
    }
  }
  const groups = cells.map((cell) => cell.group);
  const repeated = new Set(input.repeat.groups === "all" ? groups : input.repeat.groups);
  const unknown = [...repeated].filter((group) => !groups.includes(group));
  if (unknown.length > 0) {
    throw new UnknownRepeatGroupError(`repeat: ${unknown.map((group) => `'${group}'`).join(", ")} ${unknown.length === 1 ? "is not a group" : "are not groups"} of this matrix; its groups are ${[...new Set(groups)].join(", ")}`);
  }
  const runs: RunPlan[] = [];
  for (const { group, variant, workload, valueSize, concurrency } of cells) {
    const rounds = repeated.has(group) ? times : 1;
    for (let repeat = 1; repeat <= rounds; repeat++) {
      for (const targetSpec of input.targets) {
        const { kind, params } = parseTargetSpec(targetSpec);
        runs.push({
          name: runName(targetSpec, group, repeat),
          group,
          variant: variant.name,
          targetSpec,
          kind,
          params,
          workload,
          valueSize,
          keyCount: input.keyCount,
          distribution: input.distribution,
          ops: input.ops,
          durationMs: variant.durationMs ?? null,
          warmupOps: input.warmupOps,
          concurrency,
          seed: input.seed,
          failures: variant.failures,
          repeat,
        });
      }
    }
  }
  // Two runs with one name would be one row, one result and one chart line in the report.
  const seen = new Map<string, RunPlan>();
  for (const run of runs) {
    const earlier = seen.get(run.name);
    if (earlier !== undefined) {
      throw new InvalidArgumentError(
        earlier.targetSpec === run.targetSpec
          ? `target '${run.targetSpec}' is listed twice (to run it several times, use repeat / --repeat)`
          : `targets '${earlier.targetSpec}' and '${run.targetSpec}' are the same target (run name ${run.name})`,
      );
    }
    seen.set(run.name, run);
  }
  return runs;
}

export function parseWorkloadChoice(entry: string | { name: string; mix: string }): WorkloadChoice {
  if (typeof entry === "string") return { name: entry.trim().toUpperCase(), mix: workloadMix(entry) };
  return { name: entry.name, mix: parseMix(entry.mix) };
}

export interface LoadedScenario {
  file: ScenarioFile;
  path: string;
  matrix: MatrixInput;
}

export function parseScenario(data: unknown, source: string): LoadedScenario {
  const parsed = scenarioSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(top level)"}: ${issue.message}`);
    throw new InvalidArgumentError(`scenario ${source}:\n  ${problems.join("\n  ")}`);
  }
  const file = parsed.data;
  try {
    const matrix: MatrixInput = {
      targets: file.targets,
      workloads: file.workloads.map(parseWorkloadChoice),
      valueSizes: file.valueBytes.map((value) => parseValueSize(String(value))),
      concurrencies: file.concurrency,
      variants: file.variants.map((variant) => {
        const duration = variant.duration ?? file.duration;
        return { name: variant.name, failures: variant.failures.map(parseFailure), durationMs: duration === undefined ? null : parseDurationMs(duration) };
      }),
      keyCount: file.keys,
      distribution: file.distribution,
      ops: file.ops,
      warmupOps: file.warmupOps,
      seed: file.seed,
      repeat: file.repeat === undefined ? REPEAT_NONE : { groups: file.repeat.groups, times: file.repeat.times },
    };
    for (const target of file.targets) parseTargetSpec(target);
    expandMatrix(matrix); // checks the repeat groups against the groups the matrix has
    return { file, path: source, matrix };
  } catch (error) {
    throw new InvalidArgumentError(`scenario ${source}: ${(error as Error).message}`);
  }
}

export function loadScenario(file: string): LoadedScenario {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new InvalidArgumentError(`scenario ${file}: ${(error as Error).message}`);
  }
  return parseScenario(data, file);
}
