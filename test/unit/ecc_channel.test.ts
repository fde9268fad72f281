// One ecc node's channel against a real gRPC server on loopback that plays a node.
// Properties: a channel whose replies come from the node of another shard (a get reply naming
// another shard index, or a CONFIG_MISMATCH refusal) dials anew, at most once a second, and
// opens its next stream on the new channel; the reply itself reaches the caller unchanged
// (the coordinator decides what it means); replies from the right node never cause a dial.
// Found in CI's container suite: after two nodes were replaced at once, one took over the
// IP the other had had, and a healthy connection never resolves the name again.
import assert from "node:assert/strict";
import { Server, ServerCredentials, ServerDuplexStream } from "@grpc/grpc-js";
import { EcGetReply, EccNodeService, Op, OpBatch, Result, ResultBatch, ResultCode } from "../../src/gen/ecc";
import { EccChannel } from "../../src/transport/ecc_channel";
import { RAFT_SERVER_OPTIONS } from "../../src/transport/grpc_options";

/** A node that answers every get as the holder of `shard`, or refuses it with `refuse`. */
async function startNode(answer: { shard: number; refuse?: ResultCode }): Promise<{ address: string; streams: () => number; stop: () => void }> {
  let streams = 0;
  const server = new Server(RAFT_SERVER_OPTIONS);
  const reply = (op: Op): Result =>
    answer.refuse !== undefined
      ? { id: op.id, code: answer.refuse, message: "layout 3+2 is not this cluster's", body: undefined, currentView: undefined }
      : { id: op.id, code: ResultCode.RESULT_CODE_OK, message: "", body: { $case: "get", value: EcGetReply.fromPartial({ version: 7, shardIndex: answer.shard }) }, currentView: undefined };
  server.addService(EccNodeService, {
    exchange: (stream: ServerDuplexStream<OpBatch, ResultBatch>) => {
      streams++;
      stream.on("data", (batch: OpBatch) => stream.write({ results: batch.ops.map(reply) }));
      stream.on("end", () => stream.end());
      stream.on("error", () => undefined);
    },
    call: (_call: unknown, callback: (error: null, result: Result) => void) => callback(null, reply({ id: 0, epoch: 0, body: undefined })),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
  );
  return { address: `127.0.0.1:${port}`, streams: () => streams, stop: () => server.forceShutdown() };
}

const GET = { $case: "get" as const, value: { key: Buffer.from("k"), wantVersion: 0, offset: 0, lengthMax: 0, headerOnly: true, stripeChecksums: false } };

describe("ecc channel: another node at a shard's address", () => {
  it("a reply from another shard's node is passed on, and the channel dials anew: its next stream is a new one", async () => {
    const impostor = await startNode({ shard: 4 });
    const channel = new EccChannel(impostor.address, 3);
    try {
      const first = await channel.send(GET, 5_000);
      assert.equal(first.body?.$case === "get" && first.body.value.shardIndex, 4, "the reply is passed on unchanged");
      assert.equal(channel.redials, 1);
      assert.equal(impostor.streams(), 1);
      await channel.send(GET, 5_000);
      assert.equal(impostor.streams(), 2, "the next operation went out on a new stream of the new channel");
      assert.equal(channel.redials, 1, "at most one dial a second");
      const unary = await channel.call(GET, 5_000);
      assert.equal(unary.body?.$case === "get" && unary.body.value.shardIndex, 4);
    } finally {
      channel.close();
      impostor.stop();
    }
  });

  it("a CONFIG_MISMATCH refusal dials anew too", async () => {
    const node = await startNode({ shard: 3, refuse: ResultCode.RESULT_CODE_CONFIG_MISMATCH });
    const channel = new EccChannel(node.address, 3);
    try {
      const result = await channel.send(GET, 5_000);
      assert.equal(result.code, ResultCode.RESULT_CODE_CONFIG_MISMATCH);
      assert.equal(channel.redials, 1);
    } finally {
      channel.close();
      node.stop();
    }
  });

  it("replies from the shard's own node never cause a dial", async () => {
    const node = await startNode({ shard: 3 });
    const channel = new EccChannel(node.address, 3);
    try {
      for (let i = 0; i < 5; i++) await channel.send(GET, 5_000);
      await channel.call(GET, 5_000);
      assert.equal(channel.redials, 0);
      assert.equal(node.streams(), 1, "one stream carried every operation");
    } finally {
      channel.close();
      node.stop();
    }
  });
});
