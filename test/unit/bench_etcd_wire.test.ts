// The hand-encoded etcd v3 messages of the etcd bench client (src/bench/etcd/wire.ts).
// Checks: requests encode to the exact bytes protoc would produce for etcd's rpc.proto field
// numbers (worked out by hand below); responses built field by field decode to the right
// values, 64-bit member ids survive exactly, and unknown fields are skipped.
import assert from "node:assert/strict";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  decodeRangeResponse,
  decodeStatusResponse,
  decodeWriteResponse,
  encodeDeleteRangeRequest,
  encodePutRequest,
  encodeRangeRequest,
} from "../../src/bench/etcd/wire";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

function header(writer: BinaryWriter, fields: { memberId?: bigint; revision?: number }): void {
  writer.tag(1, WireType.LengthDelimited).fork();
  writer.tag(1, WireType.Varint).uint64(7n); // cluster_id
  if (fields.memberId !== undefined) writer.tag(2, WireType.Varint).uint64(fields.memberId);
  if (fields.revision !== undefined) writer.tag(3, WireType.Varint).int64(fields.revision);
  writer.tag(4, WireType.Varint).uint64(3); // raft_term
  writer.join();
}

describe("bench etcd wire format", () => {
  it("encodes Put, Range and DeleteRange requests byte for byte", () => {
    // key (1, bytes) "k1", value (2, bytes) "v"
    assert.equal(hex(encodePutRequest(Buffer.from("k1"), Buffer.from("v"))), "0a026b31120176");
    // key "\0", range_end "\0" (the whole keyspace), serializable (7) = true, count_only (9) = true
    assert.equal(
      hex(encodeRangeRequest({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), countOnly: true, serializable: true })),
      "0a0100" + "120100" + "3801" + "4801",
    );
    assert.equal(hex(encodeRangeRequest({ key: Buffer.from("a") })), "0a0161");
    assert.equal(hex(encodeRangeRequest({ key: Buffer.from("a"), limit: 1 })), "0a0161" + "1801");
    assert.equal(hex(encodeDeleteRangeRequest(Buffer.from("a"))), "0a0161");
  });

  it("decodes a RangeResponse with its key-values, skipping unknown fields", () => {
    const writer = new BinaryWriter();
    header(writer, { revision: 17 });
    writer.tag(2, WireType.LengthDelimited).fork();
    writer.tag(1, WireType.LengthDelimited).bytes(Buffer.from("k1"));
    writer.tag(2, WireType.Varint).int64(5); // create_revision
    writer.tag(3, WireType.Varint).int64(17); // mod_revision
    writer.tag(4, WireType.Varint).int64(2); // version
    writer.tag(5, WireType.LengthDelimited).bytes(Buffer.from("hello"));
    writer.tag(6, WireType.Varint).int64(0); // lease
    writer.join();
    writer.tag(3, WireType.Varint).bool(false); // more
    writer.tag(4, WireType.Varint).int64(1); // count
    writer.tag(99, WireType.LengthDelimited).bytes(Buffer.from("future field"));
    const response = decodeRangeResponse(writer.finish());
    assert.equal(response.revision, 17);
    assert.equal(response.count, 1);
    assert.equal(response.kvs.length, 1);
    assert.deepEqual(response.kvs[0], { key: Buffer.from("k1"), value: Buffer.from("hello"), modRevision: 17, version: 2 });
    assert.deepEqual(decodeRangeResponse(new Uint8Array(0)), { revision: 0, kvs: [], count: 0 });
  });

  it("decodes Put/DeleteRange responses and a Maintenance Status", () => {
    const put = new BinaryWriter();
    header(put, { revision: 99 });
    put.tag(2, WireType.Varint).int64(1); // DeleteRangeResponse.deleted
    assert.deepEqual(decodeWriteResponse(put.finish()), { revision: 99, deleted: 1 });

    const status = new BinaryWriter();
    header(status, { memberId: 12345678901234567890n, revision: 5 });
    status.tag(2, WireType.LengthDelimited).string("3.4.23");
    status.tag(3, WireType.Varint).int64(20_480);
    status.tag(4, WireType.Varint).uint64(987654321n);
    status.tag(5, WireType.Varint).uint64(42);
    status.tag(6, WireType.Varint).uint64(2);
    status.tag(7, WireType.Varint).uint64(42);
    status.tag(8, WireType.LengthDelimited).string("NOSPACE");
    status.tag(9, WireType.Varint).int64(16_384);
    status.tag(10, WireType.Varint).bool(false);
    assert.deepEqual(decodeStatusResponse(status.finish()), {
      memberId: "12345678901234567890",
      version: "3.4.23",
      dbSize: 20_480,
      dbSizeInUse: 16_384,
      leader: "987654321",
      raftIndex: 42,
      raftTerm: 2,
      errors: ["NOSPACE"],
    });
  });
});
