// Raft's state machine and stable storage, stepped by hand.
// KvState: duplicates of a client's (seq) are applied once even when its writes finish out
// of order; the floor forgets settled seqs; snapshot/restore reproduces state and sessions.
// DiskRaftStorage: what was persisted comes back after reopening (hard state, entries,
// truncation, snapshot + compaction); a torn tail frame (a crash mid-append) is cut off.
// MemoryLog: appended data is the log's own exact-size copy (no pooled slab kept alive);
// with a loader, applied data is released and read back through it, and bytes held stay exact.
// DiskRaftStorage reads an entry back by offset, checked against index, term and checksum.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { KvState, decodeCommand, encodeCommand } from "../../src/raft/kv_state";
import { DiskRaftStorage } from "../../src/raft/disk_storage";
import { RaftReady } from "../../src/raft/core";
import { MemoryLog } from "../../src/raft/memory_log";
import { LogEntry } from "../../src/raft/types";

function set(key: string, value: string, clientId: number, seq: number, floor: number) {
  return decodeCommand(encodeCommand({ op: "set", clientId, seq, floor, atMs: 0, key: Buffer.from(key), value: Buffer.from(value), expiresAtMs: 0 }));
}

function ready(partial: Partial<RaftReady>): RaftReady {
  return {
    hardState: null,
    truncateFrom: null,
    snapshotToPersist: null,
    entriesToPersist: [],
    messagesToSend: [],
    committedEntries: [],
    readStates: [],
    readsFailed: [],
    mustSync: true,
    ...partial,
  };
}

function entry(index: number, term: number, text = `e${index}`): LogEntry {
  return { index, term, type: "command", data: Buffer.from(text) };
}

describe("raft KvState", () => {
  it("applies each (client, seq) once, also out of order, and a retry after a newer write changes nothing", () => {
    const kv = new KvState();
    assert.equal(kv.apply(set("a", "1", 7, 2, 1)).applied, true); // seq 2 lands before seq 1
    assert.equal(kv.apply(set("a", "0", 7, 1, 1)).applied, true);
    assert.equal(kv.get(Buffer.from("a"))?.toString(), "0");
    assert.equal(kv.apply(set("a", "1", 7, 2, 1)).applied, false, "a retried seq 2 is a duplicate");
    assert.equal(kv.apply(set("a", "x", 9, 1, 1)).applied, true, "another client");
    assert.equal(kv.apply(set("a", "0", 7, 1, 3)).applied, false, "below the floor: settled");
    assert.equal(kv.get(Buffer.from("a"))?.toString(), "x");
  });

  it("snapshot and restore reproduce values, byte counts and sessions", () => {
    const kv = new KvState();
    kv.apply(set("k1", "hello", 1, 1, 1));
    kv.apply(set("k2", "", 1, 2, 1));
    kv.apply(decodeCommand(encodeCommand({ op: "del", clientId: 2, seq: 1, floor: 1, atMs: 0, key: Buffer.from("k1") })));
    const copy = new KvState();
    copy.restore(kv.snapshot());
    assert.deepEqual(copy.stats(), kv.stats());
    assert.equal(copy.get(Buffer.from("k1")), null);
    assert.equal(copy.get(Buffer.from("k2"))?.length, 0);
    assert.equal(copy.apply(set("k2", "again", 1, 2, 1)).applied, false, "sessions survive the snapshot");
  });
});

describe("raft DiskRaftStorage", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-storage-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("returns after reopening exactly what was persisted, with truncation", () => {
    const storage = new DiskRaftStorage(dir, "always");
    storage.persist(ready({ entriesToPersist: [entry(1, 1), entry(2, 1), entry(3, 1)], hardState: { term: 1, votedFor: "a", commitIndex: 1 } }));
    storage.persist(ready({ truncateFrom: 3, entriesToPersist: [entry(3, 2, "new3"), entry(4, 2)], hardState: { term: 2, votedFor: "b", commitIndex: 3 } }));
    storage.close();
    const reopened = new DiskRaftStorage(dir, "always");
    const view = reopened.view();
    assert.deepEqual(view.hardState, { term: 2, votedFor: "b", commitIndex: 3 });
    assert.deepEqual(view.entries.map((e) => [e.index, e.term, Buffer.from(e.data).toString()]), [
      [1, 1, "e1"],
      [2, 1, "e2"],
      [3, 2, "new3"],
      [4, 2, "e4"],
    ]);
    reopened.close();
  });

  it("persists asynchronously what persist() would (large entries written from their own data), and reads it back", async () => {
    const storage = new DiskRaftStorage(dir, "always");
    storage.persist(ready({ entriesToPersist: [entry(1, 1)], hardState: { term: 1, votedFor: "a", commitIndex: 0 } }));
    const big = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
    const entries: LogEntry[] = [entry(2, 1), { index: 3, term: 1, type: "command", data: big }, entry(4, 1), entry(5, 2, "after")];
    await new Promise<void>((resolve, reject) =>
      storage.persistAsync(ready({ entriesToPersist: entries, hardState: { term: 2, votedFor: "b", commitIndex: 3 }, mustSync: true }), (error) =>
        error === null ? resolve() : reject(error),
      ),
    );
    assert(Buffer.from(storage.readEntryData(3, 1)).equals(big), "read back through the frame index");
    storage.close();
    const view = new DiskRaftStorage(dir, "always").view();
    assert.deepEqual(view.hardState, { term: 2, votedFor: "b", commitIndex: 3 });
    assert.deepEqual(view.entries.map((e) => [e.index, e.term, e.data.byteLength]), [
      [1, 1, 2],
      [2, 1, 2],
      [3, 1, big.length],
      [4, 1, 2],
      [5, 2, 5],
    ]);
    assert(Buffer.from(view.entries[2].data).equals(big));
  });

  it("an empty entry whose data is a view of an empty buffer (as the log holds a no-op) reads back", () => {
    const storage = new DiskRaftStorage(dir, "never");
    const empty = Buffer.allocUnsafeSlow(0).subarray(0, 0);
    storage.persist(ready({ entriesToPersist: [{ index: 1, term: 1, type: "noop", data: empty }, entry(2, 1)] }));
    storage.close();
    const view = new DiskRaftStorage(dir, "never").view();
    assert.deepEqual(view.entries.map((e) => [e.index, e.type]), [
      [1, "noop"],
      [2, "command"],
    ]);
  });

  it("keeps the snapshot and only later entries after compaction", () => {
    const storage = new DiskRaftStorage(dir, "never");
    storage.persist(ready({ entriesToPersist: [1, 2, 3, 4, 5].map((i) => entry(i, 1)) }));
    storage.compact({ meta: { lastIndex: 3, lastTerm: 1, voters: ["a", "b", "c"] }, data: Buffer.from("state@3") }, [entry(4, 1), entry(5, 1)]);
    storage.persist(ready({ entriesToPersist: [entry(6, 1)] }));
    storage.close();
    const view = new DiskRaftStorage(dir, "never").view();
    assert.equal(view.snapshot?.meta.lastIndex, 3);
    assert.equal(Buffer.from(view.snapshot!.data).toString(), "state@3");
    assert.deepEqual(view.entries.map((e) => e.index), [4, 5, 6]);
  });

  it("streams a snapshot to disk and reads back exactly the one asked for", () => {
    const storage = new DiskRaftStorage(dir, "never");
    storage.persist(ready({ entriesToPersist: [1, 2, 3, 4].map((i) => entry(i, 1)) }));
    const meta = { lastIndex: 3, lastTerm: 1, voters: ["a", "b", "c"] };
    const chunk = Buffer.from("part");
    // The same buffer is reused for every chunk: each must be written before write() returns.
    const dataBytes = storage.compactStreaming(meta, (write) => {
      write(chunk);
      chunk.write("PART");
      write(chunk);
    }, [entry(4, 1)]);
    assert.equal(dataBytes, 8);
    assert.equal(Buffer.from(storage.readSnapshotData(3)).toString(), "partPART");
    assert.throws(() => storage.readSnapshotData(2), /not the one asked for/);
    storage.close();
    const reopened = new DiskRaftStorage(dir, "never");
    const view = reopened.view();
    assert.deepEqual(view.snapshot?.meta, meta);
    assert.equal(Buffer.from(view.snapshot!.data).toString(), "partPART");
    assert.deepEqual(view.entries.map((e) => e.index), [4]);
    assert.throws(() => reopened.view(), /handed out once/);
    reopened.close();
  });

  it("cuts a torn tail frame and keeps the entries before it", () => {
    const storage = new DiskRaftStorage(dir, "never");
    storage.persist(ready({ entriesToPersist: [entry(1, 1), entry(2, 1)] }));
    storage.close();
    const log = path.join(dir, "log.bin");
    const bytes = fs.readFileSync(log);
    fs.writeFileSync(log, bytes.subarray(0, bytes.length - 3)); // a crash mid-append
    const view = new DiskRaftStorage(dir, "never").view();
    assert.deepEqual(view.entries.map((e) => e.index), [1]);
  });

  it("reads an entry's data back from log.bin, checked against its index, term and checksum", () => {
    const storage = new DiskRaftStorage(dir, "never");
    const readBack = storage.view().readEntryData;
    assert(readBack !== undefined, "the storage offers read-back");
    storage.persist(ready({ entriesToPersist: [entry(1, 1), entry(2, 1, "x".repeat(5000)), entry(3, 2)] }));
    assert.equal(Buffer.from(readBack(2, 1)).toString(), "x".repeat(5000));
    assert.equal(Buffer.from(readBack(3, 2)).toString(), "e3");
    assert.throws(() => readBack(3, 1), /another term/);
    assert.throws(() => readBack(4, 2), /not in log\.bin/);
    // After a compaction the remaining entries are found in the new file.
    storage.compact({ meta: { lastIndex: 1, lastTerm: 1, voters: ["a"] }, data: Buffer.from("s") }, [entry(2, 1, "x".repeat(5000)), entry(3, 2)]);
    assert.equal(Buffer.from(readBack(3, 2)).toString(), "e3");
    assert.throws(() => readBack(1, 1), /not in log\.bin/);
    // A flipped byte on disk is reported, not handed to a follower.
    const file = path.join(dir, "log.bin");
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(file, bytes);
    assert.throws(() => readBack(3, 2), /checksum mismatch in entry 3/);
    storage.close();
  });

  it("survives a torn hard-state slot by falling back to the other slot", () => {
    const storage = new DiskRaftStorage(dir, "always");
    storage.persist(ready({ hardState: { term: 5, votedFor: "x", commitIndex: 0 } }));
    storage.persist(ready({ hardState: { term: 6, votedFor: "y", commitIndex: 0 } }));
    storage.close();
    const file = path.join(dir, "hardstate.bin");
    const bytes = fs.readFileSync(file);
    bytes[0] ^= 0xff; // corrupt slot 0 (the newest write went to slot 2 % 2 = 0)
    fs.writeFileSync(file, bytes);
    const view = new DiskRaftStorage(dir, "always").view();
    assert.deepEqual(view.hardState, { term: 5, votedFor: "x", commitIndex: 0 });
  });
});

describe("MemoryLog", () => {
  it("keeps its own exact copy of appended data, not the views it was handed", () => {
    const log = new MemoryLog(0, 0);
    const pool = Buffer.alloc(8192, 7);
    const first = pool.subarray(100, 110);
    const second = pool.subarray(300, 303);
    log.append([
      { term: 1, index: 1, type: "command", data: first },
      { term: 1, index: 2, type: "command", data: second },
    ]);
    pool.fill(0);
    assert.deepEqual(Buffer.from(log.entry(1).data), Buffer.alloc(10, 7));
    assert.deepEqual(Buffer.from(log.entry(2).data), Buffer.alloc(3, 7));
    // One buffer per append call, exactly the data's size: nothing larger is kept alive.
    assert.equal(log.entry(1).data.buffer, log.entry(2).data.buffer);
    assert.equal(log.entry(1).data.buffer.byteLength, 13);
    log.append([{ term: 2, index: 3, type: "noop", data: new Uint8Array(0) }]);
    assert.equal(log.entry(3).data.byteLength, 0);
    assert.deepEqual(log.slice(1, 4, 10, 1 << 20).map((entry) => entry.index), [1, 2, 3]);
  });

  it("releases applied data to a loader: reads come back through it, bytes held are exact", () => {
    const disk = new Map<number, Uint8Array>();
    const loads: number[] = [];
    const log = new MemoryLog(0, 0, (index, term) => {
      loads.push(index);
      assert.equal(term, index <= 3 ? 1 : 2);
      return disk.get(index)!;
    });
    const entries: LogEntry[] = [
      entry(1, 1, "aaaa"),
      { term: 1, index: 2, type: "config", data: Buffer.from("cfg") },
      { term: 1, index: 3, type: "noop", data: new Uint8Array(0) },
      entry(4, 2, "bbbbbb"),
      entry(5, 2, "cc"),
    ];
    for (const e of entries) disk.set(e.index, Buffer.from(e.data));
    log.append(entries);
    assert.equal(log.dataBytesHeld, 4 + 3 + 6 + 2);
    const handedOut = log.entry(4);
    log.releaseData(4);
    // Config entries keep their data (the core scans them for voters); the rest is released.
    assert.equal(log.dataBytesHeld, 3 + 2);
    assert.equal(Buffer.from(handedOut.data).toString(), "bbbbbb", "an entry handed out earlier keeps its data");
    assert.equal(Buffer.from(log.entry(4).data).toString(), "bbbbbb");
    assert.equal(Buffer.from(log.entry(2).data).toString(), "cfg");
    assert.equal(log.typeOf(4), "command");
    assert.deepEqual(loads, [4]);
    assert.deepEqual(log.slice(1, 6, 10, 1 << 20).map((e) => Buffer.from(e.data).toString()), ["aaaa", "cfg", "", "bbbbbb", "cc"]);
    assert.deepEqual(loads, [4, 1, 4]);
    assert.throws(() => log.truncateFrom(4), /never truncated/);
    log.truncateFrom(5);
    assert.equal(log.dataBytesHeld, 3);
    log.append([entry(5, 3, "ddd")]);
    assert.equal(log.dataBytesHeld, 6);
    log.compact(2);
    assert.equal(log.dataBytesHeld, 3);
    log.restore(9, 3);
    assert.equal(log.dataBytesHeld, 0);
  });

  it("without a loader keeps every entry's data", () => {
    const log = new MemoryLog(0, 0);
    log.append([entry(1, 1, "aaaa")]);
    log.releaseData(1);
    assert.equal(log.dataBytesHeld, 4);
    assert.equal(Buffer.from(log.entry(1).data).toString(), "aaaa");
  });
});
