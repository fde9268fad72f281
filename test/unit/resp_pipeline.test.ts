// The RESP front door's pure parts, without sockets:
// 1. The pipeline scheduler (src/resp/pipeline.ts): commands on different keys start at once;
//    reads of one key start together; a write waits for every earlier command on its key, and
//    a read for every earlier write on its key; a barrier waits for everything before it and
//    holds everything after it; finishing a command starts exactly the ones it held.
// 2. The reply encoder (src/resp/reply.ts) in RESP2 and RESP3: null, maps, nested arrays,
//    binary bulk strings, large values passed without a copy.
// 3. Argument rules as Redis's (src/resp/arguments.ts): integers (no '+', no leading zero,
//    64 bits), TTL overflow, and glob patterns.
// 4. The key write queue (src/resp/write_queue.ts): writes of one key run one at a time in
//    order; consecutive blind writes fold into one write of the last value; a write that is
//    not blind runs on its own; different keys do not wait for each other.
import assert from "node:assert/strict";
import { PipelineScheduler } from "../../src/resp/pipeline";
import { NULL, OK, Reply, array, bulk, encodeReplyBytes, integer } from "../../src/resp/reply";
import { CommandError, deadlineMs, globMatcher, parseInt64 } from "../../src/resp/arguments";
import { KeyWriteQueue } from "../../src/resp/write_queue";

const read = (...keys: string[]) => ({ keys, write: false, barrier: false });
const write = (...keys: string[]) => ({ keys, write: true, barrier: false });
const barrier = { keys: [], write: false, barrier: true };

describe("RESP pipeline scheduler", () => {
  it("starts commands on different keys, and reads of one key, at once", () => {
    const scheduler = new PipelineScheduler();
    assert.equal(scheduler.admit(write("a")).start, true);
    assert.equal(scheduler.admit(write("b")).start, true);
    assert.equal(scheduler.admit(read("c")).start, true);
    assert.equal(scheduler.admit(read("c")).start, true);
    assert.equal(scheduler.admit(read()).start, true, "a keyless command (PING) never waits");
  });

  it("makes a command on a key wait for the earlier commands that conflict with it", () => {
    const scheduler = new PipelineScheduler();
    const w1 = scheduler.admit(write("k"));
    const r2 = scheduler.admit(read("k"));
    const r3 = scheduler.admit(read("k", "x"));
    const w4 = scheduler.admit(write("k"));
    const other = scheduler.admit(write("x"));
    assert.deepEqual([w1.start, r2.start, r3.start, w4.start, other.start], [true, false, false, false, false]);
    // the write finishes: both reads may go (they do not conflict with each other)
    assert.deepEqual(scheduler.finish(w1.id), [r2.id, r3.id]);
    assert.deepEqual(scheduler.finish(r2.id), [], "w4 still waits for r3");
    // r3 also held x, so the write of x waited for it
    assert.deepEqual(scheduler.finish(r3.id), [w4.id, other.id]);
    assert.deepEqual(scheduler.finish(w4.id), []);
    assert.deepEqual(scheduler.finish(other.id), []);
    assert.equal(scheduler.size, 0);
  });

  it("runs a barrier alone, after everything before it", () => {
    const scheduler = new PipelineScheduler();
    const a = scheduler.admit(write("a"));
    const scan = scheduler.admit(barrier);
    const b = scheduler.admit(read("b"));
    const ping = scheduler.admit(read());
    assert.deepEqual([a.start, scan.start, b.start, ping.start], [true, false, false, false]);
    assert.deepEqual(scheduler.finish(a.id), [scan.id]);
    assert.deepEqual(scheduler.finish(scan.id), [b.id, ping.id]);
  });

  it("refuses to finish a command that is not running", () => {
    const scheduler = new PipelineScheduler();
    scheduler.admit(write("k"));
    const waiting = scheduler.admit(write("k"));
    assert.throws(() => scheduler.finish(waiting.id));
  });
});

describe("RESP reply encoding", () => {
  const cases: Array<[Reply, string, string]> = [
    [OK, "+OK\r\n", "+OK\r\n"],
    [NULL, "$-1\r\n", "_\r\n"],
    [integer(-2), ":-2\r\n", ":-2\r\n"],
    [bulk(Buffer.from([0, 13, 10])), "$3\r\n\x00\r\n\r\n", "$3\r\n\x00\r\n\r\n"],
    [array([bulk("a"), NULL, array([])]), "*3\r\n$1\r\na\r\n$-1\r\n*0\r\n", "*3\r\n$1\r\na\r\n_\r\n*0\r\n"],
    [{ kind: "map", entries: [[bulk("proto"), integer(3)]] }, "*2\r\n$5\r\nproto\r\n:3\r\n", "%1\r\n$5\r\nproto\r\n:3\r\n"],
    [{ kind: "error", text: "ERR bad" }, "-ERR bad\r\n", "-ERR bad\r\n"],
  ];
  it("encodes every reply kind in RESP2 and RESP3", () => {
    for (const [reply, resp2, resp3] of cases) {
      assert.equal(encodeReplyBytes(reply, 2).toString("latin1"), resp2);
      assert.equal(encodeReplyBytes(reply, 3).toString("latin1"), resp3);
    }
  });

  it("frames a large value without copying it", () => {
    const value = Buffer.alloc(1024 * 1024, 7);
    const bytes = encodeReplyBytes(bulk(value), 2);
    assert.equal(bytes.subarray(0, 11).toString(), "$1048576\r\n\x07");
    assert.equal(bytes.length, 10 + value.length + 2);
  });
});

describe("RESP argument rules", () => {
  it("reads integers as Redis does", () => {
    assert.equal(parseInt64(Buffer.from("42")), 42n);
    assert.equal(parseInt64(Buffer.from("-9223372036854775808")), -(2n ** 63n));
    for (const bad of ["+1", "01", "1.5", " 1", "1 ", "", "9223372036854775808", "abc", "-0"]) {
      assert.equal(parseInt64(Buffer.from(bad)), null, bad);
    }
  });

  it("turns TTLs into deadlines and refuses overflow with Redis's text", () => {
    assert.equal(deadlineMs(Buffer.from("10"), "s", false, 1_000, "set"), 11_000n);
    assert.equal(deadlineMs(Buffer.from("1500"), "ms", true, 1_000, "set"), 1_500n);
    assert.throws(() => deadlineMs(Buffer.from("9223372036854775807"), "s", false, 0, "set"), (e: unknown) => e instanceof CommandError && e.reply === "ERR invalid expire time in 'set' command");
    assert.throws(() => deadlineMs(Buffer.from("9007199254740991"), "ms", false, 10, "expire"), /invalid expire time in 'expire' command/);
    assert.throws(() => deadlineMs(Buffer.from("ten"), "s", false, 0, "set"), /value is not an integer or out of range/);
  });

  it("matches Redis glob patterns over key bytes", () => {
    const cases: Array<[string, string, boolean]> = [
      ["*", "anything", true],
      ["user:*", "user:1", true],
      ["user:*", "users", false],
      ["h?llo", "hello", true],
      ["h?llo", "hllo", false],
      ["h[ae]llo", "hallo", true],
      ["h[^e]llo", "hello", false],
      ["h[a-b]llo", "hbllo", true],
      ["a\\*b", "a*b", true],
      ["a\\*b", "axb", false],
      ["k.+", "k.+", true],
      ["k.+", "kxx", false],
    ];
    for (const [pattern, key, expected] of cases) assert.equal(globMatcher(Buffer.from(pattern))(Buffer.from(key)), expected, `${pattern} ~ ${key}`);
  });
});

describe("RESP key write queue", () => {
  interface Call {
    value: string;
    finish: () => void;
  }
  function recorder(): { calls: Call[]; run: (value: string) => () => Promise<string> } {
    const calls: Call[] = [];
    return {
      calls,
      run: (value) => () => new Promise<string>((resolve) => calls.push({ value, finish: () => resolve(value) })),
    };
  }

  it("runs one key's writes one at a time and folds consecutive blind writes into the last", async () => {
    const queue = new KeyWriteQueue();
    const { calls, run } = recorder();
    const first = queue.submit("k", true, run("v1"));
    const folded = [queue.submit("k", true, run("v2")), queue.submit("k", true, run("v3"))];
    const conditional = queue.submit("k", false, run("nx"));
    const after = queue.submit("k", true, run("v4"));
    const otherKey = queue.submit("other", true, run("o1"));
    assert.deepEqual(calls.map((call) => call.value), ["v1", "o1"], "the second write of k waits; other keys do not");
    calls[0].finish();
    assert.equal(await first, "v1");
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(calls.map((call) => call.value), ["v1", "o1", "v3"], "v2 and v3 are one write of v3");
    calls[2].finish();
    assert.deepEqual(await Promise.all(folded), ["v3", "v3"]);
    assert.deepEqual(calls.map((call) => call.value), ["v1", "o1", "v3", "nx"], "a conditional write runs alone");
    calls[3].finish();
    assert.equal(await conditional, "nx");
    calls[4].finish();
    assert.equal(await after, "v4");
    calls[1].finish();
    assert.equal(await otherKey, "o1");
    assert.equal(queue.depth, 0);
  });

  it("answers every folded write with the failure of the write that stood for them", async () => {
    const queue = new KeyWriteQueue();
    let fail: (error: Error) => void = () => undefined;
    const blocker = queue.submit("k", false, () => new Promise<string>((_, reject) => (fail = reject)));
    const folded = [queue.submit("k", true, async () => "a"), queue.submit("k", true, () => Promise.reject(new Error("down")))];
    fail(new Error("first"));
    await assert.rejects(blocker, /first/);
    for (const write of folded) await assert.rejects(write, /down/);
  });
});
