// ByteArena (packed blocks for per-key blobs), the ShardStore built on it, and the choice
// of the node processes' C allocator and node flags.
// Properties: every live block reads back exactly what was written to it, whatever the
// interleaving of allocations and releases (checked against a plain Map model over seeded
// random sequences); a released block's space is reused by the next block of its size
// class instead of growing the slabs; large blocks live apart; the store copies shards out
// of the arena so a later write cannot change a reply already handed out.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { allocatorEnv, chooseAllocator, JEMALLOC_CONF, JEMALLOC_PATHS } from "../../src/core/allocator";
import { SeededRandom } from "../../src/core/env";
import { KEY_BYTES_MAX, NODE_PROCESS_ARGS } from "../../src/core/limits";
import { blockCapacity, ByteArena, HANDLE_LIMIT, LARGE_BYTES, LARGE_HANDLE_BASE, SLAB_BYTES } from "../../src/storage/byte_arena";
import { KeyIndex, keyHash } from "../../src/storage/key_index";
import { entryMetaBytes, ShardEntry, ShardStore } from "../../src/storage/shard_store";

function filled(bytes: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

describe("ByteArena", () => {
  it("size classes: a 2-byte header, 4-byte steps up to 1 KiB, then at most ~1.6% slack", () => {
    assert.equal(blockCapacity(0), 4);
    assert.equal(blockCapacity(2), 4);
    assert.equal(blockCapacity(3), 8);
    // An ecc entry of a 1 KiB value in ecc(5,3): 17-byte header, 7-byte key, 342-byte shard.
    assert.equal(blockCapacity(17 + 7 + 342), 368);
    // A raft entry of a 1 KiB value: 2-byte key length + 7-byte key + 1,024.
    assert.equal(blockCapacity(2 + 7 + 1024), 1040);
    assert.equal(blockCapacity(2046), 2048);
    assert.equal(blockCapacity(2047), 2080);
    for (let bytes = 0; bytes <= LARGE_BYTES; bytes += 97) {
      const capacity = blockCapacity(bytes);
      assert.ok(capacity >= bytes + 2, `capacity ${capacity} holds ${bytes} + header`);
      assert.equal(capacity % 4, 0, "blocks stay 4-byte aligned");
      if (bytes > 1024) assert.ok(capacity <= (bytes + 2) * 1.016, `slack of ${bytes}: ${capacity}`);
    }
  });

  it("reads back what was written, including 0-byte blocks", () => {
    const arena = new ByteArena();
    const empty = arena.alloc(0);
    const small = arena.alloc(5);
    arena.view(small).set([1, 2, 3, 4, 5]);
    assert.equal(arena.view(empty).length, 0);
    assert.deepEqual([...arena.view(small)], [1, 2, 3, 4, 5]);
    assert.equal(arena.size(small), 5);
    assert.deepEqual(arena.stats(), { liveBytes: 5, liveBlocks: 2, slabBytes: SLAB_BYTES, freeBytes: 0, largeBlocks: 0 });
  });

  it("counts blocks in use, not blocks freed for reuse or a slab's untouched tail (what a budget checks)", () => {
    const arena = new ByteArena();
    assert.equal(arena.inUseBytes(), 0);
    const handles = Array.from({ length: 1000 }, () => {
      const expected = arena.inUseBytes() + arena.bytesToAlloc(1000);
      const handle = arena.alloc(1000);
      assert.equal(arena.inUseBytes(), expected, "bytesToAlloc predicts the growth");
      return handle;
    });
    const inUse = arena.inUseBytes();
    const slabs = arena.stats().slabBytes / SLAB_BYTES;
    // Each full slab leaves a tail shorter than one block.
    assert.ok(inUse >= 1000 * blockCapacity(1000) && inUse < 1000 * blockCapacity(1000) + (slabs - 1) * blockCapacity(1000));
    assert.ok(arena.heldBytes() > inUse, "held bytes include the newest slab's tail");
    for (const handle of handles.slice(0, 600)) arena.release(handle);
    assert.equal(arena.inUseBytes(), inUse - 600 * blockCapacity(1000), "released blocks no longer count");
    const held = arena.heldBytes();
    for (let i = 0; i < 600; i++) arena.alloc(1000);
    assert.equal(arena.inUseBytes(), inUse);
    assert.equal(arena.heldBytes(), held, "the released blocks were reused");
  });

  it("reuses a released block for the next block of its class instead of growing", () => {
    const arena = new ByteArena();
    const handles = Array.from({ length: 5000 }, (_, i) => {
      const handle = arena.alloc(367);
      arena.view(handle).set(filled(367, i));
      return handle;
    });
    const slabs = arena.stats().slabBytes;
    // Rewrite every entry 3 times, like updates of same-size values.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < handles.length; i++) {
        const next = arena.alloc(367);
        arena.view(next).set(filled(367, i + round));
        arena.release(handles[i]);
        handles[i] = next;
      }
    }
    assert.equal(arena.stats().slabBytes, slabs, "no slab added by updates");
    assert.ok(arena.stats().freeBytes <= 376, "at most one block of the class waits on the free list");
    for (let i = 0; i < handles.length; i++) assert.deepEqual(arena.view(handles[i]), filled(367, i + 2));
  });

  it("keeps blocks above LARGE_BYTES apart and reuses their slots", () => {
    const arena = new ByteArena();
    const big = arena.alloc(LARGE_BYTES + 1);
    assert.ok(big >= LARGE_HANDLE_BASE && big < HANDLE_LIMIT);
    arena.view(big).fill(9);
    assert.equal(arena.stats().largeBlocks, 1);
    assert.equal(arena.stats().slabBytes, 0, "no slab for a large block");
    arena.release(big);
    assert.equal(arena.stats().largeBlocks, 0);
    assert.throws(() => arena.view(big), /freed arena block/);
    const again = arena.alloc(2 * LARGE_BYTES);
    assert.equal(again, big, "the slot is reused");
    assert.equal(arena.view(again).length, 2 * LARGE_BYTES);
  });

  for (const seed of [1, 2, 3, 4, 5]) {
    it(`matches a Map model over a random sequence (seed ${seed})`, () => {
      const random = new SeededRandom(seed);
      const arena = new ByteArena();
      const model = new Map<number, Buffer>();
      const sizes = [0, 1, 7, 8, 100, 367, 1020, 1021, 4000, 20_000, LARGE_BYTES, LARGE_BYTES + 1, 200_000];
      for (let step = 0; step < 3000; step++) {
        const live = [...model.keys()];
        if (live.length > 0 && random.next() < 0.45) {
          const handle = live[random.int(live.length)];
          assert.deepEqual(arena.view(handle), model.get(handle), `block ${handle} at step ${step}`);
          arena.release(handle);
          model.delete(handle);
        } else {
          const bytes = sizes[random.int(sizes.length)];
          const handle = arena.alloc(bytes);
          assert.ok(!model.has(handle), "a live handle is never handed out twice");
          const data = filled(bytes, step);
          arena.view(handle).set(data);
          model.set(handle, data);
        }
      }
      for (const [handle, data] of model) assert.deepEqual(arena.view(handle), data);
      const stats = arena.stats();
      assert.equal(stats.liveBlocks, model.size);
      assert.equal(stats.liveBytes, [...model.values()].reduce((sum, data) => sum + data.length, 0));
      arena.clear();
      assert.deepEqual(arena.stats(), { liveBytes: 0, liveBlocks: 0, slabBytes: 0, freeBytes: 0, largeBlocks: 0 });
    });
  }
});

describe("KeyIndex", () => {
  it("finds every key through growth, updates and colliding hashes, and forgets all on clear", () => {
    // The "entries": handle i holds keys[i]; keys differ only in a suffix, and the table
    // starts small so it grows many times.
    const keys: string[] = [];
    const index = new KeyIndex({ matches: (handle, key) => keys[handle] === key, hashOf: (handle) => keyHash(keys[handle]) }, 2);
    const model = new Map<string, number>();
    const random = new SeededRandom(7);
    for (let step = 0; step < 20_000; step++) {
      const key = `key${random.int(8000)}`;
      const handle = keys.length;
      keys.push(key);
      index.set(key, handle);
      model.set(key, handle);
    }
    assert.equal(index.size, model.size);
    for (const [key, handle] of model) assert.equal(index.get(key), handle);
    assert.equal(index.get("key8000"), undefined);
    assert.equal(index.get(""), undefined);
    assert.deepEqual([...index.values()].sort((a, b) => a - b), [...model.values()].sort((a, b) => a - b));
    assert.ok(index.tableBytes() <= 10 * 16384, `table of ${index.tableBytes()} bytes for ${index.size} keys`);
    index.clear();
    assert.equal(index.size, 0);
    assert.equal(index.get("key1"), undefined);
  });

  for (const seed of [1, 2, 3]) {
    it(`matches a Map model over random sets and deletes in a crowded table (seed ${seed})`, () => {
      // Few distinct keys in a table kept near its load limit: long probe runs that wrap
      // around the end, so a delete must shift later entries of a run back into its hole.
      const keys: string[] = [];
      const index = new KeyIndex({ matches: (handle, key) => keys[handle] === key, hashOf: (handle) => keyHash(keys[handle]) });
      const model = new Map<string, number>();
      const random = new SeededRandom(seed);
      for (let step = 0; step < 30_000; step++) {
        const key = `k${random.int(900)}`;
        if (random.int(3) === 0) {
          assert.equal(index.delete(key), model.delete(key), `delete ${key} at step ${step}`);
        } else {
          const handle = keys.length;
          keys.push(key);
          index.set(key, handle);
          model.set(key, handle);
        }
        if (step % 1000 === 999) {
          assert.equal(index.size, model.size);
          for (let k = 0; k < 900; k++) assert.equal(index.get(`k${k}`), model.get(`k${k}`), `k${k} at step ${step}`);
        }
      }
      assert.deepEqual([...index.values()].sort((x, y) => x - y), [...model.values()].sort((x, y) => x - y));
    });
  }

  it("fills its table up to 4/5 before it doubles, at 10 bytes a slot (packed handle and tag, access stamp)", () => {
    const keys: string[] = [];
    const index = new KeyIndex({ matches: (handle, key) => keys[handle] === key, hashOf: (handle) => keyHash(keys[handle]) });
    for (let i = 0; i < 6_553; i++) {
      keys.push(`key${i}`);
      index.set(`key${i}`, i);
    }
    assert.equal(index.tableBytes(), 10 * 8192, "6,553 keys fit 8,192 slots (80%)");
    keys.push("one more");
    index.set("one more", 6_553);
    assert.equal(index.tableBytes(), 10 * 16_384);
    for (let i = 0; i <= 6_553; i++) assert.equal(index.get(keys[i]), i);
  });

  it("stores every 32-bit handle (large arena blocks are at the top) and handle 0", () => {
    const index = new KeyIndex({ matches: () => true, hashOf: () => keyHash("a") });
    for (const handle of [0, 1, LARGE_HANDLE_BASE, LARGE_HANDLE_BASE + 12_345, HANDLE_LIMIT - 2]) {
      index.set("a", handle);
      assert.equal(index.get("a"), handle);
    }
  });

  it("keeps each key's access stamp through growth and deletes, samples used slots, and scans them all", () => {
    const keys: string[] = [];
    const index = new KeyIndex({ matches: (handle, key) => keys[handle] === key, hashOf: (handle) => keyHash(keys[handle]) });
    const random = new SeededRandom(11);
    for (let i = 0; i < 3_000; i++) {
      keys.push(`key${i}`);
      index.set(`key${i}`, i, i & 0xffff);
    }
    for (let i = 0; i < 3_000; i += 3) index.delete(`key${i}`);
    for (let i = 0; i < 3_000; i++) {
      const slot = index.slotOf(`key${i}`);
      if (i % 3 === 0) assert.equal(slot, -1);
      else assert.equal(index.accessAt(slot), i, `stamp of key${i}`);
    }
    const sample = index.sample(5, (below) => random.int(below));
    assert.equal(sample.length, 5);
    assert.equal(new Set(sample).size, 5);
    for (const slot of sample) assert.ok(index.handleAt(slot) % 3 !== 0);
    const seen = new Set<number>();
    let cursor = 0;
    for (let pass = 0; pass < 10_000; pass++) {
      const { slots, next } = index.scan(cursor, 100);
      for (const slot of slots) seen.add(index.handleAt(slot));
      cursor = next;
      if (cursor === 0) break;
    }
    assert.equal(seen.size, index.size, "one full pass sees every key");
  });

  it("hashes bytes, not string objects: equal keys hash equal, byte 0 counts", () => {
    assert.equal(keyHash("abc"), keyHash(Buffer.from("abc").toString("latin1")));
    assert.notEqual(keyHash("a\u0000"), keyHash("a"));
  });
});

describe("ShardStore on the arena", () => {
  const meta = (version: number) => ({ version, tombstone: false, valueBytes: 1000, valueCrc32: 1, shardCrc32: 2, txTag: 3, expiresAtMs: 0 });

  it("hands out shard copies that a later write of the same key does not change", () => {
    const store = new ShardStore();
    store.put("k", meta(1), filled(342, 1));
    const first = store.get("k");
    assert.ok(first !== null);
    store.put("k", meta(2), filled(342, 2)); // reuses the released block
    store.put("other", meta(1), filled(342, 3));
    assert.deepEqual(first.shard, filled(342, 1));
    assert.deepEqual(store.get("k")?.shard, filled(342, 2));
    assert.equal(store.get("k")?.version, 2);
    assert.deepEqual([...store.keys()].sort(), ["k", "other"]);
  });

  it("keeps binary keys (every byte value) apart and lists them back", () => {
    const store = new ShardStore();
    const keys = Array.from({ length: 256 }, (_, byte) => Buffer.from([byte, 255 - byte]).toString("latin1"));
    keys.forEach((key, i) => store.put(key, meta(1), filled(10, i)));
    keys.forEach((key, i) => assert.deepEqual(store.get(key)?.shard, filled(10, i)));
    assert.deepEqual([...store.keys()].sort(), [...keys].sort());
  });

  it("counts logical bytes exactly through updates, tombstones and clear", () => {
    const store = new ShardStore();
    store.put("ab", meta(1), filled(100, 1));
    store.put("ab", meta(2), filled(50, 2));
    store.put("cde", { ...meta(1), tombstone: true }, Buffer.alloc(0));
    const { heldBytes, indexBytes, ...logical } = store.stats();
    assert.deepEqual(logical, {
      keyCount: 2,
      tombstoneCount: 1,
      payloadBytes: 50,
      keyBytes: 5,
      metaBytes: 2 * 17, // 12 fixed bytes + varints of key length, version, value bytes, deadline (1 + 1 + 2 + 1)
      logicalBytes: 50 + 5 + 2 * 17,
    });
    assert.equal(indexBytes, 10 * 1024);
    assert.ok(heldBytes >= indexBytes + logical.logicalBytes, "held bytes cover the slab and the index");
    store.clear();
    assert.equal(store.stats().logicalBytes, 0);
    assert.equal(store.get("ab"), null);
  });

  it("predicts what an entry adds to the bytes a budget checks, index growth included, and gives it back on delete", () => {
    const store = new ShardStore();
    const random = new SeededRandom(11);
    for (let i = 0; i < 3000; i++) {
      const key = `key-${i}-${"x".repeat(random.int(40))}`;
      const shardBytes = random.int(3) === 0 ? 70_000 + random.int(1000) : random.int(2000);
      const before = store.usedBytes();
      const predicted = store.bytesToAdd(key.length, shardBytes);
      store.put(key, { ...meta(1 + random.int(1_000_000)), valueBytes: shardBytes * 3, expiresAtMs: random.int(2) === 0 ? 0 : Date.now() }, filled(shardBytes, i));
      const added = store.usedBytes() - before;
      assert.ok(added <= predicted, `entry ${i} (${shardBytes} bytes) added ${added}, predicted at most ${predicted}`);
      assert.ok(added >= shardBytes + key.length, `entry ${i} added ${added}`);
    }
    const full = store.usedBytes();
    for (let i = 0; i < 3000; i += 2) store.delete([...store.keys()].find((key) => key.startsWith(`key-${i}-`))!);
    assert.ok(store.usedBytes() < full * 0.6, `deleting half the entries gives their blocks back: ${store.usedBytes()} of ${full}`);
    assert.ok(store.heldBytes() > store.usedBytes(), "slab blocks are kept for reuse (large blocks are freed)");
  });

  it("reads back every header field at the varint boundaries and counts their bytes exactly", () => {
    const versions = [1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
    const valueSizes = [0, 1, 127, 128, 1024, 16_384, 2 ** 32 - 1];
    const keyLengths = [1, 63, 64, 127, 128, KEY_BYTES_MAX];
    const random = new SeededRandom(7);
    const store = new ShardStore();
    const model = new Map<string, Omit<ShardEntry, "shard"> & { shard: Buffer }>();
    for (let step = 0; step < 400; step++) {
      const keyLength = keyLengths[random.int(keyLengths.length)];
      const key = String.fromCharCode(random.int(256)).repeat(keyLength);
      const previous = model.get(key);
      // Versions only increase per key: pick the next listed one above the held version.
      const version = versions.find((v) => v > (previous?.version ?? 0));
      if (version === undefined) continue;
      const tombstone = random.int(4) === 0;
      // Some shards above LARGE_BYTES: a key moves between slab blocks and blocks of its own.
      const shardBytes = random.int(8) === 0 ? LARGE_BYTES + 1 + random.int(1000) : random.int(600);
      const shard = tombstone ? Buffer.alloc(0) : filled(shardBytes, step);
      const entry = {
        version,
        tombstone,
        valueBytes: valueSizes[random.int(valueSizes.length)],
        valueCrc32: random.int(2 ** 32),
        shardCrc32: random.int(2 ** 32),
        txTag: random.int(2 ** 32),
        expiresAtMs: random.int(3) === 0 ? 1_700_000_000_000 + random.int(2 ** 30) : 0,
      };
      store.put(key, entry, shard);
      model.set(key, { ...entry, shard });
    }
    let payloadBytes = 0;
    let keyBytes = 0;
    let metaBytes = 0;
    for (const [key, entry] of model) {
      assert.deepEqual(store.get(key), entry);
      assert.equal(store.version(key), entry.version);
      assert.deepEqual(store.versionAndTag(key), { version: entry.version, txTag: entry.txTag });
      payloadBytes += entry.shard.length;
      keyBytes += key.length;
      metaBytes += entryMetaBytes(entry, key.length);
    }
    const tombstoneCount = [...model.values()].filter((entry) => entry.tombstone).length;
    const { heldBytes: _held, indexBytes: _index, ...logical } = store.stats();
    assert.deepEqual(logical, {
      keyCount: model.size,
      tombstoneCount,
      payloadBytes,
      keyBytes,
      metaBytes,
      logicalBytes: payloadBytes + keyBytes + metaBytes,
    });
    assert.deepEqual([...store.keys()].sort(), [...model.keys()].sort());
    // The header sizes the accounting relies on: 12 fixed bytes + four LEB128 varints.
    assert.equal(entryMetaBytes({ version: 1, valueBytes: 127, tombstone: false, expiresAtMs: 0 }, 63), 16);
    assert.equal(entryMetaBytes({ version: 128, valueBytes: 1024, tombstone: true, expiresAtMs: 0 }, 64), 12 + 2 + 2 + 2 + 1);
    assert.equal(entryMetaBytes({ version: 1, valueBytes: 1024, tombstone: false, expiresAtMs: 1_800_000_000_000 }, 7), 12 + 1 + 1 + 2 + 6);
    assert.equal(entryMetaBytes({ version: Number.MAX_SAFE_INTEGER, valueBytes: 2 ** 32 - 1, tombstone: true, expiresAtMs: 0 }, KEY_BYTES_MAX), 12 + 2 + 8 + 5 + 1);
  });

  it("stores shards above the arena's large size, and overwrites them with any size", () => {
    const store = new ShardStore();
    store.put("big", meta(1), filled(LARGE_BYTES * 2, 5));
    assert.deepEqual(store.get("big")?.shard, filled(LARGE_BYTES * 2, 5));
    // Each write finds the key through the previous block, which must still be readable then
    // (it failed with "freed arena block" when a large one was released first).
    store.put("big", meta(2), filled(LARGE_BYTES + 1, 6));
    assert.deepEqual(store.get("big")?.shard, filled(LARGE_BYTES + 1, 6));
    store.put("big", meta(3), filled(100, 7));
    store.put("big", meta(4), filled(LARGE_BYTES * 3, 8));
    store.put("big", { ...meta(5), tombstone: true }, Buffer.alloc(0));
    assert.equal(store.get("big")?.tombstone, true);
    store.put("big", meta(6), filled(LARGE_BYTES * 2, 9));
    assert.deepEqual(store.get("big")?.shard, filled(LARGE_BYTES * 2, 9));
    assert.equal(store.version("big"), 6);
    assert.deepEqual([...store.keys()], ["big"]);
    assert.equal(store.stats().payloadBytes, LARGE_BYTES * 2);
  });

  it("summarises, samples, scans and deletes entries with their deadline and access stamp", () => {
    const store = new ShardStore();
    store.put("a", { ...meta(1), expiresAtMs: 5_000 }, filled(30, 1), 7);
    store.put("b", meta(1), filled(30, 2), 9);
    store.put("c", { ...meta(2), tombstone: true }, Buffer.alloc(0), 11);
    assert.deepEqual({ ...store.summary("a"), bytes: 0 }, { key: "a", version: 1, tombstone: false, expiresAtMs: 5_000, stamp: 7, bytes: 0 });
    assert.ok(store.touch("b", (stamp) => stamp + 1));
    assert.equal(store.summary("b")?.stamp, 10);
    assert.equal(store.touch("nope", () => 1), false);
    const random = new SeededRandom(3);
    assert.deepEqual(store.sample(10, (below) => random.int(below)).map((entry) => entry.key).sort(), ["a", "b", "c"]);
    const scanned: string[] = [];
    for (let cursor = 0, pass = 0; pass < 100; pass++) {
      const { entries, next } = store.scan(cursor, 64);
      scanned.push(...entries.map((entry) => entry.key));
      cursor = next;
      if (cursor === 0) break;
    }
    assert.deepEqual(scanned.sort(), ["a", "b", "c"]);
    const before = store.stats();
    assert.ok(store.delete("c"));
    assert.equal(store.delete("c"), false);
    const after = store.stats();
    assert.equal(after.tombstoneCount, before.tombstoneCount - 1);
    assert.equal(after.keyBytes, before.keyBytes - 1);
    assert.equal(store.get("c"), null);
    assert.deepEqual(store.get("a")?.shard, filled(30, 1));
  });
});

describe("node process allocator", () => {
  const present = (path: string) => path === JEMALLOC_PATHS[0];
  const absent = () => false;

  it("preloads jemalloc with the decay setting when it is installed", () => {
    assert.deepEqual(chooseAllocator({}, present), { kind: "jemalloc", path: JEMALLOC_PATHS[0] });
    assert.equal(JEMALLOC_CONF.includes("background_thread:true"), true);
  });

  it("keeps the system allocator when asked, when missing, or when the caller set LD_PRELOAD", () => {
    assert.equal(chooseAllocator({ ECC_CACHE_ALLOCATOR: "system" }, present).kind, "system");
    assert.match((chooseAllocator({}, absent) as { reason: string }).reason, /libjemalloc2/);
    assert.equal(chooseAllocator({ LD_PRELOAD: "/x.so" }, present).kind, "system");
    assert.deepEqual(allocatorEnv({ ECC_CACHE_ALLOCATOR: "system" }), {});
  });

  it("refuses an unknown choice, and jemalloc demanded but missing, with a clear error", () => {
    assert.throws(() => chooseAllocator({ ECC_CACHE_ALLOCATOR: "tcmalloc" }, present), /auto, jemalloc or system/);
    assert.throws(() => chooseAllocator({ ECC_CACHE_ALLOCATOR: "jemalloc" }, absent), /libjemalloc\.so\.2 is in none of/);
  });

  const installed = JEMALLOC_PATHS.find((path) => fs.existsSync(path));
  it(installed === undefined ? "jemalloc accepts every option we pass (skipped: libjemalloc2 not installed)" : "jemalloc accepts every option we pass", function () {
    if (installed === undefined) this.skip();
    // jemalloc reports an option it does not know, or a bad value, on stderr and ignores it.
    const env = { ...process.env, ...allocatorEnv({ ...process.env, LD_PRELOAD: "", MALLOC_CONF: "", ECC_CACHE_ALLOCATOR: "jemalloc" }) };
    const run = spawnSync(process.execPath, ["-e", "Buffer.alloc(1 << 20)"], { env, encoding: "utf8", timeout: 10_000 });
    assert.equal(run.status, 0);
    assert.equal(run.stderr, "");
    assert.equal(env.MALLOC_CONF, JEMALLOC_CONF);
  });
});

const REPO = path.join(__dirname, "..", "..", "..");

describe("node process flags", () => {
  it("are accepted by this node binary", () => {
    const run = spawnSync(process.execPath, [...NODE_PROCESS_ARGS, "-e", "0"], { encoding: "utf8", timeout: 10_000 });
    assert.equal(run.stderr, "");
    assert.equal(run.status, 0);
  });

  it("are the ones the container image starts node with, on the same allocator", function () {
    const dockerfile = fs.readFileSync(path.join(REPO, "docker", "Dockerfile"), "utf8");
    assert.ok(dockerfile.split("\n").includes('ENTRYPOINT ["/usr/local/bin/ecc-cache-entrypoint"]'));
    assert.ok(dockerfile.includes("COPY docker/entrypoint.sh /usr/local/bin/ecc-cache-entrypoint"));
    // Run the entrypoint script with a stand-in `node` that prints what it was given.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-entrypoint-"));
    try {
      fs.writeFileSync(path.join(dir, "node"), '#!/bin/sh\necho "LD_PRELOAD=${LD_PRELOAD:-}"\necho "MALLOC_CONF=${MALLOC_CONF:-}"\necho "ARGS=$*"\n', { mode: 0o755 });
      const run = (extra: NodeJS.ProcessEnv) => {
        const env: NodeJS.ProcessEnv = { PATH: `${dir}:${process.env.PATH ?? "/usr/bin:/bin"}`, ...extra };
        const result = spawnSync("/bin/sh", [path.join(REPO, "docker", "entrypoint.sh"), "ecc", "server", "startOne", "x"], { env, encoding: "utf8", timeout: 10_000 });
        assert.equal(result.status, 0, result.stderr);
        return result.stdout;
      };
      const args = `ARGS=${[...NODE_PROCESS_ARGS, "/app/dist/src/cli/main.js", "ecc", "server", "startOne", "x"].join(" ")}`;
      const host = chooseAllocator();
      const auto = run({});
      assert.ok(auto.includes(args), auto);
      if (host.kind === "jemalloc") {
        assert.ok(auto.includes(`LD_PRELOAD=${host.path}\n`), auto);
        assert.ok(auto.includes(`MALLOC_CONF=${JEMALLOC_CONF}\n`), auto);
      } else {
        assert.ok(auto.includes("LD_PRELOAD=\n"), auto);
      }
      const system = run({ ECC_CACHE_ALLOCATOR: "system" });
      assert.ok(system.includes("LD_PRELOAD=\nMALLOC_CONF=\n") && system.includes(args), system);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
