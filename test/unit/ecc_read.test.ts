// The read side, pure: EcReadCoordinator decisions and shard coding across stripes.
// Properties: a value is decoded only from k replies of one version; mixed versions expand
// the read, then retry; absent/tombstone need k agreeing nodes; a corrupt shard is treated
// as a failed node; too few answers fail; encode/decode round-trips every size across
// stripe boundaries with any n-k blobs missing, and fails with TooFewShardsError beyond.
import assert from "node:assert/strict";
import { createCodec } from "../../src/codec";
import { crc32 } from "../../src/codec/checksum";
import { TooFewShardsError } from "../../src/core/errors";
import { EcGetReply } from "../../src/gen/ecc";
import { EcReadCoordinator } from "../../src/ecc/read_coordinator";
import { Layout, blobBytes, stripeCount } from "../../src/ecc/layout";
import { decodeValue, encodeBlobs } from "../../src/ecc/shard_coding";
import { SeededRandom } from "../../src/core/env";

function reply(shardIndex: number, version: number, data = Buffer.from([shardIndex, version & 255]), tombstone = false): EcGetReply {
  return {
    version,
    tombstone,
    layout: version === 0 ? undefined : { valueBytes: 6, blockBytes: 64, dataShards: 3, parityShards: 2, valueCrc32: 0 },
    shardIndex,
    shardCrc32: crc32(data),
    shardBytes: data.length,
    offset: 0,
    data,
  };
}

function ask(c: EcReadCoordinator, ...nodes: number[]): void {
  for (const node of nodes) c.markAsked(node);
}

describe("EcReadCoordinator", () => {
  it("decodes from k replies of one version, data shards first", () => {
    const c = new EcReadCoordinator(5, 3);
    ask(c, 0, 1, 2);
    c.onReply(2, reply(2, 4));
    c.onReply(0, reply(0, 4));
    assert.deepEqual(c.decide(), { kind: "wait" });
    c.onReply(1, reply(1, 4));
    assert.deepEqual(c.decide(), { kind: "decode", version: 4, nodes: [0, 1, 2] });
  });

  it("never mixes versions: expands, then decodes the version that reaches k", () => {
    const c = new EcReadCoordinator(5, 3);
    ask(c, 0, 1, 2);
    c.onReply(0, reply(0, 4));
    c.onReply(1, reply(1, 5));
    assert.deepEqual(c.decide(), { kind: "expand" });
    ask(c, 3, 4);
    c.onReply(2, reply(2, 5));
    assert.deepEqual(c.decide(), { kind: "wait" });
    c.onReply(3, reply(3, 4));
    assert.deepEqual(c.decide(), { kind: "wait" });
    c.onReply(4, reply(4, 5));
    assert.deepEqual(c.decide(), { kind: "decode", version: 5, nodes: [1, 2, 4] });
  });

  it("retries when no version can reach k (a commit is in flight)", () => {
    const c = new EcReadCoordinator(5, 3);
    ask(c, 0, 1, 2, 3, 4);
    c.onReply(0, reply(0, 4));
    c.onReply(1, reply(1, 4));
    c.onReply(2, reply(2, 5));
    c.onReply(3, reply(3, 5));
    c.onFailure(4, "down");
    assert.equal(c.decide().kind, "retry");
  });

  it("absent and tombstone need k agreeing nodes", () => {
    const c = new EcReadCoordinator(5, 3);
    ask(c, 0, 1, 2);
    c.onReply(0, reply(0, 0, Buffer.alloc(0)));
    c.onReply(1, reply(1, 0, Buffer.alloc(0)));
    assert.deepEqual(c.decide(), { kind: "wait" });
    c.onReply(2, reply(2, 0, Buffer.alloc(0)));
    assert.deepEqual(c.decide(), { kind: "absent", version: 0 });
    const t = new EcReadCoordinator(5, 3);
    ask(t, 0, 1, 2);
    for (const i of [0, 1, 2]) t.onReply(i, reply(i, 7, Buffer.alloc(0), true));
    assert.deepEqual(t.decide(), { kind: "absent", version: 7 });
  });

  it("treats a shard that fails its checksum as a failed node", () => {
    const c = new EcReadCoordinator(5, 3);
    ask(c, 0, 1, 2);
    const bad = reply(1, 4);
    bad.data = Buffer.from([9, 9]);
    c.onReply(0, reply(0, 4));
    c.onReply(1, bad);
    c.onReply(2, reply(2, 4));
    assert.deepEqual(c.decide(), { kind: "expand" });
    ask(c, 3, 4);
    c.onReply(3, reply(3, 4));
    assert.deepEqual(c.decide(), { kind: "decode", version: 4, nodes: [0, 2, 3] });
  });

  it("fails when too few nodes answer", () => {
    const c = new EcReadCoordinator(5, 3);
    ask(c, 0, 1, 2, 3, 4);
    c.onReply(0, reply(0, 4));
    c.onReply(1, reply(1, 4));
    for (const i of [2, 3, 4]) c.onFailure(i, "connection refused");
    const decision = c.decide();
    assert.equal(decision.kind, "fail");
    assert.match((decision as { reason: string }).reason, /only 2 of 5 nodes answered, 3 needed/);
    assert.equal((decision as { staleEpoch: boolean }).staleEpoch, false, "no node refused for its epoch");
  });

  it("says when a failed read met nodes at another epoch (the client reads again: they catch up)", () => {
    const c = new EcReadCoordinator(5, 3);
    ask(c, 0, 1, 2, 3, 4);
    c.onReply(0, reply(0, 4));
    c.onFailure(1, "RESULT_CODE_STALE_EPOCH: node is at epoch 3, request at 2", true);
    for (const i of [2, 3, 4]) c.onFailure(i, "connection refused");
    const decision = c.decide();
    assert.equal(decision.kind, "fail");
    assert.equal((decision as { staleEpoch: boolean }).staleEpoch, true);
  });
});

describe("shard coding across stripes", () => {
  it("round-trips every size with any n-k blobs missing; more missing is TooFewShardsError", async () => {
    const codec = await createCodec("auto", 3, 2);
    const random = new SeededRandom(7);
    const blockBytes = 16;
    const stripe = 3 * blockBytes;
    for (const valueBytes of [0, 1, 2, 3, 4, stripe - 1, stripe, stripe + 1, 2 * stripe, 5 * stripe + 7]) {
      const value = Buffer.alloc(valueBytes);
      for (let i = 0; i < valueBytes; i++) value[i] = random.int(256);
      const layout: Layout = { valueBytes, blockBytes, dataShards: 3, parityShards: 2 };
      const blobs = encodeBlobs(codec, layout, value);
      assert.equal(blobs.length, 5);
      for (const blob of blobs) assert.equal(blob.length, blobBytes(layout));
      assert.equal(stripeCount(layout), Math.max(1, Math.ceil(valueBytes / stripe)));
      for (let a = 0; a < 5; a++) {
        for (let b = a; b < 5; b++) {
          const partial = blobs.map((blob, i) => (i === a || i === b ? null : Buffer.from(blob)));
          assert.deepEqual(decodeValue(codec, layout, partial), value, `size ${valueBytes}, missing ${a},${b}`);
        }
      }
      assert.throws(() => decodeValue(codec, layout, [null, null, null, blobs[3], blobs[4]]), TooFewShardsError);
    }
  });

  it("keeps values that end in zero bytes at their exact length", async () => {
    const codec = await createCodec("auto", 3, 2);
    const value = Buffer.from([1, 0, 0, 0, 0]);
    const layout: Layout = { valueBytes: 5, blockBytes: 16, dataShards: 3, parityShards: 2 };
    const blobs = encodeBlobs(codec, layout, value);
    assert.deepEqual(decodeValue(codec, layout, [null, blobs[1], null, blobs[3], blobs[4]]), value);
  });
});
