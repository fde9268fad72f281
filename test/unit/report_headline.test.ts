// The report headline: memory ratios ecc/raft from the steady B 1 KiB group (measured and
// logical) against the ideals, and ops/s and p99 against etcd; nothing when the pairs are
// missing. With repeats: the ratio of the medians, followed by the min–max of the ratios of
// runs paired by round; a single run's headline has no range and says nothing of medians.
import assert from "node:assert/strict";
import { RunSummaryRow } from "../../src/report/analysis";
import { headline } from "../../src/report/headline";

function row(target: string, group: string, memoryMiB: number, logicalMiB: number, opsPerSecond: number, repeat = 1): RunSummaryRow {
  return {
    run: `${target}-${group}${repeat === 1 ? "" : `-r${repeat}`}`,
    group,
    repeat,
    target,
    targetSpec: target,
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

  it("with repeats: the ratio of the medians, and its range over runs paired by round", () => {
    const group = "B-1KiB-c64-steady";
    // ecc 15, 16, 18 MiB and raft 32, 32, 30 MiB: medians 16 ÷ 32 = 0.50 (the means would
    // give 0.52); rounds 15/32 = 0.47, 16/32 = 0.50, 18/30 = 0.60. Rows come in any order.
    const rows = [
      row("ecc(n=3,k=2)", group, 18, 15, 21_000, 3),
      row("raft(3)", group, 32, 30, 15_000, 1),
      row("ecc(n=3,k=2)", group, 15, 15, 19_000, 1),
      row("raft(3)", group, 32, 30, 14_000, 2),
      row("ecc(n=3,k=2)", group, 16, 15, 20_000, 2),
      row("raft(3)", group, 30, 30, 16_000, 3),
      row("etcd(3)", group, 90, 60, 4_000),
    ];
    const text = headline(rows);
    assert.match(
      text,
      /ecc\(n=3,k=2\) ÷ raft\(3\): \*\*0\.50\*\* \(0\.47–0\.60 over 3 runs\) measured \(cgroup working-set delta, medians of 3 runs each\), 0\.50 \(0\.50–0\.50 over 3 runs\) in exact logical bytes/,
    );
    assert.match(text, /ecc\(n=3,k=2\) vs etcd\(3\): 5\.00× the ops\/s \(20000 vs 4000, medians of 3 and 1 runs\)/);
    assert.match(text, /raft\(3\) vs etcd\(3\): 3\.75× the ops\/s \(15000 vs 4000, medians of 3 and 1 runs\)/);
    // Only one round of raft: medians, but no paired range.
    const single = headline(rows.filter((r) => !(r.target === "raft(3)" && r.repeat > 1)));
    assert.match(single, /ecc\(n=3,k=2\) ÷ raft\(3\): \*\*0\.50\*\* measured \(cgroup working-set delta, medians of 3 and 1 runs\)/);
  });

  it("says nothing without an ecc/raft pair or etcd", () => {
    assert.equal(headline([row("redis(1)", "B-1KiB-c64-steady", 12, 12, 60_000)]), "");
    assert.equal(headline([]), "");
  });
});
