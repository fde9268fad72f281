// Entry point of the codec: pick a backend, validate the shape once, hand back a synchronous
// ErasureCodec. Only the wasm backend needs an await (one-time instantiation).
//
// Backends:
// - "table": pure TypeScript reference (table_codec.ts). Always available.
// - "wasm":  @subspace/reed-solomon-erasure.wasm (wasm_codec.ts). Same code as "table",
//            byte-identical parity, checked against "table" whenever one is created.
// - "native": @ronomon/reed-solomon. Refused: asynchronous only and a different code
//            (see native_codec.ts), so it can neither implement ErasureCodec nor read shards
//            the other backends wrote.
//
// Why "auto" prefers "table" (bench/codec_bench.ts on the project machine: Node 20.20, two
// x86-64 cores shared with other work, so +-30% noise; MB/s of value bytes and us per op;
// encode = split+encode, rebuild = reconstruct with n-k data shards missing + join):
//
//   value   (k,n)  | table encode | wasm encode  | table rebuild | wasm rebuild
//   100 B   (3,5)  |  140 (0.7us) |  7.2 (14us)  |  52 (1.9us)   |  0.3 (333us)
//   1 KiB   (3,5)  |  248 (4.1us) |   60 (17us)  | 207 (5.0us)   |  3.5 (293us)
//   64 KiB  (3,5)  |  642 (102us) |  555 (118us) | 410 (160us)   |  129 (509us)
//   1 MiB   (3,5)  |  621 (1.7ms) |  655 (1.6ms) | 423 (2.5ms)   |  320 (3.3ms)
//   1 MiB   (4,6)  |  388 (2.7ms) |  651 (1.6ms) | 421 (2.5ms)   |  345 (3.0ms)
//
// The cache's values are ~1 KiB, where "table" encodes 4x faster than "wasm": every wasm call
// pays ~14 us (staging copies, a malloc in wasm memory, the Rust side rebuilding its
// matrix). wasm rebuilds are far slower still because each runs on a fresh wasm instance
// (~150 us), the workaround for the package's heap corruption (see wasm_codec.ts). wasm
// only wins encode from ~64 KiB up (up to 1.7x at k=4), and values that large are cut into
// stripes anyway. One backend for every size keeps one code path in production; "wasm"
// stays selectable and is tested to produce the same bytes.
import { ConfigError, InternalError, InvalidArgumentError } from "../core/errors";
import type { CodecBackend, ErasureCodec } from "./codec";
import { loadNativeBinding, NATIVE_UNSUITABLE_REASON } from "./native_codec";
import { bytesEqual, TableCodec, validateShardCounts } from "./table_codec";
import { createWasmCodec, loadWasmRuntime } from "./wasm_codec";

export type { CodecBackend, ErasureCodec } from "./codec";

/** Every backend name createCodec knows, including ones it refuses (see above). */
export const CODEC_BACKENDS: readonly CodecBackend[] = ["native", "wasm", "table"];

/** The order "auto" tries, fastest first for ~1 KiB values (figures above). */
export const AUTO_BACKEND_ORDER: readonly CodecBackend[] = ["table", "wasm"];

/**
 * A codec for k = dataShards, m = parityShards. Throws InvalidShardCountError for a bad
 * shape (k >= 1, m >= 1, k + m <= 256), ConfigError when the named backend cannot be used,
 * InvalidArgumentError for an unknown backend name.
 */
export async function createCodec(
  backend: CodecBackend | "auto",
  dataShards: number,
  parityShards: number,
): Promise<ErasureCodec> {
  validateShardCounts(dataShards, parityShards);
  if (backend === "auto") {
    const failures: string[] = [];
    for (const candidate of AUTO_BACKEND_ORDER) {
      try {
        return await createBackend(candidate, dataShards, parityShards);
      } catch (error) {
        // Falling back is the point of "auto"; the reasons surface if nothing works.
        failures.push(`${candidate}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    throw new ConfigError(`no codec backend is usable (${failures.join("; ")})`);
  }
  return createBackend(backend, dataShards, parityShards);
}

/** Backends createCodec can actually build in this process, in AUTO_BACKEND_ORDER. */
export async function availableBackends(): Promise<CodecBackend[]> {
  const available: CodecBackend[] = [];
  for (const backend of AUTO_BACKEND_ORDER) {
    if (backend === "table") available.push(backend);
    if (backend === "wasm") {
      try {
        await loadWasmRuntime();
        available.push(backend);
      } catch {
        // Unavailable is a valid answer here; createCodec("wasm") reports the cause.
      }
    }
  }
  return available;
}

/** Whether the native addon loaded, and why it is still not offered as a backend. */
export function nativeAddonStatus(): { loaded: boolean; reason: string } {
  const load = loadNativeBinding();
  if (load.error !== null) return { loaded: false, reason: `failed to load: ${load.error.message}` };
  return { loaded: true, reason: NATIVE_UNSUITABLE_REASON };
}

async function createBackend(backend: CodecBackend, dataShards: number, parityShards: number): Promise<ErasureCodec> {
  switch (backend) {
    case "table":
      return new TableCodec(dataShards, parityShards);
    case "wasm": {
      let codec: ErasureCodec;
      try {
        codec = await createWasmCodec(dataShards, parityShards);
      } catch (error) {
        throw new ConfigError("codec backend 'wasm' is unavailable", { cause: error });
      }
      checkAgainstReference(codec);
      return codec;
    }
    case "native":
      throw new ConfigError(`codec backend 'native' is not usable: ${NATIVE_UNSUITABLE_REASON}`);
    default: {
      const unknown: never = backend;
      throw new InvalidArgumentError(`unknown codec backend '${String(unknown)}' (use ${CODEC_BACKENDS.join(", ")} or auto)`);
    }
  }
}

/**
 * Encodes a fixed probe with `codec` and with the table reference and requires identical
 * parity and a correct rebuild. Runs at creation (tens of microseconds) so a backend whose
 * package changed its code under a semver-compatible update is refused instead of writing
 * shards other clients cannot read.
 */
function checkAgainstReference(codec: ErasureCodec): void {
  const reference = new TableCodec(codec.dataShards, codec.parityShards);
  const valueBytes = codec.dataShards * 37 + 5; // not a multiple of k: exercises padding
  const probe = new Uint8Array(valueBytes);
  for (let i = 0; i < valueBytes; i++) probe[i] = (i * 167 + 13) & 0xff;
  const expected = reference.split(probe);
  reference.encode(expected);
  const actual = codec.split(probe);
  codec.encode(actual);
  for (let shardIndex = 0; shardIndex < expected.length; shardIndex++) {
    if (!bytesEqual(expected[shardIndex], actual[shardIndex])) {
      throw new InternalError(`codec backend '${codec.name}' disagrees with the reference at shard ${shardIndex}`);
    }
  }
  // Lose the first m shards (data first: the hard case) and rebuild.
  const degraded: Array<Uint8Array | null> = actual.slice();
  for (let shardIndex = 0; shardIndex < codec.parityShards; shardIndex++) degraded[shardIndex] = null;
  codec.reconstruct(degraded);
  const rebuilt = codec.join(degraded, valueBytes);
  if (!bytesEqual(rebuilt, probe)) {
    throw new InternalError(`codec backend '${codec.name}' failed to rebuild the reference probe`);
  }
}
