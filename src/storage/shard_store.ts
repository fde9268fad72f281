// In-memory store of one node's committed shards (ecc mode) with exact byte accounting.
//
// One entry = one key's newest committed version: a fixed header, the key and the shard
// blob, kept together as one block of a ByteArena (byte_arena.ts), found through a
// KeyIndex (key_index.ts). An entry costs its bytes, a 4-byte block header and 12-18 bytes
// of index table — no JS object, no Buffer, no pinned 8 KiB pool slab. Keys are byte
// strings handled as latin1 JS strings (one char per byte, binary safe).
//
// Logical bytes (DESIGN.md section 5) = payload (shard blob bytes) + key bytes +
// ENTRY_META_BYTES per entry; they are what this node holds, counted exactly.
import assert from "node:assert/strict";
import { ByteArena, LARGE_BYTES } from "./byte_arena";
import { KeyIndex, latin1Equals } from "./key_index";

/**
 * version f64 (integers up to 2^53) | valueBytes u32 | valueCrc32 u32 | shardCrc32 u32 |
 * txTag u32 | flags and key length u16 (bit 15 tombstone, bits 0-14 key bytes). The shard
 * layout (k, n-k, block size) is the node's own config, which every EcPrepare is checked
 * against, so it is not repeated per entry. txTag is a 32-bit hash of the transaction that
 * wrote this version: a resolver asking "did tx T commit here?" is answered from the entry
 * itself, with no per-write record to keep.
 */
export const ENTRY_META_BYTES = 26;
const OFFSET_VERSION = 0;
const OFFSET_VALUE_BYTES = 8;
const OFFSET_VALUE_CRC = 12;
const OFFSET_SHARD_CRC = 16;
const OFFSET_TX_TAG = 20;
const OFFSET_FLAGS_KEY = 24;
const FLAG_TOMBSTONE = 0x8000;
const KEY_LENGTH_MASK = 0x7fff;

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
  private readonly index = new KeyIndex({ matches: (handle, key) => this.keyMatches(handle, key) });
  private payloadBytes = 0;
  private keyBytes = 0;
  private tombstoneCount = 0;

  get size(): number {
    return this.index.size;
  }

  /** The committed version of `key`, 0 when absent. */
  version(key: string): number {
    const handle = this.index.get(key);
    return handle === undefined ? 0 : this.arena.bufferOf(handle).readDoubleLE(this.arena.dataOffset(handle) + OFFSET_VERSION);
  }

  /** The (version, txTag) of `key` without decoding the entry; null when absent. */
  versionAndTag(key: string): { version: number; txTag: number } | null {
    const handle = this.index.get(key);
    if (handle === undefined) return null;
    const buffer = this.arena.bufferOf(handle);
    const offset = this.arena.dataOffset(handle);
    return { version: buffer.readDoubleLE(offset + OFFSET_VERSION), txTag: buffer.readUInt32LE(offset + OFFSET_TX_TAG) };
  }

  get(key: string): ShardEntry | null {
    const handle = this.index.get(key);
    if (handle === undefined) return null;
    const raw = this.arena.view(handle);
    const flagsKey = raw.readUInt16LE(OFFSET_FLAGS_KEY);
    const shard = raw.subarray(ENTRY_META_BYTES + (flagsKey & KEY_LENGTH_MASK));
    return {
      version: raw.readDoubleLE(OFFSET_VERSION),
      valueBytes: raw.readUInt32LE(OFFSET_VALUE_BYTES),
      valueCrc32: raw.readUInt32LE(OFFSET_VALUE_CRC),
      shardCrc32: raw.readUInt32LE(OFFSET_SHARD_CRC),
      txTag: raw.readUInt32LE(OFFSET_TX_TAG),
      tombstone: (flagsKey & FLAG_TOMBSTONE) !== 0,
      shard: raw.length > LARGE_BYTES ? shard : Buffer.from(shard),
    };
  }

  /** Installs a committed version; versions only increase (the caller checked). */
  put(key: string, entry: Omit<ShardEntry, "shard">, shard: Uint8Array): void {
    assert(Number.isSafeInteger(entry.version) && entry.version > 0);
    assert(key.length > 0 && key.length <= KEY_LENGTH_MASK);
    const previous = this.index.get(key);
    const previousRaw = previous === undefined ? null : this.arena.view(previous);
    assert(previousRaw === null || entry.version > previousRaw.readDoubleLE(OFFSET_VERSION), "versions on a node only increase");
    assert(!entry.tombstone || shard.length === 0);
    const handle = this.arena.alloc(ENTRY_META_BYTES + key.length + shard.length);
    const raw = this.arena.view(handle);
    raw.writeDoubleLE(entry.version, OFFSET_VERSION);
    raw.writeUInt32LE(entry.valueBytes, OFFSET_VALUE_BYTES);
    raw.writeUInt32LE(entry.valueCrc32 >>> 0, OFFSET_VALUE_CRC);
    raw.writeUInt32LE(entry.shardCrc32 >>> 0, OFFSET_SHARD_CRC);
    raw.writeUInt32LE(entry.txTag >>> 0, OFFSET_TX_TAG);
    raw.writeUInt16LE((entry.tombstone ? FLAG_TOMBSTONE : 0) | key.length, OFFSET_FLAGS_KEY);
    raw.write(key, ENTRY_META_BYTES, "latin1");
    raw.set(shard, ENTRY_META_BYTES + key.length);
    if (previousRaw === null) {
      this.keyBytes += key.length;
    } else {
      this.payloadBytes -= previousRaw.length - ENTRY_META_BYTES - key.length;
      if ((previousRaw.readUInt16LE(OFFSET_FLAGS_KEY) & FLAG_TOMBSTONE) !== 0) this.tombstoneCount -= 1;
      this.arena.release(previous as number);
    }
    this.payloadBytes += shard.length;
    if (entry.tombstone) this.tombstoneCount += 1;
    this.index.set(key, handle);
  }

  clear(): void {
    this.index.clear();
    this.arena.clear();
    this.payloadBytes = 0;
    this.keyBytes = 0;
    this.tombstoneCount = 0;
  }

  /** Every key held, in no particular order. */
  *keys(): IterableIterator<string> {
    for (const handle of this.index.values()) {
      const buffer = this.arena.bufferOf(handle);
      const offset = this.arena.dataOffset(handle);
      const keyLength = buffer.readUInt16LE(offset + OFFSET_FLAGS_KEY) & KEY_LENGTH_MASK;
      yield buffer.toString("latin1", offset + ENTRY_META_BYTES, offset + ENTRY_META_BYTES + keyLength);
    }
  }

  stats(): StoreStats {
    const metaBytes = this.index.size * ENTRY_META_BYTES;
    return {
      keyCount: this.index.size,
      tombstoneCount: this.tombstoneCount,
      payloadBytes: this.payloadBytes,
      keyBytes: this.keyBytes,
      metaBytes,
      logicalBytes: this.payloadBytes + this.keyBytes + metaBytes,
    };
  }

  private keyMatches(handle: number, key: string): boolean {
    const buffer = this.arena.bufferOf(handle);
    const offset = this.arena.dataOffset(handle);
    if ((buffer.readUInt16LE(offset + OFFSET_FLAGS_KEY) & KEY_LENGTH_MASK) !== key.length) return false;
    return latin1Equals(buffer, offset + ENTRY_META_BYTES, key);
  }
}
