// Raft's stable storage for one node, in a data directory:
//   hardstate.bin  two 512-byte slots written alternately, each {crc, seq, term, commitIndex,
//                  votedFor}; the valid slot with the higher seq wins, so a torn write of one
//                  slot never loses the previous state
//   log.bin        append-only frames {length, crc, term, index, type, data}; a torn or
//                  corrupt tail (a crash mid-append) is cut off at load
//   snapshot.bin   {magic, meta length, meta JSON, data}, replaced atomically (tmp + rename)
//
// fsync policy (--fsync):
//   always  fdatasync the log and hard state before messages leave whenever the core says
//           mustSync (new entries, a vote, a truncation, a snapshot). Survives SIGKILL and
//           power loss: a node never votes twice in a term or forgets an acknowledged entry.
//   never   no fsync. Survives SIGKILL (the OS page cache still holds every write) but not
//           a machine crash or power loss. For benchmarks against etcd --unsafe-no-fsync.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { crc32 } from "../codec/checksum";
import { RaftReady, RaftStorageView } from "./core";
import { EntryType, HardState, LogEntry, Snapshot, SnapshotMeta } from "./types";

export type FsyncPolicy = "always" | "never";

const SLOT_BYTES = 512;
const VOTED_FOR_BYTES_MAX = SLOT_BYTES - 4 - 8 - 8 - 8 - 2;
const FRAME_HEADER_BYTES = 4 + 4; // length, crc
const FRAME_FIXED_BYTES = 8 + 8 + 1; // term, index, type
const SNAPSHOT_MAGIC = 0x52534e31; // "RSN1"
const TYPE_CODES: Record<EntryType, number> = { command: 0, config: 1, noop: 2 };
const TYPE_NAMES: EntryType[] = ["command", "config", "noop"];
/** Entries at least this large are written from their own data, not copied into a frame buffer. */
const LARGE_ENTRY_BYTES = 64 * 1024;

export class DiskRaftStorage {
  private readonly hardStateFd: number;
  private logFd: number;
  private hardStateSeq = 0;
  /** File offset of each entry in log.bin, for entries firstFileIndex.. */
  private offsets: number[] = [];
  private firstFileIndex = 1;
  private logFileBytes = 0;
  /** What load() found; handed out once by view() and then not retained (it may hold a whole snapshot). */
  private loaded: RaftStorageView | null;

  constructor(
    private readonly dir: string,
    private readonly fsync: FsyncPolicy,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.hardStateFd = fs.openSync(path.join(dir, "hardstate.bin"), fs.existsSync(path.join(dir, "hardstate.bin")) ? "r+" : "w+");
    this.logFd = fs.openSync(path.join(dir, "log.bin"), fs.existsSync(path.join(dir, "log.bin")) ? "r+" : "w+");
    this.loaded = this.load();
  }

  /** What was on disk when the node started. Call once: storage forgets it afterwards. */
  view(): RaftStorageView {
    const loaded = this.loaded;
    assert(loaded !== null, "view() is handed out once");
    this.loaded = null;
    return loaded;
  }

  /** Bytes of log entries on disk not yet compacted into the snapshot. */
  get logBytes(): number {
    return this.logFileBytes;
  }

  /** Step 1 of the ready contract (see RaftReady in core.ts). */
  persist(ready: RaftReady): void {
    if (ready.snapshotToPersist !== null) {
      this.compact(ready.snapshotToPersist, []);
    } else if (ready.truncateFrom !== null) {
      this.truncateFrom(ready.truncateFrom);
    }
    if (ready.entriesToPersist.length > 0) this.append(ready.entriesToPersist);
    if (ready.hardState !== null) this.writeHardState(ready.hardState);
    if (ready.mustSync && this.fsync === "always") {
      fs.fdatasyncSync(this.logFd);
      fs.fdatasyncSync(this.hardStateFd);
    }
  }

  /**
   * persist() with the entries' write, the hard state and the fsync done on libuv's thread
   * pool: a large append (many MiB) then costs the event loop only its checksum, and
   * heartbeats keep flowing while the disk works. A snapshot or a truncation is carried out
   * first, synchronously (rare). `done` runs once everything is written (and synced when the
   * policy asks); the caller starts nothing else on this storage before it (one ready at a
   * time, RaftDriver), and reads of entries being written never happen meanwhile (the core
   * reads back only entries it knows are persisted).
   */
  persistAsync(ready: RaftReady, done: (error: Error | null) => void): void {
    if (ready.snapshotToPersist !== null) {
      this.compact(ready.snapshotToPersist, []);
    } else if (ready.truncateFrom !== null) {
      this.truncateFrom(ready.truncateFrom);
    }
    const logFd = this.logFd;
    const frames = ready.entriesToPersist.length > 0 ? this.frame(ready.entriesToPersist) : null;
    const hardState = ready.hardState === null ? null : this.hardStateRecord(ready.hardState);
    const sync = ready.mustSync && this.fsync === "always";
    const steps: Array<(next: (error: NodeJS.ErrnoException | null) => void) => void> = [];
    if (frames !== null) steps.push((next) => writevAll(logFd, frames.buffers, frames.position, next));
    if (hardState !== null) steps.push((next) => fs.write(this.hardStateFd, hardState.record, 0, SLOT_BYTES, hardState.position, (error) => next(error)));
    if (sync) {
      steps.push((next) => fs.fdatasync(logFd, next));
      steps.push((next) => fs.fdatasync(this.hardStateFd, next));
    }
    const run = (step: number): void => {
      if (step === steps.length) return done(null);
      steps[step]((error) => (error === null ? run(step + 1) : done(error)));
    };
    run(0);
  }

  /** After the driver snapshotted its state machine: save it and drop entries it covers. */
  compact(snapshot: Snapshot, remaining: readonly LogEntry[]): void {
    this.compactStreaming(snapshot.meta, (write) => write(snapshot.data), remaining);
  }

  /**
   * compact() with the snapshot data produced piece by piece: `writeData` calls `write` with
   * each chunk in order (written before write returns, so a chunk buffer may be reused), so
   * the driver never builds its whole state machine image in memory. Returns the data bytes.
   */
  compactStreaming(meta: SnapshotMeta, writeData: (write: (chunk: Uint8Array) => void) => void, remaining: readonly LogEntry[]): number {
    const dataBytes = this.writeSnapshotFile(meta, writeData);
    this.resetLog(meta.lastIndex + 1, remaining);
    return dataBytes;
  }

  /**
   * The data of the snapshot on disk, read back for an InstallSnapshot. `lastIndex` names
   * the snapshot the caller expects; another one on disk means the caller holds a stale
   * snapshot, and sending it with the wrong data would corrupt the follower: fail instead.
   */
  readSnapshotData(lastIndex: number): Uint8Array {
    const snapshot = this.readSnapshot();
    assert(snapshot !== null, "no snapshot on disk");
    assert.equal(snapshot.meta.lastIndex, lastIndex, "the snapshot on disk is not the one asked for");
    return snapshot.data;
  }

  close(): void {
    fs.closeSync(this.hardStateFd);
    fs.closeSync(this.logFd);
  }

  /**
   * The data of a persisted entry, read back from log.bin (the core releases the in-memory
   * copy of applied entries and asks for it again only to resend it). The frame's checksum,
   * index and term are checked: a mismatch means the log file is not what this process wrote,
   * and sending wrong data would corrupt a follower, so it throws.
   */
  readEntryData(index: number, term: number): Uint8Array {
    const position = index - this.firstFileIndex;
    assert(position >= 0 && position < this.offsets.length, `entry ${index} is not in log.bin (it holds ${this.firstFileIndex}..${this.firstFileIndex + this.offsets.length - 1})`);
    const offset = this.offsets[position];
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    readExactly(this.logFd, header, offset);
    const length = header.readUInt32LE(0);
    assert(length >= FRAME_FIXED_BYTES && offset + FRAME_HEADER_BYTES + length <= this.logFileBytes, `log.bin: bad frame length at offset ${offset}`);
    const body = Buffer.allocUnsafeSlow(length);
    readExactly(this.logFd, body, offset + FRAME_HEADER_BYTES);
    assert.equal(crc32(body), header.readUInt32LE(4), `log.bin: checksum mismatch in entry ${index}`);
    const entry = entryOfFrame(body);
    assert.equal(entry.index, index, `log.bin: frame at offset ${offset} is not entry ${index}`);
    assert.equal(entry.term, term, `log.bin: entry ${index} has another term than the log's`);
    return entry.data;
  }

  private load(): RaftStorageView {
    const hardState = this.readHardState();
    const snapshot = this.readSnapshot();
    const entries = this.readLog(snapshot?.meta.lastIndex ?? 0);
    return { hardState, snapshot, entries, readEntryData: (index, term) => this.readEntryData(index, term) };
  }

  private readHardState(): HardState | null {
    const raw = Buffer.alloc(2 * SLOT_BYTES);
    const bytes = fs.readSync(this.hardStateFd, raw, 0, raw.length, 0);
    let best: { seq: number; state: HardState } | null = null;
    for (let slot = 0; slot < 2; slot++) {
      if (bytes < (slot + 1) * SLOT_BYTES) continue;
      const record = raw.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES);
      const votedForBytes = record.readUInt16LE(28);
      if (votedForBytes > VOTED_FOR_BYTES_MAX) continue;
      const end = 30 + votedForBytes;
      if (crc32(record.subarray(4, end)) !== record.readUInt32LE(0)) continue;
      const seq = record.readDoubleLE(4);
      const state: HardState = {
        term: record.readDoubleLE(12),
        commitIndex: record.readDoubleLE(20),
        votedFor: votedForBytes === 0 ? null : record.toString("utf8", 30, end),
      };
      if (best === null || seq > best.seq) best = { seq, state };
    }
    if (best === null) return null;
    this.hardStateSeq = best.seq;
    return best.state;
  }

  private writeHardState(state: HardState): void {
    const { record, position } = this.hardStateRecord(state);
    fs.writeSync(this.hardStateFd, record, 0, SLOT_BYTES, position);
  }

  /** The next hard-state slot's bytes and where they go (the sequence number advances). */
  private hardStateRecord(state: HardState): { record: Buffer; position: number } {
    const votedFor = Buffer.from(state.votedFor ?? "", "utf8");
    assert(votedFor.length <= VOTED_FOR_BYTES_MAX);
    const record = Buffer.alloc(SLOT_BYTES);
    this.hardStateSeq += 1;
    record.writeDoubleLE(this.hardStateSeq, 4);
    record.writeDoubleLE(state.term, 12);
    record.writeDoubleLE(state.commitIndex, 20);
    record.writeUInt16LE(votedFor.length, 28);
    votedFor.copy(record, 30);
    record.writeUInt32LE(crc32(record.subarray(4, 30 + votedFor.length)), 0);
    return { record, position: (this.hardStateSeq % 2) * SLOT_BYTES };
  }

  private readSnapshot(): Snapshot | null {
    const file = path.join(this.dir, "snapshot.bin");
    if (!fs.existsSync(file)) return null;
    const raw = fs.readFileSync(file);
    assert(raw.length >= 8 && raw.readUInt32LE(0) === SNAPSHOT_MAGIC, `${file} is not a snapshot`);
    const metaBytes = raw.readUInt32LE(4);
    const meta = JSON.parse(raw.toString("utf8", 8, 8 + metaBytes)) as SnapshotMeta;
    return { meta, data: raw.subarray(8 + metaBytes) };
  }

  /** Writes snapshot.bin (via a tmp file and a rename); returns the data bytes written. */
  private writeSnapshotFile(snapshotMeta: SnapshotMeta, writeData: (write: (chunk: Uint8Array) => void) => void): number {
    const meta = Buffer.from(JSON.stringify(snapshotMeta), "utf8");
    const header = Buffer.alloc(8);
    header.writeUInt32LE(SNAPSHOT_MAGIC, 0);
    header.writeUInt32LE(meta.length, 4);
    const tmp = path.join(this.dir, "snapshot.bin.tmp");
    const fd = fs.openSync(tmp, "w");
    let dataBytes = 0;
    try {
      writeAll(fd, header);
      writeAll(fd, meta);
      writeData((chunk) => {
        writeAll(fd, chunk);
        dataBytes += chunk.byteLength;
      });
      if (this.fsync === "always") fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(this.dir, "snapshot.bin"));
    return dataBytes;
  }

  private readLog(snapshotIndex: number): LogEntry[] {
    const size = fs.fstatSync(this.logFd).size;
    const raw = Buffer.alloc(size);
    fs.readSync(this.logFd, raw, 0, size, 0);
    const entries: LogEntry[] = [];
    const offsets: number[] = [];
    let offset = 0;
    while (offset + FRAME_HEADER_BYTES + FRAME_FIXED_BYTES <= size) {
      const length = raw.readUInt32LE(offset);
      const end = offset + FRAME_HEADER_BYTES + length;
      if (length < FRAME_FIXED_BYTES || end > size) break; // torn tail
      const body = raw.subarray(offset + FRAME_HEADER_BYTES, end);
      if (crc32(body) !== raw.readUInt32LE(offset + 4)) break; // corrupt tail
      const framed = entryOfFrame(body);
      const entry: LogEntry = { ...framed, data: Buffer.from(framed.data) };
      if (entries.length > 0 && entry.index !== entries[entries.length - 1].index + 1) break;
      entries.push(entry);
      offsets.push(offset);
      offset = end;
    }
    if (offset < size) fs.ftruncateSync(this.logFd, offset);
    this.logFileBytes = offset;
    // Entries at or below the snapshot are covered by it (a compaction that stopped early).
    const firstKept = entries.findIndex((entry) => entry.index > snapshotIndex);
    const kept = firstKept < 0 ? [] : entries.slice(firstKept);
    this.offsets = firstKept < 0 ? [] : offsets.slice(firstKept);
    this.firstFileIndex = kept.length > 0 ? kept[0].index : snapshotIndex + 1;
    if (kept.length > 0 && kept[0].index !== snapshotIndex + 1) {
      // A gap after the snapshot cannot be used; start the log over from the snapshot.
      this.resetLog(snapshotIndex + 1, []);
      return [];
    }
    return kept;
  }

  private append(entries: readonly LogEntry[]): void {
    const { buffers, position } = this.frame(entries);
    let offset = position;
    for (const buffer of buffers) {
      let written = 0;
      while (written < buffer.byteLength) written += fs.writeSync(this.logFd, buffer, written, buffer.byteLength - written, offset + written);
      offset += buffer.byteLength;
    }
  }

  /**
   * The frames of `entries` as buffers to write back to back at `position`, and the log's
   * bookkeeping (offsets, size) advanced past them. Small entries are framed together into
   * one buffer; an entry of LARGE_ENTRY_BYTES or more is written from its own data (only its
   * header is new), so persisting a 64 MiB value copies nothing.
   */
  private frame(entries: readonly LogEntry[]): { buffers: Uint8Array[]; position: number } {
    const expected = this.firstFileIndex + this.offsets.length;
    assert.equal(entries[0].index, expected, "entries must continue the persisted log");
    const position = this.logFileBytes;
    const buffers: Uint8Array[] = [];
    let small: Buffer | null = null;
    let smallUsed = 0;
    let offset = position;
    for (let entryIndex = 0; entryIndex < entries.length; entryIndex++) {
      const entry = entries[entryIndex];
      const length = FRAME_FIXED_BYTES + entry.data.byteLength;
      let header: Buffer;
      if (entry.data.byteLength >= LARGE_ENTRY_BYTES) {
        if (small !== null) buffers.push(small.subarray(0, smallUsed));
        small = null;
        header = Buffer.allocUnsafe(FRAME_HEADER_BYTES + FRAME_FIXED_BYTES);
        buffers.push(header, entry.data);
      } else {
        if (small === null) {
          // Room for this entry and the small ones right after it.
          let bytes = 0;
          for (let next = entryIndex; next < entries.length && entries[next].data.byteLength < LARGE_ENTRY_BYTES; next++) {
            bytes += FRAME_HEADER_BYTES + FRAME_FIXED_BYTES + entries[next].data.byteLength;
          }
          small = Buffer.allocUnsafe(bytes);
          smallUsed = 0;
        }
        header = small.subarray(smallUsed, smallUsed + FRAME_HEADER_BYTES + length);
        header.set(entry.data, FRAME_HEADER_BYTES + FRAME_FIXED_BYTES);
        smallUsed += FRAME_HEADER_BYTES + length;
      }
      header.writeUInt32LE(length, 0);
      header.writeDoubleLE(entry.term, FRAME_HEADER_BYTES);
      header.writeDoubleLE(entry.index, FRAME_HEADER_BYTES + 8);
      header[FRAME_HEADER_BYTES + 16] = TYPE_CODES[entry.type];
      // A small frame's body is contiguous (one checksum call); a large one's data is apart.
      const crc =
        header.length === FRAME_HEADER_BYTES + length
          ? crc32(header.subarray(FRAME_HEADER_BYTES))
          : crc32(entry.data, crc32(header.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + FRAME_FIXED_BYTES)));
      header.writeUInt32LE(crc, 4);
      this.offsets.push(offset);
      offset += FRAME_HEADER_BYTES + length;
    }
    if (small !== null) buffers.push(small.subarray(0, smallUsed));
    this.logFileBytes = offset;
    return { buffers, position };
  }

  private truncateFrom(index: number): void {
    const position = index - this.firstFileIndex;
    if (position >= this.offsets.length) return;
    assert(position >= 0, `cannot truncate at ${index}, before the log's first index ${this.firstFileIndex}`);
    this.logFileBytes = this.offsets[position];
    this.offsets.length = position;
    fs.ftruncateSync(this.logFd, this.logFileBytes);
  }

  /**
   * Replaces log.bin with one holding only `entries` (starting at firstIndex), via a new
   * file and a rename: a crash part way leaves either the old log or the new one, never a
   * log missing entries that were already acknowledged.
   */
  private resetLog(firstIndex: number, entries: readonly LogEntry[]): void {
    const file = path.join(this.dir, "log.bin");
    const tmp = path.join(this.dir, "log.bin.tmp");
    const fd = fs.openSync(tmp, "w+");
    fs.closeSync(this.logFd);
    this.logFd = fd;
    this.offsets = [];
    this.logFileBytes = 0;
    this.firstFileIndex = firstIndex;
    if (entries.length > 0) this.append(entries);
    if (this.fsync === "always") fs.fdatasyncSync(fd);
    fs.renameSync(tmp, file);
  }
}

/** The entry a frame's body {term, index, type, data} holds; its data is a view of `body`. */
function entryOfFrame(body: Buffer): LogEntry {
  return { term: body.readDoubleLE(0), index: body.readDoubleLE(8), type: TYPE_NAMES[body[16]] ?? "noop", data: body.subarray(FRAME_FIXED_BYTES) };
}

/** Fills `into` from the file at `position` (readSync may read less than asked). */
function readExactly(fd: number, into: Buffer, position: number): void {
  let done = 0;
  while (done < into.length) {
    const bytes = fs.readSync(fd, into, done, into.length - done, position + done);
    assert(bytes > 0, `log.bin ends at ${position + done}, inside a frame`);
    done += bytes;
  }
}

/** Appends all of `data` at the file's current position (writeSync may write less than asked). */
function writeAll(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.byteLength) offset += fs.writeSync(fd, data, offset, data.byteLength - offset);
}

/** Writes every buffer at `position` on, asynchronously (fs.writev may write less than asked). */
function writevAll(fd: number, buffers: Uint8Array[], position: number, done: (error: NodeJS.ErrnoException | null) => void): void {
  fs.writev(fd, buffers, position, (error, written) => {
    if (error !== null) return done(error);
    let skip = written;
    const rest: Uint8Array[] = [];
    for (const buffer of buffers) {
      if (skip >= buffer.byteLength) {
        skip -= buffer.byteLength;
        continue;
      }
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
    if (rest.length === 0) return done(null);
    writevAll(fd, rest, position + written, done);
  });
}
