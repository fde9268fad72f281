// A node's Prometheus metrics (prom-client), served as text on the admin port's /metrics.
//
// Two kinds, by cost:
// - Events counted as they happen (operations, their latency, gRPC errors, leader changes)
//   go through NodeMetricsSink, the one interface the node runtimes call. Operations are
//   tallied in plain numbers (OpTally: a count per result, a sum and a bucket array per
//   command) and handed to prom-client only when Prometheus scrapes: prom-client's own
//   inc()/observe() check and hash the labels on every call, which costs several times
//   more than the tally (bench/metrics_bench.ts measures both).
// - State (view epoch, node state, rebuild progress, stored bytes, raft indexes) is read
//   when Prometheus scrapes, from the node's own stats (admin.ts), so it costs nothing
//   between scrapes.
//
// Names follow Prometheus's conventions: the ecc_cache_ prefix, base units (seconds,
// bytes), `_total` on counters only; promtool's `check metrics` linter passes on the output
// (test/integration/admin_http.test.ts). prom-client's default process and Node.js metrics
// (process_resident_memory_bytes, nodejs_heap_size_used_bytes, event-loop lag, GC) are
// included.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { MetricObjectWithValues, MetricValueWithName } from "prom-client";

/** What the node runtimes report as it happens. Implementations must be cheap. */
export interface NodeMetricsSink {
  /**
   * One client or peer operation answered. `command` is the operation's kind (get, prepare,
   * set, ...), `result` its result code's name as the protocol spells it (RESULT_CODE_OK,
   * KV_CODE_NOT_LEADER, ...), `startedMs` the performance.now() when it arrived.
   */
  opDone(command: string, result: string, startedMs: number): void;
  /** A gRPC call or stream this node made failed, with this status code's name (UNAVAILABLE, ...). */
  grpcError(code: string): void;
  /** The leader this node knows of changed (raft mode and the ecc control plane). */
  leaderChanged(): void;
}

/**
 * Latency buckets in seconds, 50 µs to 10 s: an ecc node answers a shard operation in
 * microseconds, a raft write waits for a log append and a replication round.
 */
export const LATENCY_BUCKETS_SECONDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

const PREFIX = "ecc_cache_";

/** RESULT_CODE_NOT_LEADER -> not_leader: the label values stay short and the same in both modes. */
export function resultLabel(code: string): string {
  return code.replace(/^(RESULT_CODE_|KV_CODE_)/, "").toLowerCase();
}

/** One command's operations since the node started: counts by result, and their latency. */
interface CommandTally {
  /** result code name (as the node passes it) -> operations */
  results: Map<string, number>;
  /** Non-cumulative: buckets[i] counts latencies in (bound[i-1], bound[i]]; the last slot is above every bound. */
  buckets: Float64Array;
  sumSeconds: number;
  count: number;
}

/**
 * The latency histogram, fed from the tallies at scrape time. prom-client's exposition reads
 * a metric through get()/getForPromString(), which this overrides; everything else (name,
 * help, registration, text format) is prom-client's.
 */
const LATENCY_NAME = PREFIX + "op_duration_seconds";
const LATENCY_HELP = "Time from an operation's arrival to its answer on this node";

class TalliedHistogram extends Histogram<"command"> {
  constructor(
    registry: Registry,
    private readonly tallies: Map<string, CommandTally>,
  ) {
    super({
      name: LATENCY_NAME,
      help: LATENCY_HELP,
      labelNames: ["command"],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    });
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<"command">>> {
    return this.getForPromString();
  }

  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<"command">>> {
    const values: Array<MetricValueWithName<string>> = [];
    const bucketName = LATENCY_NAME + "_bucket";
    for (const [command, tally] of this.tallies) {
      let cumulative = 0;
      LATENCY_BUCKETS_SECONDS.forEach((bound, index) => {
        cumulative += tally.buckets[index];
        values.push({ labels: { le: bound, command }, value: cumulative, metricName: bucketName });
      });
      values.push({ labels: { le: "+Inf", command }, value: tally.count, metricName: bucketName });
      values.push({ labels: { command }, value: tally.sumSeconds, metricName: LATENCY_NAME + "_sum" });
      values.push({ labels: { command }, value: tally.count, metricName: LATENCY_NAME + "_count" });
    }
    return { name: LATENCY_NAME, help: LATENCY_HELP, type: "histogram", values, aggregator: "sum" } as unknown as MetricObjectWithValues<MetricValueWithName<"command">>;
  }

  /** Registry.resetMetrics(); prom-client's constructor also calls it, before `tallies` is set. */
  override reset(): void {
    (this.tallies as Map<string, CommandTally> | undefined)?.clear();
  }
}

export class NodeMetrics implements NodeMetricsSink {
  readonly registry = new Registry();
  private readonly tallies = new Map<string, CommandTally>();
  private readonly grpcErrors: Counter<"code">;
  private readonly leaderChanges: Counter;
  private readonly httpRefused: Counter<"status">;
  private readonly refreshers: Array<() => void> = [];

  constructor(info: { mode: "ecc" | "raft"; address: string }) {
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges with `_total`, which Prometheus keeps for counters
    // (promtool rejects them); the same figures stay in nodejs_active_handles and friends.
    for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) this.registry.removeSingleMetric(name);
    new Gauge({
      name: PREFIX + "node_info",
      help: "Always 1; labels name the node's mode and address",
      labelNames: ["mode", "address"],
      registers: [this.registry],
    }).set({ mode: info.mode, address: info.address }, 1);
    const tallies = this.tallies;
    new Counter({
      name: PREFIX + "ops_total",
      help: "Operations this node answered, by kind and result code",
      labelNames: ["command", "result"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [command, tally] of tallies) for (const [result, count] of tally.results) this.inc({ command, result: resultLabel(result) }, count);
      },
    });
    new TalliedHistogram(this.registry, tallies);
    this.grpcErrors = new Counter({
      name: PREFIX + "grpc_errors_total",
      help: "Failed gRPC calls and streams this node made to its peers, by status code",
      labelNames: ["code"],
      registers: [this.registry],
    });
    this.leaderChanges = new Counter({
      name: PREFIX + "leader_changes_total",
      help: "Times the leader this node knows of changed (raft mode: the data group; ecc: the view control plane)",
      registers: [this.registry],
    });
    this.httpRefused = new Counter({
      name: PREFIX + "http_refused_requests_total",
      help: "Requests on the admin port answered with a 4xx status",
      labelNames: ["status"],
      registers: [this.registry],
    });
  }

  opDone(command: string, result: string, startedMs: number): void {
    const seconds = (performance.now() - startedMs) / 1000;
    let tally = this.tallies.get(command);
    if (tally === undefined) {
      tally = { results: new Map(), buckets: new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1), sumSeconds: 0, count: 0 };
      this.tallies.set(command, tally);
    }
    tally.results.set(result, (tally.results.get(result) ?? 0) + 1);
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS_SECONDS.length && seconds > LATENCY_BUCKETS_SECONDS[bucket]) bucket++;
    tally.buckets[bucket]++;
    tally.sumSeconds += seconds;
    tally.count++;
  }

  grpcError(code: string): void {
    this.grpcErrors.inc({ code });
  }

  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  httpRefusedRequest(status: number): void {
    this.httpRefused.inc({ status: String(status) });
  }

  /** Registers `refresh`, run once before every scrape (it reads the node's state once for all gauges). */
  onScrape(refresh: () => void): void {
    this.refreshers.push(refresh);
  }

  /** A gauge whose value is read at scrape time. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name: PREFIX + name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A gauge per state, 1 for the current one and 0 for the others (Prometheus's state-set pattern). */
  stateGauge(name: string, help: string, label: string, states: readonly string[], read: () => string): void {
    new Gauge({
      name: PREFIX + name,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect() {
        const current = read();
        for (const state of states) this.set({ [label]: state }, state === current ? 1 : 0);
      },
    });
  }

  /**
   * A counter whose total the node keeps itself (it only grows while the process lives),
   * read at scrape time.
   */
  counterFromTotal(name: string, help: string, read: () => number): void {
    new Counter({
      name: PREFIX + name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /** A gauge with one label whose values are read at scrape time. */
  labeledGauge(name: string, help: string, label: string, read: () => Record<string, number>): void {
    new Gauge({
      name: PREFIX + name,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect() {
        for (const [value, number] of Object.entries(read())) this.set({ [label]: value }, number);
      },
    });
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    for (const refresh of this.refreshers) refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** What both modes' stores report, for the gauges they share. */
export interface StoreFigures {
  keys: number;
  tombstones: number;
  /** Exact logical bytes by part (ecc: payload, key, meta; raft: value, key, meta, log). */
  parts: Record<string, number>;
  logicalBytes: number;
  v8HeapBytes: number;
  arrayBuffersBytes: number;
}

/** What a node's memory budget sees, in both modes. */
export interface MemoryFigures {
  usedBytes: number;
  heldBytes: number;
  budgetBytes: number;
  evictedKeys: number;
  expiredKeys: number;
  rejectedWrites: number;
}

export function registerMemoryGauges(metrics: NodeMetrics, read: () => MemoryFigures): void {
  metrics.gauge("memory_used_bytes", "What counts against this node's memory budget (ecc: store blocks in use, key index, staged shards; raft: the state's arena in use and key index)", () => read().usedBytes);
  metrics.gauge("memory_held_bytes", "memory_used_bytes plus the free blocks and slab tails the store keeps for reuse", () => read().heldBytes);
  metrics.gauge("memory_budget_bytes", "This node's memory budget (max_memory_bytes); 0 when it has none", () => read().budgetBytes);
  metrics.counterFromTotal("evicted_keys_total", "Keys evicted to stay within the budget (applied on this node)", () => read().evictedKeys);
  metrics.counterFromTotal("expired_keys_total", "Keys whose TTL ran out (applied on this node)", () => read().expiredKeys);
  metrics.counterFromTotal("rejected_writes_total", "Writes this node refused for memory (noeviction, or nothing left to evict)", () => read().rejectedWrites);
}

export function registerStoreGauges(metrics: NodeMetrics, read: () => StoreFigures): void {
  metrics.gauge("keys", "Live keys this node holds", () => read().keys);
  metrics.gauge("tombstones", "Deleted keys this node still holds as tombstones", () => read().tombstones);
  metrics.labeledGauge("store_bytes", "Exact bytes this node's store holds, by part", "part", () => read().parts);
  metrics.gauge("logical_bytes", "Exact logical bytes this node holds (the sum of store_bytes)", () => read().logicalBytes);
  metrics.gauge("v8_heap_bytes", "Resident pages of the V8 heap, code included", () => read().v8HeapBytes);
  metrics.gauge("array_buffers_bytes", "Memory of all ArrayBuffers: store slabs, key index, I/O buffers", () => read().arrayBuffersBytes);
}
