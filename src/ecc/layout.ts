// Stripe arithmetic shared by writers, participants and readers.
//
// A value of valueBytes is cut into stripes of dataShards * blockBytes bytes (the last one
// may be shorter; a 0-byte value is one empty stripe). Each stripe is Reed–Solomon coded
// on its own into dataShards + parityShards shards of max(1, ceil(stripeBytes / k)) bytes.
// Node i stores its shard of every stripe back to back: its "shard blob". Every full
// stripe's shard is exactly blockBytes, so stripe j starts at j * blockBytes in the blob.
import assert from "node:assert/strict";

export interface Layout {
  valueBytes: number;
  blockBytes: number;
  dataShards: number;
  parityShards: number;
}

export function stripeValueBytes(layout: Layout): number {
  return layout.dataShards * layout.blockBytes;
}

export function stripeCount(layout: Layout): number {
  return Math.max(1, Math.ceil(layout.valueBytes / stripeValueBytes(layout)));
}

/** Value bytes held by stripe `stripeIndex`. */
export function stripeBytes(layout: Layout, stripeIndex: number): number {
  const full = stripeValueBytes(layout);
  const count = stripeCount(layout);
  assert(stripeIndex >= 0 && stripeIndex < count);
  if (stripeIndex < count - 1) return full;
  return layout.valueBytes - full * (count - 1);
}

/** Bytes of one shard of stripe `stripeIndex`. */
export function stripeShardBytes(layout: Layout, stripeIndex: number): number {
  return Math.max(1, Math.ceil(stripeBytes(layout, stripeIndex) / layout.dataShards));
}

/** Bytes of one node's shard blob for the whole value. */
export function blobBytes(layout: Layout): number {
  const count = stripeCount(layout);
  return layout.blockBytes * (count - 1) + stripeShardBytes(layout, count - 1);
}

/** Where stripe `stripeIndex` starts inside a shard blob. */
export function stripeBlobOffset(layout: Layout, stripeIndex: number): number {
  return stripeIndex * layout.blockBytes;
}

/**
 * A node keeps a CRC-32 per stripe of its blob, so a range read can check the stripes it
 * fetched without the rest (a single-stripe blob's is its shard CRC, so none are kept).
 * They follow the blob in the stored entry, little-endian, one per stripe.
 */
export function stripeChecksumBytes(layout: Layout): number {
  const count = stripeCount(layout);
  return count === 1 ? 0 : 4 * count;
}

/** The stripe checksums of `blob` (empty for a single-stripe blob). */
export function stripeChecksums(layout: Layout, blob: Uint8Array, crc32: (bytes: Uint8Array) => number): Buffer {
  const trailer = Buffer.allocUnsafe(stripeChecksumBytes(layout));
  for (let stripe = 0; 4 * stripe < trailer.length; stripe++) {
    const start = stripeBlobOffset(layout, stripe);
    trailer.writeUInt32LE(crc32(blob.subarray(start, start + stripeShardBytes(layout, stripe))) >>> 0, 4 * stripe);
  }
  return trailer;
}

/** The stripes of a blob that [start, end] (inclusive value offsets, within the value) touch. */
export function stripesOfRange(layout: Layout, start: number, end: number): { first: number; last: number } {
  assert(start >= 0 && start <= end && end < layout.valueBytes);
  const stripe = stripeValueBytes(layout);
  return { first: Math.floor(start / stripe), last: Math.floor(end / stripe) };
}
