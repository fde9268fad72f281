#!/usr/bin/env node
// Reproduces report/ end to end: runs the reference scenario (bench/reference.json: every
// target, workloads A/B/C, 1 KiB and 100 B, steady and with a node killed; the headline
// group B 1 KiB steady three times), writes the raw results to report/reference.json and
// renders report/README.md + report/charts/. Prints how long it took. Run from a checkout
// after `npm ci` (as root for per-node cgroups; etcd and Redis from Debian's packages).
"use strict";
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const started = Date.now();
const result = spawnSync(
  process.execPath,
  [path.join(root, "dist", "src", "cli", "main.js"), "bench", "--scenario", "bench/reference.json", "--out", "report/reference.json", "--report", "report"],
  { cwd: root, stdio: "inherit" },
);
// report/README.md is the page GitHub shows for the folder: the same report, headline first.
const fs = require("node:fs");
if (result.status === 0) fs.renameSync(path.join(root, "report", "report.md"), path.join(root, "report", "README.md"));
const seconds = Math.round((Date.now() - started) / 1000);
console.log(`report:reference finished in ${Math.floor(seconds / 60)} min ${seconds % 60} s (exit ${result.status})`);
process.exit(result.status ?? 1);
