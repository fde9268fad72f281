// Range reads, pure: an EcReadCoordinator with `bytes` driven against five real
// EcShardReplicas holding one committed multi-stripe value.
// Properties: a range comes back byte for byte as Redis's GETRANGE would cut it (negative
// offsets, clamping, empty ranges), for ranges inside one shard, across shards and across
// stripes; with every data shard answering only the data shards holding the range are read
// and only the stripes covering it; a missing data shard, or a stripe that fails its
// checksum, makes the read decode those stripes from k nodes instead; "none" reads the size
// without any shard bytes.
import assert from "node:assert/strict";
import { createCodec } from "../../src/codec";
import { ErasureCodec } from "../../src/codec/codec";
import { crc32 } from "../../src/codec/checksum";
import { SeededRandom } from "../../src/core/env";
import { EcGet, EcGetReply, ResultCode, WriteReason } from "../../src/gen/ecc";
import { Layout, blobBytes } from "../../src/ecc/layout";
import { EcReadCoordinator, ReadEffect, ReadRange, VersionedRead, resolveRange } from "../../src/ecc/read_coordinator";
import { encodeBlobs } from "../../src/ecc/shard_coding";
import { EcShardReplica } from "../../src/ecc/shard_replica";
import { View } from "../../src/ecc/view";

const K = 3;
const M = 2;
const BLOCK = 64;
const VIEW: View = { epoch: 1, members: [0, 1, 2, 3, 4], recovering: [] };
const KEY = Buffer.from("big");

let codec: ErasureCodec;
before(async () => {
  codec = await createCodec("table", K, M);
});

function valueOf(bytes: number): Buffer {
  const value = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) value[i] = (i * 131 + 7) & 0xff;
  return value;
}

/** Five replicas holding `value` committed at version 1. */
function cluster(value: Buffer): EcShardReplica[] {
  const layout: Layout = { valueBytes: value.length, blockBytes: BLOCK, dataShards: K, parityShards: M };
  const blobs = encodeBlobs(codec, layout, value);
  const txId = Buffer.alloc(16, 9);
  return blobs.map((blob, shardIndex) => {
    const replica = new EcShardReplica({ shardIndex, dataShards: K, parityShards: M, blockBytes: BLOCK, address: `n${shardIndex}` });
    const prepared = replica.prepare(
      {
        key: KEY,
        txId,
        shardIndex,
        layout: { ...layout, valueCrc32: crc32(value) },
        tombstone: false,
        shardCrc32: crc32(blob),
        offset: 0,
        data: blob,
        last: true,
        leaseMs: 1_000,
        reason: WriteReason.WRITE_REASON_CLIENT,
      },
      0,
    );
    assert.equal(prepared.code, ResultCode.RESULT_CODE_OK);
    assert.equal(replica.commit({ key: KEY, txId, version: 1, resolution: false, expiresAtMs: 0 }, 0).code, ResultCode.RESULT_CODE_OK);
    return replica;
  });
}

interface Run {
  result: VersionedRead;
  /** Shard bytes each node sent. */
  bytesFrom: number[];
  requests: EcGet[];
}

/**
 * Carries out a read's effects against the replicas, in order; `silent` nodes never answer,
 * `tamper(node, request, data)` may change the bytes a node sends.
 */
function read(
  replicas: EcShardReplica[],
  bytes: ReadRange | "none" | undefined,
  options: { silent?: number[]; late?: number[]; extraNodes?: number; tamper?: (node: number, data: Buffer) => Buffer; chunkBytesMax?: number } = {},
): Run {
  const coordinator = new EcReadCoordinator({
    key: KEY,
    codec,
    dataShards: K,
    shardCount: K + M,
    chunkBytesMax: options.chunkBytesMax ?? 1 << 20,
    attemptsMax: 3,
    backoffMsMin: 1,
    backoffMsMax: 2,
    extraNodes: options.extraNodes ?? 0,
    hedgeAfterMs: null,
    random: new SeededRandom(1),
    bytes,
  });
  const bytesFrom = [0, 0, 0, 0, 0];
  const requests: EcGet[] = [];
  const queue: ReadEffect[] = coordinator.start(VIEW, 0);
  // Header replies of `late` nodes, delivered just after the first stripe fetch goes out.
  const held: Array<() => ReadEffect[]> = [];
  for (let steps = 0; steps < 10_000 && queue.length > 0; steps++) {
    const effect = queue.shift()!;
    if (effect.kind === "get" && !effect.request.headerOnly && held.length > 0) {
      for (const deliver of held.splice(0)) queue.push(...deliver());
    }
    if (effect.kind === "succeed") return { result: effect.result, bytesFrom, requests };
    if (effect.kind === "fail") throw effect.error;
    if (effect.kind === "refreshView") {
      queue.push(...coordinator.onViewRefreshed(VIEW, 0));
      continue;
    }
    if (effect.kind === "wait") continue; // hedges are off; a backoff would re-ask, not needed here
    requests.push(effect.request);
    if (options.silent?.includes(effect.node)) {
      queue.push(...coordinator.onGetReply(effect.attempt, effect.node, { kind: "silent", message: "down" }, 0));
      continue;
    }
    const outcome = replicas[effect.node].get(effect.request, 0);
    assert.equal(outcome.code, ResultCode.RESULT_CODE_OK, outcome.message);
    const body: EcGetReply = { ...outcome.reply!, data: Buffer.from(outcome.reply!.data) };
    if (options.tamper !== undefined) body.data = options.tamper(effect.node, body.data);
    bytesFrom[effect.node] += body.data.length;
    const deliver = (): ReadEffect[] => coordinator.onGetReply(effect.attempt, effect.node, { kind: "ok", body }, 0);
    if (options.late?.includes(effect.node) && effect.request.headerOnly) held.push(deliver);
    else queue.push(...deliver());
  }
  assert.fail("the read did not finish");
}

function expected(value: Buffer, range: ReadRange): Buffer {
  const resolved = resolveRange(range, value.length);
  return resolved === null ? Buffer.alloc(0) : value.subarray(resolved.start, resolved.end + 1);
}

describe("ecc range reads", () => {
  // 1000 bytes in stripes of 3 × 64 = 192: 6 stripes (the last holds 40 bytes).
  const value = valueOf(1000);
  const layout: Layout = { valueBytes: value.length, blockBytes: BLOCK, dataShards: K, parityShards: M };

  it("cuts ranges exactly as Redis's GETRANGE does", () => {
    const cases: Array<[number, number, number, [number, number] | null]> = [
      // length, start, end, expected [start, end] or null (empty)
      [10, 0, 3, [0, 3]],
      [10, -3, -1, [7, 9]],
      [10, 0, -1, [0, 9]],
      [10, 5, 100, [5, 9]],
      [10, -100, 2, [0, 2]],
      [10, 7, 3, null],
      [10, 10, 20, null],
      [10, -100, -200, [0, 0]], // both clamp to 0: Redis returns the first byte
      [0, 0, -1, null],
    ];
    for (const [length, start, end, want] of cases) {
      const got = resolveRange({ start, end }, length);
      assert.deepEqual(got === null ? null : [got.start, got.end], want, `GETRANGE ${start} ${end} of ${length} bytes`);
    }
  });

  it("returns every range byte for byte: inside one shard, across shards, across stripes, negative and clamped", () => {
    const replicas = cluster(value);
    const random = new SeededRandom(5);
    const ranges: ReadRange[] = [
      { start: 0, end: 0 },
      { start: 0, end: 63 },
      { start: 60, end: 70 },
      { start: 100, end: 500 },
      { start: 990, end: 999 },
      { start: -10, end: -1 },
      { start: 0, end: -1 },
      { start: 500, end: 100_000 },
      { start: 999, end: 5 },
    ];
    for (let i = 0; i < 60; i++) {
      const start = random.int(1200) - 100;
      ranges.push({ start, end: start + random.int(400) - 50 });
    }
    for (const range of ranges) {
      const run = read(replicas, range);
      assert.equal(run.result.kind, "value");
      if (run.result.kind !== "value") continue;
      assert.deepEqual(run.result.value, expected(value, range), `range ${range.start}..${range.end}`);
      assert.equal(run.result.valueBytes, value.length);
    }
  });

  it("reads only the data shards that hold the range, and only the stripes that cover it", () => {
    const replicas = cluster(value);
    // Stripe 2 is value bytes 384..575; its shard 1 holds 448..511.
    const run = read(replicas, { start: 450, end: 460 });
    assert.equal(run.result.kind === "value" && run.result.value.equals(value.subarray(450, 461)), true);
    assert.deepEqual(run.bytesFrom, [0, BLOCK, 0, 0, 0], "one stripe of node 1, nothing else");
    // A range over stripes 1-3 and shards 0-2: the three data shards, three stripes each.
    const wide = read(replicas, { start: 200, end: 700 });
    assert.deepEqual(wide.bytesFrom, [3 * BLOCK, 3 * BLOCK, 3 * BLOCK, 0, 0]);
    // The first round carries no shard bytes.
    assert(wide.requests.slice(0, K).every((request) => request.headerOnly && !request.stripeChecksums));
  });

  it("decodes the covering stripes from k nodes when a data shard holding the range does not answer", () => {
    const replicas = cluster(value);
    const run = read(replicas, { start: 450, end: 460 }, { silent: [1] });
    assert.equal(run.result.kind === "value" && run.result.value.equals(value.subarray(450, 461)), true);
    assert.equal(run.bytesFrom[1], 0);
    assert.equal(run.bytesFrom.filter((bytes) => bytes === BLOCK).length, K, "one stripe from each of k nodes");
  });

  it("a late header from the node holding the range adds no fetch to a decode already under way", () => {
    const replicas = cluster(value);
    // Headers asked of k+1 nodes; node 1 (holding 448..511) answers after the decode from
    // nodes 0, 2 and 3 has started: the read finishes with those k stripes, not k+1.
    const run = read(replicas, { start: 450, end: 460 }, { late: [1], extraNodes: 1 });
    assert.equal(run.result.kind === "value" && run.result.value.equals(value.subarray(450, 461)), true);
    assert.deepEqual(run.bytesFrom, [BLOCK, 0, BLOCK, BLOCK, 0]);
  });

  it("a stripe that fails its checksum counts as a failed node: the read decodes from the others", () => {
    const replicas = cluster(value);
    const tamper = (node: number, data: Buffer): Buffer => {
      if (node !== 1 || data.length === 0) return data;
      const bad = Buffer.from(data);
      bad[BLOCK + 40] ^= 0xff; // stripe 1 of shard 1: value byte 192 + 64 + 40, inside the range
      return bad;
    };
    const run = read(replicas, { start: 100, end: 900 }, { tamper });
    assert.equal(run.result.kind === "value" && run.result.value.equals(value.subarray(100, 901)), true);
  });

  it("fetches stripes in chunks of whole stripes when the range is larger than one reply", () => {
    const replicas = cluster(value);
    const run = read(replicas, { start: 0, end: -1 }, { chunkBytesMax: 2 * BLOCK + 10 });
    assert.equal(run.result.kind === "value" && run.result.value.equals(value), true);
    const fetches = run.requests.filter((request) => request.stripeChecksums);
    assert(fetches.every((request) => request.offset % BLOCK === 0));
    assert.equal(run.bytesFrom.reduce((a, b) => a + b, 0), K * blobBytes(layout));
  });

  it("'none' reads the size and version without shard bytes; an empty range fetches nothing", () => {
    const replicas = cluster(value);
    for (const bytes of ["none", { start: 5, end: 2 }] as const) {
      const run = read(replicas, bytes);
      assert.deepEqual(run.result, { kind: "value", version: 1, value: Buffer.alloc(0), valueBytes: value.length, expiresAtMs: 0 });
      assert.deepEqual(run.bytesFrom, [0, 0, 0, 0, 0]);
    }
  });

  it("a value of one stripe is checked by its shard CRC (no stripe checksums kept)", () => {
    const small = valueOf(100);
    const replicas = cluster(small);
    const run = read(replicas, { start: 10, end: 80 });
    assert.equal(run.result.kind === "value" && run.result.value.equals(small.subarray(10, 81)), true);
    const stats = replicas[0].stats();
    assert.equal(stats.payloadBytes, Math.ceil(100 / K), "no checksum trailer for one stripe");
  });
});
