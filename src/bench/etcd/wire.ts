// The few etcd v3 API messages the bench needs, encoded by hand with the protobuf wire
// library this project already depends on (@bufbuild/protobuf).
//
// Why by hand and not a .proto file: proto/ holds this product's own APIs only, and a .proto
// loaded at run time needs @grpc/proto-loader, which is not a declared dependency (it is
// present only as grpc-js's own dependency) and needs the .proto file shipped next to
// dist/ (tsc does not copy it). Five small messages are little code, and the unit test
// checks them against hand-computed bytes. Field numbers are those of etcd's
// etcdserver/etcdserverpb/rpc.proto and mvcc/mvccpb/kv.proto (stable since etcd 3.0):
//
//   RangeRequest       { bytes key = 1; bytes range_end = 2; int64 limit = 3; ...
//                        bool serializable = 7; bool keys_only = 8; bool count_only = 9; }
//   RangeResponse      { ResponseHeader header = 1; repeated KeyValue kvs = 2; bool more = 3; int64 count = 4; }
//   KeyValue           { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3;
//                        int64 version = 4; bytes value = 5; int64 lease = 6; }
//   PutRequest         { bytes key = 1; bytes value = 2; int64 lease = 3; bool prev_kv = 4; ... }
//   PutResponse        { ResponseHeader header = 1; KeyValue prev_kv = 2; }
//   DeleteRangeRequest { bytes key = 1; bytes range_end = 2; bool prev_kv = 3; }
//   DeleteRangeResponse{ ResponseHeader header = 1; int64 deleted = 2; repeated KeyValue prev_kvs = 3; }
//   StatusRequest      {}
//   StatusResponse     { ResponseHeader header = 1; string version = 2; int64 dbSize = 3; uint64 leader = 4;
//                        uint64 raftIndex = 5; uint64 raftTerm = 6; uint64 raftAppliedIndex = 7;
//                        repeated string errors = 8; int64 dbSizeInUse = 9; bool isLearner = 10; }
//   ResponseHeader     { uint64 cluster_id = 1; uint64 member_id = 2; int64 revision = 3; uint64 raft_term = 4; }
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

export const ETCD_METHODS = {
  range: "/etcdserverpb.KV/Range",
  put: "/etcdserverpb.KV/Put",
  deleteRange: "/etcdserverpb.KV/DeleteRange",
  status: "/etcdserverpb.Maintenance/Status",
} as const;

export interface RangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  limit?: number;
  serializable?: boolean;
  countOnly?: boolean;
}

export interface KeyValue {
  key: Buffer;
  value: Buffer;
  modRevision: number;
  version: number;
}

export interface RangeResponse {
  revision: number;
  kvs: KeyValue[];
  count: number;
}

export interface StatusResponse {
  memberId: string;
  version: string;
  dbSize: number;
  dbSizeInUse: number;
  leader: string;
  raftIndex: number;
  raftTerm: number;
  errors: string[];
}

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;

export function encodeRangeRequest(request: RangeRequest): Buffer {
  const writer = new BinaryWriter();
  writer.tag(1, LEN).bytes(request.key);
  if (request.rangeEnd !== undefined) writer.tag(2, LEN).bytes(request.rangeEnd);
  if (request.limit !== undefined && request.limit !== 0) writer.tag(3, VARINT).int64(request.limit);
  if (request.serializable === true) writer.tag(7, VARINT).bool(true);
  if (request.countOnly === true) writer.tag(9, VARINT).bool(true);
  return Buffer.from(writer.finish());
}

export function encodePutRequest(key: Uint8Array, value: Uint8Array): Buffer {
  const writer = new BinaryWriter();
  writer.tag(1, LEN).bytes(key);
  writer.tag(2, LEN).bytes(value);
  return Buffer.from(writer.finish());
}

export function encodeDeleteRangeRequest(key: Uint8Array): Buffer {
  const writer = new BinaryWriter();
  writer.tag(1, LEN).bytes(key);
  return Buffer.from(writer.finish());
}

export function encodeStatusRequest(): Buffer {
  return Buffer.alloc(0);
}

function toNumber(value: bigint | string): number {
  return Number(value);
}

/** Reads fields until `end`, calling `field` for each; unknown fields are skipped. */
function readFields(reader: BinaryReader, end: number, field: (fieldNo: number, wireType: WireType) => boolean): void {
  while (reader.pos < end) {
    const [fieldNo, wireType] = reader.tag();
    if (!field(fieldNo, wireType)) reader.skip(wireType, fieldNo);
  }
}

function decodeHeaderRevision(reader: BinaryReader, length: number): { revision: number; memberId: string } {
  const end = reader.pos + length;
  let revision = 0;
  let memberId = "0";
  readFields(reader, end, (fieldNo, wireType) => {
    if (fieldNo === 3 && wireType === VARINT) revision = toNumber(reader.int64());
    else if (fieldNo === 2 && wireType === VARINT) memberId = reader.uint64().toString();
    else return false;
    return true;
  });
  return { revision, memberId };
}

function decodeKeyValue(reader: BinaryReader, length: number): KeyValue {
  const end = reader.pos + length;
  const kv: KeyValue = { key: Buffer.alloc(0), value: Buffer.alloc(0), modRevision: 0, version: 0 };
  readFields(reader, end, (fieldNo, wireType) => {
    if (fieldNo === 1 && wireType === LEN) kv.key = Buffer.from(reader.bytes());
    else if (fieldNo === 5 && wireType === LEN) kv.value = Buffer.from(reader.bytes());
    else if (fieldNo === 3 && wireType === VARINT) kv.modRevision = toNumber(reader.int64());
    else if (fieldNo === 4 && wireType === VARINT) kv.version = toNumber(reader.int64());
    else return false;
    return true;
  });
  return kv;
}

export function decodeRangeResponse(bytes: Uint8Array): RangeResponse {
  const reader = new BinaryReader(bytes);
  const response: RangeResponse = { revision: 0, kvs: [], count: 0 };
  readFields(reader, reader.len, (fieldNo, wireType) => {
    if (fieldNo === 1 && wireType === LEN) response.revision = decodeHeaderRevision(reader, reader.uint32()).revision;
    else if (fieldNo === 2 && wireType === LEN) response.kvs.push(decodeKeyValue(reader, reader.uint32()));
    else if (fieldNo === 4 && wireType === VARINT) response.count = toNumber(reader.int64());
    else return false;
    return true;
  });
  return response;
}

/** Put and DeleteRange responses: only the header's revision matters to the bench. */
export function decodeWriteResponse(bytes: Uint8Array): { revision: number; deleted: number } {
  const reader = new BinaryReader(bytes);
  let revision = 0;
  let deleted = 0;
  readFields(reader, reader.len, (fieldNo, wireType) => {
    if (fieldNo === 1 && wireType === LEN) revision = decodeHeaderRevision(reader, reader.uint32()).revision;
    else if (fieldNo === 2 && wireType === VARINT) deleted = toNumber(reader.int64());
    else return false;
    return true;
  });
  return { revision, deleted };
}

export function decodeStatusResponse(bytes: Uint8Array): StatusResponse {
  const reader = new BinaryReader(bytes);
  const status: StatusResponse = { memberId: "0", version: "", dbSize: 0, dbSizeInUse: 0, leader: "0", raftIndex: 0, raftTerm: 0, errors: [] };
  readFields(reader, reader.len, (fieldNo, wireType) => {
    if (fieldNo === 1 && wireType === LEN) status.memberId = decodeHeaderRevision(reader, reader.uint32()).memberId;
    else if (fieldNo === 2 && wireType === LEN) status.version = reader.string();
    else if (fieldNo === 3 && wireType === VARINT) status.dbSize = toNumber(reader.int64());
    else if (fieldNo === 4 && wireType === VARINT) status.leader = reader.uint64().toString();
    else if (fieldNo === 5 && wireType === VARINT) status.raftIndex = toNumber(reader.uint64());
    else if (fieldNo === 6 && wireType === VARINT) status.raftTerm = toNumber(reader.uint64());
    else if (fieldNo === 8 && wireType === LEN) status.errors.push(reader.string());
    else if (fieldNo === 9 && wireType === VARINT) status.dbSizeInUse = toNumber(reader.int64());
    else return false;
    return true;
  });
  return status;
}
