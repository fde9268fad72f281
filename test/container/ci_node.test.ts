// CI runs the unit and simulator suites on Node 24 as well as on the machine's Node 20, and
// a failure there fails CI, while the last "N passed, N failed, N skipped" line of CI's
// output stays the whole suite's (`npm test`, the README's test command).
//
// Method (no network, no Docker; the real Node 24 run is `.ci/run` itself):
// - scripts/ci_node.sh runs with a given node binary: with this machine's node and one unit
//   test it passes and prints one result line; with a stand-in "node" whose suites fail it
//   exits 1, prints the failures and a FAILED line; neither prints a line shaped like the
//   test runner's closing line, so CI cannot mistake it for the whole suite's;
// - .ci/run runs in a scratch copy of the repository where its steps (npm, dpkg and the two
//   ci_*.sh scripts) are stand-ins that record their arguments: it asks ci_node.sh for the
//   unit and sim suites on Node 24 before `npm test`, exits non-zero when that step fails
//   (after running `npm test` all the same), and exits 0 when both pass.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO } from "./compose_support";

/** The closing line of scripts/run_tests.js, which CI reads. */
const SUMMARY_LINE = /^\d+ passed, \d+ failed, \d+ skipped$/;

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, ...options.env },
    encoding: "utf8",
    timeout: options.timeoutMs ?? 60_000,
  });
  assert.equal(result.error, undefined, String(result.error));
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, lines: `${result.stdout}\n${result.stderr}`.split("\n") };
}

function writeExecutable(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: 0o755 });
}

describe("CI on Node 24: scripts/ci_node.sh and .ci/run", function () {
  this.timeout(120_000);
  let dir = "";
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-ci-node-"));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("ci_node.sh: a passing run prints one result line and exits 0", () => {
    const log = path.join(dir, "suites.log");
    const result = run("bash", ["scripts/ci_node.sh", "--node-bin", process.execPath, "--log", log, "unit"], {
      env: { TEST_GREP: "round-trips every size with any n-k blobs missing" },
    });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`node ${process.version}: suites unit passed \\(1 passed / 0 failed / 0 skipped; log ${log}\\)`));
    assert.deepEqual(result.lines.filter((line) => SUMMARY_LINE.test(line)), []);
    assert.match(fs.readFileSync(log, "utf8"), /round-trips every size/);
  });

  it("ci_node.sh: failing suites exit 1 and show the failures", () => {
    const fakeNode = path.join(dir, "node");
    writeExecutable(
      fakeNode,
      [
        "#!/bin/sh",
        'if [ "$1" = --version ]; then echo v24.99.0; exit 0; fi',
        'echo "  suite"',
        'echo "    1) breaks on purpose"',
        'echo ""',
        'echo "  3 passing"',
        'echo "  1 failing"',
        'echo ""',
        'echo "  1) suite breaks on purpose:"',
        'echo "     Error: boom"',
        'echo ""',
        'echo "3 passed, 1 failed, 0 skipped"',
        "exit 1",
        "",
      ].join("\n"),
    );
    const result = run("bash", ["scripts/ci_node.sh", "--node-bin", fakeNode, "--log", path.join(dir, "suites.log"), "unit", "sim"]);
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /node v24\.99\.0: suites unit sim FAILED \(3 passed \/ 1 failed \/ 0 skipped; log /);
    assert.match(result.stderr, /1\) suite breaks on purpose:\n\s+Error: boom/);
    assert.deepEqual(result.lines.filter((line) => SUMMARY_LINE.test(line)), []);
  });

  it("ci_node.sh: usage errors exit 2", () => {
    assert.equal(run("bash", ["scripts/ci_node.sh"]).status, 2, "neither --major nor --node-bin");
    assert.equal(run("bash", ["scripts/ci_node.sh", "--major", "24", "--node-bin", process.execPath]).status, 2);
    assert.equal(run("bash", ["scripts/ci_node.sh", "--major", "x24"]).status, 2);
    assert.equal(run("bash", ["scripts/ci_node.sh", "--frobnicate"]).status, 2);
  });

  describe(".ci/run with its steps stood in for", () => {
    function ciRun(node24Status: number, testStatus: number) {
      const repo = path.join(dir, "repo");
      const bin = path.join(dir, "bin");
      const calls = path.join(dir, "calls");
      fs.mkdirSync(path.join(repo, ".ci"), { recursive: true });
      fs.copyFileSync(path.join(REPO, ".ci", "run"), path.join(repo, ".ci", "run"));
      const record = (name: string) => `echo "${name} $*" >> ${calls}`;
      writeExecutable(path.join(repo, "scripts", "ci_node.sh"), `#!/bin/sh\n${record("ci_node.sh")}\necho "ci_node: stand-in"\nexit ${node24Status}\n`);
      writeExecutable(path.join(repo, "scripts", "ci_docker.sh"), `#!/bin/sh\n${record("ci_docker.sh")}\nexit 0\n`);
      writeExecutable(path.join(bin, "dpkg"), "#!/bin/sh\nexit 0\n");
      writeExecutable(
        path.join(bin, "npm"),
        `#!/bin/sh\n${record("npm")}\nif [ "$1" = test ]; then echo "  ok"; echo "7 passed, ${testStatus === 0 ? 0 : 1} failed, 0 skipped"; exit ${testStatus}; fi\n[ "$1" = --version ] && echo 11.0.0\nexit 0\n`,
      );
      const result = run("bash", [path.join(repo, ".ci", "run")], { cwd: dir, env: { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}` } });
      const steps = fs.readFileSync(calls, "utf8").trim().split("\n");
      return { ...result, steps };
    }

    it("runs the unit and sim suites on Node 24 before npm test; both pass: exit 0", () => {
      const result = ciRun(0, 0);
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const node24 = result.steps.findIndex((step) => step === "ci_node.sh --major 24 unit sim");
      const npmTest = result.steps.findIndex((step) => step === "npm test");
      assert.ok(node24 >= 0, `ci_node.sh --major 24 unit sim is not among the steps: ${result.steps.join("; ")}`);
      assert.ok(npmTest > node24, `npm test must come after the Node 24 run: ${result.steps.join("; ")}`);
      const summaries = result.lines.filter((line) => SUMMARY_LINE.test(line));
      assert.deepEqual(summaries, ["7 passed, 0 failed, 0 skipped"]);
    });

    it("a Node 24 failure fails CI, after npm test has run and printed the last summary line", () => {
      const result = ciRun(1, 0);
      assert.notEqual(result.status, 0, "a failing Node 24 run must fail CI");
      assert.ok(result.steps.includes("npm test"), `npm test still runs: ${result.steps.join("; ")}`);
      assert.deepEqual(result.lines.filter((line) => SUMMARY_LINE.test(line)), ["7 passed, 0 failed, 0 skipped"]);
      assert.match(result.stdout + result.stderr, /node 24/i);
    });

    it("a failing npm test fails CI", () => {
      const result = ciRun(0, 1);
      assert.notEqual(result.status, 0);
    });
  });
});
