// The raft client against a real gRPC server on loopback that plays a node. Sessions: it plays the leader:
// it answers every write at once except the first, which it holds, and applies every write
// it receives to a real KvState in arrival order.
// Property: one write stuck in retries while thousands of others of the same client finish
// (a node's RESP door shares one client among all its connections) is still applied when it
// finally arrives, never taken for a duplicate. The state machine keeps at most
// KV_SESSION_SEQS_MAX applied seqs above a session's floor and then raises the floor over
// the oldest; the client must open a new session before its seqs in flight span that far.
// Another node at an address: a node that names the very address the client asked as the
// leader is not the node of that address, and the client dials that address anew.
import assert from "node:assert/strict";
import { Server, ServerCredentials, ServerDuplexStream } from "@grpc/grpc-js";
import { KvBatch, KvCode, KvResult, KvResultBatch, RaftKvService } from "../../src/gen/raft";
import { KV_SESSION_SEQS_MAX } from "../../src/core/limits";
import { RaftClient } from "../../src/raft/client";
import { KvState } from "../../src/raft/kv_state";
import { RAFT_SERVER_OPTIONS } from "../../src/transport/grpc_options";

describe("raft client sessions", () => {
  it("a write held while more than KV_SESSION_SEQS_MAX others finish is applied when it arrives, not taken for a duplicate", async function () {
    this.timeout(60_000);
    const kv = new KvState();
    let atMs = 1;
    const apply = (body: NonNullable<KvBatch["ops"][number]["body"]>): boolean => {
      assert.equal(body.$case, "set");
      const { key, value, clientId, seq, floor } = body.value;
      return kv.apply({ op: "set", clientId, seq, floor, atMs: atMs++, key, value, expiresAtMs: 0 }, atMs).applied;
    };
    let held: { op: KvBatch["ops"][number]; answer: (result: KvResult) => void } | null = null;
    const server = new Server(RAFT_SERVER_OPTIONS);
    server.addService(RaftKvService, {
      exchange: (stream: ServerDuplexStream<KvBatch, KvResultBatch>) => {
        stream.on("data", (batch: KvBatch) => {
          const results: KvResult[] = [];
          for (const op of batch.ops) {
            if (held === null && op.body?.$case === "set" && op.body.value.key.toString() === "stuck") {
              held = { op, answer: (result) => stream.write({ results: [result] }) };
              continue;
            }
            apply(op.body!);
            results.push(KvResult.fromPartial({ id: op.id, code: KvCode.KV_CODE_OK }));
          }
          if (results.length > 0) stream.write({ results });
        });
        stream.on("end", () => stream.end());
        stream.on("error", () => undefined);
      },
      call: () => undefined,
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
    );
    const client = new RaftClient({ servers: [`127.0.0.1:${port}`], rpcTimeoutMs: 60_000 });
    try {
      const stuck = client.set("stuck", Buffer.from("first"));
      const others = KV_SESSION_SEQS_MAX + 100;
      for (let start = 0; start < others; start += 512) {
        await Promise.all(Array.from({ length: Math.min(512, others - start) }, (_, i) => client.set(`k${start + i}`, Buffer.from("v"))));
      }
      assert.ok(held !== null, "the server holds the first write");
      const stuckOp = held as { op: KvBatch["ops"][number]; answer: (result: KvResult) => void };
      // The held write arrives now (as a retry would, after a leader change).
      assert.equal(apply(stuckOp.op.body!), true, "the held write is applied, not taken for one applied before");
      stuckOp.answer(KvResult.fromPartial({ id: stuckOp.op.id, code: KvCode.KV_CODE_OK }));
      await stuck;
      assert.ok(client.sessionCount >= 2, `${client.sessionCount} session(s): the client opened a new one while the write was held`);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe("raft client: another node at a node's address", () => {
  it("a node that names the very address the client asked as the leader is another node: the client dials that address anew", async function () {
    this.timeout(30_000);
    let streams = 0;
    let answered = 0;
    let address = "";
    const server = new Server(RAFT_SERVER_OPTIONS);
    server.addService(RaftKvService, {
      exchange: (stream: ServerDuplexStream<KvBatch, KvResultBatch>) => {
        streams++;
        stream.on("data", (batch: KvBatch) => {
          // The first answer comes from "another node" that knows the leader is at `address`.
          const results = batch.ops.map((op) =>
            answered++ === 0
              ? KvResult.fromPartial({ id: op.id, code: KvCode.KV_CODE_NOT_LEADER, message: "not the leader", leaderHint: address })
              : KvResult.fromPartial({ id: op.id, code: KvCode.KV_CODE_OK, found: true, value: Buffer.from("v") }),
          );
          stream.write({ results });
        });
        stream.on("end", () => stream.end());
        stream.on("error", () => undefined);
      },
      call: () => undefined,
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
    );
    address = `127.0.0.1:${port}`;
    const client = new RaftClient({ servers: [address], rpcTimeoutMs: 5_000, attemptsMax: 5 });
    try {
      assert.deepEqual(await client.get("k"), Buffer.from("v"));
      assert.equal(client.redialCount, 1);
      assert.equal(streams, 2, "the second attempt went out on a stream of the new channel");
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
