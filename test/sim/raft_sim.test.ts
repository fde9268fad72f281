// Property: RaftCore keeps Raft's safety guarantees under any mix of message loss,
// duplication, delay and reordering, partitions (isolate one, random split, asymmetric links),
// crashes that lose unpersisted state, log compaction with InstallSnapshot, single-server
// membership changes, and (half the runs) entry data released once applied and read back from
// storage: at most one leader per term; committed entries are never lost or
// changed and every node's committed prefix agrees; applied sequences are prefixes of one
// another; ReadIndex reads are never stale; and after healing the group elects a leader,
// commits a new command and brings every voter up to date within a bounded number of ticks.
//
// Method: the seeded simulator in raft_sim.ts, run for a fixed set of seeds per (scenario,
// node count), checking after every event. Any failure message carries the seed and the last
// events of the transcript; the same seed replays identically (checked below by hashing the
// full transcript of two runs). scripts/sim_raft.js runs random seeds for longer.
import assert from "node:assert/strict";
import { runSimulation, SIM_SCENARIOS, SimCheckError, SimResult, SimScenario } from "./raft_sim";

/** Seeds per (scenario, node count): 9 scenarios x 2 sizes x 40 seeds = 720 runs (~6 s on one core). */
const SEEDS_PER_COMBINATION = 40;
const NODE_COUNTS = [3, 5] as const;

function seedFor(scenario: SimScenario, nodeCount: number, seedOffset: number): number {
  return 10_000 * (SIM_SCENARIOS.indexOf(scenario) + 1) + 100 * nodeCount + seedOffset;
}

function runSeeds(scenario: SimScenario, nodeCount: number): SimResult[] {
  const results: SimResult[] = [];
  const failures: SimCheckError[] = [];
  for (let seedOffset = 1; seedOffset <= SEEDS_PER_COMBINATION; seedOffset++) {
    try {
      results.push(runSimulation({ seed: seedFor(scenario, nodeCount, seedOffset), nodeCount, scenario }));
    } catch (error) {
      if (!(error instanceof SimCheckError)) throw error;
      failures.push(error);
    }
  }
  if (failures.length > 0) {
    const seeds = failures.map((failure) => /seed=(\d+)/.exec(failure.message)?.[1] ?? "?");
    assert.fail(`${failures.length} of ${SEEDS_PER_COMBINATION} seeds failed (${seeds.join(", ")}); first:\n${failures[0].message}`);
  }
  return results;
}

function total(results: readonly SimResult[], field: keyof SimResult): number {
  return results.reduce((sum, result) => sum + (result[field] as number), 0);
}

describe("raft simulation (seeded)", function () {
  this.timeout(120_000);

  for (const scenario of SIM_SCENARIOS) {
    for (const nodeCount of NODE_COUNTS) {
      it(`${scenario}, ${nodeCount} nodes: ${SEEDS_PER_COMBINATION} seeds keep every safety and liveness check`, () => {
        const results = runSeeds(scenario, nodeCount);
        // Guard against a simulator that silently stopped exercising anything.
        assert(total(results, "ackCount") > 0, "no write was acknowledged");
        assert(total(results, "readCount") > 0, "no read was released");
        if (scenario === "crash") assert(total(results, "crashCount") > 0, "no crash happened");
        if (scenario === "compaction") {
          assert(total(results, "compactionCount") > 0, "no compaction happened");
          assert(total(results, "snapshotInstallCount") > 0, "no InstallSnapshot happened");
        }
        if (scenario === "membership") assert(total(results, "configChangeCount") > 0, "no membership change was applied");
        assert(total(results, "dataReadBackCount") > 0, "no released log entry was read back from storage");
        // Loss alone rarely costs a leader its followers (it takes electionTicks lost heartbeats in a row).
        if (scenario !== "calm" && scenario !== "lossy") {
          assert(results.some((result) => result.leaderTermCount > 1), "no leader change happened");
        }
      });
    }
  }

  it("replays a seed identically (same transcript hash), and different seeds differ", () => {
    const options = { seed: 4242, nodeCount: 5, scenario: "chaos" as const };
    const first = runSimulation(options);
    const second = runSimulation(options);
    assert.equal(first.transcriptHash, second.transcriptHash);
    assert.equal(first.eventCount, second.eventCount);
    assert(first.eventCount > 1_000, "a chaos run has a substantial transcript");
    const other = runSimulation({ ...options, seed: 4243 });
    assert.notEqual(other.transcriptHash, first.transcriptHash);
  });
});
