// Value <-> shard blobs, stripe by stripe (see layout.ts). No keys, no I/O.
import assert from "node:assert/strict";
import { ErasureCodec } from "../codec/codec";
import { TooFewShardsError } from "../core/errors";
import { Layout, blobBytes, stripeBlobOffset, stripeBytes, stripeCount, stripeShardBytes, stripeValueBytes } from "./layout";

/** Encodes `value` into dataShards + parityShards blobs; blob i goes to node i. */
export function encodeBlobs(codec: ErasureCodec, layout: Layout, value: Uint8Array): Buffer[] {
  assert(layout.dataShards === codec.dataShards);
  assert(layout.parityShards === codec.parityShards);
  assert(layout.valueBytes === value.length);
  const shardCount = layout.dataShards + layout.parityShards;
  const size = blobBytes(layout);
  // alloc (zeroed): the padding of the last data shard must be zero on every writer.
  const blobs: Buffer[] = [];
  for (let i = 0; i < shardCount; i++) blobs.push(Buffer.alloc(size));
  const count = stripeCount(layout);
  const full = stripeValueBytes(layout);
  for (let stripe = 0; stripe < count; stripe++) {
    const shardBytes = stripeShardBytes(layout, stripe);
    const bytes = stripeBytes(layout, stripe);
    const blobOffset = stripeBlobOffset(layout, stripe);
    const valueOffset = stripe * full;
    const shards = blobs.map((blob) => blob.subarray(blobOffset, blobOffset + shardBytes));
    for (let d = 0; d < layout.dataShards; d++) {
      const start = valueOffset + d * shardBytes;
      const end = Math.min(valueOffset + bytes, start + shardBytes);
      if (end > start) shards[d].set(value.subarray(start, end));
    }
    codec.encode(shards);
  }
  return blobs;
}

/**
 * Rebuilds the value from blobs (null where a node's blob is missing). When every data blob
 * is present this is a copy (the code is systematic); otherwise each stripe's data shards
 * are reconstructed from any k present blobs.
 */
export function decodeValue(codec: ErasureCodec, layout: Layout, blobs: Array<Uint8Array | null>): Buffer {
  const shardCount = layout.dataShards + layout.parityShards;
  assert(blobs.length === shardCount);
  const present = blobs.filter((blob) => blob !== null).length;
  if (present < layout.dataShards) {
    throw new TooFewShardsError(`need ${layout.dataShards} shards to decode, have ${present}`);
  }
  const size = blobBytes(layout);
  for (const blob of blobs) assert(blob === null || blob.length === size);
  const value = Buffer.allocUnsafe(layout.valueBytes);
  const count = stripeCount(layout);
  const full = stripeValueBytes(layout);
  const allData = blobs.slice(0, layout.dataShards).every((blob) => blob !== null);
  for (let stripe = 0; stripe < count; stripe++) {
    const shardBytes = stripeShardBytes(layout, stripe);
    const bytes = stripeBytes(layout, stripe);
    const blobOffset = stripeBlobOffset(layout, stripe);
    const valueOffset = stripe * full;
    let shards: Array<Uint8Array | null> = blobs.map((blob) =>
      blob === null ? null : blob.subarray(blobOffset, blobOffset + shardBytes),
    );
    if (!allData) {
      // reconstructData fills nulls in place; give it fresh arrays for the missing ones.
      shards = shards.slice();
      codec.reconstructData(shards);
    }
    for (let d = 0; d < layout.dataShards; d++) {
      const start = valueOffset + d * shardBytes;
      const end = Math.min(valueOffset + bytes, start + shardBytes);
      if (end > start) value.set(shards[d]!.subarray(0, end - start), start);
    }
  }
  return value;
}
