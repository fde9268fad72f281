// TLS settings and certificates (issue 19): the config fields of both modes from file, env
// and flags; the cross-field rules (all of tls_cert/tls_key/tls_ca or none, --cert with
// --key and --cacert) with clear errors; a node's own paths ({index}) and what it dials
// peers with; the plaintext warning; PEM files checked when read; and `certs create`'s
// files: signed by the CA, the right names, keys 0600, existing files refused, missing
// ones filled. Method: the real loaders and the real openssl in a temporary directory.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, InvalidArgumentError } from "../../src/core/errors";
import { loadEccConfig } from "../../src/cli/ecc_config_loader";
import { loadRaftConfig } from "../../src/cli/raft_config_loader";
import { eccConfigToFile, parseEccConfig } from "../../src/ecc/config";
import { parseRaftConfig, raftConfigToFile } from "../../src/raft/config";
import { isLoopbackAddress, nodeTlsSettings, plaintextExposureWarning } from "../../src/transport/tls_settings";
import { channelCredentials, peerCallProblem, readPem, serverCredentials } from "../../src/transport/tls";
import type { PeerCertificate } from "node:tls";
import { createClusterCerts, nodeHost, plannedFiles, subjectAltNames } from "../../src/cli/certs";

describe("TLS settings", () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "tls-cfg-"));
  after(() => fs.rmSync(empty, { recursive: true, force: true }));

  it("reads the node and client fields from the file, env and flags in both modes; peer_tls defaults to mutual", () => {
    const file = path.join(empty, "tls.json");
    fs.writeFileSync(file, JSON.stringify({ tls_cert: "c/node-{index}.crt", tls_key: "c/node-{index}.key", tls_ca: "c/ca.crt" }));
    const fromFile = loadEccConfig({ config: file }, {}, empty).config;
    assert.deepEqual(fromFile.tls, { certPath: "c/node-{index}.crt", keyPath: "c/node-{index}.key", caPath: "c/ca.crt", peerTls: "mutual" });
    assert.equal(fromFile.clientTls, undefined);
    const fromEnv = loadEccConfig({}, { ECC_TLS_CERT: "a", ECC_TLS_KEY: "b", ECC_TLS_CA: "ca", ECC_PEER_TLS: "off", ECC_CLIENT_CACERT: "x" }, empty).config;
    assert.deepEqual(fromEnv.tls, { certPath: "a", keyPath: "b", caPath: "ca", peerTls: "off" });
    assert.deepEqual(fromEnv.clientTls, { caPath: "x" });
    const raft = loadRaftConfig({ cacert: "ca.crt", cert: "client.crt", key: "client.key" }, {}, empty).config;
    assert.deepEqual(raft.clientTls, { caPath: "ca.crt", certPath: "client.crt", keyPath: "client.key" });
    assert.equal(raft.tls, undefined, "plaintext stays the default");
    const raftEnv = loadRaftConfig({}, { RAFT_TLS_CERT: "a", RAFT_TLS_KEY: "b", RAFT_TLS_CA: "ca" }, empty).config;
    assert.equal(raftEnv.tls?.peerTls, "mutual");
  });

  it("survives the trip to startAll's children (config to file and back)", () => {
    const config = loadEccConfig({ tlsCert: "n{index}.crt", tlsKey: "n{index}.key", tlsCa: "ca.crt", cacert: "ca.crt" }, {}, empty).config;
    assert.deepEqual(parseEccConfig(eccConfigToFile(config), "test"), config);
    const raft = loadRaftConfig({ tlsCert: "n.crt", tlsKey: "n.key", tlsCa: "ca.crt", peerTls: "off" }, {}, empty).config;
    assert.deepEqual(parseRaftConfig(raftConfigToFile(raft), "test"), raft);
  });

  it("refuses half a setting with one line per problem, naming the fields", () => {
    assert.throws(() => loadEccConfig({ tlsCert: "a" }, {}, empty), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /tls_cert, tls_key and tls_ca go together/);
      return true;
    });
    assert.throws(() => loadRaftConfig({ peerTls: "mutual" }, {}, empty), /peer_tls needs tls_cert, tls_key and tls_ca/);
    assert.throws(() => loadRaftConfig({ tlsCert: "a", tlsKey: "b", tlsCa: "c", peerTls: "sometimes" }, {}, empty), /peer_tls: expected one of mutual, off/);
    assert.throws(() => loadEccConfig({ cacert: "ca", cert: "c" }, {}, empty), /client_cert \(--cert\) and client_key \(--key\) go together/);
    assert.throws(() => loadEccConfig({ cert: "c", key: "k" }, {}, empty), /client_cert \(--cert\) needs client_cacert \(--cacert\)/);
    assert.throws(() => loadEccConfig({ tlsCa: "" }, { ECC_TLS_CA: "" }, empty), (error: unknown) => {
      // An empty flag is a value: refused as an empty string, not taken as "unset".
      assert.ok(error instanceof ConfigError);
      return true;
    });
  });

  it("gives a node its own certificate ({index}) and, with peer_tls mutual, presents it to peers", () => {
    const config = loadEccConfig({ tlsCert: "d/node-{index}.crt", tlsKey: "d/node-{index}.key", tlsCa: "d/ca.crt" }, {}, empty).config;
    const node = nodeTlsSettings(config, config.servers[3]);
    assert.deepEqual(node.tls, { certPath: "d/node-3.crt", keyPath: "d/node-3.key", caPath: "d/ca.crt", peerTls: "mutual" });
    assert.deepEqual(node.clientTls, { caPath: "d/ca.crt", certPath: "d/node-3.crt", keyPath: "d/node-3.key" });
    const off = nodeTlsSettings({ ...config, tls: { ...config.tls!, peerTls: "off" } }, config.servers[0]);
    assert.deepEqual(off.clientTls, { caPath: "d/ca.crt" });
    assert.throws(() => nodeTlsSettings(config, "127.0.0.1:9999"), /not in servers, so \{index\} .* names no file/);
    const fixed = { ...config, tls: { ...config.tls!, certPath: "j.crt", keyPath: "j.key" } };
    assert.equal(nodeTlsSettings(fixed, "127.0.0.1:9999").tls?.certPath, "j.crt", "a joiner with its own paths is fine");
    const plain = loadEccConfig({}, {}, empty).config;
    assert.equal(nodeTlsSettings(plain, plain.servers[0]), plain);
  });

  it("warns about plaintext only beyond loopback", () => {
    for (const address of ["127.0.0.1:3000", "127.1.2.3:1", "localhost:3000", "[::1]:3000"]) assert.ok(isLoopbackAddress(address), address);
    for (const address of ["0.0.0.0:3000", "10.0.0.5:3000", "node1:3000", "[::]:3000"]) assert.ok(!isLoopbackAddress(address), address);
    assert.match(plaintextExposureWarning(["0.0.0.0:3000"], undefined)!, /^warning: 0\.0\.0\.0:3000 is not a loopback address and TLS is off: anyone who can reach this port/);
    const several = plaintextExposureWarning(["127.0.0.1:3000", "10.0.0.5:3001", "node1:3002"], undefined)!;
    assert.match(several, /^warning: 10\.0\.0\.5:3001, node1:3002 are not loopback addresses and TLS is off: anyone who can reach these ports/);
    assert.equal(several.split("\n").length, 1, "one line");
    assert.equal(plaintextExposureWarning(["127.0.0.1:3000", "localhost:3001"], undefined), null);
    assert.equal(plaintextExposureWarning(["0.0.0.0:3000"], { certPath: "a", keyPath: "b", caPath: "c", peerTls: "mutual" }), null);
  });

  it("takes Raft peer calls from node certificates (serverAuth) or without a client certificate, never from a client's", () => {
    const withUsages = (usages: string[] | undefined): PeerCertificate => ({ subject: { CN: "x" }, ext_key_usage: usages }) as unknown as PeerCertificate;
    assert.equal(peerCallProblem(null), null, "plaintext");
    assert.equal(peerCallProblem({}), null, "TLS without a client certificate (peer_tls off)");
    assert.equal(peerCallProblem({ sslPeerCertificate: withUsages(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]) }), null, "a node's");
    assert.equal(peerCallProblem({ sslPeerCertificate: withUsages(undefined) }), null, "no usage restriction");
    assert.match(peerCallProblem({ sslPeerCertificate: withUsages(["1.3.6.1.5.5.7.3.2"]) })!, /certificate 'x' is not a node's/);
  });

  it("checks PEM files when credentials are made: missing and non-PEM files are ConfigErrors naming them", () => {
    const notPem = path.join(empty, "not.pem");
    fs.writeFileSync(notPem, "hello");
    assert.throws(() => readPem(path.join(empty, "missing.crt"), "tls_cert"), (error: unknown) => error instanceof ConfigError && /tls_cert: cannot read .*missing\.crt/.test(error.message));
    assert.throws(() => readPem(notPem, "tls_ca"), /tls_ca: .*not\.pem holds no PEM block/);
    assert.throws(() => channelCredentials({ caPath: path.join(empty, "nope.crt") }), /--cacert \(client_cacert\): cannot read/);
    assert.throws(() => serverCredentials({ certPath: notPem, keyPath: notPem, caPath: path.join(empty, "no-ca.crt"), peerTls: "mutual" }), /tls_ca: cannot read/);
  });
});

describe("certs create", function () {
  this.timeout(60_000);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tls-certs-"));
  after(() => fs.rmSync(work, { recursive: true, force: true }));
  const openssl = (...args: string[]): string => execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

  it("reads node hosts from host or host:port and names them, 127.0.0.1 and localhost", () => {
    assert.equal(nodeHost("10.0.0.5:3000"), "10.0.0.5");
    assert.equal(nodeHost("node1"), "node1");
    assert.equal(nodeHost("[::1]:3000"), "::1");
    assert.throws(() => nodeHost("bad host"), InvalidArgumentError);
    assert.throws(() => nodeHost("a/b:1"), InvalidArgumentError);
    assert.equal(subjectAltNames("node1"), "DNS:node1,IP:127.0.0.1,DNS:localhost");
    assert.equal(subjectAltNames("127.0.0.1"), "IP:127.0.0.1,DNS:localhost");
  });

  it("makes a CA, node and client certificates signed by it, keys mode 0600; refuses to overwrite; fills in what is missing", async () => {
    const dir = path.join(work, "a");
    const written = await createClusterCerts({ dir, nodes: ["10.0.0.5:3000", "node1:3001"], existing: "refuse" });
    assert.deepEqual(written.map((file) => path.basename(file)).sort(), plannedFiles(2).sort());
    for (const file of written) assert.equal(fs.statSync(file).mode & 0o777, file.endsWith(".key") ? 0o600 : 0o644, file);
    const ca = path.join(dir, "ca.crt");
    assert.match(openssl("verify", "-CAfile", ca, path.join(dir, "node-0.crt"), path.join(dir, "node-1.crt"), path.join(dir, "client.crt")), /node-0\.crt: OK[\s\S]*client\.crt: OK/);
    const node0 = openssl("x509", "-in", path.join(dir, "node-0.crt"), "-noout", "-text");
    assert.match(node0, /IP Address:10\.0\.0\.5, IP Address:127\.0\.0\.1, DNS:localhost/);
    assert.match(node0, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(openssl("x509", "-in", path.join(dir, "node-1.crt"), "-noout", "-text"), /DNS:node1, IP Address:127\.0\.0\.1, DNS:localhost/);
    assert.doesNotMatch(openssl("x509", "-in", path.join(dir, "client.crt"), "-noout", "-text"), /Server Authentication/);

    const before = fs.readFileSync(path.join(dir, "node-0.crt"));
    await assert.rejects(createClusterCerts({ dir, nodes: ["127.0.0.1"], existing: "refuse" }), /already holds ca\.crt, .*nothing was written/);
    assert.deepEqual(fs.readFileSync(path.join(dir, "node-0.crt")), before);

    fs.rmSync(path.join(dir, "node-1.key"));
    const filled = await createClusterCerts({ dir, nodes: ["10.0.0.5", "node1", "127.0.0.1"], existing: "fill" });
    assert.deepEqual(filled.map((file) => path.basename(file)).sort(), ["node-1.crt", "node-1.key", "node-2.crt", "node-2.key"]);
    assert.deepEqual(fs.readFileSync(path.join(dir, "node-0.crt")), before, "what was there stays");
    assert.match(openssl("verify", "-CAfile", ca, path.join(dir, "node-2.crt")), /OK/, "signed by the CA already there");
  });

  it("refuses a directory with half a CA, and node counts out of range, writing nothing", async () => {
    const dir = path.join(work, "half");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "ca.crt"), "x");
    await assert.rejects(createClusterCerts({ dir, nodes: ["127.0.0.1"], existing: "fill" }), /only one of ca\.crt and ca\.key/);
    await assert.rejects(createClusterCerts({ dir: path.join(work, "none"), nodes: [], existing: "refuse" }), /give 1 to \d+ nodes/);
    assert.deepEqual(fs.readdirSync(dir), ["ca.crt"]);
    assert.ok(!fs.existsSync(path.join(work, "none")));
  });
});
