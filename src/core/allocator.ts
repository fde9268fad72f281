// The C allocator of every node process we start (startAll, the bench's local clusters).
//
// Node's own memory (socket reads, HTTP/2 frames, Buffers above the 8 KiB pool) comes from
// malloc. glibc's malloc keeps what a burst of requests freed in holes of its heaps and
// gives it back to the kernel only from the top, so after a load a node's working set stays
// well above what it holds. jemalloc — the allocator Redis ships with — returns freed pages after a
// decay time, from a background thread, so an idle node's working set is what it holds.
//
// The price is throughput. perf on an ecc node under load (B, c64): a quarter of its CPU
// samples are in madvise() returning pages, most of it TLB shootdowns across the process's
// threads (costly IPIs in a VM); with purging switched off jemalloc was still slower than
// glibc. We take the memory: it is what
// this project compares. README "Allocator" has the measured trade.
//
// When libjemalloc.so.2 is installed (Debian: libjemalloc2), node processes get it through
// LD_PRELOAD with the decay below, unless ECC_CACHE_ALLOCATOR=system or the caller already
// set LD_PRELOAD / MALLOC_CONF. Without it they run on the system allocator.
import fs from "node:fs";

export const JEMALLOC_PATHS: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
  "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
  "/usr/lib64/libjemalloc.so.2",
  "/usr/lib/libjemalloc.so.2",
  "/usr/local/lib/libjemalloc.so.2",
];

/**
 * Freed pages go back to the kernel about 500 ms after they were last used, purged by a
 * background thread (not by the thread serving requests); no "muzzy" middle state.
 * No thread caches (tcache:false): a thread cache keeps the small blocks its thread freed
 * for the next allocation and is trimmed only while that thread keeps allocating, so on a
 * node idle after a load they stayed resident — 2-4 MiB per node serving the reads of a
 * 5-node ecc cluster. One arena (narenas:1): the process has one thread doing nearly all
 * allocation, and extra arenas only keep their own partly used pages. Measured (B, 1 KiB,
 * c64, 10,000 keys): cluster growth ecc(5,3) 35.7 -> 26.9 MiB, ecc(3,2) 26.5 -> 20.1 MiB,
 * raft unchanged, throughput unchanged.
 */
export const JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:0,tcache:false,narenas:1";

export type AllocatorChoice = { kind: "jemalloc"; path: string } | { kind: "system"; reason: string };

export function chooseAllocator(env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = fs.existsSync): AllocatorChoice {
  const wanted = env.ECC_CACHE_ALLOCATOR ?? "auto";
  if (wanted === "system") return { kind: "system", reason: "ECC_CACHE_ALLOCATOR=system" };
  if (wanted !== "auto" && wanted !== "jemalloc") {
    throw new Error(`ECC_CACHE_ALLOCATOR must be auto, jemalloc or system, not ${JSON.stringify(wanted)}`);
  }
  if ((env.LD_PRELOAD ?? "") !== "" || (env.MALLOC_CONF ?? "") !== "") {
    return { kind: "system", reason: "LD_PRELOAD or MALLOC_CONF already set by the caller" };
  }
  const path = JEMALLOC_PATHS.find((candidate) => exists(candidate));
  if (path === undefined) {
    if (wanted === "jemalloc") throw new Error(`ECC_CACHE_ALLOCATOR=jemalloc but libjemalloc.so.2 is in none of ${JEMALLOC_PATHS.join(", ")}`);
    return { kind: "system", reason: "libjemalloc.so.2 not installed (Debian package libjemalloc2)" };
  }
  return { kind: "jemalloc", path };
}

/** Environment additions for a node process (empty when it keeps the system allocator). */
export function allocatorEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const choice = chooseAllocator(env);
  return choice.kind === "jemalloc" ? { LD_PRELOAD: choice.path, MALLOC_CONF: JEMALLOC_CONF } : {};
}
