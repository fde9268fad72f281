// Eviction policies, with Redis's names and meanings (https://redis.io/docs/latest/develop/
// reference/eviction/). A node over its memory budget (max_memory_bytes) either refuses writes
// that need memory (noeviction) or has keys dropped: in raft mode the leader chooses and
// replicates the deletes; in ecc mode each key's owner chooses and drops the key on every
// node through the normal two-phase commit (DESIGN.md section 7).
export const EVICTION_POLICIES = [
  "noeviction",
  "allkeys-lru",
  "allkeys-lfu",
  "allkeys-random",
  "volatile-lru",
  "volatile-lfu",
  "volatile-random",
  "volatile-ttl",
] as const;

export type EvictionPolicy = (typeof EVICTION_POLICIES)[number];

/** The default: a cache's usual choice (memcached's, and Redis's recommendation for caches). */
export const EVICTION_POLICY_DEFAULT: EvictionPolicy = "allkeys-lru";

/** Entries sampled per eviction choice (Redis's maxmemory-samples default). */
export const EVICTION_SAMPLE_SIZE = 5;

/** volatile-*: only keys with a TTL are candidates. */
export function evictsOnlyVolatile(policy: EvictionPolicy): boolean {
  return policy.startsWith("volatile-");
}
