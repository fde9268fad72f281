// In-memory store of one node's committed shards (ecc mode) with exact byte accounting.
//
// One entry = one key's newest committed version: a fixed header plus the shard blob, kept
// as one block of a ByteArena (byte_arena.ts), so an entry costs its bytes, a 4-byte block
// header and a number in the index map — no Buffer object, no pinned 8 KiB pool slab. Keys
// are byte strings held as latin1 JS strings (one char per byte, binary safe).
//
// Logical bytes (DESIGN.md section 5) = payload (shard blob bytes) + key bytes +
// ENTRY_META_BYTES per entry; they are what this node holds, counted exactly.
import assert from "node:assert/strict";
import { ByteArena, LARGE_BYTES } from "./byte_arena";

/**
 * version f64 (integers up to 2^53) | valueBytes u32 | valueCrc32 u32 | shardCrc32 u32 |
 * txTag u32 | flags u8. The shard layout (k, n-k, block size) is the node's own config,
 * which every EcPrepare is checked against, so it is not repeated per entry. txTag is a
 * 32-bit hash of the transaction that wrote this version: a resolver asking "did tx T
 * commit here?" is answered from the entry itself, with no per-write record to keep.
 */
export const ENTRY_META_BYTES = 25;
const FLAG_TOMBSTONE = 1;

export interface ShardEntry {
  version: number;
  tombstone: boolean;
  valueBytes: number;
  valueCrc32: number;
  shardCrc32: number;
  txTag: number;
  /** The shard blob: a copy (the arena block is reused by later writes), or for shards
   * above the arena's LARGE_BYTES a view of their own buffer, which is never rewritten. */
  shard: Buffer;
}

export interface StoreStats {
  keyCount: number;
  tombstoneCount: number;
  payloadBytes: number;
  keyBytes: number;
  metaBytes: number;
  logicalBytes: number;
}

export class ShardStore {
  private readonly arena = new ByteArena();
  /** key → arena handle of its entry. */
  private readonly entries = new Map<string, number>();
  private payloadBytes = 0;
  private keyBytes = 0;
  private tombstoneCount = 0;

  get size(): number {
    return this.entries.size;
  }

  /** The committed version of `key`, 0 when absent. */
  version(key: string): number {
    const handle = this.entries.get(key);
    return handle === undefined ? 0 : this.arena.view(handle).readDoubleLE(0);
  }

  /** The (version, txTag) of `key` without decoding the entry; null when absent. */
  versionAndTag(key: string): { version: number; txTag: number } | null {
    const handle = this.entries.get(key);
    if (handle === undefined) return null;
    const raw = this.arena.view(handle);
    return { version: raw.readDoubleLE(0), txTag: raw.readUInt32LE(20) };
  }

  get(key: string): ShardEntry | null {
    const handle = this.entries.get(key);
    if (handle === undefined) return null;
    const raw = this.arena.view(handle);
    const shard = raw.subarray(ENTRY_META_BYTES);
    return decodeEntry(raw, raw.length > LARGE_BYTES ? shard : Buffer.from(shard));
  }

  /** Installs a committed version; versions only increase (the caller checked). */
  put(key: string, entry: Omit<ShardEntry, "shard">, shard: Uint8Array): void {
    assert(Number.isSafeInteger(entry.version) && entry.version > 0);
    assert(entry.version > this.version(key), "versions on a node only increase");
    assert(!entry.tombstone || shard.length === 0);
    const handle = this.arena.alloc(ENTRY_META_BYTES + shard.length);
    const raw = this.arena.view(handle);
    raw.writeDoubleLE(entry.version, 0);
    raw.writeUInt32LE(entry.valueBytes, 8);
    raw.writeUInt32LE(entry.valueCrc32 >>> 0, 12);
    raw.writeUInt32LE(entry.shardCrc32 >>> 0, 16);
    raw.writeUInt32LE(entry.txTag >>> 0, 20);
    raw.writeUInt8(entry.tombstone ? FLAG_TOMBSTONE : 0, 24);
    raw.set(shard, ENTRY_META_BYTES);
    const previous = this.entries.get(key);
    if (previous === undefined) {
      this.keyBytes += key.length;
    } else {
      const old = this.arena.view(previous);
      this.payloadBytes -= old.length - ENTRY_META_BYTES;
      if ((old[24] & FLAG_TOMBSTONE) !== 0) this.tombstoneCount -= 1;
      this.arena.release(previous);
    }
    this.payloadBytes += shard.length;
    if (entry.tombstone) this.tombstoneCount += 1;
    this.entries.set(key, handle);
  }

  clear(): void {
    this.entries.clear();
    this.arena.clear();
    this.payloadBytes = 0;
    this.keyBytes = 0;
    this.tombstoneCount = 0;
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  stats(): StoreStats {
    const metaBytes = this.entries.size * ENTRY_META_BYTES;
    return {
      keyCount: this.entries.size,
      tombstoneCount: this.tombstoneCount,
      payloadBytes: this.payloadBytes,
      keyBytes: this.keyBytes,
      metaBytes,
      logicalBytes: this.payloadBytes + this.keyBytes + metaBytes,
    };
  }
}

function decodeEntry(raw: Buffer, shard: Buffer): ShardEntry {
  return {
    version: raw.readDoubleLE(0),
    valueBytes: raw.readUInt32LE(8),
    valueCrc32: raw.readUInt32LE(12),
    shardCrc32: raw.readUInt32LE(16),
    txTag: raw.readUInt32LE(20),
    tombstone: (raw[24] & FLAG_TOMBSTONE) !== 0,
    shard,
  };
}
