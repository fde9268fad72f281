// Erasure codec over @subspace/reed-solomon-erasure.wasm: the Rust crate reed-solomon-erasure
// 3.1 (a port of Backblaze JavaReedSolomon, same field and matrix as TableCodec, so the parity
// is byte-identical) compiled to WebAssembly, with wee_alloc as its allocator.
//
// UPSTREAM BUG (v0.2.5, reproduced here on Node 20): `reconstruct` corrupts the instance's
// heap. The first reconstruct with a missing data shard on a fresh instance is correct; a
// later one on the same instance may return wrong data shards with RESULT_OK (k=3, m=2,
// one-byte shards: lose shard 0, then shard 1 -> garbage), return TOO_FEW_SHARDS_PRESENT
// with enough shards, or trap with "memory access out of bounds" inside wee_alloc (every
// shape with k+m <= 4, on the second call). A later *encode* on that instance can trap too.
// Encode alone stayed correct over many random shapes on one instance, and one reconstruct
// per fresh instance was correct in every loss pattern tried (test/unit/codec.test.ts checks
// it byte for byte against the reference codec). Hence:
// - one shared, process-wide instance does every encode and never runs reconstruct;
// - every reconstruct runs on a fresh single-use instance (instantiating it, mostly
//   allocating the initial wasm memory, dominates). Correct, but slow; see index.ts for why
//   "auto" does not pick this backend anyway.
//
// Other properties of the package's API and how this wrapper copes:
// - Instantiation is the only asynchronous step (file read); k and m are arguments of each
//   call, not instance state, so one instance serves every codec.
// - encode/reconstruct take one contiguous buffer of k+m equal shards and derive the shard
//   size as buffer.length / (k+m), so we stage our separate shards into one reused buffer.
// - Each call mallocs a buffer of the same size inside wasm memory, copies our staging
//   buffer in and the results back; the public API offers no way around that. wasm memory
//   grows to the largest call and never shrinks.
// - The Rust side rebuilds its encoding matrix on every call; with the copies this is a
//   fixed cost of several microseconds per call that dominates small values.
// - reconstruct only rebuilds *data* shards; missing parity is recomputed with encode.
// - Results are numeric codes. We validate everything first, so any code other than OK is a
//   backend failure, reported as InternalError.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import * as path from "node:path";

import type { ReedSolomonErasure } from "@subspace/reed-solomon-erasure.wasm";

import { InternalError, TooFewShardsError } from "../core/errors";
import { isShardPresent, SystematicCodecBase, validateShardCounts } from "./table_codec";

/**
 * Staging buffers up to this size are kept between calls; larger ones (a huge stripe) are
 * allocated per call so one big value does not pin memory forever.
 */
export const WASM_STAGING_BYTES_RETAINED_MAX = 16 * 1024 * 1024;

// Codes from the package's RESULT_* constants, for messages.
const WASM_RESULT_NAMES: readonly string[] = [
  "OK",
  "TOO_FEW_SHARDS",
  "TOO_MANY_SHARDS",
  "TOO_FEW_DATA_SHARDS",
  "TOO_MANY_DATA_SHARDS",
  "TOO_FEW_PARITY_SHARDS",
  "TOO_MANY_PARITY_SHARDS",
  "TOO_FEW_BUFFER_SHARDS",
  "TOO_MANY_BUFFER_SHARDS",
  "INCORRECT_SHARD_SIZE",
  "TOO_FEW_SHARDS_PRESENT",
  "EMPTY_SHARD",
  "INVALID_SHARD_FLAGS",
  "INVALID_INDEX",
];
const WASM_RESULT_OK = 0;
const WASM_RESULT_TOO_FEW_SHARDS_PRESENT = 10;
const WASM_FILE_NAME = "reed_solomon_erasure_bg.wasm";

/** What the codec needs from the package: its class, the module bytes, the shared engine. */
export interface WasmRuntime {
  readonly engineClass: typeof ReedSolomonErasure;
  readonly wasmBytes: Uint8Array;
  /** Used for encode only; never for reconstruct (see the bug note above). */
  readonly sharedEngine: ReedSolomonErasure;
}

let runtimePromise: Promise<WasmRuntime> | null = null;

/**
 * The process-wide wasm runtime. A failure (package or .wasm file missing) is cached too:
 * it is permanent for this process, and callers fall back to another backend.
 */
export function loadWasmRuntime(): Promise<WasmRuntime> {
  if (runtimePromise === null) {
    runtimePromise = (async () => {
      // Loaded lazily so that a broken install only disables this backend.
      const wasmPackage = await import("@subspace/reed-solomon-erasure.wasm");
      const engineClass = wasmPackage.ReedSolomonErasure;
      assert.equal(engineClass.RESULT_OK, WASM_RESULT_OK);
      assert.equal(engineClass.RESULT_ERROR_TOO_FEW_SHARDS_PRESENT, WASM_RESULT_TOO_FEW_SHARDS_PRESENT);
      // The same file fromCurrentDirectory() reads; we keep the bytes for single-use engines.
      const packageEntry = require.resolve("@subspace/reed-solomon-erasure.wasm");
      const wasmBytes = new Uint8Array(await readFile(path.join(path.dirname(packageEntry), WASM_FILE_NAME)));
      const sharedEngine = engineClass.fromBytes(wasmBytes);
      return { engineClass, wasmBytes, sharedEngine };
    })();
  }
  return runtimePromise;
}

/** Async factory: the only await is the one-time load of the wasm runtime. */
export async function createWasmCodec(dataShards: number, parityShards: number): Promise<WasmCodec> {
  validateShardCounts(dataShards, parityShards);
  const runtime = await loadWasmRuntime();
  return new WasmCodec(runtime, dataShards, parityShards);
}

export class WasmCodec extends SystematicCodecBase {
  readonly name = "wasm";
  private readonly runtime: WasmRuntime;
  private stagingBuffer = new Uint8Array(0);
  /** Reused availability flags for reconstruct (the package maps them to bytes itself). */
  private readonly shardsAvailable: boolean[];

  constructor(runtime: WasmRuntime, dataShards: number, parityShards: number) {
    super(dataShards, parityShards);
    this.runtime = runtime;
    this.shardsAvailable = new Array<boolean>(this.totalShards).fill(false);
  }

  protected computeParity(data: Uint8Array[], parity: Uint8Array[], shardBytes: number): void {
    const staging = this.staging(shardBytes);
    for (let j = 0; j < this.dataShards; j++) staging.set(data[j], j * shardBytes);
    // The parity region need not be cleared: encode overwrites it.
    this.check("encode", this.runtime.sharedEngine.encode(staging, this.dataShards, this.parityShards));
    for (let r = 0; r < this.parityShards; r++) {
      const start = (this.dataShards + r) * shardBytes;
      parity[r].set(staging.subarray(start, start + shardBytes));
    }
  }

  protected rebuildMissing(shards: Array<Uint8Array | null>, shardBytes: number, wanted: readonly boolean[]): void {
    const k = this.dataShards;
    const staging = this.staging(shardBytes);
    let parityWanted = false;
    for (let r = 0; r < this.parityShards; r++) parityWanted ||= wanted[k + r] === true && !isShardPresent(shards[k + r]);
    let dataMissing = false;
    for (let i = 0; i < this.totalShards; i++) {
      const shard = shards[i];
      const present = isShardPresent(shard);
      this.shardsAvailable[i] = present;
      // Missing slots keep stale bytes; the library ignores slots flagged unavailable.
      if (present) staging.set(shard, i * shardBytes);
      else if (i < k) dataMissing = true;
    }
    if (dataMissing) {
      // A fresh instance for every reconstruct: reconstruct corrupts its instance's heap.
      const singleUseEngine = this.runtime.engineClass.fromBytes(this.runtime.wasmBytes);
      this.check("reconstruct", singleUseEngine.reconstruct(staging, k, this.parityShards, this.shardsAvailable));
      for (let j = 0; j < k; j++) {
        if (!isShardPresent(shards[j]) && (parityWanted || wanted[j] === true)) shards[j] = staging.slice(j * shardBytes, (j + 1) * shardBytes);
      }
    }
    if (!parityWanted) return;
    // staging now holds every data shard, so encode yields every parity shard.
    this.check("encode", this.runtime.sharedEngine.encode(staging, k, this.parityShards));
    for (let r = 0; r < this.parityShards; r++) {
      if (isShardPresent(shards[k + r]) || wanted[k + r] !== true) continue;
      const start = (k + r) * shardBytes;
      shards[k + r] = staging.slice(start, start + shardBytes);
    }
  }

  /** A view of exactly (k+m) * shardBytes bytes: the library infers the shard size from it. */
  private staging(shardBytes: number): Uint8Array {
    const stagingBytes = this.totalShards * shardBytes;
    if (this.stagingBuffer.length >= stagingBytes) return this.stagingBuffer.subarray(0, stagingBytes);
    const buffer = new Uint8Array(stagingBytes);
    if (stagingBytes <= WASM_STAGING_BYTES_RETAINED_MAX) this.stagingBuffer = buffer;
    return buffer;
  }

  private check(operation: string, result: number): void {
    if (result === WASM_RESULT_OK) return;
    const resultName = WASM_RESULT_NAMES[result] ?? `code ${result}`;
    if (result === WASM_RESULT_TOO_FEW_SHARDS_PRESENT) {
      // Unreachable after SystematicCodecBase's count check; kept typed in case it is not.
      throw new TooFewShardsError(`reed-solomon-erasure.wasm ${operation}: ${resultName}`);
    }
    throw new InternalError(`reed-solomon-erasure.wasm ${operation} failed: ${resultName}`);
  }
}
