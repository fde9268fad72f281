// The port fuzzer (src/fuzz) on real node processes, both modes: a short seeded fuzz of every
// port of every node (each gRPC method with random and mutated protobuf, RESP with mutated
// commands, HTTP with malformed requests, raw bytes and slow connections on all three), at
// most FUZZ_MS per mode. Afterwards every node process still runs, every node still serves
// (/healthz 200, SET/GET on its RESP port, stats on its gRPC port, a library set/get), and
// the 50 keys acknowledged before the fuzz read back byte for byte. A third case kills a
// node by its PID during a fuzz and expects the run to fail naming it: the checks can fail.
// Fixed seeds, so a failure here replays with the command the report prints.
import assert from "node:assert/strict";
import fs from "node:fs";
import { FuzzMode, FuzzResult, defaultFailureDir, formatReport, runFuzz } from "../../src/fuzz/runner";

const FUZZ_MS = 50_000;
const INPUTS_PER_PORT = 2_500;
/** Inputs a lane must get through even on a loaded machine (2 shared cores). */
const INPUTS_PER_PORT_MIN = 400;

async function fuzz(mode: FuzzMode, seed: number, inputsPerPort: number, timeMs: number, killNodeAfterMs?: number): Promise<FuzzResult> {
  const lines: string[] = [];
  const result = await runFuzz({ mode, seed, inputsPerPort, timeMs, dripMs: 25, failureDir: defaultFailureDir(), log: (line) => lines.push(line), killNodeAfterMs });
  console.log(formatReport(result).replace(/^/gm, "      "));
  return result;
}

function assertCameThrough(result: FuzzResult): void {
  assert.deepEqual(result.problems, [], `seed ${result.seed}: ${result.replay}`);
  for (const lane of result.lanes) {
    const minimum = lane.lane.startsWith("slow ") ? 1 : INPUTS_PER_PORT_MIN;
    assert(lane.tried >= minimum, `${lane.lane}: ${lane.tried} inputs, fewer than ${minimum}`);
  }
}

describe("port fuzzer (real processes)", function () {
  this.timeout(FUZZ_MS + 120_000);

  it("ecc: every node survives and serves, and every acknowledged key reads back", async () => {
    const result = await fuzz("ecc", 19_001, INPUTS_PER_PORT, FUZZ_MS);
    assert.deepEqual(result.lanes.map((lane) => lane.lane).slice(0, 3), ["grpc EccNode/Exchange", "grpc EccNode/Call", "grpc RaftPeer/Deliver"]);
    assertCameThrough(result);
  });

  it("raft: every node survives and serves, and every acknowledged key reads back", async () => {
    const result = await fuzz("raft", 19_002, INPUTS_PER_PORT, FUZZ_MS);
    assert.deepEqual(result.lanes.map((lane) => lane.lane).slice(0, 2), ["grpc RaftKv/Exchange", "grpc RaftPeer/Deliver"]);
    assertCameThrough(result);
  });

  it("a node killed during the fuzz fails the run, with the seed and a replay command", async () => {
    const result = await fuzz("raft", 19_003, 300, 10_000, 1_000);
    assert(result.problems.some((problem) => problem.startsWith("node 0 ")), result.problems.join("\n"));
    assert.match(formatReport(result), /seed 19003; replay: npm run fuzz -- --mode raft --seed 19003 --inputs 300 --time 10/);
    assert(result.failureFile !== null);
    const saved = JSON.parse(fs.readFileSync(result.failureFile, "utf8"));
    assert.equal(saved.seed, 19_003);
    assert(saved.recentInputs["grpc RaftKv/Exchange"].length > 0, "the last inputs of each port are saved");
    fs.rmSync(result.failureFile);
  });
});
