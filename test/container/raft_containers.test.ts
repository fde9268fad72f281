// raft mode in containers: 3 nodes of the project image on a private network, each with
// its own data directory inside the container, driven from the host through published
// ports. Faults, each followed by byte-for-byte reads of what was acknowledged:
// - docker kill of the leader: a new leader, writes continue; `docker start` brings the
//   old one back from its files and it catches up;
// - docker pause of a follower: writes continue; unpause;
// - network disconnect of the leader (a real partition): the other two elect a leader and
//   writes continue; after reconnect the old leader follows and catches up;
// - two of three nodes paused (beyond the fault budget): operations fail with a clear
//   "unavailable" error; after unpause they succeed and nothing acknowledged is lost.
// Skipped, with the reason, without a Docker engine or the image (fails instead with
// ECC_CACHE_REQUIRE_DOCKER=1, as in CI). Every container and the network are removed at
// the end, also on failure.
import assert from "node:assert/strict";
import { Network, type StartedNetwork, Wait, getContainerRuntimeClient } from "testcontainers";
import { RaftClient } from "../../src/raft/client";
import { freePorts, sleep } from "../support/processes";
import { ClusterNodeContainer, Dockerode, IMAGE, NEVER_PULL, REQUIRE_DOCKER, RUN_ID, RUN_LABEL, dockerUnavailableReason } from "./docker_support";

const NODE_COUNT = 3;
const NODE_PORT = 4000;

interface Slot {
  index: number;
  alias: string;
  hostPort: number;
  id: string | null;
}

describe("raft containers (3 nodes of the image; skipped without Docker)", function () {
  this.timeout(240_000);
  let docker: Dockerode | null = null;
  let network: StartedNetwork | null = null;
  let client: RaftClient | null = null;
  let slots: Slot[] = [];
  const acknowledged = new Map<string, string>();
  let round = 0;

  before(async function () {
    this.timeout(120_000);
    const reason = await dockerUnavailableReason();
    if (reason !== null) {
      if (REQUIRE_DOCKER) throw new Error(`ECC_CACHE_REQUIRE_DOCKER=1 but ${reason}`);
      console.log(`      skipping the raft container suite: ${reason}`);
      this.skip();
    }
    docker = (await getContainerRuntimeClient()).container.dockerode;
    network = await new Network().start();
    const ports = await freePorts(NODE_COUNT);
    slots = ports.map((hostPort, index) => ({ index, alias: `raft${index}`, hostPort, id: null }));
    const servers = slots.map((slot) => `${slot.alias}:${NODE_PORT}`).join(",");
    await Promise.all(
      slots.map(async (slot) => {
        const started = await new ClusterNodeContainer(IMAGE, network!, slot.alias)
          .withPullPolicy(NEVER_PULL)
          .withExtraHosts([{ host: slot.alias, ipAddress: "0.0.0.0" }]) // listen on every interface
          .withExposedPorts({ container: NODE_PORT, host: slot.hostPort })
          .withEnvironment({ RAFT_SERVERS: servers, RAFT_TICK_MS: "10", RAFT_ELECTION_TICKS: "15", RAFT_HEARTBEAT_TICKS: "2", RAFT_FSYNC: "never" })
          .withCommand(["raft", "server", "startOne", String(slot.index)])
          .withLabels({ [RUN_LABEL]: RUN_ID })
          .withWaitStrategy(Wait.forLogMessage(/raft\.node_started/))
          .withStartupTimeout(30_000)
          .start();
        slot.id = started.getId();
      }),
    );
    // Leader hints name nodes by service name (raftN:4000), which the host cannot resolve:
    // the client then falls back to trying the published addresses in turn.
    client = new RaftClient({ servers: slots.map((slot) => `127.0.0.1:${slot.hostPort}`), rpcTimeoutMs: 1_000, attemptsMax: 80 });
  });

  after(async function () {
    this.timeout(60_000);
    client?.close();
    if (docker !== null) {
      const leftovers = await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${RUN_ID}`] } });
      await Promise.all(leftovers.map((info) => docker!.getContainer(info.Id).remove({ force: true, v: true }).catch(() => undefined)));
    }
    await network?.stop().catch(() => undefined);
  });

  async function writeSome(count: number): Promise<void> {
    round++;
    for (let i = 0; i < count; i++) {
      const key = `r${round}-${i}`;
      const value = `value-${round}-${i}-${"x".repeat(i * 13)}`;
      await client!.set(key, Buffer.from(value));
      acknowledged.set(key, value);
    }
  }

  async function verifyAll(): Promise<void> {
    for (const [key, value] of acknowledged) {
      const read = await client!.get(key);
      assert.equal(read?.toString(), value, `key ${key}`);
    }
  }

  async function leaderSlot(timeoutMs = 15_000): Promise<Slot> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const slot of slots) {
        const stats = await client!.stats(`127.0.0.1:${slot.hostPort}`).catch(() => null);
        if (stats?.role === "leader") return slot;
      }
      await sleep(100);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  async function caughtUp(slot: Slot, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const leader = await leaderSlot();
    const target = (await client!.stats(`127.0.0.1:${leader.hostPort}`)).commitIndex;
    while (Date.now() < deadline) {
      const stats = await client!.stats(`127.0.0.1:${slot.hostPort}`).catch(() => null);
      if (stats !== null && stats.appliedIndex >= target) return;
      await sleep(100);
    }
    throw new Error(`${slot.alias} did not catch up to index ${target}`);
  }

  it("writes and reads through the published ports", async () => {
    await writeSome(20);
    await verifyAll();
  });

  it("docker kill of the leader: a new leader, writes continue; docker start brings it back from its files", async () => {
    const old = await leaderSlot();
    await docker!.getContainer(old.id!).kill({ signal: "SIGKILL" });
    await writeSome(20);
    const fresh = await leaderSlot();
    assert.notEqual(fresh.index, old.index);
    await verifyAll();
    await docker!.getContainer(old.id!).start();
    await caughtUp(old);
    await writeSome(5);
    await verifyAll();
  });

  it("docker pause of a follower: writes continue; after unpause it catches up", async () => {
    const leader = await leaderSlot();
    const follower = slots.find((slot) => slot.index !== leader.index)!;
    await docker!.getContainer(follower.id!).pause();
    try {
      await writeSome(20);
      await verifyAll();
    } finally {
      await docker!.getContainer(follower.id!).unpause();
    }
    await caughtUp(follower);
  });

  it("network disconnect of the leader (a real partition): the others elect a leader and go on", async () => {
    const old = await leaderSlot();
    const dockerNetwork = docker!.getNetwork(network!.getId());
    await dockerNetwork.disconnect({ Container: old.id!, Force: true });
    try {
      await writeSome(20); // reaches the new leader; the isolated one cannot commit anything
      await verifyAll();
    } finally {
      await dockerNetwork.connect({ Container: old.id!, EndpointConfig: { Aliases: [old.alias] } });
    }
    await caughtUp(old);
    await verifyAll();
  });

  it("two of three paused: operations fail with 'unavailable'; after unpause nothing is lost", async () => {
    const leader = await leaderSlot();
    const paused = slots.filter((slot) => slot.index !== leader.index);
    const strict = new RaftClient({ servers: slots.map((slot) => `127.0.0.1:${slot.hostPort}`), rpcTimeoutMs: 500, attemptsMax: 6 });
    try {
      for (const slot of paused) await docker!.getContainer(slot.id!).pause();
      await assert.rejects(strict.set("no-majority", Buffer.from("x")), /unavailable|outcome unknown|failed after/i);
    } finally {
      strict.close();
      for (const slot of paused) await docker!.getContainer(slot.id!).unpause().catch(() => undefined);
    }
    await writeSome(5);
    await verifyAll();
  });
});
