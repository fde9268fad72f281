// The Raft log as the core sees it: an in-memory array of entries after a snapshot point.
// The driver persists what RaftCore.ready() tells it to; this class is the core's working
// copy and never does I/O itself. Compaction replaces a prefix with (snapshotIndex, snapshotTerm).
//
// With a data loader (the driver's stable storage can read an entry back), the data of
// entries that are applied and persisted is released: the log keeps their term, index and
// type and reads the data back through the loader in the rare case it is needed again (a
// follower that lags, a restart of the replication to a new member). Without it, entries
// applied since the last snapshot — up to a whole compaction interval of values — would be
// held twice in memory, once in the state machine and once here.
import assert from "node:assert/strict";
import { RAFT_ENTRY_OVERHEAD_BYTES } from "../core/limits";
import { EntryType, LogEntry } from "./types";

/** Reads the data of entry `index` (of term `term`) back from stable storage. */
export type EntryDataLoader = (index: number, term: number) => Uint8Array;

/** Data at least this large that fills a buffer of its own is kept without a copy (append). */
export const OWN_DATA_BYTES_MIN = 64 * 1024;

function ownsItsBuffer(data: Uint8Array): boolean {
  return data.byteLength >= OWN_DATA_BYTES_MIN && data.byteOffset === 0 && data.buffer.byteLength === data.byteLength;
}

/** Stands for the data of a released entry (compared by identity, never handed out). */
const RELEASED_DATA = new Uint8Array(0);

/** Read-only view for drivers and checkers (the simulator verifies logs through it). */
export interface LogView {
  firstIndex(): number;
  lastIndex(): number;
  lastTerm(): number;
  /** Term at index, or null when index is compacted away (below the snapshot point) or past the end. */
  term(index: number): number | null;
  entry(index: number): LogEntry;
  /** Type of the entry at index (without reading back released data). */
  typeOf(index: number): EntryType;
  /** Bytes of entry data held in memory (released entries hold none). */
  readonly dataBytesHeld: number;
  /**
   * Incremented whenever entries are removed other than by compaction (a conflicting suffix
   * dropped, or the log replaced by a snapshot). While it is unchanged, the log only grew or
   * lost a prefix, so a checker may verify each index once.
   */
  readonly rewriteCount: number;
}

export function entryBytes(entry: LogEntry): number {
  return entry.data.byteLength + RAFT_ENTRY_OVERHEAD_BYTES;
}

export class MemoryLog implements LogView {
  private snapshotIndex: number;
  private snapshotTerm: number;
  /** entries[i].index === snapshotIndex + 1 + i. */
  private entries: LogEntry[] = [];
  rewriteCount = 0;
  dataBytesHeld = 0;
  /** Entries at or below this index have had their data released (config entries keep it). */
  private releasedIndex: number;

  constructor(
    snapshotIndex: number,
    snapshotTerm: number,
    private readonly loader: EntryDataLoader | null = null,
  ) {
    assert(snapshotIndex >= 0);
    assert(snapshotTerm >= 0);
    assert(snapshotIndex > 0 || snapshotTerm === 0, "the empty prefix has term 0");
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    this.releasedIndex = snapshotIndex;
  }


  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    const last = this.term(this.lastIndex());
    assert(last !== null);
    return last;
  }

  term(index: number): number | null {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return null;
    return this.entries[index - this.snapshotIndex - 1].term;
  }

  entry(index: number): LogEntry {
    assert(index > this.snapshotIndex, `entry ${index} is compacted (snapshot at ${this.snapshotIndex})`);
    assert(index <= this.lastIndex(), `entry ${index} is past the last index ${this.lastIndex()}`);
    const entry = this.materialize(index - this.snapshotIndex - 1);
    assert.equal(entry.index, index);
    return entry;
  }

  typeOf(index: number): EntryType {
    assert(index > this.snapshotIndex && index <= this.lastIndex(), `no entry ${index} in the log`);
    return this.entries[index - this.snapshotIndex - 1].type;
  }

  /**
   * Drops the in-memory data of entries up to `index` (the caller guarantees they are
   * applied and persisted, so storage can read them back and no truncation reaches them).
   * Config entries keep their data: the core scans them to find the voters. Without a
   * loader it does nothing.
   */
  releaseData(index: number): void {
    if (this.loader === null) return;
    const last = Math.min(index, this.lastIndex());
    for (let i = this.releasedIndex + 1; i <= last; i++) {
      const position = i - this.snapshotIndex - 1;
      const entry = this.entries[position];
      if (entry.data.byteLength === 0) continue;
      if (entry.type === "config") {
        // Kept, but as its own copy: a view would keep the whole append batch's buffer alive.
        this.entries[position] = { ...entry, data: Buffer.from(entry.data) };
        continue;
      }
      this.dataBytesHeld -= entry.data.byteLength;
      // A new object: the old one may still be referenced by a ready or a message in flight.
      this.entries[position] = { term: entry.term, index: entry.index, type: entry.type, data: RELEASED_DATA };
    }
    if (last > this.releasedIndex) this.releasedIndex = last;
  }

  /**
   * Entries [indexLow, indexHigh), cut at entryCountMax entries or bytesMax bytes. The first
   * entry is always included, even when larger than bytesMax, so replication never stalls on
   * one big entry.
   */
  slice(indexLow: number, indexHigh: number, entryCountMax: number, bytesMax: number): LogEntry[] {
    assert(indexLow > this.snapshotIndex, `slice from ${indexLow} reaches into the snapshot (${this.snapshotIndex})`);
    assert(indexHigh <= this.lastIndex() + 1);
    assert(entryCountMax >= 1);
    const result: LogEntry[] = [];
    let bytes = 0;
    for (let index = indexLow; index < indexHigh && result.length < entryCountMax; index++) {
      const entry = this.materialize(index - this.snapshotIndex - 1);
      bytes += entryBytes(entry);
      if (result.length > 0 && bytes > bytesMax) break;
      result.push(entry);
    }
    return result;
  }

  /**
   * Appends entries that continue the log exactly (callers truncate conflicts first). The
   * log keeps its own copy of the entries' data, one exact-size buffer per call: the data
   * handed in is usually a view of something larger (an 8 KiB slab of Node's Buffer pool,
   * a received message), and a log entry kept until the next compaction would keep all of
   * that alive, several times the entries' own bytes.
   * The entries of one call are appended together and compacted in order, so the shared
   * buffer is freed with the last of them. An entry of at least OWN_DATA_BYTES_MIN whose data
   * is a whole buffer of its own (a large command, a large entry reassembled from pieces) is
   * kept as it is: copying it would pin nothing less, and would cost a copy of many MiB.
   */
  append(entries: readonly LogEntry[]): void {
    let expectedIndex = this.lastIndex() + 1;
    let termPrevious = this.lastTerm();
    let copiedBytes = 0;
    let bytes = 0;
    for (const entry of entries) {
      assert.equal(entry.index, expectedIndex, "appended entries must be contiguous");
      assert(entry.term >= termPrevious, "terms in a log never decrease");
      bytes += entry.data.byteLength;
      if (!ownsItsBuffer(entry.data)) copiedBytes += entry.data.byteLength;
      expectedIndex++;
      termPrevious = entry.term;
    }
    const owned = Buffer.allocUnsafeSlow(copiedBytes);
    let offset = 0;
    for (const entry of entries) {
      if (ownsItsBuffer(entry.data)) {
        this.entries.push({ ...entry });
        continue;
      }
      owned.set(entry.data, offset);
      this.entries.push({ ...entry, data: owned.subarray(offset, offset + entry.data.byteLength) });
      offset += entry.data.byteLength;
    }
    this.dataBytesHeld += bytes;
  }

  /** Drops entries at index and above (a conflicting suffix). */
  truncateFrom(index: number): void {
    assert(index > this.snapshotIndex, "a snapshot (committed state) is never truncated");
    assert(index <= this.lastIndex(), "nothing to truncate");
    assert(index > this.releasedIndex, "released entries are committed and never truncated");
    const keep = index - this.snapshotIndex - 1;
    for (let position = keep; position < this.entries.length; position++) this.dataBytesHeld -= this.entries[position].data.byteLength;
    this.entries.length = keep;
    this.rewriteCount++;
  }

  /** Drops entries at or below index (they are covered by a snapshot at index). */
  compact(index: number): void {
    assert(index > this.snapshotIndex, "compaction must move forward");
    assert(index <= this.lastIndex(), "cannot compact past the last index");
    const term = this.term(index);
    assert(term !== null);
    const dropped = this.entries.splice(0, index - this.snapshotIndex);
    for (const entry of dropped) this.dataBytesHeld -= entry.data.byteLength;
    this.snapshotIndex = index;
    if (this.releasedIndex < index) this.releasedIndex = index;
    this.snapshotTerm = term;
    assert.equal(this.firstIndex(), index + 1);
  }

  /** Replaces the whole log with a snapshot point (InstallSnapshot). */
  restore(snapshotIndex: number, snapshotTerm: number): void {
    assert(snapshotIndex >= this.snapshotIndex, "a restore never moves the snapshot point back");
    assert(snapshotTerm >= 1);
    this.entries = [];
    this.dataBytesHeld = 0;
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    this.releasedIndex = snapshotIndex;
    this.rewriteCount++;
  }

  /** The entry at array position `position`, its data read back if it was released. */
  private materialize(position: number): LogEntry {
    const entry = this.entries[position];
    if (entry.data !== RELEASED_DATA) return entry;
    assert(this.loader !== null);
    const data = this.loader(entry.index, entry.term);
    return { term: entry.term, index: entry.index, type: entry.type, data };
  }

  /**
   * The highest index <= indexMax whose term is `term`, or null when the log (above the
   * snapshot point) has no entry of that term there. Scans back at most the log's length.
   */
  lastIndexOfTerm(term: number, indexMax: number): number | null {
    let index = Math.min(indexMax, this.lastIndex());
    while (index > this.snapshotIndex) {
      const termAt = this.entries[index - this.snapshotIndex - 1].term;
      if (termAt === term) return index;
      if (termAt < term) return null;
      index--;
    }
    return null;
  }

  /**
   * The first index of the run of entries with the same term as `index`, not going below
   * indexMin (so the scan is bounded and stays above the snapshot point).
   */
  firstIndexOfTermRun(index: number, indexMin: number): number {
    const term = this.term(index);
    assert(term !== null);
    let first = index;
    const floor = Math.max(indexMin, this.snapshotIndex + 1);
    while (first > floor && this.term(first - 1) === term) first--;
    return first;
  }
}
