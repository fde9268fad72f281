// The jepsen runner's account of a cache's own deletes (src/jepsen/drops.ts).
// Properties: only raft.key_evicted / raft.key_expired log lines are drops, read field by
// field; one drop logged by every node is one "expire" operation of the value whose checksum
// it names, from the leader's decision to the earliest log line (each widened by 1 ms), on
// the history's clock; a drop of a value no client wrote is reported, not guessed.
import assert from "node:assert/strict";
import { crc32 } from "../../src/codec/checksum";
import { History } from "../../src/check/history";
import { dropOperations, parseDropLine } from "../../src/jepsen/drops";

const line = (event: string, fields: Record<string, unknown>, ts = "2026-01-01T00:00:05.000Z"): string =>
  JSON.stringify({ ts, level: "info", nodeId: "n", mode: "raft", event, ...fields });

describe("jepsen: evictions and expirations from node logs", () => {
  it("reads drop lines and nothing else", () => {
    const fields = { key: "k1", version: 12, valueCrc32: 77, atMs: Date.parse("2026-01-01T00:00:04.990Z") };
    assert.deepEqual(parseDropLine(line("raft.key_evicted", fields)), { ...fields, reason: "evict", loggedAtMs: Date.parse("2026-01-01T00:00:05.000Z") });
    assert.equal(parseDropLine(line("raft.key_expired", fields))?.reason, "expire");
    assert.equal(parseDropLine(line("raft.leader_elected", { term: 2 })), null);
    assert.equal(parseDropLine(line("raft.key_evicted", { ...fields, version: "12" })), null, "a malformed field");
    assert.equal(parseDropLine("ecc-cache: raft.key_evicted is not JSON"), null);
  });

  it("turns each (key, version) into one expire of the value with that checksum, from the decision to the first apply", () => {
    const epochBaseMs = 1_000_000;
    const history: History = [
      { id: 0, clientId: "c0", kind: "set", key: "k1", value: "c0-1", result: null, invokeMs: 1, returnMs: 2, status: "ok" },
      { id: 1, clientId: "c1", kind: "set", key: "k1", value: "c1-1", result: null, invokeMs: 3, returnMs: 4, status: "ok" },
    ];
    const stored = (value: string): Uint8Array => Buffer.from(`${value}!`);
    const crc = crc32(stored("c1-1"));
    const drop = { key: "k1", version: 9, valueCrc32: crc, reason: "evict" as const, atMs: epochBaseMs + 10 };
    const { operations, unmatched, evictions, expirations } = dropOperations(
      [
        { ...drop, loggedAtMs: epochBaseMs + 30 },
        { ...drop, loggedAtMs: epochBaseMs + 20 }, // another node applied it first
        { key: "k1", version: 5, valueCrc32: 1234, reason: "expire", atMs: epochBaseMs, loggedAtMs: epochBaseMs + 1 },
      ],
      history,
      epochBaseMs,
      stored,
    );
    assert.deepEqual(operations, [
      { id: 2, clientId: "cluster.evict", kind: "expire", key: "k1", value: "c1-1", result: null, invokeMs: 9, returnMs: 21, status: "ok" },
    ]);
    assert.deepEqual([evictions, expirations, unmatched.map((entry) => entry.version)], [1, 0, [5]]);
  });
});
