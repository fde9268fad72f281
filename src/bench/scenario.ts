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
//   "repeat": { "groups": ["B-1KiB-c64-steady"], "times": 3 },  // optional
//   "totalMemory": "30MiB", "maxMemory": "10MiB", "policy": "allkeys-lru",  // optional, see below
//   "clientProcesses": 2,                    // optional: the workers in 2 processes (default 0: in the bench's)
//   "matrices": [{ "name": "cache", "targets": [...], "workloads": ["cache"], "keys": 100000, "totalMemory": "30MiB" }]
// }
//
// duration (top level, or per variant, which wins): the measured phase lasts this long
// instead of `ops` operations. A failure variant needs it: an op-count phase of a fast target
// is over in a second, before a restart 3 s after the kill is due, and its window would hold
// neither the restart nor the recovery. Its time triggers and follow-ups must fall inside the
// duration (failures.ts failureOutsideWindow). The warm-up stays `warmupOps` operations.
// Under workload C a time-based phase inserts as many keys as the target manages to.
//
// totalMemory / maxMemory / policy: the nodes' memory budget and eviction policy (Redis's
// names). totalMemory gives every target the same memory: each node gets total ÷ the
// target's node count (ecc(5,3): ÷5, raft(3) and redis 1+2: ÷3); maxMemory gives every node
// of every target that budget. One of the two; policy defaults to allkeys-lru. A target
// without a memory budget (etcd) is skipped. A budget adds `-total30MiB` (or `-node10MiB`,
// and `-POLICY` unless allkeys-lru) to the group name.
//
// matrices: further matrices in the same scenario, each with a name and any of targets,
// workloads, valueBytes, concurrency, ops, warmupOps, keys, distribution, seed, duration,
// variants, totalMemory, maxMemory and policy; what one leaves out it takes from the top
// level. They run after the top-level matrix; repeat groups may come from any of them.
//
// The cache workload's keys are always zipfian (theta 0.99): its group names carry no -zipf.
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
import { EVICTION_POLICIES, EVICTION_POLICY_DEFAULT, EvictionPolicy } from "../core/eviction";
import { parseByteSize } from "../core/units";
import { CLIENT_PROCESSES_MAX } from "./client_pool";
import { FailureSpec, failureOutsideWindow, parseDurationMs, parseFailure } from "./failures";
import { parseTargetSpec } from "./target";
import { KeyDistribution, Mix, ValueSize, formatBytesLabel, isCacheWorkload, parseMix, parseValueSize, valueSizeLabel, workloadMix } from "./workload";

/** Most rounds of a repeated group: beyond this, run a longer scenario instead. */
export const REPEAT_TIMES_MAX = 20;

const size = z.union([z.string().min(1), z.number().int().min(1)]);
const workloadEntry = z.union([z.string().min(1), z.strictObject({ name: z.string().min(1), mix: z.string().min(1) })]);
const variantsSchema = z.array(z.strictObject({ name: z.string().min(1), failures: z.array(z.string()), duration: z.string().min(1).optional() }));

/** A further matrix (see "matrices" above): every field but the name is optional. */
const extraMatrixSchema = z.strictObject({
  name: z.string().min(1),
  targets: z.array(z.string().min(1)).min(1).optional(),
  workloads: z.array(workloadEntry).min(1).optional(),
  valueBytes: z.array(z.union([z.string(), z.number().int().min(0)])).min(1).optional(),
  concurrency: z.array(z.number().int().min(1).max(4096)).min(1).optional(),
  ops: z.number().int().min(1).optional(),
  warmupOps: z.number().int().min(0).optional(),
  keys: z.number().int().min(1).optional(),
  distribution: z.enum(["uniform", "zipfian"]).optional(),
  seed: z.number().int().optional(),
  duration: z.string().min(1).optional(),
  variants: variantsSchema.optional(),
  totalMemory: size.optional(),
  maxMemory: size.optional(),
  policy: z.string().min(1).optional(),
});

const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().default(""),
  targets: z.array(z.string().min(1)).min(1),
  workloads: z.array(workloadEntry).min(1),
  valueBytes: z.array(z.union([z.string(), z.number().int().min(0)])).min(1),
  concurrency: z.array(z.number().int().min(1).max(4096)).min(1),
  ops: z.number().int().min(1),
  warmupOps: z.number().int().min(0).default(0),
  keys: z.number().int().min(1),
  distribution: z.enum(["uniform", "zipfian"]).default("uniform"),
  seed: z.number().int().default(1),
  /** Measured phase length ("15s") for variants without their own; absent: `ops` operations. */
  duration: z.string().min(1).optional(),
  variants: variantsSchema.default([{ name: "steady", failures: [] }]),
  memory: z.strictObject({ samplers: z.string().default("auto"), periodMs: z.number().int().min(50).default(500) }).default({ samplers: "auto", periodMs: 500 }),
  settleMs: z.number().int().min(0).default(2_000),
  /** Bucket of the throughput/latency timeline. */
  timelineMs: z.number().int().min(10).default(1_000),
  repeat: z
    .strictObject({ groups: z.array(z.string().min(1)).min(1), times: z.number().int().min(2).max(REPEAT_TIMES_MAX) })
    .optional(),
  totalMemory: size.optional(),
  maxMemory: size.optional(),
  policy: z.string().min(1).optional(),
  /** Processes the workers run in (0: the bench process). */
  clientProcesses: z.number().int().min(0).max(CLIENT_PROCESSES_MAX).default(0),
  matrices: z.array(extraMatrixSchema).default([]),
});

export type ScenarioFile = z.infer<typeof scenarioSchema>;

export interface WorkloadChoice {
  name: string;
  mix: Mix;
  /** The cache workload: a read that finds nothing is followed by a set of the key. */
  fillOnMiss?: boolean;
}

/** The nodes' memory budget of a matrix: equal total memory per target, or one budget per node. */
export interface BudgetSpec {
  /** The cluster's total: each node gets totalBytes ÷ the target's node count. */
  totalBytes: number | null;
  /** Every node's budget (when totalBytes is null). */
  nodeBytes: number | null;
  policy: EvictionPolicy;
}

/**
 * A budget from its three settings (flags or scenario fields); null when none is set.
 * Throws a usage error for both sizes at once, a policy without a size, or an unknown policy.
 */
export function parseBudget(total: string | number | undefined, perNode: string | number | undefined, policy: string | undefined, names = { total: "totalMemory", perNode: "maxMemory", policy: "policy" }): BudgetSpec | null {
  if (total !== undefined && perNode !== undefined) throw new InvalidArgumentError(`${names.total} and ${names.perNode} are two ways to set one budget: give one of them`);
  if (policy !== undefined && !(EVICTION_POLICIES as readonly string[]).includes(policy)) {
    throw new InvalidArgumentError(`${names.policy}: '${policy}' is not an eviction policy (${EVICTION_POLICIES.join(", ")})`);
  }
  if (total === undefined && perNode === undefined) {
    if (policy !== undefined) throw new InvalidArgumentError(`${names.policy} needs a memory budget (${names.total} or ${names.perNode})`);
    return null;
  }
  const bytes = (text: string | number, what: string): number => {
    const value = parseByteSize(text, what);
    if (value < 1) throw new InvalidArgumentError(`${what}: a memory budget must be above 0`);
    return value;
  };
  return {
    totalBytes: total === undefined ? null : bytes(total, names.total),
    nodeBytes: perNode === undefined ? null : bytes(perNode, names.perNode),
    policy: (policy ?? EVICTION_POLICY_DEFAULT) as EvictionPolicy,
  };
}

/** "-total30MiB", "-node10MiB-noeviction": the budget's part of a group name. */
export function budgetLabel(budget: BudgetSpec | null): string {
  if (budget === null) return "";
  const size = budget.totalBytes !== null ? `total${formatBytesLabel(budget.totalBytes)}` : `node${formatBytesLabel(budget.nodeBytes!)}`;
  return `-${size}${budget.policy === EVICTION_POLICY_DEFAULT ? "" : `-${budget.policy}`}`;
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
  /** The nodes' memory budget; null: none (the nodes' own default). */
  budget: BudgetSpec | null;
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
  /** The nodes' memory budget of every run; absent or null: none. */
  budget?: BudgetSpec | null;
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
  return expandMatrices([input], input.repeat);
}

/** The runs of several matrices, one after the other; `repeat` names groups of any of them. */
export function expandMatrices(inputs: MatrixInput[], repeat: RepeatSpec): RunPlan[] {
  const { times } = repeat;
  assert(Number.isInteger(times) && times >= 1, `repeat times ${times} is not a whole number >= 1`);
  assert(times <= REPEAT_TIMES_MAX, `repeat times ${times} is above ${REPEAT_TIMES_MAX}`);
  const cells = inputs.flatMap(matrixCells);
  const groups = cells.map((cell) => cell.group);
  const repeated = new Set(repeat.groups === "all" ? groups : repeat.groups);
  const unknown = [...repeated].filter((group) => !groups.includes(group));
  if (unknown.length > 0) {
    throw new UnknownRepeatGroupError(`repeat: ${unknown.map((group) => `'${group}'`).join(", ")} ${unknown.length === 1 ? "is not a group" : "are not groups"} of this matrix; its groups are ${[...new Set(groups)].join(", ")}`);
  }
  const runs: RunPlan[] = [];
  for (const { group, variant, workload, valueSize, concurrency, input } of cells) {
    const rounds = repeated.has(group) ? times : 1;
    for (let round = 1; round <= rounds; round++) {
      for (const targetSpec of input.targets) {
        const { kind, params } = parseTargetSpec(targetSpec);
        runs.push({
          name: runName(targetSpec, group, round),
          group,
          variant: variant.name,
          targetSpec,
          kind,
          params,
          workload,
          valueSize,
          keyCount: input.keyCount,
          // The cache workload is zipfian by definition (a cache is worth having for skewed reads).
          distribution: workload.fillOnMiss === true ? "zipfian" : input.distribution,
          ops: input.ops,
          durationMs: variant.durationMs ?? null,
          warmupOps: input.warmupOps,
          concurrency,
          seed: input.seed,
          failures: variant.failures,
          repeat: round,
          budget: input.budget ?? null,
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
          ? `target '${run.targetSpec}' is listed twice (to run it several times, use repeat / --repeat; two matrices must not share a group)`
          : `targets '${earlier.targetSpec}' and '${run.targetSpec}' are the same target (run name ${run.name})`,
      );
    }
    seen.set(run.name, run);
  }
  return runs;
}

interface MatrixCell {
  group: string;
  variant: MatrixInput["variants"][number];
  workload: WorkloadChoice;
  valueSize: ValueSize;
  concurrency: number;
  input: MatrixInput;
}

function matrixCells(input: MatrixInput): MatrixCell[] {
  for (const variant of input.variants) {
    const durationMs = variant.durationMs ?? null;
    if (durationMs === null) continue;
    if (!(durationMs > 0)) throw new InvalidArgumentError(`variant ${variant.name}: the measured phase's duration must be above 0`);
    for (const failure of variant.failures) {
      const problem = failureOutsideWindow(failure, durationMs);
      if (problem !== null) throw new InvalidArgumentError(`variant ${variant.name}: ${problem}`);
    }
  }
  const cells: MatrixCell[] = [];
  for (const variant of input.variants) {
    for (const workload of input.workloads) {
      for (const valueSize of input.valueSizes) {
        for (const concurrency of input.concurrencies) {
          const variantSuffix = variant.failures.length === 0 && input.variants.length === 1 ? "" : `-${variant.name}`;
          const zipf = input.distribution === "zipfian" && workload.fillOnMiss !== true ? "-zipf" : "";
          const group = `${workload.name}-${valueSizeLabel(valueSize)}-c${concurrency}${zipf}${budgetLabel(input.budget ?? null)}${variantSuffix}`;
          cells.push({ group, variant, workload, valueSize, concurrency, input });
        }
      }
    }
  }
  return cells;
}

export function parseWorkloadChoice(entry: string | { name: string; mix: string }): WorkloadChoice {
  if (typeof entry === "string") {
    if (isCacheWorkload(entry)) return { name: "cache", mix: workloadMix(entry), fillOnMiss: true };
    return { name: entry.trim().toUpperCase(), mix: workloadMix(entry) };
  }
  return { name: entry.name, mix: parseMix(entry.mix) };
}

export interface LoadedScenario {
  file: ScenarioFile;
  path: string;
  /** The top-level matrix. */
  matrix: MatrixInput;
  /** The top-level matrix, then each of `matrices` (what it leaves out taken from the top level). */
  matrices: MatrixInput[];
}

export function parseScenario(data: unknown, source: string): LoadedScenario {
  const parsed = scenarioSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(top level)"}: ${issue.message}`);
    throw new InvalidArgumentError(`scenario ${source}:\n  ${problems.join("\n  ")}`);
  }
  const file = parsed.data;
  const repeat: RepeatSpec = file.repeat === undefined ? REPEAT_NONE : { groups: file.repeat.groups, times: file.repeat.times };
  const toMatrix = (entry: Partial<z.infer<typeof extraMatrixSchema>>, where: string): MatrixInput => {
    const duration = entry.duration ?? file.duration;
    const targets = entry.targets ?? file.targets;
    for (const target of targets) parseTargetSpec(target);
    // A matrix with a budget of its own does not inherit the top level's (total or per node).
    const own = entry.totalMemory !== undefined || entry.maxMemory !== undefined;
    const budget = parseBudget(own ? entry.totalMemory : file.totalMemory, own ? entry.maxMemory : file.maxMemory, entry.policy ?? file.policy, {
      total: `${where}totalMemory`,
      perNode: `${where}maxMemory`,
      policy: `${where}policy`,
    });
    return {
      targets,
      workloads: (entry.workloads ?? file.workloads).map(parseWorkloadChoice),
      valueSizes: (entry.valueBytes ?? file.valueBytes).map((value) => parseValueSize(String(value))),
      concurrencies: entry.concurrency ?? file.concurrency,
      variants: (entry.variants ?? file.variants).map((variant) => {
        const length = variant.duration ?? duration;
        return { name: variant.name, failures: variant.failures.map(parseFailure), durationMs: length === undefined ? null : parseDurationMs(length) };
      }),
      keyCount: entry.keys ?? file.keys,
      distribution: entry.distribution ?? file.distribution,
      ops: entry.ops ?? file.ops,
      warmupOps: entry.warmupOps ?? file.warmupOps,
      seed: entry.seed ?? file.seed,
      repeat,
      budget,
    };
  };
  try {
    const matrix = toMatrix({}, "");
    const matrices = [matrix, ...file.matrices.map((entry) => toMatrix(entry, `matrices.${entry.name}.`))];
    expandMatrices(matrices, repeat); // checks the repeat groups and the run names across the matrices
    return { file, path: source, matrix, matrices };
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
