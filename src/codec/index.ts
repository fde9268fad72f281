// Entry point of the codec: pick a backend, validate the shape once, hand back a synchronous
// ErasureCodec. Only the wasm backend needs an await (one-time instantiation).
//
// Backends:
// - "table": pure TypeScript reference (table_codec.ts). Always available.
// - "wasm":  @subspace/reed-solomon-erasure.wasm (wasm_codec.ts, loaded only when asked
//            for). Same code as "table", byte-identical parity, checked against "table"
//            whenever one is created.
// - "native": @ronomon/reed-solomon. Refused (NATIVE_UNSUITABLE_REASON); the benchmark
//            measures it through bench/native_codec.ts, which says why in full.
//
// Why "auto" prefers "table": the cache's values are around 1 KiB, where every wasm call pays
// a fixed cost (staging copies, a malloc in wasm memory, the Rust side rebuilding its matrix)
// larger than the table codec's whole encode, and every wasm rebuild runs on a fresh wasm
// instance, the workaround for the package's heap corruption (see wasm_codec.ts). wasm only
// wins encode on values of tens of KiB and more, and values that large are cut into stripes
// anyway. One backend for every size keeps one code path in production; "wasm" stays
// selectable and is tested to produce the same bytes. `npm run bench:codec` measures both
// (figures in the README).
import { ConfigError, InternalError, InvalidArgumentError } from "../core/errors";
import type { CodecBackend, ErasureCodec } from "./codec";
import { bytesEqual, TableCodec, validateShardCounts } from "./table_codec";

export type { CodecBackend, ErasureCodec } from "./codec";

/**
 * Why createCodec("native") refuses @ronomon/reed-solomon: asynchronous only (the interface is
 * synchronous) and a different code, so its shards could not be read by the other backends.
 */
const NATIVE_UNSUITABLE_REASON =
  "@ronomon/reed-solomon is asynchronous only and encodes a different code (Cauchy bitmatrix " +
  "over GF(2^w), w per (k,m)), so its parity is not byte-compatible with the wasm and table backends";

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
        await (await import("./wasm_codec")).loadWasmRuntime();
        available.push(backend);
      } catch {
        // Unavailable is a valid answer here; createCodec("wasm") reports the cause.
      }
    }
  }
  return available;
}

async function createBackend(backend: CodecBackend, dataShards: number, parityShards: number): Promise<ErasureCodec> {
  switch (backend) {
    case "table":
      return new TableCodec(dataShards, parityShards);
    case "wasm": {
      let codec: ErasureCodec;
      try {
        codec = await (await import("./wasm_codec")).createWasmCodec(dataShards, parityShards);
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
