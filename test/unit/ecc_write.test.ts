// The write side, pure: EcWriteCoordinator decisions driven by hand (the simulator drives it
// at large). Properties here: a write succeeds once k members acknowledged EcCommit; when a
// view change fences it mid-commit (fewer than k acknowledgements, the rest refused), it asks
// the newest view's members for the tx's status and succeeds once k report it committed at
// its version; when they do not within confirmWaitMs the outcome is unknown, never failed;
// EcCommit refused by every node retries (nothing was committed).
import assert from "node:assert/strict";
import { OutcomeUnknownError } from "../../src/core/errors";
import { SeededRandom } from "../../src/core/env";
import { ResultCode, TxState } from "../../src/gen/ecc";
import { EcWriteCoordinator, WriteEffect } from "../../src/ecc/write_coordinator";
import { View } from "../../src/ecc/view";

const V1: View = { epoch: 1, members: [0, 1, 2, 3], recovering: [4] };
const V2: View = { epoch: 2, members: [0, 1, 2, 3, 4], recovering: [] };

function coordinator(): EcWriteCoordinator {
  return new EcWriteCoordinator({
    key: Buffer.from("k"),
    blobs: null, // a delete: no bytes to stage, the protocol is the same
    shardCrc32s: null,
    layout: { valueBytes: 0, blockBytes: 64, dataShards: 3, parityShards: 2 },
    valueCrc32: 0,
    dataShards: 3,
    shardCount: 5,
    lockLeaseMs: 500,
    chunkBytesMax: 1024,
    attemptsMax: 5,
    backoffMsMin: 1,
    backoffMsMax: 5,
    unavailableWaitMs: 1_000,
    viewPollMs: 50,
    confirmWaitMs: 300,
    random: new SeededRandom(3),
    newTxId: () => Buffer.alloc(16, 1),
  });
}

const of = <K extends WriteEffect["kind"]>(effects: WriteEffect[], kind: K): Array<Extract<WriteEffect, { kind: K }>> =>
  effects.filter((effect): effect is Extract<WriteEffect, { kind: K }> => effect.kind === kind);

/** Starts a write in V1 and stages it everywhere; returns the commit effects. */
function staged(c: EcWriteCoordinator): Array<Extract<WriteEffect, { kind: "commit" }>> {
  const prepares = of(c.start(V1, 0), "prepare");
  assert.deepEqual(prepares.map((p) => p.node), [0, 1, 2, 3, 4]);
  let commits: Array<Extract<WriteEffect, { kind: "commit" }>> = [];
  for (const p of prepares) {
    const body = { staged: true, committedVersion: 4, committedTombstone: false, committedExpiresAtMs: 0 };
    commits = commits.concat(of(c.onPrepareReply(p.attempt, p.node, { kind: "ok", body }, 1), "commit"));
  }
  assert.equal(commits.length, 5);
  assert(commits.every((commit) => commit.request.version === 5));
  return commits;
}

const refusedForNewView = { kind: "refused" as const, code: ResultCode.RESULT_CODE_STALE_EPOCH, message: "node is at epoch 2", view: V2 };

describe("EcWriteCoordinator", () => {
  it("succeeds once k members acknowledged EcCommit", () => {
    const c = coordinator();
    const commits = staged(c);
    assert.deepEqual(c.onCommitReply(1, 0, { kind: "ok", body: {} }, 2), []);
    assert.deepEqual(c.onCommitReply(1, 4, { kind: "ok", body: {} }, 2), [], "node 4 is recovering in V1: it does not count");
    assert.deepEqual(c.onCommitReply(1, 1, { kind: "ok", body: {} }, 2), []);
    const done = c.onCommitReply(1, 2, { kind: "ok", body: {} }, 2);
    assert.equal(done[0].kind, "succeed");
    assert.equal(commits.length, 5);
  });

  it("fenced mid-commit by a view change: confirms through EcTxStatus and succeeds once k members report it committed", () => {
    const c = coordinator();
    staged(c);
    c.onCommitReply(1, 0, { kind: "ok", body: {} }, 2);
    for (const node of [1, 2, 3]) c.onCommitReply(1, node, refusedForNewView, 2);
    const refresh = c.onCommitReply(1, 4, refusedForNewView, 2);
    assert.deepEqual(refresh, [{ kind: "refreshView" }], "fewer than k acknowledged: confirm, do not give up");
    const asks = of(c.onViewRefreshed(V2, 3), "txStatus");
    assert.deepEqual(asks.map((ask) => ask.node), [0, 1, 2, 3, 4], "the members of the newest view");
    const committed = { kind: "ok" as const, body: { state: TxState.TX_STATE_COMMITTED, version: 5, expiresAtMs: 0 } };
    const staging = { kind: "ok" as const, body: { state: TxState.TX_STATE_STAGED, version: 0, expiresAtMs: 0 } };
    assert.deepEqual(c.onTxStatusReply(asks[0].round, 0, committed, 4), []);
    assert.deepEqual(c.onTxStatusReply(asks[0].round, 1, staging, 4), []);
    assert.deepEqual(c.onTxStatusReply(asks[0].round, 2, committed, 4), []);
    // Another version committed elsewhere does not count.
    assert.deepEqual(c.onTxStatusReply(asks[0].round, 3, { kind: "ok", body: { state: TxState.TX_STATE_COMMITTED, version: 6, expiresAtMs: 0 } }, 4), []);
    // The round is over without k: wait, then ask again (resolution is still committing it).
    const wait = of(c.onTxStatusReply(asks[0].round, 4, { kind: "silent", message: "timeout" }, 4), "wait");
    assert.equal(wait.length, 1);
    assert.deepEqual(c.onTimer(wait[0].timer, 60), [{ kind: "refreshView" }]);
    const again = of(c.onViewRefreshed(V2, 61), "txStatus");
    assert.equal(again[0].round, asks[0].round + 1);
    assert.deepEqual(c.onTxStatusReply(asks[0].round, 1, committed, 62), [], "a reply of an old round is ignored");
    c.onTxStatusReply(again[0].round, 0, committed, 62);
    c.onTxStatusReply(again[0].round, 1, committed, 62);
    const done = c.onTxStatusReply(again[0].round, 4, committed, 62);
    assert.equal(done[0].kind, "succeed");
    assert.equal(done[0].kind === "succeed" && done[0].result.version, 5);
  });

  it("when the members never report it committed within confirmWaitMs, the outcome is unknown (not failed)", () => {
    const c = coordinator();
    staged(c);
    c.onCommitReply(1, 0, { kind: "ok", body: {} }, 2);
    for (const node of [1, 2, 3, 4]) c.onCommitReply(1, node, refusedForNewView, 2);
    let now = 3;
    let effects = c.onViewRefreshed(V2, now);
    for (let round = 0; round < 20 && !c.done; round++) {
      const asks = of(effects, "txStatus");
      let next: WriteEffect[] = [];
      for (const ask of asks) next = next.concat(c.onTxStatusReply(ask.round, ask.node, { kind: "silent", message: "down" }, now));
      const fail = of(next, "fail");
      if (fail.length > 0) {
        assert(fail[0].error instanceof OutcomeUnknownError, String(fail[0].error));
        break;
      }
      now += 60;
      const wait = of(next, "wait")[0];
      c.onTimer(wait.timer, now);
      effects = c.onViewRefreshed(V2, now);
      if (of(effects, "fail").length > 0) {
        assert(of(effects, "fail")[0].error instanceof OutcomeUnknownError);
        break;
      }
    }
    assert(c.done);
    assert(now >= 300, "it kept asking until confirmWaitMs");
  });

  it("EcCommit refused by every node retries: nothing was committed", () => {
    const c = coordinator();
    staged(c);
    let effects: WriteEffect[] = [];
    for (const node of [0, 1, 2, 3, 4]) effects = c.onCommitReply(1, node, { kind: "refused", code: ResultCode.RESULT_CODE_TX_ABORTED, message: "fenced", view: null }, 2);
    assert.deepEqual(
      effects.map((effect) => effect.kind),
      ["abort", "abort", "abort", "abort", "abort", "wait"],
      "abort and back off, then a new attempt",
    );
  });
});
