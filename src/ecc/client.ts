// EcClient: the ecc mode client library, and the thin driver of the protocol's pure cores
// (DESIGN.md section 3): each write is an EcWriteCoordinator (write_coordinator.ts), each
// read an EcReadCoordinator (read_coordinator.ts). This file decides nothing about the
// protocol: it keeps one channel per node, caches the view, and carries out the cores'
// effects (send a request and feed the reply back, refresh the view, wait) until a core
// succeeds or fails. One instance is safe to use from many concurrent callers.
//
// Views (view.ts): the client caches the current view and sends its epoch with every
// operation; a node at another epoch answers STALE_EPOCH with its view, which the client
// adopts for the operations that follow.
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
  UnauthenticatedError,
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
  EC_VIEW_POLL_MS,
  EC_WRITE_ATTEMPTS_MAX,
  VALUE_BYTES_MAX,
} from "../core/limits";
import { EcStatsReply, EcView, Op, Result, ResultCode, WriteReason } from "../gen/ecc";
import { EccChannel } from "../transport/ecc_channel";
import { AuthTokenInput, authTokenFromInput, authTokenOf } from "../core/auth_token";
import { channelCredentials } from "../transport/tls";
import { errorFromResult } from "../transport/status";
import { EccClusterConfig } from "./config";
import { Layout, blobBytes } from "./layout";
import { KeyInput, checkKey } from "../core/keys";
import { EcReadCoordinator, ReadEffect, ReadRange, VersionedRead } from "./read_coordinator";
import { RecentLatencies } from "../core/recent_latency";
export type { VersionedRead } from "./read_coordinator";
import { EcWriteCoordinator, NodeReply, WriteCondition, WriteEffect, WriteExpiry, WriteOutcome } from "./write_coordinator";
import { decodeValue, encodeBlobs } from "./shard_coding";
import { TX_ID_BYTES } from "./shard_replica";
import { View, writeTargets } from "./view";

const READ_ATTEMPTS_MAX = 20;

export type { KeyInput } from "../core/keys";

/** How the client reaches one node: its gRPC channel, or inside a node process the node itself. */
export interface EccNodeLink {
  send(body: NonNullable<Op["body"]>, timeoutMs?: number, epoch?: number): Promise<Result>;
  healthy(nowMs: number): boolean;
  close(): void;
}

export interface EcClientOptions {
  config: EccClusterConfig;
  codec: ErasureCodec;
  /**
   * Nodes reached without gRPC, by node index: a node's RESP front door coordinates through
   * a client that hands its own node's operations straight to the node (src/resp/ecc_backend.ts).
   */
  links?: ReadonlyMap<number, EccNodeLink>;
  random?: Random;
  /**
   * The cluster's token, sent on every request; a live AuthToken follows its file's rotation.
   * Absent: the config's (auth_token, or auth_token_file read once per process), if any.
   */
  authToken?: AuthTokenInput;
  /** Test-only fault hook: called after every member staged, before EcCommit. */
  afterPrepare?: () => Promise<void>;
}

export type WriteResult = WriteOutcome;

export interface SetOptions {
  /** Expire this long after the write (ms). */
  ttlMs?: number;
  /** Expire at this wall-clock time (epoch ms). */
  expireAtMs?: number;
  /** Keep the current value's TTL (Redis's KEEPTTL). */
  keepTtl?: boolean;
  /** nx: only when the key holds no live value; xx: only when it does. */
  condition?: "nx" | "xx";
  /**
   * Only when the key is still at this version (from getVersioned; 0: never written): a read
   * then a write that nobody else's write got between (SET ... GET, APPEND over RESP).
   */
  ifVersion?: number;
}

/** The WriteExpiry that SetOptions (or an expire() argument) ask for; checked here. */
function expiryOf(options: { ttlMs?: number; expireAtMs?: number; keepTtl?: boolean }): WriteExpiry {
  const given = [options.ttlMs !== undefined, options.expireAtMs !== undefined, options.keepTtl === true].filter(Boolean).length;
  if (given > 1) throw new InvalidArgumentError("give one of a TTL, an expiry time, or keep-TTL");
  if (options.keepTtl === true) return { kind: "keep" };
  if (options.ttlMs !== undefined) {
    if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs <= 0) throw new InvalidArgumentError(`TTL must be a positive whole number of ms, got ${options.ttlMs}`);
    const atMs = Date.now() + options.ttlMs;
    if (!Number.isSafeInteger(atMs)) throw new InvalidArgumentError(`TTL of ${options.ttlMs} ms is too long`);
    return { kind: "at", atMs };
  }
  if (options.expireAtMs !== undefined) {
    if (!Number.isSafeInteger(options.expireAtMs) || options.expireAtMs <= 0) {
      throw new InvalidArgumentError(`expiry time must be a positive whole number of epoch ms, got ${options.expireAtMs}`);
    }
    return { kind: "at", atMs: options.expireAtMs };
  }
  return { kind: "none" };
}

type ReplyBody<C extends "prepare" | "commit" | "get" | "txStatus"> = Extract<NonNullable<Result["body"]>, { $case: C }>["value"];

/** The effects every core shares, carried out by EcClient.drive. */
type CommonEffect =
  | { kind: "refreshView" }
  | { kind: "wait"; timer: number; ms: number }
  | { kind: "succeed"; result: unknown }
  | { kind: "fail"; error: KvError };

export function viewFromWire(view: EcView): View {
  return { epoch: view.epoch, members: [...view.members], recovering: [...view.recovering] };
}

export class EcClient {
  private readonly config: EccClusterConfig;
  private readonly codec: ErasureCodec;
  private readonly channels: EccNodeLink[];
  private readonly random: Random;
  private readonly shardCount: number;
  private readonly txPrefix = randomBytes(8);
  private txCounter = 0;
  private view: View | null = null;
  private viewRefresh: Promise<View> | null = null;
  /** Recent read latencies: a read waiting past their percentile asks one more member. */
  private readonly readLatencies: RecentLatencies | null;

  /**
   * The last refusal of this client's credentials by a node, and when (performance.now()):
   * an operation that then fails for want of nodes fails with it instead, typed.
   */
  private lastRefusal: { error: UnauthenticatedError; atMs: number } | null = null;

  constructor(private readonly options: EcClientOptions) {
    this.config = options.config;
    this.codec = options.codec;
    this.random = options.random ?? systemRandom;
    this.shardCount = this.config.dataShards + this.config.parityShards;
    if (this.codec.dataShards !== this.config.dataShards || this.codec.parityShards !== this.config.parityShards) {
      throw new InvalidArgumentError("codec shape does not match the cluster config");
    }
    const auth = options.authToken === undefined ? authTokenOf(this.config) : authTokenFromInput(options.authToken);
    this.channels = this.config.servers.map((address, index) => options.links?.get(index) ?? new EccChannel(address, index, auth, channelCredentials(this.config.clientTls)));
    this.readLatencies = this.config.readHedgePercentile === 0 ? null : new RecentLatencies(this.config.readHedgePercentile);
  }

  close(): void {
    for (const channel of this.channels) channel.close();
  }

  /**
   * Stores `value`. Options: a TTL (`ttlMs` from now, or an absolute `expireAtMs`, epoch ms),
   * `keepTtl` (keep the current value's deadline), and a condition: "nx" (only if the key
   * holds no live value), "xx" (only if it does). result.applied is false when the condition
   * did not hold (nothing was written).
   */
  async set(key: KeyInput, value: Uint8Array, options: SetOptions = {}): Promise<WriteResult> {
    const keyBytes = checkKey(key);
    if (value.length > VALUE_BYTES_MAX) throw new ValueTooLargeError(value.length, VALUE_BYTES_MAX);
    const expiry = expiryOf(options);
    if (options.ifVersion !== undefined && options.condition !== undefined) throw new InvalidArgumentError("give a condition or a version, not both");
    const condition: WriteCondition =
      options.ifVersion !== undefined
        ? versionCondition(options.ifVersion)
        : options.condition === "nx"
          ? { kind: "absent" }
          : options.condition === "xx"
            ? { kind: "present" }
            : { kind: "none" };
    return this.write(keyBytes, value, false, { condition, expiry });
  }

  /**
   * Deletes by writing a tombstone, when the key holds a live value; result.applied says
   * whether anything was deleted (nothing is written for an absent key).
   */
  async del(key: KeyInput, options: { ifVersion?: number } = {}): Promise<WriteResult> {
    // With ifVersion (GETDEL over RESP: a read, then a delete of exactly what was read).
    const condition: WriteCondition = options.ifVersion === undefined ? { kind: "present" } : versionCondition(options.ifVersion);
    return this.write(checkKey(key), new Uint8Array(0), true, { condition });
  }

  /**
   * The cluster's own delete (a node evicting or expiring a key): a tombstone written only
   * if the key is still at `version`, marked with `reason` so nodes count and log it.
   */
  async dropKey(key: KeyInput, version: number, reason: "evict" | "expire"): Promise<WriteResult> {
    return this.write(checkKey(key), new Uint8Array(0), true, {
      condition: { kind: "version", version },
      reason: reason === "evict" ? WriteReason.WRITE_REASON_EVICT : WriteReason.WRITE_REASON_EXPIRE,
    });
  }

  /**
   * Sets (ttlMs > 0) or removes (null) the key's TTL, keeping its value: the value is read and
   * written back at a new version, only if nobody wrote it in between (retried when someone
   * did). False when the key holds no live value. Costs a read and a write of the value.
   */
  async expire(key: KeyInput, ttl: { ttlMs: number } | { expireAtMs: number } | null): Promise<boolean> {
    const keyBytes = checkKey(key);
    for (let attempt = 0; attempt < EC_WRITE_ATTEMPTS_MAX; attempt++) {
      const read = await this.getVersioned(keyBytes);
      if (read.kind !== "value") return false;
      if (ttl === null && read.expiresAtMs === 0) return false; // PERSIST of a key without a TTL
      const expiry: WriteExpiry = ttl === null ? { kind: "none" } : expiryOf(ttl);
      const result = await this.write(keyBytes, read.value, false, { condition: { kind: "version", version: read.version }, expiry });
      if (result.applied) return true;
    }
    throw new WriteAbortedError(`expire gave up after ${EC_WRITE_ATTEMPTS_MAX} attempts: the key kept changing`);
  }

  /** Milliseconds until the key expires; -1: it has no TTL; -2: it holds no live value. */
  async ttlMs(key: KeyInput): Promise<number> {
    const read = await this.getVersioned(key, { bytes: "none" });
    if (read.kind !== "value") return -2;
    if (read.expiresAtMs === 0) return -1;
    return Math.max(0, read.expiresAtMs - Date.now());
  }

  /** The value, or null when the key is absent, deleted or expired. */
  async get(key: KeyInput): Promise<Buffer | null> {
    const read = await this.getVersioned(key);
    return read.kind === "value" ? read.value : null;
  }

  /**
   * Bytes start..end of the value, inclusive, negative offsets counting from its end (as
   * Redis's GETRANGE); null when the key holds no value. Only the stripes covering the range
   * are fetched.
   */
  async getRange(key: KeyInput, start: number, end: number): Promise<Buffer | null> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) throw new InvalidArgumentError(`range ${start}..${end}: offsets must be integers`);
    const read = await this.getVersioned(key, { bytes: { start, end } });
    return read.kind === "value" ? read.value : null;
  }

  /** The value's size, version and TTL deadline without its bytes; null when the key holds no value. */
  async stat(key: KeyInput): Promise<{ version: number; valueBytes: number; expiresAtMs: number } | null> {
    const read = await this.getVersioned(key, { bytes: "none" });
    return read.kind === "value" ? { version: read.version, valueBytes: read.valueBytes, expiresAtMs: read.expiresAtMs } : null;
  }

  /**
   * The value with its version and TTL deadline (absent: version 0, or a tombstone's or an
   * expired value's version). includeExpired: return an expired value as it is (rebuilds).
   */
  async getVersioned(key: KeyInput, options: { includeExpired?: boolean; bytes?: ReadRange | "none" } = {}): Promise<VersionedRead> {
    const coordinator = new EcReadCoordinator({
      key: checkKey(key),
      codec: this.codec,
      dataShards: this.config.dataShards,
      shardCount: this.shardCount,
      chunkBytesMax: CHUNK_BYTES_MAX,
      attemptsMax: READ_ATTEMPTS_MAX,
      backoffMsMin: EC_BACKOFF_MS_MIN,
      backoffMsMax: EC_BACKOFF_MS_MAX,
      extraNodes: Math.min(this.config.readExtra, this.config.parityShards),
      hedgeAfterMs: this.hedgeAfterMs(),
      random: this.random,
      isHealthy: (node) => this.channels[node].healthy(performance.now()),
      includeExpired: options.includeExpired,
      bytes: options.bytes,
    });
    const startedMs = performance.now();
    const read = await this.drive<VersionedRead, ReadEffect>(
      (view) => coordinator.start(view, Date.now()),
      (effect, carryOut) => {
        if (effect.kind !== "get") return false;
        this.channels[effect.node].send({ $case: "get", value: effect.request }, this.config.rpcTimeoutMs, effect.epoch).then(
          (result) => carryOut(coordinator.onGetReply(effect.attempt, effect.node, this.nodeReply(result, "get"), Date.now())),
          (error: unknown) => carryOut(coordinator.onGetReply(effect.attempt, effect.node, this.silentReply(error), Date.now())),
        );
        return true;
      },
      {
        onViewRefreshed: (view) => coordinator.onViewRefreshed(view, Date.now()),
        onTimer: (timer) => coordinator.onTimer(timer, Date.now()),
      },
    );
    if (options.bytes === undefined) this.readLatencies?.record(performance.now() - startedMs);
    return read;
  }

  /** How long a read waits for its first answers before it asks one more member; null: never. */
  private hedgeAfterMs(): number | null {
    const percentile = this.readLatencies?.percentile() ?? null;
    return percentile === null ? null : Math.max(1, Math.ceil(percentile));
  }

  /** The cached view, fetched from the servers the first time. */
  async currentView(): Promise<View> {
    return this.view ?? this.refreshView();
  }

  /**
   * Asks every server for its view and keeps the newest (one refresh at a time). Answers as
   * soon as a majority of the servers answered (the control plane commits a view on a
   * majority), or when every ask settled: a paused node must not hold the answer for a
   * whole timeout, since the refresh that a write waits on to learn that the view dropped
   * that node is exactly when such a node is silent. Later answers are still adopted. An
   * older view than the newest costs a round trip at most: a node on a newer one refuses
   * with STALE_EPOCH and its view.
   */
  refreshView(): Promise<View> {
    if (this.viewRefresh !== null) return this.viewRefresh;
    const servers = this.channels.length;
    const majority = Math.floor(servers / 2) + 1;
    const refresh = new Promise<View>((resolve, reject) => {
      let viewsHeard = 0;
      let settled = 0;
      let done = false;
      let refused: UnauthenticatedError | null = null;
      const finish = (): void => {
        if (done || (viewsHeard < majority && settled < servers)) return;
        done = true;
        if (this.view !== null) resolve(this.view);
        // Refused credentials say more than "unavailable": the operation fails with them, typed.
        else if (refused !== null) reject(refused);
        else reject(new UnavailableError(`no server answered with its view (${this.config.servers.join(", ")})`));
      };
      for (const channel of this.channels) {
        channel.send({ $case: "getView", value: {} }, Math.min(this.config.rpcTimeoutMs, 1_000), 0).then(
          (reply) => {
            settled++;
            if (reply.body?.$case === "view" && reply.body.value.epoch !== 0) {
              this.adoptView(reply.body.value);
              viewsHeard++;
            }
            finish();
          },
          (error: unknown) => {
            settled++;
            if (error instanceof UnauthenticatedError) refused = error;
            finish();
          },
        );
      }
    });
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
    let refusal: UnauthenticatedError | null = null;
    const stats = await Promise.all(
      this.channels.map(async (channel) => {
        try {
          const result = await channel.send({ $case: "stats", value: { collectGarbage } }, this.config.rpcTimeoutMs, 0);
          return result.body?.$case === "stats" ? result.body.value : null;
        } catch (error) {
          if (error instanceof UnauthenticatedError) refusal = error;
          return null; // an unreachable node is reported as null, by design
        }
      }),
    );
    // No node answered and some refused the token: that is the answer, typed.
    if (refusal !== null && stats.every((reply) => reply === null)) throw refusal;
    return stats;
  }

  /** A node's failure to answer, for a core; a refused token is noted, and the cached view dropped so the next operation asks again. */
  private silentReply(error: unknown): { kind: "silent"; message: string } {
    if (error instanceof UnauthenticatedError) {
      this.lastRefusal = { error, atMs: performance.now() };
      this.view = null;
    }
    return silentReplyOf(error);
  }

  /** Carries out an EcWriteCoordinator's effects until it succeeds or fails. Time is wall-clock (TTL deadlines are). */
  private write(
    key: Buffer,
    value: Uint8Array,
    tombstone: boolean,
    extra: { condition?: WriteCondition; expiry?: WriteExpiry; reason?: WriteReason } = {},
  ): Promise<WriteResult> {
    const layout: Layout = {
      valueBytes: value.length,
      blockBytes: this.config.blockBytes,
      dataShards: this.config.dataShards,
      parityShards: this.config.parityShards,
    };
    const blobs = tombstone ? null : encodeBlobs(this.codec, layout, value);
    const coordinator = new EcWriteCoordinator({
      key,
      blobs,
      shardCrc32s: blobs === null ? null : blobs.map((blob) => crc32(blob)),
      layout,
      valueCrc32: crc32(value),
      dataShards: this.config.dataShards,
      shardCount: this.shardCount,
      lockLeaseMs: this.config.lockLeaseMs,
      chunkBytesMax: CHUNK_BYTES_MAX,
      attemptsMax: EC_WRITE_ATTEMPTS_MAX,
      backoffMsMin: EC_BACKOFF_MS_MIN,
      backoffMsMax: EC_BACKOFF_MS_MAX,
      unavailableWaitMs: this.unavailableWaitMs(),
      viewPollMs: EC_VIEW_POLL_MS,
      confirmWaitMs: this.unavailableWaitMs(),
      random: this.random,
      newTxId: () => this.newTxId(),
      condition: extra.condition,
      expiry: extra.expiry,
      reason: extra.reason,
    });
    let pausedForHook = false;
    return this.drive<WriteResult, WriteEffect>(
      (view) => coordinator.start(view, Date.now()),
      (effect, carryOut, effects) => {
        switch (effect.kind) {
          case "prepare":
            this.channels[effect.node].send({ $case: "prepare", value: effect.request }, this.config.rpcTimeoutMs, effect.epoch).then(
              (result) => carryOut(coordinator.onPrepareReply(effect.attempt, effect.node, this.nodeReply(result, "prepare"), Date.now())),
              (error: unknown) => carryOut(coordinator.onPrepareReply(effect.attempt, effect.node, this.silentReply(error), Date.now())),
            );
            return true;
          case "commit": {
            const afterPrepare = this.options.afterPrepare;
            if (afterPrepare !== undefined && !pausedForHook) {
              // Test-only fault hook: every node staged; stop here before any EcCommit leaves.
              pausedForHook = true;
              void afterPrepare().then(() => carryOut(effects.filter((other) => other.kind === "commit")));
              return "stop";
            }
            this.channels[effect.node].send({ $case: "commit", value: effect.request }, this.config.rpcTimeoutMs, effect.epoch).then(
              (result) => carryOut(coordinator.onCommitReply(effect.attempt, effect.node, this.nodeReply(result, "commit"), Date.now())),
              (error: unknown) => carryOut(coordinator.onCommitReply(effect.attempt, effect.node, this.silentReply(error), Date.now())),
            );
            return true;
          }
          case "txStatus":
            this.channels[effect.node].send({ $case: "txStatus", value: effect.request }, this.config.rpcTimeoutMs).then(
              (result) => carryOut(coordinator.onTxStatusReply(effect.round, effect.node, this.nodeReply(result, "txStatus"), Date.now())),
              (error: unknown) => carryOut(coordinator.onTxStatusReply(effect.round, effect.node, this.silentReply(error), Date.now())),
            );
            return true;
          case "abort":
            // Best effort and not waited for: a node that misses it resolves the tx when its lease ends.
            this.channels[effect.node]
              .send({ $case: "abort", value: { key: effect.key, txId: effect.txId } }, this.config.rpcTimeoutMs, effect.epoch)
              .catch(() => undefined);
            return true;
          default:
            return false;
        }
      },
      {
        onViewRefreshed: (view) => coordinator.onViewRefreshed(view, Date.now()),
        onTimer: (timer) => coordinator.onTimer(timer, Date.now()),
      },
    );
  }

  /**
   * Runs a core until it succeeds or fails: `start` gives its first effects; `send` carries
   * out the effects that talk to nodes (true: done, "stop": skip the rest of this batch,
   * false: not a node effect); refreshView, wait, succeed and fail are carried out here.
   */
  private drive<R, E extends { kind: string }>(
    start: (view: View) => E[],
    send: (effect: E, carryOut: (effects: E[]) => void, batch: E[]) => boolean | "stop",
    hooks: {
      onViewRefreshed: (view: View | null) => E[];
      onTimer: (timer: number) => E[];
    },
  ): Promise<R> {
    const startedMs = performance.now();
    return new Promise<R>((resolve, reject) => {
      const timers = new Set<NodeJS.Timeout>();
      const settle = (): void => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
      };
      const carryOut = (effects: E[]): void => {
        for (const effect of effects) {
          const handled = send(effect, carryOut, effects);
          if (handled === "stop") return;
          if (handled) continue;
          const common = effect as unknown as CommonEffect;
          switch (common.kind) {
            case "refreshView":
              this.refreshView().then(
                (view) => carryOut(hooks.onViewRefreshed(view)),
                () => carryOut(hooks.onViewRefreshed(null)),
              );
              break;
            case "wait": {
              const timer = setTimeout(() => {
                timers.delete(timer);
                carryOut(hooks.onTimer(common.timer));
              }, common.ms);
              timers.add(timer);
              break;
            }
            case "succeed":
              settle();
              resolve(common.result as R);
              break;
            case "fail": {
              settle();
              // Failed for want of nodes while nodes refused the token: say so. An outcome
              // that is unknown (not retryable) stays what it is.
              const refusal = this.lastRefusal;
              const refused = refusal !== null && refusal.atMs >= startedMs && common.error.retryable;
              reject(refused ? new UnauthenticatedError(refusal.error.message, { cause: common.error }) : common.error);
              break;
            }
          }
        }
      };
      this.currentView().then((view) => carryOut(start(view)), reject);
    });
  }

  /** A node's Result as the coordinators see it (adopting any newer view it carries). */
  private nodeReply<C extends "prepare" | "commit" | "get" | "txStatus">(result: Result, expected: C): NodeReply<ReplyBody<C>> {
    if (result.code === ResultCode.RESULT_CODE_OK) {
      if (result.body?.$case !== expected) {
        return { kind: "refused", code: ResultCode.RESULT_CODE_INTERNAL, message: `answer without a ${expected} body`, view: null };
      }
      return { kind: "ok", body: result.body.value as ReplyBody<C> };
    }
    this.adoptView(result.currentView);
    return {
      kind: "refused",
      code: result.code,
      message: result.message,
      view: result.currentView === undefined || result.currentView.epoch === 0 ? null : viewFromWire(result.currentView),
    };
  }

  /** How a write waits for a view change when a node stops answering. */
  private unavailableWaitMs(): number {
    return 4 * this.config.heartbeatTimeoutMs + this.config.rpcTimeoutMs;
  }

  /** 8 random bytes fixed per client + an 8-byte counter: unique without a syscall per write. */
  private newTxId(): Buffer {
    const txId = Buffer.allocUnsafe(TX_ID_BYTES);
    this.txPrefix.copy(txId, 0);
    txId.writeDoubleLE(++this.txCounter, 8);
    return txId;
  }
}



function versionCondition(version: number): WriteCondition {
  if (!Number.isSafeInteger(version) || version < 0) throw new InvalidArgumentError(`a version is a whole number from 0, got ${version}`);
  return { kind: "version", version };
}

/** No answer (deadline, broken stream) as the coordinators see it. */
function silentReplyOf(error: unknown): { kind: "silent"; message: string } {
  return { kind: "silent", message: errorMessage(error) };
}



