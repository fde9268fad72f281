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
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../core/errors";
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../core/limits";

export const KV_SESSIONS_MAX = 10_000;
/** Per-entry metadata counted in logical bytes: value length and map slot bookkeeping. */
export const KV_ENTRY_META_BYTES = 8;
/** Most applied seqs a session remembers above its floor (a client's writes in flight). */
export const KV_SESSION_SEQS_MAX = 8_192;
const COMMAND_HEADER_BYTES = 1 + 8 + 8 + 8 + 2;
const OP_SET = 1;
const OP_DEL = 2;
const SNAPSHOT_MAGIC = 0x4b565331; // "KVS1"

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
  private readonly values = new Map<string, Buffer>();
  private readonly sessions = new Map<number, Session>();
  private valueBytes = 0;
  private keyBytes = 0;

  get(key: Buffer): Buffer | null {
    return this.values.get(key.toString("latin1")) ?? null;
  }

  /** Applies one committed command. Returns false for a duplicate (already applied). */
  apply(command: KvCommand): boolean {
    if (command.clientId !== 0 && !this.admit(command)) return false;
    const key = command.key.toString("latin1");
    const previous = this.values.get(key);
    if (command.op === "set") {
      assert(command.value.length <= VALUE_BYTES_MAX);
      // Copy: the command's bytes are a view into a log entry that compaction will drop.
      const value = Buffer.from(command.value);
      if (previous === undefined) this.keyBytes += key.length;
      else this.valueBytes -= previous.length;
      this.valueBytes += value.length;
      this.values.set(key, value);
    } else if (previous !== undefined) {
      this.keyBytes -= key.length;
      this.valueBytes -= previous.length;
      this.values.delete(key);
    }
    return true;
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
      keyCount: this.values.size,
      valueBytes: this.valueBytes,
      keyBytes: this.keyBytes,
      metaBytes: this.values.size * KV_ENTRY_META_BYTES,
    };
  }

  /** The whole state as bytes: magic, sessions, then (key, value) pairs. */
  snapshot(): Buffer {
    let size = 4 + 4 + 4;
    for (const session of this.sessions.values()) size += 8 + 8 + 4 + session.applied.size * 8;
    for (const [key, value] of this.values) size += 2 + key.length + 4 + value.length;
    const out = Buffer.allocUnsafe(size);
    let offset = 0;
    out.writeUInt32LE(SNAPSHOT_MAGIC, offset);
    offset += 4;
    out.writeUInt32LE(this.sessions.size, offset);
    offset += 4;
    for (const [clientId, session] of this.sessions) {
      out.writeDoubleLE(clientId, offset);
      out.writeDoubleLE(session.floor, offset + 8);
      out.writeUInt32LE(session.applied.size, offset + 16);
      offset += 20;
      for (const seq of session.applied) {
        out.writeDoubleLE(seq, offset);
        offset += 8;
      }
    }
    out.writeUInt32LE(this.values.size, offset);
    offset += 4;
    for (const [key, value] of this.values) {
      out.writeUInt16LE(key.length, offset);
      offset += 2;
      offset += out.write(key, offset, "latin1");
      out.writeUInt32LE(value.length, offset);
      offset += 4;
      value.copy(out, offset);
      offset += value.length;
    }
    assert.equal(offset, size);
    return out;
  }

  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void {
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.length);
    this.values.clear();
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
      const value = Buffer.from(buffer.subarray(offset, offset + valueLength));
      offset += valueLength;
      this.values.set(key, value);
      this.keyBytes += key.length;
      this.valueBytes += value.length;
    }
    assert.equal(offset, buffer.length, "trailing bytes in kv snapshot");
  }
}
