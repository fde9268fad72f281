// Which runs the report compares and folds (src/report/comparable.ts, report.ts).
// Method: result documents from the real bench orchestration against in-process fake
// targets (test/fixtures/bench/sample_results.ts), two invocations at a time that differ in
// one thing, rendered into a temporary directory.
// Checks: two files that differ only in --ops (or --keys, or the failure schedule) are not
// folded into one row of medians: each set of runs is its own section, named after the group
// and the parameter that differs, with the payload its own runs had, and the report says
// why; runs of one target that differ in commit are separate rows, labelled; two files that
// share every parameter fold into one row as repeats, and a single file keeps its names.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BenchResults } from "../../src/bench/results";
import { formatBytes } from "../../src/report/analysis";
import { comparableRuns, measurementParams } from "../../src/report/comparable";
import { writeReport } from "../../src/report/report";
import { sampleResults } from "../fixtures/bench/sample_results";

describe("report: only comparable runs share a section or a row", function () {
  this.timeout(60_000);
  let dir: string;
  let base: BenchResults;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-report-comparable-"));
    base = await sampleResults({ targets: ["fake:nodes=3,replicas=3"] });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("splits runs of one group name that differ in --keys or --ops into named sections", async () => {
    const moreKeys = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], keys: 800 });
    const moreOps = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], ops: 300 });
    assert.equal(moreKeys.runs[0].group, base.runs[0].group, "the group name alone does not tell them apart");
    const byKeys = comparableRuns([{ file: "a.json", results: base }, { file: "b.json", results: moreKeys }]);
    assert.deepEqual(byKeys.runs.map((run) => run.group), ["B-100B-c4 · keys 200", "B-100B-c4 · keys 800"]);
    assert.match(byKeys.notes.join(" "), /Runs of group B-100B-c4 differ in keys: each set is its own section/);
    const byOps = comparableRuns([{ file: "a.json", results: base }, { file: "c.json", results: moreOps }]);
    assert.deepEqual(byOps.runs.map((run) => run.group), ["B-100B-c4 · measured 600 ops", "B-100B-c4 · measured 300 ops"]);

    const report = await writeReport([{ file: "a.json", results: base }, { file: "b.json", results: moreKeys }], path.join(dir, "keys"));
    const markdown = fs.readFileSync(report.markdownPath, "utf8");
    assert.match(markdown, /^## B-100B-c4 · keys 200$/m);
    assert.match(markdown, /^## B-100B-c4 · keys 800$/m);
    assert.doesNotMatch(markdown, /\| runs \|/, "no row folds runs of both files");
    assert.match(markdown, /\*\*Not comparable, kept apart\.\*\* Runs of group B-100B-c4 differ in keys/);
    // Each section's payload is its own runs' payload, not a median of both.
    const payloads = [...markdown.matchAll(/^\| fake\(3\) \| ([^|]+) \|/gm)].map((match) => match[1].trim());
    assert.deepEqual(payloads, [formatBytes(base.runs[0].payload!.totalBytes), formatBytes(moreKeys.runs[0].payload!.totalBytes)]);
    assert.equal(new Set(report.charts.map((chart) => path.basename(chart))).size, report.charts.length, "one set of charts per section");
    assert.equal(report.charts.filter((chart) => path.basename(chart).startsWith("memory-")).length, 2);
  });

  it("keeps a failure schedule apart from the steady runs of the same name", async () => {
    const failing = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], failures: ["kill:node1@op=100"] });
    failing.runs[0].group = base.runs[0].group; // a variant named like the steady one
    const split = comparableRuns([{ file: "a.json", results: base }, { file: "f.json", results: failing }]);
    assert.deepEqual(split.runs.map((run) => run.group), ["B-100B-c4 · failures none", "B-100B-c4 · failures kill:node1@op=100"]);
  });

  it("runs of one target from two commits are separate rows; identical settings fold as repeats", async () => {
    const again = await sampleResults({ targets: ["fake:nodes=3,replicas=3"] });
    const folded = comparableRuns([{ file: "a.json", results: base }, { file: "b.json", results: again }]);
    assert.deepEqual(folded.notes, []);
    assert.deepEqual(folded.runs.map((run) => [run.group, run.target.label]), [["B-100B-c4", "fake(3)"], ["B-100B-c4", "fake(3)"]]);
    const report = await writeReport([{ file: "a.json", results: base }, { file: "b.json", results: again }], path.join(dir, "same"));
    assert.match(fs.readFileSync(report.markdownPath, "utf8"), /^\| fake\(3\) \| 2 \|/m, "one row of two runs");

    const other: BenchResults = { ...again, commit: { id: "0000000", dirty: false } };
    const split = comparableRuns([{ file: "a.json", results: base }, { file: "b.json", results: other }]);
    assert.deepEqual(split.runs.map((run) => run.group), ["B-100B-c4", "B-100B-c4"]);
    assert.deepEqual(split.runs.map((run) => run.target.label), [`fake(3) · commit ${base.commit.id}`, "fake(3) · commit 0000000"]);
    assert.notEqual(split.runs[0].target.spec, split.runs[1].target.spec);
    assert.match(split.notes.join(" "), /runs of fake\(3\) differ in commit: they are separate rows/);
  });

  it("lists every parameter that changes a measurement", () => {
    const names = measurementParams(base.runs[0], base).map(([name]) => name);
    for (const name of ["workload", "keys", "distribution", "values", "measured", "warm-up", "concurrency", "seed", "failures", "settle", "memory samplers"]) {
      assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
    }
  });
});
