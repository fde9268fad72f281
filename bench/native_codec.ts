// @ronomon/reed-solomon (native N-API addon): why it is NOT an ErasureCodec backend, and a
// thin asynchronous wrapper kept so the benchmark can show what it would buy.
//
// Read from its README and binding.c (v6.0.0):
// 1. It is asynchronous only. encode() queues work on libuv's threadpool and reports through
//    a callback; there is no synchronous entry point, so it cannot implement the synchronous
//    ErasureCodec interface. (Blocking on it would need a worker thread plus Atomics.wait,
//    which costs more per call than the table codec spends on a whole 1 KiB value.)
// 2. Its parity is a different code. It uses a Cauchy *bit*matrix over GF(2^w), with w chosen
//    per (k, m) from {2, 4, 8} and its own polynomials (k=3, m=2 uses w=4, polynomial 19), so
//    its parity bytes differ from the Vandermonde/0x11d code of TableCodec and the wasm
//    backend. Shards written by one cannot be rebuilt by the other; a cluster whose nodes
//    or clients ran different backends would lose data. The addon is an optionalDependency
//    that may fail to build on some hosts, which makes mixing likely.
// 3. Narrower limits: k <= 24, m <= 6, and the shard size must be a multiple of 8 bytes,
//    which contradicts codec.ts's size rule shardBytes = max(1, ceil(valueBytes / k)).
// 4. It reads and writes the caller's buffers from another thread until the callback runs:
//    the caller must not touch (or let anyone reuse) them in between.
//
// So `createCodec("native")` refuses with ConfigError (src/codec/index.ts), and "auto" never
// picks it. Adopting it would need an async codec interface, a format version in shard
// metadata, and the rule that every client and node uses the same code.
import { InvalidShardCountError, ShardSizeMismatchError } from "../src/core/errors";

/** The part of the untyped binding we use (see binding.c). */
export interface RonomonBinding {
  readonly MAX_K: number;
  readonly MAX_M: number;
  /** An encoding context (a Buffer holding w, k, m and the bitmatrix); reusable concurrently. */
  create(dataShards: number, parityShards: number): Buffer;
  /**
   * Computes the `targets` shards from the `sources` shards (bit i = shard i; data shards
   * 0..k-1 live in `buffer`, parity shards k..k+m-1 in `parity`). Throws synchronously on
   * bad arguments; otherwise calls `end` from the event loop when the threadpool is done.
   */
  encode(
    context: Buffer,
    sources: number,
    targets: number,
    buffer: Buffer,
    bufferOffset: number,
    bufferSize: number,
    parity: Buffer,
    parityOffset: number,
    paritySize: number,
    end: (error?: Error) => void,
  ): void;
}

/** The addon requires every shard to be a multiple of this many bytes. */
export const NATIVE_SHARD_BYTES_MULTIPLE = 8;

type NativeLoad = { binding: RonomonBinding; error: null } | { binding: null; error: Error };
let nativeLoad: NativeLoad | null = null;

/** Loads the addon once. It is an optionalDependency, so failing to load is expected. */
export function loadNativeBinding(): NativeLoad {
  if (nativeLoad !== null) return nativeLoad;
  try {
    // require, not import: the module is untyped and may be absent or unbuilt.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const binding = require("@ronomon/reed-solomon") as RonomonBinding;
    if (typeof binding.create !== "function" || typeof binding.encode !== "function") {
      throw new Error("@ronomon/reed-solomon loaded but lacks create/encode");
    }
    nativeLoad = { binding, error: null };
  } catch (error) {
    // Not swallowed: kept and reported by availableBackends()/createCodec callers.
    nativeLoad = { binding: null, error: error instanceof Error ? error : new Error(String(error)) };
  }
  return nativeLoad;
}

/**
 * Minimal async wrapper over the addon for measurement and experiments. Not an
 * ErasureCodec: different code, different shard size rule, asynchronous.
 * Data shards are contiguous in one Buffer (k * shardBytes), parity shards in another.
 */
export class NativeCauchyCoder {
  readonly dataShards: number;
  readonly parityShards: number;
  private readonly binding: RonomonBinding;
  private readonly context: Buffer;

  constructor(binding: RonomonBinding, dataShards: number, parityShards: number) {
    if (!Number.isSafeInteger(dataShards) || dataShards < 1 || dataShards > binding.MAX_K) {
      throw new InvalidShardCountError(`native addon needs 1 <= dataShards <= ${binding.MAX_K}, got ${dataShards}`);
    }
    if (!Number.isSafeInteger(parityShards) || parityShards < 1 || parityShards > binding.MAX_M) {
      throw new InvalidShardCountError(`native addon needs 1 <= parityShards <= ${binding.MAX_M}, got ${parityShards}`);
    }
    this.binding = binding;
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    this.context = binding.create(dataShards, parityShards);
  }

  /** ceil(valueBytes / k) rounded up to a multiple of 8 (never 0). */
  shardBytes(valueBytes: number): number {
    const shardBytes = Math.max(1, Math.ceil(valueBytes / this.dataShards));
    return Math.ceil(shardBytes / NATIVE_SHARD_BYTES_MULTIPLE) * NATIVE_SHARD_BYTES_MULTIPLE;
  }

  /** Fills every parity shard from the data shards. */
  encodeAsync(data: Buffer, parity: Buffer, shardBytes: number): Promise<void> {
    let sources = 0;
    for (let j = 0; j < this.dataShards; j++) sources |= 1 << j;
    let targets = 0;
    for (let r = 0; r < this.parityShards; r++) targets |= 1 << (this.dataShards + r);
    return this.run(sources, targets, data, parity, shardBytes);
  }

  /** Rewrites the shards listed in `missingIndexes` (at most m) from all the others. */
  rebuildAsync(data: Buffer, parity: Buffer, shardBytes: number, missingIndexes: readonly number[]): Promise<void> {
    const totalShards = this.dataShards + this.parityShards;
    let targets = 0;
    for (const shardIndex of missingIndexes) {
      if (!Number.isInteger(shardIndex) || shardIndex < 0 || shardIndex >= totalShards) {
        throw new InvalidShardCountError(`shard index ${shardIndex} out of range 0..${totalShards - 1}`);
      }
      targets |= 1 << shardIndex;
    }
    const sources = ((1 << totalShards) - 1) & ~targets;
    return this.run(sources, targets, data, parity, shardBytes);
  }

  private run(sources: number, targets: number, data: Buffer, parity: Buffer, shardBytes: number): Promise<void> {
    if (shardBytes < 1 || shardBytes % NATIVE_SHARD_BYTES_MULTIPLE !== 0) {
      throw new ShardSizeMismatchError(`native addon needs shardBytes to be a positive multiple of 8, got ${shardBytes}`);
    }
    if (data.length !== shardBytes * this.dataShards || parity.length !== shardBytes * this.parityShards) {
      throw new ShardSizeMismatchError(`expected ${this.dataShards} + ${this.parityShards} shards of ${shardBytes} bytes`);
    }
    return new Promise<void>((resolve, reject) => {
      this.binding.encode(this.context, sources, targets, data, 0, data.length, parity, 0, parity.length, (error) => {
        if (error) reject(error);
        else resolve();
      });
    });
  }
}
