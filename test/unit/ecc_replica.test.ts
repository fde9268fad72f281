// EcShardReplica (the pure 2PC participant), stepped by hand.
// Properties: staged shards are invisible until EcCommit; versions only increase; a
// locked key refuses other writers; bad input (wrong shard index, shard counts, sizes,
// checksums, offsets, empty or oversized keys) is refused and changes nothing; a resolver's
// EcTxStatus fences a staged tx so a late coordinator EcCommit is refused; an unknown tx
// asked about is recorded as aborted so its late EcPrepare is refused; leases expire only
// with time; exact byte accounting.
import assert from "node:assert/strict";
import { crc32 } from "../../src/codec/checksum";
import { EcPrepare, ResultCode, TxState, WriteReason } from "../../src/gen/ecc";
import { EcShardReplica } from "../../src/ecc/shard_replica";
import { KEY_BYTES_MAX } from "../../src/core/limits";

const K = 3;
const M = 2;
const BLOCK = 64;

function replica(shardIndex = 1): EcShardReplica {
  return new EcShardReplica({ shardIndex, dataShards: K, parityShards: M, blockBytes: BLOCK, address: "test:1" });
}

function tx(n: number): Buffer {
  const id = Buffer.alloc(16);
  id.writeUInt32LE(n, 0);
  return id;
}

/** A one-chunk EcPrepare of a `valueBytes` value whose shard for this node is `shard`. */
function prepare(key: string, txId: Buffer, valueBytes: number, fill = 7, overrides: Partial<EcPrepare> = {}): EcPrepare {
  const shardBytes = Math.max(1, Math.ceil(valueBytes / K));
  const data = Buffer.alloc(shardBytes, fill);
  return {
    key: Buffer.from(key),
    txId,
    shardIndex: 1,
    layout: { valueBytes, blockBytes: BLOCK, dataShards: K, parityShards: M, valueCrc32: 0 },
    tombstone: false,
    shardCrc32: crc32(data),
    offset: 0,
    data,
    last: true,
    leaseMs: 1_000,
    reason: WriteReason.WRITE_REASON_CLIENT,
    ...overrides,
  };
}

describe("EcShardReplica", () => {
  it("stages on EcPrepare, shows nothing until EcCommit, then serves the version", () => {
    const r = replica();
    const p = r.prepare(prepare("a", tx(1), 30), 0);
    assert.equal(p.code, ResultCode.RESULT_CODE_OK);
    assert.equal(p.reply!.committedVersion, 0);
    assert.equal(r.get({ key: Buffer.from("a"), wantVersion: 0, offset: 0, lengthMax: 0, headerOnly: false, stripeChecksums: false }, 0).reply!.version, 0);
    assert.equal(r.commit({ key: Buffer.from("a"), txId: tx(1), version: 1, resolution: false , expiresAtMs: 0 }, 0).code, ResultCode.RESULT_CODE_OK);
    const g = r.get({ key: Buffer.from("a"), wantVersion: 0, offset: 0, lengthMax: 0, headerOnly: false, stripeChecksums: false }, 0).reply!;
    assert.equal(g.version, 1);
    assert.equal(g.data.length, 10);
    assert.equal(g.shardIndex, 1);
  });

  it("refuses a second writer while the key is locked, and versions only increase", () => {
    const r = replica();
    assert.equal(r.prepare(prepare("a", tx(1), 30), 0).code, ResultCode.RESULT_CODE_OK);
    assert.equal(r.prepare(prepare("a", tx(2), 30), 0).code, ResultCode.RESULT_CODE_LOCKED);
    assert.equal(r.commit({ key: Buffer.from("a"), txId: tx(1), version: 5, resolution: false , expiresAtMs: 0 }, 0).code, ResultCode.RESULT_CODE_OK);
    assert.equal(r.prepare(prepare("a", tx(2), 30), 0).reply!.committedVersion, 5);
    const stale = r.commit({ key: Buffer.from("a"), txId: tx(2), version: 5, resolution: false , expiresAtMs: 0 }, 0);
    assert.equal(stale.code, ResultCode.RESULT_CODE_STALE_VERSION);
    assert.equal(r.store.version("a"), 5);
  });

  it("EcAbort drops the staged shard and refuses a late EcPrepare of that tx", () => {
    const r = replica();
    assert.equal(r.prepare(prepare("a", tx(1), 30), 0).code, ResultCode.RESULT_CODE_OK);
    assert.equal(r.abort({ key: Buffer.from("a"), txId: tx(1) }).code, ResultCode.RESULT_CODE_OK);
    assert.equal(r.stats().stagedCount, 0);
    assert.equal(r.prepare(prepare("a", tx(1), 30), 0).code, ResultCode.RESULT_CODE_TX_ABORTED);
    assert.equal(r.prepare(prepare("a", tx(2), 30), 0).code, ResultCode.RESULT_CODE_OK);
  });

  it("refuses bad input and changes nothing", () => {
    const r = replica();
    const cases: Array<[string, EcPrepare]> = [
      ["wrong shard index", prepare("a", tx(1), 30, 7, { shardIndex: 0 })],
      ["wrong shard counts", prepare("a", tx(1), 30, 7, { layout: { valueBytes: 30, blockBytes: BLOCK, dataShards: 2, parityShards: 3, valueCrc32: 0 } })],
      ["wrong block size", prepare("a", tx(1), 30, 7, { layout: { valueBytes: 30, blockBytes: 128, dataShards: K, parityShards: M, valueCrc32: 0 } })],
      ["shard too short", prepare("a", tx(1), 30, 7, { data: Buffer.alloc(9), shardCrc32: crc32(Buffer.alloc(9)) })],
      ["shard too long", prepare("a", tx(1), 30, 7, { data: Buffer.alloc(11), shardCrc32: crc32(Buffer.alloc(11)) })],
      ["bad checksum", prepare("a", tx(1), 30, 7, { shardCrc32: 12345 })],
      ["first chunk not at 0", prepare("a", tx(1), 30, 7, { offset: 3 })],
      ["empty key", prepare("", tx(1), 30)],
      ["oversized key", prepare("k".repeat(KEY_BYTES_MAX + 1), tx(1), 30)],
      ["short tx id", prepare("a", Buffer.alloc(3), 30)],
      ["no layout", prepare("a", tx(1), 30, 7, { layout: undefined })],
      ["huge value", prepare("a", tx(1), 30, 7, { layout: { valueBytes: 2 ** 40, blockBytes: BLOCK, dataShards: K, parityShards: M, valueCrc32: 0 } })],
      ["silly lease", prepare("a", tx(1), 30, 7, { leaseMs: 0 })],
      ["tombstone with bytes", prepare("a", tx(1), 30, 7, { tombstone: true })],
    ];
    for (const [name, request] of cases) {
      const outcome = r.prepare(request, 0);
      assert.notEqual(outcome.code, ResultCode.RESULT_CODE_OK, name);
      assert.ok(outcome.message.length > 0, name);
      assert.equal(r.stats().stagedCount, 0, name);
      assert.equal(r.isLocked("a"), false, name);
    }
    assert.equal(r.store.size, 0);
  });

  it("assembles a multi-chunk shard in order and checks it at the end", () => {
    const r = replica();
    // 3 stripes of 3*64 value bytes, then 10 bytes: shard blob = 64 + 64 + 64 + 4.
    const valueBytes = 3 * K * BLOCK + 10;
    const blob = Buffer.alloc(3 * BLOCK + 4);
    for (let i = 0; i < blob.length; i++) blob[i] = i & 255;
    const base = prepare("big", tx(9), valueBytes, 0, { shardCrc32: crc32(blob) });
    const chunks = [blob.subarray(0, 100), blob.subarray(100, 150), blob.subarray(150)];
    let offset = 0;
    chunks.forEach((data, i) => {
      const outcome = r.prepare({ ...base, data, offset, last: i === chunks.length - 1 }, i);
      assert.equal(outcome.code, ResultCode.RESULT_CODE_OK, outcome.message);
      assert.equal(outcome.reply!.staged, i === chunks.length - 1);
      offset += data.length;
    });
    assert.equal(r.commit({ key: Buffer.from("big"), txId: tx(9), version: 1, resolution: false , expiresAtMs: 0 }, 0).code, ResultCode.RESULT_CODE_OK);
    const part = r.get({ key: Buffer.from("big"), wantVersion: 1, offset: 100, lengthMax: 50, headerOnly: false, stripeChecksums: false }, 0).reply!;
    assert.deepEqual(part.data, blob.subarray(100, 150));
    assert.equal(r.get({ key: Buffer.from("big"), wantVersion: 2, offset: 0, lengthMax: 0, headerOnly: false, stripeChecksums: false }, 0).code, ResultCode.RESULT_CODE_VERSION_GONE);
  });

  it("a resolver's EcTxStatus fences the tx: the coordinator's EcCommit is refused, a resolver's accepted", () => {
    const r = replica();
    assert.equal(r.prepare(prepare("a", tx(1), 30), 0).code, ResultCode.RESULT_CODE_OK);
    const status = r.txStatus({ key: Buffer.from("a"), txId: tx(1) });
    assert.equal(status.reply!.state, TxState.TX_STATE_STAGED);
    assert.equal(r.commit({ key: Buffer.from("a"), txId: tx(1), version: 1, resolution: false , expiresAtMs: 0 }, 0).code, ResultCode.RESULT_CODE_TX_ABORTED);
    assert.equal(r.commit({ key: Buffer.from("a"), txId: tx(1), version: 1, resolution: true , expiresAtMs: 0 }, 0).code, ResultCode.RESULT_CODE_OK);
    assert.equal(r.txStatus({ key: Buffer.from("a"), txId: tx(1) }).reply!.state, TxState.TX_STATE_COMMITTED);
  });

  it("an unknown tx asked about is recorded as aborted; its late EcPrepare is refused", () => {
    const r = replica();
    assert.equal(r.txStatus({ key: Buffer.from("a"), txId: tx(4) }).reply!.state, TxState.TX_STATE_UNKNOWN);
    assert.equal(r.prepare(prepare("a", tx(4), 30), 0).code, ResultCode.RESULT_CODE_TX_ABORTED);
  });

  it("hands out expired locks once, after the lease, and again after a failed resolution", () => {
    const r = replica();
    assert.equal(r.prepare(prepare("a", tx(1), 30), 100).code, ResultCode.RESULT_CODE_OK);
    assert.equal(r.prepare(prepare("b", tx(2), 30), 100).code, ResultCode.RESULT_CODE_OK);
    assert.deepEqual(r.takeExpiredLocks(1_099, 10), []);
    const expired = r.takeExpiredLocks(1_100, 10);
    assert.equal(expired.length, 2);
    assert.deepEqual(r.takeExpiredLocks(5_000, 10), [], "already being resolved");
    r.resolutionFailed(expired[0].key, expired[0].txId, 5_000, 500);
    assert.deepEqual(r.takeExpiredLocks(5_499, 10), []);
    assert.equal(r.takeExpiredLocks(5_500, 10).length, 1);
  });

  it("counts logical bytes exactly: payload (shards, and a CRC-32 per stripe of a value of several) + key + a 17-byte header per entry", () => {
    // 1 KiB values at version 1 without a TTL, in 64-byte blocks: 6 stripes of 3 × 64 bytes.
    const checksums = 4 * Math.ceil(1024 / (K * BLOCK));
    const r = replica();
    for (let i = 0; i < 10; i++) {
      const key = `key${i}`;
      assert.equal(r.prepare(prepare(key, tx(100 + i), 1024), 0).code, ResultCode.RESULT_CODE_OK);
      assert.equal(r.commit({ key: Buffer.from(key), txId: tx(100 + i), version: 1, resolution: false , expiresAtMs: 0 }, 0).code, ResultCode.RESULT_CODE_OK);
    }
    const stats = r.stats();
    assert.equal(stats.keyCount, 10);
    assert.equal(stats.payloadBytes, 10 * (Math.ceil(1024 / K) + checksums));
    assert.equal(stats.keyBytes, 10 * 4);
    assert.equal(stats.metaBytes, 10 * 17);
    assert.equal(stats.logicalBytes, stats.payloadBytes + stats.keyBytes + stats.metaBytes);
    // Overwrite with a smaller value: payload shrinks, key bytes stay.
    assert.equal(r.prepare(prepare("key0", tx(200), 3), 0).code, ResultCode.RESULT_CODE_OK);
    assert.equal(r.commit({ key: Buffer.from("key0"), txId: tx(200), version: 2, resolution: false , expiresAtMs: 0 }, 0).code, ResultCode.RESULT_CODE_OK);
    assert.equal(r.stats().payloadBytes, 9 * (Math.ceil(1024 / K) + checksums) + 1);
    assert.equal(r.stats().keyBytes, 40);
  });
});
