// Range reads on real node processes (5 nodes, k=3, default 256 KiB blocks: 768 KiB stripes):
// - a 1 KiB range of a 64 MiB value moves about one stripe's worth of shard bytes (counted by
//   the nodes themselves, read_bytes_served), not 64 MiB, and comes back byte for byte;
// - with a data shard holding the range killed, the read decodes the covering stripes from k
//   nodes and is still exact;
// - `client getrange` prints the bytes (negative offsets after --), exit 1 for an absent key,
//   exit 2 for an offset that is not an integer.
import assert from "node:assert/strict";
import { createCodec } from "../../src/codec";
import { EcClient } from "../../src/ecc/client";
import { EcStatsReply } from "../../src/gen/ecc";
import { EccTestCluster, startEccCluster } from "../support/ecc_cluster";
import { runCli } from "../support/processes";

const MIB = 1024 * 1024;
const BLOCK = 256 * 1024;

function bigValue(bytes: number): Buffer {
  const value = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4) value.writeUInt32LE((i * 2654435761) >>> 0, i);
  return value;
}

async function servedBytes(client: EcClient): Promise<number> {
  const stats = await client.stats();
  return stats.reduce((sum, s) => sum + ((s as EcStatsReply | null)?.readBytesServed ?? 0), 0);
}

describe("ecc range reads (5 processes, k=3, a 64 MiB value)", function () {
  this.timeout(180_000);
  let cluster: EccTestCluster;
  let client: EcClient;
  const value = bigValue(64 * MIB);

  before(async () => {
    cluster = await startEccCluster({ rpcTimeoutMs: 10_000 });
    client = new EcClient({ config: cluster.config, codec: await createCodec("auto", 3, 2) });
    await client.set("big", value);
  });

  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  it("a 1 KiB range moves about one stripe's worth of bytes, not the value, and is exact", async () => {
    const before = await servedBytes(client);
    const start = 40 * MIB + 12_345;
    const range = await client.getRange("big", start, start + 1023);
    const moved = (await servedBytes(client)) - before;
    assert.deepEqual(range, value.subarray(start, start + 1024));
    // The range lies in one data shard of one stripe (or straddles two shards): one or two
    // 256 KiB stripe shards; a whole stripe is 3 of them.
    assert(moved >= 1024 && moved <= 3 * BLOCK, `${moved} bytes moved for a 1 KiB range`);
    process.stderr.write(`      1 KiB of 64 MiB: ${moved} shard bytes moved\n`);
    // The whole value for comparison: about 64 MiB.
    const beforeWhole = await servedBytes(client);
    assert.deepEqual(await client.get("big"), value);
    assert((await servedBytes(client)) - beforeWhole >= 64 * MIB);
  });

  it("ranges across stripe boundaries, negative and clamped come back exact", async () => {
    const stripe = 3 * BLOCK;
    for (const [start, end] of [
      [stripe - 10, stripe + 10],
      [5 * stripe - 1, 7 * stripe + 1],
      [-1000, -1],
      [64 * MIB - 5, 64 * MIB + 100],
    ]) {
      const got = await client.getRange("big", start, end);
      const from = start < 0 ? value.length + start : start;
      const to = Math.min(end < 0 ? value.length + end : end, value.length - 1);
      assert.deepEqual(got, value.subarray(from, to + 1), `range ${start}..${end}`);
    }
    assert.equal(await client.getRange("absent-key", 0, 10), null);
  });

  it("the CLI prints a range; exit 1 for an absent key, 2 for an offset that is not an integer", async () => {
    const out = await runCli(["ecc", "client", "getrange", "big", "--", "-16", "-1"], { env: cluster.env });
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(out.stdout, value.subarray(value.length - 16));
    assert.equal((await runCli(["ecc", "client", "getrange", "nothere", "0", "5"], { env: cluster.env })).code, 1);
    const bad = await runCli(["ecc", "client", "getrange", "big", "0", "1.5"], { env: cluster.env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not an integer/);
  });

  it("with a data shard holding the range killed, it decodes the covering stripes from k nodes", async () => {
    // Shard 1 of stripe 0 holds value bytes 256 KiB .. 512 KiB - 1.
    await cluster.kill(1);
    const before = await servedBytes(client);
    const range = await client.getRange("big", BLOCK + 100, BLOCK + 5_000);
    assert.deepEqual(range, value.subarray(BLOCK + 100, BLOCK + 5_001));
    const moved = (await servedBytes(client)) - before;
    assert(moved <= 3 * BLOCK, `${moved} bytes moved: one stripe from each of k nodes`);
  });
});
