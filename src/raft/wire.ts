// Raft messages between their core form (src/raft/types.ts) and their protobuf form
// (proto/raft.proto). InstallSnapshot is cut into SnapshotChunk messages here, and an
// AppendEntries whose entry data exceed one piece into AppendChunk messages; MessageAssembler
// puts both back together on the receiving side.
//
// Why pieces for large appends: one message of a whole 64 MiB entry costs the sender several
// full copies in one go (protobuf's writer grows by doubling and shifts nested messages when
// it writes their lengths, then gRPC frames it), holding the event loop for hundreds of
// milliseconds, and the receiver sees nothing of it until the last byte arrived. Pieces of
// APPEND_PIECE_BYTES are encoded one at a time as the stream drains (peer_transport.ts), and
// the receiver copies each into place.
import assert from "node:assert/strict";
import { AppendChunk, AppendEntries as WireAppendEntries, EntryType as WireEntryType, Entry, PeerMessage } from "../gen/raft";
import { OWN_DATA_BYTES_MIN } from "./memory_log";
import { AppendEntries, EntryType, LogEntry, RaftMessage, Snapshot } from "./types";

export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Entry data per AppendChunk; an AppendEntries with more entry data than this goes in pieces. */
export const APPEND_PIECE_BYTES = 1024 * 1024;
/**
 * Entries at least this large get a buffer of their own when reassembled, which the log then
 * keeps as it is (MemoryLog.append copies only entries that share a larger buffer).
 */
const OWN_BUFFER_BYTES_MIN = OWN_DATA_BYTES_MIN;
/** Messages being reassembled at once (per kind); the oldest is dropped beyond. */
const ASSEMBLY_MAX = 16;
/** The largest reassembled message accepted (a snapshot, or an append's entries). */
const ASSEMBLY_BYTES_MAX = 8 * 1024 * 1024 * 1024;

const TO_WIRE: Record<EntryType, WireEntryType> = {
  command: WireEntryType.ENTRY_TYPE_COMMAND,
  config: WireEntryType.ENTRY_TYPE_CONFIG,
  noop: WireEntryType.ENTRY_TYPE_NOOP,
};

function entryToWire(entry: LogEntry): Entry {
  return { term: entry.term, index: entry.index, type: TO_WIRE[entry.type], data: Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength) };
}

function entryFromWire(entry: Entry): LogEntry {
  const type: EntryType =
    entry.type === WireEntryType.ENTRY_TYPE_CONFIG ? "config" : entry.type === WireEntryType.ENTRY_TYPE_NOOP ? "noop" : "command";
  return { term: entry.term, index: entry.index, type, data: entry.data };
}

/** One core message as one or more wire messages (several for a large InstallSnapshot). */
export function toWire(message: RaftMessage): PeerMessage[] {
  const base = { from: message.from, to: message.to, term: message.term };
  switch (message.type) {
    case "PreVote":
      return [{ ...base, body: { $case: "preVote", value: { lastLogIndex: message.lastLogIndex, lastLogTerm: message.lastLogTerm } } }];
    case "PreVoteResponse":
      return [{ ...base, body: { $case: "preVoteResponse", value: { granted: message.granted } } }];
    case "RequestVote":
      return [
        {
          ...base,
          body: {
            $case: "requestVote",
            value: { lastLogIndex: message.lastLogIndex, lastLogTerm: message.lastLogTerm, leadershipTransfer: message.leadershipTransfer },
          },
        },
      ];
    case "RequestVoteResponse":
      return [{ ...base, body: { $case: "requestVoteResponse", value: { granted: message.granted } } }];
    case "AppendEntries": {
      let dataBytes = 0;
      for (const entry of message.entries) dataBytes += entry.data.byteLength;
      if (dataBytes > APPEND_PIECE_BYTES) return appendPieces(message, dataBytes);
      return [
        {
          ...base,
          body: {
            $case: "appendEntries",
            value: {
              prevLogIndex: message.prevLogIndex,
              prevLogTerm: message.prevLogTerm,
              entries: message.entries.map(entryToWire),
              leaderCommitIndex: message.leaderCommitIndex,
            },
          },
        },
      ];
    }
    case "AppendEntriesResponse":
      return [
        {
          ...base,
          body: {
            $case: "appendEntriesResponse",
            value: {
              success: message.success,
              matchIndex: message.matchIndex,
              rejectedLogIndex: message.rejectedLogIndex,
              conflictIndex: message.conflictIndex,
              conflictTerm: message.conflictTerm,
            },
          },
        },
      ];
    case "Heartbeat":
      return [{ ...base, body: { $case: "heartbeat", value: { commitIndex: message.commitIndex, readRound: message.readRound } } }];
    case "HeartbeatResponse":
      return [{ ...base, body: { $case: "heartbeatResponse", value: { commitIndex: 0, readRound: message.readRound } } }];
    case "InstallSnapshot": {
      const data = message.snapshot.data;
      const meta = { lastIndex: message.snapshot.meta.lastIndex, lastTerm: message.snapshot.meta.lastTerm, voters: [...message.snapshot.meta.voters] };
      const chunks: PeerMessage[] = [];
      let offset = 0;
      do {
        const end = Math.min(data.byteLength, offset + SNAPSHOT_CHUNK_BYTES);
        chunks.push({
          ...base,
          body: {
            $case: "snapshotChunk",
            value: {
              meta,
              totalBytes: data.byteLength,
              offset,
              data: Buffer.from(data.buffer, data.byteOffset + offset, end - offset),
              last: end === data.byteLength,
            },
          },
        });
        offset = end;
      } while (offset < data.byteLength);
      return chunks;
    }
    case "InstallSnapshotResponse":
      return [{ ...base, body: { $case: "installSnapshotResponse", value: { matchIndex: message.matchIndex } } }];
    case "TimeoutNow":
      return [{ ...base, body: { $case: "timeoutNow", value: {} } }];
  }
}

/**
 * An AppendEntries as AppendChunk pieces of at most APPEND_PIECE_BYTES of entry data each. A
 * piece's data are views of the entries' data where they fall within one entry; a piece that
 * spans entries is copied together (at most one piece's bytes).
 */
function appendPieces(message: AppendEntries, dataBytes: number): PeerMessage[] {
  const base = { from: message.from, to: message.to, term: message.term };
  const head: WireAppendEntries = {
    prevLogIndex: message.prevLogIndex,
    prevLogTerm: message.prevLogTerm,
    entries: message.entries.map((entry) => entryToWire({ ...entry, data: new Uint8Array(0) })),
    leaderCommitIndex: message.leaderCommitIndex,
  };
  const entryBytes = message.entries.map((entry) => entry.data.byteLength);
  const pieces: PeerMessage[] = [];
  let entryIndex = 0;
  let entryOffset = 0;
  for (let offset = 0; offset < dataBytes; ) {
    const pieceBytes = Math.min(APPEND_PIECE_BYTES, dataBytes - offset);
    const parts: Uint8Array[] = [];
    let needed = pieceBytes;
    while (needed > 0) {
      const data = message.entries[entryIndex].data;
      const take = Math.min(needed, data.byteLength - entryOffset);
      if (take > 0) parts.push(data.subarray(entryOffset, entryOffset + take));
      entryOffset += take;
      needed -= take;
      if (entryOffset === data.byteLength) {
        entryIndex++;
        entryOffset = 0;
      }
    }
    const joined = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    const chunk: AppendChunk = {
      head: offset === 0 ? head : undefined,
      entryBytes: offset === 0 ? entryBytes : [],
      offset,
      data: Buffer.from(joined.buffer, joined.byteOffset, joined.byteLength),
      last: offset + pieceBytes === dataBytes,
    };
    pieces.push({ ...base, body: { $case: "appendChunk", value: chunk } });
    offset += pieceBytes;
  }
  return pieces;
}

interface SnapshotAssembly {
  term: number;
  lastIndex: number;
  data: Buffer;
  receivedBytes: number;
}

interface AppendAssembly {
  term: number;
  head: WireAppendEntries;
  /** Each entry's data buffer, filled piece by piece. */
  buffers: Buffer[];
  /** Where each entry's data starts in the concatenation of all of them. */
  starts: number[];
  totalBytes: number;
  receivedBytes: number;
}

/**
 * Why a decoded peer message is not one a Raft node could have sent, or null when it is
 * well formed. RaftCore asserts these shapes (its inputs come from itself and its peers), so
 * the transport drops a message that breaks them before the core sees it: a stranger's or
 * a corrupted message must not stop a node (found by the port fuzzer: an AppendEntries
 * whose entries did not follow prevLogIndex failed the core's assertion and killed it).
 * Checked: every number a non-negative safe integer; entries numbered from prevLogIndex + 1
 * one by one, with terms that never decrease, from prevLogTerm up to the message's term.
 */
export function malformedMessage(message: RaftMessage): string | null {
  const count = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;
  if (!count(message.term)) return `term ${message.term}`;
  switch (message.type) {
    case "PreVote":
    case "RequestVote":
      return count(message.lastLogIndex) && count(message.lastLogTerm) ? null : "last log index or term";
    case "AppendEntries": {
      if (!count(message.prevLogIndex) || !count(message.prevLogTerm) || !count(message.leaderCommitIndex)) return "prev log index or term, or commit index";
      if (message.prevLogTerm > message.term) return `prev log term ${message.prevLogTerm} above the message's term ${message.term}`;
      let previousTerm = message.prevLogTerm;
      for (let i = 0; i < message.entries.length; i++) {
        const entry = message.entries[i];
        if (entry.index !== message.prevLogIndex + 1 + i) return `entry ${i} has index ${entry.index}, not ${message.prevLogIndex + 1 + i}`;
        if (!count(entry.term) || entry.term < previousTerm || entry.term > message.term) return `entry ${entry.index} has term ${entry.term}`;
        previousTerm = entry.term;
      }
      return null;
    }
    case "AppendEntriesResponse":
      return [message.matchIndex, message.rejectedLogIndex, message.conflictIndex, message.conflictTerm].every(count) ? null : "indexes";
    case "Heartbeat":
      return count(message.commitIndex) && count(message.readRound) ? null : "commit index or read round";
    case "HeartbeatResponse":
      return count(message.readRound) ? null : "read round";
    case "InstallSnapshot": {
      const meta = message.snapshot.meta;
      if (!count(meta.lastIndex) || !count(meta.lastTerm) || meta.lastTerm > message.term) return "snapshot index or term";
      return meta.voters.length > 0 ? null : "snapshot without voters";
    }
    case "InstallSnapshotResponse":
      return count(message.matchIndex) ? null : "match index";
    default:
      return null;
  }
}

/** Turns wire messages back into core messages; holds partial snapshots and appends per sender. */
export class MessageAssembler {
  private readonly assemblies = new Map<string, SnapshotAssembly>();
  private readonly appends = new Map<string, AppendAssembly>();

  /** The core message, or null while a snapshot is still arriving (or for garbage). */
  fromWire(message: PeerMessage): RaftMessage | null {
    const base = { from: message.from, to: message.to, term: message.term };
    const body = message.body;
    if (body === undefined) return null;
    switch (body.$case) {
      case "preVote":
        return { ...base, type: "PreVote", lastLogIndex: body.value.lastLogIndex, lastLogTerm: body.value.lastLogTerm };
      case "preVoteResponse":
        return { ...base, type: "PreVoteResponse", granted: body.value.granted };
      case "requestVote":
        return {
          ...base,
          type: "RequestVote",
          lastLogIndex: body.value.lastLogIndex,
          lastLogTerm: body.value.lastLogTerm,
          leadershipTransfer: body.value.leadershipTransfer,
        };
      case "requestVoteResponse":
        return { ...base, type: "RequestVoteResponse", granted: body.value.granted };
      case "appendEntries":
        return {
          ...base,
          type: "AppendEntries",
          prevLogIndex: body.value.prevLogIndex,
          prevLogTerm: body.value.prevLogTerm,
          entries: body.value.entries.map(entryFromWire),
          leaderCommitIndex: body.value.leaderCommitIndex,
        };
      case "appendEntriesResponse":
        return {
          ...base,
          type: "AppendEntriesResponse",
          success: body.value.success,
          matchIndex: body.value.matchIndex,
          rejectedLogIndex: body.value.rejectedLogIndex,
          conflictIndex: body.value.conflictIndex,
          conflictTerm: body.value.conflictTerm,
        };
      case "heartbeat":
        return { ...base, type: "Heartbeat", commitIndex: body.value.commitIndex, readRound: body.value.readRound };
      case "heartbeatResponse":
        return { ...base, type: "HeartbeatResponse", readRound: body.value.readRound };
      case "installSnapshotResponse":
        return { ...base, type: "InstallSnapshotResponse", matchIndex: body.value.matchIndex };
      case "timeoutNow":
        return { ...base, type: "TimeoutNow" };
      case "snapshotChunk":
        return this.addChunk(message.from, message.to, message.term, body.value);
      case "appendChunk":
        return this.addAppendPiece(message.from, message.to, message.term, body.value);
    }
  }

  private addAppendPiece(from: string, to: string, term: number, piece: AppendChunk): RaftMessage | null {
    let assembly = this.appends.get(from);
    if (piece.offset === 0) {
      const head = piece.head;
      if (head === undefined || head.entries.length !== piece.entryBytes.length || head.entries.length === 0) return null;
      let totalBytes = 0;
      const starts: number[] = [];
      for (const bytes of piece.entryBytes) {
        if (!Number.isSafeInteger(bytes) || bytes < 0) return null;
        starts.push(totalBytes);
        totalBytes += bytes;
      }
      if (totalBytes > ASSEMBLY_BYTES_MAX) return null;
      // Large entries get a buffer each (kept as they are by the log); small ones share one.
      let smallBytes = 0;
      for (const bytes of piece.entryBytes) if (bytes < OWN_BUFFER_BYTES_MIN) smallBytes += bytes;
      const shared = Buffer.allocUnsafeSlow(smallBytes);
      let sharedOffset = 0;
      const buffers = piece.entryBytes.map((bytes) => {
        if (bytes >= OWN_BUFFER_BYTES_MIN) return Buffer.allocUnsafeSlow(bytes);
        const view = shared.subarray(sharedOffset, sharedOffset + bytes);
        sharedOffset += bytes;
        return view;
      });
      assembly = { term, head, buffers, starts, totalBytes, receivedBytes: 0 };
      this.appends.set(from, assembly);
      while (this.appends.size > ASSEMBLY_MAX) this.appends.delete(this.appends.keys().next().value as string);
    }
    if (assembly === undefined || assembly.term !== term) return null;
    if (piece.offset !== assembly.receivedBytes || piece.offset + piece.data.length > assembly.totalBytes) {
      this.appends.delete(from); // out of order (a lost piece): the leader will resend
      return null;
    }
    // Copy the piece into the entries it covers.
    let position = piece.offset;
    let consumed = 0;
    let entry = upperBound(assembly.starts, position) - 1;
    while (consumed < piece.data.length) {
      while (position - assembly.starts[entry] >= assembly.buffers[entry].length) entry++;
      const within = position - assembly.starts[entry];
      const take = Math.min(piece.data.length - consumed, assembly.buffers[entry].length - within);
      piece.data.copy(assembly.buffers[entry], within, consumed, consumed + take);
      consumed += take;
      position += take;
    }
    assembly.receivedBytes += piece.data.length;
    if (!piece.last) return null;
    this.appends.delete(from);
    if (assembly.receivedBytes !== assembly.totalBytes) return null;
    const entries = assembly.head.entries.map((wire, index) => entryFromWire({ ...wire, data: assembly!.buffers[index] }));
    return {
      from,
      to,
      term,
      type: "AppendEntries",
      prevLogIndex: assembly.head.prevLogIndex,
      prevLogTerm: assembly.head.prevLogTerm,
      entries,
      leaderCommitIndex: assembly.head.leaderCommitIndex,
    };
  }

  private addChunk(
    from: string,
    to: string,
    term: number,
    chunk: { meta?: { lastIndex: number; lastTerm: number; voters: string[] }; totalBytes: number; offset: number; data: Buffer; last: boolean },
  ): RaftMessage | null {
    const meta = chunk.meta;
    if (meta === undefined) return null;
    let assembly = this.assemblies.get(from);
    if (chunk.offset === 0) {
      if (!Number.isSafeInteger(chunk.totalBytes) || chunk.totalBytes > 8 * 1024 * 1024 * 1024) return null;
      assembly = { term, lastIndex: meta.lastIndex, data: Buffer.allocUnsafe(chunk.totalBytes), receivedBytes: 0 };
      this.assemblies.set(from, assembly);
      while (this.assemblies.size > ASSEMBLY_MAX) this.assemblies.delete(this.assemblies.keys().next().value as string);
    }
    if (assembly === undefined || assembly.lastIndex !== meta.lastIndex || assembly.term !== term) return null;
    if (chunk.offset !== assembly.receivedBytes || chunk.offset + chunk.data.length > assembly.data.length) {
      this.assemblies.delete(from); // out of order (a lost chunk): the leader will resend
      return null;
    }
    chunk.data.copy(assembly.data, chunk.offset);
    assembly.receivedBytes += chunk.data.length;
    if (!chunk.last) return null;
    this.assemblies.delete(from);
    if (assembly.receivedBytes !== assembly.data.length) return null;
    const snapshot: Snapshot = { meta: { lastIndex: meta.lastIndex, lastTerm: meta.lastTerm, voters: meta.voters }, data: assembly.data };
    assert(snapshot.meta.lastIndex >= 0);
    return { from, to, term, type: "InstallSnapshot", snapshot };
  }
}

/** The number of values in sorted `starts` that are <= `value`. */
function upperBound(starts: readonly number[], value: number): number {
  let low = 0;
  let high = starts.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (starts[middle] <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}
