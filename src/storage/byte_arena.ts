// ByteArena: many small byte blocks packed into a few large slabs, for the stores that hold
// one blob per key (ecc shards, raft values).
//
// Why not one Buffer per entry: a small Buffer is a slice of Node's shared 8 KiB pool, so a
// long-lived entry pins its whole pool slab together with every short-lived buffer that was
// cut from it (request frames, replies), and each entry also costs a typed-array object on
// the JS heap: a node's ArrayBuffer memory grows several times faster than its shards.
// Here an entry
// costs its bytes plus a 2-byte header rounded up to its size class, and a plain number (its
// handle) in the caller's index.
//
// Blocks are carved from slabs of SLAB_BYTES by bumping an offset; a freed block goes on
// its size class's free list and is reused by the next block of that class. Classes are
// 4-byte steps up to 1 KiB and 1/64 of a power of two above (at most 1/64 slack), so a
// workload whose values keep
// their size reuses freed blocks exactly (finer classes leave more kinds of freed blocks
// waiting when sizes vary). Slabs are allocated without zero-fill, but the allocator may
// hand out pages a burst of requests just freed, which are resident already: the unused
// tail of the newest slab costs memory, so slabs are small (SLAB_BYTES). Blocks larger than LARGE_BYTES get a Buffer of their
// own (handle = index into `large`).
//
// Handles fit 32 bits, so an index can pack one with a hash tag into a float64 (KeyIndex):
// a slab block's handle is (slab * SLAB_BYTES + offset of its header) / 4 (blocks start
// 4-byte aligned), below LARGE_HANDLE_BASE (so slabs hold at most 8 GiB); a large block's
// is LARGE_HANDLE_BASE + its slot.
import assert from "node:assert/strict";

export const SLAB_BYTES = 256 << 10;
/** Blocks above this size are not packed into slabs (a slab block's size fits its u16 header). */
export const LARGE_BYTES = 0xffff;
const HEADER_BYTES = 2;
const ALIGN = 4;
/** Handles at and above this are large blocks; below, slab blocks (offset / ALIGN). */
export const LARGE_HANDLE_BASE = 2 ** 31;
/** Handles are below this (an index may keep them in 32 bits). */
export const HANDLE_LIMIT = 2 ** 32;

export interface ArenaStats {
  /** Bytes callers asked for and still hold. */
  liveBytes: number;
  liveBlocks: number;
  /** Slab bytes reserved (a slab's untouched tail costs no memory until written). */
  slabBytes: number;
  /** Bytes on free lists, ready for reuse. */
  freeBytes: number;
  largeBlocks: number;
}

/** The block capacity (header included) that holds `bytes` of data. */
export function blockCapacity(bytes: number): number {
  const need = bytes + HEADER_BYTES;
  if (need <= 1024) return Math.ceil(need / ALIGN) * ALIGN;
  const step = 2 ** (Math.floor(Math.log2(need)) - 6);
  return Math.ceil(need / step) * step;
}

export class ByteArena {
  private readonly slabs: Buffer[] = [];
  /** Bump offset in the newest slab. */
  private top = SLAB_BYTES;
  /** capacity → handles of free blocks of that capacity. */
  private readonly free = new Map<number, number[]>();
  private readonly large: (Buffer | null)[] = [];
  private readonly largeFree: number[] = [];
  private liveBytes = 0;
  private liveBlocks = 0;
  private freeBytes = 0;
  private largeBytes = 0;

  /** A block holding `bytes` bytes (contents undefined until written through view()). */
  alloc(bytes: number): number {
    assert(Number.isSafeInteger(bytes) && bytes >= 0);
    this.liveBytes += bytes;
    this.liveBlocks += 1;
    if (bytes > LARGE_BYTES) {
      const buffer = Buffer.allocUnsafeSlow(bytes);
      this.largeBytes += bytes;
      const slot = this.largeFree.pop();
      if (slot !== undefined) {
        this.large[slot] = buffer;
        return LARGE_HANDLE_BASE + slot;
      }
      this.large.push(buffer);
      assert(this.large.length < HANDLE_LIMIT - LARGE_HANDLE_BASE, "too many large blocks");
      return LARGE_HANDLE_BASE + this.large.length - 1;
    }
    const capacity = blockCapacity(bytes);
    const reusable = this.free.get(capacity);
    let handle: number;
    if (reusable !== undefined && reusable.length > 0) {
      handle = reusable.pop() as number;
      this.freeBytes -= capacity;
    } else {
      if (this.top + capacity > SLAB_BYTES) this.addSlab();
      handle = ((this.slabs.length - 1) * SLAB_BYTES + this.top) / ALIGN;
      this.top += capacity;
      assert(handle < LARGE_HANDLE_BASE, "arena slabs are full");
    }
    this.slabs[slabOf(handle)].writeUInt16LE(bytes, offsetOf(handle));
    return handle;
  }

  /**
   * The block's bytes, as a view that shares its memory: valid until the block is freed.
   * Callers that hand bytes to asynchronous code (a reply encoded later) must copy them.
   */
  view(handle: number): Buffer {
    if (handle >= LARGE_HANDLE_BASE) {
      const buffer = this.large[handle - LARGE_HANDLE_BASE];
      assert(buffer !== null && buffer !== undefined, "freed arena block");
      return buffer;
    }
    const slab = this.slabs[slabOf(handle)];
    const offset = offsetOf(handle);
    const bytes = slab.readUInt16LE(offset);
    return slab.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + bytes);
  }

  /**
   * The buffer holding a block's data and where in it the data starts: for reading a few
   * fields without creating a view object (hot paths such as index probes).
   */
  bufferOf(handle: number): Buffer {
    return handle >= LARGE_HANDLE_BASE ? this.view(handle) : this.slabs[slabOf(handle)];
  }

  dataOffset(handle: number): number {
    return handle >= LARGE_HANDLE_BASE ? 0 : offsetOf(handle) + HEADER_BYTES;
  }

  /** Data bytes of a block. */
  size(handle: number): number {
    if (handle >= LARGE_HANDLE_BASE) return this.view(handle).length;
    return this.slabs[slabOf(handle)].readUInt16LE(offsetOf(handle));
  }

  release(handle: number): void {
    const bytes = this.size(handle);
    this.liveBytes -= bytes;
    this.liveBlocks -= 1;
    if (handle >= LARGE_HANDLE_BASE) {
      this.large[handle - LARGE_HANDLE_BASE] = null;
      this.largeFree.push(handle - LARGE_HANDLE_BASE);
      this.largeBytes -= bytes;
      return;
    }
    const capacity = blockCapacity(bytes);
    let list = this.free.get(capacity);
    if (list === undefined) {
      list = [];
      this.free.set(capacity, list);
    }
    list.push(handle);
    this.freeBytes += capacity;
  }

  /** Forgets every block and gives the slabs back to the allocator. */
  clear(): void {
    this.slabs.length = 0;
    this.top = SLAB_BYTES;
    this.free.clear();
    this.large.length = 0;
    this.largeFree.length = 0;
    this.liveBytes = 0;
    this.liveBlocks = 0;
    this.freeBytes = 0;
    this.largeBytes = 0;
  }

  /** Memory the arena holds: every slab reserved plus every large block. */
  heldBytes(): number {
    return this.slabs.length * SLAB_BYTES + this.largeBytes;
  }

  /** Bytes of the newest slab no block was ever carved from (untouched: not resident yet). */
  tailBytes(): number {
    return this.slabs.length === 0 ? 0 : SLAB_BYTES - this.top;
  }

  stats(): ArenaStats {
    return {
      liveBytes: this.liveBytes,
      liveBlocks: this.liveBlocks,
      slabBytes: this.slabs.length * SLAB_BYTES,
      freeBytes: this.freeBytes,
      largeBlocks: this.large.length - this.largeFree.length,
    };
  }

  private addSlab(): void {
    assert((this.slabs.length + 1) * SLAB_BYTES <= LARGE_HANDLE_BASE * ALIGN, "arena slabs are full");
    // Not zero-filled: a slab's pages become resident only as blocks are written into them.
    this.slabs.push(Buffer.allocUnsafeSlow(SLAB_BYTES));
    this.top = 0;
  }
}

function slabOf(handle: number): number {
  return Math.floor((handle * ALIGN) / SLAB_BYTES);
}

function offsetOf(handle: number): number {
  return (handle * ALIGN) % SLAB_BYTES;
}
