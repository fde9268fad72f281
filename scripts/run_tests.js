#!/usr/bin/env node
// Runs the compiled mocha suites and ends with one plain line: `N passed, N failed, N skipped`.
// Usage: node scripts/run_tests.js [suite...]   suites: unit sim integration container
// (default: all). Build first (npm run build); tests run from dist/.
"use strict";
const path = require("node:path");
const fs = require("node:fs");
const mochaModule = require("mocha");
const Mocha = mochaModule.Mocha ?? mochaModule.default ?? mochaModule;

const root = path.resolve(__dirname, "..");
const suites = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const grep = process.env.TEST_GREP;
const wanted = suites.length > 0 ? suites : ["unit", "sim", "integration", "container"];
const mocha = new Mocha({ reporter: "spec", timeout: 120_000, slow: 2_000, grep });

function walk(dir, out) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.name.endsWith(".test.js")) out.push(full);
  }
  return out;
}
let files = [];
for (const suite of wanted) files = files.concat(walk(path.join(root, "dist", "test", suite), []).sort());
if (files.length === 0) {
  console.error("no compiled tests found under dist/test; run `npm run build` first");
  console.log("0 passed, 1 failed");
  process.exit(1);
}
for (const f of files) mocha.addFile(f);

let passed = 0;
let failed = 0;
let skipped = 0;
mocha
  .loadFilesAsync()
  .then(() => {
    const runner = mocha.run((failures) => {
      console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
      process.exitCode = failures > 0 || failed > 0 ? 1 : 0;
      // Leftover handles (a test's child or socket) must not keep CI waiting.
      setTimeout(() => process.exit(process.exitCode), 500).unref();
    });
    runner.on("pass", () => passed++);
    runner.on("fail", () => failed++);
    runner.on("pending", () => skipped++);
  })
  .catch((error) => {
    console.error(error);
    console.log(`${passed} passed, ${failed + 1} failed, ${skipped} skipped`);
    process.exit(1);
  });
