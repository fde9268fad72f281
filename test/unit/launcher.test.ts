// The process launcher (src/core/launcher.ts) and the supervisor watch
// (src/core/supervisor_watch.ts), on small real `node -e` processes.
// Properties: readiness comes from a line or a probe, and a wait ends with a clear error
// (quoting the last output) when the process exits first, cannot start, or is too slow;
// stop escalates to SIGKILL after the grace period and stops a paused process too; cgroup
// placement writes the process's own PID into the procs file and keeps that PID; only a
// supervised process gets the watch, and it exits once its supervisor was SIGKILLed; a bad
// watch variable is a configuration error. Every process is stopped by PID, every wait bounded.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, UnavailableError } from "../../src/core/errors";
import { LaunchedProcess, killAllLaunchedSync, launch, launchedCount } from "../../src/core/launcher";
import { SUPERVISOR_FD_ENV, exitWithSupervisor } from "../../src/core/supervisor_watch";
import { processGone, waitUntil } from "../support/processes";

const WAIT_MS = 10_000;

function nodeScript(name: string, script: string, options: { supervised?: boolean; env?: NodeJS.ProcessEnv; procsFile?: string } = {}): LaunchedProcess {
  return launch({ name, command: process.execPath, args: ["-e", script], ...options });
}

describe("launcher", function () {
  this.timeout(30_000);
  const started: LaunchedProcess[] = [];
  const track = (launched: LaunchedProcess): LaunchedProcess => {
    started.push(launched);
    return launched;
  };
  afterEach(async () => {
    await Promise.all(started.map((launched) => launched.stop("SIGKILL")));
    started.length = 0;
  });

  it("is ready at a matching line, keeps the output's last lines, and stops by SIGTERM", async () => {
    const launched = track(nodeScript("liner", 'console.log("starting"); setTimeout(() => console.error("READY now"), 50); setInterval(() => {}, 1000);'));
    await launched.waitReady({ line: /READY/ }, WAIT_MS);
    assert.deepEqual(launched.tail, ["starting", "READY now"]);
    assert.ok(launched.running);
    assert.deepEqual(await launched.stop("SIGTERM", WAIT_MS), { code: null, signal: "SIGTERM" });
    assert.ok(!launched.running);
  });

  it("is ready when the probe answers true; a probe that throws means not yet", async () => {
    const launched = track(nodeScript("probed", "setInterval(() => {}, 1000);"));
    let calls = 0;
    await launched.waitReady(
      {
        probe: async () => {
          calls++;
          if (calls === 1) throw new Error("connection refused");
          return calls >= 3;
        },
        probePeriodMs: 10,
      },
      WAIT_MS,
    );
    assert.equal(calls, 3);
  });

  it("a process that exits before it is ready: UnavailableError with its exit and last output", async () => {
    const launched = track(nodeScript("quitter", 'console.error("bad config: k > n"); process.exit(4);'));
    await assert.rejects(launched.waitReady({ line: /READY/ }, WAIT_MS), (error: Error) => {
      assert.ok(error instanceof UnavailableError);
      assert.match(error.message, /quitter exited before it was ready \(code 4\); last output: bad config: k > n/);
      return true;
    });
  });

  it("a process that is not ready in time: UnavailableError naming the time", async () => {
    const launched = track(nodeScript("sleeper", 'console.log("still booting"); setInterval(() => {}, 1000);'));
    // Once it printed (a loaded machine may take longer than the deadline to start node).
    await launched.waitReady({ line: /still booting/ }, WAIT_MS);
    await assert.rejects(launched.waitReady({ line: /READY/ }, 300), /sleeper not ready within 300 ms; last output: still booting/);
  });

  it("a command that cannot start: the exit says why and the wait fails at once", async () => {
    const launched = launch({ name: "missing", command: "/nonexistent/ecc-cache-test-binary", args: [] });
    await assert.rejects(launched.waitReady({ line: /READY/ }, WAIT_MS), /missing exited before it was ready \(could not start: .*ENOENT/);
    assert.equal((await launched.exited).spawnError !== undefined, true);
  });

  it("stop escalates to SIGKILL after the grace period for a process that ignores SIGTERM", async () => {
    const launched = track(nodeScript("stubborn", 'process.on("SIGTERM", () => console.log("ignored")); console.log("up"); setInterval(() => {}, 1000);'));
    await launched.waitReady({ line: /^up$/ }, WAIT_MS);
    assert.deepEqual(await launched.stop("SIGTERM", 200), { code: null, signal: "SIGKILL" });
  });

  it("stop reaches a paused process (SIGCONT first), well within the grace period", async () => {
    const launched = track(nodeScript("paused", 'console.log("up"); setInterval(() => {}, 1000);'));
    await launched.waitReady({ line: /^up$/ }, WAIT_MS);
    assert.ok(launched.pause());
    assert.ok(launched.paused);
    assert.deepEqual(await launched.stop("SIGTERM", WAIT_MS), { code: null, signal: "SIGTERM" });
    assert.ok(!launched.paused);
  });

  it("cgroup placement: the process writes its own PID into the procs file and keeps that PID", async () => {
    const procsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "launcher-test-")), "cgroup.procs");
    fs.writeFileSync(procsFile, "");
    try {
      const launched = track(nodeScript("placed", 'console.log("pid " + process.pid); setInterval(() => {}, 1000);', { procsFile }));
      await launched.waitReady({ line: /^pid \d+$/ }, WAIT_MS);
      assert.equal(launched.tail[0], `pid ${launched.pid}`);
      assert.equal(fs.readFileSync(procsFile, "utf8").trim(), String(launched.pid));
    } finally {
      fs.rmSync(path.dirname(procsFile), { recursive: true, force: true });
    }
  });

  it("only a supervised process is told about the watch, whatever the caller's environment says", async () => {
    const script = `console.log("fd=" + (process.env.${SUPERVISOR_FD_ENV} ?? "none")); setInterval(() => {}, 1000);`;
    const supervised = track(nodeScript("supervised", script));
    const unsupervised = track(nodeScript("unsupervised", script, { supervised: false, env: { ...process.env, [SUPERVISOR_FD_ENV]: "3" } }));
    await supervised.waitReady({ line: /^fd=/ }, WAIT_MS);
    await unsupervised.waitReady({ line: /^fd=/ }, WAIT_MS);
    assert.deepEqual(supervised.tail, ["fd=3"]);
    assert.deepEqual(unsupervised.tail, ["fd=none"]);
  });

  it("a supervised process exits once its supervisor was killed with SIGKILL", async () => {
    // The supervisor is a node process that launches one watched child and prints its PID;
    // the child stops on SIGTERM the way a node does.
    const launcherModule = JSON.stringify(require.resolve("../../src/core/launcher"));
    const watchModule = JSON.stringify(require.resolve("../../src/core/supervisor_watch"));
    const child = `require(${watchModule}).exitWithSupervisor(); process.once("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000);`;
    const supervisorScript =
      `const child = require(${launcherModule}).launch({ name: "child", command: process.execPath, args: ["-e", ${JSON.stringify(child)}] });` +
      ` console.log("child " + child.pid); setInterval(() => {}, 1000);`;
    const supervisor = track(nodeScript("supervisor", supervisorScript));
    await supervisor.waitReady({ line: /^child \d+$/ }, WAIT_MS);
    const childPid = Number(supervisor.tail[0].split(" ")[1]);
    try {
      assert.ok(!processGone(childPid));
      await supervisor.stop("SIGKILL");
      await waitUntil(() => processGone(childPid), WAIT_MS, `watched child ${childPid} exits after its supervisor`);
    } finally {
      if (!processGone(childPid)) process.kill(childPid, "SIGKILL");
    }
  });

  it("killAllLaunchedSync kills every launched process still running", async () => {
    const launched = [track(nodeScript("a", "setInterval(() => {}, 1000);")), track(nodeScript("b", "setInterval(() => {}, 1000);"))];
    assert.ok(launchedCount() >= 2);
    assert.ok(killAllLaunchedSync() >= 2);
    for (const one of launched) assert.equal((await one.exited).signal, "SIGKILL");
  });
});

describe("supervisor watch", () => {
  it("is off without the variable (a node started by hand)", () => {
    assert.equal(exitWithSupervisor({}), false);
    assert.equal(exitWithSupervisor({ [SUPERVISOR_FD_ENV]: "" }), false);
  });

  it("a variable that is not a descriptor number, or names no open pipe, is a configuration error", () => {
    assert.throws(() => exitWithSupervisor({ [SUPERVISOR_FD_ENV]: "three" }), (error: Error) => error instanceof ConfigError && /must be a file descriptor number/.test(error.message));
    assert.throws(() => exitWithSupervisor({ [SUPERVISOR_FD_ENV]: "987" }), (error: Error) => error instanceof ConfigError && /not a pipe from a supervisor/.test(error.message));
  });
});
