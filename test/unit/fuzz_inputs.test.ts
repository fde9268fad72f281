// The port fuzzer's inputs (src/fuzz): pure, seeded generators and guards.
// Properties: a seed gives the same inputs byte for byte (so a failing seed replays); lanes
// get different seeds; mutations stay within their growth bound; the valid messages decode
// with the node's own decoders; the guards leave out exactly the privileged, well-formed
// requests (a write of an acknowledged key, a join of a real shard index, a peer message to
// the node from a member or at a live term, a membership change of a real address) and send
// everything else, including bytes that do not decode; RESP inputs never name an
// acknowledged key.
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/env";
import { Op, OpBatch } from "../../src/gen/ecc";
import { KvBatch, PeerBatch } from "../../src/gen/raft";
import { GrpcFuzzContext, grpcRpcs } from "../../src/fuzz/grpc_inputs";
import { MUTATIONS_PER_INPUT_MAX, MUTATION_GROWTH_BYTES_MAX, mutate, varint } from "../../src/fuzz/mutate";
import { ACKNOWLEDGED_KEY_PREFIX, laneSeed } from "../../src/fuzz/runner";
import { httpInput, respInput } from "../../src/fuzz/text_inputs";

const servers = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003", "127.0.0.1:7004", "127.0.0.1:7005"];
const context: GrpcFuzzContext = { servers, target: servers[1], shardCount: 5, acknowledgedKeyPrefix: ACKNOWLEDGED_KEY_PREFIX };

function rpc(mode: "ecc" | "raft", name: string) {
  const found = grpcRpcs(mode).find((candidate) => candidate.name === name);
  assert(found !== undefined, name);
  return found;
}

describe("port fuzzer inputs", () => {
  it("one seed gives the same inputs on every run, and lanes get seeds of their own", () => {
    for (const mode of ["ecc", "raft"] as const) {
      for (const one of grpcRpcs(mode)) {
        const first = new SeededRandom(laneSeed(42, one.name));
        const second = new SeededRandom(laneSeed(42, one.name));
        for (let i = 0; i < 200; i++) assert(one.generate(first, context).equals(one.generate(second, context)), `${one.name} input ${i}`);
      }
    }
    const a = new SeededRandom(7);
    const b = new SeededRandom(7);
    for (let i = 0; i < 200; i++) {
      assert(respInput(a).equals(respInput(b)));
      assert(httpInput(a).equals(httpInput(b)));
    }
    assert.notEqual(laneSeed(42, "resp"), laneSeed(42, "http"));
    assert.notEqual(laneSeed(42, "resp"), laneSeed(43, "resp"));
  });

  it("mutations change the bytes within their growth bound", () => {
    const random = new SeededRandom(1);
    const input = Buffer.from("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n");
    let changed = 0;
    for (let i = 0; i < 1_000; i++) {
      const output = mutate(random, input);
      assert(output.length <= input.length + MUTATIONS_PER_INPUT_MAX * MUTATION_GROWTH_BYTES_MAX + 11 * MUTATIONS_PER_INPUT_MAX);
      if (!output.equals(input)) changed++;
    }
    assert(changed > 950, `${changed} of 1000 changed`);
    assert.deepEqual([...varint(300n)], [0xac, 0x02]);
    assert.deepEqual([...varint(2n ** 64n - 1n)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it("generates messages that the node's decoders take, besides the broken ones", () => {
    const random = new SeededRandom(5);
    const decoders: Record<string, (bytes: Uint8Array) => unknown> = {
      "EccNode/Exchange": OpBatch.decode,
      "EccNode/Call": Op.decode,
      "RaftPeer/Deliver": PeerBatch.decode,
      "RaftKv/Exchange": KvBatch.decode,
    };
    for (const mode of ["ecc", "raft"] as const) {
      for (const one of grpcRpcs(mode)) {
        let decoded = 0;
        let undecodable = 0;
        for (let i = 0; i < 500; i++) {
          try {
            decoders[one.name](one.generate(random, context));
            decoded++;
          } catch {
            undecodable++;
          }
        }
        assert(decoded > 150, `${one.name}: ${decoded} of 500 decode`);
        assert(undecodable > 50, `${one.name}: ${undecodable} of 500 do not decode`);
      }
    }
  });

  it("guards leave out privileged well-formed requests and send the rest", () => {
    const encode = (op: Op) => Buffer.from(Op.encode(op).finish());
    const call = rpc("ecc", "EccNode/Call");
    const acknowledgedKey = Buffer.from(`${ACKNOWLEDGED_KEY_PREFIX}3`);
    assert.equal(call.guard(encode(Op.fromPartial({ body: { $case: "commit", value: { key: acknowledgedKey, version: 9 } } })), context), "acknowledged key");
    assert.equal(call.guard(encode(Op.fromPartial({ body: { $case: "join", value: { shardIndex: 2 } } })), context), "join of a real shard index");
    assert.equal(call.guard(encode(Op.fromPartial({ body: { $case: "join", value: { shardIndex: 5 } } })), context), null);
    assert.equal(call.guard(encode(Op.fromPartial({ body: { $case: "get", value: { key: Buffer.from("fz:1") } } })), context), null);
    assert.equal(call.guard(Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]), context), null, "undecodable bytes are sent");

    const peer = rpc("ecc", "RaftPeer/Deliver");
    const batch = (from: string, to: string, term: number) => Buffer.from(PeerBatch.encode({ messages: [{ from, to, term, body: { $case: "heartbeat", value: { commitIndex: 1, readRound: 0 } } }] }).finish());
    assert.equal(peer.guard(batch(servers[0], servers[1], 0), context), "peer message from a member");
    assert.equal(peer.guard(batch("127.0.0.1:1", servers[1], 3), context), "peer message at a live term");
    assert.equal(peer.guard(batch("127.0.0.1:1", servers[1], 0), context), null);
    assert.equal(peer.guard(batch(servers[0], servers[2], 5), context), null, "a message for another node is dropped by the transport");

    const kv = rpc("raft", "RaftKv/Exchange");
    const member = (address: string) => Buffer.from(KvBatch.encode({ ops: [{ id: 1, body: { $case: "addMember", value: { address } } }] }).finish());
    assert.equal(kv.guard(member("127.0.0.1:9"), context), "membership change of a real address");
    assert.equal(kv.guard(member("[::1"), context), null);
  });

  it("RESP inputs never name an acknowledged key", () => {
    const random = new SeededRandom(11);
    for (let i = 0; i < 2_000; i++) assert(!respInput(random).includes(ACKNOWLEDGED_KEY_PREFIX));
  });
});
