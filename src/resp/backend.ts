// What the RESP front door needs from a mode: the data operations behind the commands, and
// what INFO, DBSIZE and SCAN report. ecc_backend.ts implements it inside an ecc node (the node
// coordinates: it encodes, runs the 2PC and decodes with an EcClient), raft_backend.ts inside
// a raft node (it forwards to the leader through a RaftClient).
//
// Keys and values are bytes. Errors are the project's KvErrors (src/core/errors.ts);
// errors.ts in this folder turns them into Redis-style error replies.

/** The TTL a SET asks for: none (clears any TTL), a deadline (epoch ms), or the current one (KEEPTTL). */
export type SetExpiry = { kind: "none" } | { kind: "at"; atMs: number } | { kind: "keep" };

export interface SetRequest {
  expiry: SetExpiry;
  /** nx: only when the key holds no live value; xx: only when it does. */
  condition: "none" | "nx" | "xx";
  /** SET ... GET: also return the value the key held before (null: none). */
  returnPrevious: boolean;
}

export interface SetOutcome {
  applied: boolean;
  /** The value before the write, when asked for (returnPrevious); null when there was none. */
  previous: Buffer | null;
}

export interface KeyStat {
  valueBytes: number;
  /** TTL deadline, epoch ms; 0 when the key does not expire. */
  expiresAtMs: number;
}

export interface ScanPage {
  /** Where the next call continues; 0 when the pass is complete. */
  cursor: number;
  keys: Buffer[];
}

/** One "name:value" field of an INFO section. */
export type InfoField = [string, string | number];

export interface BackendInfo {
  /** Fields this mode adds to INFO's server section (mode, k, n, view epoch, node state...). */
  server: InfoField[];
  /** INFO memory: what the node holds against its budget. */
  memory: InfoField[];
  /** INFO replication. */
  replication: InfoField[];
  /** Keys this node holds (INFO keyspace, DBSIZE) and how many have a TTL. */
  keys: number;
  keysWithTtl: number;
}

export interface RespBackend {
  readonly mode: "ecc" | "raft";
  get(key: Buffer): Promise<Buffer | null>;
  /** Bytes start..end with Redis's GETRANGE offsets; null when the key holds no value. */
  getRange(key: Buffer, start: number, end: number): Promise<Buffer | null>;
  /** Size and TTL without the bytes; null when the key holds no value. */
  stat(key: Buffer): Promise<KeyStat | null>;
  set(key: Buffer, value: Buffer, request: SetRequest): Promise<SetOutcome>;
  /** Deletes the key and returns the value it held (null: none), atomically. */
  getDel(key: Buffer): Promise<Buffer | null>;
  /** True when the key held a live value (and now does not). */
  del(key: Buffer): Promise<boolean>;
  /** Sets the deadline (epoch ms) or removes the TTL (null) keeping the value; false when the key holds no live value (persist: or no TTL). */
  expire(key: Buffer, expireAtMs: number | null): Promise<boolean>;
  /** Appends to the value (creating it), atomically; returns the new length. */
  append(key: Buffer, suffix: Buffer, lengthMax: number): Promise<number>;
  /** Keys from this node's own view, for SCAN and KEYS; `cursor` 0 starts a pass. */
  scan(cursor: number, count: number): Promise<ScanPage>;
  info(): Promise<BackendInfo>;
  /** CONFIG GET's answers for the settings clients ask about (maxmemory...). */
  configValues(): Record<string, string>;
  close(): Promise<void>;
}

/**
 * One SCAN call over a node's store, as Redis walks: pages of `count` slots from `cursor`
 * until `count` keys are found, 10 × count slots were looked at, or the pass is complete.
 * `page` reads one page (the keys it holds that SCAN may list, and where the next starts).
 */
export function scanAsRedis(cursor: number, count: number, page: (cursor: number, count: number) => { keys: Buffer[]; next: number }): ScanPage {
  const keys: Buffer[] = [];
  let next = cursor;
  let slots = 0;
  do {
    const read = page(next, count);
    keys.push(...read.keys);
    next = read.next;
    slots += count;
  } while (next !== 0 && keys.length < count && slots < 10 * count);
  return { cursor: next, keys };
}

/** What both modes' nodes report against their budget, as the INFO memory fields they share. */
export interface MemoryFigures {
  usedBytes: number;
  rssBytes: number;
  maxMemoryBytes: number;
  evictionPolicy: string;
  logicalBytes: number;
  evictedKeys: number;
  expiredKeys: number;
  rejectedWrites: number;
}

/** INFO memory: Redis's fields, then this cache's own (`extra`: what only one mode has). */
export function memoryInfo(stats: MemoryFigures, extra: InfoField[]): InfoField[] {
  return [
    ["used_memory", stats.usedBytes],
    ["used_memory_rss", stats.rssBytes],
    ["maxmemory", stats.maxMemoryBytes],
    ["maxmemory_policy", stats.evictionPolicy],
    ...extra,
    ["cache_logical_bytes", stats.logicalBytes],
    ["cache_evicted_keys", stats.evictedKeys],
    ["cache_expired_keys", stats.expiredKeys],
    ["cache_rejected_writes", stats.rejectedWrites],
  ];
}
