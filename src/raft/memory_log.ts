// The Raft log as the core sees it: an in-memory array of entries after a snapshot point.
// The driver persists what RaftCore.ready() tells it to; this class is the core's working
// copy and never does I/O. Compaction replaces a prefix with (snapshotIndex, snapshotTerm).
import assert from "node:assert/strict";
import { LogEntry, RAFT_ENTRY_OVERHEAD_BYTES } from "./types";

/** Read-only view for drivers and checkers (the simulator verifies logs through it). */
export interface LogView {
  firstIndex(): number;
  lastIndex(): number;
  lastTerm(): number;
  /** Term at index, or null when index is compacted away (below the snapshot point) or past the end. */
  term(index: number): number | null;
  entry(index: number): LogEntry;
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

  constructor(snapshotIndex: number, snapshotTerm: number) {
    assert(snapshotIndex >= 0);
    assert(snapshotTerm >= 0);
    assert(snapshotIndex > 0 || snapshotTerm === 0, "the empty prefix has term 0");
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
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
    const entry = this.entries[index - this.snapshotIndex - 1];
    assert.equal(entry.index, index);
    return entry;
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
      const entry = this.entries[index - this.snapshotIndex - 1];
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
   * that alive — measured at 2.3 MiB of pool slabs per raft node for 0.5 MiB of entries.
   * The entries of one call are appended together and compacted in order, so the shared
   * buffer is freed with the last of them.
   */
  append(entries: readonly LogEntry[]): void {
    let expectedIndex = this.lastIndex() + 1;
    let termPrevious = this.lastTerm();
    let bytes = 0;
    for (const entry of entries) {
      assert.equal(entry.index, expectedIndex, "appended entries must be contiguous");
      assert(entry.term >= termPrevious, "terms in a log never decrease");
      bytes += entry.data.byteLength;
      expectedIndex++;
      termPrevious = entry.term;
    }
    const owned = Buffer.allocUnsafeSlow(bytes);
    let offset = 0;
    for (const entry of entries) {
      owned.set(entry.data, offset);
      this.entries.push({ ...entry, data: owned.subarray(offset, offset + entry.data.byteLength) });
      offset += entry.data.byteLength;
    }
  }

  /** Drops entries at index and above (a conflicting suffix). */
  truncateFrom(index: number): void {
    assert(index > this.snapshotIndex, "a snapshot (committed state) is never truncated");
    assert(index <= this.lastIndex(), "nothing to truncate");
    this.entries.length = index - this.snapshotIndex - 1;
    this.rewriteCount++;
  }

  /** Drops entries at or below index (they are covered by a snapshot at index). */
  compact(index: number): void {
    assert(index > this.snapshotIndex, "compaction must move forward");
    assert(index <= this.lastIndex(), "cannot compact past the last index");
    const term = this.term(index);
    assert(term !== null);
    this.entries.splice(0, index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    assert.equal(this.firstIndex(), index + 1);
  }

  /** Replaces the whole log with a snapshot point (InstallSnapshot). */
  restore(snapshotIndex: number, snapshotTerm: number): void {
    assert(snapshotIndex >= this.snapshotIndex, "a restore never moves the snapshot point back");
    assert(snapshotTerm >= 1);
    this.entries = [];
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    this.rewriteCount++;
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
