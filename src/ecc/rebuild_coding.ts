// One node's shard blob rebuilt from k other nodes' blobs of the same version, for many keys
// at once (a recovering node's bulk pull). No keys, no I/O: blobs in, blobs out.
//
// Why it never decodes the value: Reed–Solomon is linear byte by byte, so shard i's byte at
// blob offset b depends only on the other shards' bytes at b. A blob is its stripes' shards
// back to back, at the same offsets on every node (layout.ts), so the target blob is one
// reconstruct over whole blobs; and the blobs of many keys, concatenated in the same order
// on every source, are one reconstruct too. Small values (where a codec call's fixed cost
// dominates) are therefore rebuilt many keys per call, in runs of at most runBytesMax.
//
// What is checked, so that a wrong shard is never installed:
// - every source blob by its CRC-32 before use (the codec cannot tell a corrupt shard);
//   a key with a bad source is answered "corrupt" and takes no part in the batch;
// - the value: all k data shards are at hand after the reconstruct (given or rebuilt), and
//   the CRC-32 of the value bytes they hold, chained stripe by stripe, must equal the
//   version's value CRC-32. This is the check a read makes after decoding, without the
//   decode's copy.
import assert from "node:assert/strict";
import { ErasureCodec } from "../codec/codec";
import { crc32 } from "../codec/checksum";
import { Layout, blobBytes, stripeBlobOffset, stripeBytes, stripeCount, stripeShardBytes } from "./layout";

/** One key's blobs from the k sources (in `sourceIndexes` order), all of one version. */
export interface SourceBlobs {
  layout: Layout;
  valueCrc32: number;
  blobs: Uint8Array[];
  /** Each source's shard CRC-32, as it stored it. */
  shardCrc32s: number[];
}

export type RebuiltBlob = { kind: "ok"; blob: Buffer; shardCrc32: number } | { kind: "corrupt"; reason: string };

/**
 * The blob of shard `targetIndex` for each item, rebuilt from the blobs of `sourceIndexes`
 * (k distinct indexes, not the target). Items whose blobs are smaller than runBytesMax are
 * concatenated into runs of at most runBytesMax bytes per source, one codec call per run.
 */
export function rebuildBlobs(
  codec: ErasureCodec,
  targetIndex: number,
  sourceIndexes: readonly number[],
  items: readonly SourceBlobs[],
  runBytesMax: number,
): RebuiltBlob[] {
  const dataShards = codec.dataShards;
  const shardCount = dataShards + codec.parityShards;
  assert.equal(sourceIndexes.length, dataShards);
  assert(new Set(sourceIndexes).size === dataShards && !sourceIndexes.includes(targetIndex));
  assert(targetIndex >= 0 && targetIndex < shardCount);
  assert(runBytesMax >= 1);
  const results: RebuiltBlob[] = new Array(items.length);
  // Every data slot (the value check needs them) and the target.
  const wanted = Array.from({ length: shardCount }, (_, i) => i < dataShards || i === targetIndex);
  let run: number[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length > 0) rebuildRun(codec, targetIndex, sourceIndexes, items, run, runBytes, wanted, results);
    run = [];
    runBytes = 0;
  };
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const problem = sourceProblem(item, sourceIndexes);
    if (problem !== null) {
      results[index] = { kind: "corrupt", reason: problem };
      continue;
    }
    const bytes = blobBytes(item.layout);
    if (run.length > 0 && runBytes + bytes > runBytesMax) flush();
    run.push(index);
    runBytes += bytes;
  }
  flush();
  return results;
}

/** Why an item's sources cannot be used (wrong size or CRC-32), or null. */
function sourceProblem(item: SourceBlobs, sourceIndexes: readonly number[]): string | null {
  assert.equal(item.blobs.length, sourceIndexes.length);
  assert.equal(item.shardCrc32s.length, sourceIndexes.length);
  const bytes = blobBytes(item.layout);
  for (let source = 0; source < item.blobs.length; source++) {
    const blob = item.blobs[source];
    if (blob.length !== bytes) return `shard ${sourceIndexes[source]} is ${blob.length} bytes, its layout says ${bytes}`;
    if (crc32(blob) !== item.shardCrc32s[source] >>> 0) return `shard ${sourceIndexes[source]} fails its CRC-32`;
  }
  return null;
}

function rebuildRun(
  codec: ErasureCodec,
  targetIndex: number,
  sourceIndexes: readonly number[],
  items: readonly SourceBlobs[],
  run: readonly number[],
  runBytes: number,
  wanted: readonly boolean[],
  results: RebuiltBlob[],
): void {
  const shardCount = codec.dataShards + codec.parityShards;
  const slots: Array<Uint8Array | null> = new Array(shardCount).fill(null);
  for (let source = 0; source < sourceIndexes.length; source++) {
    slots[sourceIndexes[source]] =
      run.length === 1 ? items[run[0]].blobs[source] : Buffer.concat(run.map((index) => items[index].blobs[source]), runBytes);
  }
  codec.reconstructSome(slots, wanted);
  let offset = 0;
  for (const index of run) {
    const item = items[index];
    const bytes = blobBytes(item.layout);
    const data = slots.slice(0, codec.dataShards).map((slot) => slot!.subarray(offset, offset + bytes));
    const target = slots[targetIndex]!;
    const blob = Buffer.from(target.buffer, target.byteOffset + offset, bytes);
    offset += bytes;
    const valueCrc32 = valueCrc32Of(item.layout, data);
    results[index] =
      valueCrc32 === item.valueCrc32 >>> 0
        ? { kind: "ok", blob, shardCrc32: crc32(blob) }
        : { kind: "corrupt", reason: `the rebuilt value fails its CRC-32 (${valueCrc32} != ${item.valueCrc32 >>> 0})` };
  }
}

/** CRC-32 of the value bytes the k data blobs hold, stripe by stripe, padding left out. */
export function valueCrc32Of(layout: Layout, dataBlobs: readonly Uint8Array[]): number {
  assert.equal(dataBlobs.length, layout.dataShards);
  let crc = 0;
  const count = stripeCount(layout);
  for (let stripe = 0; stripe < count; stripe++) {
    const shardBytes = stripeShardBytes(layout, stripe);
    const valueBytes = stripeBytes(layout, stripe);
    const start = stripeBlobOffset(layout, stripe);
    for (let d = 0; d < layout.dataShards; d++) {
      const used = Math.min(shardBytes, valueBytes - d * shardBytes);
      if (used <= 0) break;
      crc = crc32(dataBlobs[d].subarray(start, start + used), crc);
    }
  }
  return crc;
}
