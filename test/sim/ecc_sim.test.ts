// Property: ecc mode's protocol cores (EcShardReplica participants, the client-coordinated
// 2PC write and k-of-n read of src/ecc/client.ts, and node-side lease resolution of
// src/ecc/node.ts) give linearizable single-key registers under message loss, duplication,
// delay and reordering, client crashes at any point (between EcPrepare and EcCommit, in the
// middle of sending EcCommits) and node pauses; on every step, per-node versions never go
// back, no two different values are committed at one (key, version), and reads only return
// bytes some write wrote; after faults stop, every lock is resolved and every key is readable.
//
// Method: the seeded simulator in ecc_sim.ts (virtual clock, seeded network, coordinator
// state machines mirroring client.ts), run for a fixed set of seeds in a few configurations,
// each history checked with checkHistory. A failure message carries the seed and the
// transcript tail; the same seed replays identically (checked by hashing the transcript).
// The harness is shown able to fail: a coordinator that reports success after one EcCommit
// acknowledgement instead of k is caught on some seeds.
import assert from "node:assert/strict";
import { EccSimOptions, EccSimResult, SimCheckError, runEccSimulation } from "./ecc_sim";

interface Config {
  name: string;
  seeds: number[];
  options: Omit<EccSimOptions, "seed">;
}

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

/** 120 + 100 + 80 + 60 = 360 runs of about 2.5-3.5 virtual seconds each (~4 s wall on one core). */
const CONFIGS: Config[] = [
  { name: "default faults (5 clients, 2 keys)", seeds: range(1, 120), options: {} },
  { name: "slow tail, read-heavy (6 clients)", seeds: range(1_001, 100), options: { clientCount: 6, readRatio: 0.6, slowRate: 0.3 } },
  { name: "lossy network (12% loss)", seeds: range(2_001, 80), options: { lossRate: 0.12, slowRate: 0.2 } },
  { name: "3 keys, 4 clients", seeds: range(3_001, 60), options: { clientCount: 4, keyCount: 3 } },
];

function runSeeds(config: Config): EccSimResult[] {
  const results: EccSimResult[] = [];
  const failures: SimCheckError[] = [];
  for (const seed of config.seeds) {
    try {
      results.push(runEccSimulation({ seed, ...config.options }));
    } catch (error) {
      if (!(error instanceof SimCheckError)) throw error;
      failures.push(error);
    }
  }
  if (failures.length > 0) {
    const seeds = failures.map((failure) => /seed=(\d+)/.exec(failure.message)?.[1] ?? "?");
    assert.fail(`${failures.length} of ${config.seeds.length} seeds failed (${seeds.join(", ")}); first:\n${failures[0].message}`);
  }
  return results;
}

describe("ecc simulation (seeded)", function () {
  this.timeout(60_000);

  for (const config of CONFIGS) {
    it(`${config.name}: ${config.seeds.length} seeds are linearizable and keep the invariants`, () => {
      const results = runSeeds(config);
      const sum = (f: (r: EccSimResult) => number): number => results.reduce((s, r) => s + f(r), 0);
      // Guard against a simulator that silently stopped exercising anything.
      assert(sum((r) => r.history.filter((op) => op.status === "ok" && op.kind === "set").length) > 0, "no set succeeded");
      assert(sum((r) => r.history.filter((op) => op.status === "ok" && op.kind === "get" && op.result !== null).length) > 0, "no read returned a value");
      assert(sum((r) => r.crashes) > 0, "no client crashed");
      assert(sum((r) => r.resolutions.abort) > 0, "no lease resolution aborted");
      assert(sum((r) => r.resolutions.commit) > 0, "no lease resolution committed");
      assert(sum((r) => r.counts.unknown) > 0, "no unknown outcome");
    });
  }

  it("the same seed replays the same transcript", () => {
    for (const seed of [7, 1_234, 99_999]) {
      const a = runEccSimulation({ seed, lossRate: 0.1 });
      const b = runEccSimulation({ seed, lossRate: 0.1 });
      assert.equal(a.transcriptHash, b.transcriptHash, `seed ${seed}`);
      assert.equal(JSON.stringify(a.history), JSON.stringify(b.history), `seed ${seed}`);
    }
    assert.notEqual(runEccSimulation({ seed: 7 }).transcriptHash, runEccSimulation({ seed: 8 }).transcriptHash);
  });

  it("can fail: a coordinator that reports success after one EcCommit ack is caught", () => {
    const options: Omit<EccSimOptions, "seed"> = {
      brokenCommitAfterOneAck: true,
      clientCount: 6,
      readRatio: 0.6,
      slowRate: 0.3,
      lossRate: 0,
      duplicateRate: 0,
      crashRate: 0,
      pauses: false,
    };
    const caught: number[] = [];
    for (const seed of range(1, 60)) {
      try {
        runEccSimulation({ seed, ...options });
      } catch (error) {
        if (!(error instanceof SimCheckError)) throw error;
        assert.match(error.message, new RegExp(`seed=${seed}\\b`));
        assert.match(error.message, /transcript tail/);
        caught.push(seed);
      }
    }
    assert(caught.length > 0, "the broken coordinator passed every seed: the harness cannot see the bug");
    // A caught seed replays: it fails again the same way.
    assert.throws(() => runEccSimulation({ seed: caught[0], ...options }), SimCheckError);
    // The same seeds pass with the correct coordinator.
    for (const seed of caught) runEccSimulation({ seed, ...options, brokenCommitAfterOneAck: false });
  });
});
