// The report headline: memory ratios ecc/raft from the steady B 1 KiB group (measured and
// logical) against the ideals, and ops/s and p99 against etcd; nothing when the pairs are
// missing.
import assert from "node:assert/strict";
import { RunSummaryRow } from "../../src/report/analysis";
import { headline } from "../../src/report/headline";

function row(target: string, group: string, memoryMiB: number, logicalMiB: number, opsPerSecond: number): RunSummaryRow {
  return {
    run: `${target}-${group}`,
    group,
    target,
    kind: target.split("(")[0],
    status: "ok",
    sampler: "cgroup",
    payloadBytes: 10 * 2 ** 20,
    memoryDeltaBytes: memoryMiB * 2 ** 20,
    memoryPartial: false,
    overheadRatio: null,
    idealOverhead: null,
    logicalDeltaBytes: logicalMiB * 2 ** 20,
    logicalRatio: null,
    opsPerSecond,
    p50Us: 1000,
    p99Us: 20_000,
    readP50Us: null,
    readP99Us: null,
    writeP50Us: null,
    writeP99Us: null,
    errors: 0,
    readUnavailableMs: 0,
    writeUnavailableMs: 0,
    readLongestGapMs: null,
    writeLongestGapMs: null,
  };
}

describe("report headline", () => {
  it("gives ecc/raft memory ratios against their ideals and speed against etcd, from the B 1 KiB steady group", () => {
    const group = "B-1KiB-c64-steady";
    const rows = [
      row("ecc(n=3,k=2)", group, 16, 15, 19_000),
      row("raft(3)", group, 32, 30, 15_000),
      row("ecc(n=5,k=3)", group, 18, 17, 15_000),
      row("raft(5)", group, 50, 50, 9_000),
      row("etcd(3)", group, 90, 60, 3_800),
      row("ecc(n=3,k=2)", "A-1KiB-c64-steady", 99, 99, 1),
    ];
    const text = headline(rows);
    assert.match(text, /group `B-1KiB-c64-steady`/);
    assert.match(text, /ecc\(n=3,k=2\) ÷ raft\(3\): \*\*0\.50\*\* measured .* 0\.50 in exact logical bytes; ideal 0\.50, the original study measured 0\.58/);
    assert.match(text, /ecc\(n=5,k=3\) ÷ raft\(5\): \*\*0\.36\*\* measured .* 0\.34 in exact logical bytes; ideal 0\.33/);
    assert.match(text, /ecc\(n=5,k=3\) vs etcd\(3\): .*\(15000 vs 3800\)/);
  });

  it("says nothing without an ecc/raft pair or etcd", () => {
    assert.equal(headline([row("redis(1)", "B-1KiB-c64-steady", 12, 12, 60_000)]), "");
    assert.equal(headline([]), "");
  });
});
