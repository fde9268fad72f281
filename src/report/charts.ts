// Vega-Lite chart specs built from result runs (pure: data in, spec out), and rendering to
// SVG in Node (vega-lite compiles to a Vega spec; a headless Vega View renders it).
import * as vega from "vega";
import * as vl from "vega-lite";
import { decodeHistogram, cdfPoints } from "../bench/histogram";
import { BenchRun } from "../bench/results";
import { RunSummaryRow } from "./analysis";
import { CacheRow } from "./cache";

type Spec = Record<string, unknown>;
const MIB = 1024 * 1024;
const MEMORY_HEIGHT = 160;
const THROUGHPUT_HEIGHT = 120;
const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";
const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
const CONFIG = { font: FONT, view: { stroke: "#ddd" }, axis: { labelFontSize: 10, titleFontSize: 11 }, legend: { labelFontSize: 10 } };

/** Failure and crash events of a run (shown as vertical rules), time in ms since the run origin. */
export function failureEvents(run: BenchRun): Array<{ tMs: number; label: string }> {
  return run.events
    .filter((event) => /^failure\.(kill|stop|pause|resume|restart)$/.test(event.type) || event.type === "cluster.log")
    .map((event) => ({ tMs: event.tMs, label: `${event.type.replace(/^failure\./, "").replace("cluster.log", "log")} ${event.node ?? ""}`.trim() }));
}

/** Small multiples: this many panels per row, each with axes fitted to its own data. */
export const PANEL_COLUMNS = 3;
const PANEL_WIDTH = 250;

/**
 * Failure rules with their labels written upwards from the foot of the panel: vertical text
 * next to its rule does not run into the next label the way horizontal text does.
 */
function eventLayers(height: number): Spec[] {
  return [
    {
      transform: [{ filter: "datum.layer === 'event'" }],
      mark: { type: "rule", color: "#d62728", strokeWidth: 1.5, strokeDash: [4, 2] },
      encoding: { x: { field: "t", type: "quantitative" }, tooltip: { field: "label" } },
    },
    {
      transform: [{ filter: "datum.layer === 'event'" }],
      mark: { type: "text", color: "#d62728", angle: 270, align: "left", baseline: "bottom", dx: 0, dy: -3, fontSize: 9 },
      encoding: { x: { field: "t", type: "quantitative" }, y: { value: height - 2 }, text: { field: "label" } },
    },
  ];
}

/**
 * Memory over time: a grid of small panels, one per target (PANEL_COLUMNS a row), each with
 * its own time and MiB axes (runs last from seconds to minutes, clusters hold from a few to
 * hundreds of MiB); one line per node (solid: memory, dashed: logical bytes).
 */
export function memorySpec(runs: BenchRun[], title: string): Spec | null {
  const rows: Array<Record<string, unknown>> = [];
  const panels: string[] = [];
  for (const run of runs) {
    const memory = run.memory;
    if (memory === null) continue;
    const target = `${run.target.label} · ${memory.primary ?? "no memory sampler"}`;
    panels.push(target);
    for (const sample of memory.samples) {
      if (sample.sampler !== memory.primary) continue;
      rows.push({ layer: "line", target, node: sample.node, series: "memory", t: sample.tMs / 1000, mib: sample.bytes / MIB });
    }
    for (const sample of memory.logical) {
      if (sample.logicalBytes === null) continue;
      rows.push({ layer: "line", target, node: sample.node, series: "logical bytes", t: sample.tMs / 1000, mib: sample.logicalBytes / MIB });
    }
    for (const event of run.events) {
      if (event.type === "phase.preload.begin" || event.type === "phase.measure.begin" || event.type === "phase.measure.end") {
        rows.push({ layer: "phase", target, t: event.tMs / 1000, label: event.type.replace("phase.", "") });
      }
    }
    for (const event of failureEvents(run)) rows.push({ layer: "event", target, t: event.tMs / 1000, label: event.label });
  }
  if (!rows.some((row) => row.layer === "line")) return null;
  const layers: Spec[] = [
    {
      transform: [{ filter: "datum.layer === 'line'" }],
      mark: { type: "line", strokeWidth: 1.5, interpolate: "step-after" },
      encoding: {
        x: { field: "t", type: "quantitative", title: "time since cluster start (s)" },
        y: { field: "mib", type: "quantitative", title: "MiB" },
        color: { field: "node", type: "nominal", title: "node" },
        strokeDash: { field: "series", type: "nominal", title: null, scale: { domain: ["memory", "logical bytes"], range: [[1, 0], [4, 3]] } },
        detail: { field: "series" },
      },
    },
  ];
  if (rows.some((row) => row.layer === "phase")) {
    layers.push({
      transform: [{ filter: "datum.layer === 'phase'" }],
      mark: { type: "rule", color: "#999", strokeDash: [2, 2] },
      encoding: { x: { field: "t", type: "quantitative" }, tooltip: { field: "label" } },
    });
  }
  const events = rows.some((row) => row.layer === "event");
  if (events) layers.push(...eventLayers(MEMORY_HEIGHT));
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle: `solid: memory, dashed: logical bytes; grey rules: preload, measure begin and end${events ? "; red rules: failures" : ""}; each panel has its own axes` },
    config: CONFIG,
    data: { values: rows },
    facet: { field: "target", type: "nominal", title: null, sort: panels },
    columns: Math.min(PANEL_COLUMNS, panels.length),
    resolve: { scale: { x: "independent", y: "independent" }, axis: { x: "independent", y: "independent" } },
    spec: { width: PANEL_WIDTH, height: MEMORY_HEIGHT, layer: layers },
  };
}

/** Latency CDF per operation kind, HDR style: x = percentile on a "nines" scale, y = latency (log). */
export function latencySpec(runs: BenchRun[], title: string): Spec | null {
  const rows: Array<Record<string, unknown>> = [];
  for (const run of runs) {
    const latency = run.measured?.latency ?? {};
    for (const [kind, entry] of Object.entries(latency)) {
      if (kind === "all" || kind === "error" || entry.count === 0) continue;
      for (const point of cdfPoints(decodeHistogram(entry.hdr))) {
        const inverse = point.percentile >= 100 ? 1e5 : Math.min(1e5, 1 / (1 - point.percentile / 100));
        rows.push({ target: run.target.label, kind, ms: Math.max(0.001, point.latencyUs / 1000), inverse, percentile: point.percentile });
      }
    }
  }
  if (rows.length === 0) return null;
  return {
    $schema: SCHEMA,
    title,
    config: CONFIG,
    data: { values: rows },
    facet: { column: { field: "kind", type: "nominal", title: null } },
    spec: {
      width: 260,
      height: 200,
      mark: { type: "line", strokeWidth: 1.5, interpolate: "step-after" },
      encoding: {
        x: {
          field: "inverse",
          type: "quantitative",
          scale: { type: "log", domain: [1, 1e5] },
          title: "percentile",
          axis: { values: [1, 2, 10, 100, 1000, 10000, 100000], labelExpr: "datum.value >= 100000 ? 'max' : format(100 - 100 / datum.value, '.4~f') + '%'" },
        },
        y: { field: "ms", type: "quantitative", scale: { type: "log" }, title: "latency (ms)" },
        color: { field: "target", type: "nominal", title: "target", sort: runs.map((run) => run.target.label) },
      },
    },
  };
}

/**
 * Throughput per second of the measured phase: a grid of small panels, one per target, each
 * with its own time axis (a redis run lasts a tenth of a second where a Raft one lasts
 * several) and its own ops/s axis (they differ by orders of magnitude). Errors per second,
 * unavailability windows and failures are drawn only where a run had them, and the subtitle
 * names only what is drawn.
 */
export function throughputSpec(runs: BenchRun[], title: string): Spec | null {
  const rows: Array<Record<string, unknown>> = [];
  for (const run of runs) {
    const measured = run.measured;
    if (measured === null) continue;
    const target = run.target.label;
    // A last bucket much shorter than the others gives a noisy rate: fold it into the one before.
    const buckets = measured.timeline.map((bucket) => ({ ...bucket }));
    const last = buckets[buckets.length - 1];
    if (buckets.length > 1 && last.durationMs * 5 < buckets[0].durationMs) {
      const previous = buckets[buckets.length - 2];
      previous.ops += last.ops;
      previous.errors += last.errors;
      previous.durationMs += last.durationMs;
      buckets.pop();
    }
    for (const [index, bucket] of buckets.entries()) {
      // Rates, not counts: the last bucket is usually shorter than the others.
      const perSecond = 1000 / bucket.durationMs;
      const t = bucket.startMs / 1000;
      rows.push({ layer: "ops", target, t, value: Math.round(bucket.ops * perSecond) });
      rows.push({ layer: "errors", target, t, value: Math.round(bucket.errors * perSecond) });
      // Close the last step at the end of the run, so every bucket is drawn over its length.
      if (index === buckets.length - 1) {
        const end = (bucket.startMs + bucket.durationMs) / 1000;
        rows.push({ layer: "ops", target, t: end, value: Math.round(bucket.ops * perSecond) });
        rows.push({ layer: "errors", target, t: end, value: Math.round(bucket.errors * perSecond) });
      }
    }
    for (const window of measured.unavailability) {
      rows.push({ layer: "unavailable", target, t: (window.startMs - measured.startMs) / 1000, t2: (window.endMs - measured.startMs) / 1000, label: `${window.kind}s unavailable` });
    }
    for (const event of failureEvents(run)) {
      const t = (event.tMs - measured.startMs) / 1000;
      if (t >= 0 && t <= measured.durationMs / 1000 + 1) rows.push({ layer: "event", target, t, label: event.label });
    }
  }
  if (!rows.some((row) => row.layer === "ops")) return null;
  // A run without errors has an all-zero error series: leave the layer out rather than draw a line on the axis.
  const errorTargets = new Set(rows.filter((row) => row.layer === "errors" && (row.value as number) > 0).map((row) => row.target));
  const data = rows.filter((row) => row.layer !== "errors" || errorTargets.has(row.target));
  const drawn: string[] = ["blue: ok ops/s"];
  // Layers with no rows are left out: an empty layer breaks Vega's layout.
  const layers: Spec[] = [];
  if (data.some((row) => row.layer === "unavailable")) {
    drawn.push("shaded: unavailable");
    layers.push({
      transform: [{ filter: "datum.layer === 'unavailable'" }],
      mark: { type: "rect", color: "#d62728", opacity: 0.12 },
      encoding: { x: { field: "t", type: "quantitative" }, x2: { field: "t2" }, tooltip: { field: "label" } },
    });
  }
  layers.push({
    transform: [{ filter: "datum.layer === 'ops'" }],
    mark: { type: "line", strokeWidth: 1.5, interpolate: "step-after", color: "#4c78a8" },
    encoding: { x: { field: "t", type: "quantitative", title: "time since the measured phase began (s)" }, y: { field: "value", type: "quantitative", title: "per second" } },
  });
  if (errorTargets.size > 0) {
    drawn.push("orange: errors/s");
    layers.push({
      transform: [{ filter: "datum.layer === 'errors'" }],
      mark: { type: "line", strokeWidth: 1.5, interpolate: "step-after", color: "#f58518" },
      encoding: { x: { field: "t", type: "quantitative" }, y: { field: "value", type: "quantitative" }, tooltip: [{ field: "value", title: "errors/s" }] },
    });
  }
  if (data.some((row) => row.layer === "event")) {
    drawn.push("red rules: failures");
    layers.push(...eventLayers(THROUGHPUT_HEIGHT));
  }
  const panels = runs.filter((run) => run.measured !== null).map((run) => run.target.label);
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle: `${drawn.join("; ")}; each panel has its own axes` },
    config: CONFIG,
    data: { values: data },
    facet: { field: "target", type: "nominal", title: null, sort: panels },
    columns: Math.min(PANEL_COLUMNS, panels.length),
    resolve: { scale: { x: "independent", y: "independent" }, axis: { x: "independent", y: "independent" } },
    spec: { width: PANEL_WIDTH, height: THROUGHPUT_HEIGHT, layer: layers },
  };
}

/** Target kinds built here; the overhead chart draws them apart from the peers. */
const OUR_KINDS = new Set(["ecc", "raft"]);

/**
 * Memory overhead ratio per target and group, each bar with its target's ideal as a black
 * tick. Our modes (ecc, raft: 1.5× to a few ×) get one panel and the peers (etcd at tens of ×,
 * redis) another, each with its own linear axis from 0, so the peers' large ratios do not
 * flatten ours against the axis. Rows without a ratio (partial clusters, a delta ≤ 0) are not
 * drawn: the tables say why.
 */
export function overheadSpec(rows: RunSummaryRow[], title: string): Spec | null {
  const values = rows
    .filter((row) => row.overheadRatio !== null)
    .map((row) => ({
      family: OUR_KINDS.has(row.kind) ? "ours" : "peers",
      group: row.group,
      target: row.target,
      ratio: row.overheadRatio,
      ideal: row.idealOverhead,
      logical: row.logicalRatio,
    }));
  if (values.length === 0) return null;
  const targets = [...new Set(values.map((row) => row.target))];
  const panel = (family: string, heading: string): Spec => ({
    title: { text: heading, anchor: "start", fontSize: 12 },
    transform: [{ filter: { field: "family", equal: family } }],
    width: { step: 11 },
    height: 200,
    encoding: {
      x: { field: "group", type: "nominal", title: "workload group", axis: { labelAngle: -35 } },
      xOffset: { field: "target", type: "nominal", sort: targets },
      color: { field: "target", type: "nominal", title: "target", sort: targets },
    },
    layer: [
      {
        mark: { type: "bar" },
        encoding: {
          y: { field: "ratio", type: "quantitative", title: "memory Δ ÷ payload", scale: { zero: true } },
          tooltip: [{ field: "group" }, { field: "target" }, { field: "ratio", title: "overhead", format: ".2f" }, { field: "ideal", format: ".2f" }, { field: "logical", title: "logical", format: ".2f" }],
        },
      },
      // The ideal in black: the bar's colour would hide a tick drawn inside it.
      { mark: { type: "tick", thickness: 2.5 }, encoding: { y: { field: "ideal", type: "quantitative" }, color: { value: "black" } } },
    ],
  });
  const panels: Spec[] = [];
  if (values.some((row) => row.family === "ours")) panels.push(panel("ours", "ecc and raft (this project)"));
  if (values.some((row) => row.family === "peers")) panels.push(panel("peers", "peers, on their own axis"));
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle: "bars: memory Δ ÷ payload; black ticks: each target's ideal (n/k for ecc, the replica count otherwise)" },
    config: CONFIG,
    data: { values },
    vconcat: panels,
    resolve: { scale: { color: "shared" } },
  };
}

/**
 * Hit ratio at equal memory, for one group: per target the hit ratio (left panel), and the
 * keys each node held as bars with the keys its budget should hold as black ticks (right).
 */
export function cacheSpec(rows: CacheRow[], title: string): Spec | null {
  const values = rows
    .filter((row) => row.hitRatio !== null || row.measuredKeys !== null)
    .map((row) => ({ target: row.target, hitRatio: row.hitRatio, held: row.measuredKeys, predicted: row.predictedKeys }));
  if (values.length === 0) return null;
  const targets = values.map((row) => row.target);
  const x = { field: "target", type: "nominal", title: null, sort: targets, axis: { labelAngle: -30 } };
  const color = { field: "target", type: "nominal", title: "target", sort: targets, legend: null };
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle: "left: hit ratio; right: keys held per node (bars), keys predicted (black ticks)" },
    config: CONFIG,
    data: { values },
    hconcat: [
      {
        width: { step: 48 },
        height: 180,
        transform: [{ filter: "datum.hitRatio !== null" }],
        mark: { type: "bar" },
        encoding: {
          x,
          color,
          y: { field: "hitRatio", type: "quantitative", title: "hit ratio", scale: { domain: [0, 1] }, axis: { format: "%" } },
          tooltip: [{ field: "target" }, { field: "hitRatio", title: "hit ratio", format: ".3f" }],
        },
      },
      {
        width: { step: 48 },
        height: 180,
        encoding: { x },
        layer: [
          {
            transform: [{ filter: "datum.held !== null" }],
            mark: { type: "bar" },
            encoding: {
              color,
              y: { field: "held", type: "quantitative", title: "keys per node", scale: { zero: true } },
              tooltip: [{ field: "target" }, { field: "held", title: "keys held" }, { field: "predicted", title: "keys predicted" }],
            },
          },
          { mark: { type: "tick", thickness: 2.5, color: "black" }, encoding: { y: { field: "predicted", type: "quantitative" } } },
        ],
      },
    ],
    resolve: { scale: { color: "shared" } },
  };
}

/** Renders a Vega-Lite spec to an SVG document (headless, no canvas needed). */
export async function renderSvg(spec: Spec): Promise<string> {
  const compiled = vl.compile(spec as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
