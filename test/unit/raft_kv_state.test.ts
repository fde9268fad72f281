// KvState (raft mode's state machine) with its values in a ByteArena.
// Goal: moving values from one Buffer each into arena blocks must not change what the state
// machine answers, what it counts, or the bytes of its snapshots. Method: seeded random
// sequences of sets and deletes, checked after every step against a plain Map model; a
// reply taken by get() must survive later writes that reuse its block; snapshot() must equal
// the streamed writeSnapshot() bytes and round-trip through restore(); stats() must count
// exactly the model's bytes.
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/env";
import { LARGE_BYTES } from "../../src/storage/byte_arena";
import { KV_ENTRY_META_BYTES, KvCommand, KvState, SNAPSHOT_CHUNK_BYTES } from "../../src/raft/kv_state";

function filled(bytes: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

function set(key: string, value: Buffer, clientId = 0, seq = 0): KvCommand {
  return { op: "set", clientId, seq, floor: 0, key: Buffer.from(key, "latin1"), value };
}

function del(key: string): KvCommand {
  return { op: "del", clientId: 0, seq: 0, floor: 0, key: Buffer.from(key, "latin1"), value: Buffer.alloc(0) };
}

function get(kv: KvState, key: string): Buffer | null {
  return kv.get(Buffer.from(key, "latin1"));
}

/** The stats a Map model of the same contents must give. */
function expectedStats(model: Map<string, Buffer>) {
  let valueBytes = 0;
  let keyBytes = 0;
  for (const [key, value] of model) {
    valueBytes += value.length;
    keyBytes += key.length;
  }
  return { keyCount: model.size, valueBytes, keyBytes, metaBytes: model.size * KV_ENTRY_META_BYTES };
}

describe("raft KvState on a ByteArena", () => {
  it("reads back every value after random sets and deletes, with exact stats", () => {
    const random = new SeededRandom(7);
    const kv = new KvState();
    const model = new Map<string, Buffer>();
    const sizes = [0, 1, 7, 100, 1024, 1500, 4096];
    for (let step = 0; step < 3_000; step++) {
      const key = `k${random.int(200)}`;
      if (random.int(4) === 0) {
        assert.equal(kv.apply(del(key)), true);
        model.delete(key);
      } else {
        const value = filled(sizes[random.int(sizes.length)], step);
        assert.equal(kv.apply(set(key, value)), true);
        model.set(key, Buffer.from(value));
      }
      if (step % 100 === 0 || step > 2_900) {
        for (const [modelKey, modelValue] of model) assert.deepEqual(get(kv, modelKey), modelValue, `value of ${modelKey} at step ${step}`);
        assert.deepEqual(kv.stats(), expectedStats(model));
      }
    }
    assert.equal(get(kv, "never-set"), null);
  });

  it("get() returns a copy that later writes to the same block do not change", () => {
    const kv = new KvState();
    kv.apply(set("a", filled(1024, 1)));
    const reply = get(kv, "a");
    assert.ok(reply !== null);
    // Overwrite and delete: the freed block is reused by the next value of its size class.
    kv.apply(set("a", filled(1024, 2)));
    kv.apply(del("a"));
    kv.apply(set("b", filled(1024, 3)));
    assert.deepEqual(reply, filled(1024, 1));
    // Changing the reply does not change the stored value either.
    const stored = get(kv, "b");
    assert.ok(stored !== null);
    stored.fill(0);
    assert.deepEqual(get(kv, "b"), filled(1024, 3));
  });

  it("keeps a large value (above LARGE_BYTES) intact while later writes happen", () => {
    const kv = new KvState();
    const large = filled(LARGE_BYTES + 1, 4);
    kv.apply(set("big", large));
    const reply = get(kv, "big");
    kv.apply(set("big", filled(LARGE_BYTES + 1, 5)));
    kv.apply(set("other", filled(LARGE_BYTES + 1, 6)));
    assert.deepEqual(reply, large);
    assert.deepEqual(get(kv, "big"), filled(LARGE_BYTES + 1, 5));
  });

  it("does not keep a view of the command it applied", () => {
    const kv = new KvState();
    const value = filled(100, 8);
    kv.apply(set("a", value));
    value.fill(0); // the log entry's bytes are dropped by compaction and may be reused
    assert.deepEqual(get(kv, "a"), filled(100, 8));
  });

  it("snapshot() equals the streamed chunks and round-trips through restore()", () => {
    const kv = new KvState();
    const model = new Map<string, Buffer>();
    for (let i = 0; i < 300; i++) {
      const value = filled(i % 3 === 0 ? 2_000 : i, i);
      kv.apply(set(`key-${i}`, value, 1 + (i % 5), i));
      model.set(`key-${i}`, value);
    }
    kv.apply(set("huge", filled(SNAPSHOT_CHUNK_BYTES + 10, 9))); // larger than one chunk
    model.set("huge", filled(SNAPSHOT_CHUNK_BYTES + 10, 9));
    for (let i = 0; i < 300; i += 7) {
      kv.apply(del(`key-${i}`));
      model.delete(`key-${i}`);
    }
    const snapshot = kv.snapshot();
    const chunks: Buffer[] = [];
    const total = kv.writeSnapshot((chunk) => {
      assert.ok(chunk.length <= SNAPSHOT_CHUNK_BYTES || chunk.length === SNAPSHOT_CHUNK_BYTES + 10);
      chunks.push(Buffer.from(chunk));
    });
    assert.equal(total, snapshot.length);
    assert.deepEqual(Buffer.concat(chunks), snapshot);

    const copy = new KvState();
    copy.apply(set("stale", filled(10, 1))); // replaced entirely by restore
    copy.restore(snapshot);
    assert.equal(get(copy, "stale"), null);
    for (const [key, value] of model) assert.deepEqual(get(copy, key), value, key);
    assert.deepEqual(copy.stats(), expectedStats(model));
    const again = new KvState(); // and a snapshot of the restored state restores it again
    again.restore(copy.snapshot());
    for (const [key, value] of model) assert.deepEqual(get(again, key), value, key);
    assert.deepEqual(again.stats(), expectedStats(model));
    // Sessions travel too: a duplicate of an applied (clientId, seq) stays a duplicate.
    assert.equal(copy.apply(set("key-1", filled(5, 5), 2, 1)), false);
    assert.equal(copy.apply(set("key-1", filled(5, 5), 2, 1_000)), true);
  });

  it("restores the empty state from empty data", () => {
    const kv = new KvState();
    kv.apply(set("a", filled(10, 1)));
    kv.restore(new Uint8Array(0));
    assert.equal(get(kv, "a"), null);
    assert.deepEqual(kv.stats(), { keyCount: 0, valueBytes: 0, keyBytes: 0, metaBytes: 0 });
    const empty = new KvState();
    empty.restore(kv.snapshot());
    assert.deepEqual(empty.stats(), kv.stats());
  });
});
