// TLS on real node processes, both modes (issue 19).
// Properties: a cluster started with tls_cert/tls_key/tls_ca (peer_tls mutual, the default)
// serves set and get to the CLI given --cacert/--cert/--key; a plaintext client and a
// client whose certificate another CA signed are refused with an error that names the
// mismatch and exit 4, and change nothing; a node whose certificate another CA signed never
// gets in: in ecc it never becomes a member or recovering node of the view (its join and
// pings die in the TLS handshake), in raft it never becomes a voter. Each refusal has a
// control: the same step with the cluster's certificates succeeds, so the test can tell a
// refusal from a setup that never works. Also: the RESP port speaks TLS (redis-cli --tls)
// and asks for a client certificate from the cluster CA; `startAll --tls DIR` makes the
// certificates and starts a TLS cluster in one command, its admin port speaking HTTPS; and
// a node listening beyond loopback without TLS prints one warning line (startAll: one for
// all its nodes); the Raft peer service refuses the cluster's own client certificate; and a
// short jepsen run over mutual TLS stays linearizable.
// Method: certificates from the real `certs create` (openssl); clusters from the test
// supports; every process stopped by PID.
import assert from "node:assert/strict";
import https from "node:https";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { eccConfigToFile } from "../../src/ecc/config";
import { RESOLVED_CONFIG_ENV } from "../../src/cli/ecc_config_loader";
import { RAFT_RESOLVED_CONFIG_ENV } from "../../src/cli/raft_config_loader";
import { raftConfigToFile } from "../../src/raft/config";
import { RaftClient } from "../../src/raft/client";
import { Metadata, credentials, status } from "@grpc/grpc-js";
import { RaftPeerClient } from "../../src/gen/raft";
import { RAFT_CHANNEL_OPTIONS } from "../../src/transport/grpc_options";
import { EccTestCluster, startEccCluster } from "../support/ecc_cluster";
import { RaftTestCluster, startRaftCluster } from "../support/raft_cluster";
import { StartedProcess, freePorts, runCli, sleep, startCli, stopProcess, waitUntil } from "../support/processes";
import { redisCli, redisToolInstalled } from "../support/redis_tools";
import { launch } from "../../src/core/launcher";

/** How long a refused node is watched: several heartbeat timeouts (1 s) and join attempts. */
const REFUSED_WATCH_MS = 5_000;

interface CertDir {
  dir: string;
  ca: string;
  clientFlags: string[];
  node(index: number): { cert: string; key: string };
}

async function makeCerts(parent: string, name: string, count: number): Promise<CertDir> {
  const dir = path.join(parent, name);
  const made = await runCli(["certs", "create", "--out", dir, "--count", String(count)]);
  assert.equal(made.code, 0, made.stderr);
  return {
    dir,
    ca: path.join(dir, "ca.crt"),
    clientFlags: ["--cacert", path.join(dir, "ca.crt"), "--cert", path.join(dir, "client.crt"), "--key", path.join(dir, "client.key")],
    node: (index) => ({ cert: path.join(dir, `node-${index}.crt`), key: path.join(dir, `node-${index}.key`) }),
  };
}

function httpsGet(port: number, urlPath: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get({ host: "127.0.0.1", port, path: urlPath, ca, timeout: 5_000 }, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
  });
}

function plainHttpGet(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: "127.0.0.1", port, path: urlPath, timeout: 5_000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
  });
}

function tlsFields(certs: CertDir): Record<string, string> {
  return { tls_cert: path.join(certs.dir, "node-{index}.crt"), tls_key: path.join(certs.dir, "node-{index}.key"), tls_ca: certs.ca };
}

describe("TLS (real processes)", function () {
  this.timeout(180_000);
  let work = "";
  let cluster: CertDir;
  let foreign: CertDir;

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "tls-test-"));
    cluster = await makeCerts(work, "cluster", 5);
    foreign = await makeCerts(work, "foreign", 5);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  describe("ecc", () => {
    let ecc: EccTestCluster | null = null;
    let servers = "";
    const extra: StartedProcess[] = [];
    before(async () => {
      ecc = await startEccCluster({ config: tlsFields(cluster) });
      servers = ecc.config.servers.join(",");
    });
    after(async () => {
      for (const node of extra) await stopProcess(node, "SIGKILL", 500);
      if (ecc !== null) await ecc.stop();
    });

    it("serves set and get to a client with --cacert, --cert and --key", async () => {
      const set = await runCli(["ecc", "client", "set", "fruit", "cherry", "--servers", servers, ...cluster.clientFlags]);
      assert.equal(set.code, 0, set.stderr);
      const get = await runCli(["ecc", "client", "get", "fruit", "--servers", servers, ...cluster.clientFlags]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(get.stdout.toString(), "cherry");
    });

    it("refuses a plaintext client: exit 4, the error says the nodes speak TLS, nothing written", async () => {
      const set = await runCli(["ecc", "client", "set", "fruit", "plum", "--servers", servers]);
      assert.equal(set.code, 4, set.stderr);
      assert.match(set.stderr, /speaks TLS and this client does not: pass --cacert/);
      const only = await runCli(["ecc", "client", "set", "fruit", "plum", "--servers", servers, "--cacert", cluster.ca]);
      assert.equal(only.code, 4, only.stderr);
      assert.match(only.stderr, /requires a client certificate signed by the cluster's CA/);
      const get = await runCli(["ecc", "client", "get", "fruit", "--servers", servers, ...cluster.clientFlags]);
      assert.equal(get.stdout.toString(), "cherry");
    });

    it("refuses a client whose certificate another CA signed, and a client that trusts another CA", async () => {
      const wrongCert = ["--cacert", cluster.ca, "--cert", path.join(foreign.dir, "client.crt"), "--key", path.join(foreign.dir, "client.key")];
      const set = await runCli(["ecc", "client", "set", "fruit", "plum", "--servers", servers, ...wrongCert]);
      assert.equal(set.code, 4, set.stderr);
      assert.match(set.stderr, /refused this client's certificate .*not signed by the cluster's CA/);
      const wrongCa = await runCli(["ecc", "client", "get", "fruit", "--servers", servers, ...foreign.clientFlags]);
      assert.equal(wrongCa.code, 4, wrongCa.stderr);
      assert.match(wrongCa.stderr, /certificate is not signed by --cacert/);
      const get = await runCli(["ecc", "client", "get", "fruit", "--servers", servers, ...cluster.clientFlags]);
      assert.equal(get.stdout.toString(), "cherry");
    });

    it("a node with a foreign certificate never joins the view; the same node with the cluster's does", async () => {
      const view = async (): Promise<{ members: number[]; recovering: number[] }> => {
        const status = await runCli(["ecc", "cluster", "status", "--json", "--servers", servers, ...cluster.clientFlags]);
        const parsed = JSON.parse(status.stdout.toString()) as { view: { members: number[]; recovering: number[] } | null };
        assert.notEqual(parsed.view, null, status.stderr);
        return parsed.view!;
      };
      await ecc!.kill(4);
      await waitUntil(async () => !(await view()).members.includes(4), 15_000, "node 4 leaves the view");
      const address = ecc!.config.servers[4];
      const foreignConfig = { ...eccConfigToFile(ecc!.config), ...tlsFields(foreign) };
      const intruder = await startCli(["ecc", "server", "startOne", address, "recover"], /ecc\.node_started/, {
        env: { ...ecc!.env, [RESOLVED_CONFIG_ENV]: JSON.stringify(foreignConfig), ECC_LOG_LEVEL: "info" },
      });
      extra.push(intruder);
      const deadline = Date.now() + REFUSED_WATCH_MS;
      while (Date.now() < deadline) {
        const seen = await view();
        assert.ok(!seen.members.includes(4) && !seen.recovering.includes(4), `the foreign node got into the view: ${JSON.stringify(seen)}`);
        await sleep(250);
      }
      const get = await runCli(["ecc", "client", "get", "fruit", "--servers", servers, ...cluster.clientFlags]);
      assert.equal(get.stdout.toString(), "cherry", get.stderr);
      await stopProcess(intruder, "SIGKILL", 500);
      // Control: the same address with the cluster's certificate is taken back in.
      await ecc!.start(4, true);
      await waitUntil(async () => (await view()).members.includes(4), 30_000, "node 4 with the cluster's certificate rejoins");
    });
  });

  describe("raft", () => {
    let raft: RaftTestCluster | null = null;
    let servers = "";
    let client: RaftClient | null = null;
    const joiners: StartedProcess[] = [];
    before(async () => {
      raft = await startRaftCluster({ config: tlsFields(cluster), extraPorts: 2, resp: true });
      servers = raft.config.servers.join(",");
      client = new RaftClient({
        servers: raft.config.servers,
        rpcTimeoutMs: 1_000,
        attemptsMax: 60,
        tls: { caPath: cluster.ca, certPath: path.join(cluster.dir, "client.crt"), keyPath: path.join(cluster.dir, "client.key") },
      });
    });
    after(async () => {
      client?.close();
      for (const node of joiners) await stopProcess(node, "SIGKILL", 500);
      if (raft !== null) await raft.stop();
    });

    it("serves set and get to a client with --cacert, --cert and --key", async () => {
      const set = await runCli(["raft", "client", "set", "fruit", "cherry", "--servers", servers, ...cluster.clientFlags]);
      assert.equal(set.code, 0, set.stderr);
      const get = await runCli(["raft", "client", "get", "fruit", "--servers", servers, ...cluster.clientFlags]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(get.stdout.toString(), "cherry");
    });

    it("refuses a plaintext client and one with a foreign certificate: exit 4, nothing written", async () => {
      const plain = await runCli(["raft", "client", "set", "fruit", "plum", "--servers", servers]);
      assert.equal(plain.code, 4, plain.stderr);
      assert.match(plain.stderr, /speaks TLS and this client does not/);
      const wrongCert = ["--cacert", cluster.ca, "--cert", path.join(foreign.dir, "client.crt"), "--key", path.join(foreign.dir, "client.key")];
      const wrong = await runCli(["raft", "client", "set", "fruit", "plum", "--servers", servers, ...wrongCert]);
      assert.equal(wrong.code, 4, wrong.stderr);
      assert.match(wrong.stderr, /refused this client's certificate/);
      assert.equal((await client!.get("fruit"))?.toString(), "cherry");
    });

    it("serves RESP over TLS (as Redis's tls-port): redis-cli --tls with the cluster's certificates works, without them it is refused", async function () {
      if (!redisToolInstalled()) {
        console.log("      skipped: redis-cli (Debian redis-tools) is not installed");
        this.skip();
      }
      const port = Number(raft!.config.respServers![0].split(":")[1]);
      const tlsArgs = ["--tls", "--cacert", cluster.ca, "--cert", path.join(cluster.dir, "client.crt"), "--key", path.join(cluster.dir, "client.key")];
      const set = await redisCli(port, [...tlsArgs, "SET", "color", "blue"]);
      assert.equal(set.stdout.toString().trim(), "OK", set.stderr);
      const get = await redisCli(port, [...tlsArgs, "GET", "color"]);
      assert.equal(get.stdout.toString().trim(), "blue", get.stderr);
      const noCert = await redisCli(port, ["--tls", "--cacert", cluster.ca, "SET", "color", "red"]);
      assert.notEqual(noCert.stdout.toString().trim(), "OK");
      const foreignCert = await redisCli(port, ["--tls", "--cacert", cluster.ca, "--cert", path.join(foreign.dir, "client.crt"), "--key", path.join(foreign.dir, "client.key"), "SET", "color", "red"]);
      assert.notEqual(foreignCert.stdout.toString().trim(), "OK");
      const plain = await redisCli(port, ["SET", "color", "red"]);
      assert.notEqual(plain.stdout.toString().trim(), "OK");
      assert.equal((await client!.get("color"))?.toString(), "blue", "no refused SET was applied");
    });

    it("takes Raft peer messages only from node certificates: the cluster's client certificate is refused (PERMISSION_DENIED)", async () => {
      const deliver = (certificate: string, key: string): Promise<number | null> =>
        new Promise((resolve) => {
          const peer = new RaftPeerClient(
            raft!.config.servers[0],
            credentials.createSsl(fs.readFileSync(cluster.ca), fs.readFileSync(key), fs.readFileSync(certificate)),
            RAFT_CHANNEL_OPTIONS,
          );
          const call = peer.deliver(new Metadata(), { deadline: Date.now() + 5_000 }, (error) => {
            peer.close();
            resolve(error === null ? null : (error.code ?? -1));
          });
          call.on("error", () => undefined); // the callback has the status
          call.write({ messages: [] });
          call.end();
        });
      assert.equal(await deliver(path.join(cluster.dir, "client.crt"), path.join(cluster.dir, "client.key")), status.PERMISSION_DENIED);
      // Control: the same empty batch from a node certificate is taken.
      const node = cluster.node(3);
      assert.equal(await deliver(node.cert, node.key), null);
    });

    it("a node with a foreign certificate never becomes a voter; one with the cluster's does", async () => {
      const ports = (await freePorts(2)).map((port) => `127.0.0.1:${port}`);
      const start = async (address: string, certs: CertDir, index: number): Promise<StartedProcess> => {
        const own = certs.node(index);
        const config = { ...raftConfigToFile(raft!.config), tls_cert: own.cert, tls_key: own.key, tls_ca: certs.ca };
        const node = await startCli(["raft", "server", "startOne", address], /raft\.node_started/, {
          env: { ...raft!.env, [RAFT_RESOLVED_CONFIG_ENV]: JSON.stringify(config) },
        });
        joiners.push(node);
        return node;
      };
      const voters = async (): Promise<string[]> => {
        const stats = await client!.statsAll();
        return stats.find((s) => s !== null && s.role === "leader")?.voters ?? [];
      };
      await start(ports[0], foreign, 3);
      const deadline = Date.now() + REFUSED_WATCH_MS;
      while (Date.now() < deadline) {
        const now = await voters();
        assert.ok(!now.includes(ports[0]), `the foreign node became a voter: ${now.join(",")}`);
        await sleep(250);
      }
      await client!.set("fruit", Buffer.from("apple"));
      assert.equal((await client!.get("fruit"))?.toString(), "apple");
      // Control: a joiner with a certificate from the cluster's CA (node-3: loopback names) gets in.
      await start(ports[1], cluster, 3);
      await waitUntil(async () => (await voters()).includes(ports[1]), 30_000, "a joiner with the cluster's certificate becomes a voter");
      assert.ok(!(await voters()).includes(ports[0]));
    });
  });

  describe("jepsen --tls", () => {
    it("raft, kill faults, 6 s: the cluster and its clients over mutual TLS stay linearizable", async () => {
      const jepsen = launch({
        name: "jepsen --tls",
        command: process.execPath,
        args: [path.resolve(__dirname, "..", "..", "src", "jepsen", "main.js"), "--mode", "raft", "--tls", "--time", "6", "--faults", "kill", "--seed", "19"],
        tailLines: 400,
      });
      let timer: NodeJS.Timeout | undefined;
      const status = await Promise.race([jepsen.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 120_000)))]);
      clearTimeout(timer);
      if (status === null) await jepsen.stop("SIGINT", 10_000);
      assert.notEqual(status, null, "jepsen did not finish within 120 s");
      const output = jepsen.tail.join("\n");
      assert.equal(status!.code, 0, output);
      assert.match(output, /raft cluster: .*; mutual TLS/);
      assert.match(output, /^linearizable/m);
    });
  });

  describe("startAll --tls DIR and the plaintext warning", () => {
    it("startAll --tls makes the certificates and starts a TLS cluster in one command", async () => {
      const dir = path.join(work, "startall");
      const ports = await freePorts(3);
      const servers = ports.map((port) => `127.0.0.1:${port}`).join(",");
      const httpPorts = await freePorts(3);
      const all = await startCli(
        [
          "raft",
          "server",
          "startAll",
          "--tls",
          dir,
          "--servers",
          servers,
          "--http-servers",
          httpPorts.map((port) => `127.0.0.1:${port}`).join(","),
          "--resp-port",
          "0",
          "--data-dir",
          path.join(work, "startall-data"),
        ],
        /Press Ctrl-C/,
        { timeoutMs: 30_000 },
      );
      try {
        for (const file of ["ca.crt", "ca.key", "node-0.crt", "node-2.key", "client.crt", "client.key"]) assert.ok(fs.existsSync(path.join(dir, file)), file);
        assert.equal(fs.statSync(path.join(dir, "node-0.key")).mode & 0o777, 0o600);
        const flags = ["--cacert", path.join(dir, "ca.crt"), "--cert", path.join(dir, "client.crt"), "--key", path.join(dir, "client.key")];
        const set = await runCli(["raft", "client", "set", "fruit", "cherry", "--servers", servers, ...flags]);
        assert.equal(set.code, 0, set.stderr);
        const get = await runCli(["raft", "client", "get", "fruit", "--servers", servers, ...flags]);
        assert.equal(get.stdout.toString(), "cherry", get.stderr);
        const plain = await runCli(["raft", "client", "get", "fruit", "--servers", servers]);
        assert.equal(plain.code, 4, plain.stderr);
        // The admin port serves HTTPS with the node's certificate (no client certificate asked).
        const ready = await httpsGet(httpPorts[0], "/readyz", fs.readFileSync(path.join(dir, "ca.crt")));
        assert.equal(ready.status, 200, ready.body);
        await assert.rejects(plainHttpGet(httpPorts[0], "/readyz"), "plain HTTP gets no answer from an HTTPS port");
      } finally {
        await stopProcess(all, "SIGINT", 5_000);
      }
    });

    it("a node listening beyond loopback without TLS prints one warning line; on loopback none; a TLS client at a plaintext node is told so", async () => {
      const [port] = await freePorts(1);
      const exposed = await startCli(["raft", "server", "startOne", "0", "--servers", `0.0.0.0:${port}`, "--data-dir", path.join(work, "exposed"), "--http-port", "0", "--resp-port", "0"], /raft\.node_started/);
      try {
        const warnings = exposed.output.filter((line) => line.includes("warning:"));
        assert.equal(warnings.length, 1, exposed.output.join("\n"));
        assert.match(warnings[0], /0\.0\.0\.0:\d+ is not a loopback address and TLS is off: anyone who can reach this port can read and overwrite every key/);
      } finally {
        await stopProcess(exposed, "SIGTERM", 3_000);
      }
      // startAll says it once for all its nodes, not once per node.
      const allPorts = await freePorts(3);
      const all = await startCli(
        ["raft", "server", "startAll", "--servers", allPorts.map((p) => `0.0.0.0:${p}`).join(","), "--data-dir", path.join(work, "exposed-all"), "--http-port", "0", "--resp-port", "0", "--fsync", "never"],
        /Press Ctrl-C/,
        { timeoutMs: 30_000 },
      );
      try {
        const warnings = all.output.filter((line) => line.includes("warning:"));
        assert.equal(warnings.length, 1, all.output.join("\n"));
        assert.match(warnings[0], /are not loopback addresses and TLS is off: anyone who can reach these ports/);
      } finally {
        await stopProcess(all, "SIGINT", 5_000);
      }
      const [loopbackPort] = await freePorts(1);
      const quiet = await startCli(
        ["raft", "server", "startOne", "0", "--servers", `127.0.0.1:${loopbackPort}`, "--data-dir", path.join(work, "quiet"), "--http-port", "0", "--resp-port", "0"],
        /raft\.node_started/,
      );
      try {
        assert.equal(quiet.output.filter((line) => line.includes("warning:")).length, 0, quiet.output.join("\n"));
        // And a TLS client at this plaintext node is told so, exit 4.
        const tlsClient = await runCli(["raft", "client", "get", "fruit", "--servers", `127.0.0.1:${loopbackPort}`, ...cluster.clientFlags]);
        assert.equal(tlsClient.code, 4, tlsClient.stderr);
        assert.match(tlsClient.stderr, /does not speak TLS \(a plaintext node\?\)/);
      } finally {
        await stopProcess(quiet, "SIGTERM", 3_000);
      }
    });
  });
});
