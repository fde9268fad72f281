// Every limit of the system in one place. Relations between them are asserted when this
// module loads, so a bad edit fails at startup, not under load.
import assert from "node:assert/strict";

/** Largest key, in bytes (keys are byte strings; UTF-8 when given as text). */
export const KEY_BYTES_MAX = 1024;
/** Largest value, in bytes. A 0-byte value is valid. */
export const VALUE_BYTES_MAX = 64 * 1024 * 1024;
/** Key, metadata, checksums and framing around one message's payload. */
export const ENVELOPE_BYTES_MAX = 64 * 1024;
/**
 * Largest payload (shard or value bytes) one message may carry. Larger transfers are cut
 * into chunks of at most this many bytes, so no message is unbounded.
 */
export const CHUNK_BYTES_MAX = 4 * 1024 * 1024;
/** Largest gRPC message either side accepts. A batch of small ops must also fit. */
export const GRPC_MESSAGE_BYTES_MAX = 16 * 1024 * 1024;
/** Most operations carried by one batch message on a node stream. */
export const BATCH_OPS_MAX = 512;
/** Most operations one client keeps in flight towards one node before queueing. */
export const CLIENT_REQUESTS_IN_FLIGHT_MAX = 4096;
/** Default deadline for one request to one node. */
export const RPC_TIMEOUT_MS = 2_000;
/** Most staged (prepared, not yet committed) shards one node keeps. */
export const EC_STAGED_SHARDS_MAX = 10_000;
/** Most staged bytes one node keeps (pending large values). */
export const EC_STAGED_BYTES_MAX = 512 * 1024 * 1024;
/** Default lease of an EcPrepare lock; after it a participant resolves the transaction. */
export const EC_LOCK_LEASE_MS_DEFAULT = 2_000;
/** Most remembered aborted transaction ids per node. */
export const EC_RESOLVED_TX_MAX = 10_000;
/** Default shard bytes per stripe (the config's `block_size`): a stripe holds k of these. */
export const BLOCK_BYTES_DEFAULT = 256 * 1024;
export const BLOCK_BYTES_MIN = 64;
export const BLOCK_BYTES_MAX = CHUNK_BYTES_MAX;
/** Most attempts of a write that keeps meeting a locked key. */
export const EC_WRITE_ATTEMPTS_MAX = 60;
/** How often a write that waits on a node that has not answered asks for the current view. */
export const EC_VIEW_POLL_MS = 100;
export const EC_BACKOFF_MS_MIN = 1;
export const EC_BACKOFF_MS_MAX = 100;
/** GF(2^8) Reed–Solomon: at most 256 shards in all. */
export const SHARDS_TOTAL_MAX = 256;
export const SERVERS_MAX = 64;

/**
 * Flags for the `node` binary of every node process we start (startAll, bench, images).
 * V8's young generation defaults to 16 MiB semi-spaces: under load a node's RSS then grows
 * by tens of MiB of short-lived garbage (measured: +202 MiB over 5 ecc nodes holding
 * 18 MiB of shards, against +62 MiB with 1 MiB semi-spaces), which would drown the
 * memory comparison this project exists for. Costs a few more scavenges under load.
 * No Sparkplug: V8's baseline compiler keeps machine code for every function that ran a
 * few times, ~0.35 MiB per node after a load (ecc(5,3), B, 1 KiB: cluster growth 26.7 ->
 * 24.9 MiB) for no throughput we could measure; hot functions are still optimized.
 * --optimize-for-size (V8: "optimizations which favor memory size over execution speed"):
 * B, 1 KiB, concurrency 64, 10,000 keys, 4 interleaved runs with and without: cluster growth
 * raft(3) 37.3 -> 34.2 MiB (its nodes' V8 heap pages 3.8 -> 1.3), raft(5) 62.4 -> 58.9,
 * ecc(5,3) 25.0 -> 24.4, ecc(3,2) 19.9 -> 19.4, an idle node 32.7 -> 31.9 MiB; ops/s
 * within the noise between runs (medians, without -> with: ecc(5,3) 7.4k -> 8.0k,
 * ecc(3,2) 10.6k -> 9.6k, raft(3) 9.9k -> 11.0k, raft(5) 7.3k -> 7.9k).
 * docker/entrypoint.sh repeats these.
 */
export const NODE_PROCESS_ARGS: readonly string[] = ["--max-semi-space-size=1", "--no-sparkplug", "--optimize-for-size"];

assert(VALUE_BYTES_MAX >= 64 * 1024 * 1024, "the product promises values of at least 64 MiB");
assert(CHUNK_BYTES_MAX + ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX);
assert(BLOCK_BYTES_MAX <= CHUNK_BYTES_MAX, "one stripe's shard must fit one chunk");
assert(KEY_BYTES_MAX < ENVELOPE_BYTES_MAX);
assert(EC_BACKOFF_MS_MIN < EC_BACKOFF_MS_MAX);
assert(SERVERS_MAX <= SHARDS_TOTAL_MAX);
