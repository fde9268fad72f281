// Runs a list of planned runs and builds the result document (results.ts).
//
// Each run gets a fresh cluster (or the given running one): start → settle → "before"
// memory snapshot → preload (none under the cache workload: the cache starts cold) →
// warm-up → measured operations with the failure schedule → settle → "after" snapshot →
// stop. A run with a memory budget starts its nodes with it (per node: the budget, or the
// total ÷ the target's node count). The load comes from workers in this process or in
// client processes (client_pool.ts); the CPU time of every process (nodes, client
// processes, this one) is read over the measured phase (cpu.ts). Memory and logical bytes
// are sampled throughout, and a node restarted by the failure schedule is read as soon as
// its new process is ready (that process's baseline; a node that is down is never read: its
// cgroup holds only what the kernel still charges to it, not a process's memory). A run
// whose target cannot run here is "skipped" with the reason; a run that breaks is "failed"
// with the reason; neither stops the others. Whatever happens, every node process, cgroup
// and temporary directory the run created is removed before the next run starts.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { InvalidArgumentError, errorMessage } from "../core/errors";
import { freeLoopbackPorts } from "../core/ports";
import { EventLog } from "./events";
import { binaryVersion } from "./etcd_target";
import { sleep } from "../core/env";
import { ProcessLauncher } from "./local_cluster";
import { NodeCgroups, detectLocalCgroupLayout, CgroupLayout } from "./memory/cgroup";
import { fetchCadvisorMemory } from "./memory/cadvisor";
import { fetchNetdataMemory, netdataCgroupChartId } from "./memory/netdata";
import { DOCKER_SOCKET_DEFAULT, fetchDockerStats, parseDockerMemory } from "./memory/docker";
import { readProcStatus, readSmapsRollup } from "./memory/proc";
import { MemoryRecorder, MemorySnapshot, MemorySource, SAMPLER_KINDS, SamplerKind, primarySampler } from "./memory/recorder";
import { ProgressDisplay } from "./progress";
import { TargetLookup, lookupTarget } from "./registry";
import { BENCH_SCHEMA, BenchResults, BenchRun, NodeSnapshotRecord, RunBudget } from "./results";
import { MeasuredResult, preload, runMeasured } from "./runner";
import { RunPlan } from "./scenario";
import { BenchClient, BenchTarget, ClusterHandle, NodeBudget, TargetParams, budgetParams } from "./target";
import { ClientPool, splitConcurrency } from "./client_pool";
import { ClientProcessConfig } from "./client_process";
import { CpuMeter, MeteredProcess } from "./cpu";
import { LivePayload, ValuePool, WorkloadSpec, valueSizeMax, valueSizeText } from "./workload";

export interface MemoryOptions {
  /** "auto", "none", or a comma list of sampler kinds. */
  samplers: string;
  periodMs: number;
  cadvisor: string | null;
  /** Netdata agent's base URL (--netdata); its cgroups charts of the nodes' cgroups. */
  netdata?: string | null;
  /** node name → container id/name (docker, cAdvisor). */
  containers: Record<string, string>;
  dockerSocket: string;
}

export interface BenchOptions {
  runs: RunPlan[];
  argv: string[];
  seed: number;
  scenario: { name: string; file: string; description: string } | null;
  memory: MemoryOptions;
  settleMs: number;
  errorBackoffMs: number;
  preloadConcurrency: number;
  timelineBucketMs: number;
  /** Attach to a running cluster instead of starting one (single-target runs only). */
  servers: string[] | null;
  /** Processes the workers run in; 0 (default): in this process. */
  clientProcesses?: number;
  progress: boolean;
  log(line: string): void;
  /** One summary line per finished run (stdout). */
  onRunDone?(run: BenchRun): void;
  /** Where targets come from (tests inject in-process fakes); default: registry.ts. */
  lookup?(kind: string): TargetLookup;
}

/** Parses and checks --memory: which samplers to use (null = automatic). */
export function parseSamplerList(text: string): SamplerKind[] | null {
  const trimmed = text.trim();
  if (trimmed === "auto") return null;
  if (trimmed === "none") return [];
  const kinds = trimmed.split(",").map((kind) => kind.trim());
  for (const kind of kinds) {
    if (!(SAMPLER_KINDS as readonly string[]).includes(kind)) {
      throw new InvalidArgumentError(`--memory: unknown sampler '${kind}' (auto, none, or a list of ${SAMPLER_KINDS.join(", ")})`);
    }
  }
  return kinds as SamplerKind[];
}

export function gitCommit(): { id: string; dirty: boolean | null } {
  const cwd = path.resolve(__dirname, "..", "..", "..");
  try {
    const id = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    let dirty: boolean | null = null;
    try {
      dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd, stdio: ["ignore", "pipe", "ignore"] }).toString().trim() !== "";
    } catch {
      dirty = null;
    }
    return { id, dirty };
  } catch {
    return { id: "unknown", dirty: null }; // not a git checkout (a container image, a tarball)
  }
}

function environment(layout: CgroupLayout | null, kinds: Set<string>): BenchResults["environment"] {
  const tools: Record<string, string> = {};
  if (kinds.has("etcd")) tools.etcd = binaryVersion("etcd", ["--version"], /etcd Version:\s*(\S+)/) ?? "not found";
  if (kinds.has("redis")) tools["redis-server"] = binaryVersion("redis-server", ["--version"], /v=(\S+)/) ?? "not found";
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    kernel: os.release(),
    arch: os.arch(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "",
    memoryBytes: os.totalmem(),
    root: typeof process.getuid === "function" && process.getuid() === 0,
    cgroup: layout === null ? "none" : `${layout.version} at ${layout.mount}, bench in ${layout.ownPath}`,
    loadAverage: os.loadavg().map((value) => Math.round(value * 100) / 100),
    tools,
  };
}

function toNodeRecord(node: MemorySnapshot["nodes"][string]): NodeSnapshotRecord {
  const memory: Record<string, number> = {};
  for (const [kind, bytes] of Object.entries(node.memory)) if (typeof bytes === "number") memory[kind] = bytes;
  const detail: Record<string, Record<string, number>> = {};
  for (const [kind, values] of Object.entries(node.detail)) if (values !== undefined) detail[kind] = values;
  return { memory, detail, logicalBytes: node.logicalBytes, keyCount: node.keyCount, stats: node.stats };
}

function toSnapshotRecord(snapshot: MemorySnapshot | null): { label: string; tMs: number; nodes: Record<string, NodeSnapshotRecord> } | null {
  if (snapshot === null) return null;
  const nodes: Record<string, NodeSnapshotRecord> = {};
  for (const [name, node] of Object.entries(snapshot.nodes)) nodes[name] = toNodeRecord(node);
  return { label: snapshot.label, tMs: snapshot.tMs, nodes };
}

interface SamplerSetup {
  sources: MemorySource[];
  reported: boolean;
  notes: string[];
}

function memorySources(handle: ClusterHandle, wanted: SamplerKind[] | null, cgroups: NodeCgroups | null, options: MemoryOptions): SamplerSetup {
  const automatic = wanted === null;
  const want = (kind: SamplerKind): boolean => automatic || wanted!.includes(kind);
  const notes: string[] = [];
  const sources: MemorySource[] = [];
  const pidOf = (name: string): number | null => handle.nodes().find((node) => node.name === name)?.pid ?? null;
  const local = !handle.attached;
  const dockerReachable = fs.existsSync(options.dockerSocket);
  const running = (name: string): boolean => handle.nodes().find((node) => node.name === name)?.running ?? false;
  for (const node of handle.nodes()) {
    const name = node.name;
    if (want("cgroup") && cgroups !== null) {
      sources.push({
        node: name,
        sampler: "cgroup",
        read: async () => {
          if (!running(name)) return null;
          const memory = await cgroups.read(name);
          if (memory === null) return null;
          const detail: Record<string, number> = { usageBytes: memory.usageBytes, inactiveFileBytes: memory.inactiveFileBytes };
          if (memory.anonBytes !== null) detail.anonBytes = memory.anonBytes;
          if (memory.fileBytes !== null) detail.fileBytes = memory.fileBytes;
          if (memory.kernelBytes !== null) detail.kernelBytes = memory.kernelBytes;
          return { bytes: memory.workingSetBytes, detail };
        },
      });
    }
    if (want("proc") && local) {
      sources.push({
        node: name,
        sampler: "proc",
        read: async () => {
          const pid = pidOf(name);
          const status = pid === null ? null : await readProcStatus(pid);
          if (status === null) return null;
          const detail: Record<string, number> = {};
          if (status.rssAnonBytes !== null) detail.rssAnonBytes = status.rssAnonBytes;
          if (status.rssFileBytes !== null) detail.rssFileBytes = status.rssFileBytes;
          if (status.rssShmemBytes !== null) detail.rssShmemBytes = status.rssShmemBytes;
          return { bytes: status.vmRssBytes, detail };
        },
      });
    }
    if (want("smaps") && !automatic && local) {
      sources.push({
        node: name,
        sampler: "smaps",
        read: async () => {
          const pid = pidOf(name);
          const rollup = pid === null ? null : await readSmapsRollup(pid);
          return rollup === null ? null : { bytes: rollup.pssBytes, detail: { rssBytes: rollup.rssBytes, privateBytes: rollup.privateBytes } };
        },
      });
    }
    const netdata = options.netdata ?? null;
    if (want("netdata") && !automatic && cgroups !== null && netdata !== null) {
      const chart = netdataCgroupChartId(cgroups.layout.mount, cgroups.dir(name));
      sources.push({
        node: name,
        sampler: "netdata",
        read: async () => {
          if (!running(name)) return null;
          const memory = await fetchNetdataMemory(netdata, chart);
          return memory === null ? null : { bytes: memory.workingSetBytes, detail: { swapBytes: memory.swapBytes, timeS: memory.timeS } };
        },
      });
    }
    const container = options.containers[name];
    if (want("docker") && container !== undefined && dockerReachable) {
      sources.push({
        node: name,
        sampler: "docker",
        read: async () => {
          const memory = parseDockerMemory(await fetchDockerStats(container, options.dockerSocket));
          return memory === null ? null : { bytes: memory.workingSetBytes, detail: { usageBytes: memory.usageBytes, inactiveFileBytes: memory.inactiveFileBytes } };
        },
      });
    }
    if (want("cadvisor") && container !== undefined && options.cadvisor !== null) {
      const base = options.cadvisor;
      sources.push({
        node: name,
        sampler: "cadvisor",
        read: async () => {
          const memory = await fetchCadvisorMemory(base, container);
          return memory === null ? null : { bytes: memory.workingSetBytes, detail: { usageBytes: memory.usageBytes } };
        },
      });
    }
  }
  if (!local && (want("proc") || want("smaps")) && !automatic) notes.push("proc/smaps: the cluster was attached, its PIDs are not known here");
  if (want("docker") && !automatic && !dockerReachable) notes.push(`docker: no engine socket at ${options.dockerSocket}`);
  if (want("docker") && !automatic && Object.keys(options.containers).length === 0) notes.push("docker: no --containers mapping of nodes to containers");
  if (want("cadvisor") && !automatic && options.cadvisor === null) notes.push("cadvisor: no --cadvisor URL");
  if (want("netdata") && !automatic && (options.netdata ?? null) === null) notes.push("netdata: no --netdata URL");
  if (want("netdata") && !automatic && cgroups === null) notes.push("netdata: the nodes have no cgroups of their own to chart (needs root and a memory cgroup controller)");
  return { sources, reported: want("reported"), notes };
}

function skeleton(plan: RunPlan, status: BenchRun["status"], reason: string | undefined, label: string): BenchRun {
  const run: BenchRun = {
    name: plan.name,
    group: plan.group,
    variant: plan.variant,
    repeat: plan.repeat,
    status,
    startedAt: new Date().toISOString(),
    target: { kind: plan.kind, label, spec: plan.targetSpec, params: { ...plan.params }, idealOverhead: null, logicalSource: null, attached: false, nodes: [] },
    workload: {
      name: plan.workload.name,
      mix: { ...plan.workload.mix },
      keyCount: plan.keyCount,
      distribution: plan.distribution,
      valueSize: valueSizeText(plan.valueSize),
      ops: plan.durationMs === null ? plan.ops : null,
      durationMs: plan.durationMs,
      warmupOps: plan.warmupOps,
      concurrency: plan.concurrency,
      seed: plan.seed,
      fillOnMiss: plan.workload.fillOnMiss === true,
    },
    failures: plan.failures.map((failure) => ({ text: failure.text, action: failure.action, node: failure.node, at: { ...failure.at }, ...(failure.forMs !== undefined ? { forMs: failure.forMs } : {}) })),
    preload: null,
    measured: null,
    payload: null,
    memory: null,
    cpu: null,
    budget: null,
    events: [],
  };
  if (reason !== undefined) run.reason = reason;
  return run;
}

/**
 * The target params of a run with its budget filled in (a spec's own max_memory / policy
 * stay), and the budget as recorded; a string when the target can hold no budget.
 */
export function budgetedParams(plan: RunPlan, target: BenchTarget): { params: TargetParams; budget: RunBudget | null } | string {
  const budget = plan.budget;
  if (budget === null) return { params: plan.params, budget: null };
  if (target.nodeCount === undefined) return `${target.kind} has no memory budget with eviction: the budget runs leave it out`;
  const nodes = target.nodeCount(plan.params);
  const nodeBytes = budget.nodeBytes ?? Math.floor(budget.totalBytes! / nodes);
  if (nodeBytes < 1) return `a total of ${budget.totalBytes} bytes over ${nodes} nodes leaves no budget per node`;
  const params: TargetParams = { max_memory: String(nodeBytes), policy: budget.policy, ...plan.params };
  let resolved: NodeBudget | null;
  try {
    resolved = budgetParams(target.kind, params);
  } catch (error) {
    return errorMessage(error);
  }
  return { params, budget: { totalBytes: budget.totalBytes, nodeBytes: resolved!.maxMemoryBytes, nodes, policy: resolved!.evictionPolicy } };
}

/** Temporary directories of runs in progress, for the last-resort cleanup at a forced exit. */
const liveWorkDirs = new Set<string>();

/** Removes the temporary directories of runs in progress (after their nodes were killed). */
export function removeWorkDirsSync(): void {
  for (const dir of liveWorkDirs) fs.rmSync(dir, { recursive: true, force: true });
  liveWorkDirs.clear();
}

/** Runs every plan in order; never throws for a run's own failure (it is recorded). */
export async function executeBench(options: BenchOptions, interrupted: () => boolean): Promise<BenchResults> {
  const startedAt = new Date().toISOString();
  const layout = detectLocalCgroupLayout();
  const wanted = parseSamplerList(options.memory.samplers);
  const display = ProgressDisplay.forStderr(options.progress);
  // Taken before any run, so the load average says how busy the machine was without us.
  const machine = environment(layout, new Set(options.runs.map((plan) => plan.kind)));
  // The code that runs is the checkout as it is now: edits made while a long bench runs must
  // not mark (or unmark) its results as coming from a modified tree.
  const commit = gitCommit();
  const runs: BenchRun[] = [];
  for (const [index, plan] of options.runs.entries()) {
    if (interrupted()) {
      runs.push(skeleton(plan, "skipped", "interrupted (Ctrl-C)", plan.targetSpec));
      continue;
    }
    options.log(`bench: [${index + 1}/${options.runs.length}] ${plan.name}`);
    const run = await runOne(plan, options, layout, wanted, display, interrupted);
    runs.push(run);
    if (run.status !== "ok") options.log(`bench: ${plan.name}: ${run.status}: ${run.reason ?? ""}`);
    options.onRunDone?.(run);
  }
  return {
    schema: BENCH_SCHEMA,
    startedAt,
    finishedAt: new Date().toISOString(),
    commit,
    seed: options.seed,
    argv: options.argv,
    scenario: options.scenario,
    environment: machine,
    config: {
      memorySamplers: options.memory.samplers,
      memoryPeriodMs: options.memory.periodMs,
      settleMs: options.settleMs,
      errorBackoffMs: options.errorBackoffMs,
      preloadConcurrency: options.preloadConcurrency,
      timelineBucketMs: options.timelineBucketMs,
      cadvisor: options.memory.cadvisor,
      ...(options.memory.netdata ? { netdata: options.memory.netdata } : {}),
      containers: { ...options.memory.containers },
      clientProcesses: options.clientProcesses ?? 0,
    },
    runs,
  };
}

async function runOne(
  plan: RunPlan,
  options: BenchOptions,
  layout: CgroupLayout | null,
  wanted: SamplerKind[] | null,
  display: ProgressDisplay,
  interrupted: () => boolean,
): Promise<BenchRun> {
  const lookup = (options.lookup ?? lookupTarget)(plan.kind);
  if ("missing" in lookup) return skeleton(plan, "skipped", lookup.missing, plan.targetSpec);
  const target = lookup.target;
  let label = plan.targetSpec;
  const budgeted = budgetedParams(plan, target);
  if (typeof budgeted === "string") return skeleton(plan, target.nodeCount === undefined ? "skipped" : "failed", budgeted, label);
  const { params } = budgeted;
  try {
    target.validate(params);
    label = target.label(params);
  } catch (error) {
    return skeleton(plan, "failed", errorMessage(error), label);
  }
  const unavailable = await target.unavailableReason(params);
  if (unavailable !== null) return skeleton(plan, "skipped", unavailable, label);
  const clientProcesses = options.clientProcesses ?? 0;
  if (clientProcesses > 0 && plan.failures.some((failure) => "op" in failure.at)) {
    return skeleton(plan, "skipped", "failures at op=N need the workers in the bench process (--client-processes 0); use t=DURATION", label);
  }

  const run = skeleton(plan, "failed", undefined, label);
  run.target.params = { ...params };
  run.budget = budgeted.budget;
  const attached = options.servers !== null;
  const notes: string[] = [];
  let cgroups: NodeCgroups | null = null;
  // Netdata charts the nodes' cgroups, so it needs them placed as the cgroup sampler does.
  if (!attached && (wanted === null || wanted.includes("cgroup") || wanted.includes("netdata"))) {
    if (layout === null) notes.push("cgroup: no cgroup memory controller found");
    else {
      const created = NodeCgroups.create(layout);
      if ("reason" in created) notes.push(`cgroup: ${created.reason}`);
      else cgroups = created;
    }
    if (cgroups === null && wanted !== null) {
      run.reason = `--memory ${wanted.includes("cgroup") ? "cgroup" : "netdata"} requested but unavailable: ${notes.join("; ")}`;
      return run;
    }
  }
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-bench-"));
  liveWorkDirs.add(workDir);
  const events = new EventLog(performance.now());
  const procsPlacement = cgroups === null ? null : (node: string) => cgroups!.procsFile(node);
  let handle: ClusterHandle | null = null;
  let client: BenchClient | null = null;
  let pool: ClientPool | null = null;
  let cpuMeter: CpuMeter | null = null;
  let recorder: MemoryRecorder | null = null;
  let setup: SamplerSetup | null = null;
  let before: MemorySnapshot | null = null;
  let after: MemorySnapshot | null = null;
  const restarts: NonNullable<BenchRun["memory"]>["restarts"] = [];
  const payload = new LivePayload();
  try {
    events.record("cluster.starting", undefined, label);
    handle = await target.start({
      params,
      servers: options.servers,
      workDir,
      launcher: new ProcessLauncher(procsPlacement),
      ports: freeLoopbackPorts,
      log: (line) => {
        options.log(`bench: ${line}`);
        events.record("cluster.log", undefined, line);
      },
    });
    events.record("cluster.started", undefined, `${handle.label}: ${handle.nodes().map((n) => `${n.name}=${n.address}${n.pid !== null ? ` pid ${n.pid}` : ""}`).join(", ")}`);
    const cluster = handle;
    run.target = {
      kind: cluster.kind,
      label: cluster.label,
      spec: plan.targetSpec,
      params: { ...params, ...cluster.params },
      idealOverhead: cluster.idealOverhead,
      logicalSource: cluster.logicalSource,
      attached: cluster.attached,
      nodes: cluster.nodes().map((node) => ({ name: node.name, address: node.address, pid: node.pid, ...(node.role !== undefined ? { role: node.role } : {}) })),
    };
    const names = new Set(cluster.nodes().map((node) => node.name));
    const missing = plan.failures.filter((failure) => !names.has(failure.node));
    if (missing.length > 0) {
      run.status = "skipped";
      run.reason = `${cluster.label} has no node ${missing.map((f) => f.node).join(", ")} (nodes: ${[...names].join(", ")})`;
      return run;
    }
    if (plan.failures.length > 0 && cluster.attached) {
      run.status = "skipped";
      run.reason = "failures need a cluster the bench started (not --servers)";
      return run;
    }
    setup = memorySources(cluster, wanted, cgroups, options.memory);
    notes.push(...setup.notes);
    recorder = new MemoryRecorder({
      periodMs: options.memory.periodMs,
      elapsedMs: () => events.elapsedMs(),
      sources: setup.sources,
      stats: () => cluster.stats(),
      nodeNames: () => cluster.nodes().map((node) => node.name),
      reported: setup.reported,
      onError: (message) => events.record("sampler.error", undefined, message),
    });
    recorder.start();
    client = await cluster.connect();
    await settle(cluster, options.settleMs);
    before = await recorder.snapshot("before-load");
    const spec: WorkloadSpec = {
      name: plan.workload.name,
      mix: plan.workload.mix,
      keyCount: plan.keyCount,
      distribution: plan.distribution,
      valueSize: plan.valueSize,
      seed: plan.seed,
      fillOnMiss: plan.workload.fillOnMiss === true,
    };
    const values = new ValuePool(valueSizeMax(plan.valueSize), plan.seed);
    if (spec.fillOnMiss === true) {
      // A cache starts cold: its reads miss and fill it, as the application's would.
      events.record("phase.preload.begin", undefined, "0 keys (cache workload: the cache starts cold)");
      run.preload = { keys: 0, errors: 0, durationMs: 0, firstError: null };
    } else {
      events.record("phase.preload.begin", undefined, `${plan.keyCount} keys`);
      const preloadBar = display.phase(plan.name, "preload", plan.keyCount);
      run.preload = await preload(client, spec, values, payload, options.preloadConcurrency, preloadBar, interrupted);
      preloadBar.finish();
    }
    const preloaded = run.preload;
    events.record("phase.preload.end", undefined, `${preloaded.keys} keys in ${preloaded.durationMs} ms, ${preloaded.errors} errors`);
    if (clientProcesses > 0) {
      const shares = splitConcurrency(plan.concurrency, clientProcesses);
      const configs: ClientProcessConfig[] = shares.map((concurrency, index) => ({
        kind: plan.kind,
        params,
        servers: cluster.nodes().map((node) => node.address),
        spec,
        process: index,
        processes: clientProcesses,
        concurrency,
        warmupOps: plan.warmupOps,
        ops: plan.ops,
        durationMs: plan.durationMs,
        errorBackoffMs: options.errorBackoffMs,
        originEpochMs: events.originEpochMs,
      }));
      pool = await ClientPool.start(configs);
      events.record("clients.started", undefined, pool.processes().map((entry) => `${entry.name} pid ${entry.pid}`).join(", "));
    }
    const clients = pool;
    cpuMeter = new CpuMeter({
      processes: (): MeteredProcess[] => [
        ...cluster.nodes().map((node) => ({ role: "node" as const, name: node.name, pid: node.pid })),
        ...(clients === null ? [] : clients.processes().map((entry) => ({ role: "generator" as const, name: entry.name, pid: entry.pid }))),
      ],
    });
    const meter = cpuMeter;
    const warmupBar = plan.warmupOps > 0 ? display.phase(plan.name, "warm-up", plan.warmupOps) : null;
    let measureBar: ReturnType<ProgressDisplay["phase"]> | null = null;
    const activeRecorder = recorder;
    const measured: MeasuredResult = await runMeasured({
      client,
      spec,
      ops: plan.ops,
      durationMs: plan.durationMs,
      warmupOps: plan.warmupOps,
      concurrency: plan.concurrency,
      values,
      payload,
      failures: plan.failures,
      faults: cluster,
      events,
      errorBackoffMs: options.errorBackoffMs,
      timelineBucketMs: options.timelineBucketMs,
      warmupProgress: warmupBar ?? undefined,
      progress: {
        update(done, errors) {
          if (measureBar === null) {
            warmupBar?.finish();
            measureBar = plan.durationMs === null ? display.phase(plan.name, "measure", plan.ops) : display.timedPhase(plan.name, "measure", plan.durationMs);
          }
          measureBar.update(done, errors);
        },
      },
      interrupted,
      remote: clients,
      onMeasureBegin: () => meter.begin(),
      onMeasureEnd: () => meter.finish(),
      onFailureDone: async (action, node) => {
        if (action !== "restart") return;
        const snapshot = await activeRecorder.snapshot(`restart ${node}`);
        const reading = snapshot.nodes[node];
        if (reading !== undefined) restarts.push({ node, tMs: snapshot.tMs, reading: toNodeRecord(reading) });
      },
    });
    if (measureBar === null) warmupBar?.finish();
    else (measureBar as ReturnType<ProgressDisplay["phase"]>).finish();
    run.measured = measured;
    run.cpu = meter.result(measured.ops, clients === null ? "generator" : "bench");
    const cancelled = events.events.filter((event) => event.type === "failure.cancelled");
    if (cancelled.length > 0) {
      options.log(
        `bench: ${plan.name}: ${cancelled.map((event) => `${event.node ?? ""} ${event.detail ?? ""}`.trim()).join("; ")}` +
          (plan.durationMs === null ? " (a time-based phase, --duration or a scenario's \"duration\", keeps it inside the measured window)" : ""),
      );
    }
    await settle(cluster, options.settleMs);
    after = await recorder.snapshot("after-load");
    events.record("phase.after_snapshot");
    if (interrupted()) {
      run.status = "failed";
      run.reason = "interrupted (Ctrl-C) during the run";
    } else {
      run.status = "ok";
    }
  } catch (error) {
    run.status = "failed";
    run.reason = errorMessage(error);
    events.record("run.failed", undefined, errorMessage(error));
  } finally {
    cpuMeter?.cancel();
    if (pool !== null) await pool.stop();
    if (recorder !== null) await recorder.stop();
    if (client !== null) await client.close().catch(() => undefined);
    if (handle !== null) {
      await handle.stop().catch((error: unknown) => notes.push(`stop: ${errorMessage(error)}`));
      events.record("cluster.stopped");
    }
    if (cgroups !== null) {
      const leftovers = await cgroups.cleanup();
      for (const leftover of leftovers) notes.push(`cgroup not removed: ${leftover}`);
    }
    fs.rmSync(workDir, { recursive: true, force: true });
    liveWorkDirs.delete(workDir);
  }
  run.payload = {
    keys: payload.keys,
    keyBytes: payload.keyBytes,
    valueBytes: payload.valueBytes,
    totalBytes: payload.keyBytes + payload.valueBytes,
    writtenBytes: payload.writtenBytes,
  };
  if (recorder !== null) {
    const used = new Set(recorder.samples.map((sample) => sample.sampler));
    run.memory = {
      samplers: SAMPLER_KINDS.filter((kind) => used.has(kind)),
      primary: primarySampler(used),
      periodMs: options.memory.periodMs,
      notes,
      truncated: recorder.truncated,
      samples: recorder.samples,
      logical: recorder.logical,
      before: toSnapshotRecord(before),
      after: toSnapshotRecord(after),
      restarts,
    };
  }
  run.events = events.events;
  if (events.dropped > 0) notes.push(`${events.dropped} events dropped (limit reached)`);
  return run;
}

/**
 * Before a memory snapshot: let in-flight work finish, ask the nodes to collect their
 * garbage, then wait again so what the collection and the allocators free (jemalloc and
 * Go return pages after a decay time; see core/allocator.ts) has left the working set.
 */
async function settle(cluster: ClusterHandle, settleMs: number): Promise<void> {
  await sleep(settleMs / 2);
  await cluster.settle?.();
  await sleep(settleMs / 2);
}
