// Config loading and validation: the original ecc_config.json shape with its defaults,
// precedence flags > env > file > defaults, and clear errors for bad or contradictory input.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "../../src/core/errors";
import { loadEccConfig } from "../../src/cli/ecc_config_loader";

describe("ecc config", () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cfg-"));

  it("defaults to the original: 5 servers on 3000-3004, k=3, n=5", () => {
    const { config, source } = loadEccConfig({}, {}, empty);
    assert.deepEqual(config.servers, ["127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003", "127.0.0.1:3004"]);
    assert.equal(config.dataShards, 3);
    assert.equal(config.parityShards, 2);
    assert.equal(source, "embedded defaults");
    assert.equal(config.readExtra, 1, "late binding: one member beyond k");
    assert.equal(config.readHedgePercentile, 95);
    assert.equal(loadEccConfig({}, { ECC_READ_EXTRA: "0", ECC_READ_HEDGE_PERCENTILE: "0" }, empty).config.readExtra, 0);
  });

  it("reads an original-shaped file, then env, then flags on top", () => {
    const file = path.join(empty, "ecc_config.json");
    fs.writeFileSync(file, JSON.stringify({ servers: ["a:1", "b:2", "c:3"], k: 2, block_size: 1024, heartbeat_timeout_ms: 500 }));
    const fromFile = loadEccConfig({}, {}, empty).config;
    assert.equal(fromFile.dataShards + fromFile.parityShards, 3, "n defaults to the number of servers");
    assert.equal(fromFile.blockBytes, 1024);
    const fromEnv = loadEccConfig({}, { ECC_BLOCK_SIZE: "2048" }, empty).config;
    assert.equal(fromEnv.blockBytes, 2048);
    const fromFlag = loadEccConfig({ blockSize: "4096" }, { ECC_BLOCK_SIZE: "2048" }, empty).config;
    assert.equal(fromFlag.blockBytes, 4096);
    fs.rmSync(file);
  });

  it("rejects contradictory or malformed settings with the reason", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ k: "2" }, /must be more than n\/2/],
      [{ k: "5" }, /must be below n/],
      [{ n: "4" }, /n must equal the number of servers/],
      [{ servers: "127.0.0.1:1,127.0.0.1:1,127.0.0.1:2" }, /listed twice/],
      [{ servers: "127.0.0.1:70000,127.0.0.1:2,127.0.0.1:3" }, /outside 1..65535/],
      [{ blockSize: "1" }, /block_size/],
      [{ k: "-1" }, /not a whole number/],
      [{ readExtra: "3" }, /read_extra \(3\) must be at most n - k \(2\)/],
      [{ readHedgePercentile: "30" }, /must be 0 \(no hedging\) or 50..99/],
      [{ readHedgePercentile: "100" }, /read_hedge_percentile/],
    ];
    for (const [flags, reason] of cases) {
      assert.throws(() => loadEccConfig(flags, {}, empty), (error: unknown) => error instanceof ConfigError && reason.test(error.message));
    }
  });
});
