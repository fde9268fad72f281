// The one exit-code rule of `cluster status` and `client stats` (src/cli/health.ts), checked
// case by case for both modes: 0 when every node answers and serves, 7 when the cluster
// serves with a node down or recovering, 3 when it cannot serve; the message (stderr) names
// the nodes at fault.
import assert from "node:assert/strict";
import { eccHealth, eccNodeStates, raftHealth } from "../../src/cli/health";
import type { EcStatsReply } from "../../src/gen/ecc";

const A = "127.0.0.1:3000";
const B = "127.0.0.1:3001";
const C = "127.0.0.1:3002";
const D = "127.0.0.1:3003";
const E = "127.0.0.1:3004";

describe("cluster health verdicts", () => {
  describe("ecc (k = 3 of 5)", () => {
    const nodes = (...states: Array<string | null>) => [A, B, C, D, E].map((address, index) => ({ address, state: states[index] }));

    it("every node a member: 0, no message", () => {
      assert.deepEqual(eccHealth(nodes("member", "member", "member", "member", "member"), 3), { exitCode: 0, message: null });
    });

    it("one node unreachable, one recovering: 7, both named", () => {
      const verdict = eccHealth(nodes("member", "member", "member", null, "recovering"), 3);
      assert.equal(verdict.exitCode, 7);
      assert.equal(verdict.message, `degraded: ${D} unreachable, ${E} recovering`);
    });

    it("fewer than k members answering: 3", () => {
      const verdict = eccHealth(nodes("member", "member", null, null, "removed"), 3);
      assert.equal(verdict.exitCode, 3);
      assert.match(verdict.message!, /^cannot serve: 2 of 5 nodes answered as members, k=3 are needed/);
    });

    it("a node's state is its own unless the newest view says otherwise (a frozen node still believes it is a member)", () => {
      const reply = (state: string, epoch: number, members: number[], recovering: number[] = []): EcStatsReply =>
        ({ state, view: { epoch, members, recovering, leader: A } }) as unknown as EcStatsReply;
      const stats = [
        reply("member", 2, [0, 1, 2, 3]),
        reply("member", 2, [0, 1, 2, 3]),
        reply("member", 2, [0, 1, 2, 3]),
        null,
        reply("member", 1, [0, 1, 2, 3, 4]), // frozen through epoch 2, which removed it
      ];
      assert.deepEqual(eccNodeStates(stats, [A, B, C, D, E]), [
        { address: A, state: "member" },
        { address: B, state: "member" },
        { address: C, state: "member" },
        { address: D, state: null },
        { address: E, state: "removed" },
      ]);
      stats[4] = reply("recovering", 3, [0, 1, 2, 3], [4]);
      assert.equal(eccNodeStates(stats, [A, B, C, D, E])[4].state, "recovering");
    });

    it("no node answering: 3, every address listed", () => {
      const verdict = eccHealth(nodes(null, null, null, null, null), 3);
      assert.equal(verdict.exitCode, 3);
      assert.equal(verdict.message, `cannot serve: no node answered (${[A, B, C, D, E].join(", ")})`);
    });
  });

  describe("raft (3 members)", () => {
    const members = (...roles: Array<string | null>) => [A, B, C].map((address, index) => ({ address, role: roles[index] }));

    it("a leader and two followers: 0", () => {
      assert.deepEqual(raftHealth(members("leader", "follower", "follower")), { exitCode: 0, message: null });
    });

    it("a follower down, or a member still campaigning: 7", () => {
      assert.deepEqual(raftHealth(members("leader", "follower", null)), { exitCode: 7, message: `degraded: ${C} unreachable` });
      assert.deepEqual(raftHealth(members("follower", "leader", "candidate")), { exitCode: 7, message: `degraded: ${C} candidate` });
    });

    it("no leader among those that answered: 3", () => {
      const verdict = raftHealth(members("follower", "candidate", null));
      assert.equal(verdict.exitCode, 3);
      assert.match(verdict.message!, /^cannot serve: no leader among the 2 of 3 members that answered/);
    });

    it("a leader but no majority answering: 3", () => {
      const verdict = raftHealth(members("leader", null, null));
      assert.equal(verdict.exitCode, 3);
      assert.match(verdict.message!, /^cannot serve: 1 of 3 members answered, a majority is needed/);
    });

    it("no node answering: 3", () => {
      assert.equal(raftHealth(members(null, null, null)).message, `cannot serve: no node answered (${A}, ${B}, ${C})`);
    });
  });
});
