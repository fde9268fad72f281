// gRPC inputs for the port fuzzer: for every RPC a node serves, a seeded generator of
// messages (valid protobuf with boundary values: out-of-range numbers, wrong shard counts
// and indexes, empty and oversized keys, claimed sizes far above the data) and of their
// mutations (src/fuzz/mutate.ts), sent as raw bytes so malformed protobuf reaches the server.
//
// The fuzz checks robustness against malformed input, not authorization: a plaintext cluster
// trusts whoever can reach its ports (issue 19 adds TLS and tokens for that). So an input that
// decodes to a *privileged, well-formed* request is left out and counted as skipped
// (`guard`): a write to a key acknowledged before the fuzz, a membership change naming a
// real address, a view join of a real shard index, or a peer message addressed to the node
// that claims to come from a member or at a live term (a forged leader may legitimately
// overwrite a follower's log). Everything else is sent, including peer messages addressed
// to the node from strangers at term 0, which the transport decodes and reassembles and the
// Raft core then sees.
import { Random } from "../core/env";
import { parseAddress } from "../core/address";
import { KEY_BYTES_MAX, REBUILD_PULL_KEYS_MAX } from "../core/limits";
import { Op, OpBatch } from "../gen/ecc";
import { KvBatch, KvOp, PeerBatch, PeerMessage, EntryType, AppendEntries } from "../gen/raft";
import { mutate, pick, randomBytes } from "./mutate";

/** What a generator knows of the cluster it fuzzes. */
export interface GrpcFuzzContext {
  /** Every server address (raft and ecc node ids are their addresses). */
  servers: readonly string[];
  /** The address of the node this input goes to. */
  target: string;
  /** ecc: the number of shards (n); 0 in raft mode. */
  shardCount: number;
  /** Keys acknowledged before the fuzz start with this; no input may write them. */
  acknowledgedKeyPrefix: string;
}

export interface GrpcRpc {
  /** "EccNode/Exchange" and so on: the label in the report. */
  name: string;
  /** The HTTP/2 path of the method. */
  path: string;
  kind: "unary" | "clientStream" | "bidiStream";
  /** One encoded request message (valid or not). */
  generate(random: Random, context: GrpcFuzzContext): Buffer;
  /** Why the decoded input must not be sent, or null to send it (see the header). */
  guard(bytes: Buffer, context: GrpcFuzzContext): string | null;
}

/** Numbers on the edges of every field type the protos use (uint32, uint64 as number, enums). */
const BOUNDARY_NUMBERS = [0, 1, 2, 3, 4, 5, 7, 255, 256, 65_535, 65_536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER];

function number(random: Random): number {
  return random.int(3) === 0 ? random.int(10) : pick(random, BOUNDARY_NUMBERS);
}

/** A uint32 field's value: a boundary number folded into 32 bits as the encoder would. */
function uint32(random: Random): number {
  return number(random) % 2 ** 32;
}

function bool(random: Random): boolean {
  return random.int(2) === 1;
}

/** Keys: fuzz-only names, empty, at and over KEY_BYTES_MAX, binary. */
function fuzzKey(random: Random): Buffer {
  switch (random.int(8)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return Buffer.alloc(KEY_BYTES_MAX, 0x6b);
    case 2:
      return Buffer.alloc(KEY_BYTES_MAX + 1, 0x6b);
    case 3:
      return Buffer.concat([Buffer.from("fz:"), randomBytes(random, random.int(16))]);
    default:
      return Buffer.from(`fz:${random.int(64)}`);
  }
}

function blob(random: Random): Buffer {
  return randomBytes(random, random.int(8) === 0 ? random.int(16 * 1024) : random.int(64));
}

function text(random: Random): string {
  switch (random.int(5)) {
    case 0:
      return "";
    case 1:
      return randomBytes(random, random.int(32)).toString("latin1");
    case 2:
      return "x".repeat(random.int(4_096));
    default:
      return `fz-${random.int(1000)}`;
  }
}

// ------------------------------------------------------------------ ecc: EccNode

function eccOp(random: Random, context: GrpcFuzzContext): Op {
  const layout = () => ({
    valueBytes: number(random),
    blockBytes: uint32(random),
    dataShards: uint32(random),
    parityShards: uint32(random),
    valueCrc32: uint32(random),
  });
  const key = fuzzKey(random);
  const txId = randomBytes(random, pick(random, [0, 1, 16, 16, 64]));
  // The shard index: the node's own most of the time (so the op passes the first checks), else a boundary value.
  const shardIndex = random.int(2) === 0 ? context.servers.indexOf(context.target) : uint32(random);
  const base = { id: number(random), epoch: random.int(3) === 0 ? number(random) : random.int(4) };
  switch (random.int(11)) {
    case 0:
      return Op.fromPartial({
        ...base,
        body: {
          $case: "prepare",
          value: {
            key,
            txId,
            shardIndex,
            layout: random.int(5) === 0 ? undefined : layout(),
            tombstone: bool(random),
            shardCrc32: uint32(random),
            offset: number(random),
            data: blob(random),
            last: bool(random),
            leaseMs: uint32(random),
            reason: random.int(5),
          },
        },
      });
    case 1:
      return Op.fromPartial({ ...base, body: { $case: "commit", value: { key, txId, version: number(random), resolution: bool(random), expiresAtMs: number(random) } } });
    case 2:
      return Op.fromPartial({ ...base, body: { $case: "abort", value: { key, txId } } });
    case 3:
      return Op.fromPartial({
        ...base,
        body: { $case: "get", value: { key, wantVersion: number(random), offset: number(random), lengthMax: uint32(random), headerOnly: bool(random), stripeChecksums: bool(random) } },
      });
    case 4:
      return Op.fromPartial({ ...base, body: { $case: "txStatus", value: { key, txId } } });
    case 5:
      // A full garbage collection costs the node tens of ms: ask for one rarely.
      return Op.fromPartial({ ...base, body: { $case: "stats", value: { collectGarbage: random.int(50) === 0 } } });
    case 6:
      return Op.fromPartial({ ...base, body: { $case: "getView", value: {} } });
    case 7:
      return Op.fromPartial({ ...base, body: { $case: "listKeys", value: { token: text(random), offset: uint32(random), limit: uint32(random) } } });
    case 8:
      // Real shard indexes are left out by the guard: a join of one is a view change.
      return Op.fromPartial({ ...base, body: { $case: "join", value: { shardIndex: (context.shardCount + uint32(random)) % 2 ** 32, promote: bool(random), epoch: number(random) } } });
    case 9:
      return Op.fromPartial({ ...base, body: { $case: "ping", value: {} } });
    default: {
      const keyCount = random.int(10) === 0 ? REBUILD_PULL_KEYS_MAX + 1 : random.int(8);
      const keys = Array.from({ length: keyCount }, () => fuzzKey(random));
      return Op.fromPartial({ ...base, body: { $case: "pullShards", value: { keys, bytesMax: uint32(random), epoch: random.int(3) === 0 ? number(random) : random.int(4) } } });
    }
  }
}

function eccOpGuard(op: Op, context: GrpcFuzzContext): string | null {
  const body = op.body;
  if (body === undefined) return null;
  if (body.$case === "join" && body.value.shardIndex < context.shardCount) return "join of a real shard index";
  if ("key" in body.value && touchesAcknowledged(body.value.key, context)) return "acknowledged key";
  return null;
}

function touchesAcknowledged(key: Uint8Array, context: GrpcFuzzContext): boolean {
  return Buffer.from(key).includes(context.acknowledgedKeyPrefix);
}

/** Runs `check` on the decoded message; bytes that do not decode are sent (the node must refuse them). */
function decodedGuard<T>(decode: (bytes: Uint8Array) => T, bytes: Buffer, check: (message: T) => string | null): string | null {
  let message: T;
  try {
    message = decode(bytes);
  } catch {
    return null; // malformed: exactly what the node must survive
  }
  return check(message);
}

/** Valid generated input, or one of its mutations, or random bytes: in that proportion 3:5:2. */
function generateBytes(random: Random, encodeValid: () => Buffer): Buffer {
  const roll = random.int(10);
  if (roll < 2) return randomBytes(random, random.int(256));
  const valid = encodeValid();
  return roll < 5 ? valid : mutate(random, valid);
}

const eccExchange: GrpcRpc = {
  name: "EccNode/Exchange",
  path: "/ecccache.ecc.v1.EccNode/Exchange",
  kind: "bidiStream",
  generate: (random, context) =>
    generateBytes(random, () => Buffer.from(OpBatch.encode({ ops: Array.from({ length: random.int(4) }, () => eccOp(random, context)) }).finish())),
  guard: (bytes, context) =>
    decodedGuard(OpBatch.decode, bytes, (batch) => {
      for (const op of batch.ops) {
        const reason = eccOpGuard(op, context);
        if (reason !== null) return reason;
      }
      return null;
    }),
};

const eccCall: GrpcRpc = {
  name: "EccNode/Call",
  path: "/ecccache.ecc.v1.EccNode/Call",
  kind: "unary",
  generate: (random, context) => generateBytes(random, () => Buffer.from(Op.encode(eccOp(random, context)).finish())),
  guard: (bytes, context) => decodedGuard(Op.decode, bytes, (op) => eccOpGuard(op, context)),
};

// ------------------------------------------------------------------ raft: RaftKv

/** Membership op addresses that are not host:port (real ones are left out by the guard). */
function badAddress(random: Random): string {
  return pick(random, ["", ":", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "host:port", "[::1", "a b:1", "\u0000:1", "x".repeat(300)]);
}

function kvOp(random: Random): KvOp {
  const key = fuzzKey(random);
  const session = { clientId: number(random), seq: number(random), floor: number(random) };
  const id = number(random);
  switch (random.int(8)) {
    case 0:
      return KvOp.fromPartial({ id, body: { $case: "get", value: { key } } });
    case 1:
      return KvOp.fromPartial({ id, body: { $case: "set", value: { key, value: blob(random), ttlMs: random.int(2) === 0 ? 0 : number(random), ...session } } });
    case 2:
      return KvOp.fromPartial({ id, body: { $case: "del", value: { key, ...session } } });
    case 3:
      return KvOp.fromPartial({ id, body: { $case: "stats", value: { collectGarbage: random.int(50) === 0 } } });
    case 4:
      return KvOp.fromPartial({ id, body: { $case: "addMember", value: { address: badAddress(random) } } });
    case 5:
      return KvOp.fromPartial({ id, body: { $case: "removeMember", value: { address: badAddress(random) } } });
    case 6:
      return KvOp.fromPartial({ id, body: { $case: "expire", value: { key, ttlMs: number(random), ...session } } });
    default:
      return KvOp.fromPartial({ id, body: { $case: "ttl", value: { key } } });
  }
}

function isAddress(text: string): boolean {
  try {
    parseAddress(text);
    return true;
  } catch {
    return false; // not host:port: the node must refuse it, so it is sent
  }
}

const raftKvExchange: GrpcRpc = {
  name: "RaftKv/Exchange",
  path: "/ecccache.raft.v1.RaftKv/Exchange",
  kind: "bidiStream",
  generate: (random) => generateBytes(random, () => Buffer.from(KvBatch.encode({ ops: Array.from({ length: random.int(4) }, () => kvOp(random)) }).finish())),
  guard: (bytes, context) =>
    decodedGuard(KvBatch.decode, bytes, (batch) => {
      for (const op of batch.ops) {
        const body = op.body;
        if (body === undefined) continue;
        if ((body.$case === "addMember" || body.$case === "removeMember") && isAddress(body.value.address)) return "membership change of a real address";
        if ("key" in body.value && touchesAcknowledged(body.value.key, context)) return "acknowledged key";
      }
      return null;
    }),
};

// ------------------------------------------------------------------ both: RaftPeer

function appendEntries(random: Random): AppendEntries {
  return {
    prevLogIndex: number(random),
    prevLogTerm: number(random),
    entries: Array.from({ length: random.int(4) }, () => ({ term: number(random), index: number(random), type: random.int(4) as EntryType, data: blob(random) })),
    leaderCommitIndex: number(random),
  };
}

function peerMessage(random: Random, context: GrpcFuzzContext): PeerMessage {
  // Half the messages are addressed to the node from a stranger at term 0, so they pass the
  // transport's address filter and reach reassembly and the core; the rest go elsewhere.
  const toTarget = random.int(2) === 0;
  const from = toTarget ? pick(random, ["127.0.0.1:1", "fuzz-peer", text(random) || "?"]) : pick(random, [...context.servers, text(random)]);
  const to = toTarget ? context.target : pick(random, ["", "127.0.0.1:1", text(random), ...context.servers.filter((server) => server !== context.target)]);
  const term = toTarget ? 0 : number(random);
  const voteResponse = () => ({ granted: bool(random) });
  const heartbeat = () => ({ commitIndex: number(random), readRound: number(random) });
  const bodies: Array<() => PeerMessage["body"]> = [
    () => ({ $case: "preVote", value: { lastLogIndex: number(random), lastLogTerm: number(random) } }),
    () => ({ $case: "preVoteResponse", value: voteResponse() }),
    () => ({ $case: "requestVote", value: { lastLogIndex: number(random), lastLogTerm: number(random), leadershipTransfer: bool(random) } }),
    () => ({ $case: "requestVoteResponse", value: voteResponse() }),
    () => ({ $case: "appendEntries", value: appendEntries(random) }),
    () => ({
      $case: "appendEntriesResponse",
      value: { success: bool(random), matchIndex: number(random), rejectedLogIndex: number(random), conflictIndex: number(random), conflictTerm: number(random) },
    }),
    () => ({ $case: "heartbeat", value: heartbeat() }),
    () => ({ $case: "heartbeatResponse", value: heartbeat() }),
    () => ({
      $case: "snapshotChunk",
      value: {
        meta: { lastIndex: number(random), lastTerm: number(random), voters: Array.from({ length: random.int(4) }, () => text(random)) },
        totalBytes: number(random),
        offset: number(random),
        data: blob(random),
        last: bool(random),
      },
    }),
    () => ({ $case: "installSnapshotResponse", value: { matchIndex: number(random) } }),
    () => ({ $case: "timeoutNow", value: {} }),
    () => ({
      $case: "appendChunk",
      value: { head: appendEntries(random), entryBytes: Array.from({ length: random.int(5) }, () => number(random)), offset: number(random), data: blob(random), last: bool(random) },
    }),
  ];
  return { from, to, term, body: random.int(20) === 0 ? undefined : pick(random, bodies)() };
}

const raftPeerDeliver: GrpcRpc = {
  name: "RaftPeer/Deliver",
  path: "/ecccache.raft.v1.RaftPeer/Deliver",
  kind: "clientStream",
  generate: (random, context) =>
    generateBytes(random, () => Buffer.from(PeerBatch.encode({ messages: Array.from({ length: 1 + random.int(4) }, () => peerMessage(random, context)) }).finish())),
  guard: (bytes, context) =>
    decodedGuard(PeerBatch.decode, bytes, (batch) => {
      for (const message of batch.messages) {
        if (message.to !== context.target) continue; // dropped by the transport's address filter
        if (context.servers.includes(message.from)) return "peer message from a member";
        if (message.term !== 0) return "peer message at a live term";
      }
      return null;
    }),
};

/** The RPCs each mode's nodes serve on their one gRPC port. */
export function grpcRpcs(mode: "ecc" | "raft"): GrpcRpc[] {
  return mode === "ecc" ? [eccExchange, eccCall, raftPeerDeliver] : [raftKvExchange, raftPeerDeliver];
}
