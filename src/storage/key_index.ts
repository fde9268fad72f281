// KeyIndex: key → arena handle, as an open-addressing hash table in two typed arrays.
//
// Why not a Map<string, number>: a JS Map spends a hundred bytes or more of JS heap per
// entry (the key string object, the hash table's entry and bucket words, growth slack),
// a large share of a small ecc shard. Here the key bytes live in the entry's own arena block
// (the caller's layout) and the table costs 12 bytes per slot (a handle and the key's 32-bit
// hash), at most 4/5 full. Probes compare the stored hashes first, so the longer runs of a
// fuller table cost little.
//
// Linear probing; a removed key's slot is refilled by shifting later entries of its probe
// run back (no tombstones), so lookups stay as short as the live keys make them. The table
// grows, and is freed only whole (clear). Keys are latin1 strings (one char per byte).
import assert from "node:assert/strict";

const CAPACITY_MIN = 1024;
/** Grow when more than this share of slots is used. */
const LOAD_MAX = 4 / 5;
/** Marks a free slot: arena handles are integers (large blocks' are negative). */
const EMPTY = Number.NEGATIVE_INFINITY;

/** FNV-1a over the key's bytes (its latin1 chars). */
export function keyHash(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Whether `buffer` holds the latin1 chars of `key` from `offset` on. */
export function latin1Equals(buffer: Buffer, offset: number, key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    if (buffer[offset + i] !== key.charCodeAt(i)) return false;
  }
  return true;
}

export interface KeyLookup {
  /** Whether the entry at `handle` holds `key`. */
  matches(handle: number, key: string): boolean;
}

export class KeyIndex {
  private handles: Float64Array;
  private hashes: Uint32Array;
  private count = 0;

  constructor(private readonly lookup: KeyLookup, capacity = CAPACITY_MIN) {
    assert(capacity > 0 && (capacity & (capacity - 1)) === 0, "capacity is a power of two");
    this.handles = new Float64Array(capacity).fill(EMPTY);
    this.hashes = new Uint32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** The handle stored for `key`, or undefined. */
  get(key: string): number | undefined {
    const slot = this.find(key, keyHash(key));
    return slot < 0 ? undefined : this.handles[slot];
  }

  /** Stores `handle` for `key`, replacing the key's previous handle. */
  set(key: string, handle: number): void {
    assert(Number.isSafeInteger(handle));
    const hash = keyHash(key);
    const slot = this.find(key, hash);
    if (slot >= 0) {
      this.handles[slot] = handle;
      return;
    }
    if (this.count + 1 > this.handles.length * LOAD_MAX) this.grow();
    this.place(hash, handle);
    this.count += 1;
  }

  /** Removes `key`; false when it was not there. */
  delete(key: string): boolean {
    let hole = this.find(key, keyHash(key));
    if (hole < 0) return false;
    const mask = this.handles.length - 1;
    // Backward shift: an entry further along the run moves into the hole when the hole lies
    // between its home slot and where it sits (it was pushed past the hole when inserted).
    for (let slot = (hole + 1) & mask; this.handles[slot] !== EMPTY; slot = (slot + 1) & mask) {
      const home = this.hashes[slot] & mask;
      if (((slot - home) & mask) >= ((slot - hole) & mask)) {
        this.handles[hole] = this.handles[slot];
        this.hashes[hole] = this.hashes[slot];
        hole = slot;
      }
    }
    this.handles[hole] = EMPTY;
    this.count -= 1;
    return true;
  }

  clear(): void {
    this.handles = new Float64Array(CAPACITY_MIN).fill(EMPTY);
    this.hashes = new Uint32Array(CAPACITY_MIN);
    this.count = 0;
  }

  /** Every stored handle, in table order. */
  *values(): IterableIterator<number> {
    for (let slot = 0; slot < this.handles.length; slot++) {
      if (this.handles[slot] !== EMPTY) yield this.handles[slot];
    }
  }

  /** Bytes of the table itself. */
  tableBytes(): number {
    return this.handles.byteLength + this.hashes.byteLength;
  }

  private find(key: string, hash: number): number {
    const mask = this.handles.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const handle = this.handles[slot];
      if (handle === EMPTY) return -1;
      if (this.hashes[slot] === hash && this.lookup.matches(handle, key)) return slot;
    }
  }

  private place(hash: number, handle: number): void {
    const mask = this.handles.length - 1;
    let slot = hash & mask;
    while (this.handles[slot] !== EMPTY) slot = (slot + 1) & mask;
    this.handles[slot] = handle;
    this.hashes[slot] = hash;
  }

  private grow(): void {
    const handles = this.handles;
    const hashes = this.hashes;
    this.handles = new Float64Array(handles.length * 2).fill(EMPTY);
    this.hashes = new Uint32Array(handles.length * 2);
    for (let slot = 0; slot < handles.length; slot++) {
      if (handles[slot] !== EMPTY) this.place(hashes[slot], handles[slot]);
    }
  }
}
