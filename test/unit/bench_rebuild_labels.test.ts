// The rebuild benchmark's printed table (bench/rebuild_bench.ts resultTable).
// Method: the figures of a run like the one a user reported (4,800 keys of 64 KiB loaded,
// then a writer of 1 KiB values; 20,800 keys rebuilt) turned into the table.
// Checks: the rebuilt key count is split into the load's keys and the writer's, each with its
// own value size, and no row calls all rebuilt keys keys of the load's value size.
import assert from "node:assert/strict";
import { RebuildResult, resultTable } from "../../bench/rebuild_bench";

describe("rebuild bench table", () => {
  const result: RebuildResult = {
    shardMibPerNode: 100.1,
    valueKib: 64,
    loadKeys: 4_800,
    writerValueBytes: 1024,
    concurrency: 16,
    rebuild: { keys: 20_800, megabytes: 110.4, seconds: 9.5, nodeReportedMegabytesPerSecond: 12, wallMegabytesPerSecond: 11.6 },
    writesPerSecond: { baseline: 3000, afterKillBeforeRestart: 1200, duringRebuild: 2500, afterPromotion: 2900 },
    dipPercent: 17,
    writeErrors: 0,
    killToRestartSeconds: 3,
  };

  it("counts the load's 64 KiB keys and the writer's 1 KiB keys apart", () => {
    const text = resultTable(result);
    assert.match(text, /\| shards on node 1 after the load \| 100\.1 MiB \(4800 keys of 64 KiB values\) \|/);
    assert.match(text, /\| keys rebuilt \| 20800: 4800 of the load \(64 KiB values\) \+ 16000 of the writer's \(1 KiB values\) \|/);
    assert.doesNotMatch(text, /20800 keys of 64 KiB/);
    assert.match(text, /writes\/s before the failure \(1 KiB, c16\) \| 3000 \|/);
  });
});
