// The bench's own Redis client (src/bench/redis/resp.ts).
// Parser: every RESP2 type, values split across chunks at every byte boundary, nested arrays,
// binary bulk strings, and refusal of malformed or oversized input. Connection, against a
// fake RESP server on loopback: commands written in one event-loop turn travel pipelined and
// replies are matched in order; an error reply rejects only its command; a reply that never
// comes fails the command at its deadline and the connection recovers on the next command;
// a refused connection is an error, not a hang. INFO parsing.
import assert from "node:assert/strict";
import net from "node:net";
import { RedisConnection, RedisProtocolError, RedisReplyError, RespParser, RespValue, encodeCommand, parseInfo } from "../../src/bench/redis/resp";

function parseAll(chunks: Buffer[]): RespValue[] {
  const parser = new RespParser();
  const values: RespValue[] = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    values.push(...parser.drain());
  }
  return values;
}

/** A tiny RESP server: GET/SET/DEL on a map, SLOW never answers, ERR answers an error. */
async function fakeRedis(): Promise<{ port: number; batches: number[]; close(): Promise<void> }> {
  const store = new Map<string, Buffer>();
  const batches: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const parser = new RespParser();
    socket.on("data", (chunk) => {
      parser.push(chunk);
      const commands = parser.drain() as Buffer[][];
      batches.push(commands.length);
      const out: Buffer[] = [];
      for (const command of commands) {
        const name = command[0].toString().toUpperCase();
        if (name === "SET") {
          store.set(command[1].toString(), command[2]);
          out.push(Buffer.from("+OK\r\n"));
        } else if (name === "GET") {
          const value = store.get(command[1].toString());
          out.push(value === undefined ? Buffer.from("$-1\r\n") : Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from("\r\n")]));
        } else if (name === "DEL") {
          out.push(Buffer.from(`:${store.delete(command[1].toString()) ? 1 : 0}\r\n`));
        } else if (name === "ERR") {
          out.push(Buffer.from("-ERR wrong kind of value\r\n"));
        } else if (name === "SLOW") {
          return; // never answers: the client's deadline must fire
        }
      }
      socket.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    batches,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("bench RESP client", function () {
  this.timeout(20_000);

  it("parses every RESP2 type, whole or split at any byte", () => {
    const wire = Buffer.concat([
      Buffer.from("+OK\r\n-ERR bad\r\n:42\r\n:-7\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n*0\r\n"),
      Buffer.from("*3\r\n$1\r\na\r\n*2\r\n:1\r\n$0\r\n\r\n+x\r\n"),
      Buffer.from([0x24, 0x34, 0x0d, 0x0a, 0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]), // binary bulk "\0\xff\r\n"
    ]);
    const expected: RespValue[] = [
      "OK",
      new RedisReplyError("ERR bad"),
      42,
      -7,
      Buffer.from("he\r\no"),
      null,
      null,
      [],
      [Buffer.from("a"), [1, Buffer.alloc(0)], "x"],
      Buffer.from([0x00, 0xff, 0x0d, 0x0a]),
    ];
    assert.deepEqual(parseAll([wire]), expected);
    for (let cut = 1; cut < wire.length; cut++) {
      assert.deepEqual(parseAll([wire.subarray(0, cut), wire.subarray(cut)]), expected, `split at ${cut}`);
    }
    assert.deepEqual(parseAll([...wire].map((byte) => Buffer.from([byte]))), expected, "one byte at a time");
  });

  it("refuses malformed and oversized input", () => {
    assert.throws(() => parseAll([Buffer.from("?what\r\n")]), RedisProtocolError);
    assert.throws(() => parseAll([Buffer.from(":12x\r\n")]), RedisProtocolError);
    assert.throws(() => parseAll([Buffer.from("$999999999999\r\n")]), /bulk string of/);
    assert.throws(() => parseAll([Buffer.from("$3\r\nabcXY")]), /not followed by CRLF/);
    assert.throws(() => parseAll([Buffer.from("*1\r\n".repeat(9) + ":1\r\n")]), /nested deeper/);
  });

  it("encodes commands as RESP arrays of bulk strings", () => {
    assert.equal(Buffer.concat(encodeCommand(["SET", "k", Buffer.from([0, 1]), 7])).toString("latin1"), "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\x00\x01\r\n$1\r\n7\r\n");
  });

  it("pipelines commands of one turn and matches replies in order", async () => {
    const server = await fakeRedis();
    const client = new RedisConnection({ host: "127.0.0.1", port: server.port, timeoutMs: 2_000 });
    try {
      await client.command(["SET", "warm", "x"]); // connect first, so the next batch is one write
      server.batches.length = 0;
      const writes = Array.from({ length: 100 }, (_, i) => client.command(["SET", `k${i}`, Buffer.from(`v${i}`)]));
      const reads = Array.from({ length: 100 }, (_, i) => client.command(["GET", `k${i}`]));
      assert.deepEqual(await Promise.all(writes), new Array(100).fill("OK"));
      assert.deepEqual(
        (await Promise.all(reads)).map((value) => (value as Buffer).toString()),
        Array.from({ length: 100 }, (_, i) => `v${i}`),
      );
      assert.ok(server.batches.length <= 3, `200 commands arrived in ${server.batches.length} reads`);
      await assert.rejects(client.command(["ERR"]), (error: Error) => error instanceof RedisReplyError && /wrong kind/.test(error.message));
      assert.equal(await client.command(["GET", "absent"]), null);
      assert.equal(await client.command(["DEL", "k1"]), 1);
    } finally {
      client.close();
      await server.close();
    }
  });

  it("fails a command at its deadline and recovers on the next command", async () => {
    const server = await fakeRedis();
    const client = new RedisConnection({ host: "127.0.0.1", port: server.port, timeoutMs: 300 });
    try {
      const started = performance.now();
      await assert.rejects(client.command(["SLOW"]), /timed out after 300 ms/);
      assert.ok(performance.now() - started < 2_000);
      assert.equal(await client.command(["SET", "after", "1"]), "OK");
      assert.equal(client.inFlight, 0);
    } finally {
      client.close();
      await server.close();
    }
  });

  it("a refused connection is an error, not a hang", async () => {
    const server = await fakeRedis();
    const port = server.port;
    await server.close();
    const client = new RedisConnection({ host: "127.0.0.1", port, timeoutMs: 1_000 });
    await assert.rejects(client.command(["GET", "k"]), /ECONNREFUSED/);
    client.close();
    await assert.rejects(client.command(["GET", "k"]), /closed/);
  });

  it("parses INFO output", () => {
    assert.deepEqual(parseInfo("# Memory\r\nused_memory:123\r\nused_memory_dataset:45\r\n\r\n# Replication\r\nslave0:ip=127.0.0.1,port=1,state=online\r\n"), {
      used_memory: "123",
      used_memory_dataset: "45",
      slave0: "ip=127.0.0.1,port=1,state=online",
    });
  });
});
