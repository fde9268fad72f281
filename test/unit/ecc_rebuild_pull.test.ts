// The recovering node's bulk pull (EccNodeCore's rebuild, EcShardReplica.pullShards), stepped
// by hand: five real node cores on a tiny in-test network that delivers every message at
// once (or drops, corrupts or reorders what a test asks for). Properties:
// 1. Every key rebuilds exactly: values of 0 bytes, small ones and several stripes, TTL
//    deadlines and tombstones; the recovering node's shard is byte for byte the writer's,
//    with its version and deadline; every key went through bulk pulls (no per-key read),
//    each pull to the same k members, data shards first, and the node asks for promotion.
// 2. Bounded: never more than rebuildPullsInFlightMax pulls outstanding, no reply above
//    rebuildPullBytes (plus one key's envelope), no pull naming more than rebuildPullKeysMax;
//    paced: pulls answered slower than rebuildPullLatencyMs keep one pull in flight, fast
//    ones open the window up to rebuildPullsInFlightMax.
// 3. Keys the bulk path cannot settle go to per-key reads, and only those: shards of
//    different versions (a write committed on one member only), blobs larger than a reply,
//    a shard that fails its CRC-32 (logged, never decoded).
// 4. A newer version already on the recovering node is never replaced by a pulled one.
// 5. Replies to a rebuild that was given up (the node left recovering and came back) change
//    nothing; a member that does not answer is avoided and the run is pulled again.
// 6. The member side: a pull is answered only by a member that serves reads, at the
//    puller's epoch; bad input (no keys, too many, a bad key, a bad bytes_max) is refused and
//    answers nothing; answering does not count as an access for eviction.
import assert from "node:assert/strict";
import { crc32 } from "../../src/codec/checksum";
import { TableCodec } from "../../src/codec/table_codec";
import { REBUILD_PULL_KEYS_MAX } from "../../src/core/limits";
import { EcPullShardsReply, Op, Result, ResultCode, WriteReason } from "../../src/gen/ecc";
import { Layout, blobBytes } from "../../src/ecc/layout";
import { EccNodeCore, NODE_TIMING, NodeEffect, NodeTiming, OpBody, PeerPurpose } from "../../src/ecc/node_core";
import { VersionedRead } from "../../src/ecc/read_coordinator";
import { encodeBlobs } from "../../src/ecc/shard_coding";
import { View } from "../../src/ecc/view";

const N = 5;
const K = 3;
const M = N - K;
const BLOCK = 16;
const WALL_MS = 1_800_000_000_000;
const codec = new TableCodec(K, M);
const ALL: View = { epoch: 1, members: [0, 1, 2, 3, 4], recovering: [] };
const RECOVERING_1: View = { epoch: 2, members: [0, 2, 3, 4], recovering: [1] };

interface Truth {
  version: number;
  value: Buffer | null; // null: a tombstone
  expiresAtMs: number;
}

function layoutOf(valueBytes: number): Layout {
  return { valueBytes, blockBytes: BLOCK, dataShards: K, parityShards: M };
}

function txId(n: number): Buffer {
  const id = Buffer.alloc(16);
  id.writeUInt32BE(n, 0);
  return id;
}

let txCounter = 0;

/** Commits `truth` for `key` on the given cores through their replicas' EcPrepare + EcCommit. */
function commitOn(cores: EccNodeCore[], indexes: number[], key: string, truth: Truth): void {
  const value = truth.value ?? Buffer.alloc(0);
  const layout = layoutOf(value.length);
  const blobs = encodeBlobs(codec, layout, value);
  const id = txId(++txCounter);
  for (const index of indexes) {
    const blob = truth.value === null ? Buffer.alloc(0) : blobs[index];
    const replica = cores[index].replica;
    const prepared = replica.prepare(
      {
        key: Buffer.from(key, "latin1"),
        txId: id,
        shardIndex: index,
        layout: { ...layout, valueCrc32: crc32(value) },
        tombstone: truth.value === null,
        shardCrc32: crc32(blob),
        offset: 0,
        data: blob,
        last: true,
        leaseMs: 1_000,
        reason: WriteReason.WRITE_REASON_CLIENT,
      },
      0,
    );
    assert.equal(prepared.code, ResultCode.RESULT_CODE_OK, prepared.message);
    const committed = replica.commit({ key: Buffer.from(key, "latin1"), txId: id, version: truth.version, resolution: false, expiresAtMs: truth.expiresAtMs }, WALL_MS);
    assert.equal(committed.code, ResultCode.RESULT_CODE_OK, committed.message);
  }
}

type Deliver = (from: number, to: number, body: OpBody, result: Result) => Result | null;

/** Five cores and a network that delivers at once, in order, unless `deliver` says otherwise. */
class Cluster {
  readonly cores: EccNodeCore[];
  readonly truth = new Map<string, Truth>();
  readonly queue: Array<() => void> = [];
  readonly logs: Array<Extract<NodeEffect, { kind: "log" }>> = [];
  readonly rebuildReads: string[] = [];
  readonly pullReplies: EcPullShardsReply[] = [];
  pullsOutstanding = 0;
  pullsOutstandingMax = 0;
  readonly pullKeyCounts: number[] = [];
  readonly pullSources: number[][] = [];
  deliver: Deliver = (_from, _to, _body, result) => result;
  nowMs = 1_000;
  /** Virtual ms each reply takes (time advances by it before the reply is handed back). */
  replyMs = 0;

  constructor(timing: Partial<NodeTiming> = {}) {
    this.cores = Array.from(
      { length: N },
      (_, index) =>
        new EccNodeCore({
          shardIndex: index,
          shardCount: N,
          dataShards: K,
          blockBytes: BLOCK,
          address: `n${index}`,
          heartbeatTimeoutMs: 1_000,
          needsRebuild: index === 1,
          initialView: index === 1 ? ALL : RECOVERING_1,
          codec,
          timing: { ...timing },
        }),
    );
  }

  write(key: string, truth: Truth, on: number[] = [0, 2, 3, 4]): void {
    this.truth.set(key, truth);
    commitOn(this.cores, on, key, truth);
  }

  /** Node 1 learns it is recovering; run until nothing is left to deliver. */
  recover(): void {
    this.carry(1, this.cores[1].onView(RECOVERING_1, this.nowMs));
    this.run();
  }

  run(): void {
    for (let steps = 0; this.queue.length > 0; steps++) {
      assert(steps < 1_000_000, "the exchange does not end");
      this.queue.shift()!();
    }
  }

  carry(from: number, effects: NodeEffect[]): void {
    const pulls = new Map<number, number>();
    for (const effect of effects) {
      if (effect.kind === "send" && effect.purpose.kind === "pullShards") pulls.set(effect.purpose.pull, (pulls.get(effect.purpose.pull) ?? 0) + 1);
    }
    for (const count of pulls.values()) {
      assert.equal(count, K, "a pull goes to k members");
      this.pullsOutstanding++;
    }
    this.pullsOutstandingMax = Math.max(this.pullsOutstandingMax, this.pullsOutstanding);
    const seen = new Set<number>();
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          if (effect.purpose.kind === "pullShards" && !seen.has(effect.purpose.pull)) {
            seen.add(effect.purpose.pull);
            const body = effect.body as Extract<OpBody, { $case: "pullShards" }>;
            this.pullKeyCounts.push(body.value.keys.length);
            this.pullSources.push(effects.filter((e) => e.kind === "send" && e.purpose.kind === "pullShards" && e.purpose.pull === (effect.purpose as { pull: number }).pull).map((e) => (e as { node: number }).node));
          }
          this.queue.push(() => this.exchange(from, effect.node, effect.body, effect.purpose));
          break;
        case "rebuildRead":
          this.rebuildReads.push(effect.key);
          this.queue.push(() => this.carry(from, this.cores[from].onRebuildRead(effect.generation, effect.key, this.read(effect.key), this.nowMs, WALL_MS)));
          break;
        case "log":
          this.logs.push(effect);
          break;
        default:
          break;
      }
    }
  }

  exchange(from: number, to: number, body: OpBody, purpose: PeerPurpose): void {
    const op: Op = { id: 1, epoch: 0, body };
    const { result } = this.cores[to].handle(op, this.nowMs, to === 0, "n0", WALL_MS);
    const delivered = this.deliver(from, to, body, result);
    if (delivered?.body?.$case === "pullShards") this.pullReplies.push(delivered.body.value);
    const reply = delivered === null ? ({ kind: "silent", message: "dropped by the test" } as const) : ({ kind: "ok", result: delivered } as const);
    this.nowMs += this.replyMs;
    const effects = this.cores[from].onPeerReply(purpose, reply, this.nowMs, WALL_MS);
    if (purpose.kind === "pullShards" && this.isLastReply(purpose)) this.pullsOutstanding--;
    this.carry(from, effects);
  }

  private readonly repliesSeen = new Map<number, number>();
  private isLastReply(purpose: Extract<PeerPurpose, { kind: "pullShards" }>): boolean {
    const seen = (this.repliesSeen.get(purpose.pull) ?? 0) + 1;
    this.repliesSeen.set(purpose.pull, seen);
    return seen === K;
  }

  /** A per-key read, as a read coordinator would answer it: the truth. */
  read(key: string): VersionedRead {
    const truth = this.truth.get(key);
    if (truth === undefined) return { kind: "absent", version: 0 };
    if (truth.value === null) return { kind: "absent", version: truth.version };
    return { kind: "value", version: truth.version, value: truth.value, valueBytes: truth.value.length, expiresAtMs: truth.expiresAtMs };
  }

  /** Node 1 holds exactly what the truth says, shard byte for shard byte. */
  checkRebuilt(): void {
    const store = this.cores[1].replica.store;
    for (const [key, truth] of this.truth) {
      const entry = store.get(key);
      assert.ok(entry !== null, `${key} missing`);
      assert.equal(entry.version, truth.version, key);
      assert.equal(entry.tombstone, truth.value === null, key);
      if (truth.value === null) continue;
      const blob = encodeBlobs(codec, layoutOf(truth.value.length), truth.value)[1];
      assert.ok(entry.shard.subarray(0, blob.length).equals(blob), `${key}: wrong shard`);
      assert.equal(entry.shardCrc32, crc32(blob), key);
      assert.equal(entry.valueCrc32, crc32(truth.value), key);
      assert.equal(entry.valueBytes, truth.value.length, key);
      assert.equal(entry.expiresAtMs, truth.expiresAtMs, key);
    }
  }

  finished(): Record<string, unknown> {
    const finished = this.logs.find((effect) => effect.event === "ec.rebuild_finished");
    assert.ok(finished !== undefined, `no rebuild_finished; logs: ${this.logs.map((l) => `${l.event} ${JSON.stringify(l.fields)}`).join("; ")}`);
    return finished.fields;
  }
}

function valueOf(bytes: number, seed: number): Buffer {
  const value = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) value[i] = (i * 31 + seed * 7) & 0xff;
  return value;
}

/** 40 keys: every size class, some with TTLs, some deleted. */
function load(cluster: Cluster): void {
  const sizes = [0, 1, 2, 3, 4, 20, 47, 48, 49, 100, 3 * BLOCK * K + 5];
  for (let i = 0; i < 40; i++) {
    const key = `key${String(i).padStart(2, "0")}`;
    if (i % 9 === 8) cluster.write(key, { version: 3, value: null, expiresAtMs: 0 });
    else cluster.write(key, { version: 1 + (i % 4), value: valueOf(sizes[i % sizes.length], i), expiresAtMs: i % 5 === 0 ? WALL_MS + 60_000 + i : 0 });
  }
}

const SMALL_PULLS: Partial<NodeTiming> = { rebuildPullsInFlightMax: 2, rebuildPullBytes: 400, rebuildPullKeysMax: 6, rebuildRunBytes: 50 };

describe("rebuild by bulk pulls (EccNodeCore + EcShardReplica, stepped by hand)", () => {
  it("rebuilds every key exactly through pulls from the data shards first, bounded, without per-key reads", () => {
    const cluster = new Cluster(SMALL_PULLS);
    load(cluster);
    cluster.recover();
    cluster.checkRebuilt();
    assert.deepEqual(cluster.rebuildReads, []);
    const fields = cluster.finished();
    assert.equal(fields.fallbackKeys, 0);
    assert.equal(fields.pulledKeys, 40);
    assert.equal(cluster.cores[1].state.kind, "rebuilt");
    for (const sources of cluster.pullSources) assert.deepEqual(sources, [0, 2, 3], "data shards first");
    assert.ok(cluster.pullSources.length > 6, "the listing was cut into many runs");
    assert.ok(cluster.pullsOutstandingMax <= 2 && cluster.pullsOutstandingMax >= 2, `outstanding ${cluster.pullsOutstandingMax}`);
    for (const count of cluster.pullKeyCounts) assert.ok(count <= 6);
    for (const reply of cluster.pullReplies) {
      const bytes = reply.shards.reduce((sum, shard) => sum + shard.data.length + shard.key.length + 64, 0);
      const last = reply.shards[reply.shards.length - 1];
      assert.ok(reply.shards.length === 1 || bytes <= 400, `a reply of ${bytes} bytes`);
      assert.ok(bytes - (last.data.length + last.key.length + 64) <= 400);
    }
  });

  it("paces pulls by their latency: slow replies keep one in flight, fast ones open the window", () => {
    const timing = { ...SMALL_PULLS, rebuildPullsInFlightMax: 4, rebuildPullLatencyMs: 50 };
    const slow = new Cluster(timing);
    load(slow);
    slow.replyMs = 30; // three replies per pull: 90 ms, above the 50 ms target
    slow.recover();
    slow.checkRebuilt();
    assert.equal(slow.pullsOutstandingMax, 1);
    const fast = new Cluster(timing);
    load(fast);
    fast.replyMs = 1;
    fast.recover();
    fast.checkRebuilt();
    assert.equal(fast.pullsOutstandingMax, 4);
    // The first run names every key (nothing is known of their sizes yet); what its reply had
    // no room for is cut into runs that go out side by side, not one after another.
    const wide = new Cluster({ ...timing, rebuildPullKeysMax: 100 });
    load(wide);
    wide.replyMs = 1;
    wide.recover();
    wide.checkRebuilt();
    assert.equal(wide.pullKeyCounts[0], 40);
    assert.equal(wide.pullsOutstandingMax, 4);
  });

  it("rebuilds a parity node's shard too (one row from the data shards)", () => {
    const cluster = new Cluster(SMALL_PULLS);
    // Node 1 is a member here; node 4 recovers instead.
    const view: View = { epoch: 2, members: [0, 1, 2, 3], recovering: [4] };
    const cores = Array.from({ length: N }, (_, index) =>
      new EccNodeCore({ shardIndex: index, shardCount: N, dataShards: K, blockBytes: BLOCK, address: `n${index}`, heartbeatTimeoutMs: 1_000, needsRebuild: index === 4, initialView: index === 4 ? ALL : view, codec, timing: SMALL_PULLS }),
    );
    (cluster as unknown as { cores: EccNodeCore[] }).cores.splice(0, N, ...cores);
    for (let i = 0; i < 12; i++) cluster.write(`p${i}`, { version: 1, value: valueOf(i * 9, i), expiresAtMs: 0 }, [0, 1, 2, 3]);
    cluster.carry(4, cores[4].onView(view, cluster.nowMs));
    cluster.run();
    for (const [key, truth] of cluster.truth) {
      const entry = cores[4].replica.store.get(key)!;
      assert.ok(entry.shard.subarray(0, blobBytes(layoutOf(truth.value!.length))).equals(encodeBlobs(codec, layoutOf(truth.value!.length), truth.value!)[4]), key);
    }
    for (const sources of cluster.pullSources) assert.deepEqual(sources, [0, 1, 2]);
    assert.deepEqual(cluster.rebuildReads, []);
  });

  it("sends only the keys it cannot settle to per-key reads: mixed versions, oversized blobs, corrupt shards", () => {
    const cluster = new Cluster({ ...SMALL_PULLS, rebuildPullBytes: 40 });
    load(cluster);
    // A write committed on node 0 only (it is committing): versions disagree.
    cluster.write("key05", { version: 9, value: valueOf(30, 99), expiresAtMs: 0 }, [0]);
    cluster.truth.set("key05", { version: 9, value: valueOf(30, 99), expiresAtMs: 0 });
    // Node 2's shard of key07 arrives with a flipped byte.
    cluster.deliver = (_from, to, body, result) => {
      if (to !== 2 || body.$case !== "pullShards" || result.body?.$case !== "pullShards") return result;
      for (const shard of result.body.value.shards) if (shard.key.toString() === "key07" && shard.data.length > 0) shard.data = Buffer.from(shard.data.map((byte, i) => (i === 0 ? byte ^ 1 : byte)));
      return result;
    };
    cluster.recover();
    cluster.checkRebuilt();
    const oversized = [...cluster.truth].filter(([, truth]) => truth.value !== null && blobBytes(layoutOf(truth.value.length)) > 40).map(([key]) => key);
    assert.ok(oversized.length > 0);
    assert.deepEqual([...cluster.rebuildReads].sort(), ["key05", "key07", ...oversized].sort());
    const refused = cluster.logs.filter((effect) => effect.event === "ec.rebuild_shard_refused");
    assert.equal(refused.length, 1);
    assert.match(String(refused[0].fields.reason), /shard 2 fails its CRC-32/);
    const fields = cluster.finished();
    assert.equal(fields.fallbackKeys, 2 + oversized.length);
  });

  it("never replaces a newer version the recovering node already holds", () => {
    const cluster = new Cluster(SMALL_PULLS);
    load(cluster);
    // A write reached node 1 (a write target while recovering) and the members' old version is pulled.
    const newer: Truth = { version: 7, value: valueOf(33, 7), expiresAtMs: 0 };
    commitOn(cluster.cores, [1], "key10", newer);
    cluster.truth.set("key10", newer);
    cluster.recover();
    cluster.checkRebuilt();
  });

  it("ignores replies of a rebuild that was given up, and pulls again around a silent member", () => {
    const cluster = new Cluster(SMALL_PULLS);
    load(cluster);
    // Node 0 answers nothing at first: its pulls fail and go to 2, 3, 4 instead.
    let silenced = 0;
    cluster.deliver = (_from, to, body, result) => {
      if (to === 0 && body.$case === "pullShards" && silenced < 3) {
        silenced++;
        return null;
      }
      return result;
    };
    cluster.recover();
    cluster.checkRebuilt();
    assert.ok(silenced >= 1);
    assert.ok(cluster.pullSources.some((sources) => sources.join() === "2,3,4"), "a member whose pull failed is avoided");
    const fields = cluster.finished();
    assert.ok(Number(fields.pullsFailed) >= 1);

    // Generations: hold every pull reply, restart the rebuild, then deliver the old replies.
    const second = new Cluster(SMALL_PULLS);
    load(second);
    const held: Array<() => void> = [];
    const exchange = second.exchange.bind(second);
    second.exchange = (from, to, body, purpose) => {
      if (body.$case === "pullShards") held.push(() => exchange(from, to, body, purpose));
      else exchange(from, to, body, purpose);
    };
    second.recover();
    const oldCount = held.length;
    assert.ok(oldCount > 0);
    // Removed from the view (its shards dropped), then recovering again: a new generation.
    second.carry(1, second.cores[1].onView({ epoch: 3, members: [0, 2, 3, 4], recovering: [] }, second.nowMs));
    second.carry(1, second.cores[1].onView({ epoch: 4, members: [0, 2, 3, 4], recovering: [1] }, second.nowMs));
    second.run(); // the new generation lists again; its pulls are held too
    for (const deliver of held.splice(0, oldCount)) deliver(); // the old generation's replies arrive
    second.run();
    assert.equal(second.cores[1].replica.store.size, 0, "an abandoned rebuild's pulls installed nothing");
    assert.equal(second.cores[1].state.kind, "recovering");
    // The new generation's pulls complete the rebuild.
    second.exchange = exchange;
    while (held.length > 0) held.shift()!();
    second.run();
    second.checkRebuilt();
    assert.equal(second.cores[1].state.kind, "rebuilt");
  });
});

describe("EcPullShards on the member side", () => {
  const cluster = new Cluster();
  load(cluster);
  const member = cluster.cores[0];
  const pull = (keys: string[], bytesMax: number, epoch = RECOVERING_1.epoch): Result =>
    member.handle({ id: 9, epoch: 0, body: { $case: "pullShards", value: { keys: keys.map((key) => Buffer.from(key)), bytesMax, epoch } } }, 0, false, "", WALL_MS).result;

  it("answers a prefix of the keys in order, bounded by bytes, with whole blobs, versions, deadlines and tombstones", () => {
    const keys = [...cluster.truth.keys()].sort();
    const result = pull([...keys, "nosuchkey"], 4 * 1024 * 1024);
    assert.equal(result.code, ResultCode.RESULT_CODE_OK);
    const reply = (result.body as { value: EcPullShardsReply }).value;
    assert.equal(reply.shardIndex, 0);
    assert.equal(reply.shards.length, keys.length + 1);
    reply.shards.slice(0, -1).forEach((shard, i) => {
      const truth = cluster.truth.get(keys[i])!;
      assert.equal(shard.key.toString(), keys[i]);
      assert.equal(shard.version, truth.version);
      assert.equal(shard.tombstone, truth.value === null);
      if (truth.value === null) return assert.equal(shard.data.length, 0);
      assert.equal(shard.expiresAtMs, truth.expiresAtMs);
      assert.ok(shard.data.equals(encodeBlobs(codec, layoutOf(truth.value.length), truth.value)[0]));
      assert.equal(shard.shardCrc32, crc32(shard.data));
      assert.equal(shard.layout!.valueCrc32, crc32(truth.value));
    });
    assert.equal(reply.shards[keys.length].version, 0);
    // 150 bytes: the first key always, then only what fits.
    const small = (pull(keys, 150).body as { value: EcPullShardsReply }).value;
    const cost = (i: number): number => small.shards[i].data.length + small.shards[i].key.length + 64;
    let total = 0;
    for (let i = 0; i < small.shards.length; i++) total += cost(i);
    assert.ok(small.shards.length >= 1 && small.shards.length < keys.length);
    assert.ok(small.shards.length === 1 || total <= 150);
    // A blob larger than bytes_max is flagged, not sent.
    const big = keys.find((key) => (cluster.truth.get(key)!.value?.length ?? 0) > 100)!;
    const [flagged] = (pull([big], 10).body as { value: EcPullShardsReply }).value.shards;
    assert.equal(flagged.oversized, true);
    assert.equal(flagged.data.length, 0);
  });

  it("refuses bad input and answers nothing; only a member serving reads at the puller's epoch answers", () => {
    assert.equal(pull([], 100).code, ResultCode.RESULT_CODE_INVALID_ARGUMENT);
    assert.equal(pull(Array.from({ length: REBUILD_PULL_KEYS_MAX + 1 }, (_, i) => `k${i}`), 100).code, ResultCode.RESULT_CODE_INVALID_ARGUMENT);
    assert.equal(pull(["key01", ""], 100).code, ResultCode.RESULT_CODE_INVALID_ARGUMENT);
    assert.equal(pull(["key01"], 0).code, ResultCode.RESULT_CODE_INVALID_ARGUMENT);
    assert.equal(pull(["key01"], 64 * 1024 * 1024).code, ResultCode.RESULT_CODE_INVALID_ARGUMENT);
    for (const code of [pull([], 100), pull(["key01", ""], 100)].map((result) => result.body)) assert.equal(code, undefined);
    const stale = pull(["key01"], 100, 1);
    assert.equal(stale.code, ResultCode.RESULT_CODE_STALE_EPOCH);
    assert.equal(stale.currentView?.epoch, RECOVERING_1.epoch);
    const notServing = cluster.cores[1].handle({ id: 1, epoch: 0, body: { $case: "pullShards", value: { keys: [Buffer.from("key01")], bytesMax: 100, epoch: 1 } } }, 0, false, "", WALL_MS).result;
    assert.equal(notServing.code, ResultCode.RESULT_CODE_NOT_SERVING);
  });

  it("does not count as an access for eviction", () => {
    const store = member.replica.store;
    const before = store.summary("key01")!.stamp;
    pull(["key01"], 1000);
    assert.equal(store.summary("key01")!.stamp, before);
    void NODE_TIMING;
  });
});
