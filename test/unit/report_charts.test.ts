// Chart specs (src/report/charts.ts) are readable by construction, checked on their structure
// and on the SVG they render to.
// Method: specs built from the committed report/reference.json (the runs whose charts a user
// reported unreadable) and from fake-target runs with and without errors.
// Checks: the overhead chart puts ecc and raft in one panel and the peers in another, each
// with its own axis from zero, and marks every bar's ideal with a black tick; the memory and
// throughput charts are grids of small panels (at most PANEL_COLUMNS a row) whose x and y
// scales are fitted per panel, so a 0.1 s redis run and a 5 s raft run each fill their
// panel; the throughput chart draws errors and unavailability only when a run had them and
// its subtitle names only what is drawn; every spec renders to SVG.
import assert from "node:assert/strict";
import path from "node:path";
import { BenchRun, readResults } from "../../src/bench/results";
import { aggregateRows, summarizeRun } from "../../src/report/analysis";
import { PANEL_COLUMNS, memorySpec, overheadSpec, renderSvg, throughputSpec } from "../../src/report/charts";
import { sampleResults } from "../fixtures/bench/sample_results";

type Spec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("report charts", function () {
  this.timeout(60_000);
  const reference = readResults(path.resolve(__dirname, "..", "..", "..", "report", "reference.json"));
  const ok = reference.runs.filter((run) => run.status === "ok");
  const killRuns = ok.filter((run) => run.group === "A-1KiB-c64-kill-node1");

  it("overhead: our modes and the peers on separate axes, each bar's ideal as a black tick", async () => {
    const spec = overheadSpec(aggregateRows(ok.map(summarizeRun)), "overhead") as Spec;
    assert.equal(spec.vconcat.length, 2, "two panels");
    const filters = spec.vconcat.map((panel: Spec) => panel.transform[0].filter.equal);
    assert.deepEqual(filters, ["ours", "peers"]);
    const families = new Map<string, Set<string>>();
    for (const row of spec.data.values) {
      if (!families.has(row.family)) families.set(row.family, new Set());
      families.get(row.family)!.add(row.target.replace(/\(.*/, ""));
    }
    assert.deepEqual([...families.get("ours")!].sort(), ["ecc", "raft"]);
    assert.deepEqual([...families.get("peers")!].sort(), ["etcd", "redis"]);
    for (const panel of spec.vconcat) {
      assert.equal(panel.resolve, undefined, "each panel's y scale is its own (vconcat default)");
      const [bars, ticks] = panel.layer;
      assert.equal(bars.mark.type, "bar");
      assert.equal(bars.encoding.y.scale.zero, true);
      assert.equal(ticks.mark.type, "tick");
      assert.equal(ticks.encoding.y.field, "ideal");
      assert.deepEqual(ticks.encoding.color, { value: "black" });
    }
    assert.ok(spec.data.values.every((row: Spec) => row.ratio > 0), "no ratio at or below zero is drawn");
    const svg = await renderSvg(spec);
    assert.match(svg, /ecc and raft/);
  });

  it("memory: a grid of small panels with axes fitted per panel", async () => {
    const spec = memorySpec(killRuns, "memory") as Spec;
    assert.equal(spec.facet.field, "target", "a wrapped facet, not one long row");
    assert.equal(spec.columns, PANEL_COLUMNS);
    assert.ok(PANEL_COLUMNS <= 3);
    assert.deepEqual(spec.resolve.scale, { x: "independent", y: "independent" });
    assert.equal(spec.spec.width <= 300, true);
    assert.match(await renderSvg(spec), /<svg/);
  });

  it("throughput: a grid with each run's own time range; errors and unavailability only when there were any", async () => {
    const spec = throughputSpec(killRuns, "throughput") as Spec;
    assert.equal(spec.facet.field, "target");
    assert.equal(spec.columns, PANEL_COLUMNS);
    assert.deepEqual(spec.resolve.scale, { x: "independent", y: "independent" });
    // The reference kill runs had no errors: nothing promises error marks.
    assert.ok(!spec.layer && !spec.spec.layer.some((layer: Spec) => layer.transform?.[0].filter.includes("errors")));
    assert.doesNotMatch(spec.title.subtitle, /error/);
    assert.match(spec.title.subtitle, /red rules: failures/);

    const failing = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], workloads: ["A"], failures: ["kill:node1@t=60ms+120ms"], durationMs: 400, delayMs: 1 });
    const run: BenchRun = failing.runs[0];
    assert.ok(run.measured!.errors > 0);
    const withErrors = throughputSpec([run], "throughput") as Spec;
    const layers = withErrors.spec.layer.map((layer: Spec) => layer.transform[0].filter);
    assert.ok(layers.some((filter: string) => filter.includes("'errors'")), layers.join(", "));
    assert.ok(layers.some((filter: string) => filter.includes("'unavailable'")), layers.join(", "));
    assert.match(withErrors.title.subtitle, /errors\/s/);
    assert.match(withErrors.title.subtitle, /shaded: unavailable/);
    assert.ok(withErrors.data.values.some((row: Spec) => row.layer === "errors" && row.value > 0));
    assert.match(await renderSvg(withErrors), /<svg/);
  });
});
