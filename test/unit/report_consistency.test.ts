// The report's consistency section: jepsen result files are recognised by their schema,
// validated, and rendered as one row per run with the verdict and the longest stretches without a
// successful read / write, and a failing run shows its
// failing sub-history; a file of another shape is refused with the reason.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { consistencySection, isJepsenFile, readJepsenResult } from "../../src/report/consistency";

function fakeResult(verdict: string, failing: Array<{ key: string; text: string }> = []): Record<string, unknown> {
  const counts = { ok: 10, fail: 1, unknown: 2 };
  return {
    schema: "ecc-cache.jepsen/1",
    mode: "ecc",
    seed: 42,
    config: { timeMs: 30_000, clients: 8, keys: ["k0", "k1"], partitions: { enabled: true, note: "" } },
    counts: { get: counts, set: counts, del: counts, total: { ok: 30, fail: 3, unknown: 6 } },
    unknownWrites: { DeadlineError: { count: 4, setsSeenLater: 3 } },
    events: [{ kind: "kill" }, { kind: "kill" }, { kind: "partition" }],
    health: { healthy: true, summary: "ok", waitedMs: 5 },
    longestGaps: { reads: { ms: 820, fromMs: 3_000, successes: 90 }, writes: { ms: 1_960, fromMs: 12_000, successes: 40 } },
    verdict,
    failing,
  };
}

describe("report: consistency under faults", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "report-consistency-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("recognises, reads and renders a linearizable run", () => {
    const file = path.join(dir, "ok.json");
    fs.writeFileSync(file, JSON.stringify(fakeResult("linearizable")));
    assert.equal(isJepsenFile(file), true);
    const text = consistencySection([{ file, result: readJepsenResult(file) }]);
    assert.match(text, /## Consistency under faults/);
    assert.match(text, /\| ecc \| 42 \| 30 s, 8 clients, 2 keys \| kill ×2, partition ×1 \| 30 \/ 3 \/ 6 \| 3 \| 0\.8 s \/ 2\.0 s \| yes \| \*\*linearizable\*\* \|/);
  });

  it("shows the failing sub-history of a failing run", () => {
    const file = path.join(dir, "bad.json");
    fs.writeFileSync(file, JSON.stringify(fakeResult("not-linearizable", [{ key: "k1", text: "#1 c0 set \"a\" -> ok [0, 1]" }])));
    const text = consistencySection([{ file, result: readJepsenResult(file) }]);
    assert.match(text, /\*\*not-linearizable\*\*/);
    assert.match(text, /key `k1`:\n\n```\n#1 c0 set "a" -> ok \[0, 1\]\n```/);
  });

  it("refuses a file of another shape, and does not take bench results for jepsen ones", () => {
    const file = path.join(dir, "other.json");
    fs.writeFileSync(file, JSON.stringify({ schema: "ecc-cache.bench/2", runs: [] }));
    assert.equal(isJepsenFile(file), false);
    assert.throws(() => readJepsenResult(file), /not a valid ecc-cache.jepsen\/1 document/);
  });
});
