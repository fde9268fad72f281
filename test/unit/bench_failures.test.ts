// Failure schedules and scenario files (src/bench/failures.ts, runner.ts, scenario.ts).
// Checks: failure specs parse (op and time triggers, +duration follow-ups) and bad ones are
// refused with a reason; run against an in-process fake cluster whose writes fail while a
// node is down, a `kill:node1@op=300+40ms` kills before the 300th measured operation and
// restarts 40 ms later, the errors are counted (not hidden) with timestamps and folded into
// a write-unavailability window between the kill and the restart (and the longest write gap
// covers it), reads stay available, and
// a trigger beyond the run is reported as not reached; failures naming a node the target
// lacks skip the run with the reason; a target kind the registry lacks is skipped with the
// reason. bench/reference.json parses and expands to the documented matrix, every target of
// it is built, its failure runs are time-based with the restart well inside, and its headline
// group runs three times; its cache matrix runs every cache target at one total memory.
// Repeats: a repeated group runs all its targets for
// round 1, then all for round 2 (interleaved), names gain -r<i> from round 2 on and stay
// unique; a repeat group the matrix does not produce is refused with the groups it has.
// Time-based phases: an op-count phase that ends before a +D restart cancels it (and the
// bench says so); a phase with a duration keeps measuring until its end, so the kill, the
// restart and the restarted node's new baseline reading all fall inside it; a schedule whose
// time trigger or follow-up would fall outside the duration is refused before any run.
import assert from "node:assert/strict";
import path from "node:path";
import { failureOutsideWindow, followUpOf, parseDurationMs, parseFailure } from "../../src/bench/failures";
import { lookupTarget } from "../../src/bench/registry";
import { MatrixInput, REPEAT_NONE, expandMatrices, expandMatrix, loadScenario, parseScenario, targetSlug } from "../../src/bench/scenario";
import { parseTargetSpec } from "../../src/bench/target";
import { InvalidArgumentError } from "../../src/core/errors";
import { sampleResults } from "../fixtures/bench/sample_results";

const REFERENCE = path.resolve(__dirname, "..", "..", "..", "bench", "reference.json");

describe("bench failures and scenarios", function () {
  this.timeout(30_000);

  it("parses failure specs", () => {
    assert.deepEqual(parseFailure("kill:node1@op=5000"), { action: "kill", node: "node1", at: { op: 5000 }, text: "kill:node1@op=5000" });
    assert.deepEqual(parseFailure("pause:node2@t=3s+1.5s"), { action: "pause", node: "node2", at: { ms: 3000 }, forMs: 1500, text: "pause:node2@t=3s+1.5s" });
    assert.deepEqual(parseFailure("restart:node0@t=250ms").at, { ms: 250 });
    assert.equal(parseDurationMs("1m"), 60_000);
    assert.equal(followUpOf("kill"), "restart");
    assert.equal(followUpOf("pause"), "resume");
    assert.throws(() => parseFailure("explode:node1@op=5"), /unknown action/);
    assert.throws(() => parseFailure("kill:node1@op=x"), /not a whole number|expected/);
    assert.throws(() => parseFailure("kill:node1"), /expected ACTION:NODE/);
    assert.throws(() => parseFailure("resume:node1@op=5+2s"), /applies to kill, stop and pause/);
  });

  it("kills and restarts on schedule; errors are counted with times and folded into unavailability", async () => {
    const results = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], workloads: ["A"], failures: ["kill:node1@op=300+40ms", "pause:node2@op=100000"], ops: 2_000, delayMs: 1 });
    const run = results.runs[0];
    assert.equal(run.status, "ok", run.reason);
    const types = run.events.map((event) => event.type);
    const kill = run.events.find((event) => event.type === "failure.kill")!;
    const restart = run.events.find((event) => event.type === "failure.restart")!;
    assert.ok(kill !== undefined && restart !== undefined, types.join(", "));
    assert.equal(kill.node, "node1");
    assert.ok(restart.tMs - kill.tMs >= 35, `restart ${restart.tMs - kill.tMs} ms after the kill`);
    assert.ok(types.includes("failure.kill.done") && types.includes("failure.restart.done"));
    assert.ok(run.events.some((event) => event.type === "failure.not_reached" && event.detail === "pause:node2@op=100000"));
    const measured = run.measured!;
    assert.ok(measured.errors > 0, "writes failed while node1 was down");
    assert.equal(measured.okOps + measured.errors, 2_000);
    assert.ok(measured.errorClasses.every((error) => error.kind === "update"), "only writes fail");
    assert.match(measured.errorClasses[0].message, /node down: nodeN \(write of keyN refused\)/, "messages grouped into classes");
    assert.match(measured.errorSamples[0].message, /node down: node1 \(write of key\d+ refused\)/, "samples keep the exact message");
    assert.ok(measured.errorSamples[0].tMs >= kill.tMs - 1);
    const windows = measured.unavailability;
    assert.ok(windows.length >= 1 && windows.every((window) => window.kind === "write"), JSON.stringify(windows));
    assert.equal(windows.reduce((total, window) => total + window.errors, 0), measured.errors);
    assert.ok(windows[0].startMs >= kill.tMs - 1 && windows[windows.length - 1].endMs >= restart.tMs - 1);
    assert.ok(measured.timeline.some((bucket) => bucket.errors > 0));
    const writeGap = measured.longestGaps.find((gap) => gap.kind === "write")!;
    assert.ok(writeGap.endMs - writeGap.startMs >= 30, `longest write gap ${JSON.stringify(writeGap)} covers the 40 ms outage`);
    assert.deepEqual(measured.longestGaps.map((gap) => gap.kind), ["read", "write"]);
  });

  it("an op-count phase that ends first cancels the restart; a time-based phase holds kill, restart and the new baseline", async () => {
    const short = (await sampleResults({ targets: ["fake:nodes=3,replicas=3"], workloads: ["A"], failures: ["kill:node1@op=50+400ms"], ops: 300 })).runs[0];
    assert.equal(short.status, "ok", short.reason);
    assert.ok(short.events.some((event) => event.type === "failure.cancelled" && event.node === "node1"), "the restart was cancelled");
    assert.ok(!short.events.some((event) => event.type === "failure.restart"));

    const results = await sampleResults({ targets: ["fake:nodes=3,replicas=3"], workloads: ["A"], failures: ["kill:node1@t=100ms+200ms"], durationMs: 600, delayMs: 1 });
    const run = results.runs[0];
    assert.equal(run.status, "ok", run.reason);
    assert.equal(run.workload.durationMs, 600);
    assert.equal(run.workload.ops, null, "a time-based run records no planned op count");
    const measured = run.measured!;
    assert.ok(measured.durationMs >= 600 && measured.durationMs < 600 + 500, `measured for ${measured.durationMs} ms`);
    assert.equal(measured.ops, measured.okOps + measured.errors);
    assert.ok(measured.ops > 100, `${measured.ops} operations`);
    const at = (type: string): number => {
      const event = run.events.find((candidate) => candidate.type === type && candidate.node === "node1");
      assert.ok(event !== undefined, `${type} in ${run.events.map((e) => e.type).join(", ")}`);
      return event.tMs;
    };
    for (const type of ["failure.kill", "failure.kill.done", "failure.restart", "failure.restart.done"]) {
      assert.ok(at(type) >= measured.startMs && at(type) <= measured.endMs, `${type} at ${at(type)} inside ${measured.startMs}..${measured.endMs}`);
    }
    assert.ok(!run.events.some((event) => event.type === "failure.cancelled"));
    assert.ok(measured.unavailability.some((window) => window.kind === "write" && !window.ongoing), "writes came back before the end");
    const restarts = run.memory!.restarts;
    assert.deepEqual(restarts.map((restart) => restart.node), ["node1"]);
    assert.ok(restarts[0].tMs >= at("failure.restart.done") - 1 && restarts[0].tMs <= measured.endMs);
    assert.ok(restarts[0].reading.memory.reported !== undefined, "the new process's memory was read");
  });

  it("refuses a time-based schedule whose trigger or follow-up falls outside the duration", () => {
    assert.equal(failureOutsideWindow(parseFailure("kill:node1@t=3s+3s"), 15_000), null);
    assert.equal(failureOutsideWindow(parseFailure("kill:node1@op=5000+3s"), 1_000), null, "op triggers cannot be checked before the run");
    assert.match(failureOutsideWindow(parseFailure("kill:node1@t=3s+3s"), 5_000)!, /its restart at 6 s falls after the 5 s measured phase ends/);
    assert.match(failureOutsideWindow(parseFailure("pause:node2@t=8s"), 5_000)!, /fires at 8 s, after the 5 s measured phase ends/);
    assert.throws(
      () => expandMatrix({ ...small, variants: [{ name: "kill", failures: [parseFailure("kill:node1@t=3s+3s")], durationMs: 5_000 }] }),
      (error: Error) => error instanceof InvalidArgumentError && /^variant kill: failure 'kill:node1@t=3s\+3s': its restart at 6 s/.test(error.message),
    );
    const runs = expandMatrix({ ...small, variants: [{ name: "steady", failures: [] }, { name: "kill", failures: [parseFailure("kill:node1@t=3s+3s")], durationMs: 10_000 }] });
    assert.deepEqual([...new Set(runs.map((run) => `${run.variant} ${run.durationMs}`))], ["steady null", "kill 10000"]);
    const file = { name: "t", targets: ["ecc:n=3,k=2"], workloads: ["A"], valueBytes: ["1KiB"], concurrency: [64], ops: 100, keys: 100 };
    const timed = parseScenario({ ...file, duration: "4s", variants: [{ name: "steady", failures: [] }, { name: "kill", failures: ["kill:node1@t=1s+1s"], duration: "9s" }] }, "t.json");
    assert.deepEqual(timed.matrix.variants.map((variant) => variant.durationMs), [4_000, 9_000]);
    assert.throws(() => parseScenario({ ...file, variants: [{ name: "kill", failures: ["kill:node1@t=1s+1s"], duration: "1500ms" }] }, "t.json"), /scenario t\.json: variant kill: .*its restart at 2 s/);
  });

  it("skips a run whose failures name a node the target does not have", async () => {
    const results = await sampleResults({ targets: ["other:nodes=2"], failures: ["kill:node5@op=10"] });
    assert.equal(results.runs[0].status, "skipped");
    assert.match(results.runs[0].reason!, /no node node5/);
  });

  it("reports unavailable and unknown targets as skipped with the reason", async () => {
    const results = await sampleResults({ targets: ["fake:unavailable=1", "raft:nodes=3"] });
    assert.deepEqual(
      results.runs.map((run) => [run.status, run.reason]),
      [
        ["skipped", "fake binary not installed"],
        ["skipped", "target 'raft' is not built in this version"],
      ],
    );
  });

  it("bench/reference.json expands to targets × variants × workloads × sizes, its headline group 3 times", () => {
    const scenario = loadScenario(REFERENCE);
    const runs = expandMatrix(scenario.matrix);
    const { matrix } = scenario;
    const cells = matrix.variants.length * matrix.workloads.length * matrix.valueSizes.length * matrix.concurrencies.length;
    assert.deepEqual(matrix.repeat, { groups: ["B-1KiB-c64-steady"], times: 3 });
    assert.equal(runs.length, matrix.targets.length * (cells + 2), "one group runs twice more");
    assert.deepEqual(
      matrix.targets.map((spec) => parseTargetSpec(spec).kind),
      ["ecc", "ecc", "raft", "raft", "etcd", "redis", "redis"],
    );
    assert.deepEqual(matrix.workloads.map((w) => w.name), ["A", "B", "C"]);
    assert.equal(matrix.ops, 10_000);
    assert.deepEqual(matrix.valueSizes, [{ kind: "fixed", bytes: 1024 }, { kind: "fixed", bytes: 100 }]);
    assert.ok(matrix.variants.some((variant) => variant.failures.length === 1));
    // Failure runs are time-based, with the kill and the restart inside the phase (expandMatrix
    // refuses a schedule that is not), and long enough after the restart for a recovery.
    for (const variant of matrix.variants.filter((candidate) => candidate.failures.length > 0)) {
      assert.ok(variant.durationMs !== null && variant.durationMs !== undefined, `${variant.name} is time-based`);
      for (const failure of variant.failures) {
        assert.ok("ms" in failure.at, `${failure.text}: a time trigger`);
        assert.ok(variant.durationMs - (failure.at.ms + (failure.forMs ?? 0)) >= 8_000, `${failure.text}: 8 s or more after the restart`);
      }
    }
    assert.equal(matrix.variants.find((variant) => variant.failures.length === 0)!.durationMs ?? null, null, "steady runs stay 10,000 operations");
    assert.equal(new Set(runs.map((run) => run.name)).size, runs.length, "run names are unique");
    assert.equal(targetSlug("ecc:n=3,k=2"), "ecc-k2n3");
    assert.equal(targetSlug("ecc:k=2,n=3"), "ecc-k2n3");
    for (const kind of new Set(matrix.targets.map((spec) => parseTargetSpec(spec).kind))) {
      const found = lookupTarget(kind);
      assert.ok("target" in found, `${kind}: ${"missing" in found ? found.missing : ""}`);
    }
    // Every round of every group compares every target.
    const rounds = new Map<string, number>();
    for (const run of runs) rounds.set(`${run.group} r${run.repeat}`, (rounds.get(`${run.group} r${run.repeat}`) ?? 0) + 1);
    assert.equal(rounds.size, cells + 2);
    for (const count of rounds.values()) assert.equal(count, matrix.targets.length);

    // The cache comparison (issue 16): one more matrix, every cache target at the same total memory.
    assert.equal(scenario.matrices.length, 2);
    const cache = scenario.matrices[1];
    assert.deepEqual(cache.targets, ["ecc:n=5,k=3", "ecc:n=3,k=2", "raft:nodes=3", "raft:nodes=5", "redis:replicas=2"]);
    assert.deepEqual(cache.workloads.map((w) => [w.name, w.fillOnMiss]), [["cache", true]]);
    assert.deepEqual(cache.budget, { totalBytes: 30 * 1024 * 1024, nodeBytes: null, policy: "allkeys-lru" });
    assert.ok(cache.keyCount * 1024 > 3 * 30 * 1024 * 1024, "the key space is far larger than the memory");
    const all = expandMatrices(scenario.matrices, matrix.repeat);
    const cacheRuns = all.filter((run) => run.budget !== null);
    assert.equal(all.length, runs.length + cache.targets.length);
    assert.deepEqual([...new Set(cacheRuns.map((run) => run.group))], ["cache-1KiB-c64-total30MiB"]);
    assert.equal(new Set(all.map((run) => run.name)).size, all.length, "run names are unique");
    for (const run of cacheRuns) {
      const found = lookupTarget(run.kind);
      assert.ok("target" in found && found.target.nodeCount !== undefined, `${run.kind} takes a memory budget`);
      assert.ok(run.durationMs !== null && run.warmupOps >= cache.keyCount / 2, `${run.name}: a warm-up that fills the cache, then a time-based phase`);
    }
  });

  const small: MatrixInput = {
    targets: ["ecc:n=3,k=2", "raft:nodes=3"],
    workloads: [{ name: "A", mix: { read: 0.5, update: 0.5, insert: 0, delete: 0 } }, { name: "B", mix: { read: 0.95, update: 0.05, insert: 0, delete: 0 } }],
    valueSizes: [{ kind: "fixed", bytes: 1024 }],
    concurrencies: [64],
    variants: [{ name: "steady", failures: [] }],
    keyCount: 100,
    distribution: "uniform",
    ops: 100,
    warmupOps: 0,
    seed: 1,
    repeat: REPEAT_NONE,
  };

  it("repeats a group in interleaved rounds: every target, then every target again", () => {
    const runs = expandMatrix({ ...small, repeat: { groups: ["B-1KiB-c64"], times: 3 } });
    assert.deepEqual(
      runs.map((run) => [run.name, run.group, run.repeat]),
      [
        ["ecc-k2n3-A-1KiB-c64", "A-1KiB-c64", 1],
        ["raft-nodes3-A-1KiB-c64", "A-1KiB-c64", 1],
        ["ecc-k2n3-B-1KiB-c64", "B-1KiB-c64", 1],
        ["raft-nodes3-B-1KiB-c64", "B-1KiB-c64", 1],
        ["ecc-k2n3-B-1KiB-c64-r2", "B-1KiB-c64", 2],
        ["raft-nodes3-B-1KiB-c64-r2", "B-1KiB-c64", 2],
        ["ecc-k2n3-B-1KiB-c64-r3", "B-1KiB-c64", 3],
        ["raft-nodes3-B-1KiB-c64-r3", "B-1KiB-c64", 3],
      ],
    );
    // Rounds repeat the same measurement: nothing but the name and the round differs.
    const { name: _first, repeat: _one, ...round1 } = runs[2];
    const { name: _third, repeat: _three, ...round3 } = runs[6];
    assert.deepEqual(round3, round1);
    const all = expandMatrix({ ...small, repeat: { groups: "all", times: 2 } });
    assert.equal(all.length, 8);
    assert.equal(new Set(all.map((run) => run.name)).size, 8, "run names are unique");
    assert.deepEqual(expandMatrix(small).map((run) => run.repeat), [1, 1, 1, 1]);
  });

  it("refuses a target listed twice, or two specs of one target (they would share a run name)", () => {
    assert.throws(
      () => expandMatrix({ ...small, targets: ["ecc:n=3,k=2", "raft:nodes=3", "ecc:n=3,k=2"] }),
      (error: Error) => error.name === "InvalidArgumentError" && /target 'ecc:n=3,k=2' is listed twice \(to run it several times, use repeat/.test(error.message),
    );
    assert.throws(
      () => expandMatrix({ ...small, targets: ["ecc:n=3,k=2", "ecc:k=2,n=3"] }),
      /targets 'ecc:n=3,k=2' and 'ecc:k=2,n=3' are the same target/,
    );
  });

  it("refuses a repeat group the scenario does not have, listing the ones it has", () => {
    const file = {
      name: "t",
      targets: ["ecc:n=3,k=2"],
      workloads: ["A", "B"],
      valueBytes: ["1KiB"],
      concurrency: [64],
      ops: 100,
      keys: 100,
      repeat: { groups: ["B-1KiB-c64"], times: 2 },
    };
    assert.deepEqual(parseScenario(file, "t.json").matrix.repeat, { groups: ["B-1KiB-c64"], times: 2 });
    assert.throws(
      () => parseScenario({ ...file, repeat: { groups: ["B-1KiB-c64-steady"], times: 2 } }, "t.json"),
      (error: Error) =>
        error instanceof InvalidArgumentError && /^scenario t\.json: repeat: 'B-1KiB-c64-steady' is not a group of this matrix; its groups are A-1KiB-c64, B-1KiB-c64$/.test(error.message),
    );
    assert.throws(() => parseScenario({ ...file, repeat: { groups: ["B-1KiB-c64"], times: 1 } }, "t.json"), /repeat\.times/);
    assert.throws(() => parseScenario({ ...file, repeat: { groups: ["B-1KiB-c64"], times: 21 } }, "t.json"), /repeat\.times/);
    assert.throws(() => parseScenario({ ...file, repeat: { groups: [], times: 2 } }, "t.json"), /repeat\.groups/);
  });
});
