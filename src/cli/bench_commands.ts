// `ecc-cache bench`: the comparison runner. Drives ecc, raft, etcd and redis with YCSB-style
// workloads, injects failures, samples memory per node, and writes one JSON result file per
// invocation (schema ecc-cache.bench/4, src/bench/results.ts). Its summary is in main.ts.
// Starts and stops the clusters it measures unless given a running one (--servers).
// Parsing and output only; the work is in src/bench.
import path from "node:path";
import { Command, Option } from "commander";
import { InvalidArgumentError } from "../core/errors";
import { BenchOptions, executeBench, parseSamplerList, removeWorkDirsSync } from "../bench/bench";
import { FailureSpec, failureLabel, parseDurationMs, parseFailure } from "../bench/failures";
import { killLocalNodesSync, liveNodeCount } from "../bench/local_cluster";
import { cleanupAllCgroupsSync } from "../bench/memory/cgroup";
import { DOCKER_SOCKET_DEFAULT } from "../bench/memory/docker";
import { knownTargetKinds, lookupTarget } from "../bench/registry";
import { BenchRun, writeResults } from "../bench/results";
import { CLIENT_PROCESSES_MAX, splitConcurrency } from "../bench/client_pool";
import {
  REPEAT_NONE,
  REPEAT_TIMES_MAX,
  RepeatSpec,
  RunPlan,
  UnknownRepeatGroupError,
  WorkloadChoice,
  expandMatrices,
  expandMatrix,
  loadScenario,
  parseBudget,
  parseWorkloadChoice,
} from "../bench/scenario";
import { parseTargetSpec } from "../bench/target";
import { KeyDistribution, parseMix, parseValueSize } from "../bench/workload";
import { formatBytes, formatCpuPerOp, formatGenerator, formatRatio, formatUs, summarizeRun } from "../report/analysis";
import { EXIT_UNAVAILABLE } from "./exit_codes";

interface BenchFlags {
  scenario?: string;
  only?: string;
  target: string[];
  workloads: string;
  mix?: string;
  ops: string;
  duration?: string;
  warmupOps?: string;
  keys: string;
  valueBytes: string;
  distribution: KeyDistribution;
  concurrency: string;
  seed: string;
  repeat: string;
  fail: string[];
  memory: string;
  memoryPeriodMs: string;
  cadvisor?: string;
  netdata?: string;
  containers?: string;
  dockerSocket: string;
  settleMs: string;
  errorBackoffMs: string;
  preloadConcurrency: string;
  timelineMs: string;
  k?: string;
  n?: string;
  blockSize?: string;
  codec?: string;
  servers?: string;
  out?: string;
  report?: string;
  progress: boolean;
  clientProcesses: string;
  totalMemory?: string;
  maxMemory?: string;
  policy?: string;
}

function wholeNumber(text: string, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    const bounds = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new InvalidArgumentError(`${flag}: '${text}' is not a whole number ${bounds}`);
  }
  return value;
}

function positiveDuration(text: string): number {
  const ms = parseDurationMs(text);
  if (ms <= 0) throw new InvalidArgumentError(`--duration: '${text}' is not above 0`);
  return ms;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseContainers(text: string | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  if (text === undefined) return map;
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new InvalidArgumentError(`--containers: '${part}' is not NODE=CONTAINER`);
    map[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return map;
}

/** --k/--n/--block-size/--codec are the ecc defaults of the first bench: they fill in ecc targets' params. */
function withEccDefaults(spec: string, flags: BenchFlags): string {
  const { kind, params } = parseTargetSpec(spec);
  if (kind !== "ecc") return spec;
  const extra: string[] = [];
  if (flags.k !== undefined && params.k === undefined) extra.push(`k=${flags.k}`);
  if (flags.n !== undefined && params.n === undefined) extra.push(`n=${flags.n}`);
  if (flags.blockSize !== undefined && params.block === undefined) extra.push(`block=${flags.blockSize}`);
  if (flags.codec !== undefined && params.codec === undefined) extra.push(`codec=${flags.codec}`);
  if (extra.length === 0) return spec;
  return spec.includes(":") ? `${spec},${extra.join(",")}` : `${spec}:${extra.join(",")}`;
}

interface Plan {
  runs: RunPlan[];
  scenario: BenchOptions["scenario"];
  settleMs: number;
  memory: string;
  periodMs: number;
  timelineMs: number;
  seed: number;
  clientProcesses: number;
}

function planFromFlags(flags: BenchFlags, command: Command): Plan {
  const fromCli = (name: string): boolean => command.getOptionValueSource(name) === "cli";
  const settleFlag = wholeNumber(flags.settleMs, "--settle-ms");
  const periodFlag = wholeNumber(flags.memoryPeriodMs, "--memory-period-ms", 50);
  const timelineFlag = wholeNumber(flags.timelineMs, "--timeline-ms", 10);
  const repeatFlag = wholeNumber(flags.repeat, "--repeat", 1, REPEAT_TIMES_MAX);
  const durationFlag = flags.duration === undefined ? null : positiveDuration(flags.duration);
  const clientProcessesFlag = wholeNumber(flags.clientProcesses, "--client-processes", 0, CLIENT_PROCESSES_MAX);
  if (flags.scenario !== undefined) {
    for (const name of ["target", "workloads", "mix", "valueBytes", "fail", "distribution", "servers", "totalMemory", "maxMemory", "policy"]) {
      if (fromCli(name)) throw new InvalidArgumentError(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} cannot be combined with --scenario (the scenario defines it)`);
    }
    const scenario = loadScenario(flags.scenario);
    // Every matrix of the scenario takes the same overrides.
    const matrices = scenario.matrices.map((original) => {
      const matrix = { ...original };
      // Sizes may be scaled down from the command line (a quick pass over a big scenario).
      if (fromCli("ops")) matrix.ops = wholeNumber(flags.ops, "--ops", 1);
      // --duration makes every variant's measured phase time-based (the scenario's own durations included).
      if (durationFlag !== null) matrix.variants = matrix.variants.map((variant) => ({ ...variant, durationMs: durationFlag }));
      if (flags.warmupOps !== undefined) matrix.warmupOps = wholeNumber(flags.warmupOps, "--warmup-ops");
      if (fromCli("keys")) matrix.keyCount = wholeNumber(flags.keys, "--keys", 1);
      if (fromCli("seed")) matrix.seed = wholeNumber(flags.seed, "--seed");
      if (fromCli("concurrency")) matrix.concurrencies = flags.concurrency.split(",").map((c) => wholeNumber(c, "--concurrency", 1));
      matrix.targets = matrix.targets.map((spec) => withEccDefaults(spec, flags));
      return matrix;
    });
    // --repeat sets the rounds of the scenario's repeat groups, or of every group when it
    // lists none; --repeat 1 turns the scenario's repeats off.
    const repeat: RepeatSpec = fromCli("repeat") ? (repeatFlag === 1 ? REPEAT_NONE : { groups: scenario.file.repeat?.groups ?? "all", times: repeatFlag }) : scenario.matrix.repeat;
    let runs: RunPlan[];
    try {
      runs = expandMatrices(matrices, repeat);
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      // --concurrency renames the groups, so the scenario's repeat groups may be gone.
      const hint = error instanceof UnknownRepeatGroupError && fromCli("concurrency") ? " (--concurrency changes the group names; --repeat 1 runs each group once)" : "";
      throw new InvalidArgumentError(`scenario ${flags.scenario}: ${error.message}${hint}`, { cause: error });
    }
    return {
      runs,
      scenario: { name: scenario.file.name, file: path.basename(flags.scenario), description: scenario.file.description },
      settleMs: fromCli("settleMs") ? settleFlag : scenario.file.settleMs,
      memory: fromCli("memory") ? flags.memory : scenario.file.memory.samplers,
      periodMs: fromCli("memoryPeriodMs") ? periodFlag : scenario.file.memory.periodMs,
      timelineMs: fromCli("timelineMs") ? timelineFlag : scenario.file.timelineMs,
      seed: matrices[0].seed,
      clientProcesses: fromCli("clientProcesses") ? clientProcessesFlag : scenario.file.clientProcesses,
    };
  }
  const ops = wholeNumber(flags.ops, "--ops", 1);
  const seed = wholeNumber(flags.seed, "--seed");
  const workloads: WorkloadChoice[] = flags.mix !== undefined ? [{ name: "custom", mix: parseMix(flags.mix) }] : flags.workloads.split(",").map(parseWorkloadChoice);
  const budget = parseBudget(flags.totalMemory, flags.maxMemory, flags.policy, { total: "--total-memory", perNode: "--max-memory", policy: "--policy" });
  const failures: FailureSpec[] = flags.fail.map(parseFailure);
  const targets = (flags.target.length > 0 ? flags.target : ["ecc"]).map((spec) => withEccDefaults(spec, flags));
  return {
    runs: expandMatrix({
      targets,
      workloads,
      valueSizes: flags.valueBytes.split(",").map(parseValueSize),
      concurrencies: flags.concurrency.split(",").map((c) => wholeNumber(c, "--concurrency", 1)),
      variants: [{ name: failures.length === 0 ? "steady" : failureLabel(failures), failures, durationMs: durationFlag }],
      keyCount: wholeNumber(flags.keys, "--keys", 1),
      distribution: flags.distribution,
      ops,
      warmupOps: flags.warmupOps !== undefined ? wholeNumber(flags.warmupOps, "--warmup-ops") : Math.min(1_000, Math.floor(ops / 10)),
      seed,
      repeat: { groups: "all", times: repeatFlag },
      budget,
    }),
    scenario: null,
    settleMs: settleFlag,
    memory: flags.memory,
    periodMs: periodFlag,
    timelineMs: timelineFlag,
    seed,
    clientProcesses: clientProcessesFlag,
  };
}

/** Usage errors of --client-processes for these runs, before anything starts. */
function checkClientProcesses(runs: RunPlan[], processes: number): void {
  if (processes === 0) return;
  for (const run of runs) {
    splitConcurrency(run.concurrency, processes);
    const byOp = run.failures.filter((failure) => "op" in failure.at);
    if (byOp.length > 0) throw new InvalidArgumentError(`--client-processes: failures at op=N (${byOp.map((f) => f.text).join(", ")}) need the workers in the bench process; use t=DURATION`);
  }
}

function runLine(run: BenchRun): string {
  if (run.status !== "ok") return `${run.name}: ${run.status}: ${run.reason ?? ""}`;
  const row = summarizeRun(run);
  return (
    `${run.name.padEnd(34)} ${String(row.opsPerSecond).padStart(7)} ops/s` +
    `  p50 ${formatUs(row.p50Us)} p99 ${formatUs(row.p99Us)}` +
    (row.readP50Us !== null ? `  read p50/p99 ${formatUs(row.readP50Us)}/${formatUs(row.readP99Us)}` : "") +
    (row.writeP50Us !== null ? `  write p50/p99 ${formatUs(row.writeP50Us)}/${formatUs(row.writeP99Us)}` : "") +
    `  errors ${row.errors}` +
    (row.hitRatio !== null ? `  hit ratio ${row.hitRatio.toFixed(3)}` : "") +
    `  cpu/op ${formatCpuPerOp(row)}  generator ${formatGenerator(row)}` +
    `  mem Δ ${formatBytes(row.memoryDeltaBytes)}${row.memoryPartial ? " (partial)" : ""} [${row.sampler ?? "none"}]` +
    ` = ${formatRatio(row.overheadRatio)} payload ${formatBytes(row.payloadBytes)} (ideal ${formatRatio(row.idealOverhead)})`
  );
}

export function benchCommand(): Command {
  const command = new Command("bench");
  return command
    .option("--scenario <file>", "run a scenario file (bench/*.json): a matrix of targets, workloads, sizes, concurrencies, failure variants")
    .option("--only <patterns>", "run only runs whose name contains one of these comma-separated texts (rounds after the first of a repeated run end in -r2, -r3, ...)")
    .option("--target <spec>", `system under test, repeatable: ${knownTargetKinds().join(", ")}; parameters after ':' e.g. ecc:n=3,k=2  etcd:nodes=3  redis:replicas=2,wait=1`, collect, [])
    .option("--workloads <list>", "comma list of A (50/50 read/update), B (95/5), C (inserts), S (100% update), cache (zipfian reads, a set after each miss, cold start)", "B,S")
    .option("--mix <shares>", "custom mix instead of --workloads, e.g. read=0.7,update=0.2,delete=0.1")
    .option("--ops <count>", "measured operations per run", "10000")
    .option("--duration <time>", "measure for this long instead of --ops operations (e.g. 15s); a failure run needs it so the restart and the recovery fall inside the measured phase")
    .option("--warmup-ops <count>", "operations before measuring (default: 10% of --ops, at most 1000)")
    .option("--keys <count>", "keys preloaded and addressed (key0...)", "10000")
    .option("--value-bytes <list>", "comma list of value sizes: bytes (1024, 1KiB) or uniform:MIN-MAX", "1024")
    .addOption(new Option("--distribution <name>", "key distribution").choices(["uniform", "zipfian"]).default("uniform"))
    .option("--concurrency <list>", "comma list of client concurrencies", "1,64")
    .option("--seed <n>", "workload seed (same seed, same operation sequence)", "1")
    .option(
      "--repeat <times>",
      `run every run this many times (1 to ${REPEAT_TIMES_MAX}), in interleaved rounds over the targets; with --scenario: the rounds of its repeat groups (every group if it lists none; 1 turns its repeats off)`,
      "1",
    )
    .option("--fail <spec>", "failure, repeatable: ACTION:NODE@op=N|t=DURATION[+DURATION], ACTION kill|stop|pause|resume|restart, e.g. kill:node1@op=5000, pause:node2@t=3s+2s", collect, [])
    .option("--memory <samplers>", "memory samplers: auto, none, or a list of cgroup,proc,smaps,docker,cadvisor,netdata,reported", "auto")
    .option("--memory-period-ms <ms>", "memory sampling period", "500")
    .option("--cadvisor <url>", "cAdvisor REST endpoint to read container memory from (with --containers)")
    .option("--netdata <url>", "Netdata agent to read each node's cgroup memory chart from (with --memory netdata; as root)", "http://127.0.0.1:19999")
    .option("--containers <map>", "node to container mapping for docker/cadvisor sampling: node0=ID,node1=ID")
    .option("--docker-socket <path>", "Docker engine socket", DOCKER_SOCKET_DEFAULT)
    .option("--settle-ms <ms>", "wait after the cluster starts and after the load, before each memory snapshot (half before the nodes collect garbage, half after, for the allocators to return freed pages)", "2000")
    .option("--error-backoff-ms <ms>", "a worker's pause after a failed operation", "10")
    .option("--preload-concurrency <n>", "concurrency of the preload", "64")
    .option("--timeline-ms <ms>", "bucket of the throughput/latency timeline", "1000")
    .option("--k <count>", "ecc data shards (default for ecc targets without k=)")
    .option("--n <count>", "ecc total shards (default for ecc targets without n=)")
    .option("--block-size <bytes>", "ecc shard bytes per stripe")
    .addOption(new Option("--codec <backend>", "ecc codec").choices(["auto", "wasm", "table"]))
    .option("--servers <list>", "use a running cluster at these addresses instead of starting one (one target only)")
    .option("--out <file>", "result JSON path (default results/bench-<time>.json)")
    .option("--report <dir>", "also render the report into this directory")
    .option("--client-processes <n>", `run the workers in this many processes (0 to ${CLIENT_PROCESSES_MAX}; 0: in the bench process), each with its share of the concurrency, so the load generator is not what limits a fast target`, "0")
    .option("--total-memory <size>", "give every target the same memory: each node gets SIZE ÷ the target's node count (e.g. 30MiB); targets without a budget (etcd) are skipped")
    .option("--max-memory <size>", "memory budget of every node of every target (e.g. 10MiB); instead of --total-memory")
    .option("--policy <name>", "eviction policy with a budget, Redis's names: allkeys-lru (default), allkeys-lfu, allkeys-random, noeviction, volatile-*")
    .option("--no-progress", "no live progress bar (it is shown only when stderr is a terminal anyway)")
    .action(async (flags: BenchFlags) => {
      const plan = planFromFlags(flags, command);
      let runs = plan.runs;
      if (flags.only !== undefined) {
        const patterns = flags.only.split(",").map((p) => p.trim()).filter((p) => p !== "");
        runs = runs.filter((run) => patterns.some((pattern) => run.name.includes(pattern)));
        if (runs.length === 0) throw new InvalidArgumentError(`--only ${flags.only}: no run matches (runs: ${plan.runs.map((r) => r.name).slice(0, 10).join(", ")}...)`);
      }
      for (const run of runs) {
        const lookup = lookupTarget(run.kind);
        if ("target" in lookup) lookup.target.validate(run.params);
        else if (lookup.missing.startsWith("unknown target")) throw new InvalidArgumentError(lookup.missing);
      }
      parseSamplerList(plan.memory);
      checkClientProcesses(runs, plan.clientProcesses);
      const servers = flags.servers === undefined ? null : flags.servers.split(",").map((s) => s.trim());
      if (servers !== null && new Set(runs.map((run) => run.targetSpec)).size > 1) {
        throw new InvalidArgumentError("--servers attaches to one running cluster: give exactly one --target");
      }
      const startedAt = new Date();
      const out = flags.out ?? path.join("results", `bench-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);

      // Ctrl-C: the first stops issuing operations and cleans up (results are still written);
      // the second kills every node process at once and exits.
      let interruptedFlag = false;
      const onSignal = (signal: NodeJS.Signals): void => {
        if (!interruptedFlag) {
          interruptedFlag = true;
          process.stderr.write(`\nbench: ${signal}: finishing the current run's cleanup (again to abort at once)\n`);
          return;
        }
        const killed = killLocalNodesSync();
        const leftovers = cleanupAllCgroupsSync();
        removeWorkDirsSync();
        process.stderr.write(
          `bench: killed ${killed} node processes, removed their data directories` +
            (leftovers.length > 0 ? `; cgroups not removed: ${leftovers.join(", ")}` : "") +
            "\n",
        );
        process.exit(130);
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      let results;
      try {
        results = await executeBench(
          {
            runs,
            argv: process.argv.slice(2),
            seed: plan.seed,
            scenario: plan.scenario,
            memory: {
              samplers: plan.memory,
              periodMs: plan.periodMs,
              cadvisor: flags.cadvisor ?? null,
              netdata: (plan.memory.split(",").map((kind) => kind.trim()).includes("netdata") ? flags.netdata : null) ?? null,
              containers: parseContainers(flags.containers),
              dockerSocket: flags.dockerSocket,
            },
            settleMs: plan.settleMs,
            errorBackoffMs: wholeNumber(flags.errorBackoffMs, "--error-backoff-ms"),
            preloadConcurrency: wholeNumber(flags.preloadConcurrency, "--preload-concurrency", 1),
            timelineBucketMs: plan.timelineMs,
            servers,
            clientProcesses: plan.clientProcesses,
            progress: flags.progress,
            log: (line) => process.stderr.write(`${line}\n`),
            onRunDone: (run) => process.stdout.write(`${runLine(run)}\n`),
          },
          () => interruptedFlag,
        );
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        if (liveNodeCount() > 0) killLocalNodesSync(); // nothing may outlive the bench
      }
      writeResults(out, results);
      process.stderr.write(`bench: results written to ${out}\n`);
      if (flags.report !== undefined) {
        const { writeReport } = await import("../report/report");
        const report = await writeReport([{ file: out, results }], flags.report);
        process.stderr.write(`bench: report written to ${report.markdownPath} (${report.charts.length} charts)\n`);
      }
      if (interruptedFlag) process.exitCode = 130;
      else if (results.runs.some((run) => run.status === "failed")) process.exitCode = EXIT_UNAVAILABLE;
    });
}
