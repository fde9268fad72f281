// Evictions and expirations in the jepsen history: a cache removes values without any
// client asking, and a linearizability checker that did not know would call the next read
// of "absent" a lost write. Nodes log each value they drop with its key, version, the
// value's CRC-32 and a time; the runner turns each (key, version) into one "expire"
// operation of the value with that CRC-32 (the checker removes the key if it still holds
// that value), over an interval that surely holds the drop's linearization point:
// - raft ("raft.key_evicted", "raft.key_expired"; atMs is the leader's clock when it
//   proposed the drop, and every node logs its apply): from atMs (the decision, before the
//   entry committed) to the earliest log line (an apply, after the commit);
// - ecc ("ec.key_evicted"; every node logs the commit of the owner's tombstone write): from
//   the earliest commit to the k-th (a read that saw "absent" needed k tombstones; one that
//   saw the value needed k nodes not yet at the tombstone, so it began before the k-th).
//   An ecc value past its TTL reads as absent from its deadline on, before any node drops
//   it (and it may never be dropped, if rewritten first), so ecc expirations come from the
//   TTLs the workload set (ttlExpireOperations), not from these logs.
import { History, Operation } from "../check/history";
import { crc32 } from "../codec/checksum";

export interface NodeDrop {
  mode: "raft" | "ecc";
  key: string;
  version: number;
  valueCrc32: number;
  reason: "evict" | "expire";
  /** Epoch ms: raft, when the leader proposed the drop; ecc, when the logging node committed it. */
  atMs: number;
  /** Epoch ms: when nodes logged it (applied or committed it), one entry per log line. */
  loggedAtMs: number[];
}

const DROP_EVENTS: Readonly<Record<string, { mode: NodeDrop["mode"]; reason: NodeDrop["reason"] }>> = {
  "raft.key_evicted": { mode: "raft", reason: "evict" },
  "raft.key_expired": { mode: "raft", reason: "expire" },
  "ec.key_evicted": { mode: "ecc", reason: "evict" },
  "ec.key_expired": { mode: "ecc", reason: "expire" },
};

/** A drop from one line of a node's output; null for every other line. */
export function parseDropLine(line: string): NodeDrop | null {
  if (!line.includes(".key_")) return null; // cheap filter: most lines are something else
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null; // not a log record (a stack trace line, say)
  }
  const kind = typeof record.event === "string" ? DROP_EVENTS[record.event] : undefined;
  if (kind === undefined) return null;
  const { key, version, valueCrc32, atMs, ts } = record;
  if (typeof key !== "string" || typeof version !== "number" || typeof valueCrc32 !== "number" || typeof atMs !== "number" || typeof ts !== "string") return null;
  const loggedAtMs = Date.parse(ts);
  if (!Number.isFinite(loggedAtMs)) return null;
  return { mode: kind.mode, key, version, valueCrc32, reason: kind.reason, atMs, loggedAtMs: [kind.mode === "ecc" ? atMs : loggedAtMs] };
}

/** Epoch-ms interval of a drop's linearization point, by the rules in the header. */
function dropInterval(drop: NodeDrop, dataShards: number): { fromMs: number; toMs: number } {
  const times = [...drop.loggedAtMs].sort((a, b) => a - b);
  if (drop.mode === "raft") return { fromMs: drop.atMs, toMs: times[0] };
  return { fromMs: times[0], toMs: times[Math.min(dataShards, times.length) - 1] };
}

/**
 * The "expire" operations the drops stand for, for a history whose clock reads
 * `epochMs - epochBaseMs`. `stored(value)` is what the workload stored for a value (the
 * bytes the node checksummed). Ids continue after the history's. A drop of a value the
 * history never wrote is reported in `unmatched` (it would mean a node logged a value no
 * client set). `dataShards`: ecc's k (an ecc drop committed on fewer than k nodes may yet be
 * aborted by resolution, so it is an unknown operation).
 */
export function dropOperations(
  drops: Iterable<NodeDrop>,
  history: History,
  epochBaseMs: number,
  stored: (value: string) => Uint8Array,
  dataShards = 1,
): { operations: Operation[]; unmatched: NodeDrop[]; evictions: number; expirations: number } {
  const valueByCrc = new Map<string, string>();
  for (const operation of history) {
    if (operation.kind === "set" && operation.value !== null) valueByCrc.set(`${operation.key}/${crc32(stored(operation.value))}`, operation.value);
  }
  // One drop per (key, version), with every node's log time.
  const byVersion = new Map<string, NodeDrop>();
  for (const drop of drops) {
    if (drop.mode === "ecc" && drop.reason === "expire") continue; // from the TTLs instead (header)
    const id = `${drop.key}@${drop.version}`;
    const earlier = byVersion.get(id);
    if (earlier === undefined) byVersion.set(id, { ...drop, loggedAtMs: [...drop.loggedAtMs] });
    else earlier.loggedAtMs.push(...drop.loggedAtMs);
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
    const { fromMs, toMs } = dropInterval(drop, dataShards);
    const settled = drop.mode === "raft" || drop.loggedAtMs.length >= dataShards;
    // Log times have ms resolution: widen by 1 ms each way so the interval surely holds the point.
    operations.push({
      id: nextId++,
      clientId: `cluster.${drop.reason}`,
      kind: "expire",
      key: drop.key,
      value,
      result: null,
      invokeMs: fromMs - epochBaseMs - 1,
      returnMs: settled ? toMs - epochBaseMs + 1 : null,
      status: settled ? "ok" : "unknown",
    });
  }
  return { operations, unmatched, evictions, expirations };
}

/**
 * ecc's TTLs as "expire" operations: a value set with a deadline reads as absent from the
 * deadline on (by the clock of the node that answers, the same host's clock here), so the
 * expiry's point lies between the deadline and the later of the deadline and the set's
 * return (a set that completed after its deadline stores a value born expired). A set that
 * failed never happened: no expiry; an unknown set: an unknown expiry. `deadlines`: what the
 * workload set, by value (values are unique). Ids continue after the history's.
 */
export function ttlExpireOperations(history: History, deadlines: ReadonlyMap<string, number>, epochBaseMs: number): Operation[] {
  let nextId = history.reduce((max, operation) => Math.max(max, operation.id), -1) + 1;
  const operations: Operation[] = [];
  for (const operation of history) {
    if (operation.kind !== "set" || operation.value === null || operation.status === "fail") continue;
    const deadline = deadlines.get(operation.value);
    if (deadline === undefined) continue;
    const from = deadline - epochBaseMs;
    operations.push({
      id: nextId++,
      clientId: "cluster.ttl",
      kind: "expire",
      key: operation.key,
      value: operation.value,
      result: null,
      invokeMs: from - 1,
      returnMs: operation.status === "ok" ? Math.max(from, operation.returnMs ?? from) + 1 : null,
      status: operation.status === "ok" ? "ok" : "unknown",
    });
  }
  return operations;
}
