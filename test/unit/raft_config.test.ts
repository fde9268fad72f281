// raft's memory settings as the CLI reads them: max_memory_bytes and eviction_policy from the
// file, the environment (RAFT_MAX_MEMORY_BYTES, RAFT_EVICTION_POLICY) and flags (--max-memory,
// --eviction-policy), flags first; sizes such as 512MiB; defaults 256 MiB and allkeys-lru;
// an unknown policy or a budget below the minimum is a ConfigError naming the field; the
// resolved config handed to child nodes round-trips.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadRaftConfig } from "../../src/cli/raft_config_loader";
import { ConfigError } from "../../src/core/errors";
import { MAX_MEMORY_BYTES_DEFAULT } from "../../src/core/limits";
import { parseRaftConfig, raftConfigToFile } from "../../src/raft/config";

describe("raft memory config", () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "raft-config-"));
  after(() => fs.rmSync(empty, { recursive: true, force: true }));

  it("defaults, then the file, the environment and flags, flags first; sizes with units", () => {
    const defaults = loadRaftConfig({}, {}, empty).config;
    assert.deepEqual([defaults.maxMemoryBytes, defaults.evictionPolicy], [MAX_MEMORY_BYTES_DEFAULT, "allkeys-lru"]);
    const file = path.join(empty, "raft_config.json");
    fs.writeFileSync(file, JSON.stringify({ servers: ["127.0.0.1:4000"], max_memory_bytes: "1GiB", eviction_policy: "volatile-ttl" }));
    const fromFile = loadRaftConfig({ config: file }, {}, empty).config;
    assert.deepEqual([fromFile.maxMemoryBytes, fromFile.evictionPolicy], [1024 ** 3, "volatile-ttl"]);
    const fromEnv = loadRaftConfig({ config: file }, { RAFT_MAX_MEMORY_BYTES: "512MiB", RAFT_EVICTION_POLICY: "noeviction" }, empty).config;
    assert.deepEqual([fromEnv.maxMemoryBytes, fromEnv.evictionPolicy], [512 * 1024 ** 2, "noeviction"]);
    const fromFlags = loadRaftConfig({ config: file, maxMemory: "64MB", evictionPolicy: "allkeys-lfu" }, { RAFT_MAX_MEMORY_BYTES: "512MiB" }, empty).config;
    assert.deepEqual([fromFlags.maxMemoryBytes, fromFlags.evictionPolicy], [64 * 1000 ** 2, "allkeys-lfu"]);
    assert.equal(loadRaftConfig({ maxMemory: "0" }, {}, empty).config.maxMemoryBytes, 0, "0: no budget");
    const resolved = parseRaftConfig(raftConfigToFile(fromFlags), "round trip");
    assert.deepEqual([resolved.maxMemoryBytes, resolved.evictionPolicy], [fromFlags.maxMemoryBytes, fromFlags.evictionPolicy]);
  });

  it("an unknown policy, an unreadable size or a budget below the minimum: ConfigError naming the field", () => {
    const rejects = (flags: Record<string, string>, env: NodeJS.ProcessEnv, field: RegExp): void =>
      assert.throws(() => loadRaftConfig(flags, env, empty), (error: unknown) => error instanceof ConfigError && field.test(error.message));
    rejects({ evictionPolicy: "lru" }, {}, /eviction_policy: expected one of/);
    rejects({}, { RAFT_EVICTION_POLICY: "volatile" }, /eviction_policy/);
    rejects({ maxMemory: "lots" }, {}, /max_memory_bytes: expected a size in bytes/);
    rejects({ maxMemory: "1MiB" }, {}, /max_memory_bytes: expected 0 \(no limit\) or a size from 4194304/);
    rejects({}, { RAFT_MAX_MEMORY_BYTES: "-5" }, /max_memory_bytes/);
  });
});
