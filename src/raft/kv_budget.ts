// KvBudget: what a raft leader decides about memory and TTLs, over its own KvState. Pure:
// time (the leader's clock) and randomness (a draw function) come in as arguments; it returns
// choices, which the node proposes as drop commands (kv_state.ts) so every replica applies
// the same drops in the same place of the log. Followers never decide: only the leader calls
// admit() and tick().
//
// - Admission (admit): a write that needs memory the budget does not have is refused at once
//   under noeviction (OUT_OF_MEMORY). Under an evicting policy the leader chooses victims
//   and proposes their drop in the same batch, before the write, so no replica ever holds
//   the write and the victims together; when it cannot find enough (volatile-* with no keys
//   with a TTL, or a value larger than the whole budget) the write is refused too, as Redis
//   does.
// - Active expiry and eviction (tick): each tick scans a slice of the key index for values
//   past their deadline (a full pass every expiryPassTicks ticks), and evicts while the state
//   is over budget (e.g. a new leader that inherited a full state), both bounded per tick.
// - Reads: a read that finds its value past the deadline (by the leader's clock) gets an
//   expiry to propose; the node answers the read once that entry is applied, so "expired"
//   is decided by the log, never by one node's clock.
//
// Eviction samples EVICTION_SAMPLE_SIZE keys per victim (Redis's maxmemory-samples default)
// into a pool of the EVICTION_POOL_SIZE best candidates seen so far, and evicts the pool's
// best, as Redis's eviction pool does: the choice is then the best of many samples, not of
// five. Why it matters here: the LRU clock counts seconds, so while a cache turns over within
// a few seconds, a key written this second ties with a hot key read this second; the pool
// keeps older candidates at hand. A pooled key is checked again when chosen (still there, same
// version, its score recomputed: a hot key read since it was pooled goes back). Access
// stamps are the leader's own: reads happen there only, so a new leader ranks by the writes
// it applied until reads come its way.
//
// Accounting: "used" is KvState.usedBytes(): the arena and the key index, minus blocks freed
// for reuse and the newest slab's untouched tail. Writes proposed and not yet applied add
// their growth, drops proposed and not yet applied take away their blocks: projectedBytes().
// Each write is admitted with its drops ahead of it in the log, so every replica's state,
// after any prefix of the log, stays within the budget less KV_BUDGET_ROUNDING_BYTES: room
// for what the estimate does not see (when a block opens a new slab, the old slab's tail
// too small for it is lost). Like Redis (whose replication buffers do not count towards
// maxmemory), the log entries in flight are not in the budget: they are bounded by the
// uncommitted-entry limits and reported apart (log_bytes).
import { EVICTION_SAMPLE_SIZE, EvictionPolicy, evictsOnlyVolatile } from "../core/eviction";
import { evictionScore } from "../storage/access";
import { LARGE_BYTES } from "../storage/byte_arena";
import { DropKey, DropReason, KV_DROP_COMMAND_BYTES_MAX, KV_DROP_KEYS_MAX, KvEntrySummary, KvState, dropKeyBytes } from "./kv_state";

/** Budget kept free for the arena's rounding: at most one slab block (LARGE_BYTES) lost to a slab's tail. */
export const KV_BUDGET_ROUNDING_BYTES = LARGE_BYTES + 1;

/** Most keys one tick proposes to drop, per reason. */
export const KV_DROPS_PER_TICK_MAX = 4_096;
/** Samples drawn for one victim before giving up on it (volatile-* find few candidates among many keys). */
const SAMPLES_PER_VICTIM_MAX = 16;
/** Candidates kept between samplings (Redis's EVPOOL_SIZE). */
const EVICTION_POOL_SIZE = 16;
/** Index slots scanned per tick at least (a small table is swept in a few ticks). */
const EXPIRY_SLOTS_PER_TICK_MIN = 256;

/** An eviction candidate: the key, the version it was scored at, and its score then. */
interface PoolEntry {
  key: string;
  version: number;
  score: number;
}

export interface KvBudgetOptions {
  /** The budget for the state's memory (KvState.usedBytes); 0: none. */
  maxBytes: number;
  policy: EvictionPolicy;
  /** Ticks for one pass of the expiry scan over the whole key index. */
  expiryPassTicks: number;
}

/** Keys to drop for one reason, and the bytes their blocks hold. */
export interface DropChoice {
  reason: DropReason;
  keys: DropKey[];
  bytes: number;
}

export type Admission = { ok: true; evictions: DropChoice | null } | { ok: false; message: string };

export class KvBudget {
  private pendingGrowth = 0;
  /** Keys with a drop proposed and not yet applied (count: several drops may name one key). */
  private readonly pendingDrops = new Map<string, { bytes: number; count: number }>();
  private pendingDropBytes = 0;
  private expiryCursor = 0;
  /** The best eviction candidates seen so far, lowest score first. */
  private pool: PoolEntry[] = [];

  constructor(
    private readonly kv: KvState,
    readonly options: KvBudgetOptions,
  ) {}

  /** What the state will hold once every write and drop proposed so far is applied. */
  projectedBytes(): number {
    return this.kv.usedBytes() + this.pendingGrowth - this.pendingDropBytes;
  }

  /** What admission and eviction keep the projection under: the budget less its rounding room. */
  private limitBytes(): number {
    return Math.max(0, this.options.maxBytes - KV_BUDGET_ROUNDING_BYTES);
  }

  /**
   * Whether a write of `growth` more bytes (KvState.entryBytes: next - current) to `key` fits,
   * and which keys to evict first when it does not. The caller records what it proposes
   * (noteWrite, noteDrops) and settles it once applied or failed.
   */
  admit(key: string, growth: number, nowMs: number, draw: (below: number) => number): Admission {
    const { maxBytes, policy } = this.options;
    if (maxBytes === 0 || growth <= 0) return { ok: true, evictions: null };
    const projected = this.projectedBytes();
    const overBytes = projected + growth - this.limitBytes();
    if (overBytes <= 0) return { ok: true, evictions: null };
    if (policy === "noeviction") {
      return { ok: false, message: `out of memory: the node holds ${projected} of its ${maxBytes}-byte budget and this write needs ${growth} more; eviction_policy noeviction refuses writes that need memory` };
    }
    if (growth > maxBytes) return { ok: false, message: `out of memory: this write needs ${growth} bytes, more than the whole ${maxBytes}-byte budget` };
    const choice = this.chooseVictims(overBytes, nowMs, draw, key, KV_DROP_KEYS_MAX);
    if (choice.bytes < overBytes) {
      return {
        ok: false,
        message: `out of memory: the node holds ${projected} of its ${maxBytes}-byte budget and found only ${choice.bytes} bytes to evict of the ${overBytes} this write needs (eviction_policy ${policy})`,
      };
    }
    return { ok: true, evictions: choice.keys.length > 0 ? choice : null };
  }

  noteWrite(growth: number): void {
    if (growth > 0) this.pendingGrowth += growth;
  }

  settleWrite(growth: number): void {
    if (growth > 0) this.pendingGrowth -= growth;
  }

  noteDrops(choice: DropChoice): void {
    for (const dropped of choice.keys) {
      const key = dropped.key.toString("latin1");
      const pending = this.pendingDrops.get(key);
      if (pending !== undefined) {
        pending.count++;
        continue;
      }
      const bytes = this.kv.summary(key)?.bytes ?? 0;
      this.pendingDrops.set(key, { bytes, count: 1 });
      this.pendingDropBytes += bytes;
    }
  }

  settleDrops(choice: DropChoice): void {
    for (const dropped of choice.keys) {
      const key = dropped.key.toString("latin1");
      const pending = this.pendingDrops.get(key);
      if (pending === undefined) continue;
      if (--pending.count > 0) continue;
      this.pendingDrops.delete(key);
      this.pendingDropBytes -= pending.bytes;
    }
  }

  /**
   * The drops a leader proposes this tick: values past their deadline found in this tick's
   * slice of the index, and victims while the state is over budget. Each bounded.
   */
  tick(nowMs: number, draw: (below: number) => number): DropChoice[] {
    const choices: DropChoice[] = [];
    if (this.kv.volatileKeys > 0) {
      const slotsMax = Math.max(EXPIRY_SLOTS_PER_TICK_MIN, Math.ceil(this.kv.indexSlots / this.options.expiryPassTicks));
      const now = Math.max(nowMs, this.kv.clockMs);
      const { expired, next } = this.kv.scanExpired(this.expiryCursor, slotsMax, now);
      this.expiryCursor = next;
      const keys: DropKey[] = [];
      let bytes = 0;
      let commandBytes = 0;
      for (const entry of expired) {
        if (keys.length >= KV_DROPS_PER_TICK_MAX) break;
        if (this.pendingDrops.has(entry.key)) continue;
        commandBytes += dropKeyBytes(entry.key.length);
        if (commandBytes > KV_DROP_COMMAND_BYTES_MAX / 2) break;
        keys.push({ key: Buffer.from(entry.key, "latin1"), version: entry.version });
        bytes += entry.bytes;
      }
      if (keys.length > 0) choices.push({ reason: "expire", keys, bytes });
    } else {
      this.expiryCursor = 0;
    }
    const { maxBytes, policy } = this.options;
    if (maxBytes > 0 && policy !== "noeviction") {
      const expiring = choices.reduce((sum, choice) => sum + choice.bytes, 0);
      const overBytes = this.projectedBytes() - expiring - this.limitBytes();
      if (overBytes > 0) {
        const exclude = new Set(choices.flatMap((choice) => choice.keys.map((dropped) => dropped.key.toString("latin1"))));
        const choice = this.chooseVictims(overBytes, nowMs, draw, exclude, KV_DROPS_PER_TICK_MAX);
        if (choice.keys.length > 0) choices.push(choice);
      }
    }
    return choices;
  }

  /**
   * The expiry to propose before answering a read of `key`, when its value is past the
   * deadline at the leader's clock (or the state's, if that is later); null when it is live
   * or absent.
   */
  expiryOnRead(key: string, nowMs: number): DropChoice | null {
    const entry = this.kv.summary(key);
    if (entry === null || entry.expiresAtMs === 0 || entry.expiresAtMs > Math.max(nowMs, this.kv.clockMs)) return null;
    return { reason: "expire", keys: [{ key: Buffer.from(key, "latin1"), version: entry.version }], bytes: entry.bytes };
  }

  /** Victims worth at least `needBytes`, chosen by sampling (fewer when too few qualify). */
  private chooseVictims(needBytes: number, nowMs: number, draw: (below: number) => number, exclude: string | Set<string>, keysMax: number): DropChoice {
    const { policy } = this.options;
    const chosen = new Set<string>();
    const keys: DropKey[] = [];
    let bytes = 0;
    // Half a drop command's limit: the command's header and the other reason's keys stay clear of it.
    let commandBytesLeft = KV_DROP_COMMAND_BYTES_MAX / 2;
    const excluded = (key: string): boolean => (typeof exclude === "string" ? key === exclude : exclude.has(key));
    const eligible = (entry: KvEntrySummary): boolean =>
      !chosen.has(entry.key) && !this.pendingDrops.has(entry.key) && !excluded(entry.key) && !(evictsOnlyVolatile(policy) && entry.expiresAtMs === 0);
    if (evictsOnlyVolatile(policy) && this.kv.volatileKeys === 0) return { reason: "evict", keys, bytes };
    while (bytes < needBytes && keys.length < keysMax && chosen.size + this.pendingDrops.size < this.kv.keyCount) {
      let victim: KvEntrySummary | null = null;
      for (let sample = 0; sample < SAMPLES_PER_VICTIM_MAX && victim === null; sample++) {
        for (const entry of this.kv.sample(EVICTION_SAMPLE_SIZE, draw)) {
          if (eligible(entry)) this.pool = poolInsert(this.pool, { key: entry.key, version: entry.version, score: evictionScore(policy, entry.stamp, nowMs, entry.expiresAtMs) });
        }
        victim = this.bestOfPool(nowMs, eligible);
      }
      if (victim === null) break; // nothing evictable found
      commandBytesLeft -= dropKeyBytes(victim.key.length);
      if (commandBytesLeft < 0) break; // the command is full: the next tick evicts more
      chosen.add(victim.key);
      keys.push({ key: Buffer.from(victim.key, "latin1"), version: victim.version });
      bytes += victim.bytes;
    }
    return { reason: "evict", keys, bytes };
  }

  /**
   * Takes the pool's best candidate that still qualifies, checked against the state now: gone
   * or rewritten since it was pooled, it is dropped from the pool; scoring lower now (read
   * since), it goes back with its new score and the next best is tried.
   */
  private bestOfPool(nowMs: number, eligible: (entry: KvEntrySummary) => boolean): KvEntrySummary | null {
    for (let tries = 0; tries < 2 * EVICTION_POOL_SIZE && this.pool.length > 0; tries++) {
      const candidate = this.pool.pop() as PoolEntry;
      const entry = this.kv.summary(candidate.key);
      if (entry === null || entry.version !== candidate.version || !eligible(entry)) continue;
      const score = evictionScore(this.options.policy, entry.stamp, nowMs, entry.expiresAtMs);
      if (score < candidate.score) {
        this.pool = poolInsert(this.pool, { ...candidate, score });
        continue;
      }
      return entry;
    }
    return null;
  }
}

/** The pool with `entry` in score order (lowest first), at most EVICTION_POOL_SIZE, one entry per key. */
function poolInsert(pool: PoolEntry[], entry: PoolEntry): PoolEntry[] {
  const rest = pool.filter((pooled) => pooled.key !== entry.key);
  if (rest.length >= EVICTION_POOL_SIZE && entry.score <= rest[0].score) return rest;
  let at = rest.length;
  while (at > 0 && rest[at - 1].score > entry.score) at--;
  rest.splice(at, 0, entry);
  if (rest.length > EVICTION_POOL_SIZE) rest.shift();
  return rest;
}
