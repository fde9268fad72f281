// The result file schema (src/bench/results.ts, ecc-cache.bench/4; /3 and /2 are read by upgrading).
// Method: run the real bench orchestration against in-process fake targets
// (test/fixtures/bench/sample_results.ts), write the document, validate and read it back.
// Checks: write → read round-trips exactly; the document carries config, environment,
// commit, seed, every sample and event; a missing or extra field and a wrong schema
// version are rejected with the field's path; a document that does not validate is never
// written; files of the first bench (/1) get a message saying to re-run; a run without
// `repeat` (written before repeats existed, like the committed report/reference.json) reads
// as repeat 1; a /2 document reads as /3 without a duration or restart readings; a /3
// document reads as /4 without CPU figures, cache counts or a budget, its load from the bench
// process. A run carries the CPU of the bench process as the generator's, over the measured
// phase, and says that nodes without a PID (the fakes) were not read.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BENCH_SCHEMA, BenchResults, readResults, validateResults, writeResults } from "../../src/bench/results";
import { sampleResults } from "../fixtures/bench/sample_results";

describe("bench results schema", function () {
  this.timeout(30_000);
  let results: BenchResults;
  let dir: string;

  before(async () => {
    results = await sampleResults();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-results-test-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a run document carries config, environment, seed, samples and events", () => {
    assert.equal(results.schema, BENCH_SCHEMA);
    assert.equal(results.seed, 11);
    assert.equal(results.runs.length, 2);
    for (const run of results.runs) {
      assert.equal(run.status, "ok", run.reason);
      assert.equal(run.measured?.ops, 600);
      assert.equal(run.measured?.errors, 0);
      assert.equal(run.measured?.latency.all.count, 600);
      assert.ok(run.memory!.samples.length > 0, "memory samples");
      assert.ok(run.memory!.samples.every((sample) => sample.sampler === "reported"));
      assert.equal(run.memory!.primary, "reported");
      assert.ok(run.memory!.logical.length > 0, "logical samples");
      assert.ok(run.memory!.before !== null && run.memory!.after !== null);
      assert.deepEqual(
        run.events.filter((e) => e.type.startsWith("phase.")).map((e) => e.type),
        ["phase.preload.begin", "phase.preload.end", "phase.warmup.begin", "phase.measure.begin", "phase.measure.end", "phase.after_snapshot"],
      );
      assert.equal(run.payload?.keys, 200);
      assert.equal(run.payload?.valueBytes, 200 * 100);
    }
    assert.ok(results.environment.cpus > 0);
    assert.equal(results.config.memorySamplers, "reported");
  });

  it("write → validate → read round-trips exactly", () => {
    const file = path.join(dir, "results.json");
    writeResults(file, results);
    const read = readResults(file);
    assert.deepEqual(read, results);
    assert.deepEqual(fs.readdirSync(dir), ["results.json"], "no temporary file left behind");
  });

  it("rejects missing and unknown fields, naming the path", () => {
    const copy = JSON.parse(JSON.stringify(results));
    delete copy.runs[0].measured.opsPerSecond;
    assert.throws(() => validateResults(copy, "broken.json"), /runs\.0\.measured\.opsPerSecond/);
    const extra = JSON.parse(JSON.stringify(results));
    extra.runs[1].target.colour = "blue";
    assert.throws(() => validateResults(extra, "extra.json"), /runs\.1\.target/);
    const badSampler = JSON.parse(JSON.stringify(results));
    badSampler.runs[0].memory.samples[0].sampler = "guess";
    assert.throws(() => validateResults(badSampler, "sampler.json"), /runs\.0\.memory\.samples\.0\.sampler/);
  });

  it("reads a run without repeat as repeat 1, and refuses repeat 0", () => {
    assert.deepEqual(results.runs.map((run) => run.repeat), [1, 1]);
    const old = JSON.parse(JSON.stringify(results));
    for (const run of old.runs) delete run.repeat;
    assert.deepEqual(validateResults(old, "old.json").runs.map((run) => run.repeat), [1, 1]);
    const zero = JSON.parse(JSON.stringify(results));
    zero.runs[0].repeat = 0;
    assert.throws(() => validateResults(zero, "zero.json"), /runs\.0\.repeat/);
    const committed = readResults(path.resolve(__dirname, "..", "..", "..", "report", "reference.json"));
    // The committed reference results load under the current schema, rounds and all.
    assert.ok(committed.runs.length > 0 && committed.runs.every((run) => Number.isInteger(run.repeat) && run.repeat >= 1));
  });

  it("reads a /2 document (before time-based phases and restart readings) as /3 with neither", () => {
    const current: BenchResults = JSON.parse(JSON.stringify(results));
    const v2 = JSON.parse(JSON.stringify(results));
    v2.schema = "ecc-cache.bench/2";
    for (const run of v2.runs) {
      delete run.workload.durationMs;
      delete run.memory.restarts;
    }
    assert.deepEqual(validateResults(v2, "v2.json"), current);
    assert.equal(v2.schema, "ecc-cache.bench/2", "the input is not changed");
    // A /3 document must carry the new fields: strict, so writer and reader cannot drift.
    const missing = JSON.parse(JSON.stringify(v2));
    missing.schema = BENCH_SCHEMA;
    assert.throws(() => validateResults(missing, "v3.json"), /runs\.0\.workload\.durationMs/);
  });

  it("reads a /3 document (before CPU figures, the cache workload and budgets) as /4 with none of them", () => {
    const v3 = JSON.parse(JSON.stringify(results));
    v3.schema = "ecc-cache.bench/3";
    delete v3.config.clientProcesses;
    for (const run of v3.runs) {
      delete run.cpu;
      delete run.budget;
      delete run.workload.fillOnMiss;
      delete run.measured.cache;
    }
    const read = validateResults(v3, "v3.json");
    assert.equal(read.schema, BENCH_SCHEMA);
    assert.equal(read.config.clientProcesses, 0);
    for (const run of read.runs) {
      assert.equal(run.cpu, null);
      assert.equal(run.budget, null);
      assert.equal(run.workload.fillOnMiss, false);
      assert.equal(run.measured!.cache, null);
    }
    assert.equal(v3.schema, "ecc-cache.bench/3", "the input is not changed");
  });

  it("a run carries the CPU of its measured phase: the bench process as the generator, no total without node PIDs", () => {
    for (const run of results.runs) {
      const cpu = run.cpu!;
      assert.deepEqual(cpu.processes.map((entry) => [entry.role, entry.name]), [["generator", "bench"]]);
      assert.ok(cpu.processes[0].cpuMs > 0 && cpu.generatorCpuPerOpUs > 0);
      assert.equal(cpu.ops, 600);
      assert.ok(cpu.wallMs > 0 && cpu.wallMs <= run.measured!.durationMs + 1_000, `${cpu.wallMs} ms of ${run.measured!.durationMs}`);
      assert.equal(cpu.cpuPerOpUs, null, "the fake nodes have no PID");
      assert.match(cpu.notes.join(" "), /node0: no PID/);
      assert.equal(run.measured!.cache, null, "not the cache workload");
    }
    assert.equal(results.config.clientProcesses, 0);
  });

  it("rejects other schema versions; /1 with a hint to re-run", () => {
    assert.throws(() => validateResults({ ...results, schema: "ecc-cache.bench/1" }, "old.json"), /re-run/);
    assert.throws(() => validateResults({ schema: "something/9" }, "other.json"), /expected "ecc-cache\.bench\/4" \(or "ecc-cache\.bench\/3", "ecc-cache\.bench\/2"\)/);
    assert.throws(() => readResults(path.join(dir, "absent.json")), /cannot read/);
  });

  it("never writes a document that does not validate", () => {
    const file = path.join(dir, "invalid.json");
    const broken = JSON.parse(JSON.stringify(results));
    broken.runs[0].status = "maybe";
    assert.throws(() => writeResults(file, broken), /do not match/);
    assert.equal(fs.existsSync(file), false);
  });
});
