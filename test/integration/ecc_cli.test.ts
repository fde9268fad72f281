// ecc mode through the real CLI and real node processes on loopback.
// Properties: the original's basic session works (startAll -> set -> get), values go in
// and out binary-safe through argument, --file and stdin, absence is "not found" with exit
// 1, and bad input (flags, keys, values, config, a busy port, garbage on a node's port)
// gets a clear error, changes nothing and kills no node.
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePorts, runCli, sleep, startCli, stopProcess, StartedProcess } from "../support/processes";
import { startEccCluster, EccTestCluster } from "../support/ecc_cluster";
import { KEY_BYTES_MAX } from "../../src/core/limits";

describe("ecc CLI (real processes)", function () {
  this.timeout(120_000);

  describe("startAll", () => {
    let all: StartedProcess | null = null;
    let servers = "";
    before(async () => {
      const ports = await freePorts(5);
      servers = ports.map((port) => `127.0.0.1:${port}`).join(",");
      all = await startCli(["ecc", "server", "startAll", "--servers", servers], /Press Ctrl-C/, { timeoutMs: 30_000 });
    });
    after(async () => {
      if (all !== null) await stopProcess(all, "SIGINT", 5_000);
    });

    it("prints where each node listens", () => {
      const text = all!.output.join("\n");
      for (const address of servers.split(",")) assert.match(text, new RegExp(`listening on ${address}`));
    });

    it("set fruit cherry, then get fruit prints cherry", async () => {
      const set = await runCli(["ecc", "client", "set", "fruit", "cherry", "--servers", servers]);
      assert.equal(set.code, 0, set.stderr);
      const get = await runCli(["ecc", "client", "get", "fruit", "--servers", servers]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(get.stdout.toString(), "cherry");
    });

    it("reads values from --file and stdin byte for byte, including a 0-byte value", async () => {
      const binary = Buffer.from([0, 255, 0, 1, 2, 0, 0]);
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cli-")), "value.bin");
      fs.writeFileSync(file, binary);
      assert.equal((await runCli(["ecc", "client", "set", "bin", "--file", file, "--servers", servers])).code, 0);
      assert.deepEqual((await runCli(["ecc", "client", "get", "bin", "--servers", servers])).stdout, binary);
      const stdin = Buffer.from("from stdin\n\0");
      assert.equal((await runCli(["ecc", "client", "set", "piped", "--servers", servers], { input: stdin })).code, 0);
      assert.deepEqual((await runCli(["ecc", "client", "get", "piped", "--servers", servers])).stdout, stdin);
      assert.equal((await runCli(["ecc", "client", "set", "empty", "--servers", servers], { input: Buffer.alloc(0) })).code, 0);
      const empty = await runCli(["ecc", "client", "get", "empty", "--servers", servers]);
      assert.equal(empty.code, 0, empty.stderr);
      assert.equal(empty.stdout.length, 0);
    });

    it("get of a missing or deleted key says not found on stderr and exits 1", async () => {
      const missing = await runCli(["ecc", "client", "get", "no-such-key", "--servers", servers]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /not found/);
      assert.equal(missing.stdout.length, 0);
      assert.equal((await runCli(["ecc", "client", "set", "gone", "soon", "--servers", servers])).code, 0);
      assert.equal((await runCli(["ecc", "client", "del", "gone", "--servers", servers])).code, 0);
      const deleted = await runCli(["ecc", "client", "get", "gone", "--servers", servers]);
      assert.equal(deleted.code, 1);
      assert.match(deleted.stderr, /not found/);
    });

    it("a second startAll on the same ports fails with a clear error and harms nothing", async () => {
      const second = await runCli(["ecc", "server", "startAll", "--servers", servers]);
      assert.notEqual(second.code, 0);
      assert.match(second.stderr, /already in use/);
      const again = await runCli(["ecc", "client", "get", "fruit", "--servers", servers]);
      assert.equal(again.stdout.toString(), "cherry");
    });

    it("Ctrl-C (SIGINT) stops every node", async () => {
      const started = all!;
      all = null;
      await stopProcess(started, "SIGINT", 5_000);
      const exit = await started.exited;
      assert.equal(exit.code, 0);
      const get = await runCli(["ecc", "client", "get", "fruit", "--servers", servers, "--rpc-timeout-ms", "300"]);
      assert.equal(get.code, 3, "no node should answer any more");
      assert.match(get.stderr, /unavailable|read failed|no server answered/i);
    });
  });

  describe("bad input", () => {
    let cluster: EccTestCluster;
    let servers: string;
    before(async () => {
      cluster = await startEccCluster();
      servers = cluster.config.servers.join(",");
      assert.equal((await runCli(["ecc", "client", "set", "keep", "me", "--servers", servers])).code, 0);
    });
    after(async () => cluster.stop());

    const unchanged = async (): Promise<void> => {
      const get = await runCli(["ecc", "client", "get", "keep", "--servers", servers]);
      assert.equal(get.stdout.toString(), "me", get.stderr);
      for (const node of cluster.nodes) assert.ok(node !== null && node.child.exitCode === null, "a node died");
    };

    it("rejects an empty key", async () => {
      const result = await runCli(["ecc", "client", "set", "", "x", "--servers", servers]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /key is empty/);
      await unchanged();
    });

    it("rejects an oversized key", async () => {
      const result = await runCli(["ecc", "client", "set", "k".repeat(KEY_BYTES_MAX + 1), "x", "--servers", servers]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /key is 1025 bytes; the limit is 1024/);
      await unchanged();
    });

    it("rejects an oversized value from stdin", async () => {
      const result = await runCli(["ecc", "client", "set", "keep", "--servers", servers], {
        input: Buffer.alloc(64 * 1024 * 1024 + 1),
      });
      assert.equal(result.code, 2);
      assert.match(result.stderr, /value is \d+ bytes; the limit is 67108864/);
      await unchanged();
    });

    it("rejects unknown commands and flags with usage help", async () => {
      const command = await runCli(["ecc", "client", "frobnicate"]);
      assert.equal(command.code, 2);
      assert.match(command.stderr, /unknown command/);
      const flag = await runCli(["ecc", "client", "get", "keep", "--no-such-flag"]);
      assert.equal(flag.code, 2);
      assert.match(flag.stderr, /unknown option/);
    });

    it("rejects malformed and contradictory config with the reason", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-config-"));
      const write = (name: string, text: string): string => {
        const file = path.join(dir, name);
        fs.writeFileSync(file, text);
        return file;
      };
      const cases: Array<[string, RegExp]> = [
        [write("broken.json", "{ servers: "), /not valid JSON/],
        [write("k.json", JSON.stringify({ servers: ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], k: 1, n: 3 })), /must be more than n\/2/],
        [write("kn.json", JSON.stringify({ servers: ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], k: 3, n: 3 })), /must be below n/],
        [write("count.json", JSON.stringify({ servers: ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], k: 3, n: 5 })), /n must equal the number of servers/],
        [write("typo.json", JSON.stringify({ servers: ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], k: 2, blok_size: 3 })), /Unrecognized key/],
        [write("addr.json", JSON.stringify({ servers: ["127.0.0.1:1", "nonsense", "127.0.0.1:3"], k: 2 })), /not a host:port/],
      ];
      for (const [file, reason] of cases) {
        const result = await runCli(["ecc", "client", "get", "keep", "-c", file]);
        assert.equal(result.code, 4, `${file}: ${result.stderr}`);
        assert.match(result.stderr, reason);
      }
      const flag = await runCli(["ecc", "client", "get", "keep", "--servers", servers, "--k", "three"]);
      assert.equal(flag.code, 4);
      assert.match(flag.stderr, /--k: 'three' is not a whole number/);
      await unchanged();
    });

    it("a node started twice on one port fails clearly; the first keeps serving", async () => {
      const result = await runCli(["ecc", "server", "startOne", cluster.config.servers[0]], { env: cluster.env });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /cannot listen on .*in use|already/i);
      await unchanged();
    });

    it("garbage bytes on a node's port change nothing and kill no node", async () => {
      const [host, port] = cluster.config.servers[1].split(":");
      for (const garbage of [Buffer.from("GET / HTTP/1.1\r\n\r\n"), Buffer.alloc(4096, 0xff), Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\0")]) {
        await new Promise<void>((resolve) => {
          const socket = net.connect(Number(port), host, () => socket.end(garbage));
          socket.on("error", () => resolve());
          socket.on("close", () => resolve());
          socket.resume();
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 2_000);
        });
      }
      await sleep(100);
      await unchanged();
    });
  });
});
