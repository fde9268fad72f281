// raft mode against real node processes on loopback (3 nodes, fast timers, fsync never:
// SIGKILL keeps the OS page cache, so a killed node restarts from its files).
// Properties checked:
// - the original session works through the CLI: startAll -> set -> get;
// - SIGKILL of the leader: a new leader within a few election timeouts, no acknowledged
//   write missing; the old leader restarts from its data directory and catches up, through
//   InstallSnapshot when the leader compacted past it;
// - membership: a fourth node joins and one node is removed while a writer runs; no
//   acknowledged write is lost and the new node holds every value;
// - bad input gets clear errors and harms nothing;
// - with no node reachable the client gives up within its connect timeout and says so in
//   our words, not gRPC's;
// - `raft cluster status` and `raft client stats` follow the ecc exit-code rule (0 healthy,
//   7 degraded, 3 cannot serve), text and JSON alike, diagnostics on stderr;
// - client help lists only the flags a client uses; the original's raft_config.json loads.
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { KEY_BYTES_MAX } from "../../src/core/limits";
import { RaftClient } from "../../src/raft/client";
import { startRaftCluster, RaftTestCluster } from "../support/raft_cluster";
import { freePorts, runCli, sleep, startCli, stopProcess, StartedProcess } from "../support/processes";

/** Writes keys until stopped; returns every acknowledged (key, value). */
function startWriter(client: RaftClient, prefix: string): { stop: () => Promise<Map<string, string>>; errors: () => number } {
  const acknowledged = new Map<string, string>();
  let running = true;
  let errors = 0;
  const loop = (async () => {
    for (let i = 0; running && i < 100_000; i++) {
      const key = `${prefix}${i % 200}`;
      const value = `${prefix}-value-${i}`;
      try {
        await client.set(key, Buffer.from(value));
        acknowledged.set(key, value);
      } catch {
        errors++; // an unacknowledged write may or may not have happened; not checked
        await sleep(20);
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return acknowledged;
    },
    errors: () => errors,
  };
}

async function verify(client: RaftClient, acknowledged: Map<string, string>): Promise<void> {
  for (const [key, value] of acknowledged) {
    const read = await client.get(key);
    assert.equal(read?.toString(), value, `key ${key}`);
  }
}

describe("raft cluster (real processes)", function () {
  this.timeout(180_000);

  it("startAll -> raft client set fruit cherry -> get prints cherry", async () => {
    const ports = await freePorts(3);
    const servers = ports.map((port) => `127.0.0.1:${port}`).join(",");
    const dataDir = `/tmp/raft-cli-${process.pid}-${Date.now()}`;
    const all = await startCli(["raft", "server", "startAll", "--servers", servers, "--data-dir", dataDir, "--fsync", "never"], /Press Ctrl-C/, {
      timeoutMs: 30_000,
    });
    try {
      const base = ["--servers", servers];
      let set = await runCli(["raft", "client", "set", "fruit", "cherry", ...base]);
      assert.equal(set.code, 0, set.stderr);
      const get = await runCli(["raft", "client", "get", "fruit", ...base]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(get.stdout.toString(), "cherry");
      set = await runCli(["raft", "client", "del", "fruit", ...base]);
      assert.equal(set.code, 0, set.stderr);
      const missing = await runCli(["raft", "client", "get", "fruit", ...base]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /not found/);
      // Deleting what is not there says so (Redis's (integer) 0), exit 1 like a missing get.
      const again = await runCli(["raft", "client", "del", "fruit", ...base]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /nothing deleted: fruit holds no value/);
    } finally {
      await stopProcess(all, "SIGINT", 5_000);
    }
    assert.equal((await all.exited).code, 0);
  });

  describe("leader failure and catch-up", () => {
    let cluster: RaftTestCluster;
    before(async () => {
      cluster = await startRaftCluster({ snapshotEntries: 100 });
    });
    after(async () => cluster?.stop());

    it("elects a new leader after SIGKILL of the leader and loses no acknowledged write", async () => {
      const client = cluster.client();
      const writer = startWriter(client, "a");
      await sleep(500);
      const oldLeader = await cluster.leader();
      const killedAt = Date.now();
      await cluster.kill(oldLeader);
      const newLeader = await cluster.leader(5_000);
      const electionMs = Date.now() - killedAt;
      assert.notEqual(newLeader, oldLeader);
      // election timeout is 150-300 ms here: a few of them at most
      assert.ok(electionMs < 3_000, `new leader after ${electionMs} ms`);
      await sleep(800); // writes continue under the new leader, past a compaction (100 entries)
      const acknowledged = await writer.stop();
      assert.ok(acknowledged.size > 0);
      await verify(client, acknowledged);

      // The old leader restarts from its files and catches up (through a snapshot: the
      // leader compacted past what it had).
      await cluster.start(oldLeader);
      const deadline = Date.now() + 10_000;
      let caughtUp = false;
      const leaderStats = await client.stats(newLeader);
      while (Date.now() < deadline && !caughtUp) {
        const stats = await client.stats(oldLeader).catch(() => null);
        caughtUp = stats !== null && stats.appliedIndex >= leaderStats.commitIndex;
        if (!caughtUp) await sleep(100);
      }
      assert.ok(caughtUp, "restarted node did not catch up");
      const restarted = await client.stats(oldLeader);
      assert.ok(restarted.snapshotIndex > 0, "catch-up was expected to go through a snapshot");
      // Kill the other two in turn so the restarted node must serve with its own copy.
      const others = [...cluster.nodes.keys()].filter((address) => address !== oldLeader);
      await cluster.kill(others[0]);
      await verify(client, acknowledged);
    });
  });

  describe("membership changes under load", () => {
    let cluster: RaftTestCluster;
    before(async () => {
      cluster = await startRaftCluster({ extraPorts: 1 });
    });
    after(async () => cluster?.stop());

    it("adds a fourth node and removes one while a writer runs", async () => {
      const client = cluster.client();
      const writer = startWriter(client, "m");
      await sleep(300);
      const [extraPort] = await freePorts(1);
      const fourth = `127.0.0.1:${extraPort}`;
      await cluster.start(fourth); // joins by itself: not in servers
      const deadline = Date.now() + 15_000;
      let voters: string[] = [];
      while (Date.now() < deadline) {
        voters = (await client.stats(await cluster.leader())).voters;
        if (voters.includes(fourth)) break;
        await sleep(100);
      }
      assert.ok(voters.includes(fourth), `fourth node never became a voter: ${voters.join(",")}`);
      assert.equal(voters.length, 4);
      const leader = await cluster.leader();
      const victim = cluster.config.servers.find((address) => address !== leader)!;
      await client.removeMember(victim);
      assert.deepEqual((await client.stats(leader)).voters.includes(victim), false);
      await cluster.kill(victim);
      await sleep(300);
      const acknowledged = await writer.stop();
      await verify(client, acknowledged);
      // Applied entries live in the state machine and on disk, not twice in memory: every
      // node released their data from its in-memory log (the leader read them back from disk
      // to bring the new node up to date). Only config entries keep theirs.
      for (const address of [...cluster.nodes.keys()].filter((a) => a !== victim)) {
        const stats = await client.stats(address);
        const entries = stats.lastIndex - stats.firstIndex + 1;
        assert.ok(entries >= 100, `${address}: only ${entries} entries in the log`);
        assert.ok(stats.logBytes <= 1024, `${address}: ${stats.logBytes} bytes of log data held for ${entries} applied entries`);
      }
      // The new node holds every acknowledged value: kill another original voter so the
      // remaining majority must include it.
      const remaining = [...cluster.nodes.keys()].filter((address) => address !== fourth && address !== victim);
      await cluster.kill(remaining.find((address) => address !== leader) ?? remaining[0]);
      await verify(client, acknowledged);
    });
  });

  describe("bad input", () => {
    let cluster: RaftTestCluster;
    let servers: string;
    before(async () => {
      cluster = await startRaftCluster();
      servers = cluster.config.servers.join(",");
      assert.equal((await runCli(["raft", "client", "set", "keep", "me", "--servers", servers])).code, 0);
    });
    after(async () => cluster?.stop());

    const unchanged = async (): Promise<void> => {
      const get = await runCli(["raft", "client", "get", "keep", "--servers", servers]);
      assert.equal(get.stdout.toString(), "me", get.stderr);
      for (const node of cluster.nodes.values()) assert.equal(node.child.exitCode, null, "a node died");
    };

    it("rejects empty and oversized keys, oversized values, unknown flags and bad config", async () => {
      const empty = await runCli(["raft", "client", "set", "", "x", "--servers", servers]);
      assert.equal(empty.code, 2);
      assert.match(empty.stderr, /key is empty/);
      const longKey = await runCli(["raft", "client", "set", "k".repeat(KEY_BYTES_MAX + 1), "x", "--servers", servers]);
      assert.equal(longKey.code, 2);
      assert.match(longKey.stderr, /limit is 1024/);
      const big = await runCli(["raft", "client", "set", "keep", "--servers", servers], { input: Buffer.alloc(64 * 1024 * 1024 + 1) });
      assert.equal(big.code, 2);
      assert.match(big.stderr, /limit is 67108864/);
      const flag = await runCli(["raft", "client", "get", "keep", "--bogus"]);
      assert.equal(flag.code, 2);
      assert.match(flag.stderr, /unknown option/);
      const config = await runCli(["raft", "server", "startOne", "0", "--servers", servers, "--election-ticks", "2", "--heartbeat-ticks", "1"]);
      assert.equal(config.code, 4);
      assert.match(config.stderr, /election_ticks/);
      const fsync = await runCli(["raft", "server", "startOne", "0", "--servers", servers, "--fsync", "sometimes"]);
      assert.equal(fsync.code, 4);
      assert.match(fsync.stderr, /fsync/);
      // A server setting given to a client is accepted (one flag set serves every command, as
      // the file and the environment do) but still checked.
      const serverFlag = await runCli(["raft", "client", "get", "keep", "--servers", servers, "--fsync", "never"]);
      assert.equal(serverFlag.code, 0, serverFlag.stderr);
      const badServerFlag = await runCli(["raft", "client", "get", "keep", "--servers", servers, "--fsync", "sometimes"]);
      assert.equal(badServerFlag.code, 4);
      const unknown = await runCli(["raft", "client", "get", "keep", "--servers", servers, "--fsink", "never"]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /unknown option '--fsink'[\s\S]*ecc-cache raft client get --help/);
      const index = await runCli(["raft", "server", "startOne", "7", "--servers", servers]);
      assert.equal(index.code, 4);
      assert.match(index.stderr, /out of range/);
      await unchanged();
    });

    it("a node started twice on one port fails clearly; garbage on a port harms nothing", async () => {
      const twice = await runCli(["raft", "server", "startOne", "0"], { env: cluster.env });
      assert.equal(twice.code, 3);
      assert.match(twice.stderr, /cannot listen|in use/i);
      assert.deepEqual(twice.stderr.split("\n").filter((line) => line !== "" && !line.startsWith("ecc-cache")), [], "no gRPC library log line");
      const [host, port] = cluster.config.servers[0].split(":");
      for (const garbage of [Buffer.from("hello\r\n\r\n"), Buffer.alloc(2048, 0xee)]) {
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
      await unchanged();
    });
  });
  describe("no node reachable", () => {
    it("gives up within the connect timeout with our own message, for reads and writes", async () => {
      const ports = await freePorts(3); // closed: nobody listens there
      const servers = ports.map((port) => `127.0.0.1:${port}`);
      for (const args of [
        ["raft", "client", "get", "fruit", "--servers", servers.join(","), "--connect-timeout-ms", "300"],
        ["raft", "client", "set", "fruit", "cherry", "--servers", servers.join(",")], // the default, 2 s
      ]) {
        const result = await runCli(args, { timeoutMs: 30_000 });
        assert.equal(result.code, 3, result.stderr);
        assert.equal(result.stderr, `ecc-cache: no raft node reachable at ${servers.join(", ")}\n`);
      }
      const env = await runCli(["raft", "client", "get", "fruit", "--servers", servers.join(",")], { env: { RAFT_CONNECT_TIMEOUT_MS: "200" } });
      assert.equal(env.code, 3);
      const bad = await runCli(["raft", "client", "get", "fruit", "--servers", servers.join(","), "--connect-timeout-ms", "0"]);
      assert.equal(bad.code, 4, bad.stderr);
      assert.match(bad.stderr, /connect_timeout_ms/);
    });

    it("the original's raft_config.json loads unchanged", async () => {
      const file = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "original", "raft_config.json");
      const result = await runCli(["raft", "client", "stats", "-c", file, "--connect-timeout-ms", "200", "--rpc-timeout-ms", "200"]);
      assert.notEqual(result.code, 4, result.stderr);
      assert.doesNotMatch(result.stderr, /invalid raft config/);
    });
  });

  describe("help", () => {
    it("client help lists only the flags a client uses", async () => {
      const get = (await runCli(["raft", "client", "get", "--help"])).stdout.toString();
      for (const flag of ["--servers", "--rpc-timeout-ms", "--connect-timeout-ms"]) assert.match(get, new RegExp(flag));
      for (const flag of ["--tick-ms", "--election-ticks", "--heartbeat-ticks", "--snapshot-entries", "--fsync", "--data-dir"]) {
        assert.doesNotMatch(get, new RegExp(flag), flag);
      }
      const server = (await runCli(["raft", "server", "startOne", "--help"])).stdout.toString();
      for (const flag of ["--tick-ms", "--election-ticks", "--fsync", "--data-dir"]) assert.match(server, new RegExp(flag));
      assert.doesNotMatch(server, /--connect-timeout-ms/);
    });
  });

  describe("cluster status and stats: one exit-code rule", () => {
    let cluster: RaftTestCluster;
    let servers: string;
    before(async () => {
      cluster = await startRaftCluster();
      servers = cluster.config.servers.join(",");
      await cluster.leader();
    });
    after(async () => cluster?.stop());

    const commands = (): string[][] => [
      ["raft", "cluster", "status", "--servers", servers],
      ["raft", "cluster", "status", "--json", "--servers", servers],
      ["raft", "client", "stats", "--servers", servers],
      ["raft", "client", "stats", "--json", "--servers", servers],
    ];

    it("every node up: exit 0; status shows the leader, term, members and each node's commit and applied index", async () => {
      assert.equal((await runCli(["raft", "client", "set", "fruit", "cherry", "--servers", servers])).code, 0);
      for (const args of commands()) {
        const result = await runCli(args);
        assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
        assert.equal(result.stderr, "", args.join(" "));
      }
      const leader = await cluster.leader();
      const text = (await runCli(["raft", "cluster", "status", "--servers", servers])).stdout.toString();
      assert.match(text, new RegExp(`leader ${leader}`));
      assert.match(text, /term \d+/);
      for (const address of cluster.config.servers) assert.match(text, new RegExp(`${address}\\s+(leader|follower)\\s+\\d+\\s+\\d+\\s+\\d+`));
      const json = JSON.parse((await runCli(["raft", "cluster", "status", "--json", "--servers", servers])).stdout.toString()) as {
        leader: string;
        term: number;
        members: string[];
        nodes: Array<{ address: string; reachable: boolean; role: string; commitIndex: number; appliedIndex: number }>;
      };
      assert.equal(json.leader, leader);
      assert.ok(json.term >= 1);
      assert.deepEqual([...json.members].sort(), [...cluster.config.servers].sort());
      assert.equal(json.nodes.length, 3);
      for (const node of json.nodes) {
        assert.ok(node.reachable && node.commitIndex >= 1 && node.appliedIndex >= 1, JSON.stringify(node));
      }
    });

    it("one node down: exit 7 with the node named on stderr", async () => {
      const leader = await cluster.leader();
      const follower = cluster.config.servers.find((address) => address !== leader)!;
      await cluster.kill(follower);
      for (const args of commands()) {
        const result = await runCli([...args, "--rpc-timeout-ms", "500"]);
        assert.equal(result.code, 7, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`degraded.*${follower}`));
        if (args.includes("--json")) JSON.parse(result.stdout.toString());
      }
    });

    it("every node down: exit 3, the reason on stderr", async () => {
      for (const address of [...cluster.nodes.keys()]) await cluster.kill(address);
      for (const args of commands()) {
        const result = await runCli([...args, "--rpc-timeout-ms", "300"]);
        assert.equal(result.code, 3, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, /no node answered/);
        if (args.includes("--json")) JSON.parse(result.stdout.toString());
      }
    });
  });
});

export type { StartedProcess };
