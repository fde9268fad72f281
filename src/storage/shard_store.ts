// In-memory store of one node's committed shards (ecc mode) with exact byte accounting.
//
// One entry = one key's newest committed version: a header, the key and the shard
// blob, kept together as one block of a ByteArena (byte_arena.ts), found through a
// KeyIndex (key_index.ts). An entry costs its bytes, a 2-byte block header rounded up to a
// 4-byte class, and 10-25 bytes of index table (10 per slot, 40-80% full) — no JS object, no
// Buffer, no pinned 8 KiB pool slab. Keys are byte
// strings handled as latin1 JS strings (one char per byte, binary safe).
//
// Logical bytes (DESIGN.md section 5) = payload (shard blob bytes) + key bytes + each
// entry's header bytes (16-33 within the limits of core/limits.ts, typically 17 without a
// TTL); they are what this node holds, counted exactly. Held bytes = what the arena and the
// index occupy (slabs, large blocks, the table): what the memory budget is checked against.
import assert from "node:assert/strict";
import { KEY_BYTES_MAX } from "../core/limits";
import { ByteArena, LARGE_BYTES } from "./byte_arena";
import { KeyIndex, bytesHash, latin1Equals } from "./key_index";

/**
 * An entry's header: valueCrc32 u32 | shardCrc32 u32 | txTag u32 | then four LEB128
 * varints: key length × 2 + tombstone bit, version, value bytes, and the TTL deadline
 * (epoch ms, 0 = none). Versions are per-key counters (max committed + 1) and values mostly
 * under 16 KiB, so a typical header is 12 + 1 + 1-2 + 2 + 1 = 17-18 bytes (a deadline takes
 * 6 bytes instead of 1); the header is held n times per value (once per node), which
 * matters next to small shards.
 * The shard layout (k, n-k, block size) is the node's own config, which every EcPrepare
 * is checked against, so it is not repeated per entry. txTag is a 32-bit hash of the
 * transaction that wrote this version: a resolver asking "did tx T commit here?" is
 * answered from the entry itself, with no per-write record to keep.
 */
const OFFSET_VALUE_CRC = 0;
const OFFSET_SHARD_CRC = 4;
const OFFSET_TX_TAG = 8;
const OFFSET_VARINTS = 12;
/** Fixed fields, then varints of at most 2 (key length), 8 (version), 4 (value bytes) and 7 (deadline) bytes. */
const HEADER_BYTES_MAX = OFFSET_VARINTS + 2 + 8 + 4 + 7;

/** LEB128 length of a non-negative safe integer. */
function varintBytes(value: number): number {
  let bytes = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes += 1;
  return bytes;
}

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  let rest = value;
  while (rest >= 0x80) {
    buffer[offset++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  buffer[offset++] = rest;
  return offset;
}

/** A decoded header; one scratch instance, so index probes allocate nothing. */
interface Header {
  keyLength: number;
  tombstone: boolean;
  version: number;
  valueBytes: number;
  expiresAtMs: number;
  /** Offset of the key (the header's end) in the buffer. */
  keyOffset: number;
}
const scratch: Header = { keyLength: 0, tombstone: false, version: 0, valueBytes: 0, expiresAtMs: 0, keyOffset: 0 };

/** Reads a varint at scratch.keyOffset and advances it past. */
function nextVarint(buffer: Buffer): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = buffer[scratch.keyOffset++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 0x80;
  }
}

function readHeader(buffer: Buffer, offset: number): Header {
  scratch.keyOffset = offset + OFFSET_VARINTS;
  const keyField = nextVarint(buffer);
  scratch.keyLength = keyField >>> 1;
  scratch.tombstone = (keyField & 1) !== 0;
  scratch.version = nextVarint(buffer);
  scratch.valueBytes = nextVarint(buffer);
  scratch.expiresAtMs = nextVarint(buffer);
  return scratch;
}

/** Header bytes of an entry (what stats() counts as metadata). */
export function entryMetaBytes(entry: { version: number; valueBytes: number; tombstone: boolean; expiresAtMs: number }, keyLength: number): number {
  return (
    OFFSET_VARINTS +
    varintBytes(keyLength * 2 + (entry.tombstone ? 1 : 0)) +
    varintBytes(entry.version) +
    varintBytes(entry.valueBytes) +
    varintBytes(entry.expiresAtMs)
  );
}

export interface ShardEntry {
  version: number;
  tombstone: boolean;
  valueBytes: number;
  valueCrc32: number;
  shardCrc32: number;
  txTag: number;
  /** TTL deadline, epoch ms; 0 when the value does not expire. */
  expiresAtMs: number;
  /** The shard blob, then the trailer put() was given if any: a copy (the arena block is
   * reused by later writes), or for entries above the arena's LARGE_BYTES a view of their
   * own buffer, which is never rewritten. */
  shard: Buffer;
}

/** What eviction and expiry need to know of an entry, without its shard. */
export interface EntrySummary {
  key: string;
  version: number;
  tombstone: boolean;
  expiresAtMs: number;
  /** The index slot's access stamp (access.ts). */
  stamp: number;
  /** Memory the entry's block takes (what dropping it gives back, roughly). */
  bytes: number;
}

export interface StoreStats {
  keyCount: number;
  tombstoneCount: number;
  payloadBytes: number;
  keyBytes: number;
  metaBytes: number;
  logicalBytes: number;
  /** Arena slabs, large blocks and the index table: the memory the store occupies. */
  heldBytes: number;
  indexBytes: number;
}

export class ShardStore {
  private readonly arena = new ByteArena();
  private readonly index = new KeyIndex({
    matches: (handle, key) => this.keyMatches(handle, key),
    hashOf: (handle) => {
      const buffer = this.arena.bufferOf(handle);
      const header = readHeader(buffer, this.arena.dataOffset(handle));
      return bytesHash(buffer, header.keyOffset, header.keyLength);
    },
  });
  private payloadBytes = 0;
  private keyBytes = 0;
  private metaBytes = 0;
  private tombstoneCount = 0;

  get size(): number {
    return this.index.size;
  }

  /** The committed version of `key`, 0 when absent. */
  version(key: string): number {
    const handle = this.index.get(key);
    return handle === undefined ? 0 : readHeader(this.arena.bufferOf(handle), this.arena.dataOffset(handle)).version;
  }

  /** The (version, txTag) of `key` without copying the shard; null when absent. */
  versionAndTag(key: string): { version: number; txTag: number } | null {
    const handle = this.index.get(key);
    if (handle === undefined) return null;
    const buffer = this.arena.bufferOf(handle);
    const offset = this.arena.dataOffset(handle);
    return { version: readHeader(buffer, offset).version, txTag: buffer.readUInt32LE(offset + OFFSET_TX_TAG) };
  }

  /** CRC-32 of the whole value whose shard `key` holds now (0 when absent). */
  valueCrc32(key: string): number {
    const handle = this.index.get(key);
    if (handle === undefined) return 0;
    return this.arena.bufferOf(handle).readUInt32LE(this.arena.dataOffset(handle) + OFFSET_VALUE_CRC);
  }

  get(key: string): ShardEntry | null {
    const handle = this.index.get(key);
    if (handle === undefined) return null;
    const raw = this.arena.view(handle);
    const header = readHeader(raw, 0);
    const shard = raw.subarray(header.keyOffset + header.keyLength);
    return {
      version: header.version,
      valueBytes: header.valueBytes,
      valueCrc32: raw.readUInt32LE(OFFSET_VALUE_CRC),
      shardCrc32: raw.readUInt32LE(OFFSET_SHARD_CRC),
      txTag: raw.readUInt32LE(OFFSET_TX_TAG),
      tombstone: header.tombstone,
      expiresAtMs: header.expiresAtMs,
      shard: raw.length > LARGE_BYTES ? shard : Buffer.from(shard),
    };
  }

  /** The entry's summary, without copying its shard; null when absent. */
  summary(key: string): EntrySummary | null {
    const slot = this.index.slotOf(key);
    return slot < 0 ? null : this.summaryAt(slot);
  }

  /** Sets the key's access stamp with `update(old)`; false when the key is absent. */
  touch(key: string, update: (stamp: number) => number): boolean {
    const slot = this.index.slotOf(key);
    if (slot < 0) return false;
    this.index.setAccess(slot, update(this.index.accessAt(slot)));
    return true;
  }

  /** Up to `count` entries at random (`draw(n)`: a uniform integer below n). */
  sample(count: number, draw: (below: number) => number): EntrySummary[] {
    return this.index.sample(count, draw).map((slot) => this.summaryAt(slot));
  }

  /** The entries in `slotsMax` index slots from `cursor` on, and where to continue (0: a pass ended). */
  scan(cursor: number, slotsMax: number): { entries: EntrySummary[]; next: number } {
    const { slots, next } = this.index.scan(cursor, slotsMax);
    return { entries: slots.map((slot) => this.summaryAt(slot)), next };
  }

  /** Forgets `key` altogether (a tombstone nobody needs any more); false when absent. */
  delete(key: string): boolean {
    const handle = this.index.get(key);
    if (handle === undefined) return false;
    const buffer = this.arena.bufferOf(handle);
    const offset = this.arena.dataOffset(handle);
    const header = readHeader(buffer, offset);
    const metaBytes = header.keyOffset - offset;
    if (header.tombstone) this.tombstoneCount -= 1;
    this.metaBytes -= metaBytes;
    this.payloadBytes -= this.arena.size(handle) - metaBytes - key.length;
    this.keyBytes -= key.length;
    // The index first: removing the key's slot reads keys from the blocks around it.
    this.index.delete(key);
    this.arena.release(handle);
    return true;
  }

  private summaryAt(slot: number): EntrySummary {
    const handle = this.index.handleAt(slot);
    const buffer = this.arena.bufferOf(handle);
    const header = readHeader(buffer, this.arena.dataOffset(handle));
    return {
      key: buffer.toString("latin1", header.keyOffset, header.keyOffset + header.keyLength),
      version: header.version,
      tombstone: header.tombstone,
      expiresAtMs: header.expiresAtMs,
      stamp: this.index.accessAt(slot),
      bytes: this.arena.size(handle),
    };
  }

  /**
   * Installs a committed version; versions only increase (the caller checked). A new key's
   * access stamp is `stamp`; an existing key keeps its own (the caller touches it). The
   * trailer is stored after the shard and handed back with it (the caller knows its size).
   */
  put(key: string, entry: Omit<ShardEntry, "shard">, shard: Uint8Array, stamp = 0, trailer?: Uint8Array): void {
    assert(Number.isSafeInteger(entry.version) && entry.version > 0);
    assert(Number.isSafeInteger(entry.valueBytes) && entry.valueBytes >= 0);
    assert(key.length > 0 && key.length <= KEY_BYTES_MAX);
    assert(!entry.tombstone || shard.length === 0);
    assert(Number.isSafeInteger(entry.expiresAtMs) && entry.expiresAtMs >= 0);
    const previous = this.index.get(key);
    let previousTombstone = false;
    if (previous !== undefined) {
      const header = readHeader(this.arena.bufferOf(previous), this.arena.dataOffset(previous));
      assert(entry.version > header.version, "versions on a node only increase");
      previousTombstone = header.tombstone;
      const metaBytes = header.keyOffset - this.arena.dataOffset(previous);
      this.metaBytes -= metaBytes;
      this.payloadBytes -= this.arena.size(previous) - metaBytes - key.length;
    }
    const metaBytes = entryMetaBytes(entry, key.length);
    const trailerBytes = trailer?.length ?? 0;
    const handle = this.arena.alloc(metaBytes + key.length + shard.length + trailerBytes);
    const raw = this.arena.view(handle);
    raw.writeUInt32LE(entry.valueCrc32 >>> 0, OFFSET_VALUE_CRC);
    raw.writeUInt32LE(entry.shardCrc32 >>> 0, OFFSET_SHARD_CRC);
    raw.writeUInt32LE(entry.txTag >>> 0, OFFSET_TX_TAG);
    let offset = writeVarint(raw, OFFSET_VARINTS, key.length * 2 + (entry.tombstone ? 1 : 0));
    offset = writeVarint(raw, offset, entry.version);
    offset = writeVarint(raw, offset, entry.valueBytes);
    offset = writeVarint(raw, offset, entry.expiresAtMs);
    assert.equal(offset, metaBytes);
    raw.write(key, offset, "latin1");
    raw.set(shard, offset + key.length);
    if (trailer !== undefined) raw.set(trailer, offset + key.length + shard.length);
    // The index first: finding the key's slot reads the key from the previous block, which
    // must still be live (a released large block's buffer is gone at once).
    this.index.set(key, handle, stamp);
    if (previous === undefined) {
      this.keyBytes += key.length;
    } else {
      if (previousTombstone) this.tombstoneCount -= 1;
      this.arena.release(previous);
    }
    this.metaBytes += metaBytes;
    this.payloadBytes += shard.length + trailerBytes;
    if (entry.tombstone) this.tombstoneCount += 1;
  }

  clear(): void {
    this.index.clear();
    this.arena.clear();
    this.payloadBytes = 0;
    this.keyBytes = 0;
    this.metaBytes = 0;
    this.tombstoneCount = 0;
  }

  /** Every key held, in no particular order. */
  *keys(): IterableIterator<string> {
    for (const handle of this.index.values()) {
      const buffer = this.arena.bufferOf(handle);
      const header = readHeader(buffer, this.arena.dataOffset(handle));
      yield buffer.toString("latin1", header.keyOffset, header.keyOffset + header.keyLength);
    }
  }

  stats(): StoreStats {
    return {
      keyCount: this.index.size,
      tombstoneCount: this.tombstoneCount,
      payloadBytes: this.payloadBytes,
      keyBytes: this.keyBytes,
      metaBytes: this.metaBytes,
      logicalBytes: this.logicalBytes(),
      heldBytes: this.heldBytes(),
      indexBytes: this.index.tableBytes(),
    };
  }

  /** Payload, key and header bytes of every entry. */
  logicalBytes(): number {
    return this.payloadBytes + this.keyBytes + this.metaBytes;
  }

  /**
   * The most one more entry of `keyBytes` and `shardBytes` may add to usedBytes(): its block
   * (header and class rounding included), and the index table when it is due to double. A
   * budget checks writes against it, so the node stays within its budget after the commit.
   */
  bytesToAdd(keyBytes: number, shardBytes: number): number {
    return this.arena.bytesToAlloc(HEADER_BYTES_MAX + keyBytes + shardBytes) + this.index.growthBytes();
  }

  /**
   * What a budget is checked against: bytes of the blocks in use (entries with their headers
   * and class rounding) and the index table. Blocks freed by deletes and evictions are
   * reused by later entries of their size class, so they are not counted; heldBytes() is.
   */
  usedBytes(): number {
    return this.arena.inUseBytes() + this.index.tableBytes();
  }

  /** Memory the store occupies: arena slabs and large blocks, and the index table. */
  heldBytes(): number {
    return this.arena.heldBytes() + this.index.tableBytes();
  }

  private keyMatches(handle: number, key: string): boolean {
    const buffer = this.arena.bufferOf(handle);
    const header = readHeader(buffer, this.arena.dataOffset(handle));
    return header.keyLength === key.length && latin1Equals(buffer, header.keyOffset, key);
  }
}
