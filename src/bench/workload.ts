// YCSB-style workloads (DESIGN.md section 5), deterministic by seed.
//   A: 50% reads / 50% updates   B: 95% reads / 5% updates   C: 100% inserts of new keys
//   S: 100% updates (set) of existing keys   custom: any read/update/insert/delete mix
//   cache: zipfian reads (theta 0.99) of a key space larger than the cache's memory; a read
//          that finds nothing is followed by a set of that key, as an application with a
//          database behind its cache does. Nothing is preloaded: the cache starts cold.
// Keys are `key0`, `key1`, ... as in the original study; keys below `keyCount` are preloaded
// (except under `cache`), inserts continue at `keyCount`.
//
// Determinism: the same spec (seed included) yields the same sequence of operations, keys
// and value sizes on every platform. Kinds and keys come from one seeded stream, value sizes
// from a second one, so changing the value size distribution does not change which keys are
// touched. With concurrency > 1 the sequence is the order in which operations are *issued*;
// which worker issues which one, and the completion order, depend on timing.
import { InvalidArgumentError } from "../core/errors";
import { VALUE_BYTES_MAX } from "../core/limits";
import { Random, SeededRandom } from "../core/env";

export type OpKind = "read" | "update" | "insert" | "delete";
export const OP_KINDS: readonly OpKind[] = ["read", "update", "insert", "delete"];

export interface Mix {
  read: number;
  update: number;
  insert: number;
  delete: number;
}

export const WORKLOADS: Record<string, Mix> = {
  A: { read: 0.5, update: 0.5, insert: 0, delete: 0 },
  B: { read: 0.95, update: 0.05, insert: 0, delete: 0 },
  C: { read: 0, update: 0, insert: 1, delete: 0 },
  S: { read: 0, update: 1, insert: 0, delete: 0 },
};

/** The workload that sets a key after a read found it absent (see the header). */
export const CACHE_WORKLOAD = "cache";
export const CACHE_MIX: Mix = Object.freeze({ read: 1, update: 0, insert: 0, delete: 0 });

export type KeyDistribution = "uniform" | "zipfian";

/** Value sizes: one fixed size, or uniform over [minBytes, maxBytes] (both inclusive). */
export type ValueSize = { kind: "fixed"; bytes: number } | { kind: "uniform"; minBytes: number; maxBytes: number };

export interface WorkloadSpec {
  name: string;
  mix: Mix;
  keyCount: number;
  distribution: KeyDistribution;
  valueSize: ValueSize;
  seed: number;
  /** A read that finds nothing is followed by a set of that key (the cache workload). */
  fillOnMiss?: boolean;
}

/** Parses "read=0.9,update=0.1" into a mix that sums to 1. */
export function parseMix(text: string): Mix {
  const mix: Mix = { read: 0, update: 0, insert: 0, delete: 0 };
  for (const part of text.split(",")) {
    const [name, value] = part.split("=").map((s) => s.trim());
    if (!(OP_KINDS as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`unknown operation '${name}' in mix (read, update, insert, delete)`);
    }
    const share = Number(value);
    if (value === undefined || value === "" || !Number.isFinite(share) || share < 0) {
      throw new InvalidArgumentError(`bad share '${value}' for ${name}`);
    }
    mix[name as OpKind] = share;
  }
  const total = mix.read + mix.update + mix.insert + mix.delete;
  if (Math.abs(total - 1) > 1e-9) throw new InvalidArgumentError(`mix shares sum to ${total}, not 1`);
  return mix;
}

/** "A" | "b" | ... → its mix; throws a usage error naming the known workloads otherwise. */
export function workloadMix(name: string): Mix {
  if (isCacheWorkload(name)) return CACHE_MIX;
  const mix = WORKLOADS[name.trim().toUpperCase()];
  if (mix === undefined) throw new InvalidArgumentError(`unknown workload '${name}' (${Object.keys(WORKLOADS).join(", ")}, ${CACHE_WORKLOAD}, or --mix)`);
  return mix;
}

export function isCacheWorkload(name: string): boolean {
  return name.trim().toLowerCase() === CACHE_WORKLOAD;
}

/** Parses a byte count: "100", "1KiB", "4 MiB", "2kb" (binary units). */
export function parseBytes(text: string): number {
  const match = /^\s*(\d+)\s*(b|kib|kb|k|mib|mb|m)?\s*$/i.exec(text);
  if (match === null) throw new InvalidArgumentError(`'${text}' is not a byte count (e.g. 100, 1KiB, 4MiB)`);
  const unit = (match[2] ?? "b").toLowerCase();
  const scale = unit.startsWith("k") ? 1024 : unit.startsWith("m") ? 1024 * 1024 : 1;
  const bytes = Number(match[1]) * scale;
  if (!Number.isSafeInteger(bytes) || bytes > VALUE_BYTES_MAX) {
    throw new InvalidArgumentError(`value size ${text} is above the limit of ${VALUE_BYTES_MAX} bytes`);
  }
  return bytes;
}

/** Parses "1024", "1KiB" or "uniform:100-4096". */
export function parseValueSize(text: string): ValueSize {
  const trimmed = text.trim();
  const uniform = /^uniform:([^-]+)-(.+)$/i.exec(trimmed);
  if (uniform !== null) {
    const minBytes = parseBytes(uniform[1]);
    const maxBytes = parseBytes(uniform[2]);
    if (minBytes > maxBytes) throw new InvalidArgumentError(`value size ${text}: minimum above maximum`);
    return { kind: "uniform", minBytes, maxBytes };
  }
  if (/^fixed:/i.test(trimmed)) return { kind: "fixed", bytes: parseBytes(trimmed.slice(6)) };
  return { kind: "fixed", bytes: parseBytes(trimmed) };
}

export function formatBytesLabel(bytes: number): string {
  if (bytes > 0 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024}MiB`;
  if (bytes > 0 && bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes}B`;
}

/** Short label used in run names: "1KiB", "u100B-4KiB". */
export function valueSizeLabel(size: ValueSize): string {
  return size.kind === "fixed" ? formatBytesLabel(size.bytes) : `u${formatBytesLabel(size.minBytes)}-${formatBytesLabel(size.maxBytes)}`;
}

/** The text form parseValueSize accepts (stored in results). */
export function valueSizeText(size: ValueSize): string {
  return size.kind === "fixed" ? String(size.bytes) : `uniform:${size.minBytes}-${size.maxBytes}`;
}

export function valueSizeMax(size: ValueSize): number {
  return size.kind === "fixed" ? size.bytes : size.maxBytes;
}

export function keyName(index: number): string {
  return `key${index}`;
}

/** Zipfian over [0, n) with theta 0.99 (YCSB's constant), Gray et al.'s method. Rank 0 is hottest. */
export class ZipfianGenerator {
  private readonly zetan: number;
  private readonly alpha: number;
  private readonly eta: number;
  private readonly theta = 0.99;
  constructor(
    private readonly n: number,
    private readonly random: Random,
  ) {
    let zetan = 0;
    for (let i = 1; i <= n; i++) zetan += 1 / Math.pow(i, this.theta);
    this.zetan = zetan;
    const zeta2 = 1 + 1 / Math.pow(2, this.theta);
    this.alpha = 1 / (1 - this.theta);
    this.eta = (1 - Math.pow(2 / n, 1 - this.theta)) / (1 - zeta2 / zetan);
  }
  /** Probability of rank 0 (the hottest key): 1 / zeta(n). */
  get hottestShare(): number {
    return 1 / this.zetan;
  }
  next(): number {
    const u = this.random.next();
    const uz = u * this.zetan;
    if (uz < 1) return 0;
    if (uz < 1 + Math.pow(0.5, this.theta)) return 1;
    return Math.min(this.n - 1, Math.floor(this.n * Math.pow(this.eta * u - this.eta + 1, this.alpha)));
  }
}

export interface Operation {
  kind: OpKind;
  key: string;
  /** The key's number: `key` is keyName(keyIndex). */
  keyIndex: number;
  /**
   * Bytes of the value written (update, insert); for a read of the cache workload, the size
   * of the set that follows a miss; 0 otherwise.
   */
  valueBytes: number;
}

/** Seed of the value-size stream, derived so it never equals the operation stream's. */
const VALUE_SEED_SALT = 0x9e3779b9;

/** An endless deterministic stream of operations. */
export class OperationGenerator {
  private readonly random: Random;
  private readonly sizeRandom: Random;
  private readonly zipf: ZipfianGenerator | null;
  private nextInsert: number;
  private readonly cumulative: [number, number, number];

  constructor(private readonly spec: WorkloadSpec) {
    if (!Number.isSafeInteger(spec.keyCount) || spec.keyCount < 1) throw new InvalidArgumentError("key count must be at least 1");
    const { mix } = spec;
    const total = mix.read + mix.update + mix.insert + mix.delete;
    if (Math.abs(total - 1) > 1e-9) throw new InvalidArgumentError(`mix shares sum to ${total}, not 1`);
    this.cumulative = [mix.read, mix.read + mix.update, mix.read + mix.update + mix.insert];
    this.random = new SeededRandom(spec.seed);
    this.sizeRandom = new SeededRandom((spec.seed ^ VALUE_SEED_SALT) >>> 0);
    this.zipf = spec.distribution === "zipfian" ? new ZipfianGenerator(spec.keyCount, this.random) : null;
    this.nextInsert = spec.keyCount;
  }

  next(): Operation {
    const r = this.random.next();
    let kind: OpKind;
    if (r < this.cumulative[0]) kind = "read";
    else if (r < this.cumulative[1]) kind = "update";
    else if (r < this.cumulative[2]) kind = "insert";
    else kind = "delete";
    const writes = kind === "update" || kind === "insert" || (kind === "read" && this.spec.fillOnMiss === true);
    const valueBytes = writes ? this.nextValueBytes() : 0;
    const keyIndex = kind === "insert" ? this.nextInsert++ : this.zipf !== null ? this.zipf.next() : this.random.int(this.spec.keyCount);
    return { kind, key: keyName(keyIndex), keyIndex, valueBytes };
  }

  /** The size of the next value written (also used by the preload, in key order). */
  nextValueBytes(): number {
    const size = this.spec.valueSize;
    if (size.kind === "fixed") return size.bytes;
    return size.minBytes + this.sizeRandom.int(size.maxBytes - size.minBytes + 1);
  }
}

/**
 * Value bytes without a per-operation fill loop: one seeded pseudo-random pool, values are
 * slices of it at offsets that vary with the operation (so consecutive values differ and
 * none is all zeros, which some stores would compress).
 */
export class ValuePool {
  private static readonly OFFSETS = 4096;
  private readonly pool: Buffer;
  constructor(maxValueBytes: number, seed: number) {
    this.pool = Buffer.allocUnsafe(maxValueBytes + ValuePool.OFFSETS);
    let x = ((seed * 2654435761) >>> 0) || 1;
    for (let i = 0; i < this.pool.length; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      this.pool[i] = x & 255;
    }
  }
  /** A value of `bytes` bytes for operation number `sequence` (a view: do not modify). */
  value(bytes: number, sequence: number): Buffer {
    const offset = sequence % ValuePool.OFFSETS;
    return this.pool.subarray(offset, offset + bytes);
  }
}

/**
 * User payload live in the store: key bytes + value bytes of every key whose last
 * acknowledged write was a set. The denominator of the memory overhead ratio.
 */
export class LivePayload {
  private readonly sizes = new Map<string, number>();
  private keyBytesTotal = 0;
  private valueBytesTotal = 0;
  /** Value bytes of every acknowledged write, overwritten or not. */
  writtenBytes = 0;

  set(key: string, valueBytes: number): void {
    const previous = this.sizes.get(key);
    if (previous === undefined) this.keyBytesTotal += Buffer.byteLength(key);
    else this.valueBytesTotal -= previous;
    this.sizes.set(key, valueBytes);
    this.valueBytesTotal += valueBytes;
    this.writtenBytes += valueBytes;
  }
  delete(key: string): void {
    const previous = this.sizes.get(key);
    if (previous === undefined) return;
    this.sizes.delete(key);
    this.keyBytesTotal -= Buffer.byteLength(key);
    this.valueBytesTotal -= previous;
  }
  get keys(): number {
    return this.sizes.size;
  }
  get keyBytes(): number {
    return this.keyBytesTotal;
  }
  get valueBytes(): number {
    return this.valueBytesTotal;
  }
}

const PRELOAD_SEED_SALT = 0x85ebca6b;

/** Keys key0..key{keyCount-1} with their value sizes, in order, deterministic by seed. */
export function* preloadPlan(spec: WorkloadSpec): Generator<{ key: string; valueBytes: number; index: number }> {
  const random = new SeededRandom((spec.seed ^ PRELOAD_SEED_SALT) >>> 0);
  const size = spec.valueSize;
  for (let index = 0; index < spec.keyCount; index++) {
    const valueBytes = size.kind === "fixed" ? size.bytes : size.minBytes + random.int(size.maxBytes - size.minBytes + 1);
    yield { key: keyName(index), valueBytes, index };
  }
}

/**
 * The operations of a spec by issue index, regenerated from its seed: workers in other
 * processes report their completions by index (client_process.ts), and the merge looks the
 * operation up here instead of shipping keys and sizes back. Columns in typed arrays, grown
 * as higher indexes are asked for.
 */
export class OperationTable {
  private readonly generator: OperationGenerator;
  private kinds = new Uint8Array(1024);
  private keyIndexes = new Float64Array(1024);
  private sizes = new Uint32Array(1024);
  private length = 0;

  constructor(spec: WorkloadSpec) {
    this.generator = new OperationGenerator(spec);
  }

  at(index: number): Operation {
    if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`operation index ${index}`);
    while (this.length <= index) this.append(this.generator.next());
    const keyIndex = this.keyIndexes[index];
    return { kind: OP_KINDS[this.kinds[index]], key: keyName(keyIndex), keyIndex, valueBytes: this.sizes[index] };
  }

  private append(op: Operation): void {
    if (this.length === this.kinds.length) {
      const grow = <T extends Uint8Array | Float64Array | Uint32Array>(column: T, make: (size: number) => T): T => {
        const bigger = make(column.length * 2);
        bigger.set(column);
        return bigger;
      };
      this.kinds = grow(this.kinds, (size) => new Uint8Array(size));
      this.keyIndexes = grow(this.keyIndexes, (size) => new Float64Array(size));
      this.sizes = grow(this.sizes, (size) => new Uint32Array(size));
    }
    this.kinds[this.length] = OP_KINDS.indexOf(op.kind);
    this.keyIndexes[this.length] = op.keyIndex;
    this.sizes[this.length] = op.valueBytes;
    this.length++;
  }
}

/** The mean length in bytes of the keys key0..key{keyCount-1} (digit counts, no loop over the keys). */
export function meanKeyBytes(keyCount: number): number {
  if (keyCount <= 0) return 0;
  let total = 0;
  for (let digits = 1, low = 0; low < keyCount; digits++, low = low === 0 ? 10 : low * 10) {
    const high = Math.min(keyCount, low === 0 ? 10 : low * 10);
    total += (high - low) * ("key".length + digits);
  }
  return total / keyCount;
}

/** The mean value size of a distribution (what a key costs on average). */
export function valueSizeMean(size: ValueSize): number {
  return size.kind === "fixed" ? size.bytes : (size.minBytes + size.maxBytes) / 2;
}
