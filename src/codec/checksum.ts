// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320; the zlib/PNG/gzip one) for shard and
// value checksums. The codec cannot tell a corrupt shard from a good one, so callers record
// crc32 per shard at encode time, drop shards whose crc32 no longer matches, and rebuild
// from the rest; crc32 of the joined value is checked once more before it is returned.
//
// node:zlib has crc32 since Node 20.15 / 22.2 and it runs natively (several GB/s); the table
// version below is the fallback for older runtimes and the cross-check in tests.
import * as zlib from "node:zlib";

import { InvalidArgumentError } from "../core/errors";

type Crc32Function = (bytes: Uint8Array, seed: number) => number;

/** zlib's crc32 when the runtime has it; typed loosely because older @types/node lack it. */
const zlibCrc32: Crc32Function | null = (() => {
  const candidate = (zlib as { crc32?: unknown }).crc32;
  return typeof candidate === "function" ? (candidate as Crc32Function) : null;
})();

const CRC32_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Portable CRC-32 with zlib's chaining rule: crc32Portable(b, crc32Portable(a)) equals
 * crc32Portable(a ++ b). Returns an unsigned 32-bit integer.
 */
export function crc32Portable(bytes: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = CRC32_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** True when crc32() uses node:zlib's native implementation. */
export const CRC32_IS_NATIVE = zlibCrc32 !== null;

/**
 * CRC-32 of `bytes`, continuing from `seed` (the crc32 of the bytes before them; 0 to
 * start). Unsigned 32-bit result, identical to zlib.crc32.
 */
export function crc32(bytes: Uint8Array, seed = 0): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new InvalidArgumentError(`crc32 seed must be an unsigned 32-bit integer, got ${seed}`);
  }
  // No bytes: the seed. (Node 20's zlib.crc32 returns 0 for an empty view of an empty
  // ArrayBuffer, e.g. Buffer.allocUnsafeSlow(0).subarray(0, 0), whatever the seed.)
  if (bytes.byteLength === 0) return seed >>> 0;
  if (zlibCrc32 !== null) return zlibCrc32(bytes, seed) >>> 0;
  return crc32Portable(bytes, seed);
}
