// Vega-Lite chart specs built from result runs (pure: data in, spec out), and rendering to
// SVG in Node (vega-lite compiles to a Vega spec; a headless Vega View renders it).
import * as vega from "vega";
import * as vl from "vega-lite";
import { decodeHistogram, cdfPoints } from "../bench/histogram";
import { BenchRun } from "../bench/results";
import { RunSummaryRow } from "./analysis";

type Spec = Record<string, unknown>;
const MIB = 1024 * 1024;
const MEMORY_HEIGHT = 180;
const THROUGHPUT_HEIGHT = 90;
const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";
const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
const CONFIG = { font: FONT, view: { stroke: "#ddd" }, axis: { labelFontSize: 10, titleFontSize: 11 }, legend: { labelFontSize: 10 } };

/** Failure and crash events of a run (shown as vertical rules), time in ms since the run origin. */
export function failureEvents(run: BenchRun): Array<{ tMs: number; label: string }> {
  return run.events
    .filter((event) => /^failure\.(kill|stop|pause|resume|restart)$/.test(event.type) || event.type === "cluster.log")
    .map((event) => ({ tMs: event.tMs, label: `${event.type.replace(/^failure\./, "").replace("cluster.log", "log")} ${event.node ?? ""}`.trim() }));
}

/** Memory over time: one panel per target, one line per node (solid: memory, dashed: logical bytes). */
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
  if (rows.some((row) => row.layer === "event")) {
    layers.push(
      {
        transform: [{ filter: "datum.layer === 'event'" }],
        mark: { type: "rule", color: "#d62728", strokeWidth: 1.5 },
        encoding: { x: { field: "t", type: "quantitative" }, tooltip: { field: "label" } },
      },
      {
        transform: [{ filter: "datum.layer === 'event'" }],
        mark: { type: "text", color: "#d62728", angle: 270, align: "left", dx: 4, dy: -3, fontSize: 9 },
        encoding: { x: { field: "t", type: "quantitative" }, y: { value: MEMORY_HEIGHT }, text: { field: "label" } },
      },
    );
  }
  return {
    $schema: SCHEMA,
    title: `${title} (solid: memory, dashed: logical bytes; grey rules: preload, measure begin/end)`,
    config: CONFIG,
    data: { values: rows },
    facet: { column: { field: "target", type: "nominal", title: null, sort: panels } },
    resolve: { scale: { x: "independent" } },
    spec: { width: panels.length > 3 ? 200 : 260, height: MEMORY_HEIGHT, layer: layers },
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
 * Throughput (and errors) per second of the measured phase, one panel per target (each with
 * its own y scale: redis and a Raft cluster differ by orders of magnitude), failure events
 * marked as red rules.
 */
export function throughputSpec(runs: BenchRun[], title: string): Spec | null {
  const rows: Array<Record<string, unknown>> = [];
  for (const run of runs) {
    const measured = run.measured;
    if (measured === null) continue;
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
      const value = Math.round(bucket.ops * perSecond);
      rows.push({ layer: "ops", target: run.target.label, t: bucket.startMs / 1000, value });
      // Close the last step at the end of the run, so every bucket is drawn over its length.
      if (index === buckets.length - 1) rows.push({ layer: "ops", target: run.target.label, t: (bucket.startMs + bucket.durationMs) / 1000, value });
      if (bucket.errors > 0) rows.push({ layer: "errors", target: run.target.label, t: (bucket.startMs + bucket.durationMs / 2) / 1000, value: Math.round(bucket.errors * perSecond) });
    }
    for (const event of failureEvents(run)) {
      const t = (event.tMs - measured.startMs) / 1000;
      if (t >= 0 && t <= measured.durationMs / 1000 + 1) rows.push({ layer: "event", target: run.target.label, t, label: event.label });
    }
  }
  if (!rows.some((row) => row.layer === "ops")) return null;
  // Layers with no rows are left out: an empty layer breaks Vega's layout.
  const layers: Spec[] = [
    {
      transform: [{ filter: "datum.layer === 'ops'" }],
      mark: { type: "line", strokeWidth: 1.5, interpolate: "step-after", color: "#4c78a8" },
      encoding: { y: { field: "value", type: "quantitative", title: "ops/s" } },
    },
  ];
  if (rows.some((row) => row.layer === "errors")) {
    layers.push({
      transform: [{ filter: "datum.layer === 'errors'" }],
      mark: { type: "point", shape: "cross", size: 60, filled: true, color: "#d62728" },
      encoding: { y: { field: "value", type: "quantitative" }, tooltip: [{ field: "value", title: "errors/s" }] },
    });
  }
  if (rows.some((row) => row.layer === "event")) {
    layers.push(
      {
        transform: [{ filter: "datum.layer === 'event'" }],
        mark: { type: "rule", strokeDash: [4, 2], strokeWidth: 1.5, color: "#d62728" },
        encoding: {},
      },
      {
        transform: [{ filter: "datum.layer === 'event'" }],
        mark: { type: "text", align: "left", baseline: "top", dx: 3, dy: 3, fontSize: 9, color: "#d62728" },
        encoding: { y: { value: 0 }, text: { field: "label" } },
      },
    );
  }
  return {
    $schema: SCHEMA,
    title: `${title} (line: ok ops/s; red crosses: errors/s; red rules: failures)`,
    config: CONFIG,
    data: { values: rows },
    facet: { row: { field: "target", type: "nominal", title: null, sort: runs.map((run) => run.target.label), header: { labelAngle: 0, labelAlign: "left" } } },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 560,
      height: THROUGHPUT_HEIGHT,
      encoding: { x: { field: "t", type: "quantitative", title: "time since the measured phase began (s)" } },
      layer: layers,
    },
  };
}

/** Memory overhead ratio per target and group, with each target's ideal as a tick. */
export function overheadSpec(rows: RunSummaryRow[], title: string): Spec | null {
  const values = rows
    .filter((row) => row.overheadRatio !== null)
    .map((row) => ({ group: row.group, target: row.target, ratio: row.overheadRatio, ideal: row.idealOverhead, logical: row.logicalRatio }));
  if (values.length === 0) return null;
  const targets = [...new Set(values.map((row) => row.target))];
  return {
    $schema: SCHEMA,
    title,
    config: CONFIG,
    data: { values },
    width: { step: 22 },
    height: 220,
    encoding: {
      x: { field: "group", type: "nominal", title: "workload group", axis: { labelAngle: -30 } },
      xOffset: { field: "target", type: "nominal", sort: targets },
      color: { field: "target", type: "nominal", title: "target", sort: targets },
    },
    layer: [
      { mark: { type: "bar" }, encoding: { y: { field: "ratio", type: "quantitative", title: "memory delta ÷ payload" }, tooltip: [{ field: "target" }, { field: "ratio", format: ".2f" }] } },
      // The ideal in black: the bar's colour would hide a tick drawn inside it.
      { mark: { type: "tick", thickness: 2.5 }, encoding: { y: { field: "ideal", type: "quantitative" }, color: { value: "black" }, tooltip: [{ field: "target" }, { field: "ideal", title: "ideal", format: ".2f" }] } },
    ],
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
