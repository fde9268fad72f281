// Raft peer messaging over a real gRPC server on loopback.
// Properties: a message sent to a peer's address arrives there decoded; the Deliver stream
// answers with headers as soon as it opens, so the sender's gRPC call is committed and does
// not keep every message it wrote (gRPC-js holds an uncommitted call's messages for a retry).
import assert from "node:assert/strict";
import { Server, ServerCredentials, credentials } from "@grpc/grpc-js";
import { silentLogger } from "../../src/core/logger";
import { RaftPeerClient } from "../../src/gen/raft";
import { RaftPeerTransport } from "../../src/raft/peer_transport";
import { RAFT_CHANNEL_OPTIONS, RAFT_SERVER_OPTIONS } from "../../src/transport/grpc_options";
import { RaftMessage } from "../../src/raft/types";

const WAIT_MS = 5_000;

function bind(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => (error === null ? resolve(port) : reject(error)));
  });
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe("raft peer transport", () => {
  let server: Server;
  let address: string;
  let receiver: RaftPeerTransport;
  const received: RaftMessage[] = [];
  let onReceived: (() => void) | null = null;

  before(async () => {
    server = new Server(RAFT_SERVER_OPTIONS);
    const port = await bind(server);
    address = `127.0.0.1:${port}`;
    receiver = new RaftPeerTransport(address, silentLogger);
    receiver.register(server, (messages) => {
      received.push(...messages);
      onReceived?.();
    });
  });

  after(() => {
    receiver.close();
    server.forceShutdown();
  });

  it("delivers a message to the peer it is addressed to", async () => {
    const sender = new RaftPeerTransport("127.0.0.1:1", silentLogger);
    try {
      const arrived = new Promise<void>((resolve) => {
        onReceived = resolve;
      });
      sender.send([{ type: "PreVote", from: "127.0.0.1:1", to: address, term: 7, lastLogIndex: 3, lastLogTerm: 2 }]);
      await within(arrived, "message");
      assert.deepEqual(received.at(-1), { type: "PreVote", from: "127.0.0.1:1", to: address, term: 7, lastLogIndex: 3, lastLogTerm: 2 });
    } finally {
      onReceived = null;
      sender.close();
    }
  });

  it("answers a Deliver stream with headers before any message is written", async () => {
    const client = new RaftPeerClient(address, credentials.createInsecure(), RAFT_CHANNEL_OPTIONS);
    const call = client.deliver(() => undefined);
    try {
      await within(new Promise<void>((resolve) => call.once("metadata", () => resolve())), "headers");
    } finally {
      call.on("error", () => undefined);
      call.cancel();
      client.close();
    }
  });
});
