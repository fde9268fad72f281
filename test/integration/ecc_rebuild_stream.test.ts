// A rebuild through bulk pulls, on real node processes (n=5, k=3, 4 KiB blocks so values of
// tens of KiB span several stripes). Property: after node 1 is killed, restarted with
// `recover` while a writer keeps overwriting and adding keys, and promoted, every key reads
// back at the version the cluster acknowledged last, with its exact bytes and TTL deadline,
// and deleted keys read as absent at their tombstone's version; checked with nodes 0 and 2
// killed afterwards, so every read must decode from node 1's rebuilt shards. The node's own
// log shows that the bulk path settled the keys (pulledKeys) and how many went per key.
// Method: acknowledged writes are recorded as they return; a write that failed leaves its
// key uncertain (its outcome is unknown), and such keys are checked to hold either the last
// acknowledged state or a later version.
import assert from "node:assert/strict";
import { createCodec } from "../../src/codec";
import { EcClient } from "../../src/ecc/client";
import { sleep } from "../support/processes";
import { startEccCluster, EccTestCluster } from "../support/ecc_cluster";

interface Acknowledged {
  version: number;
  value: Buffer | null; // null: deleted
  expiresAtMs: number;
  uncertain: boolean;
}

const SIZES = [0, 1, 100, 1000, 5000, 13_000, 40_000];

function valueFor(key: string, round: number, bytes: number): Buffer {
  const value = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) value[i] = (i * 7 + round * 13 + key.length) & 0xff;
  value.write(`${key}/${round}`.slice(0, bytes), 0);
  return value;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe("ecc rebuild through bulk pulls (5 processes, k=3)", function () {
  this.timeout(300_000);
  let cluster: EccTestCluster;
  let client: EcClient;
  const acked = new Map<string, Acknowledged>();

  before(async () => {
    cluster = await startEccCluster({ blockSize: 4096 });
    client = new EcClient({ config: cluster.config, codec: await createCodec("auto", 3, 2) });
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  async function write(key: string, round: number, index: number): Promise<void> {
    const known = acked.get(key);
    try {
      if (index % 11 === 10) {
        const result = await client.del(key);
        acked.set(key, { version: result.version, value: null, expiresAtMs: 0, uncertain: false });
        return;
      }
      const value = valueFor(key, round, SIZES[(index + round) % SIZES.length]);
      const expireAtMs = index % 4 === 0 ? Date.now() + 600_000 + index : undefined;
      const result = await client.set(key, value, expireAtMs === undefined ? {} : { expireAtMs });
      acked.set(key, { version: result.version, value, expiresAtMs: expireAtMs ?? 0, uncertain: false });
    } catch {
      // Outcome unknown: the key may hold this write or the last acknowledged one.
      acked.set(key, { ...(known ?? { version: 0, value: null, expiresAtMs: 0 }), uncertain: true });
    }
  }

  it("leaves every key readable at its acknowledged version, bytes and deadline, from the rebuilt shards", async () => {
    const keys = Array.from({ length: 1_500 }, (_, i) => `rk${i}`);
    for (let start = 0; start < keys.length; start += 50) {
      await Promise.all(keys.slice(start, start + 50).map((key, j) => write(key, 0, start + j)));
    }
    await cluster.kill(1);
    // Overwrites while node 1 is gone.
    for (let i = 0; i < 200; i++) await write(keys[i * 7], 1, i);

    // A writer overwriting old keys and adding new ones through the restart and the rebuild.
    let running = true;
    let round = 2;
    const writer = (async () => {
      for (let i = 0; running && i < 100_000; i++) {
        const key = i % 3 === 0 ? `new${i}` : keys[(i * 13) % keys.length];
        await write(key, round++, i);
      }
    })();
    await sleep(300);
    await cluster.start(1, true);
    await waitFor("node 1 promoted", 120_000, async () => (await client.stats())[1]?.state === "member");
    await sleep(300);
    running = false;
    await writer;

    const finished = cluster.nodes[1]!.output.filter((line) => line.includes('"event":"ec.rebuild_finished"'));
    assert.ok(finished.length >= 1, `no ec.rebuild_finished in node 1's output:\n${cluster.nodes[1]!.output.slice(-20).join("\n")}`);
    const fields = JSON.parse(finished[finished.length - 1]) as { pulledKeys: number; fallbackKeys: number; keys: number };
    assert.ok(fields.pulledKeys > 1_000, `only ${fields.pulledKeys} keys came through bulk pulls`);
    assert.ok(fields.fallbackKeys < fields.pulledKeys / 10, `${fields.fallbackKeys} keys went per key`);

    // Nodes 0 and 2 gone: every read decodes from nodes 1, 3 and 4.
    await cluster.kill(0);
    await cluster.kill(2);
    await waitFor("a view of nodes 1, 3 and 4", 30_000, async () => {
      const view = await client.refreshView();
      return view.members.length === 3 && view.members.includes(1);
    });
    const entries = [...acked.entries()];
    const problems: string[] = [];
    for (let start = 0; start < entries.length; start += 50) {
      await Promise.all(
        entries.slice(start, start + 50).map(async ([key, expected]) => {
          const read = await client.getVersioned(key);
          const same =
            read.version === expected.version &&
            (expected.value === null
              ? read.kind === "absent"
              : read.kind === "value" && read.value.equals(expected.value) && read.expiresAtMs === expected.expiresAtMs);
          if (same) return;
          if (expected.uncertain && read.version > expected.version) return;
          problems.push(`${key}: read ${read.kind}@${read.version}, acknowledged ${expected.value === null ? "deleted" : `${expected.value.length} B`}@${expected.version}${expected.uncertain ? " (a later write's outcome unknown)" : ""}`);
        }),
      );
    }
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} of ${entries.length} keys differ`);
    assert.ok(entries.length > 1_500);
  });
});
