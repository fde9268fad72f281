// ecc mode through the real CLI and real node processes on loopback.
// Properties: the original's basic session works (startAll -> set -> get), also with the
// original's ecc_config.json unchanged; values go in and out binary-safe through argument,
// --file and stdin (raw on a pipe, with a newline added on a terminal); absence is "not
// found" with exit 1; bad input (flags, keys, values, config, a busy port, garbage on a
// node's port) gets a clear error, changes nothing and kills no node; `cluster status` and
// `client stats` follow one exit-code rule (0 healthy, 7 degraded, 3 cannot serve) in text
// and JSON alike, with diagnostics on stderr; help lists only the flags a command uses.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { CLI_PATH, freePorts, runCli, sleep, startCli, stopProcess, StartedProcess } from "../support/processes";
import { startEccCluster, EccTestCluster } from "../support/ecc_cluster";
import { KEY_BYTES_MAX } from "../../src/core/limits";

const ORIGINAL_ECC_CONFIG = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "original", "ecc_config.json");

/** Runs the CLI under a pseudo-terminal (util-linux `script`), so its stdout is a TTY. */
function runCliOnTerminal(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; output: Buffer }> {
  const quote = (word: string): string => `'${word.replace(/'/g, "'\\''")}'`;
  const command = [process.execPath, CLI_PATH, ...args].map(quote).join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`script ${command} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output: Buffer.concat(chunks) });
    });
  });
}

/** Lines of stderr that are not ours (every line we print starts with "ecc-cache:" or is an OK/notice). */
function strayLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line !== "" && !line.startsWith("ecc-cache"));
}

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

    it("get adds a newline on a terminal, as redis-cli does, and prints raw bytes on a pipe", async () => {
      const terminal = await runCliOnTerminal(["ecc", "client", "get", "fruit", "--servers", servers]);
      assert.equal(terminal.code, 0, terminal.output.toString());
      assert.equal(terminal.output.toString(), "cherry\r\n"); // the terminal turns \n into \r\n
      const pipe = await runCli(["ecc", "client", "get", "fruit", "--servers", servers]);
      assert.equal(pipe.stdout.toString(), "cherry");
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
      const again = await runCli(["ecc", "client", "del", "gone", "--servers", servers]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /nothing deleted: gone holds no value/);
    });

    it("a client whose config is not the cluster's gets exit 4 naming what differs, and changes nothing", async () => {
      assert.equal((await runCli(["ecc", "client", "set", "layout", "kept", "--servers", servers])).code, 0);
      const reordered = servers.split(",").reverse().join(",");
      const cases: Array<{ args: string[]; says: RegExp }> = [
        { args: ["get", "layout", "--servers", servers, "--k", "4"], says: /k=4, n=5.*ecc_config|4 data.*k=3|k=3, n=5/ },
        { args: ["set", "layout", "changed", "--servers", servers, "--k", "4"], says: /k=4, n=5; this cluster is k=3, n=5: use the cluster's ecc_config/ },
        { args: ["get", "layout", "--servers", reordered], says: /servers\[\d\] stores shard \d: list the servers in the cluster's order/ },
        { args: ["set", "layout", "changed", "--servers", reordered], says: /list the servers in the cluster's order/ },
        { args: ["get", "absent-key", "--servers", reordered], says: /list the servers in the cluster's order/ },
      ];
      for (const { args, says } of cases) {
        const run = await runCli(["ecc", "client", ...args]);
        assert.equal(run.code, 4, `${args.join(" ")}: ${run.stderr}`);
        assert.match(run.stderr, says, args.join(" "));
      }
      const get = await runCli(["ecc", "client", "get", "layout", "--servers", servers]);
      assert.equal(get.stdout.toString(), "kept", "no mismatched write changed the value");
    });

    it("a second startAll on the same ports fails with a clear error and harms nothing", async () => {
      const second = await runCli(["ecc", "server", "startAll", "--servers", servers]);
      assert.equal(second.code, 3, "a busy port is 'cannot serve now', as for startOne");
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
      assert.match(command.stderr, /--help/, "a subcommand's error keeps the usage hint");
      const flag = await runCli(["ecc", "client", "get", "keep", "--no-such-flag"]);
      assert.equal(flag.code, 2);
      assert.match(flag.stderr, /unknown option/);
      assert.match(flag.stderr, /ecc-cache ecc client get --help/);
      const missing = await runCli(["ecc", "client", "get"]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /missing required argument 'key'[\s\S]*--help/);
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
        [write("typo.json", JSON.stringify({ servers: ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], k: 2, blok_size: 3 })), /blok_size: unknown field/],
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
      assert.equal(result.code, 3, "the same code as startAll on a busy port");
      assert.match(result.stderr, /cannot listen on .*in use|already/i);
      assert.deepEqual(strayLines(result.stderr), [], "only our own message, no gRPC library log line");
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
  describe("the original's ecc_config.json", () => {
    it("loads unchanged: one notice on stderr says how block_size is read, and startAll, set and get work", async () => {
      // The file's servers are 127.0.0.1:3000-3004; ECC_SERVERS moves the cluster to free
      // ports (the environment overrides the file) while every other field comes from it.
      const ports = await freePorts(5);
      const servers = ports.map((port) => `127.0.0.1:${port}`).join(",");
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-original-"));
      const env = { ECC_SERVERS: servers, ECC_DATA_DIR: dataDir };
      const all = await startCli(["ecc", "server", "startAll", "-c", ORIGINAL_ECC_CONFIG], /Press Ctrl-C/, { env, timeoutMs: 30_000 });
      try {
        const notices = all.output.filter((line) => /notice/.test(line));
        assert.equal(notices.length, 1, all.output.join("\n"));
        assert.match(notices[0], /block_size 4/);
        const set = await runCli(["ecc", "client", "set", "fruit", "cherry", "-c", ORIGINAL_ECC_CONFIG], { env });
        assert.equal(set.code, 0, set.stderr);
        assert.equal(set.stderr.split("\n").filter((line) => /notice/.test(line)).length, 1, set.stderr);
        const get = await runCli(["ecc", "client", "get", "fruit", "-c", ORIGINAL_ECC_CONFIG], { env });
        assert.equal(get.code, 0, get.stderr);
        assert.equal(get.stdout.toString(), "cherry");
      } finally {
        await stopProcess(all, "SIGINT", 5_000);
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });

  describe("help", () => {
    it("client help lists only the flags the command uses", async () => {
      const get = await runCli(["ecc", "client", "get", "--help"]);
      assert.equal(get.code, 0);
      const text = get.stdout.toString();
      for (const flag of ["--servers", "--k", "--rpc-timeout-ms", "--codec"]) assert.match(text, new RegExp(flag));
      for (const flag of ["--heartbeat-timeout-ms", "--lock-lease-ms", "--data-dir", "--block-size"]) assert.doesNotMatch(text, new RegExp(flag), flag);
      const set = (await runCli(["ecc", "client", "set", "--help"])).stdout.toString();
      for (const flag of ["--block-size", "--lock-lease-ms", "--heartbeat-timeout-ms"]) assert.match(set, new RegExp(flag), `set uses ${flag}`);
      assert.doesNotMatch(set, /--data-dir/);
      const stats = (await runCli(["ecc", "client", "stats", "--help"])).stdout.toString();
      assert.doesNotMatch(stats, /--codec|--data-dir|--lock-lease-ms/);
      const server = (await runCli(["ecc", "server", "startOne", "--help"])).stdout.toString();
      for (const flag of ["--heartbeat-timeout-ms", "--lock-lease-ms", "--data-dir"]) assert.match(server, new RegExp(flag));
    });

    it("`npm run -s cli --` and `npx ecc-cache` print only the command's output on stdout", () => {
      const root = path.resolve(__dirname, "..", "..", "..");
      const version = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }).version;
      for (const [command, args] of [
        ["npm", ["run", "-s", "cli", "--", "--version"]],
        ["npx", ["--no-install", "ecc-cache", "--version"]],
      ] as const) {
        const result = spawnSync(command, args, { cwd: root, encoding: "utf8", timeout: 60_000 });
        assert.equal(result.status, 0, `${command} ${args.join(" ")}: ${result.stderr}`);
        assert.equal(result.stdout, `${version}\n`, `${command} ${args.join(" ")}`);
      }
    });

    it("bench help names raft as a target without a caveat", async () => {
      const bench = await runCli(["bench", "--help"]);
      assert.equal(bench.code, 0);
      assert.doesNotMatch(bench.stdout.toString(), /when built/);
    });
  });

  describe("cluster health: one exit-code rule for status and stats", () => {
    let cluster: EccTestCluster;
    let servers: string;
    before(async () => {
      cluster = await startEccCluster();
      servers = cluster.config.servers.join(",");
    });
    after(async () => cluster?.stop());

    const commands = (): string[][] => [
      ["ecc", "cluster", "status", "--servers", servers],
      ["ecc", "cluster", "status", "--json", "--servers", servers],
      ["ecc", "client", "stats", "--servers", servers],
      ["ecc", "client", "stats", "--json", "--servers", servers],
    ];

    it("every node up: exit 0; keys counts live keys and tombstones are shown apart", async () => {
      for (const key of ["a", "b"]) assert.equal((await runCli(["ecc", "client", "set", key, "v", "--servers", servers])).code, 0);
      assert.equal((await runCli(["ecc", "client", "del", "b", "--servers", servers])).code, 0);
      for (const args of commands()) {
        const result = await runCli(args);
        assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
        assert.equal(result.stderr, "", args.join(" "));
      }
      const text = (await runCli(["ecc", "client", "stats", "--servers", servers])).stdout.toString().split("\n");
      assert.match(text[0], /\bkeys\b.*\btombstones\b/);
      for (const line of text.slice(1).filter((l) => l !== "")) assert.match(line, /^\S+\s+\d+\s+1\s+1\s/, line);
      const json = JSON.parse((await runCli(["ecc", "client", "stats", "--json", "--servers", servers])).stdout.toString()) as Array<{ keys: number; tombstones: number }>;
      for (const node of json) assert.deepEqual([node.keys, node.tombstones], [1, 1]);
      const status = JSON.parse((await runCli(["ecc", "cluster", "status", "--json", "--servers", servers])).stdout.toString()) as { nodes: Array<{ keys: number; tombstones: number }> };
      for (const node of status.nodes) assert.deepEqual([node.keys, node.tombstones], [1, 1]);
    });

    it("one node down: exit 7 (degraded) with the node named on stderr; data still on stdout", async () => {
      await cluster.kill(4);
      const down = cluster.config.servers[4];
      for (const args of commands()) {
        const result = await runCli(args);
        assert.equal(result.code, 7, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`degraded.*${down}`));
        assert.match(result.stdout.toString(), new RegExp(down));
        if (args.includes("--json")) JSON.parse(result.stdout.toString());
      }
    });

    it("every node down: exit 3, the reason on stderr, nothing but data on stdout", async () => {
      for (let index = 0; index < cluster.nodes.length; index++) await cluster.kill(index);
      for (const args of commands()) {
        const result = await runCli([...args, "--rpc-timeout-ms", "300"]);
        assert.equal(result.code, 3, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, /no node answered/);
        assert.doesNotMatch(result.stdout.toString(), /no node answered/);
        if (args.includes("--json")) JSON.parse(result.stdout.toString());
      }
    });
  });
});
