// KvState (raft mode's state machine) with its values in a ByteArena.
// Goal: moving values from one Buffer each into arena blocks must not change what the state
// machine answers, what it counts, or the bytes of its snapshots. Method: seeded random
// sequences of sets and deletes, checked after every step against a plain Map model; a
// reply taken by get() must survive later writes that reuse its block; snapshot() must equal
// the streamed writeSnapshot() bytes and round-trip through restore(); stats() must count
// exactly the model's bytes. TTLs and drops: a deadline travels with the value (set, expire,
// persist), a command past a value's deadline (by the leader times in the log) finds it
// expired, a drop removes only the version it names (an expiry only when still due), every
// drop is reported with its version and value checksum, and versions, deadlines and the clock
// survive a snapshot; an old-format snapshot and old-format commands still load.
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/env";
import { LARGE_BYTES } from "../../src/storage/byte_arena";
import { crc32 } from "../../src/codec/checksum";
import { KV_REMEMBERED_BYTES_MAX, KvCommand, KvState, SNAPSHOT_CHUNK_BYTES, commandSession, decodeCommand, encodeCommand } from "../../src/raft/kv_state";
import { VALUE_BYTES_MAX } from "../../src/core/limits";

/** Per-entry bytes besides key and value at version 0 and no TTL: key length (2) and the version varint (1). */
const META_BYTES = 3;

function filled(bytes: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

function set(key: string, value: Buffer, clientId = 0, seq = 0): KvCommand {
  return { op: "set", clientId, seq, floor: 0, atMs: 0, key: Buffer.from(key, "latin1"), value, expiresAtMs: 0 };
}

function del(key: string): KvCommand {
  return { op: "del", clientId: 0, seq: 0, floor: 0, atMs: 0, key: Buffer.from(key, "latin1") };
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
  return { keyCount: model.size, valueBytes, keyBytes, metaBytes: model.size * META_BYTES };
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
        assert.equal(kv.apply(del(key)).applied, true);
        model.delete(key);
      } else {
        const value = filled(sizes[random.int(sizes.length)], step);
        assert.equal(kv.apply(set(key, value)).applied, true);
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
    assert.equal(copy.apply(set("key-1", filled(5, 5), 2, 1)).applied, false);
    assert.equal(copy.apply(set("key-1", filled(5, 5), 2, 1_000)).applied, true);
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

describe("raft KvState: TTLs, versions and drops", () => {
  const key = (text: string): Buffer => Buffer.from(text, "latin1");
  const setAt = (text: string, value: string, atMs: number, expiresAtMs = 0): KvCommand => ({
    op: "set", clientId: 0, seq: 0, floor: 0, atMs, key: key(text), value: Buffer.from(value), expiresAtMs,
  });
  const expireAt = (text: string, atMs: number, expiresAtMs: number): KvCommand => ({ op: "expire", clientId: 0, seq: 0, floor: 0, atMs, key: key(text), expiresAtMs });

  it("a set's version is its log index; its deadline travels with it, and a later set without one clears it", () => {
    const kv = new KvState();
    kv.apply(setAt("a", "v1", 1_000, 5_000), 7);
    assert.deepEqual([kv.summary("a")?.version, kv.summary("a")?.expiresAtMs, kv.volatileKeys], [7, 5_000, 1]);
    kv.apply(setAt("a", "v2", 2_000), 9);
    assert.deepEqual([kv.summary("a")?.version, kv.summary("a")?.expiresAtMs, kv.volatileKeys], [9, 0, 0]);
    assert.equal(get(kv, "a")?.toString(), "v2");
  });

  it("expire sets or moves a live value's deadline in place, persist removes it, neither changes the value or version", () => {
    const kv = new KvState();
    kv.apply(setAt("a", "value", 1_000), 3);
    const result = kv.apply(expireAt("a", 1_100, 9_000), 4);
    assert.deepEqual([result.existed, kv.summary("a")?.expiresAtMs, kv.summary("a")?.version], [true, 9_000, 3]);
    assert.equal(kv.apply(expireAt("a", 1_200, 8_000), 5).existed, true);
    assert.equal(kv.summary("a")?.expiresAtMs, 8_000);
    const persisted = kv.apply(expireAt("a", 1_300, 0), 6);
    assert.deepEqual([persisted.existed, persisted.hadDeadline], [true, true], "PERSIST of a value with a TTL");
    const again = kv.apply(expireAt("a", 1_400, 0), 7);
    assert.deepEqual([again.existed, again.hadDeadline], [true, false], "PERSIST of one without");
    assert.deepEqual([kv.summary("a")?.expiresAtMs, kv.volatileKeys, get(kv, "a")?.toString()], [0, 0, "value"]);
    assert.equal(kv.apply(expireAt("missing", 1_500, 9_000), 8).existed, false);
  });

  it("a command at or past a value's deadline finds it expired: it is dropped first and reported", () => {
    const kv = new KvState();
    kv.apply(setAt("a", "old", 1_000, 2_000), 3);
    const result = kv.apply(expireAt("a", 2_000, 9_000), 4); // the leader's clock reached the deadline
    assert.equal(result.existed, false);
    assert.deepEqual(result.dropped, [{ key: "a", version: 3, valueCrc32: crc32(Buffer.from("old")), reason: "expire", atMs: 2_000 }]);
    assert.equal(kv.summary("a"), null);
    assert.equal(kv.clockMs, 2_000);
  });

  it("a drop removes only the version it names; an expiry only while the value is still due", () => {
    const kv = new KvState();
    kv.apply(setAt("a", "1", 1_000), 3);
    kv.apply(setAt("b", "2", 1_000, 1_500), 4);
    kv.apply(setAt("c", "3", 1_000, 1_500), 5);
    kv.apply(expireAt("c", 1_100, 0), 6); // persisted after the leader chose to expire it
    const usedBefore = kv.usedBytes();
    const evictStale = kv.apply({ op: "drop", atMs: 1_200, reason: "evict", keys: [{ key: key("a"), version: 2 }] });
    assert.deepEqual(evictStale.dropped, [], "version 2 was never a's");
    const result = kv.apply({
      op: "drop", atMs: 1_600, reason: "expire", keys: [{ key: key("b"), version: 4 }, { key: key("c"), version: 5 }],
    });
    assert.deepEqual(result.dropped.map((dropped) => [dropped.key, dropped.version, dropped.reason]), [["b", 4, "expire"]]);
    const evicted = kv.apply({ op: "drop", atMs: 1_700, reason: "evict", keys: [{ key: key("a"), version: 3 }] });
    assert.deepEqual(evicted.dropped.map((dropped) => [dropped.key, dropped.reason, dropped.atMs]), [["a", "evict", 1_700]]);
    assert.deepEqual([kv.summary("a"), kv.summary("b"), get(kv, "c")?.toString()], [null, null, "3"]);
    assert(kv.usedBytes() < usedBefore, "dropped blocks no longer count as used");
  });

  it("scanExpired finds the values due at a time, a slice of the index at a time", () => {
    const kv = new KvState();
    for (let i = 0; i < 100; i++) kv.apply(setAt(`k${i}`, "v", 1_000, i % 3 === 0 ? 2_000 : 0), i + 1);
    const due = new Set<string>();
    let cursor = 0;
    let slices = 0;
    do {
      const { expired, next } = kv.scanExpired(cursor, 100, 2_000);
      for (const entry of expired) due.add(entry.key);
      cursor = next;
      slices++;
    } while (cursor !== 0);
    assert.equal(due.size, 34);
    assert(slices > 1, "the index is walked in slices");
    assert.equal(kv.scanExpired(0, kv.indexSlots, 1_999).expired.length, 0, "none due before the deadline");
  });

  it("versions, deadlines and the clock survive a snapshot; an old-format snapshot restores with version 0", () => {
    const kv = new KvState();
    kv.apply(setAt("a", "x", 1_000, 7_000), 11);
    kv.apply(setAt("b", "y", 3_000), 12);
    const copy = new KvState();
    copy.restore(kv.snapshot());
    assert.deepEqual([copy.summary("a")?.version, copy.summary("a")?.expiresAtMs, copy.summary("b")?.version, copy.clockMs, copy.volatileKeys], [11, 7_000, 12, 3_000, 1]);
    assert.deepEqual(copy.stats(), kv.stats());
    // KVS1: magic, sessions (0), entries (1): key "k", value "old".
    const v1 = Buffer.alloc(4 + 4 + 4 + 2 + 1 + 4 + 3);
    let at = v1.writeUInt32LE(0x4b565331, 0);
    at = v1.writeUInt32LE(0, at);
    at = v1.writeUInt32LE(1, at);
    at = v1.writeUInt16LE(1, at);
    at += v1.write("k", at, "latin1");
    at = v1.writeUInt32LE(3, at);
    v1.write("old", at, "latin1");
    const old = new KvState();
    old.restore(v1);
    assert.deepEqual([get(old, "k")?.toString(), old.summary("k")?.version, old.summary("k")?.expiresAtMs], ["old", 0, 0]);
  });

  it("commands round-trip through their encoding; the format before TTLs still decodes", () => {
    const commands: KvCommand[] = [
      { op: "set", clientId: 5, seq: 6, floor: 4, atMs: 1_700_000_000_000, key: key("k"), value: Buffer.from([0, 1, 2]), expiresAtMs: 1_700_000_030_000 },
      { op: "del", clientId: 5, seq: 7, floor: 4, atMs: 12, key: key("k") },
      { op: "expire", clientId: 5, seq: 8, floor: 4, atMs: 13, key: key("k"), expiresAtMs: 0 },
      { op: "drop", atMs: 14, reason: "evict", keys: [{ key: key("a"), version: 3 }, { key: key("bb"), version: 2 ** 40 }] },
    ];
    for (const command of commands) assert.deepEqual(decodeCommand(encodeCommand(command)), command);
    assert.deepEqual(commandSession(encodeCommand(commands[0])), { clientId: 5, seq: 6 });
    assert.equal(commandSession(encodeCommand(commands[3])), null);
    // Op 1 (set) of the old format: op, clientId, seq, floor, key length, key, value.
    const old = Buffer.alloc(27 + 1 + 2);
    old[0] = 1;
    old.writeDoubleLE(9, 1);
    old.writeDoubleLE(2, 9);
    old.writeDoubleLE(1, 17);
    old.writeUInt16LE(1, 25);
    old.write("k", 27, "latin1");
    old.write("v1", 28, "latin1");
    assert.deepEqual(decodeCommand(old), { op: "set", clientId: 9, seq: 2, floor: 1, atMs: 0, key: key("k"), value: Buffer.from("v1"), expiresAtMs: 0 });
  });
});

// Conditional writes (SET NX/XX/GET/KEEPTTL, GETDEL, APPEND) are decided by the state machine
// when the command applies. Goal: each condition against absent, present and expired keys
// gives Redis's answer and changes exactly what it should; a retried (duplicate) conditional
// command changes nothing and answers what the first application answered, also after a
// snapshot; remembered results go when the client's floor passes them; the commands round-trip
// through their encoding. Method: direct apply() calls with leader times in the commands.
describe("raft KvState: conditional writes", () => {
  const key = (text: string): Buffer => Buffer.from(text, "latin1");
  let seq = 0;
  const fields = (text: string, atMs: number, clientId = 0, floor = 0) => ({ clientId, seq: clientId === 0 ? 0 : ++seq, floor, atMs, key: key(text) });
  const setIf = (text: string, value: string, atMs: number, options: Partial<Extract<KvCommand, { op: "set" }>> = {}): KvCommand => ({
    op: "set",
    ...fields(text, atMs),
    value: Buffer.from(value),
    expiresAtMs: 0,
    ...options,
  });
  const text = (buffer: Buffer | null | undefined): string | null => (buffer === null || buffer === undefined ? null : buffer.toString());

  it("NX writes only when the key is absent or past its deadline; XX only when it holds a live value", () => {
    const kv = new KvState();
    const first = kv.apply(setIf("a", "one", 1_000, { condition: "nx" }), 1);
    assert.deepEqual([first.outcome?.written, text(get(kv, "a")), kv.summary("a")?.version], [true, "one", 1]);
    const second = kv.apply(setIf("a", "two", 1_100, { condition: "nx" }), 2);
    assert.deepEqual([second.outcome?.written, text(get(kv, "a")), kv.summary("a")?.version], [false, "one", 1], "NX on a present key changes nothing");
    assert.equal(kv.apply(setIf("b", "x", 1_200, { condition: "xx" }), 3).outcome?.written, false);
    assert.equal(kv.summary("b"), null, "XX on an absent key writes nothing");
    const replaced = kv.apply(setIf("a", "three", 1_300, { condition: "xx" }), 4);
    assert.deepEqual([replaced.outcome?.written, text(get(kv, "a")), kv.summary("a")?.version], [true, "three", 4]);
    // A value with a deadline: NX before it fails, NX at it (the leader's clock) wins and reports the expiry.
    kv.apply(setIf("t", "old", 2_000, { expiresAtMs: 3_000 }), 5);
    assert.equal(kv.apply(setIf("t", "early", 2_999, { condition: "nx" }), 6).outcome?.written, false);
    const late = kv.apply(setIf("t", "late", 3_000, { condition: "nx" }), 7);
    assert.deepEqual([late.outcome?.written, late.existed, text(get(kv, "t")), late.dropped.map((d) => [d.key, d.version, d.reason])], [true, false, "late", [["t", 5, "expire"]]]);
    assert.equal(kv.apply(setIf("t2", "x", 3_000, { expiresAtMs: 3_500 }), 8).outcome?.written, true);
    assert.equal(kv.apply(setIf("t2", "y", 4_000, { condition: "xx" }), 9).outcome?.written, false, "XX on an expired key: absent");
    assert.equal(kv.summary("t2"), null);
  });

  it("GET returns the live value before (null when absent or expired), whether or not the condition held", () => {
    const kv = new KvState();
    const none = kv.apply(setIf("a", "one", 1_000, { returnPrevious: true }), 1);
    assert.deepEqual([none.outcome?.written, none.outcome?.previous], [true, null]);
    const swapped = kv.apply(setIf("a", "two", 1_100, { returnPrevious: true }), 2);
    assert.deepEqual([swapped.outcome?.written, text(swapped.outcome?.previous)], [true, "one"]);
    const refused = kv.apply(setIf("a", "three", 1_200, { returnPrevious: true, condition: "nx" }), 3);
    assert.deepEqual([refused.outcome?.written, text(refused.outcome?.previous), text(get(kv, "a"))], [false, "two", "two"]);
    kv.apply(setIf("e", "gone", 1_200, { expiresAtMs: 1_500 }), 4);
    assert.equal(kv.apply(setIf("e", "new", 2_000, { returnPrevious: true }), 5).outcome?.previous, null);
    // The previous value is a copy: the block it came from is reused by later writes.
    const held = kv.apply(setIf("a", "2222", 2_100, { returnPrevious: true }), 6).outcome!.previous!;
    for (let i = 0; i < 20; i++) kv.apply(setIf(`fill${i}`, "xxxx", 2_200), 7 + i);
    assert.equal(held.toString(), "two");
  });

  it("KEEPTTL keeps the live value's deadline (none when the key was absent or expired)", () => {
    const kv = new KvState();
    kv.apply(setIf("a", "one", 1_000, { expiresAtMs: 9_000 }), 1);
    kv.apply(setIf("a", "two", 1_100, { keepTtl: true }), 2);
    assert.deepEqual([text(get(kv, "a")), kv.summary("a")?.expiresAtMs, kv.summary("a")?.version, kv.volatileKeys], ["two", 9_000, 2, 1]);
    kv.apply(setIf("b", "x", 1_200, { keepTtl: true }), 3);
    assert.equal(kv.summary("b")?.expiresAtMs, 0);
    kv.apply(setIf("c", "x", 1_200, { expiresAtMs: 1_300 }), 4);
    kv.apply(setIf("c", "y", 1_400, { keepTtl: true }), 5);
    assert.deepEqual([text(get(kv, "c")), kv.summary("c")?.expiresAtMs, kv.volatileKeys], ["y", 0, 1], "an expired deadline is not kept");
    assert.throws(() => encodeCommand(setIf("a", "v", 1, { keepTtl: true, expiresAtMs: 5 })), /KEEPTTL/);
  });

  it("GETDEL removes the live value and returns it; APPEND extends it keeping the TTL, or refuses past the value limit", () => {
    const kv = new KvState();
    const getDel = (name: string, atMs: number): KvCommand => ({ op: "del", ...fields(name, atMs), returnPrevious: true });
    const append = (name: string, value: Buffer, atMs: number): KvCommand => ({ op: "append", ...fields(name, atMs), value });
    assert.deepEqual(kv.apply(getDel("a", 1_000), 1).outcome, { written: false, previous: null, valueBytes: 0 });
    kv.apply(setIf("a", "one", 1_000), 2);
    const removed = kv.apply(getDel("a", 1_100), 3);
    assert.deepEqual([text(removed.outcome?.previous), removed.existed, kv.summary("a"), kv.keyCount], ["one", true, null, 0]);
    const created = kv.apply(append("b", Buffer.from("ab"), 1_200), 4);
    assert.deepEqual([created.outcome, text(get(kv, "b")), kv.summary("b")?.expiresAtMs], [{ written: true, previous: null, valueBytes: 2 }, "ab", 0]);
    kv.apply(expireAtCommand("b", 1_300, 5_000), 5);
    const extended = kv.apply(append("b", Buffer.from("cde"), 1_400), 6);
    assert.deepEqual([extended.outcome?.valueBytes, text(get(kv, "b")), kv.summary("b")?.expiresAtMs, kv.summary("b")?.version], [5, "abcde", 5_000, 6]);
    assert.deepEqual(kv.stats(), { keyCount: 1, valueBytes: 5, keyBytes: 1, metaBytes: 3 + 6 });
    // Past the limit: nothing changes.
    kv.apply(setIf("big", "", 1_500), 7);
    kv.apply(append("big", Buffer.alloc(VALUE_BYTES_MAX - 1, 1), 1_500), 8);
    const refused = kv.apply(append("big", Buffer.from("xy"), 1_600), 9);
    assert.deepEqual([refused.outcome?.written, refused.outcome?.valueBytes, get(kv, "big")?.length, kv.summary("big")?.version], [false, VALUE_BYTES_MAX - 1, VALUE_BYTES_MAX - 1, 8]);
    assert.equal(kv.apply(append("big", Buffer.from("z"), 1_700), 10).outcome?.valueBytes, VALUE_BYTES_MAX);
    // An expired value is absent: the append starts from nothing.
    kv.apply(setIf("e", "old", 1_700, { expiresAtMs: 1_800 }), 11);
    assert.equal(text(get(kv, "e")), "old");
    kv.apply(append("e", Buffer.from("new"), 1_900), 12);
    assert.deepEqual([text(get(kv, "e")), kv.summary("e")?.expiresAtMs], ["new", 0]);
  });

  it("a retried conditional command changes nothing and answers what the first application did, also after a snapshot", () => {
    const kv = new KvState();
    const clientId = 77;
    const nx: KvCommand = { op: "set", clientId, seq: 1, floor: 1, atMs: 1_000, key: key("a"), value: Buffer.from("mine"), expiresAtMs: 0, condition: "nx", returnPrevious: true };
    const first = kv.apply(nx, 1);
    assert.deepEqual([first.applied, first.outcome?.written, first.outcome?.previous], [true, true, null]);
    // Another client overwrites; then the retry of the NX arrives (a second copy in the log).
    kv.apply({ op: "set", clientId: 78, seq: 1, floor: 1, atMs: 1_100, key: key("a"), value: Buffer.from("theirs"), expiresAtMs: 0 }, 2);
    const retry = kv.apply({ ...nx, atMs: 1_200 }, 3);
    assert.deepEqual([retry.applied, retry.outcome?.written, retry.outcome?.previous, text(get(kv, "a"))], [false, true, null, "theirs"], "the duplicate says it won, and writes nothing");
    assert.ok(kv.sessionApplied(clientId, 1));
    assert.deepEqual(kv.rememberedOutcome(clientId, 1), { written: true, previous: null, valueBytes: 4 });
    // A losing NX with GET: its answer (not written, previous "theirs") survives a snapshot.
    const lost = kv.apply({ ...nx, seq: 2, atMs: 1_300 }, 4);
    assert.deepEqual([lost.outcome?.written, text(lost.outcome?.previous)], [false, "theirs"]);
    kv.apply({ op: "del", clientId: 78, seq: 2, floor: 2, atMs: 1_400, key: key("a") }, 5);
    const copy = new KvState();
    copy.restore(kv.snapshot());
    assert.deepEqual(copy.snapshot(), kv.snapshot(), "the remembered results round-trip");
    for (const state of [kv, copy]) {
      const again = state.apply({ ...nx, seq: 2, atMs: 1_500 }, 6);
      assert.deepEqual([again.applied, again.outcome?.written, text(again.outcome?.previous), state.summary("a")], [false, false, "theirs", null]);
    }
    assert.deepEqual(kv.rememberedStats(), { count: 2, bytes: 64 * 2 + "theirs".length });
    // The client's floor passing its seqs settles them: the results go.
    kv.apply({ op: "set", clientId, seq: 3, floor: 3, atMs: 1_600, key: key("z"), value: Buffer.from("v"), expiresAtMs: 0 }, 7);
    assert.deepEqual(kv.rememberedStats(), { count: 0, bytes: 0 });
    assert.equal(kv.rememberedOutcome(clientId, 2), null);
    // Plain writes are not remembered (their answers are not conditional).
    assert.equal(kv.rememberedOutcome(clientId, 3), null);
  });

  it("remembered results stay within KV_REMEMBERED_BYTES_MAX: the oldest are forgotten first", () => {
    const kv = new KvState();
    const value = Buffer.alloc(8 * 1024 * 1024, 7);
    const count = Math.ceil(KV_REMEMBERED_BYTES_MAX / value.length) + 2;
    // A client that never settles (floor stays 1): every SET GET returns the previous 8 MiB value.
    for (let i = 1; i <= count; i++) {
      kv.apply({ op: "set", clientId: 9, seq: i, floor: 1, atMs: i, key: key("big"), value, expiresAtMs: 0, returnPrevious: true }, i);
    }
    const stats = kv.rememberedStats();
    assert.ok(stats.bytes <= KV_REMEMBERED_BYTES_MAX, `${stats.bytes} bytes remembered`);
    assert.equal(kv.rememberedOutcome(9, 1), null, "the oldest (previous null, cheapest) went too: order, not size, decides");
    assert.equal(kv.rememberedOutcome(9, 2), null);
    assert.equal(kv.rememberedOutcome(9, count)?.previous?.length, value.length);
    assert.ok(kv.sessionApplied(9, 1), "forgetting a result does not forget that the command applied");
    assert.equal(kv.apply({ op: "set", clientId: 9, seq: 1, floor: 1, atMs: count + 1, key: key("big"), value: Buffer.from("x"), expiresAtMs: 0, returnPrevious: true }, count + 1).outcome, null);
    assert.equal(get(kv, "big")?.length, value.length);
  });

  it("conditional commands round-trip through their encoding; a plain set keeps the plain format", () => {
    const base = { clientId: 5, seq: 6, floor: 4, atMs: 1_700_000_000_000, key: key("k") };
    const commands: KvCommand[] = [
      { op: "set", ...base, value: Buffer.from("v"), expiresAtMs: 1_700_000_030_000, condition: "nx", keepTtl: false, returnPrevious: true },
      { op: "set", ...base, value: Buffer.from(""), expiresAtMs: 0, condition: "xx", keepTtl: true, returnPrevious: false },
      { op: "set", ...base, value: Buffer.from("w"), expiresAtMs: 0, condition: "none", keepTtl: false, returnPrevious: true },
      { op: "del", ...base, returnPrevious: true },
      { op: "append", ...base, value: Buffer.from([0, 255]) },
    ];
    for (const command of commands) {
      assert.deepEqual(decodeCommand(encodeCommand(command)), command);
      assert.deepEqual(commandSession(encodeCommand(command)), { clientId: 5, seq: 6 });
    }
    const plain = encodeCommand({ op: "set", ...base, value: Buffer.from("v"), expiresAtMs: 0, condition: "none" });
    assert.equal(plain[0], 3, "op 3: readable by nodes without conditional writes");
    const flagged = encodeCommand(commands[0]);
    flagged[43] = 0x03; // NX and XX at once
    assert.throws(() => decodeCommand(flagged), /bad set flags/);
  });
});

function expireAtCommand(text: string, atMs: number, expiresAtMs: number): KvCommand {
  return { op: "expire", clientId: 0, seq: 0, floor: 0, atMs, key: Buffer.from(text, "latin1"), expiresAtMs };
}
