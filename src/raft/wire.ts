// Raft messages between their core form (src/raft/types.ts) and their protobuf form
// (proto/raft.proto). InstallSnapshot is cut into SnapshotChunk messages here and put back
// together by SnapshotAssembler on the receiving side.
import assert from "node:assert/strict";
import { EntryType as WireEntryType, Entry, PeerMessage } from "../gen/raft";
import { EntryType, LogEntry, RaftMessage, Snapshot } from "./types";

export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** A snapshot being received is dropped when its sender goes quiet this long. */
const ASSEMBLY_MAX = 16;

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
    case "AppendEntries":
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

interface Assembly {
  term: number;
  lastIndex: number;
  data: Buffer;
  receivedBytes: number;
}

/** Turns wire messages back into core messages; holds partial snapshots per sender. */
export class SnapshotAssembler {
  private readonly assemblies = new Map<string, Assembly>();

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
    }
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
