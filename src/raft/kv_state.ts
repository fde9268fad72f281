// The replicated state machine of raft mode: a map from key bytes to value bytes, applied
// in log order on every node, plus client sessions for exactly-once commands.
//
// Why sessions: a client that times out retries its set on the (possibly new) leader. If
// the first attempt was committed after all, applying the retry again could overwrite a
// newer write by another client in between, which is not linearizable. Each command carries
// (clientId, seq, floor): seq numbers a client's writes; floor is the lowest seq that client
// still waits for, so every seq below it is settled. A session keeps the seqs applied at or
// above its floor; a command with seq below the floor or already applied is a duplicate and
// changes nothing. A client with many writes in flight (seqs finishing out of order) is
// handled exactly. Sessions are bounded (least recently used evicted, the same way on every
// node because eviction follows apply order) and travel in snapshots.
//
// Why values live in a ByteArena (src/storage/byte_arena.ts) and not one Buffer each: a
// small Buffer is a slice of Node's shared 8 KiB pool, so a long-lived value pins its pool
// slab together with every short-lived buffer cut from it (gRPC frames, replies), and each
// Buffer is also a typed-array object on the JS heap: memory grows several times faster
// than the values. In the arena an entry is one block, [key length u16][key][value], costing its bytes rounded
// up to a size class plus a 4-byte header; the index is a typed-array hash table of block
// handles (src/storage/key_index.ts), not a Map of key strings (tens of bytes of JS heap
// per key).
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../core/errors";
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../core/limits";
import { ByteArena, LARGE_BYTES } from "../storage/byte_arena";
import { KeyIndex, bytesHash, latin1Equals } from "../storage/key_index";

export const KV_SESSIONS_MAX = 10_000;
/** Bytes an entry's block holds besides its key and value: the key length (u16). The value
 * length is the block's size, kept by the arena like the ecc store's blocks. */
const ENTRY_KEY_LENGTH_BYTES = 2;
/** Per-entry metadata counted in logical bytes (what the entry stores beyond key and value). */
export const KV_ENTRY_META_BYTES = ENTRY_KEY_LENGTH_BYTES;
/** Most applied seqs a session remembers above its floor (a client's writes in flight). */
export const KV_SESSION_SEQS_MAX = 8_192;
const COMMAND_HEADER_BYTES = 1 + 8 + 8 + 8 + 2;
const OP_SET = 1;
const OP_DEL = 2;
const SNAPSHOT_MAGIC = 0x4b565331; // "KVS1"
/**
 * Chunk size of writeSnapshot: the only buffer a snapshot needs. Kept below glibc malloc's
 * default mmap threshold (128 KiB; nodes run on glibc when jemalloc is absent): freeing a
 * larger mmapped block raises that threshold, after which big transient buffers come from
 * the heap, whose freed pages may stay resident.
 */
export const SNAPSHOT_CHUNK_BYTES = 64 * 1024;

export interface KvCommand {
  op: "set" | "del";
  clientId: number;
  seq: number;
  floor: number;
  key: Buffer;
  value: Buffer; // empty for del
}

export function encodeCommand(command: KvCommand): Buffer {
  assert(command.key.length >= 1 && command.key.length <= KEY_BYTES_MAX);
  const out = Buffer.allocUnsafe(COMMAND_HEADER_BYTES + command.key.length + command.value.length);
  out[0] = command.op === "set" ? OP_SET : OP_DEL;
  out.writeDoubleLE(command.clientId, 1);
  out.writeDoubleLE(command.seq, 9);
  out.writeDoubleLE(command.floor, 17);
  out.writeUInt16LE(command.key.length, 25);
  command.key.copy(out, COMMAND_HEADER_BYTES);
  command.value.copy(out, COMMAND_HEADER_BYTES + command.key.length);
  return out;
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.length);
  if (buffer.length < COMMAND_HEADER_BYTES) throw new InvalidArgumentError("command too short");
  const op = buffer[0];
  if (op !== OP_SET && op !== OP_DEL) throw new InvalidArgumentError(`unknown command op ${op}`);
  const keyBytes = buffer.readUInt16LE(25);
  if (keyBytes < 1 || COMMAND_HEADER_BYTES + keyBytes > buffer.length) throw new InvalidArgumentError("bad command key length");
  return {
    op: op === OP_SET ? "set" : "del",
    clientId: buffer.readDoubleLE(1),
    seq: buffer.readDoubleLE(9),
    floor: buffer.readDoubleLE(17),
    key: buffer.subarray(COMMAND_HEADER_BYTES, COMMAND_HEADER_BYTES + keyBytes),
    value: buffer.subarray(COMMAND_HEADER_BYTES + keyBytes),
  };
}

export interface KvStateStats {
  keyCount: number;
  valueBytes: number;
  keyBytes: number;
  metaBytes: number;
}

interface Session {
  floor: number;
  applied: Set<number>;
}

export class KvState {
  private readonly arena = new ByteArena();
  /** Key bytes as a latin1 string (one char per byte, binary safe) → arena handle of its entry. */
  private readonly index = new KeyIndex({
    matches: (handle, key) => this.keyMatches(handle, key),
    hashOf: (handle) => bytesHash(this.arena.bufferOf(handle), this.arena.dataOffset(handle) + ENTRY_KEY_LENGTH_BYTES, this.keyLength(handle)),
  });
  private readonly sessions = new Map<number, Session>();
  private valueBytes = 0;
  private keyBytes = 0;

  /**
   * The value of `key`, or null. A copy for values packed in arena slabs: their block is
   * reused by a later write, possibly while the reply holding this value is still being
   * encoded. Values above LARGE_BYTES have a Buffer of their own that is never rewritten
   * (a new value gets a new one), so a view of it is safe and saves copying a big value.
   */
  get(key: Buffer): Buffer | null {
    const handle = this.index.get(key.toString("latin1"));
    if (handle === undefined) return null;
    const view = this.valueView(handle);
    return this.arena.size(handle) > LARGE_BYTES ? view : Buffer.from(view);
  }

  /** Applies one committed command. Returns false for a duplicate (already applied). */
  apply(command: KvCommand): boolean {
    if (command.clientId !== 0 && !this.admit(command)) return false;
    const key = command.key.toString("latin1");
    const previous = this.index.get(key);
    if (command.op === "set") {
      assert(command.value.length <= VALUE_BYTES_MAX);
      // Copied into the arena: the command's bytes are a view into a log entry that
      // compaction will drop.
      const handle = this.store(key, command.value);
      // The index first: finding the key's slot reads the key from the previous block.
      this.index.set(key, handle);
      if (previous === undefined) this.keyBytes += key.length;
      else this.drop(previous);
      this.valueBytes += command.value.length;
    } else if (previous !== undefined) {
      this.index.delete(key);
      this.keyBytes -= key.length;
      this.drop(previous);
    }
    return true;
  }

  /** A new arena block holding `key` and a copy of `value`. */
  private store(key: string, value: Uint8Array): number {
    assert(key.length <= 0xffff);
    const handle = this.arena.alloc(ENTRY_KEY_LENGTH_BYTES + key.length + value.length);
    const buffer = this.arena.bufferOf(handle);
    const offset = this.arena.dataOffset(handle);
    buffer.writeUInt16LE(key.length, offset);
    assert.equal(buffer.write(key, offset + ENTRY_KEY_LENGTH_BYTES, "latin1"), key.length);
    buffer.set(value, offset + ENTRY_KEY_LENGTH_BYTES + key.length);
    return handle;
  }

  /** The keys in `slotsMax` index slots from `cursor` on, and where to continue (0: a pass ended); RESP's SCAN. */
  scan(cursor: number, slotsMax: number): { keys: Buffer[]; next: number } {
    const { slots, next } = this.index.scan(cursor, slotsMax);
    const keys = slots.map((slot) => {
      const handle = this.index.handleAt(slot);
      const start = this.arena.dataOffset(handle) + ENTRY_KEY_LENGTH_BYTES;
      return Buffer.from(this.arena.bufferOf(handle).subarray(start, start + this.keyLength(handle)));
    });
    return { keys, next };
  }

  private keyLength(handle: number): number {
    return this.arena.bufferOf(handle).readUInt16LE(this.arena.dataOffset(handle));
  }

  private keyOf(handle: number): string {
    const offset = this.arena.dataOffset(handle) + ENTRY_KEY_LENGTH_BYTES;
    return this.arena.bufferOf(handle).toString("latin1", offset, offset + this.keyLength(handle));
  }

  /** The value bytes of an entry, as a view into its block. */
  private valueView(handle: number): Buffer {
    return this.arena.view(handle).subarray(ENTRY_KEY_LENGTH_BYTES + this.keyLength(handle));
  }

  private keyMatches(handle: number, key: string): boolean {
    return this.keyLength(handle) === key.length && latin1Equals(this.arena.bufferOf(handle), this.arena.dataOffset(handle) + ENTRY_KEY_LENGTH_BYTES, key);
  }

  /** Frees an entry's block and takes its value bytes out of the accounting. */
  private drop(handle: number): void {
    this.valueBytes -= this.arena.size(handle) - ENTRY_KEY_LENGTH_BYTES - this.keyLength(handle);
    this.arena.release(handle);
  }

  /** Session bookkeeping; false when the command was applied before. */
  private admit(command: KvCommand): boolean {
    let session = this.sessions.get(command.clientId);
    if (session === undefined) {
      session = { floor: 0, applied: new Set() };
    } else {
      this.sessions.delete(command.clientId); // re-inserted below: most recently used last
    }
    this.sessions.set(command.clientId, session);
    while (this.sessions.size > KV_SESSIONS_MAX) this.sessions.delete(this.sessions.keys().next().value as number);
    if (command.floor > session.floor) {
      session.floor = command.floor;
      for (const seq of session.applied) if (seq < session.floor) session.applied.delete(seq);
    }
    if (command.seq < session.floor || session.applied.has(command.seq)) return false;
    session.applied.add(command.seq);
    // Bounded: a client never has more writes in flight than this; drop the oldest.
    while (session.applied.size > KV_SESSION_SEQS_MAX) {
      const oldest = Math.min(...session.applied);
      session.applied.delete(oldest);
      session.floor = Math.max(session.floor, oldest + 1);
    }
    return true;
  }

  stats(): KvStateStats {
    return {
      keyCount: this.index.size,
      valueBytes: this.valueBytes,
      keyBytes: this.keyBytes,
      metaBytes: this.index.size * KV_ENTRY_META_BYTES,
    };
  }

  /** The whole state as bytes: magic, sessions, then (key, value) pairs. */
  snapshot(): Buffer {
    const chunks: Buffer[] = [];
    // Copies: writeSnapshot reuses its chunk buffer once the sink returns.
    this.writeSnapshot((chunk) => chunks.push(Buffer.from(chunk)));
    return Buffer.concat(chunks);
  }

  /**
   * The bytes of snapshot(), handed to `sink` in order as chunks of at most
   * SNAPSHOT_CHUNK_BYTES (a value above that goes as its own chunk). Why: the node writes
   * its snapshot straight to disk, so no buffer of the whole state (about the size of all
   * values) is ever allocated. A chunk is valid only during the sink call: the sink must
   * consume it synchronously. Returns the total byte count.
   */
  writeSnapshot(sink: (chunk: Buffer) => void): number {
    const out = new ChunkWriter(sink);
    let at = out.reserve(8);
    out.chunk.writeUInt32LE(SNAPSHOT_MAGIC, at);
    out.chunk.writeUInt32LE(this.sessions.size, at + 4);
    for (const [clientId, session] of this.sessions) {
      at = out.reserve(20);
      out.chunk.writeDoubleLE(clientId, at);
      out.chunk.writeDoubleLE(session.floor, at + 8);
      out.chunk.writeUInt32LE(session.applied.size, at + 16);
      // One seq at a time: a session's seqs (KV_SESSION_SEQS_MAX * 8 bytes) may exceed a chunk.
      for (const seq of session.applied) out.chunk.writeDoubleLE(seq, out.reserve(8));
    }
    at = out.reserve(4);
    out.chunk.writeUInt32LE(this.index.size, at);
    for (const handle of this.index.values()) {
      const key = this.keyOf(handle);
      const value = this.valueView(handle);
      at = out.reserve(2 + key.length + 4);
      out.chunk.writeUInt16LE(key.length, at);
      assert.equal(out.chunk.write(key, at + 2, "latin1"), key.length);
      out.chunk.writeUInt32LE(value.length, at + 2 + key.length);
      out.bytes(value);
    }
    out.flush();
    return out.total;
  }

  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void {
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.length);
    this.index.clear();
    this.arena.clear();
    this.sessions.clear();
    this.valueBytes = 0;
    this.keyBytes = 0;
    if (buffer.length === 0) return; // the empty state
    let offset = 0;
    assert.equal(buffer.readUInt32LE(offset), SNAPSHOT_MAGIC, "not a kv snapshot");
    offset += 4;
    const sessionCount = buffer.readUInt32LE(offset);
    offset += 4;
    for (let i = 0; i < sessionCount; i++) {
      const clientId = buffer.readDoubleLE(offset);
      const session: Session = { floor: buffer.readDoubleLE(offset + 8), applied: new Set() };
      const appliedCount = buffer.readUInt32LE(offset + 16);
      offset += 20;
      for (let j = 0; j < appliedCount; j++) {
        session.applied.add(buffer.readDoubleLE(offset));
        offset += 8;
      }
      this.sessions.set(clientId, session);
    }
    const count = buffer.readUInt32LE(offset);
    offset += 4;
    for (let i = 0; i < count; i++) {
      const keyLength = buffer.readUInt16LE(offset);
      offset += 2;
      const key = buffer.toString("latin1", offset, offset + keyLength);
      offset += keyLength;
      const valueLength = buffer.readUInt32LE(offset);
      offset += 4;
      const handle = this.store(key, buffer.subarray(offset, offset + valueLength));
      offset += valueLength;
      this.index.set(key, handle);
      this.keyBytes += key.length;
      this.valueBytes += valueLength;
    }
    assert.equal(offset, buffer.length, "trailing bytes in kv snapshot");
  }
}

/** Fills one reusable chunk and hands it to a sink whenever the next piece does not fit. */
class ChunkWriter {
  readonly chunk = Buffer.allocUnsafe(SNAPSHOT_CHUNK_BYTES);
  private used = 0;
  /** Bytes handed to the sink so far, or reserved in the current chunk. */
  total = 0;

  constructor(private readonly sink: (chunk: Buffer) => void) {}

  /** Claims `count` bytes of the current chunk (flushing it first when full); returns their offset. */
  reserve(count: number): number {
    assert(count <= SNAPSHOT_CHUNK_BYTES);
    if (this.used + count > SNAPSHOT_CHUNK_BYTES) this.flush();
    const at = this.used;
    this.used += count;
    this.total += count;
    return at;
  }

  /** Copies `data` into the chunk, or hands it over as a chunk of its own when larger than a chunk. */
  bytes(data: Buffer): void {
    if (data.length > SNAPSHOT_CHUNK_BYTES) {
      this.flush();
      this.sink(data);
      this.total += data.length;
      return;
    }
    data.copy(this.chunk, this.reserve(data.length));
  }

  flush(): void {
    if (this.used > 0) this.sink(this.chunk.subarray(0, this.used));
    this.used = 0;
  }
}
