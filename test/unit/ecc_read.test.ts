// The read side, pure: EcReadCoordinator decisions (one instance per read, driven by hand
// with real encoded shards) and shard coding across stripes.
// Properties: a value is decoded only from k shards of one version (data shards first);
// mixed versions ask the other members, then read again when no version can reach k;
// absent/tombstone need k agreeing nodes; a shard that fails its checksum (in the first reply
// or after a chunked fetch) counts as a failed node and more are asked, never thrown; too
// few answers refresh the view and fail with UnavailableError unless a newer view or nodes
// at another epoch say to read again; a view learned mid-read is used by the next attempt
// (the attempt in progress keeps asking its own view's members); late binding asks
// k + extraNodes; a hedge asks one more member after hedgeAfterMs; a layout this client was
// not configured for is a ConfigError; encode/decode round-trips every size across stripe
// boundaries with any n-k blobs missing, and fails with TooFewShardsError beyond.
import assert from "node:assert/strict";
import { createCodec } from "../../src/codec";
import { ErasureCodec } from "../../src/codec/codec";
import { crc32 } from "../../src/codec/checksum";
import { ConfigError, TooFewShardsError, UnavailableError } from "../../src/core/errors";
import { EcGetReply, ResultCode } from "../../src/gen/ecc";
import { EcReadCoordinator, ReadCoordinatorOptions, ReadEffect } from "../../src/ecc/read_coordinator";
import { Layout, blobBytes, stripeCount } from "../../src/ecc/layout";
import { decodeValue, encodeBlobs } from "../../src/ecc/shard_coding";
import { View } from "../../src/ecc/view";
import { SeededRandom } from "../../src/core/env";

const VIEW: View = { epoch: 3, members: [0, 1, 2, 3, 4], recovering: [] };
const BLOCK = 16;

let codec: ErasureCodec;
before(async () => {
  codec = await createCodec("table", 3, 2);
});

/** One version's shards of `value`, as nodes would answer (whole blob or its first chunk). */
function replies(version: number, value: Buffer, chunk = 1 << 20, tombstone = false): { reply: (node: number) => EcGetReply; blobs: Buffer[] } {
  const layout: Layout = { valueBytes: value.length, blockBytes: BLOCK, dataShards: 3, parityShards: 2 };
  const blobs = tombstone ? [] : encodeBlobs(codec, layout, value);
  return {
    blobs,
    reply: (node) => ({
      version,
      tombstone,
      expiresAtMs: 0,
      layout: version === 0 ? undefined : { ...layout, valueCrc32: crc32(value) },
      shardIndex: node,
      shardCrc32: tombstone ? 0 : crc32(blobs[node]),
      shardBytes: tombstone ? 0 : blobs[node].length,
      offset: 0,
      data: tombstone ? Buffer.alloc(0) : blobs[node].subarray(0, Math.min(chunk, blobs[node].length)),
      stripeCrc32: [],
    }),
  };
}

function coordinator(options: Partial<ReadCoordinatorOptions> = {}): EcReadCoordinator {
  return new EcReadCoordinator({
    key: Buffer.from("k"),
    codec,
    dataShards: 3,
    shardCount: 5,
    chunkBytesMax: 1 << 20,
    attemptsMax: 5,
    backoffMsMin: 1,
    backoffMsMax: 10,
    extraNodes: 0,
    hedgeAfterMs: null,
    random: new SeededRandom(1),
    ...options,
  });
}

const asked = (effects: ReadEffect[]): number[] => effects.filter((e) => e.kind === "get").map((e) => (e as { node: number }).node);
const ok = (body: EcGetReply) => ({ kind: "ok" as const, body });
const kinds = (effects: ReadEffect[]): string[] => effects.map((e) => e.kind);

describe("EcReadCoordinator", () => {
  it("asks k members first, data shards first, and decodes from k replies of one version", () => {
    const c = coordinator();
    assert.deepEqual(asked(c.start(VIEW, 0)), [0, 1, 2]);
    const v4 = replies(4, Buffer.from("hello, shards"));
    assert.deepEqual(c.onGetReply(1, 2, ok(v4.reply(2)), 0), []);
    assert.deepEqual(c.onGetReply(1, 0, ok(v4.reply(0)), 0), []);
    const done = c.onGetReply(1, 1, ok(v4.reply(1)), 0);
    assert.deepEqual(done, [{ kind: "succeed", result: { kind: "value", version: 4, value: Buffer.from("hello, shards"), valueBytes: 13, expiresAtMs: 0 } }]);
    assert(c.done);
  });

  it("late binding: asks k + extraNodes and decodes from the first k that agree", () => {
    const c = coordinator({ extraNodes: 2 });
    assert.deepEqual(asked(c.start(VIEW, 0)), [0, 1, 2, 3, 4]);
    const v = replies(2, Buffer.from("late binding"));
    c.onGetReply(1, 4, ok(v.reply(4)), 0);
    c.onGetReply(1, 3, ok(v.reply(3)), 0);
    const done = c.onGetReply(1, 1, ok(v.reply(1)), 0);
    assert.deepEqual(kinds(done), ["succeed"], "nodes 0 and 2 never answered: not needed");
  });

  it("hedges: asks one more member when no decision came after hedgeAfterMs", () => {
    const c = coordinator({ hedgeAfterMs: 5 });
    const first = c.start(VIEW, 0);
    assert.deepEqual(asked(first), [0, 1, 2]);
    const wait = first.find((e) => e.kind === "wait") as { timer: number; ms: number };
    assert.equal(wait.ms, 5);
    const hedge = c.onTimer(wait.timer, 5);
    assert.deepEqual(asked(hedge), [3]);
    const v = replies(9, Buffer.from("hedged"));
    c.onGetReply(1, 0, ok(v.reply(0)), 6);
    c.onGetReply(1, 3, ok(v.reply(3)), 6);
    assert.equal(c.onGetReply(1, 1, ok(v.reply(1)), 7)[0].kind, "succeed");
  });

  it("never mixes versions: asks the others, then decodes the version that reaches k", () => {
    const c = coordinator();
    c.start(VIEW, 0);
    const v4 = replies(4, Buffer.from("old value"));
    const v5 = replies(5, Buffer.from("new value!"));
    c.onGetReply(1, 0, ok(v4.reply(0)), 0);
    assert.deepEqual(asked(c.onGetReply(1, 1, ok(v5.reply(1)), 0)), [3, 4], "versions disagree: ask the rest");
    assert.deepEqual(c.onGetReply(1, 2, ok(v5.reply(2)), 0), []);
    assert.deepEqual(c.onGetReply(1, 3, ok(v4.reply(3)), 0), []);
    const done = c.onGetReply(1, 4, ok(v5.reply(4)), 0);
    assert.deepEqual(done, [{ kind: "succeed", result: { kind: "value", version: 5, value: Buffer.from("new value!"), valueBytes: 10, expiresAtMs: 0 } }]);
  });

  it("reads again after a backoff when no version can reach k (a commit is in flight)", () => {
    const c = coordinator({ extraNodes: 2 });
    c.start(VIEW, 0);
    const v4 = replies(4, Buffer.from("a"));
    const v5 = replies(5, Buffer.from("b"));
    c.onGetReply(1, 0, ok(v4.reply(0)), 0);
    c.onGetReply(1, 1, ok(v4.reply(1)), 0);
    c.onGetReply(1, 2, ok(v5.reply(2)), 0);
    c.onGetReply(1, 3, ok(v5.reply(3)), 0);
    const backoff = c.onGetReply(1, 4, { kind: "silent", message: "down" }, 0);
    assert.deepEqual(kinds(backoff), ["wait"]);
    // Replies to the abandoned attempt change nothing; the timer starts attempt 2.
    assert.deepEqual(c.onGetReply(1, 4, ok(v5.reply(4)), 1), []);
    const again = c.onTimer((backoff[0] as { timer: number }).timer, 2);
    assert.deepEqual(asked(again), [0, 1, 2, 3, 4], "a new attempt asks k + extraNodes members again");
    assert.equal((again[0] as { attempt: number }).attempt, 2);
  });

  it("absent and tombstone need k agreeing nodes", () => {
    const c = coordinator();
    c.start(VIEW, 0);
    const absent = replies(0, Buffer.alloc(0));
    c.onGetReply(1, 0, ok(absent.reply(0)), 0);
    assert.deepEqual(c.onGetReply(1, 1, ok(absent.reply(1)), 0), []);
    assert.deepEqual(c.onGetReply(1, 2, ok(absent.reply(2)), 0), [{ kind: "succeed", result: { kind: "absent", version: 0 } }]);
    const t = coordinator();
    t.start(VIEW, 0);
    const tomb = replies(7, Buffer.alloc(0), 1 << 20, true);
    t.onGetReply(1, 0, ok(tomb.reply(0)), 0);
    t.onGetReply(1, 1, ok(tomb.reply(1)), 0);
    assert.deepEqual(t.onGetReply(1, 2, ok(tomb.reply(2)), 0), [{ kind: "succeed", result: { kind: "absent", version: 7 } }]);
  });

  it("treats a shard that fails its checksum as a failed node and asks more, without throwing", () => {
    const c = coordinator();
    c.start(VIEW, 0);
    const v = replies(4, Buffer.from("checked twice"));
    const bad = { ...v.reply(1), data: Buffer.from(v.reply(1).data).fill(9) };
    c.onGetReply(1, 0, ok(v.reply(0)), 0);
    assert.deepEqual(asked(c.onGetReply(1, 1, ok(bad), 0)), [3, 4]);
    c.onGetReply(1, 2, ok(v.reply(2)), 0);
    const done = c.onGetReply(1, 3, ok(v.reply(3)), 0);
    assert.deepEqual(done, [{ kind: "succeed", result: { kind: "value", version: 4, value: Buffer.from("checked twice"), valueBytes: 13, expiresAtMs: 0 } }]);
  });

  it("fetches large shards chunk by chunk, pinned to the version, and checks each whole shard", () => {
    const value = Buffer.alloc(200);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 255;
    const c = coordinator({ chunkBytesMax: 24 });
    c.start(VIEW, 0);
    const v = replies(6, value, 24);
    const size = v.blobs[0].length;
    assert(size > 24, "the shard spans chunks");
    c.onGetReply(1, 0, ok(v.reply(0)), 0);
    c.onGetReply(1, 1, ok(v.reply(1)), 0);
    const fetches = c.onGetReply(1, 2, ok(v.reply(2)), 0);
    assert.deepEqual(asked(fetches), [0, 1, 2]);
    for (const effect of fetches) assert.deepEqual((effect as { request: { wantVersion: number; offset: number } }).request.wantVersion, 6);
    // Serve every chunk; node 1's second chunk is corrupt: node 1 fails, node 3 is asked.
    let pending = fetches;
    let result: ReadEffect[] = [];
    for (let round = 0; round < 50 && pending.length > 0; round++) {
      const next: ReadEffect[] = [];
      for (const effect of pending) {
        if (effect.kind !== "get") {
          result.push(effect);
          continue;
        }
        const { node, request } = effect as { node: number; request: { wantVersion: number; offset: number; lengthMax: number } };
        if (request.wantVersion === 0) {
          next.push(...c.onGetReply(1, node, ok(v.reply(node)), 0));
          continue;
        }
        const data = Buffer.from(v.blobs[node].subarray(request.offset, request.offset + request.lengthMax));
        if (node === 1 && request.offset === 24) data.fill(0);
        next.push(...c.onGetReply(1, node, ok({ ...v.reply(node), offset: request.offset, data }), 0));
      }
      pending = next;
    }
    result = result.filter((e) => e.kind === "succeed");
    assert.deepEqual(result, [{ kind: "succeed", result: { kind: "value", version: 6, value, valueBytes: value.length, expiresAtMs: 0 } }]);
  });

  it("a newer version replacing the one being fetched means reading again", () => {
    const c = coordinator({ chunkBytesMax: 24 });
    c.start(VIEW, 0);
    const v = replies(6, Buffer.alloc(200, 1), 24);
    c.onGetReply(1, 0, ok(v.reply(0)), 0);
    c.onGetReply(1, 1, ok(v.reply(1)), 0);
    c.onGetReply(1, 2, ok(v.reply(2)), 0);
    const gone = c.onGetReply(1, 0, { kind: "refused", code: ResultCode.RESULT_CODE_VERSION_GONE, message: "replaced by 7", view: null }, 0);
    assert.deepEqual(kinds(gone), ["wait"]);
  });

  it("judges a TTL deadline when the attempt began, not at its last reply", () => {
    // The k replies of version 6 came before its deadline (1050); the chunks ended after it.
    // The version was the key's when those replies were answered, so the read returns it: by
    // the time of its last chunk a newer write may have replaced version 6 before its
    // deadline, and "absent" then would be a state the key never had (the simulator's seed
    // 227400597, profile evicting-lfu: an acknowledged set, then a read of "absent").
    const value = Buffer.alloc(200, 7);
    const v = replies(6, value, 24);
    const expiring = (node: number): EcGetReply => ({ ...v.reply(node), expiresAtMs: 1050 });
    const c = coordinator({ chunkBytesMax: 24 });
    c.start(VIEW, 1000);
    c.onGetReply(1, 0, ok(expiring(0)), 1005);
    c.onGetReply(1, 1, ok(expiring(1)), 1005);
    let pending = c.onGetReply(1, 2, ok(expiring(2)), 1005);
    const done: ReadEffect[] = [];
    for (let round = 0; round < 50 && pending.length > 0; round++) {
      const next: ReadEffect[] = [];
      for (const effect of pending) {
        if (effect.kind !== "get") {
          done.push(effect);
          continue;
        }
        const { node, request } = effect as { node: number; request: { offset: number; lengthMax: number } };
        const data = Buffer.from(v.blobs[node].subarray(request.offset, request.offset + request.lengthMax));
        next.push(...c.onGetReply(1, node, ok({ ...expiring(node), offset: request.offset, data }), 1100));
      }
      pending = next;
    }
    assert.deepEqual(done, [{ kind: "succeed", result: { kind: "value", version: 6, value, valueBytes: value.length, expiresAtMs: 1050 } }]);

    // Past the deadline when the attempt began: absent, with the version that expired.
    const late = coordinator();
    late.start(VIEW, 1050);
    const small = replies(6, Buffer.from("short"));
    late.onGetReply(1, 0, ok({ ...small.reply(0), expiresAtMs: 1050 }), 1051);
    late.onGetReply(1, 1, ok({ ...small.reply(1), expiresAtMs: 1050 }), 1051);
    assert.deepEqual(late.onGetReply(1, 2, ok({ ...small.reply(2), expiresAtMs: 1050 }), 1051), [
      { kind: "succeed", result: { kind: "absent", version: 6 } },
    ]);

    // A later attempt (after a backoff) judges at its own start.
    const again = coordinator({ extraNodes: 2 });
    again.start(VIEW, 1000);
    const v5 = replies(5, Buffer.from("old"));
    again.onGetReply(1, 0, ok({ ...small.reply(0), expiresAtMs: 1050 }), 1001);
    again.onGetReply(1, 1, ok({ ...small.reply(1), expiresAtMs: 1050 }), 1001);
    again.onGetReply(1, 2, ok(v5.reply(2)), 1001);
    again.onGetReply(1, 3, ok(v5.reply(3)), 1001);
    const backoff = again.onGetReply(1, 4, { kind: "silent", message: "down" }, 1001);
    assert.deepEqual(kinds(backoff), ["wait"]);
    assert.deepEqual(asked(again.onTimer((backoff[0] as { timer: number }).timer, 1060)), [0, 1, 2, 3, 4]);
    again.onGetReply(2, 0, ok({ ...small.reply(0), expiresAtMs: 1050 }), 1061);
    again.onGetReply(2, 1, ok({ ...small.reply(1), expiresAtMs: 1050 }), 1061);
    assert.deepEqual(again.onGetReply(2, 2, ok({ ...small.reply(2), expiresAtMs: 1050 }), 1061), [
      { kind: "succeed", result: { kind: "absent", version: 6 } },
    ]);
  });

  it("too few answers: refreshes the view, then fails with UnavailableError when nothing changed", () => {
    const c = coordinator({ extraNodes: 2 });
    c.start(VIEW, 0);
    const v = replies(4, Buffer.from("x"));
    c.onGetReply(1, 0, ok(v.reply(0)), 0);
    c.onGetReply(1, 1, ok(v.reply(1)), 0);
    c.onGetReply(1, 2, { kind: "silent", message: "connection refused" }, 0);
    c.onGetReply(1, 3, { kind: "silent", message: "connection refused" }, 0);
    const refresh = c.onGetReply(1, 4, { kind: "silent", message: "connection refused" }, 0);
    assert.deepEqual(kinds(refresh), ["refreshView"]);
    const end = c.onViewRefreshed(VIEW, 1);
    assert.equal(end.length, 1);
    const error = (end[0] as { error: Error }).error;
    assert(error instanceof UnavailableError);
    assert.match(error.message, /only 2 of 5 nodes answered, 3 needed/);
  });

  it("reads again in a newer view, and again when nodes refused for their epoch (they catch up)", () => {
    const c = coordinator({ extraNodes: 2 });
    c.start(VIEW, 0);
    for (const node of [0, 1]) assert.deepEqual(c.onGetReply(1, node, { kind: "silent", message: "down" }, 0), []);
    // The third failure leaves too few outstanding to reach k: refresh at once.
    assert.deepEqual(kinds(c.onGetReply(1, 2, { kind: "silent", message: "down" }, 0)), ["refreshView"]);
    const newer: View = { epoch: 4, members: [0, 1, 2], recovering: [3, 4] };
    const retry = c.onViewRefreshed(newer, 1);
    assert.deepEqual(asked(retry), [0, 1, 2]);
    assert.equal((retry[0] as { epoch: number }).epoch, 4);
    const stale = { kind: "refused" as const, code: ResultCode.RESULT_CODE_STALE_EPOCH, message: "node is at epoch 3", view: null };
    assert.deepEqual(kinds(c.onGetReply(2, 0, stale, 1)), ["refreshView"], "members 3, 4 are recovering: no one else to ask");
    assert.deepEqual(kinds(c.onViewRefreshed(newer, 2)), ["wait"], "lagging nodes: back off and read again");
  });

  it("a view learned mid-read is kept for the next attempt; the current one keeps asking its own members", () => {
    const c = coordinator();
    c.start(VIEW, 0);
    const newer: View = { epoch: 9, members: [1, 2, 3], recovering: [0, 4] };
    const stale = { kind: "refused" as const, code: ResultCode.RESULT_CODE_STALE_EPOCH, message: "node is at epoch 9", view: newer };
    // Node 0 refuses with the newer view: the attempt still expands to its own view's members.
    assert.deepEqual(asked(c.onGetReply(1, 0, stale, 0)), [3, 4]);
    c.onGetReply(1, 1, stale, 0);
    assert.deepEqual(kinds(c.onGetReply(1, 2, stale, 0)), ["refreshView"]);
    const next = c.onViewRefreshed(null, 1);
    assert.deepEqual(asked(next), [1, 2, 3], "the next attempt reads in the newest view seen");
  });

  it("a layout this client is not configured for is a ConfigError naming both", () => {
    const c = coordinator();
    c.start(VIEW, 0);
    const v = replies(4, Buffer.from("y"));
    const foreign = (node: number): EcGetReply => ({ ...v.reply(node), layout: { ...v.reply(node).layout!, dataShards: 4, parityShards: 1 } });
    c.onGetReply(1, 0, ok(foreign(0)), 0);
    c.onGetReply(1, 1, ok(foreign(1)), 0);
    const end = c.onGetReply(1, 2, ok(foreign(2)), 0);
    const error = (end[0] as { error: Error }).error;
    assert(error instanceof ConfigError);
    assert.match(error.message, /4 data \+ 1 parity shards; this client is configured for k=3, n=5/);
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
