// The jepsen runner's account of a cache's own deletes (src/jepsen/drops.ts).
// Properties: only raft.key_* / ec.key_* drop log lines are drops, read field by field; one
// drop logged by several nodes is one "expire" operation of the value whose checksum it
// names, on the history's clock, each bound widened by 1 ms: raft from the leader's decision
// to the earliest apply; ecc from the earliest commit to the k-th, and unknown when fewer
// than k nodes logged it; ecc expirations come from the TTLs the workload set, not from logs;
// a drop of a value no client wrote is reported, not guessed.
import assert from "node:assert/strict";
import { crc32 } from "../../src/codec/checksum";
import { History } from "../../src/check/history";
import { NodeDrop, dropOperations, parseDropLine, ttlExpireOperations } from "../../src/jepsen/drops";

const line = (event: string, fields: Record<string, unknown>, ts = "2026-01-01T00:00:05.000Z"): string =>
  JSON.stringify({ ts, level: "info", nodeId: "n", mode: "raft", event, ...fields });

describe("jepsen: evictions and expirations from node logs", () => {
  it("reads drop lines and nothing else", () => {
    const fields = { key: "k1", version: 12, valueCrc32: 77, atMs: Date.parse("2026-01-01T00:00:04.990Z") };
    assert.deepEqual(parseDropLine(line("raft.key_evicted", fields)), {
      mode: "raft",
      ...fields,
      reason: "evict",
      loggedAtMs: [Date.parse("2026-01-01T00:00:05.000Z")],
    });
    assert.equal(parseDropLine(line("raft.key_expired", fields))?.reason, "expire");
    // ecc: the node's own commit time (atMs) is the log time.
    assert.deepEqual(parseDropLine(line("ec.key_evicted", fields)), { mode: "ecc", ...fields, reason: "evict", loggedAtMs: [fields.atMs] });
    assert.equal(parseDropLine(line("raft.leader_elected", { term: 2 })), null);
    assert.equal(parseDropLine(line("raft.key_evicted", { ...fields, version: "12" })), null, "a malformed field");
    assert.equal(parseDropLine("ecc-cache: raft.key_evicted is not JSON"), null);
  });

  const epochBaseMs = 1_000_000;
  const history: History = [
    { id: 0, clientId: "c0", kind: "set", key: "k1", value: "c0-1", result: null, invokeMs: 1, returnMs: 2, status: "ok" },
    { id: 1, clientId: "c1", kind: "set", key: "k1", value: "c1-1", result: null, invokeMs: 3, returnMs: 4, status: "ok" },
  ];
  const stored = (value: string): Uint8Array => Buffer.from(`${value}!`);

  it("raft: one expire of the value with that checksum, from the decision to the first apply", () => {
    const drop: NodeDrop = { mode: "raft", key: "k1", version: 9, valueCrc32: crc32(stored("c1-1")), reason: "evict", atMs: epochBaseMs + 10, loggedAtMs: [] };
    const { operations, unmatched, evictions, expirations } = dropOperations(
      [
        { ...drop, loggedAtMs: [epochBaseMs + 30] },
        { ...drop, loggedAtMs: [epochBaseMs + 20] }, // another node applied it first
        { mode: "raft", key: "k1", version: 5, valueCrc32: 1234, reason: "expire", atMs: epochBaseMs, loggedAtMs: [epochBaseMs + 1] },
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

  it("ecc: from the earliest commit to the k-th; unknown when fewer than k nodes committed; expirations not from logs", () => {
    const drop: NodeDrop = { mode: "ecc", key: "k1", version: 9, valueCrc32: crc32(stored("c0-1")), reason: "evict", atMs: 0, loggedAtMs: [] };
    const nodes = [50, 20, 40, 30, 60].map((ms): NodeDrop => ({ ...drop, atMs: epochBaseMs + ms, loggedAtMs: [epochBaseMs + ms] }));
    const { operations } = dropOperations(
      [...nodes, { ...drop, version: 11, reason: "expire", loggedAtMs: [epochBaseMs + 5] }],
      history,
      epochBaseMs,
      stored,
      3,
    );
    assert.deepEqual(operations, [
      { id: 2, clientId: "cluster.evict", kind: "expire", key: "k1", value: "c0-1", result: null, invokeMs: 19, returnMs: 41, status: "ok" },
    ]);
    const partial = dropOperations(nodes.slice(0, 2), history, epochBaseMs, stored, 3).operations;
    assert.deepEqual([partial[0].status, partial[0].invokeMs, partial[0].returnMs], ["unknown", 19, null]);
  });

  it("ecc TTLs: an expire at the deadline, to the set's return when it came later; unknown sets give unknown expiries", () => {
    const sets: History = [
      { id: 0, clientId: "c0", kind: "set", key: "k1", value: "a", result: null, invokeMs: 1, returnMs: 20, status: "ok" },
      { id: 1, clientId: "c0", kind: "set", key: "k1", value: "b", result: null, invokeMs: 30, returnMs: 500, status: "ok" },
      { id: 2, clientId: "c1", kind: "set", key: "k2", value: "c", result: null, invokeMs: 40, returnMs: null, status: "unknown" },
      { id: 3, clientId: "c1", kind: "set", key: "k2", value: "d", result: null, invokeMs: 50, returnMs: 60, status: "fail" },
      { id: 4, clientId: "c1", kind: "set", key: "k2", value: "no-ttl", result: null, invokeMs: 70, returnMs: 80, status: "ok" },
    ];
    const deadlines = new Map([
      ["a", epochBaseMs + 300],
      ["b", epochBaseMs + 330],
      ["c", epochBaseMs + 340],
      ["d", epochBaseMs + 350],
    ]);
    const operations = ttlExpireOperations(sets, deadlines, epochBaseMs);
    assert.deepEqual(
      operations.map((operation) => [operation.id, operation.value, operation.invokeMs, operation.returnMs, operation.status]),
      [
        [5, "a", 299, 301, "ok"],
        [6, "b", 329, 501, "ok"],
        [7, "c", 339, null, "unknown"],
      ],
    );
  });
});
