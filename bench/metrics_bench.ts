// Per-operation cost of the admin port's metrics (src/frontdoor/metrics.ts): what a node
// pays on every operation it answers for `ecc_cache_ops_total` and the latency histogram.
//
// Method: call NodeMetrics.opDone in a tight loop over a mix of command/result pairs,
// against (a) the same loop with only the two performance.now() reads that timing an
// operation needs anyway and (b) prom-client's own counter and histogram, children bound
// once with labels(), which is what opDone avoids. Prints ns per operation, the median of
// --rounds rounds of --ops operations each, and the time one scrape takes (the exposition
// text of a node that has seen every pair).
//
//   node dist/bench/metrics_bench.js [--ops 2000000] [--rounds 5]
import { Counter, Histogram, Registry } from "prom-client";
import { LATENCY_BUCKETS_SECONDS, NodeMetrics } from "../src/frontdoor/metrics";

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

const PAIRS: Array<[string, string]> = [
  ["get", "RESULT_CODE_OK"],
  ["prepare", "RESULT_CODE_OK"],
  ["commit", "RESULT_CODE_OK"],
  ["get", "RESULT_CODE_OK"],
  ["prepare", "RESULT_CODE_LOCKED"],
  ["ping", "RESULT_CODE_OK"],
  ["abort", "RESULT_CODE_OK"],
  ["get", "RESULT_CODE_NOT_SERVING"],
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const ops = arg("ops", 2_000_000);
  const rounds = arg("rounds", 5);
  const metrics = new NodeMetrics({ mode: "ecc", address: "127.0.0.1:3000" });
  let sink = 0;
  const baseline: number[] = [];
  const measured: number[] = [];
  const direct: number[] = [];
  const registry = new Registry();
  const counter = new Counter({ name: "ops_total", help: "x", labelNames: ["command", "result"], registers: [registry] });
  const histogram = new Histogram({ name: "op_seconds", help: "x", labelNames: ["command"], buckets: LATENCY_BUCKETS_SECONDS, registers: [registry] });
  const children = PAIRS.map(([command, result]) => ({ count: counter.labels(command, result), latency: histogram.labels(command) }));
  for (let round = 0; round < rounds; round++) {
    let started = performance.now();
    for (let i = 0; i < ops; i++) {
      const startedMs = performance.now();
      sink += performance.now() - startedMs;
    }
    baseline.push(((performance.now() - started) * 1e6) / ops);
    started = performance.now();
    for (let i = 0; i < ops; i++) {
      const [command, result] = PAIRS[i & 7];
      metrics.opDone(command, result, performance.now());
    }
    measured.push(((performance.now() - started) * 1e6) / ops);
    started = performance.now();
    for (let i = 0; i < ops; i++) {
      const startedMs = performance.now();
      const child = children[i & 7];
      child.count.inc();
      child.latency.observe((performance.now() - startedMs) / 1000);
    }
    direct.push(((performance.now() - started) * 1e6) / ops);
  }
  const scrapeStarted = performance.now();
  const { body } = await metrics.exposition();
  const scrapeMs = performance.now() - scrapeStarted;
  const base = median(baseline);
  const withMetrics = median(measured);
  process.stdout.write(`metrics per operation (${rounds} rounds of ${ops} ops, median; ${process.version})\n`);
  process.stdout.write(`  timing only (2 x performance.now):          ${base.toFixed(1)} ns/op\n`);
  process.stdout.write(`  NodeMetrics.opDone (timing included):      ${withMetrics.toFixed(1)} ns/op\n`);
  process.stdout.write(`  prom-client inc + observe (timing incl.):  ${median(direct).toFixed(1)} ns/op\n`);
  process.stdout.write(`  one scrape: ${scrapeMs.toFixed(2)} ms, ${body.length} bytes of text\n`);
  if (sink < 0) process.stdout.write("\n"); // keeps the baseline loop from being optimised away
}

void main();
