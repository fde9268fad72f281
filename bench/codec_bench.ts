// Codec benchmark (not a test): MB/s of value bytes for each backend, value size and shape.
//
//   node dist/bench/codec_bench.js [--json FILE] [--cell-ms N]
//
// Cells:
// - encode:  split(value) + encode(shards), i.e. value bytes in, k+m shards out;
// - rebuild: reconstruct() with n-k shards missing, all of them data shards when possible
//            (the worst case: parity-only losses need no decoding), then join();
// - memcpy:  Buffer.copy of the same number of bytes, as a ceiling from the same run.
// The native addon (@ronomon/reed-solomon) is measured for information only: it is async
// and encodes a different code (see src/codec/native_codec.ts), so it is not a backend. Its
// cells await one call at a time, which is the latency a single request would see.
//
// Each cell warms up for a fifth of its budget, then runs batches until `cellMs` (default
// 150 ms) have passed. MB = 10^6 bytes. One process, one thread: figures are comparable
// within a run; across machines compare ratios (e.g. to memcpy), not absolute numbers.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as os from "node:os";

import type { ErasureCodec } from "../src/codec/codec";
import { availableBackends, createCodec } from "../src/codec/index";
import { loadNativeBinding, NativeCauchyCoder } from "../src/codec/native_codec";
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

function parseArguments(argv: string[]): { jsonPath: string | null; cellMs: number } {
  let jsonPath: string | null = null;
  let cellMs = CELL_MS_DEFAULT;
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (argument === "--json") {
      jsonPath = argv[++i] ?? null;
      if (jsonPath === null) throw new Error("--json needs a file path");
    } else if (argument === "--cell-ms") {
      cellMs = Number(argv[++i]);
      if (!Number.isFinite(cellMs) || cellMs <= 0 || cellMs > 10_000) throw new Error("--cell-ms needs 0 < N <= 10000");
    } else {
      throw new Error(`unknown argument '${argument}' (use --json FILE, --cell-ms N)`);
    }
  }
  return { jsonPath, cellMs };
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

async function main(): Promise<void> {
  const { jsonPath, cellMs } = parseArguments(process.argv.slice(2));
  const random = new SeededRandom(SEED);
  const backends = await availableBackends();
  const native = loadNativeBinding();
  const startedMs = performance.now();
  const results: CellResult[] = [];

  for (const size of VALUE_SIZES) {
    const value = randomBytes(random, size.valueBytes);
    results.push(measureMemcpy(size.valueBytes, size.label, cellMs));
    for (const shape of SHAPES) {
      const parityShards = shape.totalShards - shape.dataShards;
      for (const backend of backends) {
        const codec = await createCodec(backend, shape.dataShards, parityShards);
        results.push(...measureCodec(codec, value, size.label, cellMs));
      }
      if (native.binding !== null) {
        const coder = new NativeCauchyCoder(native.binding, shape.dataShards, parityShards);
        results.push(...(await measureNative(coder, value, size.label, cellMs)));
      }
    }
  }

  const table = markdownTable(results);
  process.stdout.write(`${table}\n`);
  const runtimeMs = performance.now() - startedMs;
  process.stdout.write(`\nbackends: ${backends.join(", ")}; native addon: ${native.binding !== null ? "measured" : `unavailable (${native.error.message})`}; ` +
    `${(runtimeMs / 1000).toFixed(1)} s\n`);

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
      },
      backends,
      nativeMeasured: native.binding !== null,
      results,
      sink, // keeps the compiler honest about the work; meaningless otherwise
    };
    writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`wrote ${jsonPath}\n`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
