// EccNodeCore's answer to EcCommit across a view change. Property: an EcCommit this node
// already carried out is answered OK again when it arrives a second time (a duplicate, or a
// resend after a lost answer), even at an epoch the node has left; anything else at an old
// epoch is still refused with STALE_EPOCH. Why it matters: a coordinator refused by every node
// concludes that nobody committed and writes again under a new tx; found by the ecc simulator
// (seed 640529890, profile evicting-lfu): an eviction's tombstone committed on one node, whose
// duplicate EcCommit answered STALE_EPOCH after the view changed, the tx was then committed
// everywhere by resolution, and the drop, retried, reported "condition did not hold".
import assert from "node:assert/strict";
import { crc32 } from "../../src/codec/checksum";
import { TableCodec } from "../../src/codec/table_codec";
import { Op, ResultCode, WriteReason } from "../../src/gen/ecc";
import { EccNodeCore, OpBody } from "../../src/ecc/node_core";
import { View } from "../../src/ecc/view";

const N = 5;
const K = 3;
const WALL_MS = 1_800_000_000_000;
const E1: View = { epoch: 1, members: [0, 1, 2, 3, 4], recovering: [] };
const E2: View = { epoch: 2, members: [0, 1, 2, 3], recovering: [] };
const KEY = Buffer.from("k0");

function txId(n: number): Buffer {
  const id = Buffer.alloc(16);
  id.writeUInt32BE(n, 0);
  return id;
}

/** A tombstone's EcPrepare (one message, no shard bytes). */
function prepare(tx: Buffer): OpBody {
  return {
    $case: "prepare",
    value: {
      key: KEY,
      txId: tx,
      shardIndex: 0,
      layout: { valueBytes: 0, blockBytes: 16, dataShards: K, parityShards: N - K, valueCrc32: crc32(Buffer.alloc(0)) },
      tombstone: true,
      shardCrc32: 0,
      offset: 0,
      data: Buffer.alloc(0),
      last: true,
      leaseMs: 1_000,
      reason: WriteReason.WRITE_REASON_EVICT,
    },
  };
}

function commit(tx: Buffer, version: number): OpBody {
  return { $case: "commit", value: { key: KEY, txId: tx, version, resolution: false, expiresAtMs: 0 } };
}

describe("EccNodeCore: a repeated EcCommit across a view change", () => {
  it("answers OK for the tx it committed, at the old epoch; refuses everything else there", () => {
    const core = new EccNodeCore({
      shardIndex: 0,
      shardCount: N,
      dataShards: K,
      blockBytes: 16,
      address: "n0",
      heartbeatTimeoutMs: 1_000,
      needsRebuild: false,
      initialView: E1,
      codec: new TableCodec(K, N - K),
    });
    const handle = (epoch: number, body: OpBody): ResultCode => {
      const op: Op = { id: 1, epoch, body };
      return core.handle(op, 1_000, false, "n1", WALL_MS).result.code;
    };
    const a = txId(1);
    assert.equal(handle(1, prepare(a)), ResultCode.RESULT_CODE_OK);
    assert.equal(handle(1, commit(a, 1)), ResultCode.RESULT_CODE_OK);
    assert.equal(core.replica.store.version("k0"), 1);
    core.onView(E2, 1_000);
    assert.equal(core.view().epoch, 2);

    // The same EcCommit again, still at epoch 1: done here, so OK, and nothing changes.
    assert.equal(handle(1, commit(a, 1)), ResultCode.RESULT_CODE_OK);
    assert.equal(core.replica.store.version("k0"), 1);
    // Not what this tx committed (another version), or another tx: the epoch rule holds.
    assert.equal(handle(1, commit(a, 2)), ResultCode.RESULT_CODE_STALE_EPOCH);
    const b = txId(2);
    assert.equal(handle(1, prepare(b)), ResultCode.RESULT_CODE_STALE_EPOCH);
    assert.equal(handle(1, commit(b, 2)), ResultCode.RESULT_CODE_STALE_EPOCH);
    // At the current epoch the repeat is OK as before.
    assert.equal(handle(2, commit(a, 1)), ResultCode.RESULT_CODE_OK);
  });
});
