#!/usr/bin/env node
// Reproduces report/ end to end: runs the reference scenario (bench/reference.json: every
// target, workloads A/B/C, 1 KiB and 100 B, steady and with node1 killed and restarted inside
// a time-based measured phase; the headline group B 1 KiB steady three times; the cache group:
// ecc(5,3), ecc(3,2), raft(3), raft(5) and redis 1+2 at the same total memory under the cache
// workload, for the report's "hit ratio at equal memory"), writes the raw
// results to report/reference.json and renders report/README.md + report/charts/ from them.
// Prints how long it took. Run from a checkout after `npm ci` (as root for per-node cgroups;
// etcd and Redis from Debian's packages).
//
//   node scripts/report_reference.js            bench + render (npm run report:reference)
//   node scripts/report_reference.js --render   render only, from the committed report/reference.json
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const cli = path.join(root, "dist", "src", "cli", "main.js");
const started = Date.now();
const run = (args) => spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: ["ignore", "inherit", "inherit"] }).status ?? 1;

let status = process.argv.includes("--render") ? 0 : run(["bench", "--scenario", "bench/reference.json", "--out", "report/reference.json"]);
// The bench exits 3 when a run failed; its results are still written and worth rendering.
if (fs.existsSync(path.join(root, "report", "reference.json")) && (status === 0 || status === 3)) {
  const rendered = run(["report", "report/reference.json", "--out", "report", "--reproduce", "npm run report:reference"]);
  // report/README.md is the page GitHub shows for the folder.
  if (rendered === 0) fs.renameSync(path.join(root, "report", "report.md"), path.join(root, "report", "README.md"));
  status = status === 0 ? rendered : status;
}
const seconds = Math.round((Date.now() - started) / 1000);
console.error(`report:reference finished in ${Math.floor(seconds / 60)} min ${seconds % 60} s (exit ${status})`);
process.exit(status);
