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
