// The RESP front door's request reader (src/resp/request_reader.ts: redis-parser plus our
// limits), fed bytes by hand:
// 1. Commands split at every byte boundary come out whole and unchanged, binary bulk strings
//    (CR, LF, NUL, 0xff) included; pipelined commands come out in order; "*0" and "*-1" are
//    ignored as Redis ignores them.
// 2. A large bulk string arriving in many chunks comes out exactly.
// 3. Limits are enforced as soon as the header that breaks them is in, not after the bytes
//    arrive: a bulk length over the limit, a command with too many arguments; and the query
//    buffer limit on bytes that do not form a command yet.
// 4. Bad framing is a protocol error in Redis's words: garbage bytes, an inline command, a
//    nested array, a null or non-bulk argument.
// 5. The partial-command age (the slowloris deadline's input) starts with a command's first
//    byte and clears when the command completes.
// The redis-parser internals the limits read are covered by 3: if a new redis-parser changed
// them, these tests fail.
import assert from "node:assert/strict";
import { RequestReader } from "../../src/resp/request_reader";

function command(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === "string" ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

const limits = { bulkBytesMax: 1024, argumentsMax: 8, queryBufferBytesMax: 4096 };

describe("RESP request reader", () => {
  it("reads commands split at every byte boundary, binary safe and in order", () => {
    const binary = Buffer.from([0, 13, 10, 255, 36, 42, 13]);
    const bytes = Buffer.concat([command("SET", "k", binary), command("GET", "k"), command("PING")]);
    for (let split = 1; split < bytes.length; split++) {
      const reader = new RequestReader(limits);
      const first = reader.feed(bytes.subarray(0, split), 0);
      const second = reader.feed(bytes.subarray(split), 1);
      const commands = [...first.commands, ...second.commands];
      assert.equal(first.protocolError ?? second.protocolError, null);
      assert.deepEqual(
        commands.map((args) => args.map((arg) => arg.toString("hex"))),
        [
          ["SET", "k", binary].map((arg) => Buffer.from(arg).toString("hex")),
          ["GET", "k"].map((arg) => Buffer.from(arg).toString("hex")),
          [Buffer.from("PING").toString("hex")],
        ],
        `split at ${split}`,
      );
    }
    // one byte at a time
    const reader = new RequestReader(limits);
    const commands: Buffer[][] = [];
    for (const byte of bytes) commands.push(...reader.feed(Buffer.from([byte]), 0).commands);
    assert.equal(commands.length, 3);
    assert.deepEqual(commands[0][2], binary);
  });

  it("ignores empty and null multibulks", () => {
    const reader = new RequestReader(limits);
    const result = reader.feed(Buffer.concat([Buffer.from("*0\r\n*-1\r\n"), command("PING")]), 0);
    assert.equal(result.protocolError, null);
    assert.deepEqual(result.commands, [[Buffer.from("PING")]]);
  });

  it("skips empty lines between commands, as redis-cli --pipe sends one, at every split", () => {
    const bytes = Buffer.concat([Buffer.from("\r\n"), command("MGET", "a", "b"), Buffer.from("\r\n\n"), command("ECHO", "x"), Buffer.from("\r\n")]);
    for (let split = 0; split <= bytes.length; split++) {
      const reader = new RequestReader(limits);
      const first = reader.feed(bytes.subarray(0, split), 0);
      const second = reader.feed(bytes.subarray(split), 1);
      assert.equal(first.protocolError ?? second.protocolError, null, `split at ${split}`);
      assert.deepEqual([...first.commands, ...second.commands].map((args) => args.map(String)), [["MGET", "a", "b"], ["ECHO", "x"]], `split at ${split}`);
      assert.equal(reader.partialAgeMs(2), null);
    }
    const inline = new RequestReader(limits);
    assert.match(inline.feed(Buffer.from("PING\r\n"), 0).protocolError ?? "", /expected '\*', got 'P'/, "other inline commands are refused");
    const inArray = new RequestReader(limits);
    assert.match(inArray.feed(Buffer.from("*2\r\n$3\r\nGET\r\n\r\n"), 0).protocolError ?? "", /Protocol error/, "not inside a command");
  });

  it("puts a large bulk string together from many chunks", () => {
    const value = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7919) & 0xff;
    const bytes = command("SET", "big", value);
    const reader = new RequestReader({ bulkBytesMax: 4 * 1024 * 1024, argumentsMax: 8, queryBufferBytesMax: 8 * 1024 * 1024 });
    const commands: Buffer[][] = [];
    for (let offset = 0; offset < bytes.length; offset += 65_536) {
      const result = reader.feed(bytes.subarray(offset, offset + 65_536), 0);
      assert.equal(result.protocolError, null);
      commands.push(...result.commands);
    }
    assert.equal(commands.length, 1);
    assert.ok(commands[0][2].equals(value));
  });

  it("refuses a bulk length over the limit as soon as its header is in", () => {
    const reader = new RequestReader(limits);
    const result = reader.feed(Buffer.from("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\nab"), 0);
    assert.equal(result.protocolError, "Protocol error: invalid bulk length");
    const atLimit = new RequestReader(limits);
    assert.equal(atLimit.feed(Buffer.from("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1024\r\nab"), 0).protocolError, null);
  });

  it("refuses a command with too many arguments as soon as its header is in", () => {
    const reader = new RequestReader(limits);
    assert.equal(reader.feed(Buffer.from("*9\r\n$3\r\nDEL\r\n"), 0).protocolError, "Protocol error: invalid multibulk length");
    const whole = new RequestReader(limits);
    const nine = command("DEL", "a", "b", "c", "d", "e", "f", "g", "h");
    assert.equal(whole.feed(nine, 0).protocolError, "Protocol error: invalid multibulk length");
    const absurd = new RequestReader(limits);
    assert.equal(absurd.feed(Buffer.from("*99999999999999\r\n"), 0).protocolError, "Protocol error: invalid multibulk length");
  });

  it("closes a query buffer that grows past its limit without forming a command", () => {
    const reader = new RequestReader({ bulkBytesMax: 1024, argumentsMax: 10_000, queryBufferBytesMax: 4096 });
    let error: string | null = reader.feed(Buffer.from("*5000\r\n"), 0).protocolError;
    for (let i = 0; i < 1000 && error === null; i++) error = reader.feed(Buffer.from("$1\r\nx\r\n"), 0).protocolError;
    assert.match(error ?? "", /^Protocol error: query buffer of \d+ bytes is over the limit of 4096 bytes$/);
  });

  it("answers bad framing with Redis's protocol errors", () => {
    const cases: Array<[string, RegExp]> = [
      ["hello world\r\n", /^Protocol error: expected '\*', got 'h'$/],
      ["\x00\x01\x02garbage", /^Protocol error: expected '\*', got '\\x00'$/],
      ["+OK\r\n", /^Protocol error: expected '\*'/],
      ["*2\r\n*1\r\n$1\r\na\r\n$1\r\nb\r\n", /^Protocol error: expected '\$', got '\*'$/],
      ["*2\r\n$3\r\nGET\r\n$-1\r\n", /^Protocol error: expected '\$', got a null bulk string$/],
      ["*2\r\n$3\r\nGET\r\n:5\r\n", /^Protocol error: expected '\$'/],
      ["-ERR x\r\n", /^Protocol error: expected '\*', got '-'$/],
    ];
    for (const [input, expected] of cases) {
      const reader = new RequestReader(limits);
      assert.match(reader.feed(Buffer.from(input, "latin1"), 0).protocolError ?? "none", expected, JSON.stringify(input));
    }
  });

  it("keeps the commands before a protocol error", () => {
    const reader = new RequestReader(limits);
    const result = reader.feed(Buffer.concat([command("PING"), Buffer.from("garbage")]), 0);
    assert.deepEqual(result.commands, [[Buffer.from("PING")]]);
    assert.match(result.protocolError ?? "", /Protocol error/);
  });

  it("measures the age of an incomplete command from its first byte", () => {
    const reader = new RequestReader(limits);
    assert.equal(reader.partialAgeMs(0), null);
    reader.feed(Buffer.from("*2\r\n$3\r\nGET"), 100);
    assert.equal(reader.partialAgeMs(150), 50);
    reader.feed(Buffer.from("\r\n$1\r\n"), 200);
    assert.equal(reader.partialAgeMs(250), 150, "progress does not reset the age");
    const done = reader.feed(Buffer.concat([Buffer.from("k\r\n"), Buffer.from("*1\r\n")]), 300);
    assert.equal(done.commands.length, 1);
    assert.equal(reader.partialAgeMs(310), 10, "the next command's age starts when its first byte came");
    reader.feed(Buffer.from("$4\r\nPING\r\n"), 320);
    assert.equal(reader.partialAgeMs(330), null);
  });
});
