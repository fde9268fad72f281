// YCSB-style workloads (DESIGN.md section 5), deterministic by seed.
//   A: 50% reads / 50% updates   B: 95% reads / 5% updates   C: 100% inserts of new keys
//   S: 100% updates (set) of existing keys   custom: any read/update/insert/delete mix
// Keys are `key0`, `key1`, ... as in the original study.
import { InvalidArgumentError } from "../core/errors";
import { Random, SeededRandom } from "../core/env";

export type OpKind = "read" | "update" | "insert" | "delete";

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

export type KeyDistribution = "uniform" | "zipfian";

export interface WorkloadSpec {
  name: string;
  mix: Mix;
  keyCount: number;
  distribution: KeyDistribution;
  valueBytes: number;
  seed: number;
}

/** Parses "read=0.9,update=0.1" into a mix that sums to 1. */
export function parseMix(text: string): Mix {
  const mix: Mix = { read: 0, update: 0, insert: 0, delete: 0 };
  for (const part of text.split(",")) {
    const [name, value] = part.split("=");
    if (!(name in mix)) throw new InvalidArgumentError(`unknown operation '${name}' in mix (read, update, insert, delete)`);
    const share = Number(value);
    if (!Number.isFinite(share) || share < 0) throw new InvalidArgumentError(`bad share '${value}' for ${name}`);
    mix[name as OpKind] = share;
  }
  const total = mix.read + mix.update + mix.insert + mix.delete;
  if (Math.abs(total - 1) > 1e-9) throw new InvalidArgumentError(`mix shares sum to ${total}, not 1`);
  return mix;
}

export function keyName(index: number): string {
  return `key${index}`;
}

/** Zipfian over [0, n) with theta 0.99 (YCSB's constant), Gray et al.'s method. */
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
}

/** An endless deterministic stream of operations. */
export class OperationGenerator {
  private readonly random: Random;
  private readonly zipf: ZipfianGenerator | null;
  private nextInsert: number;

  constructor(private readonly spec: WorkloadSpec) {
    if (spec.keyCount < 1) throw new InvalidArgumentError("key count must be at least 1");
    this.random = new SeededRandom(spec.seed);
    this.zipf = spec.distribution === "zipfian" ? new ZipfianGenerator(spec.keyCount, this.random) : null;
    this.nextInsert = spec.keyCount;
  }

  next(): Operation {
    const r = this.random.next();
    const { mix } = this.spec;
    let kind: OpKind;
    if (r < mix.read) kind = "read";
    else if (r < mix.read + mix.update) kind = "update";
    else if (r < mix.read + mix.update + mix.insert) kind = "insert";
    else kind = "delete";
    if (kind === "insert") return { kind, key: keyName(this.nextInsert++) };
    const index = this.zipf !== null ? this.zipf.next() : this.random.int(this.spec.keyCount);
    return { kind, key: keyName(index) };
  }
}

/** Deterministic value bytes for a key (cheap; not compressible by accident of zeros). */
export function valueFor(valueBytes: number, seed: number): Buffer {
  const value = Buffer.allocUnsafe(valueBytes);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < valueBytes; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    value[i] = x & 255;
  }
  return value;
}
