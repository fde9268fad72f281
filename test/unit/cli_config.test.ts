// Config files as the CLI reads them (issue 20): the original project's two files (kept
// unchanged in test/fixtures/original) load, and a field that means something else here
// (block_size) is read the original's way with exactly one notice; flat records are checked
// field by field with messages that name the field and the rule (src/core/flat_config.ts).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadEccConfig } from "../../src/cli/ecc_config_loader";
import { loadRaftConfig } from "../../src/cli/raft_config_loader";
import { ConfigError } from "../../src/core/errors";
import { flatConfigProblems } from "../../src/core/flat_config";
import { BLOCK_BYTES_DEFAULT } from "../../src/core/limits";

const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "original");

describe("config files as the CLI reads them", () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "cli-config-"));
  after(() => fs.rmSync(empty, { recursive: true, force: true }));

  it("the original's ecc_config.json: block_size 4 is read as the original's value cap, with one notice", () => {
    const file = path.join(FIXTURES, "ecc_config.json");
    const { config, notices } = loadEccConfig({ config: file }, {}, empty);
    assert.deepEqual(config.servers, ["127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003", "127.0.0.1:3004"]);
    assert.equal(config.dataShards, 3);
    assert.equal(config.parityShards, 2);
    assert.equal(config.heartbeatTimeoutMs, 1_000);
    assert.equal(config.blockBytes, BLOCK_BYTES_DEFAULT);
    assert.equal(notices.length, 1);
    assert.match(notices[0], new RegExp(`^block_size 4 in ${file} is read as the original's value cap`));
  });

  it("a block_size from a flag or the environment overrides the file's, and then no notice is due", () => {
    const file = path.join(FIXTURES, "ecc_config.json");
    const flag = loadEccConfig({ config: file, blockSize: "1024" }, {}, empty);
    assert.deepEqual([flag.config.blockBytes, flag.notices], [1024, []]);
    const env = loadEccConfig({ config: file }, { ECC_BLOCK_SIZE: "2048" }, empty);
    assert.deepEqual([env.config.blockBytes, env.notices], [2048, []]);
    assert.throws(() => loadEccConfig({ blockSize: "4" }, {}, empty), /block_size: expected a whole number from 64/, "on the command line block_size means ours");
  });

  it("a block_size in range is ours (the shard bytes of a stripe), with no notice", () => {
    const file = path.join(empty, "ecc_config.json");
    fs.writeFileSync(file, JSON.stringify({ servers: ["a:1", "b:2", "c:3"], k: 2, block_size: 4096 }));
    const { config, notices } = loadEccConfig({}, {}, empty);
    assert.deepEqual([config.blockBytes, notices], [4096, []]);
    fs.rmSync(file);
  });

  it("the original's raft_config.json", () => {
    const { config } = loadRaftConfig({ config: path.join(FIXTURES, "raft_config.json") }, {}, empty);
    assert.deepEqual(config.servers, ["127.0.0.1:4000", "127.0.0.1:4001", "127.0.0.1:4002"]);
  });

  it("raft connect_timeout_ms: default 2 s, from the environment or a flag, checked", () => {
    assert.equal(loadRaftConfig({}, {}, empty).config.connectTimeoutMs, 2_000);
    assert.equal(loadRaftConfig({}, { RAFT_CONNECT_TIMEOUT_MS: "500" }, empty).config.connectTimeoutMs, 500);
    assert.equal(loadRaftConfig({ connectTimeoutMs: "300" }, { RAFT_CONNECT_TIMEOUT_MS: "500" }, empty).config.connectTimeoutMs, 300);
    assert.throws(() => loadRaftConfig({ connectTimeoutMs: "5" }, {}, empty), (error: unknown) => error instanceof ConfigError && /connect_timeout_ms/.test(error.message));
  });

  it("flat records: every problem, one line each, naming the field and the rule", () => {
    const rules = {
      size: { kind: "integer", min: 1, max: 10 },
      name: { kind: "string" },
      list: { kind: "strings", itemsMin: 1, itemsMax: 2 },
      mode: { kind: "choice", choices: ["a", "b"] },
      extra: { kind: "integer", min: 0, max: 1, optional: true },
    } as const;
    assert.deepEqual(flatConfigProblems({ size: 3, name: "x", list: ["p"], mode: "a" }, rules), []);
    assert.deepEqual(flatConfigProblems({ size: 3.5, name: "", list: [1], mode: "c", sise: 1 }, rules), [
      "sise: unknown field (the fields are size, name, list, mode, extra)",
      "size: expected a whole number from 1 to 10, got 3.5",
      "name: expected a non-empty string, got \"\"",
      "list: expected a list of 1 to 2 strings, got [1]",
      "mode: expected one of a, b, got \"c\"",
    ]);
    assert.deepEqual(flatConfigProblems({ name: "x", list: ["p", "q", "r"], mode: "b" }, rules), ["size: missing", "list: expected a list of 1 to 2 strings, got [\"p\",\"q\",\"r\"]"]);
    assert.deepEqual(flatConfigProblems([1], rules), ["(top level): expected a JSON object"]);
  });
});
