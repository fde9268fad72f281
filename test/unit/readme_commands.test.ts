// The README's commands must give clean stdout (issue 20): `npm run cli -- ...` prints npm's
// "> ecc-cache@... cli" banner on stdout, so `npm run cli -- ecc client get photo > out.bin`
// writes a corrupt file. Method: scan the code blocks of every README (the commands a reader
// copies; prose may name the pitfall) for the banner form; the clean forms are
// `npx ecc-cache ...`, `ecc-cache ...` and `npm run -s cli -- ...` (checked to be clean by
// test/integration/ecc_cli.test.ts).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..", "..");

describe("README commands", () => {
  for (const file of ["README.md", "docker/README.md"]) {
    it(`${file} never runs the CLI through npm with its banner on stdout`, () => {
      let inCode = false;
      const banner = fs
        .readFileSync(path.join(ROOT, file), "utf8")
        .split("\n")
        .map((line, index) => {
          if (line.startsWith("```")) inCode = !inCode;
          return { line, number: index + 1, inCode };
        })
        .filter(({ line, inCode: code }) => code && /npm run (?!-s )cli\b/.test(line))
        .map(({ line, number }) => ({ line, number }));
      assert.deepEqual(banner, [], "use `npx ecc-cache ...` or `npm run -s cli -- ...`");
    });
  }
});
