// The in-process raft Jepsen simulation (src/jepsen/sim_raft_history.ts): RaftCore + KvState
// nodes driven like src/raft/node.ts, clients like src/raft/client.ts, a simulated network
// with delay, reordering and loss, and a nemesis that crashes/restarts nodes and cuts one off
// (a minority at a time). Properties:
// 1. Every seed's client history, final reads included, is linearizable (so no acknowledged
//    write is lost across crashes, leader changes and retries).
// 2. The runs are not trivial: faults happened, leadership changed, most operations succeeded.
// 3. Deterministic: the same seed gives the same history.
// 4. The harness has teeth: with a planted stale-read bug (every node answers gets from its
//    own state machine, no ReadIndex) the checker reports definite violations.
// 5. No committed log holds a client command twice: a retry the leader applied or holds is
//    never appended again (each run checks every node's log and throws otherwise).
// 6. As a cache (a tight budget, TTLs on a third of the sets): the leader's evictions and
//    expirations, recorded as "expire" operations, keep every seed linearizable.
// 7. SET NX (a fifth of the operations), decided by the state machine: every seed stays
//    linearizable, and a planted bug that answers a retry of an applied NX from the key's
//    state now (instead of the remembered result) is caught.
import assert from "node:assert/strict";
import { formatOperations } from "../../src/check/linearizability";
import { runSimRaftHistory } from "../sim/raft_history_sim";

const SEEDS = Array.from({ length: 30 }, (_, index) => index + 1);

describe("jepsen raft simulation (in-process, deterministic)", function () {
  this.timeout(60_000);

  it(`every seed's history is linearizable (${SEEDS.length} seeds, crashes and partitions)`, () => {
    let faults = 0;
    let leaderTerms = 0;
    let ok = 0;
    let unknown = 0;
    for (const seed of SEEDS) {
      const result = runSimRaftHistory({ seed, durationMs: 4_000 });
      if (!result.check.ok) {
        const detail = result.check.inconclusive ? result.check.message : `${result.check.message}\n${formatOperations(result.check.minimalFailingSubHistory)}`;
        assert.fail(`seed ${seed}: ${detail}\nfaults:\n  ${result.faults.join("\n  ")}`);
      }
      const finals = result.history.filter((operation) => operation.clientId === "final" && operation.status === "ok");
      assert.equal(finals.length, 2, `seed ${seed}: every key needs a successful final read`);
      faults += result.faults.length;
      leaderTerms += result.leaderTerms;
      ok += result.counts.ok;
      unknown += result.counts.unknown;
    }
    assert.ok(faults >= SEEDS.length * 3, `only ${faults} faults in ${SEEDS.length} seeds`);
    assert.ok(leaderTerms > SEEDS.length * 2, `only ${leaderTerms} leader terms: leadership hardly changed`);
    assert.ok(ok > SEEDS.length * 200, `only ${ok} successful operations`);
    assert.ok(unknown < ok / 5, `${unknown} unknown of ${ok} ok: the clients mostly gave up`);
  });

  it(`as a cache (tight budget, TTLs): every seed's history with evictions and expirations is linearizable (${SEEDS.length} seeds)`, () => {
    let evictions = 0;
    let expirations = 0;
    let ok = 0;
    for (const seed of SEEDS) {
      const result = runSimRaftHistory({ seed, durationMs: 4_000, cache: true });
      if (!result.check.ok) {
        const detail = result.check.inconclusive ? result.check.message : `${result.check.message}\n${formatOperations(result.check.minimalFailingSubHistory)}`;
        assert.fail(`seed ${seed} (cache): ${detail}\nfaults:\n  ${result.faults.join("\n  ")}`);
      }
      evictions += result.evictions;
      expirations += result.expirations;
      ok += result.counts.ok;
    }
    assert.ok(evictions > SEEDS.length * 10, `only ${evictions} evictions`);
    assert.ok(expirations > SEEDS.length * 5, `only ${expirations} expirations`);
    assert.ok(ok > SEEDS.length * 200, `only ${ok} successful operations`);
  });

  it(`with SET NX: every seed's history is linearizable (${SEEDS.length} seeds), and retries answered from the key's state are caught`, () => {
    let applied = 0;
    let refused = 0;
    for (const seed of SEEDS) {
      const result = runSimRaftHistory({ seed, durationMs: 4_000, setNxFraction: 0.2 });
      if (!result.check.ok) {
        const detail = result.check.inconclusive ? result.check.message : `${result.check.message}\n${formatOperations(result.check.minimalFailingSubHistory)}`;
        assert.fail(`seed ${seed} (setnx): ${detail}\nfaults:\n  ${result.faults.join("\n  ")}`);
      }
      for (const operation of result.history) {
        if (operation.kind !== "setnx" || operation.status !== "ok") continue;
        if (operation.result === "1") applied++;
        else refused++;
      }
    }
    assert.ok(applied > SEEDS.length * 10 && refused > SEEDS.length * 10, `${applied} NX applied, ${refused} refused: too few of either`);
    const caught = SEEDS.filter((seed) => {
      const result = runSimRaftHistory({ seed, durationMs: 4_000, setNxFraction: 0.2, mutation: "nx-no-memory" });
      return !result.check.ok && !result.check.inconclusive;
    });
    assert.ok(caught.length >= 2, `only seeds [${caught.join(",")}] of ${SEEDS.length} caught NX retries answered without the remembered result`);
  });

  it("catches a planted stale-read bug (reads served without ReadIndex)", () => {
    const caught = SEEDS.slice(0, 12).filter((seed) => {
      const result = runSimRaftHistory({ seed, durationMs: 4_000, mutation: "local-reads" });
      return !result.check.ok && !result.check.inconclusive;
    });
    assert.ok(caught.length >= 2, `only seeds [${caught.join(",")}] of 12 caught the stale reads`);
  });

  it("replays a seed exactly", () => {
    const first = runSimRaftHistory({ seed: 7, durationMs: 2_000 });
    const second = runSimRaftHistory({ seed: 7, durationMs: 2_000 });
    assert.deepEqual(second.history, first.history);
    assert.deepEqual(second.faults, first.faults);
    assert.notDeepEqual(runSimRaftHistory({ seed: 8, durationMs: 2_000 }).history, first.history);
  });
});
