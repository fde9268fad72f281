// Where each node's HTTP admin port listens (src/frontdoor/admin_address.ts) and how the
// config carries it (http_port, http_servers in both modes; flags --http-port/--http-servers,
// env ECC_HTTP_PORT/RAFT_HTTP_PORT and *_HTTP_SERVERS): startAll's defaults (ecc 9300+i, raft
// 9400+i on the node's host), a single node's own port, 0 turning it off, and bad settings
// refused with the field named. The resolved config startAll hands its nodes round-trips.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadEccConfig } from "../../src/cli/ecc_config_loader";
import { loadRaftConfig } from "../../src/cli/raft_config_loader";
import { ConfigError } from "../../src/core/errors";
import { eccConfigToFile, parseEccConfig } from "../../src/ecc/config";
import { parseRaftConfig, raftConfigToFile } from "../../src/raft/config";
import { ECC_HTTP_BASE_PORT, RAFT_HTTP_BASE_PORT, adminHttpAddress, adminHttpAddresses, childHttpSettings } from "../../src/frontdoor/admin_address";

const SERVERS = ["127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002"];

describe("HTTP admin port addresses and config", () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "admin-address-"));
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it("startAll's defaults: the mode's base port + index on each node's host", () => {
    assert.deepEqual(adminHttpAddresses({ servers: SERVERS }, ECC_HTTP_BASE_PORT), ["127.0.0.1:9300", "127.0.0.1:9301", "127.0.0.1:9302"]);
    assert.deepEqual(adminHttpAddresses({ servers: ["a:4000", "b:4000"] }, RAFT_HTTP_BASE_PORT), ["a:9400", "b:9401"]);
  });

  it("http_servers chooses each node's address; http_port 0 turns every one off", () => {
    const httpServers = ["127.0.0.1:8100", "127.0.0.1:8101", "127.0.0.1:8102"];
    assert.deepEqual(adminHttpAddresses({ servers: SERVERS, httpServers }, ECC_HTTP_BASE_PORT), httpServers);
    assert.deepEqual(adminHttpAddresses({ servers: SERVERS, httpPort: 0 }, ECC_HTTP_BASE_PORT), [null, null, null]);
  });

  it("startAll refuses one http_port for several nodes, naming the fix", () => {
    assert.throws(() => adminHttpAddresses({ servers: SERVERS, httpPort: 9500 }, ECC_HTTP_BASE_PORT), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /http_port 9500 names one node's admin port, but 3 nodes start here; give http_servers/);
      return true;
    });
    assert.deepEqual(adminHttpAddresses({ servers: ["127.0.0.1:3000"], httpPort: 9500 }, ECC_HTTP_BASE_PORT), ["127.0.0.1:9500"]);
  });

  it("a node on its own: http_port on its host, else its http_servers entry, else none", () => {
    assert.equal(adminHttpAddress({ servers: SERVERS, httpPort: 9310 }, "127.0.0.1:3001"), "127.0.0.1:9310");
    assert.equal(adminHttpAddress({ servers: SERVERS, httpServers: ["h:1", "h:2", "h:3"] }, "127.0.0.1:3001"), "h:2");
    assert.equal(adminHttpAddress({ servers: SERVERS }, "127.0.0.1:3001"), null);
    assert.equal(adminHttpAddress({ servers: SERVERS, httpServers: ["h:1", "h:2", "h:3"] }, "127.0.0.1:3009"), null, "a joining node not in servers");
    assert.equal(adminHttpAddress({ servers: SERVERS, httpPort: 0 }, "127.0.0.1:3001"), null);
    assert.throws(() => adminHttpAddress({ servers: SERVERS, httpPort: 3001 }, "127.0.0.1:3001"), /would be its gRPC port/);
  });

  it("startAll hands its nodes exactly what it printed, and the resolved config round-trips", () => {
    const chosen = adminHttpAddresses({ servers: SERVERS }, ECC_HTTP_BASE_PORT);
    const config = { ...loadEccConfig({ servers: SERVERS.join(","), k: "2" }, {}, cwd).config, ...childHttpSettings(chosen) };
    const child = parseEccConfig(JSON.parse(JSON.stringify(eccConfigToFile(config))), "ECC_CACHE_RESOLVED_CONFIG");
    assert.deepEqual(SERVERS.map((address) => adminHttpAddress(child, address)), chosen);
    const off = parseEccConfig(eccConfigToFile({ ...config, ...childHttpSettings([null, null, null]) }), "test");
    assert.deepEqual([off.httpPort, off.httpServers], [0, undefined]);
  });

  it("flags and environment set the fields in both modes (ECC_HTTP_PORT, RAFT_HTTP_PORT, --http-servers)", () => {
    assert.equal(loadEccConfig({}, { ECC_HTTP_PORT: "9399" }, cwd).config.httpPort, 9399);
    assert.equal(loadEccConfig({ httpPort: "0" }, { ECC_HTTP_PORT: "9399" }, cwd).config.httpPort, 0, "the flag wins");
    assert.equal(loadRaftConfig({}, { RAFT_HTTP_PORT: "9499" }, cwd).config.httpPort, 9499);
    const raft = loadRaftConfig({ httpServers: "127.0.0.1:9500,127.0.0.1:9501,127.0.0.1:9502" }, {}, cwd).config;
    assert.deepEqual(raft.httpServers, ["127.0.0.1:9500", "127.0.0.1:9501", "127.0.0.1:9502"]);
    const back = parseRaftConfig(raftConfigToFile(raft), "round trip");
    assert.deepEqual(back.httpServers, raft.httpServers);
    assert.equal(loadEccConfig({}, {}, cwd).config.httpPort, undefined, "not set: startAll's defaults apply");
  });

  it("bad settings are refused with the field and the rule", () => {
    assert.throws(() => loadEccConfig({ httpPort: "70000" }, {}, cwd), /http_port: expected a whole number from 0 to 65535, got 70000/);
    assert.throws(() => loadRaftConfig({ httpPort: "-1" }, {}, cwd), /--http-port: '-1' is not a whole number/);
    assert.throws(() => loadEccConfig({ httpServers: "127.0.0.1:9300,127.0.0.1:9301" }, {}, cwd), /http_servers lists 2 addresses but servers lists 5/);
    assert.throws(
      () => loadRaftConfig({ httpServers: "127.0.0.1:9400,nonsense,127.0.0.1:4002" }, {}, cwd),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /http_servers: 'nonsense' is not a host:port address/);
        assert.match(error.message, /http_servers: 127\.0\.0\.1:4002 is also a node's gRPC address in servers/);
        return true;
      },
    );
    const file = path.join(cwd, "ecc_config.json");
    fs.writeFileSync(file, JSON.stringify({ http_servers: "127.0.0.1:9300" }));
    assert.throws(() => loadEccConfig({}, {}, cwd), /http_servers: expected a list of 1 to \d+ strings/);
    fs.rmSync(file);
  });
});
