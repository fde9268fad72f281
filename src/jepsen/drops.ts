// Evictions and expirations in the jepsen history: a cache removes values without any
// client asking, and a linearizability checker that did not know would call the next read
// of "absent" a lost write. Raft nodes log each value they drop ("raft.key_evicted",
// "raft.key_expired": key, version, the value's CRC-32 and atMs, the leader's clock when it
// proposed the drop); every node applies the same drop and logs it. The runner turns each
// (key, version) into one "expire" operation of the value with that CRC-32 (the checker
// removes the key if it still holds that value): invoked at atMs (the decision, before the
// drop's entry committed) and returned at the earliest log line's time (an apply, after the
// commit), so the interval holds the commit, the drop's linearization point.
import { History, Operation } from "../check/history";
import { crc32 } from "../codec/checksum";

export interface NodeDrop {
  key: string;
  version: number;
  valueCrc32: number;
  reason: "evict" | "expire";
  /** Epoch ms: when the leader proposed the drop. */
  atMs: number;
  /** Epoch ms: when this node logged it (applied it). */
  loggedAtMs: number;
}

const DROP_EVENTS: Readonly<Record<string, NodeDrop["reason"]>> = { "raft.key_evicted": "evict", "raft.key_expired": "expire" };

/** A drop from one line of a node's output; null for every other line. */
export function parseDropLine(line: string): NodeDrop | null {
  if (!line.includes("raft.key_")) return null; // cheap filter: most lines are something else
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null; // not a log record (a stack trace line, say)
  }
  const reason = typeof record.event === "string" ? DROP_EVENTS[record.event] : undefined;
  if (reason === undefined) return null;
  const { key, version, valueCrc32, atMs, ts } = record;
  if (typeof key !== "string" || typeof version !== "number" || typeof valueCrc32 !== "number" || typeof atMs !== "number" || typeof ts !== "string") return null;
  const loggedAtMs = Date.parse(ts);
  if (!Number.isFinite(loggedAtMs)) return null;
  return { key, version, valueCrc32, reason, atMs, loggedAtMs };
}

/**
 * The "expire" operations the drops stand for, for a history whose clock reads
 * `epochMs - epochBaseMs`. `stored(value)` is what the workload stored for a value (the
 * bytes the node checksummed). Ids continue after the history's. A drop of a value the
 * history never wrote is reported in `unmatched` (it would mean a node logged a value no
 * client set).
 */
export function dropOperations(
  drops: Iterable<NodeDrop>,
  history: History,
  epochBaseMs: number,
  stored: (value: string) => Uint8Array,
): { operations: Operation[]; unmatched: NodeDrop[]; evictions: number; expirations: number } {
  const valueByCrc = new Map<string, string>();
  for (const operation of history) {
    if (operation.kind === "set" && operation.value !== null) valueByCrc.set(`${operation.key}/${crc32(stored(operation.value))}`, operation.value);
  }
  // One drop per (key, version): every node logs it; the earliest line is the first apply.
  const byVersion = new Map<string, NodeDrop>();
  for (const drop of drops) {
    const id = `${drop.key}@${drop.version}`;
    const earlier = byVersion.get(id);
    if (earlier === undefined || drop.loggedAtMs < earlier.loggedAtMs) byVersion.set(id, drop);
  }
  let nextId = history.reduce((max, operation) => Math.max(max, operation.id), -1) + 1;
  const operations: Operation[] = [];
  const unmatched: NodeDrop[] = [];
  let evictions = 0;
  let expirations = 0;
  for (const drop of byVersion.values()) {
    const value = valueByCrc.get(`${drop.key}/${drop.valueCrc32}`);
    if (value === undefined) {
      unmatched.push(drop);
      continue;
    }
    if (drop.reason === "evict") evictions++;
    else expirations++;
    // Log times have ms resolution: widen by 1 ms each way so the interval surely holds the commit.
    operations.push({
      id: nextId++,
      clientId: `cluster.${drop.reason}`,
      kind: "expire",
      key: drop.key,
      value,
      result: null,
      invokeMs: drop.atMs - epochBaseMs - 1,
      returnMs: drop.loggedAtMs - epochBaseMs + 1,
      status: "ok",
    });
  }
  return { operations, unmatched, evictions, expirations };
}
