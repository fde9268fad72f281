// EcShardReplica: the participant side of ecc mode on one node. Pure: no timers, no I/O,
// no clock reads; time enters as nowMs arguments so a simulator can drive it.
//
// Glossary (ecc mode):
// - member: one of the n configured servers; node i stores shard i of every value.
// - tx: one write attempt by a client, named by a random 16-byte tx id.
// - EcPrepare / EcCommit / EcAbort: the phases of client-coordinated two-phase commit.
//   ("commit" alone is Raft's word; here it is always qualified.)
// - staged shard: received in EcPrepare, not yet visible; the key is locked for its tx.
// - lease: how long a lock may stay without news from its coordinator; after it the
//   participant resolves the tx with the other members (see resolution below).
// - fenced: a staged tx whose status a resolver asked for; it no longer accepts the
//   coordinator's EcCommit (only a resolver's), so a resolver that finds nobody committed
//   can abort without racing a slow coordinator.
//
// Resolution of an abandoned tx (the coordinator died between phases): the participant
// whose lease ran out asks every other node of the view for the tx's status (which fences
// it there). Any node committed -> EcCommit(resolution) everywhere at that version. Every
// node answered and none committed -> EcAbort everywhere. Someone did not answer -> keep
// the lock and ask again later; a view change that drops the silent node lets it decide
// (the driver, src/ecc/node.ts, asks the current view's nodes).
import assert from "node:assert/strict";
import {
  EcAbort,
  EcCommit,
  EcGet,
  EcGetReply,
  EcPulledShard,
  EcPullShards,
  EcPullShardsReply,
  EcPrepare,
  EcPrepareReply,
  EcStatsReply,
  EcTxStatus,
  EcTxStatusReply,
  ResultCode,
  TxState,
  WriteReason,
} from "../gen/ecc";
import { EVICTION_POLICY_DEFAULT, EvictionPolicy } from "../core/eviction";
import { Random, systemRandom } from "../core/env";
import { initialStamp, touchStamp } from "../storage/access";
import { crc32 } from "../codec/checksum";
import {
  CHUNK_BYTES_MAX,
  REBUILD_PULL_BYTES_MAX,
  REBUILD_PULL_KEYS_MAX,
  REBUILD_PULLED_SHARD_OVERHEAD_BYTES,
  EC_RESOLVED_TX_MAX,
  EC_STAGED_BYTES_MAX,
  EC_STAGED_SHARDS_MAX,
  EC_TOMBSTONE_KEEP_MS,
  VALUE_BYTES_MAX,
} from "../core/limits";
import { ShardStore } from "../storage/shard_store";
import { keyProblem } from "../core/keys";
import { blobBytes, Layout, stripeBlobOffset, stripeChecksumBytes, stripeChecksums, stripeCount, stripeShardBytes } from "./layout";

export const TX_ID_BYTES = 16;
const LEASE_MS_MIN = 10;
const LEASE_MS_MAX = 600_000;

export interface ReplicaOutcome<T> {
  code: ResultCode;
  message: string;
  reply?: T;
}

interface Lock {
  txId: string; // hex
  layout: Layout;
  valueCrc32: number;
  shardCrc32: number;
  tombstone: boolean;
  shard: Buffer;
  receivedBytes: number;
  staged: boolean; // all chunks in and checked
  leaseMs: number;
  leaseEndsAtMs: number;
  fenced: boolean;
  resolving: boolean;
  reason: WriteReason;
}

/** 32-bit tag of a tx id, stored with the version it wrote (see shard_store.ts). */
export function txTagOf(txId: Buffer): number {
  return crc32(txId);
}

export interface ReplicaOptions {
  shardIndex: number;
  dataShards: number;
  parityShards: number;
  blockBytes: number;
  address: string;
  store?: ShardStore;
  stagedShardsMax?: number;
  stagedBytesMax?: number;
  resolvedTxMax?: number;
  /** The memory budget and what to do at it (DESIGN.md section 7); default: unbounded. */
  memory?: MemoryBudget;
  /** Draws for LFU counters (access.ts); seeded in the simulator. */
  random?: Random;
}

export interface MemoryBudget {
  /** Bytes the node may hold in shards, staged shards and index; 0: no budget. */
  maxBytes: number;
  policy: EvictionPolicy;
}

/**
 * Above the budget an evicting node still stages writes up to this share more while its
 * evictions catch up; past that, EcPrepare answers MEMORY_FULL (retry) until they did. With
 * noeviction there is no such room: a write that does not fit is refused at once.
 */
export const MEMORY_HEADROOM = 0.1;

export interface ExpiredLock {
  key: Buffer;
  txId: Buffer;
}

function ok<T>(reply: T): ReplicaOutcome<T> {
  return { code: ResultCode.RESULT_CODE_OK, message: "", reply };
}
function refuse<T>(code: ResultCode, message: string): ReplicaOutcome<T> {
  assert(code !== ResultCode.RESULT_CODE_OK);
  return { code, message };
}

export class EcShardReplica {
  readonly store: ShardStore;
  private readonly locks = new Map<string, Lock>();
  /**
   * Aborted tx ids (hex), insertion ordered and bounded: they make a late EcPrepare of an
   * aborted tx fail fast. Forgetting one is harmless: the late EcPrepare would stage, its
   * lease would run out and resolution would abort it again. Committed txs need no record:
   * the entry's txTag answers for them.
   */
  private readonly aborted = new Set<string>();
  private stagedBytes = 0;
  private readonly stagedShardsMax: number;
  private readonly stagedBytesMax: number;
  private readonly resolvedTxMax: number;
  private readonly budget: MemoryBudget;
  private readonly random: Random;
  private evictedKeys = 0;
  private expiredKeys = 0;
  private rejectedWrites = 0;
  private readBytesServed = 0;

  constructor(private readonly options: ReplicaOptions) {
    assert(options.shardIndex >= 0 && options.shardIndex < options.dataShards + options.parityShards);
    this.store = options.store ?? new ShardStore();
    this.stagedShardsMax = options.stagedShardsMax ?? EC_STAGED_SHARDS_MAX;
    this.stagedBytesMax = options.stagedBytesMax ?? EC_STAGED_BYTES_MAX;
    this.resolvedTxMax = options.resolvedTxMax ?? EC_RESOLVED_TX_MAX;
    this.budget = options.memory ?? { maxBytes: 0, policy: EVICTION_POLICY_DEFAULT };
    this.random = options.random ?? systemRandom;
  }

  private get policy(): EvictionPolicy {
    return this.budget.policy;
  }

  /** A refusal when staging `shardBytes` more would break the budget; tombstones always fit. */
  private memoryRefusal(keyBytes: number, shardBytes: number, tombstone: boolean): ReplicaOutcome<never> | null {
    const { maxBytes, policy } = this.budget;
    if (maxBytes === 0 || tombstone) return null;
    const after = this.usedBytes() + this.store.bytesToAdd(keyBytes, shardBytes);
    if (policy === "noeviction" && after > maxBytes) {
      this.rejectedWrites++;
      return refuse(ResultCode.RESULT_CODE_OUT_OF_MEMORY, `node holds ${this.usedBytes()} bytes of its ${maxBytes}-byte budget; eviction_policy noeviction refuses writes that need more`);
    }
    if (policy !== "noeviction" && after > maxBytes * (1 + MEMORY_HEADROOM)) {
      this.rejectedWrites++;
      return refuse(ResultCode.RESULT_CODE_MEMORY_FULL, `node holds ${this.usedBytes()} bytes of its ${maxBytes}-byte budget; keys are being evicted, retry`);
    }
    return null;
  }

  prepare(request: EcPrepare, nowMs: number): ReplicaOutcome<EcPrepareReply> {
    const invalid = this.checkKeyTx(request.key, request.txId);
    if (invalid !== null) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, invalid);
    const key = request.key.toString("latin1");
    const txId = request.txId.toString("hex");
    if (this.aborted.has(txId) || this.committedHere(key, request.txId) !== 0) {
      return refuse(ResultCode.RESULT_CODE_TX_ABORTED, `transaction ${txId} was already resolved`);
    }
    const lock = this.locks.get(key);
    if (lock !== undefined && lock.txId !== txId) {
      return refuse(ResultCode.RESULT_CODE_LOCKED, "key is locked by another write");
    }
    if (lock === undefined) {
      return this.prepareFirstChunk(key, txId, request, nowMs);
    }
    return this.prepareNextChunk(lock, request, nowMs);
  }

  private prepareFirstChunk(key: string, txId: string, request: EcPrepare, nowMs: number): ReplicaOutcome<EcPrepareReply> {
    if (request.shardIndex !== this.options.shardIndex) {
      return refuse(
        ResultCode.RESULT_CODE_CONFIG_MISMATCH,
        `shard ${request.shardIndex} sent to the node that stores shard ${this.options.shardIndex}: list the servers in the cluster's order ` +
          `(node ${this.options.shardIndex} of the cluster's ecc_config is at this address)`,
      );
    }
    if (request.offset !== 0) {
      return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, `first chunk must start at offset 0, not ${request.offset}`);
    }
    if (request.leaseMs < LEASE_MS_MIN || request.leaseMs > LEASE_MS_MAX) {
      return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, `lease ${request.leaseMs} ms outside [${LEASE_MS_MIN}, ${LEASE_MS_MAX}]`);
    }
    const layoutError = this.checkLayout(request);
    if (layoutError !== null) return refuse(layoutError.mismatch ? ResultCode.RESULT_CODE_CONFIG_MISMATCH : ResultCode.RESULT_CODE_INVALID_ARGUMENT, layoutError.message);
    const layout = layoutOf(request);
    const shardBytes = request.tombstone ? 0 : blobBytes(layout);
    if (this.locks.size >= this.stagedShardsMax) {
      return refuse(ResultCode.RESULT_CODE_LIMIT, `node holds ${this.locks.size} staged shards, the limit`);
    }
    if (this.stagedBytes + shardBytes > this.stagedBytesMax) {
      return refuse(ResultCode.RESULT_CODE_LIMIT, `node staged bytes would exceed ${this.stagedBytesMax}`);
    }
    const memoryRefusal = this.memoryRefusal(request.key.length, shardBytes + (request.tombstone ? 0 : stripeChecksumBytes(layout)), request.tombstone);
    if (memoryRefusal !== null) return memoryRefusal;
    const chunkError = checkChunk(request, 0, shardBytes);
    if (chunkError !== null) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, chunkError);
    const shard = Buffer.allocUnsafe(shardBytes);
    const lock: Lock = {
      txId,
      layout,
      valueCrc32: request.layout!.valueCrc32 >>> 0,
      shardCrc32: request.shardCrc32 >>> 0,
      tombstone: request.tombstone,
      shard,
      receivedBytes: 0,
      staged: false,
      leaseMs: request.leaseMs,
      leaseEndsAtMs: nowMs + request.leaseMs,
      fenced: false,
      resolving: false,
      reason: request.reason,
    };
    return this.acceptChunk(key, lock, request, true);
  }

  private prepareNextChunk(lock: Lock, request: EcPrepare, nowMs: number): ReplicaOutcome<EcPrepareReply> {
    if (lock.fenced) return refuse(ResultCode.RESULT_CODE_TX_ABORTED, "transaction is being resolved");
    if (lock.staged) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, "transaction already staged every chunk");
    const chunkError = checkChunk(request, lock.receivedBytes, lock.shard.length);
    if (chunkError !== null) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, chunkError);
    lock.leaseEndsAtMs = nowMs + lock.leaseMs;
    return this.acceptChunk(request.key.toString("latin1"), lock, request, false);
  }

  private acceptChunk(key: string, lock: Lock, request: EcPrepare, isNew: boolean): ReplicaOutcome<EcPrepareReply> {
    const receivedBytes = lock.receivedBytes + request.data.length;
    if (request.last) {
      if (receivedBytes !== lock.shard.length) {
        return refuse(
          ResultCode.RESULT_CODE_INVALID_ARGUMENT,
          `last chunk leaves the shard at ${receivedBytes} of ${lock.shard.length} bytes`,
        );
      }
      // Check the whole shard before staging it: a bad shard changes nothing.
      lock.shard.set(request.data, lock.receivedBytes);
      if (crc32(lock.shard) !== lock.shardCrc32) {
        if (!isNew) this.dropLock(key, lock);
        return refuse(ResultCode.RESULT_CODE_CORRUPT, "shard bytes do not match shard_crc32");
      }
    } else {
      lock.shard.set(request.data, lock.receivedBytes);
    }
    lock.receivedBytes = receivedBytes;
    lock.staged = request.last;
    if (isNew) {
      this.locks.set(key, lock);
      this.stagedBytes += lock.shard.length;
    }
    const committed = this.store.summary(key);
    return ok({
      committedVersion: committed?.version ?? 0,
      staged: lock.staged,
      committedTombstone: committed?.tombstone ?? false,
      committedExpiresAtMs: committed?.expiresAtMs ?? 0,
    });
  }

  /**
   * reply.reason: why the write happened (a node counts and logs evictions and expirations);
   * droppedValueCrc32: for a drop, the CRC-32 of the value it removed (what the log names).
   */
  commit(request: EcCommit, nowMs: number): ReplicaOutcome<{ reason?: WriteReason; droppedValueCrc32?: number }> {
    const invalid = this.checkKeyTx(request.key, request.txId);
    if (invalid !== null) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, invalid);
    const key = request.key.toString("latin1");
    const txId = request.txId.toString("hex");
    const lock = this.locks.get(key);
    if (lock === undefined || lock.txId !== txId) {
      if (this.committedHere(key, request.txId) === request.version) {
        return ok({}); // a repeated EcCommit: already done
      }
      return refuse(ResultCode.RESULT_CODE_TX_ABORTED, `transaction ${txId} is not staged here`);
    }
    if (!lock.staged) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, "EcCommit before every chunk was staged");
    if (lock.fenced && !request.resolution) {
      return refuse(ResultCode.RESULT_CODE_TX_ABORTED, "transaction was fenced by a resolver");
    }
    if (!Number.isSafeInteger(request.version)) {
      return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, `version ${request.version} is not an integer`);
    }
    const committed = this.store.version(key);
    if (request.version <= committed) {
      // This node already holds that version or a newer one (a recovering node rebuilt it, or
      // a later write won): the staged shard can never become visible here. Drop it, or the
      // lock would block every later write of the key on this node.
      this.dropLock(key, lock);
      if (request.resolution && request.version === committed) return ok({});
      return refuse(ResultCode.RESULT_CODE_STALE_VERSION, `version ${request.version} is not above the committed version ${committed}`);
    }
    if (!Number.isSafeInteger(request.expiresAtMs) || request.expiresAtMs < 0) {
      return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, `TTL deadline ${request.expiresAtMs} is not valid`);
    }
    const droppedValueCrc32 = lock.reason === WriteReason.WRITE_REASON_CLIENT ? 0 : this.store.valueCrc32(key);
    // A tombstone has no TTL; its deadline field says when it may be forgotten (dropTombstone).
    const expiresAtMs = lock.tombstone ? nowMs + EC_TOMBSTONE_KEEP_MS : request.expiresAtMs;
    this.store.put(
      key,
      {
        version: request.version,
        tombstone: lock.tombstone,
        valueBytes: lock.layout.valueBytes,
        valueCrc32: lock.valueCrc32,
        shardCrc32: lock.shardCrc32,
        txTag: txTagOf(request.txId),
        expiresAtMs,
      },
      lock.shard,
      initialStamp(this.policy, nowMs),
      lock.tombstone ? undefined : stripeChecksums(lock.layout, lock.shard, crc32),
    );
    this.store.touch(key, (stamp) => touchStamp(this.policy, stamp, nowMs, this.random.next()));
    if (lock.reason === WriteReason.WRITE_REASON_EVICT) this.evictedKeys++;
    if (lock.reason === WriteReason.WRITE_REASON_EXPIRE) this.expiredKeys++;
    this.dropLock(key, lock);
    return ok({ reason: lock.reason, droppedValueCrc32 });
  }

  abort(request: EcAbort): ReplicaOutcome<Record<string, never>> {
    const invalid = this.checkKeyTx(request.key, request.txId);
    if (invalid !== null) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, invalid);
    const key = request.key.toString("latin1");
    const txId = request.txId.toString("hex");
    const lock = this.locks.get(key);
    if (lock !== undefined && lock.txId === txId) {
      this.dropLock(key, lock);
    } else if (this.committedHere(key, request.txId) !== 0) {
      return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, `transaction ${txId} is already committed here`);
    }
    // Remember the abort so a late EcPrepare (reordered behind this EcAbort) is refused.
    this.rememberAborted(txId);
    return ok({});
  }

  /** A read; it counts as an access of the key (eviction prefers keys not read lately). */
  get(request: EcGet, nowMs: number): ReplicaOutcome<EcGetReply> {
    const keyError = keyProblem(request.key);
    if (keyError !== null) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, keyError);
    const key = request.key.toString("latin1");
    const entry = this.store.get(key);
    const lengthMax = Math.min(request.lengthMax === 0 ? CHUNK_BYTES_MAX : request.lengthMax, CHUNK_BYTES_MAX);
    if (entry === null) {
      if (request.wantVersion !== 0) return refuse(ResultCode.RESULT_CODE_VERSION_GONE, "key is absent");
      return ok(emptyGetReply(this.options.shardIndex));
    }
    if (request.wantVersion !== 0 && request.wantVersion !== entry.version) {
      return refuse(ResultCode.RESULT_CODE_VERSION_GONE, `version ${request.wantVersion} replaced by ${entry.version}`);
    }
    const layout = this.layoutOf(entry.valueBytes);
    const blob = entry.shard.subarray(0, entry.tombstone ? 0 : blobBytes(layout));
    if (request.offset > blob.length) {
      return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, `offset ${request.offset} beyond shard of ${blob.length} bytes`);
    }
    let end = request.headerOnly ? request.offset : Math.min(blob.length, request.offset + lengthMax);
    const stripeCrc32: number[] = [];
    if (request.stripeChecksums && !request.headerOnly && !entry.tombstone) {
      // Whole stripes from a stripe boundary, each with its checksum.
      if (request.offset % layout.blockBytes !== 0) {
        return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, `offset ${request.offset} is not a stripe boundary (${layout.blockBytes}-byte stripes)`);
      }
      const count = stripeCount(layout);
      const trailer = entry.shard.subarray(blob.length);
      end = request.offset;
      for (let stripe = request.offset / layout.blockBytes; stripe < count; stripe++) {
        const stripeEnd = stripeBlobOffset(layout, stripe) + stripeShardBytes(layout, stripe);
        if (stripeCrc32.length > 0 && stripeEnd - request.offset > lengthMax) break;
        stripeCrc32.push(count === 1 ? entry.shardCrc32 : trailer.readUInt32LE(4 * stripe));
        end = stripeEnd;
      }
    }
    if (request.offset === 0) this.store.touch(key, (stamp) => touchStamp(this.policy, stamp, nowMs, this.random.next()));
    this.readBytesServed += end - request.offset;
    return ok({
      version: entry.version,
      tombstone: entry.tombstone,
      expiresAtMs: entry.expiresAtMs,
      layout: {
        valueBytes: entry.valueBytes,
        blockBytes: this.options.blockBytes,
        dataShards: this.options.dataShards,
        parityShards: this.options.parityShards,
        valueCrc32: entry.valueCrc32,
      },
      shardIndex: this.options.shardIndex,
      shardCrc32: entry.shardCrc32,
      shardBytes: blob.length,
      offset: request.offset,
      data: blob.subarray(request.offset, end),
      stripeCrc32,
    });
  }

  /**
   * A recovering node's bulk pull (proto EcPullShards): the committed shards of a run of keys,
   * in order, until the next key would take the reply past bytesMax (at least one key is
   * answered). Not an access: rebuild traffic must not make keys look hot to eviction. The
   * caller (the node core) checks that this node serves reads at the request's epoch.
   */
  pullShards(request: EcPullShards): ReplicaOutcome<EcPullShardsReply> {
    if (request.keys.length === 0) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, "a pull names no key");
    if (request.keys.length > REBUILD_PULL_KEYS_MAX) {
      return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, `a pull names ${request.keys.length} keys; at most ${REBUILD_PULL_KEYS_MAX}`);
    }
    if (!Number.isSafeInteger(request.bytesMax) || request.bytesMax < 1 || request.bytesMax > REBUILD_PULL_BYTES_MAX) {
      return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, `pull bytes_max ${request.bytesMax} outside [1, ${REBUILD_PULL_BYTES_MAX}]`);
    }
    for (const key of request.keys) {
      const keyError = keyProblem(key);
      if (keyError !== null) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, keyError);
    }
    const shards: EcPulledShard[] = [];
    let bytes = 0;
    for (const keyBytes of request.keys) {
      const entry = this.store.get(keyBytes.toString("latin1"));
      const layout = entry === null ? undefined : this.layoutOf(entry.valueBytes);
      const blobLength = entry === null || entry.tombstone ? 0 : blobBytes(layout!);
      const oversized = blobLength > request.bytesMax;
      const cost = (oversized ? 0 : blobLength) + keyBytes.length + REBUILD_PULLED_SHARD_OVERHEAD_BYTES;
      if (shards.length > 0 && bytes + cost > request.bytesMax) break;
      bytes += cost;
      if (entry === null) {
        shards.push({ key: keyBytes, version: 0, tombstone: false, expiresAtMs: 0, layout: undefined, shardCrc32: 0, data: Buffer.alloc(0), oversized: false });
        continue;
      }
      shards.push({
        key: keyBytes,
        version: entry.version,
        tombstone: entry.tombstone,
        expiresAtMs: entry.expiresAtMs,
        layout: { ...layout!, valueCrc32: entry.valueCrc32 },
        shardCrc32: entry.shardCrc32,
        data: oversized ? Buffer.alloc(0) : entry.shard.subarray(0, blobLength),
        oversized,
      });
    }
    return ok({ shardIndex: this.options.shardIndex, shards });
  }

  private layoutOf(valueBytes: number): Layout {
    return { valueBytes, blockBytes: this.options.blockBytes, dataShards: this.options.dataShards, parityShards: this.options.parityShards };
  }

  /** A resolver asks; a staged tx becomes fenced, an unknown one is recorded as aborted. */
  txStatus(request: EcTxStatus): ReplicaOutcome<EcTxStatusReply> {
    const invalid = this.checkKeyTx(request.key, request.txId);
    if (invalid !== null) return refuse(ResultCode.RESULT_CODE_INVALID_ARGUMENT, invalid);
    const key = request.key.toString("latin1");
    const txId = request.txId.toString("hex");
    const lock = this.locks.get(key);
    if (lock !== undefined && lock.txId === txId) {
      lock.fenced = true;
      return ok({ state: TxState.TX_STATE_STAGED, version: 0, expiresAtMs: 0 });
    }
    // While a resolver holds its own lock on `key` for this tx, no later tx can commit `key`
    // anywhere (its EcPrepare fails at the resolver), so the entry's tag still names the
    // tx that wrote the current version.
    const committedVersion = this.committedHere(key, request.txId);
    if (committedVersion !== 0) {
      return ok({ state: TxState.TX_STATE_COMMITTED, version: committedVersion, expiresAtMs: this.store.summary(key)?.expiresAtMs ?? 0 });
    }
    if (this.aborted.has(txId)) return ok({ state: TxState.TX_STATE_ABORTED, version: 0, expiresAtMs: 0 });
    this.rememberAborted(txId);
    return ok({ state: TxState.TX_STATE_UNKNOWN, version: 0, expiresAtMs: 0 });
  }

  /**
   * Locks whose lease ran out and that nobody is resolving yet; each is marked resolving
   * (and fenced: this node asks the others, so it must not take a late coordinator EcCommit
   * either). The driver resolves them and calls resolutionFailed() to retry later.
   */
  takeExpiredLocks(nowMs: number, countMax: number): ExpiredLock[] {
    const expired: ExpiredLock[] = [];
    for (const [key, lock] of this.locks) {
      if (expired.length >= countMax) break;
      if (lock.resolving || lock.leaseEndsAtMs > nowMs) continue;
      lock.resolving = true;
      lock.fenced = true;
      expired.push({ key: Buffer.from(key, "latin1"), txId: Buffer.from(lock.txId, "hex") });
    }
    return expired;
  }

  /** Resolution could not decide (a member did not answer): try again after retryMs. */
  resolutionFailed(key: Buffer, txId: Buffer, nowMs: number, retryMs: number): void {
    const lock = this.locks.get(key.toString("latin1"));
    if (lock === undefined || lock.txId !== txId.toString("hex")) return;
    lock.resolving = false;
    lock.leaseEndsAtMs = nowMs + retryMs;
  }

  /**
   * A view changed: every staged tx is from the old epoch. Fence them all and make them due
   * for resolution now, among the new view's nodes, before new-epoch writes of those keys
   * can proceed (they meet LOCKED until then).
   */
  fenceAllForViewChange(nowMs: number): number {
    for (const lock of this.locks.values()) {
      lock.fenced = true;
      if (!lock.resolving) lock.leaseEndsAtMs = nowMs;
    }
    return this.locks.size;
  }

  /** Every key held, committed or staged (a recovering node rebuilds from this list). */
  keysForListing(): string[] {
    const keys = new Set<string>(this.store.keys());
    for (const key of this.locks.keys()) keys.add(key);
    return [...keys].sort();
  }

  /**
   * Installs a shard rebuilt from other nodes, unless this node already holds that version
   * or a newer one (a write that reached it while it was recovering wins). Returns whether
   * it installed.
   */
  installRebuilt(
    key: string,
    entry: { version: number; tombstone: boolean; valueBytes: number; valueCrc32: number; shardCrc32: number; expiresAtMs: number },
    shard: Uint8Array,
    nowMs: number,
  ): boolean {
    if (this.store.version(key) >= entry.version) return false;
    const expiresAtMs = entry.tombstone ? nowMs + EC_TOMBSTONE_KEEP_MS : entry.expiresAtMs;
    const trailer = entry.tombstone ? undefined : stripeChecksums(this.layoutOf(entry.valueBytes), shard, crc32);
    this.store.put(key, { ...entry, expiresAtMs, txTag: 0 }, shard, initialStamp(this.policy, nowMs), trailer);
    return true;
  }

  /**
   * Forgets a tombstone once EC_TOMBSTONE_KEEP_MS passed since it was committed here, unless
   * a write of the key is staged here. A node without the entry answers version 0, which
   * reads and writes treat like the tombstone (absent); a write computes its version from
   * every node of the view, so a key all nodes forgot restarts its versions and one some
   * still hold continues above them. The wait keeps the tombstone's tx tag while other nodes
   * may still resolve the delete (they ask whether it committed here).
   */
  dropTombstone(key: string, nowMs: number): boolean {
    if (this.locks.has(key)) return false;
    const entry = this.store.summary(key);
    if (entry === null || !entry.tombstone || entry.expiresAtMs > nowMs) return false;
    return this.store.delete(key);
  }

  /** What counts against the memory budget: the store's blocks in use and index, and staged shards. */
  usedBytes(): number {
    return this.store.usedBytes() + this.stagedBytes;
  }

  /** Memory held: every arena slab (free blocks and tails included), the index, staged shards. */
  heldBytes(): number {
    return this.store.heldBytes() + this.stagedBytes;
  }

  get memory(): MemoryBudget {
    return this.budget;
  }

  /** Forgets every shard and staged tx (the node was removed from the view). */
  reset(): void {
    this.store.clear();
    this.locks.clear();
    this.stagedBytes = 0;
  }

  isLocked(key: string): boolean {
    return this.locks.has(key);
  }

  stats(): EcStatsReply {
    const s = this.store.stats();
    return {
      nodeAddress: this.options.address,
      shardIndex: this.options.shardIndex,
      keyCount: s.keyCount,
      tombstoneCount: s.tombstoneCount,
      payloadBytes: s.payloadBytes,
      keyBytes: s.keyBytes,
      metaBytes: s.metaBytes,
      logicalBytes: s.logicalBytes,
      stagedCount: this.locks.size,
      stagedBytes: this.stagedBytes,
      rssBytes: 0,
      heapUsedBytes: 0,
      v8HeapBytes: 0,
      arrayBuffersBytes: 0,
      // Filled in by the node runtime, which knows the view and recovery progress.
      view: undefined,
      state: "",
      rebuiltKeys: 0,
      rebuiltBytes: 0,
      rebuildTotalKeys: 0,
      rebuildBytesPerSecond: 0,
      controlLeader: false,
      usedBytes: this.usedBytes(),
      heldBytes: this.heldBytes(),
      readBytesServed: this.readBytesServed,
      maxMemoryBytes: this.budget.maxBytes,
      evictionPolicy: this.budget.policy,
      evictedKeys: this.evictedKeys,
      expiredKeys: this.expiredKeys,
      rejectedWrites: this.rejectedWrites,
    };
  }

  private dropLock(key: string, lock: Lock): void {
    assert(this.locks.get(key) === lock);
    this.locks.delete(key);
    this.stagedBytes -= lock.shard.length;
    assert(this.stagedBytes >= 0);
  }

  /**
   * The version `txId` committed for `key` on this node, 0 when it did not (or a later
   * version replaced it: only the newest version's tx is remembered).
   */
  committedHere(key: string, txId: Buffer): number {
    const entry = this.store.versionAndTag(key);
    if (entry === null || entry.txTag !== txTagOf(txId)) return 0;
    return entry.version;
  }

  private rememberAborted(txId: string): void {
    this.aborted.delete(txId);
    this.aborted.add(txId);
    while (this.aborted.size > this.resolvedTxMax) {
      const oldest = this.aborted.values().next().value as string;
      this.aborted.delete(oldest);
    }
  }

  private checkKeyTx(key: Buffer, txId: Buffer): string | null {
    const keyError = keyProblem(key);
    if (keyError !== null) return keyError;
    if (txId.length !== TX_ID_BYTES) return `tx id must be ${TX_ID_BYTES} bytes, got ${txId.length}`;
    return null;
  }

  /** What is wrong with a prepare's layout: `mismatch` when it is another cluster's layout (the client's config differs). */
  private checkLayout(request: EcPrepare): { message: string; mismatch: boolean } | null {
    const layout = request.layout;
    if (layout === undefined) return { message: "EcPrepare without a layout", mismatch: false };
    if (layout.dataShards !== this.options.dataShards || layout.parityShards !== this.options.parityShards) {
      return {
        message: `the client sends k=${layout.dataShards}, n=${layout.dataShards + layout.parityShards}; this cluster is k=${this.options.dataShards}, n=${this.options.dataShards + this.options.parityShards}: use the cluster's ecc_config`,
        mismatch: true,
      };
    }
    if (layout.blockBytes !== this.options.blockBytes) {
      return { message: `the client's block size is ${layout.blockBytes} bytes; this cluster's is ${this.options.blockBytes}: use the cluster's ecc_config`, mismatch: true };
    }
    if (!Number.isSafeInteger(layout.valueBytes) || layout.valueBytes > VALUE_BYTES_MAX) {
      return { message: `value of ${layout.valueBytes} bytes exceeds the limit of ${VALUE_BYTES_MAX}`, mismatch: false };
    }
    if (request.tombstone && layout.valueBytes !== 0) return { message: "a tombstone carries no value bytes", mismatch: false };
    return null;
  }

}

function checkChunk(request: EcPrepare, expectedOffset: number, shardBytes: number): string | null {
  if (request.offset !== expectedOffset) return `chunk at offset ${request.offset}, expected ${expectedOffset}`;
  if (request.data.length > CHUNK_BYTES_MAX) return `chunk of ${request.data.length} bytes exceeds ${CHUNK_BYTES_MAX}`;
  if (expectedOffset + request.data.length > shardBytes) {
    return `chunk ends at ${expectedOffset + request.data.length}, beyond the shard's ${shardBytes} bytes`;
  }
  return null;
}

function layoutOf(request: EcPrepare): Layout {
  const layout = request.layout!;
  return {
    valueBytes: layout.valueBytes,
    blockBytes: layout.blockBytes,
    dataShards: layout.dataShards,
    parityShards: layout.parityShards,
  };
}

function emptyGetReply(shardIndex: number): EcGetReply {
  return {
    version: 0,
    tombstone: false,
    expiresAtMs: 0,
    layout: undefined,
    shardIndex,
    shardCrc32: 0,
    shardBytes: 0,
    offset: 0,
    data: Buffer.alloc(0),
    stripeCrc32: [],
  };
}
