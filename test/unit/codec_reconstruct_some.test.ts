// Properties of ErasureCodec.reconstructSome (what a node rebuilding its own shard calls),
// for every backend createCodec can build here:
// 1. For (k,m) in (2,1),(3,2),(4,2) and sizes 1, k+1, 1000: for every set of exactly k
//    present shards and every single wanted missing slot, the wanted slot is filled with
//    the exact shard encode() made; a missing parity slot that was not wanted stays null
//    (the work of one row, not m); a missing data slot that was not wanted stays null when
//    only data slots are wanted.
// 2. Wanting several slots fills each of them exactly.
// 3. Present shards are never modified; a wanted slot that is present is left as it is.
// 4. Typed errors: a `wanted` of the wrong length is InvalidShardCountError; fewer than k
//    present shards is TooFewShardsError, and the array is left untouched.
// Method: seeded random values, split+encode as the reference, then drop shards and ask.
import assert from "node:assert/strict";

import type { ErasureCodec } from "../../src/codec/codec";
import { availableBackends, createCodec } from "../../src/codec/index";
import { SeededRandom } from "../../src/core/env";
import { InvalidShardCountError, TooFewShardsError } from "../../src/core/errors";

const SHAPES: ReadonlyArray<readonly [number, number]> = [
  [2, 1],
  [3, 2],
  [4, 2],
];

function subsets(n: number, size: number): number[][] {
  const out: number[][] = [];
  const walk = (start: number, current: number[]): void => {
    if (current.length === size) {
      out.push(current.slice());
      return;
    }
    for (let i = start; i < n; i++) walk(i + 1, [...current, i]);
  };
  walk(0, []);
  return out;
}

function encoded(codec: ErasureCodec, random: SeededRandom, valueBytes: number): Uint8Array[] {
  const value = new Uint8Array(valueBytes);
  for (let i = 0; i < valueBytes; i++) value[i] = random.int(256);
  const shards = codec.split(value);
  codec.encode(shards);
  return shards;
}

describe("codec reconstructSome", () => {
  it("fills exactly the wanted slots, byte for byte, from any k shards", async () => {
    const backends = await availableBackends();
    assert.ok(backends.includes("table"));
    for (const backend of backends) {
      for (const [k, m] of SHAPES) {
        const codec = await createCodec(backend, k, m);
        const random = new SeededRandom(k * 100 + m);
        for (const valueBytes of [1, k + 1, 1000]) {
          const reference = encoded(codec, random, valueBytes);
          for (const present of subsets(k + m, k)) {
            for (let target = 0; target < k + m; target++) {
              if (present.includes(target)) continue;
              const shards: Array<Uint8Array | null> = reference.map((shard, i) => (present.includes(i) ? shard.slice() : null));
              const wanted = reference.map((_, i) => i === target);
              codec.reconstructSome(shards, wanted);
              const label = `${backend} (${k},${m}) ${valueBytes} B, present ${present.join(",")}, target ${target}`;
              assert.deepEqual(shards[target], reference[target], label);
              for (let i = k; i < k + m; i++) {
                if (i !== target && !present.includes(i)) assert.equal(shards[i], null, `${label}: parity ${i} was not wanted`);
              }
              if (target < k) {
                for (let i = 0; i < k; i++) {
                  if (i !== target && !present.includes(i)) assert.equal(shards[i], null, `${label}: data ${i} was not wanted`);
                }
              }
              for (const i of present) assert.deepEqual(shards[i], reference[i], `${label}: present shard ${i} changed`);
            }
          }
          // Several wanted slots at once: lose the first m, want them all back.
          const shards: Array<Uint8Array | null> = reference.map((shard, i) => (i < m ? null : shard.slice()));
          codec.reconstructSome(shards, reference.map((_, i) => i < m));
          for (let i = 0; i < k + m; i++) assert.deepEqual(shards[i], reference[i], `${backend} (${k},${m}) slot ${i}`);
        }
      }
    }
  });

  it("rejects a wanted list of the wrong length and too few shards, changing nothing", async () => {
    const codec = await createCodec("table", 3, 2);
    const reference = encoded(codec, new SeededRandom(7), 100);
    const shards: Array<Uint8Array | null> = [reference[0], null, reference[2], reference[3], null];
    assert.throws(() => codec.reconstructSome(shards, [false, true, false, false]), InvalidShardCountError);
    const tooFew: Array<Uint8Array | null> = [reference[0], null, null, reference[3], null];
    assert.throws(() => codec.reconstructSome(tooFew, [false, true, false, false, false]), TooFewShardsError);
    assert.deepEqual(tooFew, [reference[0], null, null, reference[3], null]);
    // A wanted slot that is present is left as it is; nothing missing is wanted: no work.
    const full = reference.map((shard) => shard.slice());
    codec.reconstructSome(full, [true, true, true, true, true]);
    for (let i = 0; i < 5; i++) assert.deepEqual(full[i], reference[i]);
  });
});
