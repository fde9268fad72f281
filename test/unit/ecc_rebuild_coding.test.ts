// Properties of rebuildBlobs (src/ecc/rebuild_coding.ts), the codec step of a recovering
// node's bulk pull:
// 1. For values of 0, 1, k-1, k, k+1 bytes, one stripe exactly, several stripes with a short
//    last one: for every target shard and every k-subset of the other shards, the rebuilt
//    blob equals the blob encodeBlobs gives that node, byte for byte, and its CRC-32 is the
//    blob's.
// 2. Batching does not change the answer: many keys of mixed sizes rebuilt in one call with
//    runs of any size (1 byte: one key per codec call; 1 MiB: all keys in one call) give
//    each key the same blob as rebuilding it alone.
// 3. A corrupt source is never decoded: a flipped byte in any source blob, or a blob of the
//    wrong size, makes that key "corrupt" (naming the shard) and leaves the other keys of
//    the batch rebuilt exactly.
// 4. A value CRC-32 that does not match what the shards hold (same-version shards of
//    different writes would look like this) makes the key "corrupt".
// Method: seeded random values, encodeBlobs (the writer's code) as the reference, table codec.
import assert from "node:assert/strict";
import { crc32 } from "../../src/codec/checksum";
import { TableCodec } from "../../src/codec/table_codec";
import { SeededRandom } from "../../src/core/env";
import { Layout } from "../../src/ecc/layout";
import { RebuiltBlob, SourceBlobs, rebuildBlobs, valueCrc32Of } from "../../src/ecc/rebuild_coding";
import { encodeBlobs } from "../../src/ecc/shard_coding";

const K = 3;
const M = 2;
const BLOCK_BYTES = 8;
const codec = new TableCodec(K, M);

function subsets(n: number, size: number): number[][] {
  const out: number[][] = [];
  const walk = (start: number, current: number[]): void => {
    if (current.length === size) out.push(current.slice());
    else for (let i = start; i < n; i++) walk(i + 1, [...current, i]);
  };
  walk(0, []);
  return out;
}

function layoutOf(valueBytes: number): Layout {
  return { valueBytes, blockBytes: BLOCK_BYTES, dataShards: K, parityShards: M };
}

function keyOf(random: SeededRandom, valueBytes: number): { value: Buffer; blobs: Buffer[]; layout: Layout } {
  const value = Buffer.alloc(valueBytes);
  for (let i = 0; i < valueBytes; i++) value[i] = random.int(256);
  const layout = layoutOf(valueBytes);
  return { value, blobs: encodeBlobs(codec, layout, value), layout };
}

function itemOf(key: { value: Buffer; blobs: Buffer[]; layout: Layout }, sources: number[]): SourceBlobs {
  return {
    layout: key.layout,
    valueCrc32: crc32(key.value),
    blobs: sources.map((source) => Buffer.from(key.blobs[source])),
    shardCrc32s: sources.map((source) => crc32(key.blobs[source])),
  };
}

function expectOk(result: RebuiltBlob, expected: Buffer, label: string): void {
  assert.equal(result.kind, "ok", `${label}: ${result.kind === "corrupt" ? result.reason : ""}`);
  if (result.kind !== "ok") return;
  assert.ok(result.blob.equals(expected), label);
  assert.equal(result.shardCrc32, crc32(expected), label);
}

// 0, 1, k-1, k, k+1 bytes; one full stripe (k * block); several stripes, the last one short.
const SIZES = [0, 1, K - 1, K, K + 1, K * BLOCK_BYTES, 3 * K * BLOCK_BYTES + 5];

describe("rebuildBlobs: a node's shard from k others, many keys per codec call", () => {
  it("rebuilds every target from every k-subset, exactly as the writer encoded it", () => {
    const random = new SeededRandom(1);
    for (const valueBytes of SIZES) {
      const key = keyOf(random, valueBytes);
      for (let target = 0; target < K + M; target++) {
        const others = [0, 1, 2, 3, 4].filter((i) => i !== target);
        for (const sources of subsets(others.length, K).map((picks) => picks.map((i) => others[i]))) {
          const [result] = rebuildBlobs(codec, target, sources, [itemOf(key, sources)], 1 << 20);
          expectOk(result, key.blobs[target], `${valueBytes} B, target ${target}, sources ${sources.join(",")}`);
        }
      }
    }
  });

  it("gives each key the same blob whatever the run size", () => {
    const random = new SeededRandom(2);
    const keys = Array.from({ length: 40 }, (_, i) => keyOf(random, SIZES[i % SIZES.length] + (i % 3)));
    for (const [target, sources] of [
      [1, [0, 2, 3]],
      [4, [0, 1, 2]],
      [3, [1, 2, 4]],
    ] as Array<[number, number[]]>) {
      for (const runBytesMax of [1, 7, 64, 1 << 20]) {
        const results = rebuildBlobs(codec, target, sources, keys.map((key) => itemOf(key, sources)), runBytesMax);
        keys.forEach((key, i) => expectOk(results[i], key.blobs[target], `key ${i}, target ${target}, runs of ${runBytesMax}`));
      }
    }
  });

  it("never decodes a corrupt source: that key is corrupt, the rest of the batch is exact", () => {
    const random = new SeededRandom(3);
    const keys = Array.from({ length: 12 }, (_, i) => keyOf(random, 20 + i * 7));
    const sources = [0, 2, 4];
    for (let bad = 0; bad < keys.length; bad++) {
      for (let source = 0; source < sources.length; source++) {
        const items = keys.map((key) => itemOf(key, sources));
        const blob = items[bad].blobs[source] as Buffer;
        blob[random.int(blob.length)] ^= 1 << random.int(8);
        const results = rebuildBlobs(codec, 1, sources, items, 100);
        const result = results[bad];
        assert.equal(result.kind, "corrupt");
        if (result.kind === "corrupt") assert.match(result.reason, new RegExp(`shard ${sources[source]} fails its CRC-32`));
        keys.forEach((key, i) => {
          if (i !== bad) expectOk(results[i], key.blobs[1], `key ${i} beside a corrupt key ${bad}`);
        });
      }
    }
    const items = keys.map((key) => itemOf(key, sources));
    items[5] = { ...items[5], blobs: items[5].blobs.map((blob) => blob.subarray(1)) };
    const results = rebuildBlobs(codec, 1, sources, items, 100);
    assert.equal(results[5].kind, "corrupt");
    if (results[5].kind === "corrupt") assert.match(results[5].reason, /bytes, its layout says/);
    expectOk(results[4], keys[4].blobs[1], "key 4 beside a short key");
  });

  it("refuses shards whose value does not match the version's value CRC-32", () => {
    const random = new SeededRandom(4);
    const key = keyOf(random, 50);
    const other = keyOf(random, 50);
    const item = { ...itemOf(key, [0, 2, 3]), valueCrc32: crc32(other.value) };
    const [result] = rebuildBlobs(codec, 1, [0, 2, 3], [item], 1 << 20);
    assert.equal(result.kind, "corrupt");
    if (result.kind === "corrupt") assert.match(result.reason, /rebuilt value fails its CRC-32/);
    // The chained value CRC equals the CRC of the whole value, for every size.
    for (const valueBytes of SIZES) {
      const sample = keyOf(random, valueBytes);
      assert.equal(valueCrc32Of(sample.layout, sample.blobs.slice(0, K)), crc32(sample.value), `${valueBytes} B`);
    }
  });
});
