// Codec benchmark (not a test): MB/s of value bytes for each backend, value size and shape.
//
//   node dist/bench/codec_bench.js [--json FILE] [--cell-ms N] [--backends table,wasm,native]
//
// Cells:
// - encode:  split(value) + encode(shards), i.e. value bytes in, k+m shards out;
// - rebuild: reconstruct() with n-k shards missing, all of them data shards when possible
//            (the worst case: parity-only losses need no decoding), then join();
// - memcpy:  Buffer.copy of the same number of bytes, as a ceiling from the same run.
// The native addon (@ronomon/reed-solomon) is measured for information only: it is async
// and encodes a different code (see bench/native_codec.ts), so it is not a backend. Its
// cells await one call at a time, which is the latency a single request would see.
//
// Each backend runs in its own child process (this script with --worker BACKEND), one after
// the other: in one shared process the wasm cells' garbage (every wasm rebuild allocates a
// fresh 1.1 MiB wasm memory) and the native addon's threadpool callbacks slowed the table
// cells measured after them by up to 2x, and production runs one backend per process anyway.
// memcpy is measured in the parent. Each cell warms up for a fifth of its budget, then runs
// batches until `cellMs` (default 150 ms) have passed. MB = 10^6 bytes. Figures are
// comparable within a run; across machines compare ratios (e.g. to memcpy).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as os from "node:os";

import type { ErasureCodec } from "../src/codec/codec";
import { availableBackends, createCodec } from "../src/codec/index";
import { loadNativeBinding, NativeCauchyCoder } from "./native_codec";
import { SeededRandom } from "../src/core/env";

const VALUE_SIZES: ReadonlyArray<{ label: string; valueBytes: number }> = [
  { label: "100 B", valueBytes: 100 },
  { label: "1 KiB", valueBytes: 1024 },
  { label: "64 KiB", valueBytes: 64 * 1024 },
  { label: "1 MiB", valueBytes: 1024 * 1024 },
];
/** (k, n): k data shards out of n in all, so m = n - k. */
const SHAPES: ReadonlyArray<{ dataShards: number; totalShards: number }> = [
  { dataShards: 2, totalShards: 3 },
  { dataShards: 3, totalShards: 5 },
  { dataShards: 4, totalShards: 6 },
];
const CELL_MS_DEFAULT = 150;
const SEED = 0xc0dec;

type Operation = "encode" | "rebuild" | "memcpy";

interface CellResult {
  name: string; // e.g. ecc-k3n5-table-encode-1KiB
  backend: string;
  operation: Operation;
  valueBytes: number;
  dataShards: number | null;
  totalShards: number | null;
  /** False for the native addon: its shards are a different code. */
  formatCompatible: boolean;
  iterations: number;
  elapsedMs: number;
  megabytesPerSecond: number;
  microsecondsPerOp: number;
}

// Written by every op so the JIT cannot drop the work.
let sink = 0;

const BENCH_BACKENDS = ["table", "wasm", "native"] as const;
type BenchBackend = (typeof BENCH_BACKENDS)[number];

interface BenchArguments {
  jsonPath: string | null;
  cellMs: number;
  /** Backends to measure; "native" means the informational native addon cells. */
  backends: readonly BenchBackend[];
  /** Set in a child process: measure only this backend and print its cells as JSON. */
  worker: BenchBackend | null;
}

function parseBackend(name: string): BenchBackend {
  const backend = BENCH_BACKENDS.find((candidate) => candidate === name);
  if (backend === undefined) throw new Error(`unknown backend '${name}' (use ${BENCH_BACKENDS.join(", ")})`);
  return backend;
}

function parseArguments(argv: string[]): BenchArguments {
  let jsonPath: string | null = null;
  let cellMs = CELL_MS_DEFAULT;
  let backends: readonly BenchBackend[] = BENCH_BACKENDS;
  let worker: BenchBackend | null = null;
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (argument === "--json") {
      jsonPath = argv[++i] ?? null;
      if (jsonPath === null) throw new Error("--json needs a file path");
    } else if (argument === "--cell-ms") {
      cellMs = Number(argv[++i]);
      if (!Number.isFinite(cellMs) || cellMs <= 0 || cellMs > 10_000) throw new Error("--cell-ms needs 0 < N <= 10000");
    } else if (argument === "--backends") {
      backends = (argv[++i] ?? "").split(",").filter((name) => name !== "").map(parseBackend);
    } else if (argument === "--worker") {
      worker = parseBackend(argv[++i] ?? "");
    } else {
      throw new Error(`unknown argument '${argument}' (use --json FILE, --cell-ms N, --backends LIST)`);
    }
  }
  return { jsonPath, cellMs, backends, worker };
}

/** Runs op in doubling batches until budgetMs passed; a batch never exceeds ~1/20 of it. */
function runSync(op: () => void, budgetMs: number): { iterations: number; elapsedMs: number } {
  let batch = 1;
  let iterations = 0;
  const start = performance.now();
  for (;;) {
    for (let i = 0; i < batch; i++) op();
    iterations += batch;
    const elapsedMs = performance.now() - start;
    if (elapsedMs >= budgetMs) return { iterations, elapsedMs };
    if (elapsedMs < budgetMs / 20) batch *= 2;
  }
}

async function runAsync(op: () => Promise<void>, budgetMs: number): Promise<{ iterations: number; elapsedMs: number }> {
  let iterations = 0;
  const start = performance.now();
  for (;;) {
    await op();
    iterations++;
    const elapsedMs = performance.now() - start;
    if (elapsedMs >= budgetMs) return { iterations, elapsedMs };
  }
}

function result(
  fields: Omit<CellResult, "megabytesPerSecond" | "microsecondsPerOp" | "name">,
  sizeLabel: string,
): CellResult {
  const shape = fields.dataShards === null ? "" : `k${fields.dataShards}n${fields.totalShards}-`;
  return {
    name: `ecc-${shape}${fields.backend}-${fields.operation}-${sizeLabel.replace(" ", "")}`,
    ...fields,
    megabytesPerSecond: (fields.valueBytes * fields.iterations) / (fields.elapsedMs / 1000) / 1e6,
    microsecondsPerOp: (fields.elapsedMs * 1000) / fields.iterations,
  };
}

function randomBytes(random: SeededRandom, byteCount: number): Uint8Array {
  const bytes = new Uint8Array(byteCount);
  for (let i = 0; i < byteCount; i++) bytes[i] = random.int(256);
  return bytes;
}

/** The n-k shards to drop: data shards first (worst case), then parity if m > k. */
function missingIndexes(dataShards: number, totalShards: number): number[] {
  return Array.from({ length: totalShards - dataShards }, (_, i) => i);
}

function measureCodec(codec: ErasureCodec, value: Uint8Array, sizeLabel: string, cellMs: number): CellResult[] {
  const valueBytes = value.length;
  const common = {
    backend: codec.name,
    valueBytes,
    dataShards: codec.dataShards,
    totalShards: codec.dataShards + codec.parityShards,
    formatCompatible: true,
  };

  const encodeOp = (): void => {
    const shards = codec.split(value);
    codec.encode(shards);
    sink ^= shards[codec.dataShards][0];
  };
  runSync(encodeOp, cellMs / 5);
  const encode = result({ ...common, operation: "encode", ...runSync(encodeOp, cellMs) }, sizeLabel);

  const shards = codec.split(value);
  codec.encode(shards);
  const missing = missingIndexes(codec.dataShards, common.totalShards);
  const rebuildOp = (): Uint8Array => {
    const degraded: Array<Uint8Array | null> = shards.slice();
    for (const shardIndex of missing) degraded[shardIndex] = null;
    codec.reconstruct(degraded);
    const joined = codec.join(degraded, valueBytes);
    sink ^= joined.length;
    return joined;
  };
  assert.deepEqual(rebuildOp(), value, `${codec.name} rebuild must return the value`);
  runSync(rebuildOp, cellMs / 5);
  const rebuild = result({ ...common, operation: "rebuild", ...runSync(rebuildOp, cellMs) }, sizeLabel);
  return [encode, rebuild];
}

async function measureNative(
  coder: NativeCauchyCoder,
  value: Uint8Array,
  sizeLabel: string,
  cellMs: number,
): Promise<CellResult[]> {
  const valueBytes = value.length;
  const k = coder.dataShards;
  const m = coder.parityShards;
  const shardBytes = coder.shardBytes(valueBytes);
  const common = {
    backend: "native",
    valueBytes,
    dataShards: k,
    totalShards: k + m,
    formatCompatible: false,
  };

  // encode: like split+encode, allocate the shard buffers and copy the value in every time.
  const encodeOp = async (): Promise<void> => {
    const data = Buffer.alloc(k * shardBytes);
    data.set(value);
    const parity = Buffer.alloc(m * shardBytes);
    await coder.encodeAsync(data, parity, shardBytes);
    sink ^= parity[0];
  };
  await runAsync(encodeOp, cellMs / 5);
  const encode = result({ ...common, operation: "encode", ...(await runAsync(encodeOp, cellMs)) }, sizeLabel);

  // rebuild: overwrite the missing shards in place, then copy the value out (like join).
  const data = Buffer.alloc(k * shardBytes);
  data.set(value);
  const parity = Buffer.alloc(m * shardBytes);
  await coder.encodeAsync(data, parity, shardBytes);
  const missing = missingIndexes(k, k + m);
  for (const shardIndex of missing) {
    if (shardIndex < k) data.fill(0xee, shardIndex * shardBytes, (shardIndex + 1) * shardBytes);
  }
  await coder.rebuildAsync(data, parity, shardBytes, missing);
  assert.deepEqual(new Uint8Array(data.subarray(0, valueBytes)), value, "native rebuild must return the value");
  const rebuildOp = async (): Promise<void> => {
    await coder.rebuildAsync(data, parity, shardBytes, missing);
    const joined = new Uint8Array(valueBytes);
    joined.set(data.subarray(0, valueBytes));
    sink ^= joined.length;
  };
  await runAsync(rebuildOp, cellMs / 5);
  const rebuild = result({ ...common, operation: "rebuild", ...(await runAsync(rebuildOp, cellMs)) }, sizeLabel);
  return [encode, rebuild];
}

function measureMemcpy(valueBytes: number, sizeLabel: string, cellMs: number): CellResult {
  const source = Buffer.alloc(valueBytes, 0x5a);
  const target = Buffer.alloc(valueBytes);
  const op = (): void => {
    source.copy(target);
    sink ^= target[valueBytes - 1];
  };
  runSync(op, cellMs / 5);
  return result(
    {
      backend: "memcpy",
      operation: "memcpy",
      valueBytes,
      dataShards: null,
      totalShards: null,
      formatCompatible: true,
      ...runSync(op, cellMs),
    },
    sizeLabel,
  );
}

function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    // No repository or no commit yet: the JSON records null rather than failing the run.
    return null;
  }
}

function formatRate(cell: CellResult | undefined): string {
  if (cell === undefined) return "-";
  const rate = cell.megabytesPerSecond >= 100 ? cell.megabytesPerSecond.toFixed(0) : cell.megabytesPerSecond.toFixed(1);
  const latency = cell.microsecondsPerOp >= 100 ? cell.microsecondsPerOp.toFixed(0) : cell.microsecondsPerOp.toFixed(1);
  return `${rate} (${latency} µs)`;
}

function markdownTable(results: CellResult[]): string {
  const lines = [
    "| value | (k,n) | backend | encode MB/s (µs/op) | rebuild MB/s (µs/op) | memcpy MB/s |",
    "|---|---|---|---:|---:|---:|",
  ];
  for (const size of VALUE_SIZES) {
    const memcpy = results.find((r) => r.operation === "memcpy" && r.valueBytes === size.valueBytes);
    for (const shape of SHAPES) {
      const backends = [...new Set(results.filter((r) => r.dataShards === shape.dataShards).map((r) => r.backend))];
      for (const backend of backends) {
        const find = (operation: Operation): CellResult | undefined =>
          results.find(
            (r) =>
              r.backend === backend &&
              r.operation === operation &&
              r.valueBytes === size.valueBytes &&
              r.dataShards === shape.dataShards &&
              r.totalShards === shape.totalShards,
          );
        const label = backend === "native" ? "native*" : backend;
        lines.push(
          `| ${size.label} | (${shape.dataShards},${shape.totalShards}) | ${label} | ${formatRate(find("encode"))} | ` +
            `${formatRate(find("rebuild"))} | ${memcpy === undefined ? "-" : memcpy.megabytesPerSecond.toFixed(0)} |`,
        );
      }
    }
  }
  lines.push("");
  lines.push("MB = 10^6 value bytes. encode = split+encode; rebuild = reconstruct with n-k data shards missing + join.");
  lines.push("native* = @ronomon/reed-solomon, informational only: async (one call awaited at a time), different code,");
  lines.push("shard size rounded up to a multiple of 8; not usable as an ErasureCodec backend.");
  return lines.join("\n");
}

/** The value for one size; seeded by size so every child process sees the same bytes. */
function valueFor(valueBytes: number): Uint8Array {
  return randomBytes(new SeededRandom(SEED + valueBytes), valueBytes);
}

/** Child process: every cell of one backend, in size-major order. */
async function measureBackend(backend: BenchBackend, cellMs: number): Promise<CellResult[]> {
  const results: CellResult[] = [];
  const native = backend === "native" ? loadNativeBinding() : null;
  if (backend !== "native") {
    // Let the JIT see every shape and a small and a mid size before the first timed cell;
    // without this the first small-value cells ran up to 2x slow (tier-up, deopts).
    for (const shape of SHAPES) {
      const codec = await createCodec(backend, shape.dataShards, shape.totalShards - shape.dataShards);
      for (const valueBytes of [100, 4096]) measureCodec(codec, valueFor(valueBytes), "warm-up", cellMs / 10);
    }
  }
  for (const size of VALUE_SIZES) {
    const value = valueFor(size.valueBytes);
    for (const shape of SHAPES) {
      const parityShards = shape.totalShards - shape.dataShards;
      if (native !== null) {
        if (native.binding === null) return results; // reported by the parent
        const coder = new NativeCauchyCoder(native.binding, shape.dataShards, parityShards);
        results.push(...(await measureNative(coder, value, size.label, cellMs)));
      } else {
        assert.ok(backend !== "native");
        const codec = await createCodec(backend, shape.dataShards, parityShards);
        results.push(...measureCodec(codec, value, size.label, cellMs));
      }
    }
  }
  return results;
}

async function main(): Promise<void> {
  const { jsonPath, cellMs, backends: wanted, worker } = parseArguments(process.argv.slice(2));
  if (worker !== null) {
    const results = await measureBackend(worker, cellMs);
    process.stdout.write(`${JSON.stringify({ results, sink })}\n`);
    return;
  }

  const startedMs = performance.now();
  const available: string[] = await availableBackends();
  const native = loadNativeBinding();
  if (native.binding !== null) available.push("native");
  const backends = wanted.filter((backend) => available.includes(backend));
  const skipped = wanted.filter((backend) => !available.includes(backend));

  const results: CellResult[] = [];
  for (const size of VALUE_SIZES) results.push(measureMemcpy(size.valueBytes, size.label, cellMs));
  for (const backend of backends) {
    const output = execFileSync(
      process.execPath,
      [__filename, "--worker", backend, "--cell-ms", String(cellMs)],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "inherit"] },
    );
    const child = JSON.parse(output) as { results: CellResult[]; sink: number };
    results.push(...child.results);
  }

  const table = markdownTable(results);
  process.stdout.write(`${table}\n`);
  const runtimeMs = performance.now() - startedMs;
  const skippedNote = skipped.length === 0 ? "" : `; unavailable: ${skipped.join(", ")}`;
  const nativeNote = native.error === null ? "" : ` (native: ${native.error.message})`;
  process.stdout.write(`\nmeasured: ${backends.join(", ")}${skippedNote}${nativeNote}; ${(runtimeMs / 1000).toFixed(1)} s\n`);

  if (jsonPath !== null) {
    const report = {
      benchmark: "codec",
      unit: "MB/s = 10^6 value bytes per second",
      seed: SEED,
      cellMs,
      commit: gitCommit(),
      startedAt: new Date().toISOString(),
      runtimeMs,
      environment: {
        node: process.version,
        v8: process.versions.v8,
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        cpu: os.cpus()[0]?.model ?? "unknown",
        cpuCount: os.cpus().length,
        loadAverage: os.loadavg(),
      },
      backends,
      skippedBackends: skipped,
      results,
    };
    writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`wrote ${jsonPath}\n`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
