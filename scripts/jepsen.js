#!/usr/bin/env node
// Thin launcher: `node scripts/jepsen.js --mode ecc --time 60` runs the compiled runner
// (build first: npx tsc -p tsconfig.json, or use `npm run jepsen -- ...`, which builds).
"use strict";
const path = require("node:path");
const fs = require("node:fs");
const main = path.resolve(__dirname, "..", "dist", "src", "jepsen", "main.js");
if (!fs.existsSync(main)) {
  console.error(`${main} not found: build first (npx tsc -p tsconfig.json)`);
  process.exit(2);
}
require(main).runAsProcess(process.argv);
