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
/**
 * Default per-node memory budget (max_memory_bytes): what a node's store may hold before it
 * evicts (or, with noeviction, refuses writes). Bounded by default, unlike Redis, because
 * every ecc node holds a share of every value: without a bound all n nodes reach the
 * machine's limit together and the cluster loses more than n-k nodes at once. 256 MiB per
 * node is a default cluster of 1.25 GiB (ecc) or 768 MiB (raft) on one machine.
 */
export const MAX_MEMORY_BYTES_DEFAULT = 256 * 1024 * 1024;
/**
 * The smallest budget a node accepts: room for the largest value's shards in flight
 * (a write stages its shard before any eviction can make room) and the index; smaller is a
 * config error.
 */
export const MAX_MEMORY_BYTES_MIN = 4 * 1024 * 1024;
export const MAX_MEMORY_BYTES_MAX = 2 ** 40;
/** Longest TTL a client may ask for (parseDurationMs's default limit: a deadline stays a safe epoch-ms integer). */
export const TTL_MS_MAX = 100 * 365 * 86_400_000;
/**
 * Most applied seqs a raft client session keeps above its floor (src/raft/kv_state.ts). A
 * client (src/raft/client.ts) opens a new session before its seqs span half of this, so
 * the state machine never has to drop seqs it may not have applied yet.
 */
export const KV_SESSION_SEQS_MAX = 8_192;
/**
 * How long a node keeps a delete's tombstone before forgetting the key (its memory returns
 * to the budget): long enough for every lease to run out and the other nodes to resolve the
 * delete by asking this node whether it committed.
 */
export const EC_TOMBSTONE_KEEP_MS = 60_000;
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
/**
 * A recovering node's bulk pull (EcPullShards): most keys one request names, and most shard
 * and key bytes one reply carries (a blob larger than this is read the per-key way, in
 * chunks). Each answered key counts its blob, its key and REBUILD_PULLED_SHARD_OVERHEAD_BYTES.
 */
export const REBUILD_PULL_KEYS_MAX = 4_096;
export const REBUILD_PULL_BYTES_MAX = CHUNK_BYTES_MAX;
export const REBUILD_PULLED_SHARD_OVERHEAD_BYTES = 64;
/** Most bulk pulls (each to k members) one recovering node keeps in flight. */
export const REBUILD_PULLS_IN_FLIGHT_MAX = 64;
/** GF(2^8) Reed–Solomon: at most 256 shards in all. */
export const SHARDS_TOTAL_MAX = 256;
export const SERVERS_MAX = 64;

/**
 * Flags for the `node` binary of every node process we start (startAll, bench, images).
 * V8's young generation defaults to 16 MiB semi-spaces: under load a node's RSS then grows
 * by tens of MiB of short-lived garbage, which would drown the memory comparison this
 * project exists for. Costs a few more scavenges under load.
 * No Sparkplug: V8's baseline compiler keeps machine code for every function that ran a
 * few times, memory after a load for no throughput we could measure; hot functions are
 * still optimized. --optimize-for-size (V8: "optimizations which favor memory size over
 * execution speed") shrinks the V8 heap a loaded node keeps, raft's most. The README's
 * "Node flags" gives the measured effect of each. docker/entrypoint.sh repeats these.
 */
export const NODE_PROCESS_ARGS: readonly string[] = ["--max-semi-space-size=1", "--no-sparkplug", "--optimize-for-size"];

// ------------------------------------------------------------------ RESP front door
// The Redis protocol port of every node (src/resp). Redis's own limits for comparison:
// proto-max-bulk-len 512 MB, multibulk length 1,048,576, client-query-buffer-limit 1 GB,
// maxclients 10,000.

/** Largest bulk string in a request: a whole value (keys are far smaller). */
export const RESP_BULK_BYTES_MAX = VALUE_BYTES_MAX;
/**
 * Most arguments of one command (the command name included). Below Redis's 1,048,576: each
 * key of a multi-key command (MGET, MSET, DEL, EXISTS) becomes a read or a write of its own.
 */
export const RESP_COMMAND_ARGUMENTS_MAX = 65_536;
/**
 * Most bytes one connection may have sent that do not yet form a whole command (Redis's
 * client-query-buffer-limit): an MSET of two maximal values fits, a third does not.
 */
export const RESP_QUERY_BUFFER_BYTES_MAX = 2 * VALUE_BYTES_MAX + 1024 * 1024;
/** Most commands of one connection received and not yet answered; reading pauses beyond. */
export const RESP_PIPELINE_COMMANDS_MAX = 1_024;
/**
 * Most commands of one connection running at once (the others wait in order): a client that
 * pipelines thousands of writes must not start thousands of 2PC rounds together, which would
 * starve the nodes' heartbeats on a small machine. redis-benchmark's -P 16 runs whole.
 */
export const RESP_COMMANDS_RUNNING_MAX = 64;
/** Most keys of one multi-key command read or written at once (the rest wait their turn). */
export const RESP_KEYS_IN_FLIGHT_MAX = 256;
/** Most reply bytes queued on one connection before it stops reading (the client is not reading). */
export const RESP_OUTPUT_BYTES_HIGH = 8 * 1024 * 1024;
/** Most open connections per node (Redis's maxclients default); one more is told so and closed. */
export const RESP_CONNECTIONS_MAX = 10_000;
/**
 * A command that is still incomplete this long after its first byte closes the connection
 * (slowloris). Long enough for a maximal value at 4 MB/s.
 */
export const RESP_PARTIAL_COMMAND_MS_MAX = 20_000;
/** KEYS answers only while the node holds at most this many keys; beyond, SCAN is the way. */
export const RESP_KEYS_COMMAND_KEYS_MAX = 100_000;
/** Most keys one SCAN call may look at (its COUNT is capped to this). */
export const RESP_SCAN_COUNT_MAX = 10_000;

assert(VALUE_BYTES_MAX >= 64 * 1024 * 1024, "the product promises values of at least 64 MiB");
assert(CHUNK_BYTES_MAX + ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX);
assert(BLOCK_BYTES_MAX <= CHUNK_BYTES_MAX, "one stripe's shard must fit one chunk");
assert(KEY_BYTES_MAX < ENVELOPE_BYTES_MAX);
assert(EC_BACKOFF_MS_MIN < EC_BACKOFF_MS_MAX);
assert(EC_TOMBSTONE_KEEP_MS >= 10 * EC_LOCK_LEASE_MS_DEFAULT, "tombstones outlive the resolution of the delete that wrote them");
assert(SERVERS_MAX <= SHARDS_TOTAL_MAX);
assert(RESP_BULK_BYTES_MAX >= VALUE_BYTES_MAX, "a maximal value must fit one bulk string");
assert(RESP_QUERY_BUFFER_BYTES_MAX >= RESP_BULK_BYTES_MAX + KEY_BYTES_MAX + 1024, "a SET of a maximal value must fit the query buffer");
assert(RESP_PARTIAL_COMMAND_MS_MAX * 4 * 1024 >= VALUE_BYTES_MAX, "a maximal value at 4 MB/s arrives before the slowloris deadline");
assert(RESP_KEYS_IN_FLIGHT_MAX <= RESP_COMMAND_ARGUMENTS_MAX);
assert(RESP_COMMANDS_RUNNING_MAX <= RESP_PIPELINE_COMMANDS_MAX);
assert(REBUILD_PULL_BYTES_MAX + KEY_BYTES_MAX + REBUILD_PULLED_SHARD_OVERHEAD_BYTES + ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX, "a pull reply fits one message");
assert(REBUILD_PULL_KEYS_MAX * (KEY_BYTES_MAX + 8) + ENVELOPE_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX, "a pull request of maximal keys fits one message");

// ------------------------------------------------------------------ raft mode
// Config values are checked against these once, in the RaftCore constructor.

/** The driver snapshots its state machine and calls compact() after this many applied entries. */
export const RAFT_SNAPSHOT_ENTRIES_DEFAULT = 5_000;
/** Upper bound of config.maxInflightAppends (appends sent but not acknowledged, per follower). */
export const RAFT_APPENDS_IN_FLIGHT_MAX = 256;
/** Upper bound of config.maxInflightBytes (entry bytes sent to one follower, not yet acknowledged). */
export const RAFT_INFLIGHT_BYTES_MAX = 1024 * 1024 * 1024;
/**
 * The slowest replication rate a raft leader assumes (RaftConfig.replicationBytesPerTickMin,
 * from the tick length): an append unanswered for its bytes at this rate is sent again.
 */
export const RAFT_REPLICATION_BYTES_PER_SECOND_MIN = 16 * 1024 * 1024;
/**
 * The slowest rate a raft client assumes for a set's value (client to leader, replication,
 * persistence, apply): an attempt's deadline is rpc_timeout_ms plus the value at this rate,
 * so a 64 MiB set gets 8 s more than a small one.
 */
export const RAFT_CLIENT_BYTES_PER_SECOND_MIN = 8 * 1024 * 1024;
/** Upper bound of config.maxEntriesPerAppend. */
export const RAFT_ENTRIES_PER_APPEND_MAX = 4_096;
/** Upper bound of config.maxBytesPerAppend: one AppendEntries must fit one gRPC message. */
export const RAFT_APPEND_BYTES_MAX = GRPC_MESSAGE_BYTES_MAX - ENVELOPE_BYTES_MAX;
/**
 * Largest entry data. An entry carries a whole client command (key + value + framing), so
 * this follows VALUE_BYTES_MAX; an AppendEntries always carries at least one entry, so a
 * transport must accept messages of this size plus an envelope (see core.ts limitations).
 */
export const RAFT_ENTRY_BYTES_MAX = VALUE_BYTES_MAX + ENVELOPE_BYTES_MAX;
/**
 * Largest gRPC message in raft mode (peer messages and client requests): one whole entry
 * plus framing. Every other gRPC message is bounded by GRPC_MESSAGE_BYTES_MAX.
 */
export const RAFT_MESSAGE_BYTES_MAX = VALUE_BYTES_MAX + 4 * 1024 * 1024;
/** Estimated per-entry overhead (term, index, type, framing) counted against byte limits. */
export const RAFT_ENTRY_OVERHEAD_BYTES = 32;
/** Most ReadIndex requests waiting at once; more fail with UnavailableError (back-pressure). */
export const RAFT_READS_PENDING_MAX = 4_096;
/** Most commands in one proposeBatch() call. */
export const RAFT_PROPOSE_BATCH_MAX = 4_096;
/** Most entries a leader holds beyond commitIndex; proposals beyond fail with UnavailableError. */
export const RAFT_UNCOMMITTED_ENTRIES_MAX = 65_536;
/** Most uncommitted bytes a leader holds; proposals beyond fail with UnavailableError. */
export const RAFT_UNCOMMITTED_BYTES_MAX = 1024 * 1024 * 1024;
/** Most committed entries handed out by one ready(); the rest follow in the next one. */
export const RAFT_APPLY_ENTRIES_PER_READY_MAX = 4_096;
/** Most committed bytes handed out by one ready() (at least one entry is always handed out). */
export const RAFT_APPLY_BYTES_PER_READY_MAX = 64 * 1024 * 1024;
/**
 * Most messages queued between two ready() calls. The queue grows only with ticks and
 * inputs, so hitting this means the driver stopped calling ready(): a driver bug.
 */
export const RAFT_OUTBOX_MESSAGES_MAX = 1_000_000;
/** Most voters in one group. */
export const RAFT_VOTERS_MAX = SERVERS_MAX;
/** Bounds on config.electionTicks (the randomised timeout lies in [electionTicks, 2*electionTicks)). */
export const RAFT_ELECTION_TICKS_MIN = 3;
export const RAFT_ELECTION_TICKS_MAX = 10_000;

assert(RAFT_SNAPSHOT_ENTRIES_DEFAULT > 0);
assert(RAFT_APPEND_BYTES_MAX > 0);
assert(RAFT_APPEND_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX);
assert(RAFT_UNCOMMITTED_BYTES_MAX >= RAFT_ENTRY_BYTES_MAX, "one maximal entry must be proposable");
assert(RAFT_UNCOMMITTED_ENTRIES_MAX >= RAFT_PROPOSE_BATCH_MAX, "one maximal batch must be proposable");
assert(RAFT_APPLY_BYTES_PER_READY_MAX > 0);
assert(RAFT_READS_PENDING_MAX > 0);
assert(RAFT_ELECTION_TICKS_MIN >= 3, "electionTicks must exceed 2 * heartbeatTicks with heartbeatTicks >= 1");
assert(RAFT_ELECTION_TICKS_MIN < RAFT_ELECTION_TICKS_MAX);
assert(RAFT_VOTERS_MAX >= 1);
assert(RAFT_ENTRY_BYTES_MAX + ENVELOPE_BYTES_MAX <= RAFT_MESSAGE_BYTES_MAX);

/**
 * Bounds on the client auth token (auth_token, auth_token_file; src/core/auth_token.ts), in
 * bytes of printable ASCII. The minimum refuses a token short enough to guess by trying (and
 * the empty token, which would mean "no auth" to a careless script); the maximum keeps the
 * `authorization: Bearer <token>` header well inside gRPC's 8 KiB metadata and the admin
 * port's 8 KiB header limits. A 32-byte random token in hex (64 bytes) is the advice.
 */
export const AUTH_TOKEN_BYTES_MIN = 8;
export const AUTH_TOKEN_BYTES_MAX = 1024;
/** Most token files one process watches (a node has one; the registry is bounded all the same). */
export const AUTH_TOKEN_FILES_MAX = 16;

assert(AUTH_TOKEN_BYTES_MIN >= 1, "the empty token is never a token");
assert(AUTH_TOKEN_BYTES_MIN < AUTH_TOKEN_BYTES_MAX);
assert(AUTH_TOKEN_BYTES_MAX + 64 <= 8 * 1024, "the bearer header must fit gRPC's default metadata limit");
