// KvBudget (src/raft/kv_budget.ts): the raft leader's memory and TTL decisions, stepped by
// hand over a real KvState with a seeded draw and given times.
// Properties: noeviction refuses a write that needs memory and nothing else; an evicting
// policy names victims worth at least the missing bytes, never the key being written, and
// refuses when it cannot find them (volatile-* without TTL keys, a value larger than the
// budget); allkeys-lru prefers keys read least recently (sampled into a pool of the best
// candidates, so a key read since it was pooled is not taken), volatile-ttl the nearest deadline;
// writes and drops proposed but not applied count in the projection until settled; tick()
// finds values past their deadline within one pass and evicts a state that is over budget;
// a read of a value past its deadline gets an expiry to propose first.
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/env";
import { EvictionPolicy } from "../../src/core/eviction";
import { DropChoice, KV_BUDGET_ROUNDING_BYTES, KvBudget } from "../../src/raft/kv_budget";
import { KV_DROP_COMMAND_BYTES_MAX, KvCommand, KvState, encodeCommand } from "../../src/raft/kv_state";

const VALUE_BYTES = 1_000;
let index = 0;

function setCommand(key: string, atMs: number, expiresAtMs = 0, bytes = VALUE_BYTES): Extract<KvCommand, { op: "set" }> {
  return { op: "set", clientId: 0, seq: 0, floor: 0, atMs, key: Buffer.from(key, "latin1"), value: Buffer.alloc(bytes, 7), expiresAtMs };
}

/** A state with `count` keys k0.. of VALUE_BYTES, the i-th with deadline deadlineOf(i) (0: none). */
function filledState(policy: EvictionPolicy, count: number, deadlineOf: (i: number) => number = () => 0): KvState {
  const kv = new KvState({ policy });
  for (let i = 0; i < count; i++) kv.apply(setCommand(`k${i}`, 1_000, deadlineOf(i)), ++index);
  return kv;
}

function growthOf(kv: KvState, key: string): number {
  const bytes = kv.entryBytes(key, VALUE_BYTES, false, index + 1);
  return bytes.next - bytes.current;
}

function apply(kv: KvState, choice: DropChoice, atMs: number): void {
  kv.apply({ op: "drop", atMs, reason: choice.reason, keys: choice.keys });
}

const draw = (random: SeededRandom) => (below: number) => random.int(below);

describe("raft KvBudget", () => {
  it("noeviction: a write that needs memory is refused at once; one that fits, or frees, is not", () => {
    const kv = filledState("noeviction", 50);
    const budget = new KvBudget(kv, { maxBytes: kv.usedBytes() + KV_BUDGET_ROUNDING_BYTES + 500, policy: "noeviction", expiryPassTicks: 10 });
    const refused = budget.admit("new", growthOf(kv, "new"), 2_000, draw(new SeededRandom(1)));
    assert(!refused.ok);
    assert.match(refused.message, /out of memory.*noeviction/);
    assert.deepEqual(budget.admit("k1", 0, 2_000, draw(new SeededRandom(1))), { ok: true, evictions: null }, "a same-size overwrite");
    assert.deepEqual(budget.admit("k1", -1_000, 2_000, draw(new SeededRandom(1))), { ok: true, evictions: null }, "a delete");
    assert.deepEqual(budget.tick(2_000, draw(new SeededRandom(1))), [], "and it never evicts");
  });

  it("allkeys-lru: victims worth the missing bytes, not the key written, read least recently first", () => {
    const kv = filledState("allkeys-lru", 40);
    // Every key but k0..k4 is read at a later second: k0..k4 are the coldest.
    for (let i = 5; i < 40; i++) kv.touch(Buffer.from(`k${i}`), 60_000, 0);
    const budget = new KvBudget(kv, { maxBytes: kv.usedBytes() + KV_BUDGET_ROUNDING_BYTES + 100, policy: "allkeys-lru", expiryPassTicks: 10 });
    const growth = growthOf(kv, "new");
    const random = new SeededRandom(3);
    let coldPicks = 0;
    for (let round = 0; round < 20; round++) {
      const admission = budget.admit("new", growth, 61_000, draw(random));
      assert(admission.ok && admission.evictions !== null);
      assert(admission.evictions.bytes >= growth - 100);
      assert(!admission.evictions.keys.some((dropped) => dropped.key.toString() === "new"));
      if (["k0", "k1", "k2", "k3", "k4"].includes(admission.evictions.keys[0].key.toString())) coldPicks++;
    }
    // The pool keeps the coldest keys seen by every sampling; random picks would be 1 in 8.
    assert(coldPicks >= 15, `a cold key was chosen ${coldPicks} times of 20`);
  });

  it("a pooled candidate read since it was pooled is not evicted for its old score", () => {
    const kv = filledState("allkeys-lru", 40);
    const cold = Array.from({ length: 20 }, (_, i) => `k${i}`);
    for (let i = 20; i < 40; i++) kv.touch(Buffer.from(`k${i}`), 60_000, 0);
    const budget = new KvBudget(kv, { maxBytes: kv.usedBytes() + KV_BUDGET_ROUNDING_BYTES + 100, policy: "allkeys-lru", expiryPassTicks: 10 });
    const random = new SeededRandom(8);
    // Many samplings (nothing applied): the pool fills with the cold keys.
    for (let round = 0; round < 30; round++) assert(budget.admit("new", growthOf(kv, "new"), 61_000, draw(random)).ok);
    // Now they are read: the hottest keys. A pool that trusted its old scores would pick them.
    for (const key of cold) kv.touch(Buffer.from(key), 62_000, 0);
    for (let round = 0; round < 10; round++) {
      const next = budget.admit("new", growthOf(kv, "new"), 62_000, draw(random));
      assert(next.ok && next.evictions !== null);
      assert(!cold.includes(next.evictions.keys[0].key.toString()), `round ${round}: ${next.evictions.keys[0].key.toString()}`);
    }
  });

  it("volatile-ttl: only keys with a TTL, the nearest deadline first; none with a TTL: refused", () => {
    const kv = filledState("volatile-ttl", 30, (i) => (i % 2 === 0 ? 100_000 + i * 1_000 : 0));
    const budget = new KvBudget(kv, { maxBytes: kv.usedBytes() + KV_BUDGET_ROUNDING_BYTES + 100, policy: "volatile-ttl", expiryPassTicks: 10 });
    const admission = budget.admit("new", growthOf(kv, "new"), 2_000, draw(new SeededRandom(5)));
    assert(admission.ok && admission.evictions !== null);
    for (const dropped of admission.evictions.keys) assert.equal(Number(dropped.key.toString().slice(1)) % 2, 0, "a key with a TTL");
    const none = filledState("volatile-ttl", 30);
    const strict = new KvBudget(none, { maxBytes: none.usedBytes() + KV_BUDGET_ROUNDING_BYTES + 100, policy: "volatile-ttl", expiryPassTicks: 10 });
    const refused = strict.admit("new", growthOf(none, "new"), 2_000, draw(new SeededRandom(5)));
    assert(!refused.ok);
    assert.match(refused.message, /found only 0 bytes to evict/);
  });

  it("a value larger than the whole budget is refused under any policy", () => {
    const kv = filledState("allkeys-lru", 10);
    const budget = new KvBudget(kv, { maxBytes: 8 * 1024 * 1024, policy: "allkeys-lru", expiryPassTicks: 10 });
    const admission = budget.admit("huge", 9 * 1024 * 1024, 2_000, draw(new SeededRandom(1)));
    assert(!admission.ok);
    assert.match(admission.message, /more than the whole/);
  });

  it("writes and drops proposed but not applied count in the projection until settled", () => {
    const kv = filledState("allkeys-lru", 20);
    const budget = new KvBudget(kv, { maxBytes: 0, policy: "allkeys-lru", expiryPassTicks: 10 });
    const base = budget.projectedBytes();
    budget.noteWrite(5_000);
    assert.equal(budget.projectedBytes(), base + 5_000);
    const choice: DropChoice = { reason: "evict", keys: [{ key: Buffer.from("k1"), version: kv.summary("k1")!.version }], bytes: 0 };
    budget.noteDrops(choice);
    budget.noteDrops(choice); // a second drop of the same key does not free it twice
    assert.equal(budget.projectedBytes(), base + 5_000 - kv.summary("k1")!.bytes);
    budget.settleDrops(choice);
    budget.settleDrops(choice);
    budget.settleWrite(5_000);
    assert.equal(budget.projectedBytes(), base);
  });

  it("tick: values past their deadline are found within one pass, bounded per tick; a pending one is not named twice", () => {
    const kv = filledState("allkeys-lru", 2_000, (i) => (i < 100 ? 5_000 : 0));
    const passTicks = 4;
    const budget = new KvBudget(kv, { maxBytes: 0, policy: "allkeys-lru", expiryPassTicks: passTicks });
    const found = new Set<string>();
    for (let tick = 0; tick < passTicks + 1; tick++) {
      for (const choice of budget.tick(5_000, draw(new SeededRandom(tick)))) {
        assert.equal(choice.reason, "expire");
        for (const dropped of choice.keys) found.add(dropped.key.toString());
        budget.noteDrops(choice);
      }
    }
    assert.equal(found.size, 100);
    // Proposed, not yet applied: the next pass names none of them again.
    for (let tick = 0; tick < passTicks + 1; tick++) assert.deepEqual(budget.tick(5_000, draw(new SeededRandom(9))), []);
  });

  it("tick: a state over budget (a new leader's, say) is evicted back under it", () => {
    const kv = filledState("allkeys-random", 200);
    const maxBytes = kv.usedBytes() - 50 * VALUE_BYTES;
    const budget = new KvBudget(kv, { maxBytes: maxBytes + KV_BUDGET_ROUNDING_BYTES, policy: "allkeys-random", expiryPassTicks: 10 });
    const random = new SeededRandom(11);
    for (let tick = 0; tick < 5 && kv.usedBytes() > maxBytes; tick++) {
      for (const choice of budget.tick(2_000, draw(random))) {
        budget.noteDrops(choice);
        apply(kv, choice, 2_000);
        budget.settleDrops(choice);
      }
    }
    assert(kv.usedBytes() <= maxBytes, `${kv.usedBytes()} used, budget ${maxBytes}`);
    assert(kv.keyCount >= 140, `evicted only what was needed: ${kv.keyCount} keys left`);
  });

  it("a drop names no more keys than one command may carry, whatever their length", () => {
    const kv = new KvState({ policy: "allkeys-random" });
    const longKey = (i: number): string => `${String(i).padStart(6, "0")}${"k".repeat(994)}`;
    for (let i = 0; i < 12_000; i++) kv.apply({ ...setCommand(longKey(i), 1_000), value: Buffer.alloc(10) }, ++index);
    // A write that needs about 9,000 of these entries evicted: their names alone exceed a command.
    const budget = new KvBudget(kv, { maxBytes: kv.usedBytes() + KV_BUDGET_ROUNDING_BYTES, policy: "allkeys-random", expiryPassTicks: 10 });
    const admission = budget.admit("big", 9_500_000, 2_000, draw(new SeededRandom(4)));
    if (admission.ok) {
      assert(admission.evictions !== null);
      assert(encodeCommand({ op: "drop", atMs: 2_000, reason: "evict", keys: admission.evictions.keys }).length <= KV_DROP_COMMAND_BYTES_MAX);
    } else {
      assert.match(admission.message, /found only/);
    }
    // The tick's drops stay within a command too.
    const [choice] = new KvBudget(kv, { maxBytes: 4 * 1024 * 1024, policy: "allkeys-random", expiryPassTicks: 10 }).tick(2_000, draw(new SeededRandom(5)));
    assert(encodeCommand({ op: "drop", atMs: 2_000, reason: choice.reason, keys: choice.keys }).length <= KV_DROP_COMMAND_BYTES_MAX);
  });

  it("a read of a value past its deadline (at the later of the leader's and the state's clock) gets an expiry first", () => {
    const kv = new KvState();
    kv.apply(setCommand("a", 1_000, 3_000), ++index);
    kv.apply(setCommand("b", 1_000), ++index);
    const budget = new KvBudget(kv, { maxBytes: 0, policy: "allkeys-lru", expiryPassTicks: 10 });
    assert.equal(budget.expiryOnRead("a", 2_999), null);
    const choice = budget.expiryOnRead("a", 3_000);
    assert(choice !== null);
    assert.deepEqual([choice.reason, choice.keys[0].key.toString(), choice.keys[0].version], ["expire", "a", kv.summary("a")!.version]);
    assert.equal(budget.expiryOnRead("b", 10_000), null);
    assert.equal(budget.expiryOnRead("missing", 10_000), null);
    kv.apply(setCommand("c", 4_000), ++index); // the state's clock passed a's deadline
    assert.notEqual(budget.expiryOnRead("a", 2_000), null, "a leader whose clock is behind the log's still sees it expired");
  });
});
