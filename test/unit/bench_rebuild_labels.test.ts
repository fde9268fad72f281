// The rebuild benchmark's printed table (bench/rebuild_bench.ts resultTable).
// Method: the figures of a run like the one a user reported (4,800 keys of 64 KiB loaded,
// then a foreground load on 10,000 keys of 1 KiB; 14,800 keys rebuilt) turned into the table.
// Checks: the rebuilt key count is split into the load's keys and the foreground's, each with
// its own value size; no row calls all rebuilt keys keys of the load's value size; the
// foreground rows name the load they measured.
import assert from "node:assert/strict";
import { RebuildResult, resultTable } from "../../bench/rebuild_bench";

describe("rebuild bench table", () => {
  const result: RebuildResult = {
    shardMibPerNode: 100.1,
    valueBytes: 64 * 1024,
    loadKeys: 4_800,
    foregroundKeys: 10_000,
    foregroundValueBytes: 1024,
    concurrency: 16,
    readRatio: 0.5,
    heartbeatTimeoutMs: 1000,
    rebuild: {
      keys: 14_800,
      megabytes: 110.4,
      seconds: 9.5,
      nodeReportedMegabytesPerSecond: 12,
      wallMegabytesPerSecond: 11.6,
      starts: 1,
      pulledKeys: 14_790,
      fallbackKeys: 10,
      pullMsAverage: 12.4,
      pullWindowAverage: 3.5,
    },
    opsPerSecond: { baseline: 3000, afterKillBeforeRestart: 1200, duringRebuild: 2500, afterPromotion: 2900 },
    duringPercentOfBaseline: 83,
    foregroundErrors: 0,
    cpuMsPerMegabyte: { recovering: 20, others: 30 },
    generatorCores: 0.4,
    killToRestartSeconds: 3,
    timeline: [3000, 3000],
    marks: { killSeconds: 5, restartSeconds: 8.5, promotedSeconds: 18 },
  };

  it("counts the load's 64 KiB keys and the foreground's 1 KiB keys apart", () => {
    const text = resultTable(result);
    assert.match(text, /\| shards on node 1 after the load \| 100\.1 MiB \(4800 keys of 64 KiB values\) \|/);
    assert.match(text, /\| keys rebuilt \| 14800: 4800 of the load \(64 KiB values\) \+ 10000 of the foreground's \(1 KiB values\) \|/);
    assert.doesNotMatch(text, /14800 keys of 64 KiB/);
    assert.match(text, /foreground ops\/s before the failure \(1 KiB, 50% gets, c16\) \| 3000 \|/);
    assert.match(text, /during the rebuild \| 2500 \(83% of before\) \|/);
    assert.match(text, /\| keys pulled in bulk \/ read per key \| 14790 \/ 10 \|/);
    assert.match(text, /\| bulk pull latency \(mean\), pulls in flight \(mean\) \| 12 ms, 3\.5 \|/);
  });

  it("leaves out the bulk/per-key row when the node does not log it (the per-key path)", () => {
    const text = resultTable({ ...result, rebuild: { ...result.rebuild, pulledKeys: null, fallbackKeys: null, pullMsAverage: null, pullWindowAverage: null } });
    assert.doesNotMatch(text, /pulled in bulk/);
    assert.doesNotMatch(text, /bulk pull latency/);
    assert.match(text, /\| rebuild starts \(1 = never removed meanwhile\) \| 1 \|/);
  });

  it("names a value size that is not a whole KiB in bytes", () => {
    const text = resultTable({ ...result, valueBytes: 1000, loadKeys: 100, rebuild: { ...result.rebuild, keys: 100 } });
    assert.match(text, /100 keys of 1000 B values/);
  });
});
