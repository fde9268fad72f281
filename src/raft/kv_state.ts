// The replicated state machine of raft mode: a map from key bytes to value bytes, applied
// in log order on every node, with client sessions for exactly-once commands, a TTL
// deadline per value, and the drops (evictions and expirations) the leader decides.
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
// Conditional writes (Redis's SET NX/XX/GET/KEEPTTL, GETDEL, APPEND) are decided here, at
// apply time, so every node decides the same: the condition is checked against the state the
// log built, never against what the leader saw when it proposed. Their results (whether the
// write happened, the value before, the length after) are remembered in the session, because
// a retry of one that was applied must get the first attempt's answer: the key's state by
// then says nothing about whether an NX won. Remembered results go when the client's floor
// passes them, with their session, or (oldest first, the same on every node) when they hold
// more than KV_REMEMBERED_BYTES_MAX; a retry of a conditional command whose result is gone
// gets no answer the node could vouch for, so the node says the outcome is unknown.
//
// Time: every command carries `atMs`, the leader's clock when it proposed it, and a TTL is
// an absolute deadline (epoch ms) written into the command by the leader. The state's clock
// (clockMs) is the largest atMs applied so far, so it never goes back even when a new
// leader's clock is behind. A command that finds its key past the deadline at that clock
// first drops it as expired; the same happens on every node, since the inputs are the log's.
// Nothing here reads a clock: replicas apply identically.
//
// Versions: a key's version is the log index of the set that wrote its value. The leader's
// drops name the version they chose (an eviction of a value a later set replaced changes
// nothing), and the nodes log each drop with it (src/jepsen reads those lines).
//
// Why values live in a ByteArena (src/storage/byte_arena.ts) and not one Buffer each: a
// small Buffer is a slice of Node's shared 8 KiB pool, so a long-lived value pins its pool
// slab together with every short-lived buffer cut from it (gRPC frames, replies), and each
// Buffer is also a typed-array object on the JS heap: memory grows several times faster
// than the values. An entry is one arena block:
//   [key length u16, top bit: has a deadline][key][version varint][value][deadline u48 if set]
// costing its bytes rounded up to a size class plus the arena's block header; the index is a
// typed-array hash table of block handles (src/storage/key_index.ts) that also keeps each
// key's access stamp (src/storage/access.ts) for eviction. The deadline sits at the block's
// end so EXPIRE and PERSIST of a key that has one rewrite 6 bytes in place (PERSIST writes 0).
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../core/errors";
import { EVICTION_POLICY_DEFAULT, EvictionPolicy } from "../core/eviction";
import { KEY_BYTES_MAX, KV_SESSION_SEQS_MAX, VALUE_BYTES_MAX } from "../core/limits";
import { crc32 } from "../codec/checksum";
import { initialStamp, touchStamp } from "../storage/access";
import { ByteArena, LARGE_BYTES, blockCapacity } from "../storage/byte_arena";
import { KeyIndex, bytesHash, latin1Equals } from "../storage/key_index";

export const KV_SESSIONS_MAX = 10_000;
/** The block's first field: key length, and in its top bit whether a deadline field follows the value. */
const ENTRY_KEY_LENGTH_BYTES = 2;
const HAS_DEADLINE_BIT = 0x8000;
const DEADLINE_BYTES = 6;
/** Most keys one drop command names. */
export const KV_DROP_KEYS_MAX = 65_536;
/** Most bytes one drop command takes (far below an entry's limit, whatever the key lengths). */
export const KV_DROP_COMMAND_BYTES_MAX = 8 * 1024 * 1024;
/**
 * Most bytes the remembered results of conditional commands hold (their previous values plus
 * REMEMBERED_FIXED_BYTES each); above it the oldest are forgotten. Why this size: a result
 * lives only until its client's next write settles, so only clients that died with a SET GET
 * or GETDEL in flight leave results behind, and those are bounded here instead of by the
 * session count times VALUE_BYTES_MAX. Not counted against the memory budget (kv_budget.ts).
 */
export const KV_REMEMBERED_BYTES_MAX = 2 * VALUE_BYTES_MAX;
/** What one remembered result counts besides its previous value (the map entry and object). */
const REMEMBERED_FIXED_BYTES = 64;
assert(KV_REMEMBERED_BYTES_MAX >= VALUE_BYTES_MAX + REMEMBERED_FIXED_BYTES, "the result of a SET GET of the largest value can be remembered");

// Command encodings. Ops 1 and 2 are the format before TTLs (no time, no deadline): still
// decoded, so a log written by an older node replays.
const OP_SET_V1 = 1;
const OP_DEL_V1 = 2;
const OP_SET = 3;
const OP_DEL = 4;
const OP_EXPIRE = 5;
const OP_DROP = 6;
/** A set with a flags byte: condition, KEEPTTL, return the previous value. */
const OP_SET_IF = 7;
/** GETDEL: a del that returns the value it removed. */
const OP_GETDEL = 8;
/** APPEND: the value becomes the old one (empty when absent) followed by the command's bytes; the TTL stays. */
const OP_APPEND = 9;
const CLIENT_OPS: ReadonlySet<number> = new Set([OP_SET_V1, OP_DEL_V1, OP_SET, OP_DEL, OP_EXPIRE, OP_SET_IF, OP_GETDEL, OP_APPEND]);
const V1_HEADER_BYTES = 1 + 8 + 8 + 8 + 2;
/** op, clientId, seq, floor, atMs, expiresAtMs, key length. */
const CLIENT_HEADER_BYTES = 1 + 8 + 8 + 8 + 8 + 8 + 2;
/** OP_SET_IF: the client header, then a flags byte (SET_FLAG_*), then the key. */
const FLAGGED_HEADER_BYTES = CLIENT_HEADER_BYTES + 1;
const SET_FLAG_NX = 0x01;
const SET_FLAG_XX = 0x02;
const SET_FLAG_KEEP_TTL = 0x04;
const SET_FLAG_RETURN_PREVIOUS = 0x08;
const SET_FLAGS_ALL = SET_FLAG_NX | SET_FLAG_XX | SET_FLAG_KEEP_TTL | SET_FLAG_RETURN_PREVIOUS;
/** op, atMs, reason, key count. */
const DROP_HEADER_BYTES = 1 + 8 + 1 + 4;
const DROP_KEY_FIXED_BYTES = 2 + 8;

/** What naming one key of `keyBytes` adds to a drop command. */
export function dropKeyBytes(keyBytes: number): number {
  return DROP_KEY_FIXED_BYTES + keyBytes;
}
const REASON_CODES = { evict: 1, expire: 2 } as const;

const SNAPSHOT_MAGIC_V1 = 0x4b565331; // "KVS1": before versions and deadlines
const SNAPSHOT_MAGIC_V2 = 0x4b565332; // "KVS2": before remembered results of conditional commands
const SNAPSHOT_MAGIC = 0x4b565333; // "KVS3"
/** A remembered result's fixed fields in a snapshot: clientId, seq, written, valueBytes, previous length (-1: none). */
const SNAPSHOT_RESULT_BYTES = 8 + 8 + 1 + 8 + 4;
/**
 * Chunk size of writeSnapshot: the only buffer a snapshot needs. Kept below glibc malloc's
 * default mmap threshold (128 KiB; nodes run on glibc when jemalloc is absent): freeing a
 * larger mmapped block raises that threshold, after which big transient buffers come from
 * the heap, whose freed pages may stay resident.
 */
export const SNAPSHOT_CHUNK_BYTES = 64 * 1024;

export type DropReason = "evict" | "expire";

/** One key a drop names: dropped only if it still holds `version` (an expiry: and is past its deadline). */
export interface DropKey {
  key: Buffer;
  version: number;
}

interface ClientFields {
  clientId: number;
  seq: number;
  floor: number;
  /** The leader's clock (epoch ms) when it proposed the command; 0 in commands of the old format. */
  atMs: number;
  key: Buffer;
}

/** nx: write only when the key holds no live value; xx: only when it does. */
export type SetCondition = "none" | "nx" | "xx";

export type KvCommand =
  /**
   * expiresAtMs: the value's deadline, epoch ms; 0 = none (a set clears an earlier TTL, as
   * Redis's SET does). keepTtl: keep the live value's deadline instead (none when absent).
   * returnPrevious: the result carries the value before.
   */
  | ({ op: "set"; value: Buffer; expiresAtMs: number; condition?: SetCondition; keepTtl?: boolean; returnPrevious?: boolean } & ClientFields)
  /** returnPrevious: GETDEL. */
  | ({ op: "del"; returnPrevious?: boolean } & ClientFields)
  /** Appends `value` to the live value (or to nothing), keeping its deadline; not written when the result would exceed VALUE_BYTES_MAX. */
  | ({ op: "append"; value: Buffer } & ClientFields)
  /** Sets the deadline of a live value (expiresAtMs > 0) or removes it (0: PERSIST). */
  | ({ op: "expire"; expiresAtMs: number } & ClientFields)
  /** The leader's evictions or expirations. */
  | { op: "drop"; atMs: number; reason: DropReason; keys: DropKey[] };

export function encodeCommand(command: KvCommand): Buffer {
  if (command.op === "drop") {
    assert(command.keys.length >= 1 && command.keys.length <= KV_DROP_KEYS_MAX);
    let bytes = DROP_HEADER_BYTES;
    for (const dropped of command.keys) bytes += dropKeyBytes(dropped.key.length);
    assert(bytes <= KV_DROP_COMMAND_BYTES_MAX, "a drop command within its size limit");
    const out = Buffer.allocUnsafe(bytes);
    out[0] = OP_DROP;
    out.writeDoubleLE(command.atMs, 1);
    out[9] = REASON_CODES[command.reason];
    out.writeUInt32LE(command.keys.length, 10);
    let offset = DROP_HEADER_BYTES;
    for (const dropped of command.keys) {
      assert(dropped.key.length >= 1 && dropped.key.length <= KEY_BYTES_MAX);
      out.writeUInt16LE(dropped.key.length, offset);
      dropped.key.copy(out, offset + 2);
      offset += 2 + dropped.key.length;
      out.writeDoubleLE(dropped.version, offset);
      offset += 8;
    }
    return out;
  }
  assert(command.key.length >= 1 && command.key.length <= KEY_BYTES_MAX);
  const value = command.op === "set" || command.op === "append" ? command.value : null;
  const flags = command.op === "set" ? setFlags(command) : 0;
  // A set without options keeps the plain format (what nodes before conditional writes read).
  const op =
    command.op === "set"
      ? flags === 0
        ? OP_SET
        : OP_SET_IF
      : command.op === "del"
        ? command.returnPrevious === true
          ? OP_GETDEL
          : OP_DEL
        : command.op === "append"
          ? OP_APPEND
          : OP_EXPIRE;
  const headerBytes = op === OP_SET_IF ? FLAGGED_HEADER_BYTES : CLIENT_HEADER_BYTES;
  const out = Buffer.allocUnsafe(headerBytes + command.key.length + (value?.length ?? 0));
  out[0] = op;
  out.writeDoubleLE(command.clientId, 1);
  out.writeDoubleLE(command.seq, 9);
  out.writeDoubleLE(command.floor, 17);
  out.writeDoubleLE(command.atMs, 25);
  out.writeDoubleLE(command.op === "set" || command.op === "expire" ? command.expiresAtMs : 0, 33);
  out.writeUInt16LE(command.key.length, 41);
  if (op === OP_SET_IF) out[CLIENT_HEADER_BYTES] = flags;
  command.key.copy(out, headerBytes);
  if (value !== null) value.copy(out, headerBytes + command.key.length);
  return out;
}

function setFlags(command: Extract<KvCommand, { op: "set" }>): number {
  const condition = command.condition ?? "none";
  assert(!(command.keepTtl === true && command.expiresAtMs !== 0), "KEEPTTL and a deadline exclude each other");
  return (
    (condition === "nx" ? SET_FLAG_NX : condition === "xx" ? SET_FLAG_XX : 0) |
    (command.keepTtl === true ? SET_FLAG_KEEP_TTL : 0) |
    (command.returnPrevious === true ? SET_FLAG_RETURN_PREVIOUS : 0)
  );
}

/** Whether a command's answer depends on the state it met (so a retry of it needs the remembered result). */
export function isConditional(command: KvCommand): boolean {
  if (command.op === "set") return setFlags(command) !== 0;
  if (command.op === "del") return command.returnPrevious === true;
  return command.op === "append";
}

/** The client session fields of a command, read without decoding the rest (null for drops). */
export function commandSession(data: Uint8Array): { clientId: number; seq: number } | null {
  if (data.byteLength < V1_HEADER_BYTES) return null;
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!CLIENT_OPS.has(buffer[0])) return null;
  return { clientId: buffer.readDoubleLE(1), seq: buffer.readDoubleLE(9) };
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.length);
  if (buffer.length < 1) throw new InvalidArgumentError("empty command");
  const op = buffer[0];
  if (op === OP_DROP) return decodeDrop(buffer);
  const v1 = op === OP_SET_V1 || op === OP_DEL_V1;
  if (!CLIENT_OPS.has(op)) throw new InvalidArgumentError(`unknown command op ${op}`);
  const headerBytes = v1 ? V1_HEADER_BYTES : op === OP_SET_IF ? FLAGGED_HEADER_BYTES : CLIENT_HEADER_BYTES;
  if (buffer.length < headerBytes) throw new InvalidArgumentError("command too short");
  const keyBytes = buffer.readUInt16LE(v1 ? headerBytes - 2 : 41);
  if (keyBytes < 1 || headerBytes + keyBytes > buffer.length) throw new InvalidArgumentError("bad command key length");
  const fields: ClientFields = {
    clientId: buffer.readDoubleLE(1),
    seq: buffer.readDoubleLE(9),
    floor: buffer.readDoubleLE(17),
    atMs: v1 ? 0 : buffer.readDoubleLE(25),
    key: buffer.subarray(headerBytes, headerBytes + keyBytes),
  };
  const expiresAtMs = v1 ? 0 : buffer.readDoubleLE(33);
  if (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < 0) throw new InvalidArgumentError("bad command deadline");
  const value = buffer.subarray(headerBytes + keyBytes);
  if (op === OP_SET || op === OP_SET_V1) return { op: "set", ...fields, value, expiresAtMs };
  if (op === OP_SET_IF) {
    const flags = buffer[CLIENT_HEADER_BYTES];
    if ((flags & ~SET_FLAGS_ALL) !== 0 || (flags & SET_FLAG_NX && flags & SET_FLAG_XX) || (flags & SET_FLAG_KEEP_TTL && expiresAtMs !== 0)) {
      throw new InvalidArgumentError(`bad set flags ${flags}`);
    }
    const condition: SetCondition = (flags & SET_FLAG_NX) !== 0 ? "nx" : (flags & SET_FLAG_XX) !== 0 ? "xx" : "none";
    return { op: "set", ...fields, value, expiresAtMs, condition, keepTtl: (flags & SET_FLAG_KEEP_TTL) !== 0, returnPrevious: (flags & SET_FLAG_RETURN_PREVIOUS) !== 0 };
  }
  if (op === OP_DEL || op === OP_DEL_V1) return { op: "del", ...fields };
  if (op === OP_GETDEL) return { op: "del", ...fields, returnPrevious: true };
  if (op === OP_APPEND) return { op: "append", ...fields, value };
  return { op: "expire", ...fields, expiresAtMs };
}

function decodeDrop(buffer: Buffer): KvCommand {
  if (buffer.length < DROP_HEADER_BYTES) throw new InvalidArgumentError("drop command too short");
  const reasonCode = buffer[9];
  const reason: DropReason | null = reasonCode === REASON_CODES.evict ? "evict" : reasonCode === REASON_CODES.expire ? "expire" : null;
  if (reason === null) throw new InvalidArgumentError(`unknown drop reason ${reasonCode}`);
  const count = buffer.readUInt32LE(10);
  if (count < 1 || count > KV_DROP_KEYS_MAX) throw new InvalidArgumentError(`bad drop key count ${count}`);
  const keys: DropKey[] = [];
  let offset = DROP_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (offset + 2 > buffer.length) throw new InvalidArgumentError("drop command too short");
    const keyBytes = buffer.readUInt16LE(offset);
    if (keyBytes < 1 || offset + DROP_KEY_FIXED_BYTES + keyBytes > buffer.length) throw new InvalidArgumentError("bad drop key length");
    const key = buffer.subarray(offset + 2, offset + 2 + keyBytes);
    offset += 2 + keyBytes;
    keys.push({ key, version: buffer.readDoubleLE(offset) });
    offset += 8;
  }
  if (offset !== buffer.length) throw new InvalidArgumentError("trailing bytes in drop command");
  return { op: "drop", atMs: buffer.readDoubleLE(1), reason, keys };
}

/** A value that left the state without a client's del: evicted, or expired. */
export interface DroppedKey {
  key: string;
  version: number;
  /** CRC-32 of the value (the jepsen runner maps it back to the value it wrote; values are never logged). */
  valueCrc32: number;
  reason: DropReason;
  /** The leader's clock when it proposed the command that dropped it (epoch ms). */
  atMs: number;
}

/** What a write did to its key: what a conditional command's client is told (and a retry of it, from the session). */
export interface KvWriteOutcome {
  /** The write happened: its condition held (always, for writes without one), and an append fit. */
  written: boolean;
  /** The live value before the command, when it asked (returnPrevious, GETDEL); null otherwise or when absent. */
  previous: Buffer | null;
  /** The length of the key's value after the command (APPEND's answer); 0 when absent. */
  valueBytes: number;
}

/**
 * What applying a command did. applied: false for a duplicate of a client's command (already
 * applied). existed: whether the key held a live value (Redis's 1 / 0 for DEL and EXPIRE);
 * hadDeadline: expire, whether that value had a TTL (PERSIST's 1 / 0). dropped: values that
 * left as evictions or expiries, including one found past its deadline by this command.
 * outcome: set, del and append; for a duplicate, the first application's as remembered (null
 * when it is not: a command without a condition, or a result already forgotten).
 */
export interface KvApplyResult {
  applied: boolean;
  existed: boolean;
  hadDeadline: boolean;
  dropped: DroppedKey[];
  outcome: KvWriteOutcome | null;
}

export interface KvStateStats {
  keyCount: number;
  valueBytes: number;
  keyBytes: number;
  metaBytes: number;
}

/** What eviction and expiry need to know of an entry, without its value. */
export interface KvEntrySummary {
  key: string;
  version: number;
  /** Deadline, epoch ms; 0: none. */
  expiresAtMs: number;
  /** The index slot's access stamp (access.ts). */
  stamp: number;
  /** The block's capacity: what dropping it returns to the arena. */
  bytes: number;
}

interface Session {
  floor: number;
  applied: Set<number>;
}

const NO_DROPS: DroppedKey[] = [];

export class KvState {
  private readonly arena = new ByteArena();
  /** Key bytes as a latin1 string (one char per byte, binary safe) → arena handle of its entry. */
  private readonly index = new KeyIndex({
    matches: (handle, key) => this.keyMatches(handle, key),
    hashOf: (handle) => bytesHash(this.arena.bufferOf(handle), this.arena.dataOffset(handle) + ENTRY_KEY_LENGTH_BYTES, this.keyLength(handle)),
  });
  private readonly sessions = new Map<number, Session>();
  /** Results of applied conditional commands by sessionKey-like "clientId:seq", oldest first. */
  private readonly remembered = new Map<string, KvWriteOutcome>();
  private rememberedBytes = 0;
  private readonly policy: EvictionPolicy;
  private valueBytes = 0;
  private keyBytes = 0;
  private metaBytes = 0;
  /** Keys whose value has a deadline. */
  private volatileCount = 0;
  private clock = 0;

  constructor(options: { policy?: EvictionPolicy } = {}) {
    this.policy = options.policy ?? EVICTION_POLICY_DEFAULT;
  }

  /** The largest leader time applied (epoch ms): the state's notion of now. */
  get clockMs(): number {
    return this.clock;
  }

  /** Keys whose value has a TTL. */
  get volatileKeys(): number {
    return this.volatileCount;
  }

  get keyCount(): number {
    return this.index.size;
  }

  /**
   * The value of `key`, or null. A copy for values packed in arena slabs: their block is
   * reused by a later write, possibly while the reply holding this value is still being
   * encoded. Values above LARGE_BYTES have a Buffer of their own that is never rewritten
   * (a new value gets a new one), so a view of it is safe and saves copying a big value.
   * Expiry is the caller's to judge first (summary().expiresAtMs): this returns what is stored.
   */
  get(key: Buffer): Buffer | null {
    const handle = this.index.get(key.toString("latin1"));
    if (handle === undefined) return null;
    const view = this.valueView(handle);
    return this.arena.size(handle) > LARGE_BYTES ? view : Buffer.from(view);
  }

  /** The length of `key`'s stored value without copying it; null when absent (expiry not judged, as get()). */
  valueLength(key: string): number | null {
    const handle = this.index.get(key);
    return handle === undefined ? null : this.valueSpan(handle).length;
  }

  /** Version, deadline, stamp and size of `key`'s entry; null when absent. */
  summary(key: string): KvEntrySummary | null {
    const slot = this.index.slotOf(key);
    return slot < 0 ? null : this.summaryAt(slot);
  }

  /** Marks an access (a read) now: the stamp eviction ranks by. `chance` in [0, 1) (LFU). */
  touch(key: Buffer, nowMs: number, chance: number): void {
    const slot = this.index.slotOf(key.toString("latin1"));
    if (slot >= 0) this.index.setAccess(slot, touchStamp(this.policy, this.index.accessAt(slot), nowMs, chance));
  }

  /** Up to `count` entries at random (`draw(n)`: a uniform integer below n). */
  sample(count: number, draw: (below: number) => number): KvEntrySummary[] {
    return this.index.sample(count, draw).map((slot) => this.summaryAt(slot));
  }

  /**
   * The entries with a deadline at or before `nowMs` among `slotsMax` index slots from
   * `cursor` on, and the cursor to go on from (0 once a pass over the table ended).
   */
  scanExpired(cursor: number, slotsMax: number, nowMs: number): { expired: KvEntrySummary[]; next: number } {
    const { slots, next } = this.index.scan(cursor, slotsMax);
    const expired: KvEntrySummary[] = [];
    for (const slot of slots) {
      const expiresAtMs = this.deadlineOf(this.index.handleAt(slot));
      if (expiresAtMs !== 0 && expiresAtMs <= nowMs) expired.push(this.summaryAt(slot));
    }
    return { expired, next };
  }

  /** Slots of the key index (scanExpired walks them). */
  get indexSlots(): number {
    return this.index.capacity;
  }

  /**
   * Memory this state occupies and could not hand to a new entry without growing: the arena
   * (slabs and large blocks) minus its blocks freed for reuse and the newest slab's untouched
   * tail, plus the key index. Dropping an entry lowers it by the entry's block; what the
   * memory budget is checked against.
   */
  usedBytes(): number {
    return this.arena.inUseBytes() + this.index.tableBytes();
  }

  /** The arena's blocks freed and waiting for reuse by an entry of their size class. */
  freeBytes(): number {
    return this.arena.stats().freeBytes;
  }

  indexBytes(): number {
    return this.index.tableBytes();
  }

  /**
   * The memory an entry for this key and value would take (its block, and for a new key the
   * key index's growth when it must double), and the block of the key's current entry (0
   * when absent): a write's memory growth is their difference.
   */
  entryBytes(key: string, valueBytes: number, hasDeadline: boolean, version: number): { next: number; current: number } {
    const handle = this.index.get(key);
    const dataBytes = ENTRY_KEY_LENGTH_BYTES + key.length + varintBytes(version) + valueBytes + (hasDeadline ? DEADLINE_BYTES : 0);
    const indexGrowth = handle === undefined ? this.index.growthBytes() : 0;
    return { next: blockCapacity(dataBytes) + indexGrowth, current: handle === undefined ? 0 : blockCapacity(this.arena.size(handle)) };
  }

  /** Whether the session of `clientId` already applied `seq` (a retry of it would change nothing). */
  sessionApplied(clientId: number, seq: number): boolean {
    const session = this.sessions.get(clientId);
    return session !== undefined && (seq < session.floor || session.applied.has(seq));
  }

  /** The remembered result of a conditional command the session of `clientId` applied as `seq`; null when not kept. */
  rememberedOutcome(clientId: number, seq: number): KvWriteOutcome | null {
    return this.remembered.get(rememberedKey(clientId, seq)) ?? null;
  }

  /** Remembered results and the bytes they count (for tests and stats). */
  rememberedStats(): { count: number; bytes: number } {
    return { count: this.remembered.size, bytes: this.rememberedBytes };
  }

  /**
   * Applies one committed command at log index `index` (a set's version). A client's
   * duplicate changes nothing (applied: false).
   */
  apply(command: KvCommand, index = 0): KvApplyResult {
    if (command.atMs > this.clock) this.clock = command.atMs;
    if (command.op === "drop") return { applied: true, existed: false, hadDeadline: false, dropped: this.applyDrop(command), outcome: null };
    if (command.clientId !== 0 && !this.admit(command)) {
      return { applied: false, existed: false, hadDeadline: false, dropped: NO_DROPS, outcome: this.rememberedOutcome(command.clientId, command.seq) };
    }
    const result = this.applyClient(command, index);
    if (command.clientId !== 0 && isConditional(command)) {
      assert(result.outcome !== null);
      this.remember(command.clientId, command.seq, result.outcome);
    }
    return result;
  }

  private applyClient(command: Exclude<KvCommand, { op: "drop" }>, index: number): KvApplyResult {
    const atMs = command.atMs;
    const key = command.key.toString("latin1");
    let dropped = NO_DROPS;
    let previous = this.index.get(key);
    if (previous !== undefined && this.expired(previous)) {
      // Past its deadline at this command's time: it expired before the command came.
      dropped = [this.dropEntry(key, previous, "expire", atMs)];
      previous = undefined;
    }
    switch (command.op) {
      case "set": {
        assert(command.value.length <= VALUE_BYTES_MAX);
        const existed = previous !== undefined;
        const before = command.returnPrevious === true && previous !== undefined ? Buffer.from(this.valueView(previous)) : null;
        const condition = command.condition ?? "none";
        if ((condition === "nx" && existed) || (condition === "xx" && !existed)) {
          const valueBytes = previous === undefined ? 0 : this.valueSpan(previous).length;
          return { applied: true, existed, hadDeadline: false, dropped, outcome: { written: false, previous: before, valueBytes } };
        }
        const expiresAtMs = command.keepTtl === true && previous !== undefined ? this.deadlineOf(previous) : command.expiresAtMs;
        this.write(key, index, command.value, expiresAtMs, previous);
        return { applied: true, existed, hadDeadline: false, dropped, outcome: { written: true, previous: before, valueBytes: command.value.length } };
      }
      case "append": {
        const beforeBytes = previous === undefined ? 0 : this.valueSpan(previous).length;
        if (beforeBytes + command.value.length > VALUE_BYTES_MAX) {
          return { applied: true, existed: previous !== undefined, hadDeadline: false, dropped, outcome: { written: false, previous: null, valueBytes: beforeBytes } };
        }
        const after = previous === undefined ? command.value : Buffer.concat([this.valueView(previous), command.value]);
        // Redis's APPEND keeps the TTL.
        this.write(key, index, after, previous === undefined ? 0 : this.deadlineOf(previous), previous);
        return { applied: true, existed: previous !== undefined, hadDeadline: false, dropped, outcome: { written: true, previous: null, valueBytes: after.length } };
      }
      case "del": {
        const before = command.returnPrevious === true && previous !== undefined ? Buffer.from(this.valueView(previous)) : null;
        if (previous !== undefined) {
          this.index.delete(key);
          this.keyBytes -= key.length;
          this.release(previous);
        }
        return { applied: true, existed: previous !== undefined, hadDeadline: false, dropped, outcome: { written: previous !== undefined, previous: before, valueBytes: 0 } };
      }
      case "expire": {
        if (previous === undefined) return { applied: true, existed: false, hadDeadline: false, dropped, outcome: null };
        const hadDeadline = this.deadlineOf(previous) !== 0;
        // PERSIST of a value without a TTL changes nothing.
        if (command.expiresAtMs !== 0 || hadDeadline) this.setDeadline(key, previous, command.expiresAtMs);
        return { applied: true, existed: true, hadDeadline, dropped, outcome: null };
      }
    }
  }

  /** Stores `value` as the key's entry of version `index`, replacing `previous` (live) when there is one. */
  private write(key: string, index: number, value: Uint8Array, expiresAtMs: number, previous: number | undefined): void {
    // Copied into the arena: the command's bytes are a view into a log entry that
    // compaction will drop.
    const handle = this.store(key, index, value, expiresAtMs);
    // The index first: finding the key's slot reads the key from the previous block.
    const slot = this.index.set(key, handle, initialStamp(this.policy, this.clock));
    if (previous === undefined) {
      this.keyBytes += key.length;
    } else {
      // An overwrite is an access (LFU: counted with a chance drawn from the index, so
      // every node draws the same).
      this.index.setAccess(slot, touchStamp(this.policy, this.index.accessAt(slot), this.clock, fraction(index)));
      this.release(previous);
    }
    this.account(handle, 1);
  }

  /** Keeps a conditional command's result for its retries; forgets the oldest beyond KV_REMEMBERED_BYTES_MAX. */
  private remember(clientId: number, seq: number, outcome: KvWriteOutcome): void {
    const key = rememberedKey(clientId, seq);
    assert(!this.remembered.has(key), "a command is applied once");
    this.remembered.set(key, outcome);
    this.rememberedBytes += rememberedCost(outcome);
    while (this.rememberedBytes > KV_REMEMBERED_BYTES_MAX && this.remembered.size > 0) {
      this.forget(this.remembered.keys().next().value as string);
    }
  }

  private forget(key: string): void {
    const outcome = this.remembered.get(key);
    if (outcome === undefined) return;
    this.remembered.delete(key);
    this.rememberedBytes -= rememberedCost(outcome);
  }

  /** Forgets what the session of `clientId` remembers for `seq` (settled: the client will not retry it). */
  private settled(clientId: number, seq: number): void {
    if (this.remembered.size > 0) this.forget(rememberedKey(clientId, seq));
  }

  private applyDrop(command: Extract<KvCommand, { op: "drop" }>): DroppedKey[] {
    const dropped: DroppedKey[] = [];
    for (const candidate of command.keys) {
      const key = candidate.key.toString("latin1");
      const handle = this.index.get(key);
      if (handle === undefined || this.versionOf(handle) !== candidate.version) continue; // gone, or rewritten since the choice
      // An expiry stands only if the value is still past its deadline (an EXPIRE or PERSIST
      // after the leader's choice moved it).
      if (command.reason === "expire" && !this.expired(handle)) continue;
      dropped.push(this.dropEntry(key, handle, command.reason, command.atMs));
    }
    return dropped;
  }

  private expired(handle: number): boolean {
    const deadline = this.deadlineOf(handle);
    return deadline !== 0 && deadline <= this.clock;
  }

  private dropEntry(key: string, handle: number, reason: DropReason, atMs: number): DroppedKey {
    const dropped: DroppedKey = { key, version: this.versionOf(handle), valueCrc32: crc32(this.valueView(handle)), reason, atMs };
    this.index.delete(key);
    this.keyBytes -= key.length;
    this.release(handle);
    return dropped;
  }

  /** A new arena block holding `key`, its version, a copy of `value` and the deadline. */
  private store(key: string, version: number, value: Uint8Array, expiresAtMs: number): number {
    assert(key.length <= KEY_BYTES_MAX);
    assert(Number.isSafeInteger(expiresAtMs) && expiresAtMs >= 0 && expiresAtMs < 2 ** (8 * DEADLINE_BYTES));
    const hasDeadline = expiresAtMs !== 0;
    const handle = this.arena.alloc(ENTRY_KEY_LENGTH_BYTES + key.length + varintBytes(version) + value.length + (hasDeadline ? DEADLINE_BYTES : 0));
    const buffer = this.arena.bufferOf(handle);
    const offset = this.arena.dataOffset(handle);
    buffer.writeUInt16LE(key.length | (hasDeadline ? HAS_DEADLINE_BIT : 0), offset);
    assert.equal(buffer.write(key, offset + ENTRY_KEY_LENGTH_BYTES, "latin1"), key.length);
    const valueOffset = writeVarint(buffer, offset + ENTRY_KEY_LENGTH_BYTES + key.length, version);
    buffer.set(value, valueOffset);
    if (hasDeadline) buffer.writeUIntLE(expiresAtMs, valueOffset + value.length, DEADLINE_BYTES);
    return handle;
  }

  /**
   * The live keys in `slotsMax` index slots from `cursor` on (expired ones, by `nowMs`, left
   * out), and where to continue (0: a pass ended): RESP's SCAN and KEYS.
   */
  scan(cursor: number, slotsMax: number, nowMs: number): { keys: Buffer[]; next: number } {
    const { slots, next } = this.index.scan(cursor, slotsMax);
    const keys: Buffer[] = [];
    for (const slot of slots) {
      const handle = this.index.handleAt(slot);
      const deadline = this.deadlineOf(handle);
      if (deadline !== 0 && deadline <= nowMs) continue;
      const start = this.arena.dataOffset(handle) + ENTRY_KEY_LENGTH_BYTES;
      keys.push(Buffer.from(this.arena.bufferOf(handle).subarray(start, start + this.keyLength(handle))));
    }
    return { keys, next };
  }

  /** Sets a live entry's deadline: in place when it has the field, else in a new block. */
  private setDeadline(key: string, handle: number, expiresAtMs: number): void {
    const buffer = this.arena.bufferOf(handle);
    const offset = this.arena.dataOffset(handle);
    if ((buffer.readUInt16LE(offset) & HAS_DEADLINE_BIT) !== 0) {
      this.volatileCount += (expiresAtMs !== 0 ? 1 : 0) - (this.deadlineOf(handle) !== 0 ? 1 : 0);
      buffer.writeUIntLE(expiresAtMs, offset + this.arena.size(handle) - DEADLINE_BYTES, DEADLINE_BYTES);
      return;
    }
    assert(expiresAtMs !== 0, "PERSIST of an entry without a deadline field changes nothing");
    const replacement = this.store(key, this.versionOf(handle), this.valueView(handle), expiresAtMs);
    this.index.set(key, replacement);
    this.release(handle);
    this.account(replacement, 1);
  }

  private keyLength(handle: number): number {
    return this.arena.bufferOf(handle).readUInt16LE(this.arena.dataOffset(handle)) & ~HAS_DEADLINE_BIT;
  }

  private keyOf(handle: number): string {
    const offset = this.arena.dataOffset(handle) + ENTRY_KEY_LENGTH_BYTES;
    return this.arena.bufferOf(handle).toString("latin1", offset, offset + this.keyLength(handle));
  }

  private versionOf(handle: number): number {
    return readVarint(this.arena.bufferOf(handle), this.arena.dataOffset(handle) + ENTRY_KEY_LENGTH_BYTES + this.keyLength(handle)).value;
  }

  /** The deadline (epoch ms), 0 when none. */
  private deadlineOf(handle: number): number {
    const buffer = this.arena.bufferOf(handle);
    const offset = this.arena.dataOffset(handle);
    if ((buffer.readUInt16LE(offset) & HAS_DEADLINE_BIT) === 0) return 0;
    return buffer.readUIntLE(offset + this.arena.size(handle) - DEADLINE_BYTES, DEADLINE_BYTES);
  }

  /** Where the value starts in the block's buffer, and its length. */
  private valueSpan(handle: number): { start: number; length: number } {
    const buffer = this.arena.bufferOf(handle);
    const offset = this.arena.dataOffset(handle);
    const first = buffer.readUInt16LE(offset);
    const keyLength = first & ~HAS_DEADLINE_BIT;
    const start = readVarint(buffer, offset + ENTRY_KEY_LENGTH_BYTES + keyLength).end;
    const end = offset + this.arena.size(handle) - ((first & HAS_DEADLINE_BIT) !== 0 ? DEADLINE_BYTES : 0);
    return { start, length: end - start };
  }

  /** The value bytes of an entry, as a view into its block. */
  private valueView(handle: number): Buffer {
    const { start, length } = this.valueSpan(handle);
    return this.arena.bufferOf(handle).subarray(start, start + length);
  }

  private summaryAt(slot: number): KvEntrySummary {
    const handle = this.index.handleAt(slot);
    return {
      key: this.keyOf(handle),
      version: this.versionOf(handle),
      expiresAtMs: this.deadlineOf(handle),
      stamp: this.index.accessAt(slot),
      bytes: blockCapacity(this.arena.size(handle)),
    };
  }

  private keyMatches(handle: number, key: string): boolean {
    return this.keyLength(handle) === key.length && latin1Equals(this.arena.bufferOf(handle), this.arena.dataOffset(handle) + ENTRY_KEY_LENGTH_BYTES, key);
  }

  /** Adds (sign 1) or removes (-1) an entry's value, meta bytes and deadline from the counts. */
  private account(handle: number, sign: 1 | -1): void {
    const { length } = this.valueSpan(handle);
    this.valueBytes += sign * length;
    this.metaBytes += sign * (this.arena.size(handle) - this.keyLength(handle) - length);
    if (this.deadlineOf(handle) !== 0) this.volatileCount += sign;
  }

  /** Frees an entry's block and takes it out of the accounting. */
  private release(handle: number): void {
    this.account(handle, -1);
    this.arena.release(handle);
  }

  /** Session bookkeeping; false when the command was applied before. */
  private admit(command: { clientId: number; seq: number; floor: number }): boolean {
    let session = this.sessions.get(command.clientId);
    if (session === undefined) {
      session = { floor: 0, applied: new Set() };
    } else {
      this.sessions.delete(command.clientId); // re-inserted below: most recently used last
    }
    this.sessions.set(command.clientId, session);
    while (this.sessions.size > KV_SESSIONS_MAX) {
      const evicted = this.sessions.keys().next().value as number;
      for (const seq of this.sessions.get(evicted)!.applied) this.settled(evicted, seq);
      this.sessions.delete(evicted);
    }
    if (command.floor > session.floor) {
      session.floor = command.floor;
      for (const seq of session.applied) {
        if (seq < session.floor) {
          session.applied.delete(seq);
          this.settled(command.clientId, seq);
        }
      }
    }
    if (command.seq < session.floor || session.applied.has(command.seq)) return false;
    session.applied.add(command.seq);
    // Bounded: a client never has more writes in flight than this; drop the oldest.
    while (session.applied.size > KV_SESSION_SEQS_MAX) {
      const oldest = Math.min(...session.applied);
      session.applied.delete(oldest);
      this.settled(command.clientId, oldest);
      session.floor = Math.max(session.floor, oldest + 1);
    }
    return true;
  }

  stats(): KvStateStats {
    return {
      keyCount: this.index.size,
      valueBytes: this.valueBytes,
      keyBytes: this.keyBytes,
      metaBytes: this.metaBytes,
    };
  }

  /** The whole state as bytes: magic, clock, sessions, (key, version, deadline, value) entries, then remembered results. */
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
    let at = out.reserve(16);
    out.chunk.writeUInt32LE(SNAPSHOT_MAGIC, at);
    out.chunk.writeDoubleLE(this.clock, at + 4);
    out.chunk.writeUInt32LE(this.sessions.size, at + 12);
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
      at = out.reserve(2 + key.length + 8 + 8 + 4);
      out.chunk.writeUInt16LE(key.length, at);
      assert.equal(out.chunk.write(key, at + 2, "latin1"), key.length);
      at += 2 + key.length;
      out.chunk.writeDoubleLE(this.versionOf(handle), at);
      out.chunk.writeDoubleLE(this.deadlineOf(handle), at + 8);
      out.chunk.writeUInt32LE(value.length, at + 16);
      out.bytes(value);
    }
    // Remembered results, oldest first (the order forgetting follows).
    out.chunk.writeUInt32LE(this.remembered.size, out.reserve(4));
    for (const [key, outcome] of this.remembered) {
      const [clientId, seq] = key.split(":").map(Number);
      at = out.reserve(SNAPSHOT_RESULT_BYTES);
      out.chunk.writeDoubleLE(clientId, at);
      out.chunk.writeDoubleLE(seq, at + 8);
      out.chunk[at + 16] = outcome.written ? 1 : 0;
      out.chunk.writeDoubleLE(outcome.valueBytes, at + 17);
      out.chunk.writeInt32LE(outcome.previous === null ? -1 : outcome.previous.length, at + 25);
      if (outcome.previous !== null) out.bytes(outcome.previous);
    }
    out.flush();
    return out.total;
  }

  /** Replaces the whole state with a snapshot's (of this format or an older one). */
  restore(data: Uint8Array): void {
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.length);
    this.index.clear();
    this.arena.clear();
    this.sessions.clear();
    this.remembered.clear();
    this.rememberedBytes = 0;
    this.valueBytes = 0;
    this.keyBytes = 0;
    this.metaBytes = 0;
    this.volatileCount = 0;
    this.clock = 0;
    if (buffer.length === 0) return; // the empty state
    let offset = 0;
    const magic = buffer.readUInt32LE(offset);
    assert(magic === SNAPSHOT_MAGIC || magic === SNAPSHOT_MAGIC_V2 || magic === SNAPSHOT_MAGIC_V1, "not a kv snapshot");
    const v1 = magic === SNAPSHOT_MAGIC_V1;
    offset += 4;
    if (!v1) {
      this.clock = buffer.readDoubleLE(offset);
      offset += 8;
    }
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
      let version = 0;
      let expiresAtMs = 0;
      if (!v1) {
        version = buffer.readDoubleLE(offset);
        expiresAtMs = buffer.readDoubleLE(offset + 8);
        offset += 16;
      }
      const valueLength = buffer.readUInt32LE(offset);
      offset += 4;
      const handle = this.store(key, version, buffer.subarray(offset, offset + valueLength), expiresAtMs);
      offset += valueLength;
      this.index.set(key, handle, initialStamp(this.policy, this.clock));
      this.keyBytes += key.length;
      this.account(handle, 1);
    }
    if (magic === SNAPSHOT_MAGIC) {
      const resultCount = buffer.readUInt32LE(offset);
      offset += 4;
      for (let i = 0; i < resultCount; i++) {
        const clientId = buffer.readDoubleLE(offset);
        const seq = buffer.readDoubleLE(offset + 8);
        const written = buffer[offset + 16] === 1;
        const valueBytes = buffer.readDoubleLE(offset + 17);
        const previousBytes = buffer.readInt32LE(offset + 25);
        offset += SNAPSHOT_RESULT_BYTES;
        // A copy: the snapshot's bytes are not kept.
        const previous = previousBytes < 0 ? null : Buffer.from(buffer.subarray(offset, offset + previousBytes));
        offset += Math.max(previousBytes, 0);
        this.remember(clientId, seq, { written, previous, valueBytes });
      }
    }
    assert.equal(offset, buffer.length, "trailing bytes in kv snapshot");
  }
}

function rememberedKey(clientId: number, seq: number): string {
  return `${clientId}:${seq}`;
}

function rememberedCost(outcome: KvWriteOutcome): number {
  return REMEMBERED_FIXED_BYTES + (outcome.previous?.length ?? 0);
}

/** A deterministic draw in [0, 1) from a log index (the same on every node). */
function fraction(index: number): number {
  return ((Math.imul(index >>> 0, 0x9e3779b1) >>> 0) % 1_000_003) / 1_000_003;
}

function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes++;
  }
  return bytes;
}

/** Writes `value` as LEB128 at `offset`; returns the offset after it. */
function writeVarint(buffer: Buffer, offset: number, value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0);
  while (value >= 0x80) {
    buffer[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[offset++] = value;
  return offset;
}

function readVarint(buffer: Buffer, offset: number): { value: number; end: number } {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = buffer[offset++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, end: offset };
    scale *= 0x80;
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
