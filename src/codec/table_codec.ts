// The reference erasure codec in plain TypeScript, and the shape rules every backend shares.
//
// `SystematicCodecBase` owns everything that is not field arithmetic: argument checks with
// typed errors, split/join, the shard-size rule and the "is anything missing" bookkeeping.
// A backend supplies only two primitives (compute parity, rebuild missing shards), so all
// backends reject bad input identically and the tests can hold them to one contract.
//
// `TableCodec` is the slow-but-obvious reference: the systematic Vandermonde construction of
// Backblaze JavaReedSolomon / klauspost/reedsolomon over GF(2^8) (poly 0x11d), one table
// lookup per byte per coefficient. Faster backends are tested byte-for-byte against it.
import assert from "node:assert/strict";

import {
  CorruptShardError,
  InvalidArgumentError,
  InvalidShardCountError,
  ShardSizeMismatchError,
  TooFewShardsError,
} from "../core/errors";
import { SHARDS_TOTAL_MAX } from "../core/limits";
import type { ErasureCodec } from "./codec";
import {
  buildEncodingMatrix,
  type GfMatrix,
  matrixInvert,
  matrixSelectRows,
  mulAddSlice,
  mulSlice,
  wordsOf,
} from "./gf256";

/**
 * Throws InvalidShardCountError unless 1 <= dataShards, 1 <= parityShards and the total fits
 * GF(2^8) (at most SHARDS_TOTAL_MAX = 256 distinct shard rows).
 */
export function validateShardCounts(dataShards: number, parityShards: number): void {
  if (!Number.isSafeInteger(dataShards) || dataShards < 1) {
    throw new InvalidShardCountError(`dataShards must be an integer >= 1, got ${dataShards}`);
  }
  if (!Number.isSafeInteger(parityShards) || parityShards < 1) {
    throw new InvalidShardCountError(`parityShards must be an integer >= 1, got ${parityShards}`);
  }
  if (dataShards + parityShards > SHARDS_TOTAL_MAX) {
    throw new InvalidShardCountError(
      `dataShards + parityShards = ${dataShards + parityShards}; GF(2^8) allows at most ${SHARDS_TOTAL_MAX}`,
    );
  }
}

/**
 * A shard slot counts as present when it holds at least one byte. A zero-length array is
 * treated like null (as klauspost does): no valid shard is empty, since the smallest shard
 * is one byte.
 */
export function isShardPresent(shard: Uint8Array | null | undefined): shard is Uint8Array {
  return shard !== null && shard !== undefined && shard.length > 0;
}

/** Byte equality through Buffer views (no copies); Buffer.equals is a memcmp. */
export function bytesEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left.length !== right.length) return false;
  const leftView = Buffer.from(left.buffer, left.byteOffset, left.byteLength);
  const rightView = Buffer.from(right.buffer, right.byteOffset, right.byteLength);
  return leftView.equals(rightView);
}

/**
 * Shape rules shared by every backend. Subclasses implement `computeParity` and
 * `rebuildMissing`; this class validates their inputs and asserts their outputs.
 *
 * Conventions (beyond codec.ts):
 * - shards passed to encode/verify must all be present and of one length (>= 1 byte),
 *   else ShardSizeMismatchError; an array whose length is not k+m is InvalidShardCountError;
 * - reconstruct/reconstructData treat null and zero-length slots as missing and put newly
 *   allocated shards into those slots; present shards are never modified;
 * - split() allocates every shard separately (never views into one shared buffer), so a
 *   store that keeps one shard does not keep the others alive;
 * - join() requires the data shards to be exactly shardBytes(valueBytes) long and the
 *   padding after valueBytes to be zero; nonzero padding means the shards or the recorded
 *   length are wrong, and it is reported as CorruptShardError rather than returned.
 */
export abstract class SystematicCodecBase implements ErasureCodec {
  abstract readonly name: string;
  readonly dataShards: number;
  readonly parityShards: number;
  readonly totalShards: number;

  constructor(dataShards: number, parityShards: number) {
    validateShardCounts(dataShards, parityShards);
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    this.totalShards = dataShards + parityShards;
  }

  /**
   * Fill `parity` (m shards of shardBytes) from `data` (k shards of shardBytes). Inputs are
   * validated; `parity` arrays are distinct from `data` and may hold anything.
   */
  protected abstract computeParity(data: Uint8Array[], parity: Uint8Array[], shardBytes: number): void;

  /**
   * Put a new shard of shardBytes into every missing slot whose `wanted` flag is set, and
   * into every missing data slot when a wanted parity slot is missing (parity is computed
   * from the data). Called only with at least k present shards, all of shardBytes, and at
   * least one wanted slot to fill. Must not modify present shards.
   */
  protected abstract rebuildMissing(
    shards: Array<Uint8Array | null>,
    shardBytes: number,
    wanted: readonly boolean[],
  ): void;

  shardBytes(valueBytes: number): number {
    if (!Number.isSafeInteger(valueBytes) || valueBytes < 0) {
      throw new InvalidArgumentError(`valueBytes must be a non-negative integer, got ${valueBytes}`);
    }
    return Math.max(1, Math.ceil(valueBytes / this.dataShards));
  }

  split(value: Uint8Array): Uint8Array[] {
    const valueBytes = value.length;
    const shardBytes = this.shardBytes(valueBytes);
    const shards: Uint8Array[] = [];
    for (let shardIndex = 0; shardIndex < this.totalShards; shardIndex++) {
      const shard = new Uint8Array(shardBytes); // zeroed: padding and parity start at 0
      if (shardIndex < this.dataShards) {
        const start = Math.min(shardIndex * shardBytes, valueBytes);
        const end = Math.min(start + shardBytes, valueBytes);
        shard.set(value.subarray(start, end));
      }
      shards.push(shard);
    }
    return shards;
  }

  encode(shards: Uint8Array[]): void {
    const shardBytes = this.checkAllPresent(shards, "encode");
    this.computeParity(shards.slice(0, this.dataShards), shards.slice(this.dataShards), shardBytes);
  }

  verify(shards: Uint8Array[]): boolean {
    const shardBytes = this.checkAllPresent(shards, "verify");
    const expected: Uint8Array[] = [];
    for (let r = 0; r < this.parityShards; r++) expected.push(new Uint8Array(shardBytes));
    this.computeParity(shards.slice(0, this.dataShards), expected, shardBytes);
    for (let r = 0; r < this.parityShards; r++) {
      if (!bytesEqual(expected[r], shards[this.dataShards + r])) return false;
    }
    return true;
  }

  reconstruct(shards: Array<Uint8Array | null>): void {
    this.rebuild(shards, this.allSlots);
  }

  reconstructData(shards: Array<Uint8Array | null>): void {
    this.rebuild(shards, this.dataSlots);
  }

  reconstructSome(shards: Array<Uint8Array | null>, wanted: readonly boolean[]): void {
    if (!Array.isArray(wanted) || wanted.length !== this.totalShards) {
      const got = Array.isArray(wanted) ? `${wanted.length}` : typeof wanted;
      throw new InvalidShardCountError(`expected ${this.totalShards} wanted flags, one per shard slot, got ${got}`);
    }
    this.rebuild(shards, wanted);
  }

  /** `wanted` flags for every slot, and for the data slots only. */
  private get allSlots(): readonly boolean[] {
    return (this.allSlotsValue ??= new Array<boolean>(this.totalShards).fill(true));
  }
  private get dataSlots(): readonly boolean[] {
    return (this.dataSlotsValue ??= Array.from({ length: this.totalShards }, (_, i) => i < this.dataShards));
  }
  private allSlotsValue: boolean[] | null = null;
  private dataSlotsValue: boolean[] | null = null;

  join(shards: Array<Uint8Array | null>, valueBytes: number): Uint8Array {
    this.checkShardCount(shards);
    const shardBytes = this.shardBytes(valueBytes);
    for (let shardIndex = 0; shardIndex < this.dataShards; shardIndex++) {
      const shard = shards[shardIndex];
      if (!isShardPresent(shard)) {
        throw new TooFewShardsError(`join needs every data shard; shard ${shardIndex} is missing (reconstructData first)`);
      }
      if (shard.length !== shardBytes) {
        throw new ShardSizeMismatchError(
          `data shard ${shardIndex} is ${shard.length} bytes; a ${valueBytes}-byte value has ${shardBytes}-byte shards`,
        );
      }
    }
    const value = new Uint8Array(valueBytes);
    for (let shardIndex = 0; shardIndex < this.dataShards; shardIndex++) {
      const shard = shards[shardIndex];
      assert.ok(shard !== null);
      const start = shardIndex * shardBytes;
      const usedBytes = Math.max(0, Math.min(shardBytes, valueBytes - start));
      if (usedBytes > 0) value.set(shard.subarray(0, usedBytes), start);
      for (let i = usedBytes; i < shardBytes; i++) {
        if (shard[i] !== 0) {
          throw new CorruptShardError(
            `data shard ${shardIndex} has nonzero padding at byte ${i}; shards or valueBytes (${valueBytes}) are wrong`,
          );
        }
      }
    }
    return value;
  }

  // ---- Checks shared by the operations. ----

  protected checkShardCount(shards: ReadonlyArray<Uint8Array | null>): void {
    if (!Array.isArray(shards) || shards.length !== this.totalShards) {
      const got = Array.isArray(shards) ? `${shards.length}` : typeof shards;
      throw new InvalidShardCountError(
        `expected ${this.totalShards} shard slots (${this.dataShards} data + ${this.parityShards} parity), got ${got}`,
      );
    }
  }

  /** Every shard present and of one length; returns that length. */
  private checkAllPresent(shards: ReadonlyArray<Uint8Array | null>, operation: string): number {
    this.checkShardCount(shards);
    let shardBytes = -1;
    for (let shardIndex = 0; shardIndex < this.totalShards; shardIndex++) {
      const shard = shards[shardIndex];
      checkShardType(shard, shardIndex);
      if (!isShardPresent(shard)) {
        throw new ShardSizeMismatchError(`${operation} needs all ${this.totalShards} shards; shard ${shardIndex} is empty`);
      }
      if (shardBytes === -1) shardBytes = shard.length;
      if (shard.length !== shardBytes) {
        throw new ShardSizeMismatchError(`shard ${shardIndex} is ${shard.length} bytes; shard 0 is ${shardBytes} bytes`);
      }
    }
    assert.ok(shardBytes >= 1);
    return shardBytes;
  }

  private rebuild(shards: Array<Uint8Array | null>, wanted: readonly boolean[]): void {
    this.checkShardCount(shards);
    let shardBytes = -1;
    let presentCount = 0;
    for (let shardIndex = 0; shardIndex < this.totalShards; shardIndex++) {
      const shard = shards[shardIndex];
      checkShardType(shard, shardIndex);
      if (!isShardPresent(shard)) continue;
      if (shardBytes === -1) shardBytes = shard.length;
      if (shard.length !== shardBytes) {
        throw new ShardSizeMismatchError(
          `shard ${shardIndex} is ${shard.length} bytes; the other present shards are ${shardBytes} bytes`,
        );
      }
      presentCount++;
    }
    if (presentCount < this.dataShards) {
      throw new TooFewShardsError(
        `${presentCount} of ${this.totalShards} shards present; rebuilding needs ${this.dataShards}`,
      );
    }
    let missingCount = 0;
    for (let shardIndex = 0; shardIndex < this.totalShards; shardIndex++) {
      if (wanted[shardIndex] === true && !isShardPresent(shards[shardIndex])) missingCount++;
    }
    if (missingCount === 0) return;

    this.rebuildMissing(shards, shardBytes, wanted);

    for (let shardIndex = 0; shardIndex < this.totalShards; shardIndex++) {
      if (wanted[shardIndex] !== true) continue;
      const shard = shards[shardIndex];
      assert.ok(shard !== null && shard !== undefined, `backend left shard ${shardIndex} missing`);
      assert.equal(shard.length, shardBytes, `backend rebuilt shard ${shardIndex} with the wrong length`);
    }
  }
}

function checkShardType(shard: unknown, shardIndex: number): void {
  if (shard === null || shard === undefined || shard instanceof Uint8Array) return;
  throw new InvalidArgumentError(`shard ${shardIndex} is neither a Uint8Array nor null`);
}

/** Most inverted decode matrices one codec keeps (one per distinct set of surviving shards). */
export const DECODE_MATRIX_CACHE_ENTRIES_MAX = 256;

export class TableCodec extends SystematicCodecBase {
  readonly name = "table";
  /** (k+m) x k; rows 0..k-1 are the identity, row k+r holds parity r's coefficients. */
  readonly encodingMatrix: GfMatrix;
  /**
   * Decode matrices keyed by the source shard indexes ("0,2,4"). Inverting is O(k^3) and a
   * degraded cluster keeps losing the same shards, so reuse pays; evicted oldest-first.
   */
  private readonly decodeMatrixCache = new Map<string, GfMatrix>();

  constructor(dataShards: number, parityShards: number) {
    super(dataShards, parityShards);
    this.encodingMatrix = buildEncodingMatrix(dataShards, parityShards);
  }

  protected computeParity(data: Uint8Array[], parity: Uint8Array[], shardBytes: number): void {
    assert.equal(data.length, this.dataShards);
    assert.equal(parity.length, this.parityShards);
    for (let r = 0; r < this.parityShards; r++) {
      this.combine(this.encodingMatrix[this.dataShards + r], data, parity[r], shardBytes);
    }
  }

  protected rebuildMissing(shards: Array<Uint8Array | null>, shardBytes: number, wanted: readonly boolean[]): void {
    const k = this.dataShards;
    let parityWanted = false;
    for (let r = 0; r < this.parityShards; r++) parityWanted ||= wanted[k + r] === true && !isShardPresent(shards[k + r]);
    let dataMissing = false;
    for (let j = 0; j < k; j++) dataMissing ||= !isShardPresent(shards[j]) && (parityWanted || wanted[j] === true);

    if (dataMissing) {
      // Any k present shards determine the data; take the lowest indexes, which prefers data
      // shards (their encoding rows are unit vectors, so the inverse is sparser).
      const sourceIndexes: number[] = [];
      for (let i = 0; i < this.totalShards && sourceIndexes.length < k; i++) {
        if (isShardPresent(shards[i])) sourceIndexes.push(i);
      }
      assert.equal(sourceIndexes.length, k);
      const sources = sourceIndexes.map((i) => shards[i] as Uint8Array);
      const decodeMatrix = this.decodeMatrix(sourceIndexes);
      for (let j = 0; j < k; j++) {
        if (isShardPresent(shards[j]) || !(parityWanted || wanted[j] === true)) continue;
        const rebuilt = new Uint8Array(shardBytes);
        this.combine(decodeMatrix[j], sources, rebuilt, shardBytes);
        shards[j] = rebuilt;
      }
    }

    if (parityWanted) {
      const data = shards.slice(0, k) as Uint8Array[];
      for (let r = 0; r < this.parityShards; r++) {
        if (isShardPresent(shards[k + r]) || wanted[k + r] !== true) continue;
        const rebuilt = new Uint8Array(shardBytes);
        this.combine(this.encodingMatrix[k + r], data, rebuilt, shardBytes);
        shards[k + r] = rebuilt;
      }
    }
  }

  /** target = sum over i of coefficients[i] * sources[i], one pass per source. */
  private combine(coefficients: Uint8Array, sources: Uint8Array[], target: Uint8Array, shardBytes: number): void {
    assert.equal(coefficients.length, sources.length);
    const targetWords = wordsOf(target);
    mulSlice(coefficients[0], sources[0], target, shardBytes, targetWords);
    for (let i = 1; i < sources.length; i++) {
      mulAddSlice(coefficients[i], sources[i], target, shardBytes, targetWords);
    }
  }

  private decodeMatrix(sourceIndexes: number[]): GfMatrix {
    const cacheKey = sourceIndexes.join(",");
    const cached = this.decodeMatrixCache.get(cacheKey);
    if (cached !== undefined) return cached;
    const inverse = matrixInvert(matrixSelectRows(this.encodingMatrix, sourceIndexes));
    assert.ok(inverse !== null, "any k rows of the encoding matrix are independent");
    if (this.decodeMatrixCache.size >= DECODE_MATRIX_CACHE_ENTRIES_MAX) {
      const oldestKey = this.decodeMatrixCache.keys().next().value;
      assert.ok(oldestKey !== undefined);
      this.decodeMatrixCache.delete(oldestKey);
    }
    this.decodeMatrixCache.set(cacheKey, inverse);
    return inverse;
  }
}
