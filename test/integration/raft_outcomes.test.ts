// Honest outcomes from the raft client, against real node processes (3 nodes, fast timers).
// Properties checked:
// - a write reported as failed must not have happened: when an attempt may be in the log
//   (the leader appended it and then could not commit it: both followers stopped), giving
//   up is OutcomeUnknownError (exit 8), never "failed"; its message names the nodes and
//   what each did (no answer within the deadline);
// - a retry never appends a second copy of a command the leader already holds: with the
//   followers stopped, a client retrying the same write at the leader waits on the entry in
//   the log, and the leader's log grows by one copy only;
// - after the leader stopped answering, the client's next attempt goes to another node, and
//   a follower's hint naming the stopped leader is not followed (once cost two timeouts).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { OutcomeUnknownError } from "../../src/core/errors";
import { nodeDataDir } from "../../src/core/data_dir";
import { RaftClient } from "../../src/raft/client";
import { RaftTestCluster, startRaftCluster } from "../support/raft_cluster";
import { sleep } from "../support/processes";

function logBytes(cluster: RaftTestCluster, address: string): number {
  return fs.statSync(path.join(nodeDataDir(cluster.config.dataDir, address), "log.bin")).size;
}

describe("raft client outcomes (real processes)", function () {
  this.timeout(120_000);
  let cluster: RaftTestCluster | null = null;

  afterEach(async () => {
    for (const node of cluster?.nodes.values() ?? []) node.launched.resume();
    await cluster?.stop();
    cluster = null;
  });

  /** The default config's timing (25 ms ticks, elections after 300-600 ms), or `electionTicks`. */
  async function startWithLeader(electionTicks = 12): Promise<{ leader: string; followers: string[] }> {
    cluster = await startRaftCluster({ config: { tick_ms: 25, election_ticks: electionTicks } });
    const leader = await cluster.leader();
    return { leader, followers: cluster.config.servers.filter((address) => address !== leader) };
  }

  it("gives up with OutcomeUnknownError, naming each node, when an attempt may be in the log", async () => {
    const { leader, followers } = await startWithLeader();
    const client = new RaftClient({ servers: cluster!.config.servers, rpcTimeoutMs: 300, attemptsMax: 4 });
    try {
      await client.set("warm", Buffer.from("up")); // the client knows the leader
      for (const follower of followers) cluster!.nodes.get(follower)!.launched.pause();
      // The leader appends the write, cannot commit it, and steps down for lack of a quorum;
      // its later "not the leader" does not make the write a failure.
      const error = await client.set("k", Buffer.from("v")).then(
        () => assert.fail("the write cannot succeed without a follower"),
        (caught: unknown) => caught,
      );
      assert(error instanceof OutcomeUnknownError, `${String(error)}`);
      assert.match(error.message, /write outcome unknown after 4 attempts/);
      assert.match(error.message, new RegExp(`attempts that may have been applied reached [^(]*${leader.replace(/\./g, "\\.")}`));
      for (const follower of followers) assert.match(error.message, new RegExp(`${follower.replace(/\./g, "\\.")}: no answer within`));
    } finally {
      client.close();
    }
  });

  it("a retry the leader holds in its log waits for that entry: one copy in the log", async () => {
    // Elections after 1-2 s: the leader keeps leading (and taking retries) while the
    // followers are stopped for 1.2 s.
    const { leader, followers } = await startWithLeader(40);
    const value = Buffer.alloc(2 * 1024 * 1024, 7);
    const client = new RaftClient({ servers: [leader], rpcTimeoutMs: 100, attemptsMax: 200 });
    try {
      await client.set("warm", Buffer.from("up"));
      const before = logBytes(cluster!, leader);
      for (const follower of followers) cluster!.nodes.get(follower)!.launched.pause();
      // Each attempt times out (100 ms + the value's share) while the followers are stopped,
      // and every retry goes to the leader, the only server this client knows.
      const write = client.set("big", value);
      await sleep(1_200);
      const attemptsWhileStopped = client.attemptCount;
      const grownWhileStopped = logBytes(cluster!, leader) - before;
      for (const follower of followers) cluster!.nodes.get(follower)!.launched.resume();
      await write.catch(() => undefined); // it may have lost leadership meanwhile: outcome unknown is fine
      assert(attemptsWhileStopped >= 3, `the client retried (${attemptsWhileStopped} attempts in all)`);
      assert(grownWhileStopped >= value.length, "the leader appended the write");
      assert(grownWhileStopped < 2 * value.length, `one copy, not one per attempt: the log grew by ${grownWhileStopped} bytes`);
    } finally {
      client.close();
    }
  });

  it("after the leader stops answering, the next attempt goes to another node and the hint naming it is not followed", async () => {
    const { leader } = await startWithLeader();
    // A deadline shorter than the election timeout: the followers still name the stopped
    // leader when the first attempt gives up.
    const client = new RaftClient({ servers: cluster!.config.servers, rpcTimeoutMs: 200, attemptsMax: 40 });
    try {
      await client.set("warm", Buffer.from("up"));
      cluster!.nodes.get(leader)!.launched.pause();
      await client.set("k", Buffer.from("after the leader stopped"));
      const attempts = client.lastAttemptAddresses;
      assert.equal(attempts[0], leader, "the first attempt went to the known leader");
      assert.equal(attempts.filter((address) => address === leader).length, 1, `one attempt at the stopped leader: ${attempts.join(", ")}`);
      assert.equal((await client.get("k"))?.toString(), "after the leader stopped");
    } finally {
      client.close();
    }
  });
});
