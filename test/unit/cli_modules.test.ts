// The CLI loads only what a command needs (issue 15): a client command must not pull in the
// other mode, the node runtime, the bench, the report or the jepsen runner. Method: run the
// real CLI as a child process with a preload that lists every module the process loaded
// (test/support/module_census.ts), against closed loopback ports so no cluster is needed (a
// command imports its modules before its first request), and check the list. A count, not a
// time: scripts/cli_startup.js measures the wall time.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePorts } from "../support/processes";

const CLI = path.resolve(__dirname, "..", "..", "src", "cli", "main.js");
const CENSUS = path.resolve(__dirname, "..", "support", "module_census.js");
const DIST = path.resolve(__dirname, "..", "..");

/**
 * Ceilings on the modules a client command may load, a little above what it loads now (ecc
 * 126, raft 113: gRPC and protobuf are most of it); raise them only with a reason. TLS (issue
 * 19) added 4 to both: its settings, its config fields, the credentials, and the probe that
 * names a TLS mismatch (loaded only after a failure, which these runs are); ecc 142 then.
 */
const ECC_CLIENT_GET_MODULES_MAX = 146;
const RAFT_CLIENT_GET_MODULES_MAX = 130;
/** Packages no client command needs (zod: config files are checked by src/core/flat_config.ts). */
const CLIENT_UNNEEDED_PACKAGES = ["vega", "vega-lite", "hdr-histogram-js", "cli-progress", "zod"];

function census(args: string[]): { modules: string[]; status: number | null; stderr: string } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "census-")), "modules.json");
  const result = spawnSync(process.execPath, ["-r", CENSUS, CLI, ...args], {
    env: { ...process.env, MODULE_CENSUS_FILE: file },
    encoding: "utf8",
    timeout: 30_000,
  });
  const { modules } = JSON.parse(fs.readFileSync(file, "utf8")) as { modules: string[] };
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  return { modules, status: result.status, stderr: result.stderr };
}

/** Our own modules as paths under dist/ (src/raft/node.js, ...); dependencies as package names. */
function classify(modules: string[]): { own: string[]; packages: Set<string> } {
  const own: string[] = [];
  const packages = new Set<string>();
  for (const file of modules) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
    if (match !== null) packages.add(match[1]);
    else if (file.startsWith(DIST + path.sep)) own.push(path.relative(DIST, file));
  }
  return { own, packages };
}

describe("CLI module loading", function () {
  this.timeout(60_000);
  let servers = "";
  before(async () => {
    servers = (await freePorts(3)).map((port) => `127.0.0.1:${port}`).join(",");
  });

  it("ecc client get loads the ecc client and nothing of raft, the node runtime, bench, report or jepsen", () => {
    const run = census(["ecc", "client", "get", "fruit", "--servers", servers, "--k", "2", "--rpc-timeout-ms", "100"]);
    assert.equal(run.status, 3, run.stderr); // nobody listens: the cluster cannot serve
    const { own, packages } = classify(run.modules);
    assert.ok(own.includes(path.join("src", "ecc", "client.js")), "the ecc client itself was not loaded");
    const unwanted = own.filter((file) => /^src\/(raft|bench|report|jepsen|check)\/|^src\/ecc\/(node|control_plane)\.js$|^src\/cli\/(raft|bench|report)_/.test(file));
    assert.deepEqual(unwanted, [], "modules an ecc client command does not need");
    for (const name of [...CLIENT_UNNEEDED_PACKAGES, "@subspace/reed-solomon-erasure.wasm"]) assert.ok(!packages.has(name), `${name} was loaded`);
    assert.ok(run.modules.length <= ECC_CLIENT_GET_MODULES_MAX, `${run.modules.length} modules loaded (ceiling ${ECC_CLIENT_GET_MODULES_MAX})`);
  });

  it("raft client get loads the raft client and nothing of ecc, the node runtime, bench, report or jepsen", () => {
    const run = census(["raft", "client", "get", "fruit", "--servers", servers, "--connect-timeout-ms", "100", "--rpc-timeout-ms", "100"]);
    assert.equal(run.status, 3, run.stderr);
    const { own, packages } = classify(run.modules);
    assert.ok(own.includes(path.join("src", "raft", "client.js")), "the raft client itself was not loaded");
    const unwanted = own.filter((file) => /^src\/(ecc|codec|bench|report|jepsen|check|storage)\/|^src\/raft\/(node|core|disk_storage|kv_state)\.js$|^src\/cli\/(ecc|bench|report)_/.test(file));
    assert.deepEqual(unwanted, [], "modules a raft client command does not need");
    for (const name of CLIENT_UNNEEDED_PACKAGES) assert.ok(!packages.has(name), `${name} was loaded`);
    assert.ok(run.modules.length <= RAFT_CLIENT_GET_MODULES_MAX, `${run.modules.length} modules loaded (ceiling ${RAFT_CLIENT_GET_MODULES_MAX})`);
  });

  it("top-level --help loads no mode, bench or report module", () => {
    const run = census(["--help"]);
    assert.equal(run.status, 0, run.stderr);
    const { own, packages } = classify(run.modules);
    assert.deepEqual(own.filter((file) => /^src\/(ecc|raft|codec|bench|report|jepsen)\//.test(file)), []);
    assert.ok(!packages.has("@grpc/grpc-js") && !packages.has("zod"), [...packages].join(", "));
  });
});
