// The bench's Redis client (src/bench/redis/client.ts) is ioredis, not a RESP parser of our
// own (issue 17), set up the way the bench needs, against Debian's redis-server on loopback:
// values are bytes both ways (every byte value, the empty value, 1 MiB); an error reply fails
// only its own command; a server that stops answering (SIGSTOP) fails commands at their
// deadline and the client works again once it answers (SIGCONT); a refused connection is an
// error in bounded time, not a hang. Skipped, saying why, where redis-server is missing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { LaunchedProcess, launch } from "../../src/core/launcher";
import { freePorts } from "../support/processes";
import { parseInfo, redisClient, RedisClient } from "../../src/bench/redis/client";

const DEADLINE_MS = 500;
const installed = spawnSync("redis-server", ["--version"], { encoding: "utf8", timeout: 5_000 }).status === 0;

describe("bench Redis client (ioredis) against redis-server", function () {
  this.timeout(60_000);
  let server: LaunchedProcess | null = null;
  let address = "";
  const clients: RedisClient[] = [];
  const client = (): RedisClient => {
    const made = redisClient(address, DEADLINE_MS);
    clients.push(made);
    return made;
  };

  before(async function () {
    if (!installed) {
      console.log("      skipped: redis-server is not installed (apt-get install -y redis-server)");
      this.skip();
    }
    const [port] = await freePorts(1);
    address = `127.0.0.1:${port}`;
    server = launch({
      name: "redis-server",
      command: "redis-server",
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""],
    });
    await server.waitReady({ line: /Ready to accept connections/ }, 10_000);
  });
  after(async () => {
    for (const made of clients) made.disconnect();
    if (server !== null) await server.stop("SIGTERM", 3_000);
  });

  it("is ioredis, and no hand-written RESP parser is left in src/", () => {
    require("../../src/bench/redis_target");
    assert.ok(
      Object.keys(require.cache).some((file) => file.includes(`${path.sep}node_modules${path.sep}ioredis${path.sep}`)),
      "the redis bench target loads ioredis",
    );
    const sources = path.resolve(__dirname, "..", "..", "..", "src");
    const walk = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
    const parsers = walk(sources).filter((file) => file.endsWith(".ts") && /\bclass \w*Resp\w*Parser\b|RESP2 encoding/.test(fs.readFileSync(file, "utf8")));
    assert.deepEqual(parsers, []);
  });

  it("keeps values as bytes: every byte value, the empty value, 1 MiB; commands of one turn pipelined", async () => {
    const redis = client();
    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
    const big = Buffer.alloc(1024 * 1024, 0xa5);
    await Promise.all([redis.set("bytes", everyByte), redis.set("empty", Buffer.alloc(0)), redis.set("big", big)]);
    assert.deepEqual(await redis.getBuffer("bytes"), everyByte);
    assert.deepEqual(await redis.getBuffer("empty"), Buffer.alloc(0));
    assert.deepEqual(await redis.getBuffer("big"), big);
    assert.equal(await redis.getBuffer("absent"), null);
    const keys = Array.from({ length: 2_000 }, (_, index) => `k${index}`);
    await Promise.all(keys.map((key) => redis.set(key, key)));
    const values = await Promise.all(keys.map((key) => redis.getBuffer(key)));
    assert.deepEqual(values.map((value) => value?.toString()), keys, "replies matched to their commands in order");
    assert.equal(Number(parseInfo(await redis.info("keyspace")).db0?.match(/keys=(\d+)/)?.[1]), 2_003);
  });

  it("an error reply fails only its own command", async () => {
    const redis = client();
    const [before, wrong, after] = await Promise.allSettled([redis.set("text", "not a number"), redis.incr("text"), redis.getBuffer("text")]);
    assert.equal(before.status, "fulfilled");
    assert.equal(wrong.status, "rejected");
    assert.match(String((wrong as PromiseRejectedResult).reason), /not an integer/);
    assert.equal(after.status === "fulfilled" ? after.value?.toString() : null, "not a number");
  });

  it("a server that stops answering fails commands at their deadline, and the client recovers when it answers again", async () => {
    const redis = client();
    await redis.set("alive", "1");
    process.kill(server!.pid, "SIGSTOP");
    try {
      const started = performance.now();
      await assert.rejects(redis.getBuffer("alive"), /timed out|Command timed out/i);
      const elapsedMs = performance.now() - started;
      assert.ok(elapsedMs < DEADLINE_MS + 1_000, `failed after ${elapsedMs} ms`);
    } finally {
      process.kill(server!.pid, "SIGCONT");
    }
    let value: Buffer | null = null;
    for (let attempt = 0; attempt < 20 && value === null; attempt++) value = await redis.getBuffer("alive").catch(() => null);
    assert.equal(value?.toString(), "1");
  });

  it("a refused connection is an error within bounded time", async () => {
    const [port] = await freePorts(1);
    const redis = redisClient(`127.0.0.1:${port}`, DEADLINE_MS);
    clients.push(redis);
    const started = performance.now();
    await assert.rejects(redis.getBuffer("x"));
    assert.ok(performance.now() - started < 5_000);
  });
});
