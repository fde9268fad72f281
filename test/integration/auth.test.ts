// Client auth on real node processes, both modes (issue 19): a cluster started with
// auth_token_file serves a client that sends the token (CLI by flag, file and environment;
// the library), refuses one that sends none or a wrong one with UnauthenticatedError and exit
// code 10 and changes nothing, answers RESP with NOAUTH and WRONGPASS until AUTH (or
// HELLO ... AUTH) gives the token, keeps /healthz and /metrics open but not /v1/status, and
// takes a new token from its file on SIGHUP without a restart: the old one is refused, the
// new one accepted, and the nodes keep talking to each other (peers send the token too);
// a raft node holding another token cannot join the group.
//
// Method: each check asks over the real doors (CLI processes, gRPC, redis-cli, raw RESP
// sockets, HTTP) and reads the key back with the right token afterwards, so a refusal that
// changed something fails the test.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseAddress } from "../../src/core/address";
import { UnauthenticatedError } from "../../src/core/errors";
import { AuthToken, AuthTokenInput } from "../../src/core/auth_token";
import { EXIT_OK, EXIT_UNAUTHENTICATED } from "../../src/cli/exit_codes";
import { EcClient } from "../../src/ecc/client";
import { EccClusterConfig } from "../../src/ecc/config";
import { createCodec } from "../../src/codec";
import { RaftClient } from "../../src/raft/client";
import { startEccCluster } from "../support/ecc_cluster";
import { startRaftCluster } from "../support/raft_cluster";
import { StartedProcess, freePorts, runCli, sleep, startCli, stopProcess, waitUntil } from "../support/processes";
import { RAFT_RESOLVED_CONFIG_ENV } from "../../src/cli/raft_config_loader";
import { RESOLVED_CONFIG_ENV } from "../../src/cli/ecc_config_loader";
import { rawConnection, redisCli, redisToolInstalled, respCommand } from "../support/redis_tools";
import Redis from "ioredis";

interface Library {
  set(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<string | null>;
  close(): void;
}

interface AuthCluster {
  /** CLI words before the subcommand's own: "ecc client" or "raft client". */
  client: string[];
  /** Flags that name the cluster without its token. */
  clusterFlags: string[];
  envPrefix: "ECC" | "RAFT";
  respPorts: number[];
  httpPorts: number[];
  nodes(): StartedProcess[];
  /** A library client that sends `token` (none when undefined). */
  library(token: AuthTokenInput | undefined): Promise<Library>;
  /** After a rotation: the cluster still serves as a whole (peers talk with the new token). */
  healthy(token: string): Promise<void>;
  /**
   * A node holding `nodeTokenFile` starts and tries to take part (raft: a new node asks to
   * join; ecc: the last node restarts with `recover`); true when it became a voter / a
   * member of the view within waitMs.
   */
  joins(nodeTokenFile: string, clusterToken: string, waitMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

function newToken(): string {
  return randomBytes(32).toString("hex");
}

/** Replaces the token file as an operator would: write aside, rename over. */
function writeTokenFile(file: string, token: string): void {
  fs.writeFileSync(file + ".new", token + "\n", { mode: 0o600 });
  fs.renameSync(file + ".new", file);
}

async function httpStatus(port: number, urlPath: string, token?: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`, {
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  return response.status;
}

function defineAuthChecks(title: string, start: (tokenFile: string) => Promise<AuthCluster>): void {
  describe(title, function () {
    this.timeout(180_000);
    let dir: string;
    let tokenFile: string;
    let token: string;
    let cluster: AuthCluster;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "auth-test-"));
      tokenFile = path.join(dir, "token");
      token = newToken();
      writeTokenFile(tokenFile, token);
      cluster = await start(tokenFile);
    });

    after(async () => {
      await cluster?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const cli = (args: string[], extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
      runCli([...cluster.client, ...args, ...cluster.clusterFlags, ...extra], { env });

    it("serves a client with the right token: CLI by --auth-token-file, --auth-token and environment; the library", async () => {
      const set = await cli(["set", "fruit", "cherry"], ["--auth-token-file", tokenFile]);
      assert.equal(set.code, EXIT_OK, set.stderr);
      const byFlag = await cli(["get", "fruit"], ["--auth-token", token]);
      assert.equal(byFlag.code, EXIT_OK, byFlag.stderr);
      assert.equal(byFlag.stdout.toString(), "cherry");
      const byEnv = await cli(["get", "fruit"], [], { [`${cluster.envPrefix}_AUTH_TOKEN`]: token });
      assert.equal(byEnv.stdout.toString(), "cherry", byEnv.stderr);
      const byEnvFile = await cli(["get", "fruit"], [], { [`${cluster.envPrefix}_AUTH_TOKEN_FILE`]: tokenFile });
      assert.equal(byEnvFile.stdout.toString(), "cherry", byEnvFile.stderr);
      const library = await cluster.library(token);
      try {
        await library.set("plum", "purple");
        assert.equal(await library.get("plum"), "purple");
      } finally {
        library.close();
      }
    });

    it("refuses a missing or wrong token with UnauthenticatedError and exit code 10, and changes nothing", async () => {
      assert.equal((await cli(["set", "kept", "original"], ["--auth-token", token])).code, EXIT_OK);
      const missing = await cli(["set", "kept", "overwritten"]);
      assert.equal(missing.code, EXIT_UNAUTHENTICATED, missing.stderr);
      assert.match(missing.stderr, /authentication required/);
      const wrong = await cli(["set", "kept", "overwritten"], ["--auth-token", newToken()]);
      assert.equal(wrong.code, EXIT_UNAUTHENTICATED, wrong.stderr);
      assert.match(wrong.stderr, /authentication failed: the token sent is not the cluster's token/);
      assert.doesNotMatch(wrong.stderr, new RegExp(token), "the cluster's token is never printed");
      const wrongDel = await cli(["del", "kept"], ["--auth-token", newToken()]);
      assert.equal(wrongDel.code, EXIT_UNAUTHENTICATED, wrongDel.stderr);
      const wrongGet = await cli(["get", "kept"]);
      assert.equal(wrongGet.code, EXIT_UNAUTHENTICATED);
      assert.equal(wrongGet.stdout.length, 0);
      // Status and stats too: "refused", not "every node unreachable".
      const status = await runCli([cluster.client[0], "cluster", "status", ...cluster.clusterFlags, "--auth-token", newToken()]);
      assert.equal(status.code, EXIT_UNAUTHENTICATED, status.stdout.toString() + status.stderr);
      const stats = await cli(["stats"]);
      assert.equal(stats.code, EXIT_UNAUTHENTICATED, stats.stdout.toString() + stats.stderr);
      for (const libraryToken of [undefined, newToken()]) {
        const library = await cluster.library(libraryToken);
        try {
          await assert.rejects(library.set("kept", "overwritten"), (error: unknown) => error instanceof UnauthenticatedError);
          await assert.rejects(library.get("kept"), (error: unknown) => error instanceof UnauthenticatedError);
        } finally {
          library.close();
        }
      }
      const after = await cli(["get", "kept"], ["--auth-token", token]);
      assert.equal(after.stdout.toString(), "original", after.stderr);
    });

    it("RESP: NOAUTH before AUTH, WRONGPASS for a wrong token; AUTH, AUTH default and HELLO 3 AUTH let the client in", async () => {
      const port = cluster.respPorts[0];
      const connection = await rawConnection(port);
      try {
        const expect = async (command: Buffer, reply: string | RegExp): Promise<void> => {
          const before = connection.received().length;
          connection.socket.write(command);
          const received = await connection.waitFor((bytes) => bytes.length > before && bytes.subarray(before).includes("\r\n"));
          const text = received.subarray(before).toString("latin1");
          if (typeof reply === "string") assert.equal(text, reply);
          else assert.match(text, reply);
        };
        await expect(respCommand("GET", "kept"), "-NOAUTH Authentication required.\r\n");
        await expect(respCommand("SET", "kept", "resp"), "-NOAUTH Authentication required.\r\n");
        await expect(respCommand("PING"), "-NOAUTH Authentication required.\r\n");
        await expect(respCommand("HELLO", "3"), /^-NOAUTH HELLO must be called with the client already authenticated/);
        await expect(respCommand("AUTH", newToken()), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        await expect(respCommand("AUTH", "default", newToken()), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        await expect(respCommand("AUTH", "admin", token), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        await expect(respCommand("HELLO", "3", "AUTH", "default", newToken()), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        await expect(respCommand("GET", "kept"), "-NOAUTH Authentication required.\r\n");
        await expect(respCommand("HELLO", "3", "AUTH", "default", token), /^%7\r\n/);
        await connection.waitFor((bytes) => bytes.includes("modules"));
        await expect(respCommand("GET", "kept"), "$8\r\noriginal\r\n");
      } finally {
        connection.socket.destroy();
      }
      const second = await rawConnection(cluster.respPorts[1]);
      try {
        // One write: the command before AUTH is refused, the ones after it run.
        second.socket.write(
          Buffer.concat([respCommand("SET", "kept", "pipelined"), respCommand("AUTH", token), respCommand("AUTH", "default", token), respCommand("GET", "kept")]),
        );
        await second.waitFor((bytes) => bytes.toString("latin1") === "-NOAUTH Authentication required.\r\n+OK\r\n+OK\r\n$8\r\noriginal\r\n");
      } finally {
        second.socket.destroy();
      }
      if (redisToolInstalled()) {
        const withPassword = await redisCli(port, ["--no-auth-warning", "-a", token, "GET", "kept"]);
        assert.equal(withPassword.stdout.toString(), "original\n", withPassword.stderr);
        const wrong = await redisCli(port, ["--no-auth-warning", "-a", newToken(), "SET", "kept", "redis-cli"]);
        assert.match(wrong.stderr + wrong.stdout.toString(), /WRONGPASS/);
        const none = await redisCli(port, ["SET", "kept", "redis-cli"]);
        assert.match(none.stdout.toString() + none.stderr, /NOAUTH Authentication required/);
      }
      // ioredis's password option: AUTH on connect.
      const ioredis = (password: string): Redis =>
        new Redis({ host: "127.0.0.1", port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5_000, commandTimeout: 10_000 });
      const good = ioredis(token);
      try {
        await good.connect();
        assert.equal(await good.get("kept"), "original");
      } finally {
        good.disconnect();
      }
      const bad = ioredis(newToken());
      const errors: string[] = [];
      bad.on("error", (error: Error) => errors.push(error.message));
      try {
        await assert.rejects(bad.connect().then(() => bad.set("kept", "ioredis")));
        assert.ok(errors.some((message) => message.startsWith("WRONGPASS")), errors.join("; "));
      } finally {
        bad.disconnect();
      }
      const after = await cli(["get", "kept"], ["--auth-token", token]);
      assert.equal(after.stdout.toString(), "original", after.stderr);
    });

    it("admin port: /healthz and /metrics stay open, /v1/status needs the token", async () => {
      const port = cluster.httpPorts[0];
      assert.equal(await httpStatus(port, "/healthz"), 200);
      assert.equal(await httpStatus(port, "/metrics"), 200);
      assert.equal(await httpStatus(port, "/v1/status"), 401);
      assert.equal(await httpStatus(port, "/v1/status", newToken()), 401);
      assert.equal(await httpStatus(port, "/v1/status", token), 200);
    });

    it("rotates the token on SIGHUP to each node, without a restart: the old token is refused, the new one accepted", async () => {
      const nodes = cluster.nodes();
      const pids = nodes.map((node) => node.pid);
      const reloadsBefore = nodes.map((node) => node.output.filter((line) => line.includes("auth.token_reloaded")).length);
      const old = token;
      // Two library clients with open streams and (ecc) a cached view: one holds the old
      // token as text, one the file's live token (as a node's peers do).
      const stale = await cluster.library(old);
      const liveToken = AuthToken.fromFile(tokenFile);
      const live = await cluster.library(liveToken);
      await stale.set("stale", "before");
      await live.set("live", "before");
      token = newToken();
      writeTokenFile(tokenFile, token);
      for (const node of nodes) process.kill(node.pid, "SIGHUP");
      await waitUntil(
        () => nodes.every((node, index) => node.output.filter((line) => line.includes("auth.token_reloaded")).length > reloadsBefore[index]),
        10_000,
        "every node logs its reload",
      );
      for (const node of nodes) {
        const line = node.output.filter((entry) => entry.includes("auth.token_reloaded")).at(-1)!;
        assert.match(line, /"changed":true/);
        assert.ok(!line.includes(token) && !line.includes(old), "the reload log names no token");
      }
      try {
        // Calls admitted under the old token were ended at the reload: the stale client's
        // next operation reconnects and is refused; the live one reloads and carries on.
        const startedMs = performance.now();
        await assert.rejects(stale.get("stale"), (error: unknown) => error instanceof UnauthenticatedError);
        console.log(`      (the stale client was refused after ${Math.round(performance.now() - startedMs)} ms)`);
        liveToken.reload();
        assert.equal(await live.get("live"), "before");
        await live.set("live", "after");
      } finally {
        stale.close();
        live.close();
      }
      const refused = await cli(["get", "kept"], ["--auth-token", old]);
      assert.equal(refused.code, EXIT_UNAUTHENTICATED, refused.stderr);
      const set = await cli(["set", "rotated", "yes"], ["--auth-token", token]);
      assert.equal(set.code, EXIT_OK, set.stderr);
      const get = await cli(["get", "kept"], ["--auth-token-file", tokenFile]);
      assert.equal(get.stdout.toString(), "original", get.stderr);
      const connection = await rawConnection(cluster.respPorts[0]);
      try {
        connection.socket.write(Buffer.concat([respCommand("AUTH", old), respCommand("AUTH", token), respCommand("GET", "rotated")]));
        await connection.waitFor(
          (bytes) => bytes.toString("latin1") === "-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n$3\r\nyes\r\n",
        );
      } finally {
        connection.socket.destroy();
      }
      assert.equal(await httpStatus(cluster.httpPorts[0], "/v1/status", old), 401);
      assert.equal(await httpStatus(cluster.httpPorts[0], "/v1/status", token), 200);
      await cluster.healthy(token);
      assert.deepEqual(
        cluster.nodes().map((node) => node.pid),
        pids,
        "the same processes serve: no restart",
      );
      for (const node of cluster.nodes()) assert.equal(node.launched.exitStatus ?? null, null, "no node exited");
    });

    it("a node with another token cannot take part (raft: join the group; ecc: be a member of the view); one with the token can", async () => {
      const foreignFile = path.join(dir, "foreign");
      writeTokenFile(foreignFile, newToken());
      assert.equal(await cluster.joins(foreignFile, token, 6_000), false, "a node with a foreign token took part");
      assert.equal(await cluster.joins(tokenFile, token, 30_000), true, "a node with the cluster's token never took part");
    });
  });
}

defineAuthChecks("client auth, ecc mode (3 processes, k=2)", async (tokenFile) => {
  const httpPorts = await freePorts(3);
  const cluster = await startEccCluster({
    n: 3,
    k: 2,
    resp: true,
    config: { auth_token_file: tokenFile, http_servers: httpPorts.map((port) => `127.0.0.1:${port}`) },
  });
  const servers = cluster.config.servers.join(",");
  const codec = await createCodec("auto", 2, 1);
  const withoutAuth: EccClusterConfig = { ...cluster.config, authTokenFile: undefined };
  delete withoutAuth.authTokenFile;
  return {
    client: ["ecc", "client"],
    clusterFlags: ["--servers", servers, "--k", "2"],
    envPrefix: "ECC",
    respPorts: cluster.config.respServers!.map((address) => parseAddress(address).port),
    httpPorts,
    nodes: () => cluster.nodes.map((node) => node!),
    library: async (token) => {
      const client = new EcClient({ config: withoutAuth, codec, ...(token === undefined ? {} : { authToken: token }) });
      return {
        set: (key, value) => client.set(key, Buffer.from(value)),
        get: async (key) => (await client.get(key))?.toString() ?? null,
        close: () => client.close(),
      };
    },
    joins: async (nodeTokenFile, clusterToken, waitMs) => {
      const last = cluster.config.servers.length - 1;
      await cluster.kill(last);
      const resolved = JSON.parse(cluster.env[RESOLVED_CONFIG_ENV]!) as Record<string, unknown>;
      const env = { ...cluster.env, ECC_LOG_LEVEL: "info", [RESOLVED_CONFIG_ENV]: JSON.stringify({ ...resolved, auth_token_file: nodeTokenFile }) };
      // Assigned to the cluster so its stop() ends it whatever happens here.
      cluster.nodes[last] = await startCli(["ecc", "server", "startOne", cluster.config.servers[last], "recover"], /ecc\.node_started/, { env });
      const client = new EcClient({ config: withoutAuth, codec, authToken: clusterToken });
      try {
        // The others drop the killed node from their view; a node they refuse never gets
        // back in (not even as recovering): its pings and control-plane calls are refused.
        const inView = (view: { members: number[]; recovering: number[] }): boolean => view.members.includes(last) || view.recovering.includes(last);
        let seenOut = false;
        let readmitted = false;
        const deadline = performance.now() + waitMs;
        while (performance.now() < deadline) {
          const stats = await client.stats();
          const viewOfOthers = stats[0]?.view;
          if (stats[last]?.state === "member" && viewOfOthers !== undefined && viewOfOthers.members.includes(last)) return true;
          if (viewOfOthers !== undefined) {
            if (!inView(viewOfOthers)) seenOut = true;
            else if (seenOut) readmitted = true;
          }
          await sleep(200);
        }
        if (nodeTokenFile !== cluster.config.authTokenFile) {
          assert.ok(seenOut, "the killed node left the others' view");
          assert.ok(!readmitted, "the others let a node with a foreign token back into the view");
        }
        return false;
      } finally {
        client.close();
      }
    },
    healthy: async (token) => {
      // Past a few heartbeat timeouts every node is still a member: their heartbeats and the
      // control plane carry the new token.
      await sleep(3 * cluster.config.heartbeatTimeoutMs);
      const status = await runCli(["ecc", "cluster", "status", "--servers", servers, "--k", "2", "--auth-token", token]);
      assert.equal(status.code, EXIT_OK, status.stdout.toString() + status.stderr);
    },
    stop: () => cluster.stop(),
  };
});

defineAuthChecks("client auth, raft mode (3 processes)", async (tokenFile) => {
  const httpPorts = await freePorts(3);
  const cluster = await startRaftCluster({
    resp: true,
    config: { auth_token_file: tokenFile, http_servers: httpPorts.map((port) => `127.0.0.1:${port}`) },
  });
  await cluster.leader();
  const servers = cluster.config.servers.join(",");
  return {
    client: ["raft", "client"],
    clusterFlags: ["--servers", servers],
    envPrefix: "RAFT",
    respPorts: cluster.config.respServers!.map((address) => parseAddress(address).port),
    httpPorts,
    nodes: () => cluster.config.servers.map((address) => cluster.nodes.get(address)!),
    library: async (token) => {
      const client = new RaftClient({ servers: cluster.config.servers, rpcTimeoutMs: 1_000, ...(token === undefined ? {} : { authToken: token }) });
      return {
        set: (key, value) => client.set(key, Buffer.from(value)),
        get: async (key) => (await client.get(key))?.toString() ?? null,
        close: () => client.close(),
      };
    },
    joins: async (nodeTokenFile, clusterToken, waitMs) => {
      const [port] = await freePorts(1);
      const address = `127.0.0.1:${port}`;
      const resolved = JSON.parse(cluster.env[RAFT_RESOLVED_CONFIG_ENV]!) as Record<string, unknown>;
      const env = { ...cluster.env, [RAFT_RESOLVED_CONFIG_ENV]: JSON.stringify({ ...resolved, auth_token_file: nodeTokenFile }) };
      const node = await startCli(["raft", "server", "startOne", address, "--join"], /raft\.node_started/, { env });
      const client = new RaftClient({ servers: cluster.config.servers, rpcTimeoutMs: 1_000, authToken: clusterToken });
      try {
        const deadline = performance.now() + waitMs;
        while (performance.now() < deadline) {
          const leader = await cluster.leader();
          if ((await client.stats(leader)).voters.includes(address)) {
            await client.removeMember(address);
            return true;
          }
          await sleep(100);
        }
        if (nodeTokenFile !== cluster.config.authTokenFile) {
          assert.ok(
            node.output.some((line) => line.includes("raft.join_refused")),
            "the refused node says why",
          );
        }
        return false;
      } finally {
        client.close();
        await stopProcess(node, "SIGKILL", 500);
      }
    },
    healthy: async (token) => {
      // A write is committed by a majority: the leader's appends carried the new token.
      await sleep(500);
      const status = await runCli(["raft", "cluster", "status", "--servers", servers, "--auth-token", token]);
      assert.equal(status.code, EXIT_OK, status.stdout.toString() + status.stderr);
    },
    stop: () => cluster.stop(),
  };
});
