// KeyIndex: key → arena handle, as an open-addressing hash table in two typed arrays.
//
// Why not a Map<string, number>: a JS Map spends a hundred bytes or more of JS heap per
// entry (the key string object, the hash table's entry and bucket words, growth slack),
// a large share of a small ecc shard. Here the key bytes live in the entry's own arena block
// (the caller's layout) and the table costs 10 bytes per slot, at most 4/5 full: a float64
// packing the block's 32-bit arena handle with a 20-bit tag of the key's hash, and a 16-bit
// access stamp (recency or frequency, for eviction; see access.ts). Probes compare tags
// first, so the longer runs of a fuller table cost little; growing rehashes each key from its
// block (the table does not keep whole hashes).
//
// Linear probing; a removed key's slot is refilled by shifting later entries of its probe
// run back (no tombstones), so lookups stay as short as the live keys make them. The table
// grows, and is freed only whole (clear). Keys are latin1 strings (one char per byte).
// Eviction and expiry look at entries through sample() (random slots: bounded work, as
// Redis samples) and scan() (a cursor over every slot, a few at a time).
import assert from "node:assert/strict";

const CAPACITY_MIN = 1024;
/** Grow when more than this share of slots is used. */
const LOAD_MAX = 4 / 5;
/** A free slot (a used slot holds tag * 2^32 + handle + 1, never 0). */
const EMPTY = 0;
const TAG_SHIFT = 2 ** 32;

/** FNV-1a over the key's bytes (its latin1 chars). */
export function keyHash(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** FNV-1a over `length` bytes of `buffer` from `offset` (the same hash as keyHash). */
export function bytesHash(buffer: Buffer, offset: number, length: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < length; i++) {
    hash ^= buffer[offset + i];
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
  /** keyHash of the key the entry at `handle` holds (for rehashing when the table grows). */
  hashOf(handle: number): number;
}

/** A 20-bit tag of a hash: its top bits (the low bits pick the home slot). */
function tagOf(hash: number): number {
  return hash >>> 12;
}

export class KeyIndex {
  private slots: Float64Array;
  private access: Uint16Array;
  private count = 0;

  constructor(private readonly lookup: KeyLookup, capacity = CAPACITY_MIN) {
    assert(capacity > 0 && (capacity & (capacity - 1)) === 0, "capacity is a power of two");
    this.slots = new Float64Array(capacity);
    this.access = new Uint16Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Slots in the table (used or not). */
  get capacity(): number {
    return this.slots.length;
  }

  /** The handle stored for `key`, or undefined. */
  get(key: string): number | undefined {
    const slot = this.find(key, keyHash(key));
    return slot < 0 ? undefined : handleOf(this.slots[slot]);
  }

  /** The slot holding `key`, or -1; valid until the next set() or delete(). */
  slotOf(key: string): number {
    return this.find(key, keyHash(key));
  }

  /** The handle in a used slot. */
  handleAt(slot: number): number {
    assert(this.slots[slot] !== EMPTY);
    return handleOf(this.slots[slot]);
  }

  accessAt(slot: number): number {
    return this.access[slot];
  }

  setAccess(slot: number, stamp: number): void {
    this.access[slot] = stamp;
  }

  /**
   * Stores `handle` for `key`, replacing the key's previous handle; a new key gets access
   * stamp `stamp`, an existing one keeps its own. Returns the key's slot.
   */
  set(key: string, handle: number, stamp = 0): number {
    assert(Number.isSafeInteger(handle) && handle >= 0 && handle < TAG_SHIFT - 1);
    const hash = keyHash(key);
    const slot = this.find(key, hash);
    if (slot >= 0) {
      this.slots[slot] = pack(hash, handle);
      return slot;
    }
    if (this.count + 1 > this.slots.length * LOAD_MAX) this.grow();
    this.count += 1;
    return this.place(hash, handle, stamp);
  }

  /** Removes `key`; false when it was not there. */
  delete(key: string): boolean {
    const slot = this.find(key, keyHash(key));
    if (slot < 0) return false;
    this.deleteSlot(slot);
    return true;
  }

  clear(): void {
    this.slots = new Float64Array(CAPACITY_MIN);
    this.access = new Uint16Array(CAPACITY_MIN);
    this.count = 0;
  }

  /** Every stored handle, in table order. */
  *values(): IterableIterator<number> {
    for (let slot = 0; slot < this.slots.length; slot++) {
      if (this.slots[slot] !== EMPTY) yield handleOf(this.slots[slot]);
    }
  }

  /**
   * Up to `count` used slots chosen at random (`draw(n)`: a uniform integer below n, from
   * the caller's seeded Random): each draw picks a slot and takes the next used one.
   * Distinct slots; fewer when the table holds fewer keys.
   */
  sample(count: number, draw: (below: number) => number): number[] {
    const picked: number[] = [];
    if (this.count === 0) return picked;
    const mask = this.slots.length - 1;
    for (let tries = 0; picked.length < Math.min(count, this.count) && tries < 4 * count; tries++) {
      let slot = draw(this.slots.length);
      while (this.slots[slot] === EMPTY) slot = (slot + 1) & mask;
      if (!picked.includes(slot)) picked.push(slot);
    }
    return picked;
  }

  /**
   * The used slots among the `slotsMax` slots from `cursor` on, and the cursor to continue
   * from (0 after the last slot: a full pass is done). Slots move when keys are added or
   * removed, so a pass may see a key twice or miss one that moved behind the cursor; the
   * next pass sees it.
   */
  scan(cursor: number, slotsMax: number): { slots: number[]; next: number } {
    const slots: number[] = [];
    const start = Math.min(Math.max(0, Math.floor(cursor)), this.slots.length);
    const end = Math.min(this.slots.length, start + Math.max(1, slotsMax));
    for (let slot = start; slot < end; slot++) if (this.slots[slot] !== EMPTY) slots.push(slot);
    return { slots, next: end >= this.slots.length ? 0 : end };
  }

  /** Bytes of the table itself. */
  tableBytes(): number {
    return this.slots.byteLength + this.access.byteLength;
  }

  /** Bytes the table grows by when one more key is added now (0, or its size: it doubles). */
  growthBytesForOneMore(): number {
    return this.count + 1 > this.slots.length * LOAD_MAX ? this.tableBytes() : 0;
  }

  private deleteSlot(hole: number): void {
    const mask = this.slots.length - 1;
    // Backward shift: an entry further along the run moves into the hole when the hole lies
    // between its home slot and where it sits (it was pushed past the hole when inserted).
    for (let slot = (hole + 1) & mask; this.slots[slot] !== EMPTY; slot = (slot + 1) & mask) {
      const home = this.homeOf(slot);
      if (((slot - home) & mask) >= ((slot - hole) & mask)) {
        this.slots[hole] = this.slots[slot];
        this.access[hole] = this.access[slot];
        hole = slot;
      }
    }
    this.slots[hole] = EMPTY;
    this.access[hole] = 0;
    this.count -= 1;
  }

  /** The home slot of the entry in `slot` (its key's hash, read from its block). */
  private homeOf(slot: number): number {
    return this.lookup.hashOf(handleOf(this.slots[slot])) & (this.slots.length - 1);
  }

  private find(key: string, hash: number): number {
    const mask = this.slots.length - 1;
    const tag = tagOf(hash);
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const packed = this.slots[slot];
      if (packed === EMPTY) return -1;
      if (tagOfPacked(packed) === tag && this.lookup.matches(handleOf(packed), key)) return slot;
    }
  }

  private place(hash: number, handle: number, stamp: number): number {
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    while (this.slots[slot] !== EMPTY) slot = (slot + 1) & mask;
    this.slots[slot] = pack(hash, handle);
    this.access[slot] = stamp;
    return slot;
  }

  private grow(): void {
    const slots = this.slots;
    const access = this.access;
    this.slots = new Float64Array(slots.length * 2);
    this.access = new Uint16Array(slots.length * 2);
    for (let slot = 0; slot < slots.length; slot++) {
      if (slots[slot] === EMPTY) continue;
      const handle = handleOf(slots[slot]);
      this.place(this.lookup.hashOf(handle), handle, access[slot]);
    }
  }
}

function pack(hash: number, handle: number): number {
  return tagOf(hash) * TAG_SHIFT + handle + 1;
}

function handleOf(packed: number): number {
  return (packed % TAG_SHIFT) - 1;
}

function tagOfPacked(packed: number): number {
  return Math.floor(packed / TAG_SHIFT);
}
