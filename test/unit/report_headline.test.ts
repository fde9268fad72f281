// The report headline: memory ratios ecc/raft from the steady B 1 KiB group (measured and
// logical) against the ideals, and ops/s and p99 against etcd; nothing when the pairs are
// missing, and no speed ratio against a result whose load generator was saturated. With
// repeats: the ratio of the medians, followed by the min–max of the ratios of runs paired
// by round; a single run's headline has no range and says nothing of medians.
// A B 1 KiB group's headline ends with the issue's memory targets, each met or missed.
// The memory breakdown of the same group: one row per target whose nodes reported their V8
// heap and array buffers, with "other" the rest of the delta, medians column by column, and
// the kernel's part of "other" when the nodes' cgroups reported it.
import assert from "node:assert/strict";
import { RunSummaryRow } from "../../src/report/analysis";
import { headline, memoryBreakdown } from "../../src/report/headline";

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
    nodesLeftOut: [],
    nodesRestarted: [],
    overheadRatio: null,
    idealOverhead: null,
    logicalDeltaBytes: logicalMiB * 2 ** 20,
    logicalRatio: null,
    v8HeapDeltaBytes: null,
    arrayBuffersDeltaBytes: null,
    otherDeltaBytes: null,
    kernelDeltaBytes: null,
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
    cpuPerOpUs: null,
    nodeCpuPerOpUs: null,
    generatorCpuPerOpUs: null,
    generatorShare: null,
    generatorProcessCoresMax: null,
    generatorSaturated: false,
    clientProcesses: null,
    hitRatio: null,
  };
}

/** A row with the ratios summarizeRun computes (payload 10 MiB). */
function measured(target: string, group: string, ideal: number, memoryMiB: number, logicalMiB: number): RunSummaryRow {
  return { ...row(target, group, memoryMiB, logicalMiB, 10_000), idealOverhead: ideal, overheadRatio: memoryMiB / 10, logicalRatio: logicalMiB / 10 };
}

describe("report headline", () => {
  it("marks each memory target met or missed, for a B 1 KiB group only", () => {
    const group = "B-1KiB-c64-steady";
    const rows = [
      measured("ecc(n=3,k=2)", group, 1.5, 16.4, 15.9), // memory 1.093× the ideal: met; logical 1.06×: missed
      measured("raft(3)", group, 3, 34, 30.1), // memory 1.133×: missed; logical 1.003×: met
      measured("ecc(n=5,k=3)", group, 5 / 3, 18.4, 17.4), // 1.104×: missed; 1.044×: met
      measured("raft(5)", group, 5, 51, 50.1), // 1.02×: met
    ];
    const text = headline(rows);
    assert.match(text, /\| ecc\(n=3,k=2\) memory Δ \| 16\.4 MiB = 1\.093× the ideal \| ≤ 1\.10× the ideal 1\.50×: 16\.5 MiB \| met \|/);
    assert.match(text, /\| ecc\(n=3,k=2\) exact logical bytes \| 1\.59× the payload = 1\.060× the ideal \| ≤ 1\.05× the ideal \| \*\*missed\*\* \|/);
    assert.match(text, /\| raft\(3\) memory Δ \| .* \| \*\*missed\*\* \|/);
    assert.match(text, /\| raft\(3\) exact logical bytes \| .* \| met \|/);
    assert.match(text, /\| ecc\(n=5,k=3\) memory Δ \| 18\.4 MiB = 1\.104× the ideal \| .* \| \*\*missed\*\* \|/);
    assert.match(text, /\| raft\(5\) memory Δ \| .* \| met \|/);
    // 16.4 / 34 = 0.482 ≤ 0.52; 18.4 / 51 = 0.361 > 0.36 (missed, though it shows as 0.36 at two decimals).
    assert.match(text, /\| memory ecc\(n=3,k=2\) ÷ raft\(3\) \| 0\.482 \(0\.528 in exact logical bytes\) \| ≤ 0\.52 \| met \|/);
    assert.match(text, /\| memory ecc\(n=5,k=3\) ÷ raft\(5\) \| 0\.361 \(0\.347 in exact logical bytes\) \| ≤ 0\.36 \| \*\*missed\*\* \|/);
    // Another group: the headline, but no targets (they are set for 1 KiB values).
    const other = headline(rows.map((r) => ({ ...r, group: "B-100B-c64-steady" })));
    assert.match(other, /Headline/);
    assert.doesNotMatch(other, /Memory targets/);
  });

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

    // A result whose load generator was saturated gives no ratio against a peer (issue 18).
    const saturated = headline(rows.map((r) => (r.target === "etcd(3)" ? { ...r, generatorSaturated: true } : r)));
    assert.match(saturated, /ecc\(n=5,k=3\) vs etcd\(3\): – the ops\/s \(no ratio: the load generator was saturated in etcd\(3\)'s run\) \(15000 vs 3800\)/);
    const ours = headline(rows.map((r) => (r.target === "raft(3)" ? { ...r, generatorSaturated: true } : r)));
    assert.match(ours, /raft\(3\) vs etcd\(3\): – the ops\/s \(no ratio: the load generator was saturated in raft\(3\)'s run\)/);
    assert.match(ours, /ecc\(n=5,k=3\) vs etcd\(3\): 3\.95× the ops\/s \(15000/, "the others keep theirs");
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

  it("splits the headline group's memory deltas into array buffers, V8 heap and the rest", () => {
    const group = "B-1KiB-c64-steady";
    const MiB = 2 ** 20;
    const split = (r: RunSummaryRow, arrayBuffersMiB: number, v8HeapMiB: number): RunSummaryRow => ({
      ...r,
      arrayBuffersDeltaBytes: arrayBuffersMiB * MiB,
      v8HeapDeltaBytes: v8HeapMiB * MiB,
      otherDeltaBytes: r.memoryDeltaBytes! - (arrayBuffersMiB + v8HeapMiB) * MiB,
    });
    const rows = [
      split(row("ecc(n=3,k=2)", group, 20, 15.5, 8_000, 1), 17, 1.5),
      split(row("ecc(n=3,k=2)", group, 22, 15.5, 8_000, 2), 17.5, 2.5),
      split(row("ecc(n=3,k=2)", group, 19, 15.5, 8_000, 3), 17, 1),
      split(row("raft(3)", group, 36, 30, 9_000), 31, 2.5),
      row("etcd(3)", group, 160, 60, 3_500), // no breakdown: no row
      split(row("raft(5)", "A-1KiB-c64-steady", 60, 50, 4_000), 52, 4), // another group
    ];
    const text = memoryBreakdown(rows);
    assert.match(text, /^\*\*Where the memory went\*\* \(group `B-1KiB-c64-steady`/);
    const table = text.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| target") && !line.startsWith("| ---"));
    // ecc: medians 20 MiB memory, 17 array buffers, 1.5 V8 heap, other 1.5 (runs: 1.5, 2, 1.5).
    assert.deepEqual(table, ["| ecc(n=3,k=2) | 20.0 MiB | 15.5 MiB | 17.0 MiB | 1.5 MiB | 1.5 MiB |", "| raft(3) | 36.0 MiB | 30.0 MiB | 31.0 MiB | 2.5 MiB | 2.5 MiB |"]);
    assert.doesNotMatch(text, /of which kernel/, "no kernel column when no cgroup reported kernel memory");
    // With the cgroups' kernel memory: one more column, its median too ("–" where unknown).
    const withKernel = rows.map((r, i) => (r.kind === "etcd" || r.target === "raft(3)" ? r : { ...r, kernelDeltaBytes: [0.25, 0.5, 0.75, 9, 9, 9][i] * MiB }));
    const kernelText = memoryBreakdown(withKernel);
    assert.match(kernelText, /\*of which kernel\* is that last part as the cgroup counts it/);
    assert.deepEqual(
      kernelText.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| ---")),
      [
        "| target | memory Δ | logical Δ | array buffers Δ | V8 heap Δ | other | of which kernel |",
        "| ecc(n=3,k=2) | 20.0 MiB | 15.5 MiB | 17.0 MiB | 1.5 MiB | 1.5 MiB | 512.0 KiB |",
        "| raft(3) | 36.0 MiB | 30.0 MiB | 31.0 MiB | 2.5 MiB | 2.5 MiB | – |",
      ],
    );
    // Nobody reported a breakdown (peers only, or results from before these figures): nothing.
    assert.equal(memoryBreakdown(rows.filter((r) => r.kind === "etcd")), "");
    assert.equal(memoryBreakdown([]), "");
  });

  it("says nothing without an ecc/raft pair or etcd", () => {
    assert.equal(headline([row("redis(1)", "B-1KiB-c64-steady", 12, 12, 60_000)]), "");
    assert.equal(headline([]), "");
  });
});
