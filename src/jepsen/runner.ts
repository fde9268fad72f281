// The Jepsen-style run, start to end:
//   1. start a real local cluster (ecc n=5 k=3, or raft with 3 nodes), each node in its own
//      network namespace when partitions are enabled;
//   2. run the workload (workload.ts) and the nemesis (nemesis.ts) for the given time, every
//      operation recorded in a HistoryRecorder;
//   3. stop both, heal every fault, wait (bounded) for a healthy cluster;
//   4. read every key with a fresh client; those reads are part of the history;
//   5. raft: add the evictions and expirations the nodes logged, each as an "expire" of the
//      value it removed (drops.ts);
//   6. check the history for linearizability (src/check/linearizability.ts).
//
// A raft run can play a cache: a memory budget per node (maxMemory, evictionPolicy), values
// stored larger than the history shows them (valueBytes: padding, so a budget fills with a
// few keys), and TTLs on a third of the sets (ttlMs).
//
// "No acknowledged write lost" needs no separate check: the final reads start after every
// other operation returned (or was given up as unknown), so a final read that misses an
// acknowledged write, or returns a value older than it, has no linearization and the checker
// reports the key. A key with no successful final read makes the verdict inconclusive.
//
// Every process started is stopped by its PID and every namespace removed, also when the run
// fails or is interrupted (cleanupActiveRuns, called from main.ts's signal handlers).
import { HistoryRecorder, History, Operation, OperationKind, historyToJson } from "../check/history";
import { CheckOptions, checkHistory, formatOperations } from "../check/linearizability";
import { Clock } from "../core/env";
import { sleep } from "../core/env";
import { JepsenCluster, JepsenMode } from "./cluster";
import { NamespaceNetwork, namespaceSupport } from "./netns";
import { NemesisEvent, Nemesis, formatEvent } from "./nemesis";
import { FaultKind, FaultWindow, SCHEDULE_DEFAULTS, nemesisSchedule } from "./schedule";
import { eccTargets, raftTargets, respTargets, storedValue } from "./targets";
import { dropOperations, ttlExpireOperations } from "./drops";
import { LongestGaps, longestGaps } from "./gaps";
import { ClientStats, TargetFactory, WORKLOAD_DEFAULTS, recordedOperation, startWorkload, withDeadline } from "./workload";

export const RESULT_SCHEMA = "ecc-cache.jepsen/1";

export type Verdict = "linearizable" | "not-linearizable" | "inconclusive";

export interface JepsenOptions {
  mode: JepsenMode;
  seed: number;
  /** Length of the workload with faults, in ms (healing and checking come after). */
  timeMs: number;
  clientCount?: number;
  keyCount?: number;
  operationTimeoutMs?: number;
  /** Fault kinds; default every kind the mode and machine support. */
  faults?: FaultKind[];
  /** Bound on waiting for a healthy cluster after healing. */
  healTimeoutMs?: number;
  thinkMsMax?: number;
  checkOptions?: CheckOptions;
  /** Append every node's output to <nodeLogDir>/node<i>.log. */
  nodeLogDir?: string | null;
  /** How clients reach the cluster: the client library (default) or a Redis client on the RESP ports. */
  via?: "library" | "resp";
  /** Fraction of operations that are SET NX (ecc: versioned writes; raft: decided by the state machine). */
  setNxFraction?: number;
  log?: (line: string) => void;
  /** raft: each node's memory budget (a size, e.g. "4MiB") and eviction policy. */
  maxMemory?: string;
  evictionPolicy?: string;
  /** raft: each value is stored padded to this many bytes (the history keeps it short). */
  valueBytes?: number;
  /** raft: a third of the sets carry this TTL. */
  ttlMs?: number;
  /** Run the cluster and every client over mutual TLS (certificates made for the run). */
  tls?: boolean;
}

export interface OperationCounts {
  ok: number;
  fail: number;
  unknown: number;
}

export interface FailingKey {
  key: string;
  /** The shortest failing sub-history the checker's shrinking found. */
  operations: Operation[];
  text: string;
}

export interface JepsenResult {
  schema: typeof RESULT_SCHEMA;
  mode: JepsenMode;
  seed: number;
  config: {
    timeMs: number;
    /** How clients reached the cluster (absent in files from before --via: the library). */
    via?: "library" | "resp";
    setNxFraction?: number;
    clients: number;
    keys: string[];
    operationTimeoutMs: number;
    faults: FaultKind[];
    partitions: { enabled: boolean; note: string };
    faultBudget: number;
    nodeCount: number;
    servers: string[];
    /** The node config as its file shape (ecc_config.json / raft_config.json). */
    cluster: Record<string, unknown>;
    schedule: FaultWindow[];
  };
  counts: Record<OperationKind, OperationCounts> & { total: OperationCounts };
  /** raft: the evictions and expirations the nodes logged, added to the history as "expire" operations. */
  drops: { evictions: number; expirations: number; unmatched: number };
  clientCrashes: number;
  /**
   * Writes recorded as unknown, by the error that ended them (DeadlineError: the runner's
   * per-operation deadline; CrashedClient: a CLI writer killed between EcPrepare and
   * EcCommit), and how many of those sets were later seen by a successful read, i.e. took
   * effect although the client reported an error.
   */
  unknownWrites: Record<string, { count: number; setsSeenLater: number }>;
  clients: ClientStats[];
  events: NemesisEvent[];
  /** Every PID the run started (all stopped by the time the result is returned). */
  pids: number[];
  health: { healthy: boolean; summary: string; waitedMs: number };
  finalReads: Array<{ key: string; result: string | null | "failed" }>;
  verdict: Verdict;
  message: string;
  failing: FailingKey[];
  timingsMs: { setup: number; workload: number; heal: number; check: number; total: number };
  /** The longest stretch of the workload without a successful read / write (gaps.ts). */
  longestGaps: LongestGaps;
  /** Not part of the JSON file (large); written by --history-out. */
  history?: History;
}

const FINAL_READ_ATTEMPTS_MAX = 8;
/** A one-hour run at ~400 operations per second stays below this. */
const RECORDED_OPERATIONS_MAX = 4_000_000;
const WORKLOAD_STOP_SLACK_MS = 5_000;

/** Cleanups of runs in progress, for signal handlers: stop PIDs, delete namespaces. */
const activeCleanups = new Set<() => Promise<void>>();

export async function cleanupActiveRuns(): Promise<void> {
  await Promise.all([...activeCleanups].map((cleanup) => cleanup().catch(() => undefined)));
}

export function defaultFaults(mode: JepsenMode): FaultKind[] {
  return mode === "ecc" ? ["kill", "pause", "partition", "client-crash"] : ["kill", "pause", "partition"];
}

export async function runJepsen(options: JepsenOptions): Promise<JepsenResult> {
  const log = options.log ?? (() => undefined);
  const totalStartMs = performance.now();
  const clientCount = options.clientCount ?? WORKLOAD_DEFAULTS.clientCount;
  const keyCount = options.keyCount ?? WORKLOAD_DEFAULTS.keyCount;
  const operationTimeoutMs = options.operationTimeoutMs ?? WORKLOAD_DEFAULTS.operationTimeoutMs;
  const keys = Array.from({ length: keyCount }, (_, index) => `k${index}`);
  const via = options.via ?? "library";
  const setNxFraction = options.setNxFraction ?? 0;
  if (!(setNxFraction >= 0 && setNxFraction <= WORKLOAD_DEFAULTS.setFraction)) throw new Error(`the SET NX fraction must be 0..${WORKLOAD_DEFAULTS.setFraction} (a share of the sets)`);
  let faults = [...(options.faults ?? defaultFaults(options.mode))];
  if (options.mode === "raft" && faults.includes("client-crash")) throw new Error("client-crash is an ecc fault (the raft client has no 2PC)");
  const overrides: Record<string, unknown> = {};
  if (options.maxMemory !== undefined) overrides.max_memory_bytes = options.maxMemory;
  if (options.evictionPolicy !== undefined) overrides.eviction_policy = options.evictionPolicy;
  const valueBytes = options.valueBytes ?? 0;

  let partitionNote = "not requested";
  if (faults.includes("partition")) {
    const support = await namespaceSupport();
    if (support.ok) {
      partitionNote = "real: iptables DROP between per-node network namespaces";
    } else if (options.faults === undefined) {
      faults = faults.filter((kind) => kind !== "partition");
      partitionNote = `left out: ${support.reason}`;
      log(`partitions left out: ${support.reason}`);
    } else {
      throw new Error(`partitions requested but not possible here: ${support.reason}`);
    }
  }

  let network: NamespaceNetwork | null = null;
  let cluster: JepsenCluster | null = null;
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    try {
      await cluster?.stop();
    } finally {
      const problems = (await network?.destroy()) ?? [];
      for (const problem of problems) log(`namespace cleanup: ${problem}`);
    }
  };
  activeCleanups.add(cleanup);
  try {
    const nodeCount = options.mode === "ecc" ? 5 : 3;
    if (faults.includes("partition")) {
      network = await NamespaceNetwork.create({ nodeCount });
      log(`network namespaces: ${network.namespaces().join(", ")} (subnet ${network.subnetPrefix}.0/24)`);
    }
    cluster = await JepsenCluster.start({ mode: options.mode, network, logDir: options.nodeLogDir ?? null, overrides, resp: via === "resp", tls: options.tls === true });
    log(
      `${options.mode} cluster: ${cluster.servers.join(", ")} pids ${cluster.pids().join(",")}${via === "resp" ? `; clients through RESP at ${cluster.respAddresses.join(", ")}` : ""}` +
        `${(cluster.eccConfig ?? cluster.raftConfig)?.tls === undefined ? "" : "; mutual TLS"}`,
    );
    const ready = await cluster.waitHealthy(30_000);
    if (!ready.healthy) throw new Error(`cluster not healthy after start: ${ready.summary}`);

    const schedule = nemesisSchedule({
      seed: options.seed,
      runMs: options.timeMs,
      nodeCount: cluster.nodeCount,
      faultBudget: cluster.faultBudget,
      kinds: faults,
      keyCount,
      recoveryMs: options.mode === "ecc" ? SCHEDULE_DEFAULTS.recoveryMs : 1_000,
    });
    const setupMs = performance.now() - totalStartMs;

    const baseMs = performance.now();
    /** The wall clock at the history's zero: node logs are in epoch ms. */
    const epochBaseMs = Date.now();
    const clock: Clock = { nowMs: () => performance.now() - baseMs };
    const recorder = new HistoryRecorder(clock, { operationsMax: RECORDED_OPERATIONS_MAX });
    const unknownErrors = new Map<number, string>();
    /** ecc: the TTL deadline of each value set with one (the target picks it; drops.ts). */
    const ttlDeadlines = new Map<string, number>();
    const openTarget: TargetFactory =
      via === "resp"
        ? respTargets(cluster.respAddresses, { commandTimeoutMs: operationTimeoutMs, tls: (cluster.eccConfig ?? cluster.raftConfig)!.clientTls })
        : options.mode === "ecc"
          ? await eccTargets(cluster.eccConfig!, valueBytes, ttlDeadlines)
          : raftTargets(cluster.servers, cluster.raftConfig!.rpcTimeoutMs, valueBytes, cluster.raftConfig!.clientTls);
    const nemesis = new Nemesis({ cluster, schedule, recorder, keys, nowMs: clock.nowMs, log });
    const workload = startWorkload(
      recorder,
      openTarget,
      {
        clientCount,
        keys,
        seed: options.seed,
        operationTimeoutMs,
        thinkMsMax: options.thinkMsMax ?? WORKLOAD_DEFAULTS.thinkMsMax,
        getFraction: WORKLOAD_DEFAULTS.getFraction,
        setFraction: WORKLOAD_DEFAULTS.setFraction,
        setNxFraction,
        onUnknown: (operationId, errorName) => unknownErrors.set(operationId, errorName),
        ttlMs: options.ttlMs,
      },
      sleep,
    );
    nemesis.start();
    await sleep(options.timeMs);
    const workloadMs = clock.nowMs();
    await nemesis.stop();
    // Each client finishes its current operation, which its deadline bounds.
    const clients = await withDeadline(workload.stop(), operationTimeoutMs + WORKLOAD_STOP_SLACK_MS);

    const healStartMs = performance.now();
    log("healing: partitions, paused and killed nodes");
    await nemesis.healAll();
    const health = await cluster.waitHealthy(options.healTimeoutMs ?? 60_000);
    log(`cluster ${health.healthy ? "healthy" : "NOT healthy"} after ${health.waitedMs} ms: ${health.summary}`);
    if (!health.healthy) {
      for (const node of cluster.nodes) {
        if (node === null) continue;
        log(`--- last lines of node ${node.index} (pid ${node.pid}):`);
        for (const line of node.output.slice(-8)) log(`  ${line.slice(0, 400)}`);
      }
    }

    // Final reads by a fresh client, recorded like any other operation.
    const finalReads: JepsenResult["finalReads"] = [];
    const reader = await openTarget();
    try {
      for (const key of keys) {
        let read: string | null | "failed" = "failed";
        for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS_MAX && read === "failed"; attempt++) {
          const outcome = await recordedOperation(recorder, "final", reader, "get", key, null, operationTimeoutMs);
          if (outcome.status === "ok") read = outcome.result ?? null;
          else await sleep(500);
        }
        finalReads.push({ key, result: read });
      }
    } finally {
      reader.close();
    }
    const healMs = performance.now() - healStartMs;

    const checkStartMs = performance.now();
    const recorded = recorder.history();
    const drops = dropOperations(cluster.drops.values(), recorded, epochBaseMs, (value) => storedValue(value, valueBytes), cluster.eccConfig?.dataShards ?? 1);
    const ttlOperations = ttlExpireOperations([...recorded, ...drops.operations], ttlDeadlines, epochBaseMs);
    drops.operations.push(...ttlOperations);
    drops.expirations += ttlOperations.length;
    for (const drop of drops.unmatched.slice(0, 5)) log(`a node dropped ${JSON.stringify(drop.key)}@${drop.version}, a value no client wrote (crc ${drop.valueCrc32})`);
    // The drops have no place in the recorder's event order: with them, equal times count as
    // overlapping (the checker's rule for histories without event indexes).
    const history =
      drops.operations.length === 0
        ? recorded
        : [...recorded.map(({ invokeEventIndex: _invoke, returnEventIndex: _return, ...operation }) => operation), ...drops.operations];
    const judged = judge(history, finalReads, options.checkOptions ?? {});
    const { failing } = judged;
    let { verdict, message } = judged;
    if (drops.unmatched.length > 0 && verdict === "linearizable") {
      verdict = "inconclusive";
      message = `${drops.unmatched.length} logged drops name values no client wrote, so the history cannot account for them`;
    }
    const checkMs = performance.now() - checkStartMs;

    return {
      schema: RESULT_SCHEMA,
      mode: options.mode,
      seed: options.seed,
      config: {
        timeMs: options.timeMs,
        via,
        setNxFraction,
        clients: clientCount,
        keys,
        operationTimeoutMs,
        faults,
        partitions: { enabled: faults.includes("partition"), note: partitionNote },
        faultBudget: cluster.faultBudget,
        nodeCount: cluster.nodeCount,
        servers: cluster.servers,
        cluster: JSON.parse((cluster.childEnv.ECC_CACHE_RESOLVED_CONFIG ?? cluster.childEnv.RAFT_CACHE_RESOLVED_CONFIG) as string) as Record<string, unknown>,
        schedule,
      },
      counts: countOperations(history),
      drops: { evictions: drops.evictions, expirations: drops.expirations, unmatched: drops.unmatched.length },
      unknownWrites: unknownWriteSummary(history, unknownErrors),
      clientCrashes: new Set(history.filter((operation) => operation.clientId.startsWith("x")).map((operation) => operation.clientId)).size,
      clients,
      events: nemesis.events,
      pids: cluster.startedPids,
      health,
      finalReads,
      verdict,
      message,
      failing,
      longestGaps: longestGaps(recorded, workloadMs),
      timingsMs: {
        setup: Math.round(setupMs),
        workload: Math.round(workloadMs),
        heal: Math.round(healMs),
        check: Math.round(checkMs),
        total: Math.round(performance.now() - totalStartMs),
      },
      history,
    };
  } finally {
    await cleanup();
    activeCleanups.delete(cleanup);
  }
}

/** The verdict, with the shortest failing sub-history of every failing key. */
export function judge(
  history: History,
  finalReads: JepsenResult["finalReads"],
  checkOptions: CheckOptions,
): { verdict: Verdict; message: string; failing: FailingKey[] } {
  const result = checkHistory(history, checkOptions);
  if (!result.ok && !result.inconclusive) {
    const failing: FailingKey[] = [];
    for (const key of result.failingKeys) {
      const sub = key === result.key ? result : checkHistory(history.filter((operation) => operation.key === key), checkOptions);
      const operations = !sub.ok && !sub.inconclusive ? sub.minimalFailingSubHistory : history.filter((operation) => operation.key === key);
      failing.push({ key, operations, text: formatOperations(operations) });
    }
    return { verdict: "not-linearizable", message: result.message, failing };
  }
  if (!result.ok) return { verdict: "inconclusive", message: result.message, failing: [] };
  const unread = finalReads.filter((read) => read.result === "failed").map((read) => read.key);
  if (unread.length > 0) {
    return {
      verdict: "inconclusive",
      message: `the history is linearizable, but the final read of ${unread.map((key) => JSON.stringify(key)).join(", ")} never succeeded, so lost writes there cannot be ruled out`,
      failing: [],
    };
  }
  return {
    verdict: "linearizable",
    message: `linearizable: ${result.operations} operations on ${result.keys} keys; the final reads show no acknowledged write lost`,
    failing: [],
  };
}

/** Unknown writes grouped by the error that ended them, and which sets took effect anyway. */
export function unknownWriteSummary(history: History, errorNames: ReadonlyMap<number, string>): JepsenResult["unknownWrites"] {
  const valuesRead = new Set<string | null>();
  for (const operation of history) if (operation.kind === "get" && operation.status === "ok") valuesRead.add(operation.result);
  const summary: JepsenResult["unknownWrites"] = {};
  for (const operation of history) {
    if (operation.kind === "get" || operation.status !== "unknown") continue;
    const errorName = errorNames.get(operation.id) ?? (operation.clientId.startsWith("x") ? "CrashedClient" : "StillPending");
    const entry = (summary[errorName] ??= { count: 0, setsSeenLater: 0 });
    entry.count++;
    if (operation.kind === "set" && valuesRead.has(operation.value)) entry.setsSeenLater++;
  }
  return summary;
}

export function countOperations(history: History): JepsenResult["counts"] {
  const empty = (): OperationCounts => ({ ok: 0, fail: 0, unknown: 0 });
  const counts = { get: empty(), set: empty(), del: empty(), expire: empty(), setnx: empty(), total: empty() };
  for (const operation of history) {
    counts[operation.kind][operation.status]++;
    counts.total[operation.status]++;
  }
  return counts;
}

/** The human-readable report main.ts prints. */
export function formatReport(result: JepsenResult): string {
  const lines: string[] = [];
  lines.push(`jepsen ${result.mode}: seed ${result.seed}, ${result.config.clients} clients, ${result.config.keys.length} keys, ${result.config.timeMs} ms`);
  lines.push(`faults: ${result.config.faults.join(", ") || "none"} (budget ${result.config.faultBudget} of ${result.config.nodeCount} nodes); partitions: ${result.config.partitions.note}`);
  if (result.config.via === "resp") lines.push(`clients: ioredis through every node's RESP port; SET NX ${Math.round(100 * (result.config.setNxFraction ?? 0))}% of operations`);
  lines.push("operations      ok    fail  unknown");
  for (const kind of ["get", "set", "setnx", "del", "expire", "total"] as const) {
    if (kind === "expire" && result.counts.expire.ok + result.counts.expire.unknown === 0) continue;
    const c = result.counts[kind];
    // setnx: counted only in files written since it exists
    if (c === undefined || (kind === "setnx" && c.ok + c.fail + c.unknown === 0)) continue;
    lines.push(`  ${kind.padEnd(8)} ${String(c.ok).padStart(7)} ${String(c.fail).padStart(7)} ${String(c.unknown).padStart(8)}`);
  }
  const setnx = result.history?.filter((operation) => operation.kind === "setnx" && operation.status === "ok") ?? [];
  if (setnx.length > 0) lines.push(`SET NX: ${setnx.filter((operation) => operation.result === "1").length} of ${setnx.length} answered applied`);
  if (result.mode === "raft") {
    lines.push(
      `cluster drops (expire operations): ${result.drops.evictions} evictions, ${result.drops.expirations} expirations` +
        (result.drops.unmatched > 0 ? `, ${result.drops.unmatched} of values no client wrote` : ""),
    );
  } else {
    lines.push(`client crashes between EcPrepare and EcCommit: ${result.clientCrashes}`);
  }
  const unknownKinds = Object.entries(result.unknownWrites);
  if (unknownKinds.length > 0) {
    lines.push(
      "unknown writes by cause (sets later read back = took effect): " +
        unknownKinds.map(([name, entry]) => `${name} ${entry.count} (${entry.setsSeenLater} seen)`).join(", "),
    );
  }
  lines.push(`nemesis events (${result.events.length}):`);
  for (const event of result.events) lines.push("  " + formatEvent(event));
  lines.push(`after healing: ${result.health.healthy ? "healthy" : "NOT healthy"} in ${result.health.waitedMs} ms (${result.health.summary})`);
  lines.push(`final reads: ${result.finalReads.map((read) => `${read.key}=${read.result === null ? "absent" : read.result}`).join(" ")}`);
  const gap = (g: LongestGaps["reads"]): string => `${(g.ms / 1000).toFixed(2)} s (from ${(g.fromMs / 1000).toFixed(2)} s)`;
  lines.push(`longest without a success: reads ${gap(result.longestGaps.reads)}, writes ${gap(result.longestGaps.writes)}`);
  lines.push(`timings: setup ${result.timingsMs.setup} ms, workload ${result.timingsMs.workload} ms, heal+final reads ${result.timingsMs.heal} ms, check ${result.timingsMs.check} ms`);
  if (result.verdict === "linearizable") {
    lines.push(`linearizable (no acknowledged write lost: the final reads are part of the checked history)`);
  } else if (result.verdict === "inconclusive") {
    lines.push(`INCONCLUSIVE: ${result.message}`);
  } else {
    lines.push(`NOT LINEARIZABLE: ${result.message}`);
    for (const failing of result.failing) {
      lines.push(`key ${JSON.stringify(failing.key)}: shortest failing sub-history (${failing.operations.length} operations):`);
      lines.push(failing.text);
    }
  }
  lines.push(`seed ${result.seed}`);
  return lines.join("\n");
}

/** The results file: everything but the full history. */
export function resultToJson(result: JepsenResult): string {
  const { history: _history, ...rest } = result;
  return JSON.stringify(rest, null, 2) + "\n";
}

export function historyFileText(result: JepsenResult): string {
  return historyToJson(result.history ?? []);
}
