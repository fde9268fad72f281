// Where each node's RESP port listens (src/resp/resp_address.ts, the front doors' one rule in
// src/frontdoor/node_ports.ts) and how both modes' configs carry it (resp_port, resp_servers;
// flags --resp-port/--resp-servers; env ECC_RESP_* and RAFT_RESP_*): startAll's defaults (ecc
// 6379+i, raft 6390+i), a single node's own port, 0 turning it off, bad settings refused with
// the field named, and the resolved config startAll hands its nodes round-trips.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadEccConfig } from "../../src/cli/ecc_config_loader";
import { loadRaftConfig } from "../../src/cli/raft_config_loader";
import { ConfigError } from "../../src/core/errors";
import { eccConfigToFile, parseEccConfig } from "../../src/ecc/config";
import { raftConfigToFile, parseRaftConfig } from "../../src/raft/config";
import { ECC_RESP_BASE_PORT, RAFT_RESP_BASE_PORT, childRespSettings, respAddress, respAddresses } from "../../src/resp/resp_address";

const SERVERS = ["127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002"];

describe("RESP port addresses and config", () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "resp-address-"));
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it("startAll's defaults: 6379+i for ecc, 6390+i for raft, on each node's host", () => {
    assert.deepEqual(respAddresses({ servers: SERVERS }, ECC_RESP_BASE_PORT), ["127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381"]);
    assert.deepEqual(respAddresses({ servers: ["a:4000", "b:4000"] }, RAFT_RESP_BASE_PORT), ["a:6390", "b:6391"]);
    assert.deepEqual(childRespSettings(["a:6390", "b:6391"]), { respPort: undefined, respServers: ["a:6390", "b:6391"] });
    assert.deepEqual(childRespSettings([null, null]), { respPort: 0, respServers: undefined });
  });

  it("a node started on its own has no RESP port unless told; resp_port 0 turns startAll's off", () => {
    assert.equal(respAddress({ servers: SERVERS }, SERVERS[1]), null);
    assert.equal(respAddress({ servers: SERVERS, respPort: 7000 }, SERVERS[1]), "127.0.0.1:7000");
    assert.deepEqual(respAddresses({ servers: SERVERS, respPort: 0 }, ECC_RESP_BASE_PORT), [null, null, null]);
    assert.throws(() => respAddresses({ servers: SERVERS, respPort: 7000 }, ECC_RESP_BASE_PORT), /resp_port 7000 names one node's RESP port, but 3 nodes start here; give resp_servers/);
    assert.throws(() => respAddress({ servers: SERVERS, respPort: 3001 }, SERVERS[1]), /the RESP port of 127.0.0.1:3001 would be its gRPC port/);
  });

  it("checks resp_servers against servers in both modes and round-trips it", () => {
    const base = { servers: SERVERS, k: 2, n: 3, block_size: 65536, heartbeat_timeout_ms: 1000, lock_lease_ms: 2000, rpc_timeout_ms: 2000, data_dir: cwd };
    assert.throws(() => parseEccConfig({ ...base, resp_servers: ["127.0.0.1:7000"] }, "test"), (error: unknown) => error instanceof ConfigError && /resp_servers lists 1 addresses but servers lists 3/.test(error.message));
    assert.throws(() => parseEccConfig({ ...base, resp_servers: ["127.0.0.1:7000", "127.0.0.1:7000", "127.0.0.1:3002"] }, "test"), /listed twice[\s\S]*also a node's gRPC address/);
    assert.throws(() => parseEccConfig({ ...base, resp_port: 70000 }, "test"), /resp_port: expected a whole number from 0 to 65535/);
    const respServers = ["127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"];
    const ecc = parseEccConfig({ ...base, resp_servers: respServers }, "test");
    assert.deepEqual(parseEccConfig(eccConfigToFile(ecc), "again").respServers, respServers);
    const raft = parseRaftConfig({ ...raftConfigToFile(loadRaftConfig({}, {}, cwd).config), resp_port: 0 }, "test");
    assert.equal(parseRaftConfig(raftConfigToFile(raft), "again").respPort, 0);
  });

  it("takes the flags and the environment of both modes", () => {
    assert.equal(loadEccConfig({ respPort: "7100" }, {}, cwd).config.respPort, 7100);
    assert.deepEqual(loadEccConfig({}, { ECC_RESP_SERVERS: "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,127.0.0.1:5" }, cwd).config.respServers?.length, 5);
    assert.equal(loadRaftConfig({}, { RAFT_RESP_PORT: "0" }, cwd).config.respPort, 0);
    assert.throws(() => loadRaftConfig({ respPort: "x" }, {}, cwd), /--resp-port: 'x' is not a whole number/);
  });
});
