// EcClient: the ecc mode client library. It is the 2PC coordinator for its writes and the
// decoder for its reads (DESIGN.md section 3). One instance keeps one channel per node and
// is safe to use from many concurrent callers.
//
// Views (view.ts): the client caches the current view and sends its epoch with every
// operation; a node at another epoch answers STALE_EPOCH with its view, and the client
// adopts the newer one and retries.
// Write: EcPrepare(shard i) to every member and recovering node of the view (chunked for
// large values), then version = max(committed) + 1 and EcCommit to the same nodes; success
// once k members acknowledged EcCommit (commitAll says why that is enough). A refusal -> EcAbort everywhere and a retry
// with jittered, capped backoff (a LOCKED key is another writer's; a new tx id each time).
// A node that does not answer: if at least k answered, the view will change (the failure
// detector removes it after heartbeat_timeout_ms), so the write waits for that, bounded;
// with fewer than k answering it fails at once with UnavailableError.
// Read: EcGet to k members (data shards first, healthy nodes first), more when one fails or
// versions disagree; decode from k replies of one version (read_coordinator.ts).
import { randomBytes } from "node:crypto";
import { ErasureCodec } from "../codec/codec";
import { crc32 } from "../codec/checksum";
import { Random, systemRandom } from "../core/env";
import {
  CorruptShardError,
  InvalidArgumentError,
  KeyTooLargeError,
  KvError,
  LockedError,
  TimeoutError,
  UnavailableError,
  ValueTooLargeError,
  WriteAbortedError,
  errorMessage,
  isKvError,
} from "../core/errors";
import {
  CHUNK_BYTES_MAX,
  EC_BACKOFF_MS_MAX,
  EC_BACKOFF_MS_MIN,
  EC_WRITE_ATTEMPTS_MAX,
  KEY_BYTES_MAX,
  VALUE_BYTES_MAX,
} from "../core/limits";
import { EcGetReply, EcStatsReply, EcView, Result, ResultCode } from "../gen/ecc";
import { EccChannel } from "../transport/ecc_channel";
import { errorFromResult } from "../transport/status";
import { EccClusterConfig } from "./config";
import { Layout, blobBytes } from "./layout";
import { EcReadCoordinator } from "./read_coordinator";
import { decodeValue, encodeBlobs } from "./shard_coding";
import { TX_ID_BYTES } from "./shard_replica";
import { View, writeTargets } from "./view";

const READ_ATTEMPTS_MAX = 20;

export type KeyInput = string | Uint8Array;

export interface EcClientOptions {
  config: EccClusterConfig;
  codec: ErasureCodec;
  random?: Random;
  /** Test-only fault hook: called after every member staged, before EcCommit. */
  afterPrepare?: () => Promise<void>;
}

export interface WriteResult {
  version: number;
  attempts: number;
}

/** A read with its version: what a recovering node rebuilds from. */
export type VersionedRead = { kind: "value"; version: number; value: Buffer } | { kind: "absent"; version: number };

export function viewFromWire(view: EcView): View {
  return { epoch: view.epoch, members: [...view.members], recovering: [...view.recovering] };
}

export class EcClient {
  private readonly config: EccClusterConfig;
  private readonly codec: ErasureCodec;
  private readonly channels: EccChannel[];
  private readonly random: Random;
  private readonly shardCount: number;
  private readonly txPrefix = randomBytes(8);
  private txCounter = 0;
  private view: View | null = null;
  private viewRefresh: Promise<View> | null = null;

  constructor(private readonly options: EcClientOptions) {
    this.config = options.config;
    this.codec = options.codec;
    this.random = options.random ?? systemRandom;
    this.shardCount = this.config.dataShards + this.config.parityShards;
    if (this.codec.dataShards !== this.config.dataShards || this.codec.parityShards !== this.config.parityShards) {
      throw new InvalidArgumentError("codec shape does not match the cluster config");
    }
    this.channels = this.config.servers.map((address) => new EccChannel(address));
  }

  close(): void {
    for (const channel of this.channels) channel.close();
  }

  async set(key: KeyInput, value: Uint8Array): Promise<WriteResult> {
    const keyBytes = checkKey(key);
    if (value.length > VALUE_BYTES_MAX) throw new ValueTooLargeError(value.length, VALUE_BYTES_MAX);
    return this.write(keyBytes, value, false);
  }

  /** Deletes by writing a tombstone (versions keep increasing across deletes). */
  async del(key: KeyInput): Promise<WriteResult> {
    return this.write(checkKey(key), new Uint8Array(0), true);
  }

  /** The value, or null when the key is absent or deleted. */
  async get(key: KeyInput): Promise<Buffer | null> {
    const read = await this.getVersioned(key);
    return read.kind === "value" ? read.value : null;
  }

  /** The value with its version (absent: version 0, or a tombstone's version). */
  async getVersioned(key: KeyInput): Promise<VersionedRead> {
    const keyBytes = checkKey(key);
    let lastReason = "";
    for (let attempt = 0; attempt < READ_ATTEMPTS_MAX; attempt++) {
      const view = await this.currentView();
      const outcome = await this.readOnce(keyBytes, view);
      if (outcome.kind === "value" || outcome.kind === "absent") return outcome;
      if (outcome.kind === "fail") {
        // A view change seen during the attempt may have made it fail: try the new view.
        // Nodes still at an older epoch than ours catch up within moments: try again.
        const latest = await this.refreshView().catch(() => view);
        const lagging = outcome.staleEpoch && attempt < READ_ATTEMPTS_MAX / 2;
        if (latest.epoch === view.epoch && !lagging) throw new UnavailableError(`read failed: ${outcome.reason}`);
      }
      lastReason = outcome.reason;
      await sleep(this.backoffMs(attempt));
    }
    throw new UnavailableError(`read did not settle after ${READ_ATTEMPTS_MAX} attempts: ${lastReason}`);
  }

  /** The cached view, fetched from the servers the first time. */
  async currentView(): Promise<View> {
    return this.view ?? this.refreshView();
  }

  /** Asks every server for its view and keeps the newest (one refresh at a time). */
  refreshView(): Promise<View> {
    if (this.viewRefresh !== null) return this.viewRefresh;
    const refresh = (async (): Promise<View> => {
      const replies = await Promise.allSettled(
        this.channels.map((channel) => channel.send({ $case: "getView", value: {} }, Math.min(this.config.rpcTimeoutMs, 1_000), 0)),
      );
      for (const reply of replies) {
        if (reply.status === "fulfilled" && reply.value.body?.$case === "view") this.adoptView(reply.value.body.value);
      }
      if (this.view === null) {
        throw new UnavailableError(`no server answered with its view (${this.config.servers.join(", ")})`);
      }
      return this.view;
    })();
    this.viewRefresh = refresh;
    const clear = (): void => {
      this.viewRefresh = null;
    };
    refresh.then(clear, clear);
    return refresh;
  }

  private adoptView(wire: EcView | undefined): void {
    if (wire === undefined || wire.epoch === 0) return;
    if (this.view === null || wire.epoch > this.view.epoch) this.view = viewFromWire(wire);
  }

  /**
   * Per-node stats (exact logical bytes), null for a node that did not answer.
   * collectGarbage asks each node for a full GC first (see proto EcStats).
   */
  async stats(collectGarbage = false): Promise<Array<EcStatsReply | null>> {
    return Promise.all(
      this.channels.map(async (channel) => {
        try {
          const result = await channel.send({ $case: "stats", value: { collectGarbage } }, this.config.rpcTimeoutMs, 0);
          return result.body?.$case === "stats" ? result.body.value : null;
        } catch {
          return null; // an unreachable node is reported as null, by design
        }
      }),
    );
  }

  private async write(key: Buffer, value: Uint8Array, tombstone: boolean): Promise<WriteResult> {
    const layout: Layout = {
      valueBytes: value.length,
      blockBytes: this.config.blockBytes,
      dataShards: this.config.dataShards,
      parityShards: this.config.parityShards,
    };
    const blobs = tombstone ? null : encodeBlobs(this.codec, layout, value);
    const valueCrc32 = crc32(value);
    const shardCrcs = blobs === null ? null : blobs.map((blob) => crc32(blob));
    let lastError: KvError | null = null;
    let unavailableSinceMs: number | null = null;
    for (let attempt = 1; attempt <= EC_WRITE_ATTEMPTS_MAX; attempt++) {
      const view = await this.currentView();
      const targets = writeTargets(view);
      const txId = this.newTxId();
      const prepared = await Promise.allSettled(
        targets.map((index) =>
          this.prepareNode(index, view.epoch, key, txId, layout, valueCrc32, tombstone, blobs?.[index] ?? null, shardCrcs?.[index] ?? 0),
        ),
      );
      const failures = prepared.filter((p): p is PromiseRejectedResult => p.status === "rejected");
      if (failures.length > 0) {
        await this.abortAll(targets, view.epoch, key, txId);
        const errors = failures.map((f) => toKvError(f.reason));
        lastError = pickError(errors);
        if (lastError instanceof LockedError || lastError instanceof WriteAbortedError) {
          await sleep(this.backoffMs(attempt));
          continue;
        }
        if (lastError instanceof UnavailableError || lastError instanceof TimeoutError) {
          // Nodes that answered at all (any reply, even a refusal) count as alive.
          const alive = prepared.length - errors.filter((e) => e instanceof UnavailableError || e instanceof TimeoutError).length;
          const latest = await this.refreshView().catch(() => view);
          if (latest.epoch !== view.epoch) continue; // the view changed: try the new one
          if (alive < this.config.dataShards) {
            throw new UnavailableError(
              `write needs every node of view ${view.epoch} (${targets.join(",")}); only ${alive} answered, fewer than k=${this.config.dataShards}: ${lastError.message}`,
              { cause: lastError },
            );
          }
          // At least k answered: the failure detector will drop the silent node; wait, bounded.
          unavailableSinceMs ??= performance.now();
          if (performance.now() - unavailableSinceMs > this.unavailableWaitMs()) {
            throw new UnavailableError(`write: view ${view.epoch} did not change within ${this.unavailableWaitMs()} ms: ${lastError.message}`, { cause: lastError });
          }
          await sleep(Math.min(100, this.backoffMs(attempt)));
          continue;
        }
        throw lastError;
      }
      let version = 0;
      for (const p of prepared) version = Math.max(version, (p as PromiseFulfilledResult<number>).value);
      version += 1;
      if (this.options.afterPrepare !== undefined) await this.options.afterPrepare();
      const outcome = await this.commitAll(targets, view, key, txId, version);
      const acknowledged = outcome.acknowledged;
      if (outcome.decided) return { version, attempts: attempt };
      if (outcome.refused === targets.length) {
        // Every node refused EcCommit outright (fenced by a resolver, or a new epoch): none
        // committed, so retrying is safe. A node that did not answer at all may have
        // committed with its reply lost; retrying then could apply the value twice around
        // another writer's (X, Y, X), so that case is an unknown outcome below.
        lastError = new WriteAbortedError(`EcCommit refused by every node (version ${version})`);
        await this.abortAll(targets, view.epoch, key, txId);
        await sleep(this.backoffMs(attempt));
        continue;
      }
      // Some node committed or may have: the write may complete through resolution, but this
      // client cannot promise it: report an unknown outcome rather than success.
      throw new TimeoutError(
        `write outcome unknown: ${acknowledged} of ${targets.length} nodes acknowledged EcCommit of version ${version}`,
      );
    }
    throw new WriteAbortedError(
      `write gave up after ${EC_WRITE_ATTEMPTS_MAX} attempts: ${lastError?.message ?? "contention"}`,
      { cause: lastError },
    );
  }

  /**
   * EcCommit to every target; decided once k members acknowledged it. Why k suffices: every
   * target staged the shard, so each one still missing commits it (this EcCommit in flight,
   * or resolution, which commits once any node committed); and with k of the members at the
   * new version, the members still at the old one are fewer than k (members <= n < 2k), so
   * no read can decode the old version any more. Waiting for the slowest node as well would
   * only add its latency, and turn a node that dies mid-commit into an "unknown" outcome.
   */
  private commitAll(
    targets: number[],
    view: View,
    key: Buffer,
    txId: Buffer,
    version: number,
  ): Promise<{ decided: boolean; acknowledged: number; refused: number }> {
    return new Promise((resolve) => {
      let acknowledged = 0;
      let membersAcknowledged = 0;
      let refused = 0;
      let answered = 0;
      let settled = false;
      const finish = (decided: boolean): void => {
        if (settled) return;
        settled = true;
        resolve({ decided, acknowledged, refused });
      };
      for (const index of targets) {
        this.channels[index]
          .send({ $case: "commit", value: { key, txId, version, resolution: false } }, this.config.rpcTimeoutMs, view.epoch)
          .then(
            (result) => {
              if (result.code === ResultCode.RESULT_CODE_OK) {
                acknowledged++;
                if (view.members.includes(index)) membersAcknowledged++;
              } else {
                refused++;
                this.adoptView(result.currentView);
              }
            },
            () => undefined, // no answer: the node may have committed (its reply was lost)
          )
          .finally(() => {
            answered++;
            if (membersAcknowledged >= this.config.dataShards) finish(true);
            else if (answered === targets.length) finish(false);
          });
      }
    });
  }

  /** How long a write waits for a view change when a node stops answering. */
  private unavailableWaitMs(): number {
    return 4 * this.config.heartbeatTimeoutMs + this.config.rpcTimeoutMs;
  }

  /**
   * Sends node `index`'s shard chunk by chunk, each after the previous one was answered, so
   * each chunk's deadline runs from when it is sent; resolves with the node's committed
   * version. (With every chunk of a 64 MiB value sent at once, 28 messages of 4 MiB to 5
   * nodes, the last ones queued behind the rest for longer than the 2 s deadline: the first
   * such write on a fresh cluster failed every time. One chunk in flight per node, the
   * slowest chunk of a 64 MiB write here took 0.55-0.7 s; two in flight, 0.8-1.1 s for 10%
   * less time per write.)
   */
  private async prepareNode(
    index: number,
    epoch: number,
    key: Buffer,
    txId: Buffer,
    layout: Layout,
    valueCrc32: number,
    tombstone: boolean,
    blob: Buffer | null,
    shardCrc32: number,
  ): Promise<number> {
    const channel = this.channels[index];
    const total = blob === null ? 0 : blob.length;
    let committedVersion = 0;
    let offset = 0;
    do {
      const end = Math.min(total, offset + CHUNK_BYTES_MAX);
      const data = blob === null ? Buffer.alloc(0) : blob.subarray(offset, end);
      const result = await channel.send(
        {
          $case: "prepare",
          value: {
            key,
            txId,
            shardIndex: index,
            layout: { ...layout, valueCrc32 },
            tombstone,
            shardCrc32,
            offset,
            data,
            last: end === total,
            leaseMs: this.config.lockLeaseMs,
          },
        },
        this.config.rpcTimeoutMs,
        epoch,
      );
      if (result.code !== ResultCode.RESULT_CODE_OK) {
        this.adoptView(result.currentView);
        throw errorFromResult(result.code, result.message, channel.address);
      }
      if (result.body?.$case === "prepare") committedVersion = result.body.value.committedVersion;
      offset = end;
    } while (offset < total);
    return committedVersion;
  }

  private async abortAll(targets: number[], epoch: number, key: Buffer, txId: Buffer): Promise<void> {
    // Best effort: a member that misses EcAbort resolves the tx itself when its lease ends.
    await Promise.allSettled(
      targets.map((index) => this.channels[index].send({ $case: "abort", value: { key, txId } }, this.config.rpcTimeoutMs, epoch)),
    );
  }

  private async readOnce(
    key: Buffer,
    view: View,
  ): Promise<VersionedRead | { kind: "retry"; reason: string } | { kind: "fail"; reason: string; staleEpoch: boolean }> {
    const coordinator = new EcReadCoordinator(this.shardCount, this.config.dataShards);
    const nowMs = performance.now();
    // Only members serve reads: the others count as failed from the start.
    for (let index = 0; index < this.shardCount; index++) {
      if (view.members.includes(index)) continue;
      coordinator.markAsked(index);
      coordinator.onFailure(index, `not a member of view ${view.epoch}`);
    }
    // First choice: k healthy members, data shards first (decode is then a copy).
    const order = view.members
      .map((index) => ({ index, healthy: this.channels[index].healthy(nowMs) }))
      .sort((a, b) => Number(b.healthy) - Number(a.healthy) || a.index - b.index)
      .map((entry) => entry.index);
    const decision = await new Promise<ReturnType<EcReadCoordinator["decide"]>>((resolve) => {
      let settled = false;
      const ask = (index: number): void => {
        coordinator.markAsked(index);
        this.channels[index]
          .send({ $case: "get", value: { key, wantVersion: 0, offset: 0, lengthMax: CHUNK_BYTES_MAX } }, this.config.rpcTimeoutMs, view.epoch)
          .then(
            (result) => {
              if (result.code === ResultCode.RESULT_CODE_OK && result.body?.$case === "get") {
                coordinator.onReply(index, result.body.value);
              } else {
                this.adoptView(result.currentView);
                coordinator.onFailure(index, `${ResultCode[result.code]}: ${result.message}`, result.code === ResultCode.RESULT_CODE_STALE_EPOCH);
              }
              step();
            },
            (error: unknown) => {
              coordinator.onFailure(index, errorMessage(error));
              step();
            },
          );
      };
      const step = (): void => {
        if (settled) return;
        const next = coordinator.decide();
        if (next.kind === "wait") return;
        if (next.kind === "expand") {
          for (const index of coordinator.notAsked()) ask(index);
          return;
        }
        settled = true;
        resolve(next);
      };
      for (const index of order.slice(0, this.config.dataShards)) ask(index);
    });
    switch (decision.kind) {
      case "absent":
        return { kind: "absent", version: decision.version };
      case "retry":
        return { kind: "retry", reason: decision.reason };
      case "fail":
        return { kind: "fail", reason: decision.reason, staleEpoch: decision.staleEpoch };
      case "decode":
        return this.finishDecode(key, view.epoch, coordinator, decision.version, decision.nodes);
      default:
        throw new Error(`unexpected read decision ${decision.kind}`);
    }
  }

  private async finishDecode(
    key: Buffer,
    epoch: number,
    coordinator: EcReadCoordinator,
    version: number,
    nodes: number[],
  ): Promise<VersionedRead | { kind: "retry"; reason: string }> {
    const first = coordinator.reply(nodes[0])!;
    const layoutReply = first.layout!;
    const layout: Layout = {
      valueBytes: layoutReply.valueBytes,
      blockBytes: layoutReply.blockBytes,
      dataShards: layoutReply.dataShards,
      parityShards: layoutReply.parityShards,
    };
    if (layout.dataShards !== this.config.dataShards || layout.parityShards !== this.config.parityShards) {
      throw new CorruptShardError(`stored layout ${layout.dataShards}+${layout.parityShards} does not match the cluster`);
    }
    const size = blobBytes(layout);
    const blobs: Array<Buffer | null> = new Array(this.shardCount).fill(null);
    try {
      await Promise.all(
        nodes.map(async (index) => {
          const reply = coordinator.reply(index)!;
          if (reply.shardBytes !== size || reply.layout?.valueCrc32 !== layoutReply.valueCrc32) {
            throw new CorruptShardError(`node ${index}: shard metadata disagrees with the other shards of version ${version}`);
          }
          blobs[index] = await this.fetchBlob(index, epoch, key, version, reply);
        }),
      );
    } catch (error) {
      if (isKvError(error) && error instanceof WriteAbortedError) return { kind: "retry", reason: error.message };
      throw error;
    }
    const value = decodeValue(this.codec, layout, blobs);
    if (crc32(value) !== layoutReply.valueCrc32 >>> 0) {
      return { kind: "retry", reason: `decoded value of version ${version} failed its checksum` };
    }
    return { kind: "value", version, value };
  }

  /** The rest of a large blob, chunk by chunk, pinned to `version`. */
  private async fetchBlob(index: number, epoch: number, key: Buffer, version: number, first: EcGetReply): Promise<Buffer> {
    if (first.data.length === first.shardBytes) return first.data;
    const blob = Buffer.allocUnsafe(first.shardBytes);
    first.data.copy(blob, 0);
    let offset = first.data.length;
    while (offset < first.shardBytes) {
      const result = await this.channels[index].send(
        { $case: "get", value: { key, wantVersion: version, offset, lengthMax: CHUNK_BYTES_MAX } },
        this.config.rpcTimeoutMs,
        epoch,
      );
      if (result.code !== ResultCode.RESULT_CODE_OK || result.body?.$case !== "get") {
        throw errorFromResult(result.code, result.message, this.channels[index].address);
      }
      const data = result.body.value.data;
      if (data.length === 0) throw new CorruptShardError(`node ${index}: empty chunk at offset ${offset}`);
      data.copy(blob, offset);
      offset += data.length;
    }
    if (crc32(blob) !== first.shardCrc32 >>> 0) {
      throw new WriteAbortedError(`node ${index}: shard of version ${version} failed its checksum`);
    }
    return blob;
  }

  /** 8 random bytes fixed per client + an 8-byte counter: unique without a syscall per write. */
  private newTxId(): Buffer {
    const txId = Buffer.allocUnsafe(TX_ID_BYTES);
    this.txPrefix.copy(txId, 0);
    txId.writeDoubleLE(++this.txCounter, 8);
    return txId;
  }

  private backoffMs(attempt: number): number {
    const ceiling = Math.min(EC_BACKOFF_MS_MAX, EC_BACKOFF_MS_MIN * 2 ** Math.min(attempt, 10));
    return EC_BACKOFF_MS_MIN + this.random.next() * ceiling;
  }
}

export function keyBytesOf(key: KeyInput): Buffer {
  return typeof key === "string" ? Buffer.from(key, "utf8") : Buffer.from(key.buffer, key.byteOffset, key.length);
}

function checkKey(key: KeyInput): Buffer {
  const bytes = keyBytesOf(key);
  if (bytes.length === 0) throw new InvalidArgumentError("key is empty");
  if (bytes.length > KEY_BYTES_MAX) throw new KeyTooLargeError(bytes.length, KEY_BYTES_MAX);
  return bytes;
}

function toKvError(error: unknown): KvError {
  if (isKvError(error)) return error;
  return new UnavailableError(errorMessage(error), { cause: error });
}

/** The error that best explains a failed EcPrepare round: bad input beats contention. */
function pickError(errors: KvError[]): KvError {
  const rank = (error: KvError): number => {
    if (!error.retryable) return 0;
    if (error instanceof UnavailableError || error instanceof TimeoutError) return 1;
    return 2;
  };
  return errors.slice().sort((a, b) => rank(a) - rank(b))[0];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
