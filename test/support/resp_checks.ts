// The RESP front door's checks, shared by both modes (test/integration/resp_ecc.test.ts,
// resp_raft.test.ts): real node processes, driven only by clients nobody here wrote —
// Debian's redis-cli and the ioredis library — and by raw sockets for bad input.
// 1. redis-cli: SET/GET of text and binary values (NUL, CR, LF, 0xff; sent with -x, read
//    back with --raw), EXPIRE/TTL/PERSIST, SCAN (--scan --pattern), INFO with this cache's
//    own fields, RESP3 through HELLO 3 (-3), and --pipe with 2,000 commands.
// 2. ioredis: a MULTI-less pipeline whose commands touch one key in order (each sees the one
//    before) mixed with other keys; 40 connections at once over every node; 1 MiB values;
//    TTLs (PX, EX, PXAT in the past, EXPIRE, TTL, PTTL, a negative PEXPIRE deleting); SET NX
//    from 12 connections on different nodes at once: exactly one wins, and the value is the
//    winner's (ecc decides it with versioned writes, raft in its state machine); XX, GET,
//    GETDEL, APPEND, KEEPTTL; MGET/MSET, DEL and EXISTS of many keys, GETRANGE and STRLEN; TTL
//    bad input (0, negative, overflow, not a number) as Redis answers it.
// 3. Bad input on the port, each on a connection of its own: garbage bytes, a bulk string
//    whose terminator is wrong, a bulk length over the limit, 10,000 arguments (valid and
//    invalid uses) and 70,000 (over the limit), half-open connections, slowloris (the node
//    runs with a 1 s partial-command deadline). Each gets Redis's error form; afterwards the
//    node still serves, and every key acknowledged before reads back.
import assert from "node:assert/strict";
import Redis from "ioredis";
import { closedWithin, rawConnection, redisCli, redisToolInstalled, respCommand } from "./redis_tools";
import { sleep } from "../../src/core/env";

/** What each mode's test gives the shared checks. */
export interface RespCluster {
  /** The RESP port of every node, in node order. */
  ports: number[];
  mode: "ecc" | "raft";
  stop(): Promise<void>;
}

/** The partial-command deadline the clusters are started with (ECC_CACHE_RESP_PARTIAL_COMMAND_MS). */
export const TEST_PARTIAL_COMMAND_MS = 1_000;

function client(port: number): Redis {
  return new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: true, connectTimeout: 5_000, commandTimeout: 30_000 });
}

function binaryValue(): Buffer {
  return Buffer.from([0, 13, 10, 255, 0x24, 0x2a, 13, 10, 0, 1, 2, 3, 0xfe]);
}

export function defineRespChecks(title: string, start: () => Promise<RespCluster>): void {
  describe(title, function () {
    this.timeout(240_000);
    let cluster: RespCluster;
    const clients: Redis[] = [];
    const open = async (port: number): Promise<Redis> => {
      const redis = client(port);
      clients.push(redis);
      await redis.connect();
      return redis;
    };
    /** Keys a client was told OK for, and their values: all must read back at the end. */
    const acknowledged = new Map<string, Buffer>();

    before(async function () {
      if (!redisToolInstalled()) {
        console.log("      skipped: redis-cli is not installed (apt-get install -y redis-tools)");
        this.skip();
      }
      cluster = await start();
    });

    after(async () => {
      for (const redis of clients) redis.disconnect();
      await cluster?.stop();
    });

    it("redis-cli: set and get text and binary values, expire, ttl, persist, info", async () => {
      const [a, b] = cluster.ports;
      assert.equal((await redisCli(a, ["set", "fruit", "cherry"])).stdout.toString(), "OK\n");
      assert.equal((await redisCli(b, ["get", "fruit"])).stdout.toString(), "cherry\n");
      acknowledged.set("fruit", Buffer.from("cherry"));
      const binary = binaryValue();
      assert.equal((await redisCli(a, ["-x", "set", "bin"], { input: binary })).stdout.toString(), "OK\n");
      const raw = (await redisCli(b, ["--raw", "get", "bin"])).stdout;
      assert.deepEqual(raw.subarray(0, raw.length - 1), binary, "--raw prints the bytes and a newline");
      acknowledged.set("bin", binary);
      assert.equal((await redisCli(a, ["get", "missing"])).stdout.toString(), "\n");
      assert.equal((await redisCli(a, ["expire", "fruit", "100"])).stdout.toString(), "1\n");
      const ttl = Number((await redisCli(b, ["ttl", "fruit"])).stdout.toString());
      assert.ok(ttl > 95 && ttl <= 100, `ttl ${ttl}`);
      assert.equal((await redisCli(a, ["persist", "fruit"])).stdout.toString(), "1\n");
      assert.equal((await redisCli(a, ["persist", "fruit"])).stdout.toString(), "0\n");
      assert.equal((await redisCli(a, ["ttl", "fruit"])).stdout.toString(), "-1\n");
      assert.equal((await redisCli(a, ["ttl", "missing"])).stdout.toString(), "-2\n");
      const info = (await redisCli(a, ["info"])).stdout.toString();
      for (const field of ["redis_version:", `cache_mode:${cluster.mode}`, "connected_clients:", "# Keyspace", "db0:keys=", "role:"]) {
        assert.ok(info.includes(field), `INFO lacks ${field}:\n${info}`);
      }
      if (cluster.mode === "ecc") assert.match(info, /cache_k:\d+\r?\ncache_n:\d+/);
      const unknown = await redisCli(a, ["frobnicate", "x"]);
      assert.equal(unknown.stdout.toString().trim(), "ERR unknown command 'frobnicate', with args beginning with: 'x'");
    });

    it("redis-cli: RESP3 through HELLO 3, and a pipe of 2,000 commands", async () => {
      const [a, b] = cluster.ports;
      const hello = (await redisCli(a, ["-3", "hello", "3"])).stdout.toString();
      assert.match(hello, /proto\W+3/);
      assert.equal((await redisCli(a, ["-3", "get", "missing"])).stdout.toString(), "\n", "RESP3's null read by redis-cli");
      assert.equal((await redisCli(a, ["-3", "get", "fruit"])).stdout.toString(), "cherry\n");
      const commands = Buffer.concat(Array.from({ length: 2_000 }, (_, i) => respCommand("SET", `pipe:${i}`, `value-${i}`)));
      const piped = await redisCli(a, ["--pipe"], { input: commands, timeoutMs: 60_000 });
      assert.match(piped.stdout.toString(), /errors: 0, replies: 2000/, `exit ${piped.code}; stderr: ${piped.stderr}`);
      for (const i of [0, 777, 1999]) {
        assert.equal((await redisCli(b, ["get", `pipe:${i}`])).stdout.toString(), `value-${i}\n`);
        acknowledged.set(`pipe:${i}`, Buffer.from(`value-${i}`));
      }
      const scanned = (await redisCli(b, ["--scan", "--pattern", "pipe:1*"])).stdout.toString().trim().split("\n");
      // pipe:1, pipe:10..19, pipe:100..199, pipe:1000..1999
      assert.equal(new Set(scanned).size, 1 + 10 + 100 + 1000);
      const dbsize = Number((await redisCli(b, ["dbsize"])).stdout.toString());
      assert.ok(dbsize >= 2_002, `dbsize ${dbsize}`);
    });

    it("connection and introspection commands answer as Redis's do: PING, ECHO, SELECT, CLIENT, COMMAND, KEYS", async () => {
      const [a] = cluster.ports;
      const redis = await open(a);
      assert.equal(await redis.ping(), "PONG");
      assert.equal(await redis.echo("hello"), "hello");
      assert.equal(await redis.select(0), "OK");
      await assert.rejects(redis.select(1), /ERR/);
      assert.equal(await redis.call("client", "setname", "checker"), "OK");
      assert.equal(await redis.call("client", "getname"), "checker");
      const id = (await redis.call("client", "id")) as number;
      assert.ok(Number.isInteger(id) && id > 0, `CLIENT ID ${id}`);
      assert.match((await redis.call("client", "info")) as string, new RegExp(`id=${id} .*name=checker`));
      const other = await open(a);
      assert.equal(await other.call("client", "getname"), null, "a name belongs to its connection");
      const count = (await redis.call("command", "count")) as number;
      const list = (await redis.call("command", "list")) as string[];
      assert.equal(list.length, count);
      for (const name of ["get", "set", "getrange", "expire", "scan", "info"]) assert.ok(list.includes(name), `COMMAND LIST has ${name}`);
      // COMMAND INFO: name, arity (Redis's: get 2, set -3), flags, first/last key, step.
      const [get, set, unknown] = (await redis.call("command", "info", "get", "set", "nosuchcommand")) as Array<unknown[] | null>;
      assert.deepEqual([get![0], get![1], get![3], get![4], get![5]], ["get", 2, 1, 1, 1]);
      assert.deepEqual([set![0], set![1]], ["set", -3]);
      assert.equal(unknown, null);
      const docs = (await redis.call("command", "docs", "getrange")) as unknown[];
      assert.equal(docs[0], "getrange");
      assert.ok(Array.isArray(docs[1]) && (docs[1] as unknown[]).includes("summary"), "COMMAND DOCS carries a summary");
      await assert.rejects(redis.call("command", "frobnicate"), /unknown subcommand/i);
      assert.equal(await redis.set("intro:1", "x"), "OK");
      assert.equal(await redis.set("intro:2", "y"), "OK");
      acknowledged.set("intro:1", Buffer.from("x"));
      acknowledged.set("intro:2", Buffer.from("y"));
      // KEYS lists what this node holds: its own commit (ecc) or apply (raft) may trail the
      // acknowledgement a little, so look a few times (bounded).
      let listed: string[] = [];
      for (let attempt = 0; attempt < 30; attempt++) {
        listed = ((await redis.keys("intro:*")) as string[]).sort();
        if (listed.length === 2) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(listed, ["intro:1", "intro:2"]);
    });

    it("ioredis: a pipeline sees its own writes in order, across many keys", async () => {
      const redis = await open(cluster.ports[0]);
      const pipeline = redis.pipeline();
      for (let round = 0; round < 20; round++) {
        pipeline.set("order", `v${round}`);
        pipeline.get("order");
        pipeline.set(`spread:${round}`, `s${round}`);
        pipeline.append("appended", `${round},`);
      }
      pipeline.getrange("appended", 0, 4);
      pipeline.strlen("appended");
      const results = (await pipeline.exec())!;
      for (const [failure] of results) assert.equal(failure, null);
      for (let round = 0; round < 20; round++) assert.equal(results[round * 4 + 1][1], `v${round}`, `GET after SET in round ${round}`);
      const expected = Array.from({ length: 20 }, (_, i) => `${i},`).join("");
      assert.equal(results[80][1], expected.slice(0, 5));
      assert.equal(results[81][1], expected.length);
      acknowledged.set("order", Buffer.from("v19"));
      acknowledged.set("appended", Buffer.from(expected));
    });

    it("ioredis: 40 connections over every node at once, and 1 MiB values", async () => {
      const connections = await Promise.all(Array.from({ length: 40 }, (_, i) => open(cluster.ports[i % cluster.ports.length])));
      await Promise.all(
        connections.map(async (redis, i) => {
          for (let op = 0; op < 10; op++) {
            assert.equal(await redis.set(`conn:${i}:${op}`, `${i}/${op}`), "OK");
            assert.equal(await redis.get(`conn:${i}:${op}`), `${i}/${op}`);
          }
        }),
      );
      acknowledged.set("conn:39:9", Buffer.from("39/9"));
      const big = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 131) & 0xff;
      const writer = connections[0];
      const readers = connections.slice(1, cluster.ports.length);
      assert.equal(await writer.set("big", big), "OK");
      for (const reader of readers) assert.ok((await reader.getBuffer("big"))!.equals(big));
      const pipeline = writer.pipeline();
      for (let i = 0; i < 4; i++) pipeline.set(`big:${i}`, big);
      for (let i = 0; i < 4; i++) pipeline.getBuffer(`big:${i}`);
      const results = (await pipeline.exec())!;
      for (let i = 0; i < 4; i++) assert.ok((results[4 + i][1] as Buffer).equals(big));
      acknowledged.set("big", big);
    });

    it("ioredis: TTLs: SET PX expires, EXPIRE and TTL, a negative PEXPIRE deletes", async () => {
      const redis = await open(cluster.ports[2]);
      assert.equal(await redis.set("px:key", "v", "PX", 150), "OK");
      assert.equal(await redis.set("ex:key", "v", "EX", 100), "OK");
      const pttl = await redis.pttl("ex:key");
      assert.ok(pttl > 90_000 && pttl <= 100_000, `pttl ${pttl}`);
      assert.equal(await redis.expire("ex:key", 50), 1);
      const ttl = await redis.ttl("ex:key");
      assert.ok(ttl > 45 && ttl <= 50, `ttl ${ttl}`);
      assert.equal(await redis.expire("ex:missing", 50), 0);
      await sleep(400);
      assert.equal(await redis.get("px:key"), null, "expired after 150 ms");
      assert.equal(await redis.pexpire("ex:key", -1), 1, "a negative TTL deletes the key");
      assert.equal(await redis.exists("ex:key"), 0);
      assert.equal(await redis.set("exat:key", "v", "PXAT", Date.now() - 1_000), "OK");
      assert.equal(await redis.get("exat:key"), null, "a deadline already past");
    });

    it("ioredis: of 12 concurrent SET NX on different nodes exactly one wins", async () => {
      const connections = await Promise.all(Array.from({ length: 12 }, (_, i) => open(cluster.ports[i % cluster.ports.length])));
      for (let round = 0; round < 3; round++) {
        const key = `nx:${round}`;
        const outcomes = await Promise.all(connections.map((redis, i) => redis.set(key, `writer-${i}`, "NX")));
        const winners = outcomes.map((outcome, i) => (outcome === "OK" ? i : -1)).filter((i) => i >= 0);
        assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(outcomes)}`);
        assert.ok(outcomes.every((outcome) => outcome === "OK" || outcome === null));
        assert.equal(await connections[5].get(key), `writer-${winners[0]}`);
        acknowledged.set(key, Buffer.from(`writer-${winners[0]}`));
      }
      const redis = connections[0];
      assert.equal(await redis.set("xx:missing", "v", "XX"), null);
      assert.equal(await redis.exists("xx:missing"), 0);
      assert.equal(await redis.set("xx:present", "a"), "OK");
      assert.equal(await redis.set("xx:present", "b", "XX"), "OK");
      assert.equal(await redis.set("xx:present", "c", "GET"), "b");
      assert.equal(await redis.getdel("xx:present"), "c");
      assert.equal(await redis.get("xx:present"), null);
      assert.equal(await redis.set("ttl:key", "v", "EX", 100, "NX"), "OK");
      assert.equal(await redis.set("ttl:key", "w", "KEEPTTL"), "OK");
      const pttl = await redis.pttl("ttl:key");
      assert.ok(pttl > 90_000 && pttl <= 100_000, `KEEPTTL kept the TTL: ${pttl}`);
      assert.equal(await redis.append("ttl:key", "x"), 2);
      assert.ok((await redis.pttl("ttl:key")) > 90_000, "APPEND keeps the TTL");
      // NX finds an expired value absent; GET of an absent key returns nil and still writes.
      assert.equal(await redis.set("nx:expiring", "old", "PX", 100), "OK");
      assert.equal(await redis.set("nx:expiring", "early", "NX"), null);
      await sleep(300);
      assert.equal(await redis.set("nx:expiring", "new", "NX", "GET"), null);
      assert.equal(await redis.get("nx:expiring"), "new");
      assert.equal(await redis.set("nx:expiring", "newer", "XX", "GET"), "new");
      assert.equal(await redis.getdel("nx:missing"), null);
      acknowledged.set("nx:expiring", Buffer.from("newer"));
    });

    it("ioredis: many keys in one command, and TTL bad input as Redis answers it", async () => {
      const redis = await open(cluster.ports[1]);
      const pairs: string[] = [];
      for (let i = 0; i < 300; i++) pairs.push(`many:${i}`, `m${i}`);
      assert.equal(await redis.mset(...pairs), "OK");
      const keys = Array.from({ length: 300 }, (_, i) => `many:${i}`);
      const values = await redis.mget(...keys, "many:none");
      assert.deepEqual(values, [...keys.map((_, i) => `m${i}`), null]);
      assert.equal(await redis.exists("many:0", "many:0", "many:none"), 2);
      assert.equal(await redis.del(...keys.slice(0, 100), "many:none"), 100);
      assert.equal(await redis.exists(...keys.slice(0, 100)), 0);
      acknowledged.set("many:299", Buffer.from("m299"));
      const failures: Array<[Array<string | number>, RegExp]> = [
        [["set", "k", "v", "EX", "0"], /^ERR invalid expire time in 'set' command$/],
        [["set", "k", "v", "EX", "-5"], /^ERR invalid expire time in 'set' command$/],
        [["set", "k", "v", "EX", "9223372036854775807"], /^ERR invalid expire time in 'set' command$/],
        [["set", "k", "v", "PX", "ten"], /^ERR value is not an integer or out of range$/],
        [["set", "k", "v", "NX", "XX"], /^ERR syntax error$/],
        [["set", "k", "v", "EX", "1", "KEEPTTL"], /^ERR syntax error$/],
        [["expire", "many:200", "9223372036854775807"], /^ERR invalid expire time in 'expire' command$/],
        [["expire", "many:200", "1.5"], /^ERR value is not an integer or out of range$/],
        [["get"], /^ERR wrong number of arguments for 'get' command$/],
        [["get", "a", "b"], /^ERR wrong number of arguments for 'get' command$/],
        [["mset", "a", "1", "b"], /^ERR wrong number of arguments for 'mset' command$/],
        [["getrange", "k", "0", "x"], /^ERR value is not an integer or out of range$/],
        [["select", "1"], /^ERR DB index is out of range$/],
        [["auth", "secret"], /^ERR AUTH <password> called without any password configured/],
        [["get", ""], /^ERR invalid key: key is empty/],
      ];
      for (const [args, expected] of failures) {
        await assert.rejects(redis.call(String(args[0]), ...args.slice(1)), (error: Error) => expected.test(error.message), JSON.stringify(args));
      }
      assert.equal(await redis.get("many:200"), "m200", "bad input changed nothing");
      assert.equal(await redis.call("select", "0"), "OK");
    });

    it("bad input: garbage, bad framing, oversized bulk, 10,000 and 70,000 arguments", async () => {
      const port = cluster.ports[0];
      const garbage = await rawConnection(port);
      garbage.socket.write(Buffer.from("hello\x00\xff\r\n", "latin1"));
      assert.equal((await garbage.waitFor((bytes) => bytes.includes("\r\n"))).toString(), "-ERR Protocol error: expected '*', got 'h'\r\n");
      assert.ok(await closedWithin(garbage, 5_000), "closed after a protocol error");

      // A bulk string whose bytes run past its declared length: the terminator is not where it should be.
      const framing = await rawConnection(port);
      framing.socket.write(Buffer.concat([respCommand("PING"), Buffer.from("*2\r\n$3\r\nGET\r\n$1\r\nabcdef\r\n")]));
      const framed = (await framing.waitFor((bytes) => bytes.toString().includes("-ERR"))).toString();
      assert.match(framed, /^\+PONG\r\n(\$-1\r\n)?-ERR Protocol error: /, "the PING before is answered, then the error");
      assert.ok(await closedWithin(framing, 5_000));

      const oversized = await rawConnection(port);
      oversized.socket.write("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999999\r\nabc");
      assert.equal((await oversized.waitFor((bytes) => bytes.includes("\r\n"))).toString(), "-ERR Protocol error: invalid bulk length\r\n");
      assert.ok(await closedWithin(oversized, 5_000));

      const many = await rawConnection(port);
      const keys = Array.from({ length: 9_999 }, (_, i) => `wide:${i}`);
      many.socket.write(respCommand("MGET", ...keys));
      many.socket.write(respCommand("GET", ...keys));
      many.socket.write(respCommand("DEL", ...keys));
      const answered = await many.waitFor((bytes) => bytes.toString().endsWith(":0\r\n"), 60_000);
      assert.ok(answered.toString().startsWith(`*9999\r\n${"$-1\r\n".repeat(9_999)}-ERR wrong number of arguments for 'get' command\r\n:0\r\n`));
      many.socket.destroy();

      const tooMany = await rawConnection(port);
      tooMany.socket.write(`*70000\r\n$3\r\nDEL\r\n`);
      assert.equal((await tooMany.waitFor((bytes) => bytes.includes("\r\n"))).toString(), "-ERR Protocol error: invalid multibulk length\r\n");
      assert.ok(await closedWithin(tooMany, 5_000));
    });

    it("bad input: half-open connections and slowloris", async () => {
      const port = cluster.ports[1];
      // 100 connections that send half a command and vanish, 100 that send nothing and stay.
      const idle = await Promise.all(Array.from({ length: 100 }, () => rawConnection(port)));
      const vanishing = await Promise.all(Array.from({ length: 100 }, () => rawConnection(port)));
      for (const connection of vanishing) {
        connection.socket.write("*3\r\n$3\r\nSET\r\n$4\r\nhalf");
        connection.socket.destroy();
      }
      // A client that half-closes after its commands still gets every reply, then the close.
      const halfClosed = await rawConnection(port);
      halfClosed.socket.end(Buffer.concat([respCommand("SET", "half:closed", "yes"), respCommand("GET", "half:closed")]));
      assert.equal((await halfClosed.waitFor((bytes) => bytes.toString().endsWith("yes\r\n"))).toString(), "+OK\r\n$3\r\nyes\r\n");
      assert.ok(await closedWithin(halfClosed, 5_000));
      acknowledged.set("half:closed", Buffer.from("yes"));
      // Slowloris: a byte now and then, never a whole command; the deadline closes it.
      const slow = await rawConnection(port);
      const startedMs = Date.now();
      const trickle = "*2\r\n$3\r\nGET\r\n$3\r\nabc\r";
      for (let i = 0; i < trickle.length && !slow.socket.destroyed; i++) {
        slow.socket.write(trickle[i]);
        await sleep(TEST_PARTIAL_COMMAND_MS / 8);
        if (slow.received().length > 0) break;
      }
      const answer = await slow.waitFor((bytes) => bytes.includes("\r\n"), 10 * TEST_PARTIAL_COMMAND_MS);
      assert.match(answer.toString(), /^-ERR Protocol error: a command was still incomplete after \d+ ms\r\n$/);
      assert.ok(await closedWithin(slow, 5_000));
      assert.ok(Date.now() - startedMs >= TEST_PARTIAL_COMMAND_MS);
      // The idle connections were left alone and still work.
      idle[0].socket.write(respCommand("PING"));
      assert.equal((await idle[0].waitFor((bytes) => bytes.length >= 7)).toString(), "+PONG\r\n");
      for (const connection of idle) connection.socket.destroy();
    });

    it("keeps serving: every acknowledged key reads back from every node", async () => {
      for (const port of cluster.ports) {
        const redis = await open(port);
        for (const [key, value] of acknowledged) assert.deepEqual(await redis.getBuffer(key), value, `${key} on port ${port}`);
      }
    });
  });
}
