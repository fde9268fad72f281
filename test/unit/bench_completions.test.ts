// Completions from client processes (src/bench/completions.ts) and the one accounting of a
// run's operations (runner.ts PhaseRecorder).
// Method: a seeded, hand-made history of completions — warm-up and measured, reads that hit
// and miss followed by their sets, failures with messages, an outage — counted once directly
// in end-time order, and once split by operation index over three "processes", encoded in
// batches of uneven size, decoded and merged by end time.
// Checks: a batch decodes to exactly what was encoded (flags, times, latencies, messages);
// the merge yields every completion in end-time order; the merged count equals the direct
// one field for field (histograms, timeline, error classes and samples, unavailability,
// longest gaps, hits and misses, payload), which is why a run with client processes is
// counted exactly like one without; a batch that is not whole records is refused; splitting
// the concurrency over processes gives each at least one worker.
import assert from "node:assert/strict";
import { splitConcurrency } from "../../src/bench/client_pool";
import { Completion, CompletionStream, encodeCompletions, mergeByEndTime } from "../../src/bench/completions";
import { PhaseRecorder } from "../../src/bench/runner";
import { SeededRandom } from "../../src/core/env";
import { LivePayload, OperationTable, WorkloadSpec } from "../../src/bench/workload";

const SPEC: WorkloadSpec = { name: "cache", mix: { read: 0.9, update: 0.1, insert: 0, delete: 0 }, keyCount: 500, distribution: "zipfian", valueSize: { kind: "fixed", bytes: 64 }, seed: 5, fillOnMiss: true };
const WARMUP = 300;
const TOTAL = 3_000;
const START_MS = 1_000;

/** A history in end-time order; operation i ends at about START_MS + i × 0.5 ms, writes fail from op 1,500 to 1,800. */
function history(): Completion[] {
  const random = new SeededRandom(9);
  const table = new OperationTable(SPEC);
  const list: Completion[] = [];
  for (let index = 0; index < TOTAL; index++) {
    const op = table.at(index);
    const measured = index >= WARMUP;
    const tEndRunMs = (measured ? START_MS : 0) + index * 0.5 + random.next() * 0.2;
    const outage = index >= 1_500 && index < 1_800;
    if (op.kind === "read") {
      const failed = random.next() < 0.01;
      const hit = failed ? null : random.next() < 0.7;
      list.push({ index, fill: false, measured, ok: !failed, hit, tEndRunMs, latencyUs: 100 + Math.floor(random.next() * 900), error: failed ? `read of key${op.keyIndex} timed out after 2000 ms` : null });
      if (hit === false) list.push({ index, fill: true, measured, ok: !outage, hit: null, tEndRunMs: tEndRunMs + 0.1, latencyUs: 300, error: outage ? "node down: node1" : null });
    } else {
      list.push({ index, fill: false, measured, ok: !outage, hit: null, tEndRunMs, latencyUs: 400 + Math.floor(random.next() * 600), error: outage ? "node down: node1" : null });
    }
  }
  return list.sort((a, b) => a.tEndRunMs - b.tEndRunMs);
}

function count(completions: Iterable<Completion>): { result: ReturnType<PhaseRecorder["result"]>; payload: LivePayload } {
  const payload = new LivePayload();
  const recorder = new PhaseRecorder(payload, 100, true);
  recorder.begin(START_MS + WARMUP * 0.5);
  const table = new OperationTable(SPEC);
  for (const completion of completions) recorder.record(table.at(completion.index), completion);
  return { result: recorder.result(WARMUP), payload };
}

describe("bench completions and their accounting", () => {
  it("a batch decodes to exactly what was encoded", () => {
    const list = history().slice(0, 700);
    const stream = new CompletionStream();
    const counts = stream.add(encodeCompletions(list));
    const decoded: Completion[] = [];
    for (let next = stream.next(); next !== null; next = stream.next()) decoded.push(next);
    assert.deepEqual(decoded, list);
    assert.equal(counts.warmupDone, list.filter((c) => !c.measured).length);
    assert.equal(counts.measuredDone, list.filter((c) => c.measured && !c.fill).length, "progress counts operations, not the sets after misses");
    assert.throws(() => new CompletionStream().add({ records: Buffer.alloc(20).toString("base64"), errors: [] }), /not a whole number of 17-byte records/);
  });

  it("merged from three processes, a run counts exactly as when its completions are counted directly", () => {
    const list = history();
    const direct = count(list);
    const streams = [0, 1, 2].map((process) => {
      const own = list.filter((completion) => completion.index % 3 === process);
      const stream = new CompletionStream();
      // Uneven batches, as a process flushes every 100 ms or every 4,096 records.
      for (let from = 0; from < own.length; from += 97 + process * 31) stream.add(encodeCompletions(own.slice(from, from + 97 + process * 31)));
      return stream;
    });
    const merged: Completion[] = [];
    mergeByEndTime(streams, (completion) => merged.push(completion));
    assert.equal(merged.length, list.length);
    for (let i = 1; i < merged.length; i++) assert.ok(merged[i].tEndRunMs >= merged[i - 1].tEndRunMs, `in end-time order at ${i}`);
    const viaProcesses = count(merged);
    assert.deepEqual(viaProcesses.result, direct.result);
    assert.deepEqual([viaProcesses.payload.keys, viaProcesses.payload.valueBytes, viaProcesses.payload.writtenBytes], [direct.payload.keys, direct.payload.valueBytes, direct.payload.writtenBytes]);

    // The history is what it claims to be, so the comparison above covers every part of the count.
    const { result } = direct;
    assert.ok(result.cache!.hits > 0 && result.cache!.misses > 0 && result.cache!.fillErrors > 0 && result.cache!.warmupMisses > 0, JSON.stringify(result.cache));
    assert.ok(result.unavailability.some((window) => window.kind === "write"), "the outage is a write window");
    assert.deepEqual(result.errorClasses.map((error) => `${error.kind}: ${error.message}`).sort(), ["read: read of keyN timed out after N ms", "update: node down: nodeN"]);
    assert.equal(result.ops, list.filter((completion) => completion.measured).length);
  });

  it("splits the concurrency over the processes, each with one worker or more", () => {
    assert.deepEqual(splitConcurrency(64, 3), [22, 21, 21]);
    assert.deepEqual(splitConcurrency(4, 4), [1, 1, 1, 1]);
    assert.throws(() => splitConcurrency(2, 3), /3 client processes need a concurrency of at least 3/);
    assert.throws(() => splitConcurrency(8, 0), /client processes: 0/);
  });
});
