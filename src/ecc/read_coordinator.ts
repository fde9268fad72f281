// EcReadCoordinator: every decision of one ecc read, as a pure state machine (one instance
// per read, across its attempts). The driver (EcClient, the simulator) feeds it the view,
// each node's EcGet reply or silence, and time as a value; it answers with effects: which
// node to ask for which bytes, when to refresh the view or wait, and the result.
//
// Rules (DESIGN.md section 3):
// - Only members of the view serve reads. The first ask goes to k + extraNodes members
//   (late binding: the first k that agree win), healthy nodes first, data shards first (with
//   all k data shards the decode is a copy).
// - Replies are grouped by committed version. A value is decoded only from k shards of one
//   version, never across versions; version 0 (absent) and tombstones count like any version,
//   so "not found" also needs k agreeing nodes. Because k > n/2, once a read returns version v
//   no later read can assemble k replies of an older version.
// - A node whose shard fails its checksum, whose metadata disagrees with the rest of its
//   version, or that stops answering while its blob is fetched counts as failed, and more
//   nodes are asked; nothing here throws for bad data from a node.
// - A node that answers with a newer version than the one being fetched (VERSION_GONE) or
//   versions that cannot reach k means a write is committing: read again after a backoff.
// - Too few answers: refresh the view; a new view or nodes still catching up to our epoch
//   mean reading again; otherwise fail with UnavailableError.
// - hedgeAfterMs: when no decision came that long after the attempt started, ask one more
//   member (and again after as long), so one slow node does not hold the read up.
// - A range read (`bytes`) asks for versions and layouts first, then fetches only the stripes
//   that cover the range, each checked by its own CRC-32: from the data shards holding the
//   range's bytes when all of them agree on the version (the code is systematic: a copy), or
//   else from any k nodes of that version, decoding just those stripes. A whole value's
//   CRC cannot be checked then; every stripe's is.
import assert from "node:assert/strict";
import { ErasureCodec } from "../codec/codec";
import { crc32 } from "../codec/checksum";
import { Random } from "../core/env";
import { ConfigError, KvError, UnavailableError } from "../core/errors";
import { EcGet, EcGetReply, ResultCode } from "../gen/ecc";
import { Layout, blobBytes, stripeBlobOffset, stripeBytes, stripeShardBytes, stripeValueBytes, stripesOfRange } from "./layout";
import { decodeValue } from "./shard_coding";
import { View } from "./view";
import { NodeReply } from "./write_coordinator";

/**
 * A read with its version: absent is version 0 or a tombstone's version. valueBytes: the
 * whole value's size (value holds only the range a range read asked for).
 */
export type VersionedRead = { kind: "value"; version: number; value: Buffer; valueBytes: number; expiresAtMs: number } | { kind: "absent"; version: number };

/** Value bytes start..end, inclusive; negative offsets count from the end (Redis's GETRANGE). */
export interface ReadRange {
  start: number;
  end: number;
}

/**
 * A ReadRange resolved against a value of `length` bytes, exactly as Redis's GETRANGE does
 * (negative offsets from the end, then clamped); null when it selects nothing.
 */
export function resolveRange(range: ReadRange, length: number): { start: number; end: number } | null {
  let { start, end } = range;
  if (start < 0) start = length + start;
  if (end < 0) end = length + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= length) end = length - 1;
  if (start > end || length === 0) return null;
  return { start, end };
}

export type ReadEffect =
  | { kind: "get"; attempt: number; node: number; epoch: number; request: EcGet }
  /** Ask the servers for their view; answer with onViewRefreshed (null: nobody answered). */
  | { kind: "refreshView" }
  /** Call onTimer(timer) after `ms`; only the newest timer matters. */
  | { kind: "wait"; timer: number; ms: number }
  | { kind: "succeed"; result: VersionedRead }
  | { kind: "fail"; error: KvError };

export interface ReadCoordinatorOptions {
  key: Buffer;
  codec: ErasureCodec;
  dataShards: number;
  shardCount: number;
  /** Largest payload one EcGet reply may carry. */
  chunkBytesMax: number;
  attemptsMax: number;
  backoffMsMin: number;
  backoffMsMax: number;
  /** Members asked beyond k in the first round (late binding); 0 asks exactly k. */
  extraNodes: number;
  /** Ask one more member when an attempt has no decision after this long; null: never. */
  hedgeAfterMs: number | null;
  random: Random;
  /** Whether the driver considers a node healthy now (healthy nodes are asked first). */
  isHealthy?: (node: number) => boolean;
  /**
   * Return a value past its TTL deadline as it is (a recovering node rebuilding its shard),
   * instead of as absent (everyone else).
   */
  includeExpired?: boolean;
  /**
   * Read only these bytes of the value ("none": none, only its version, size and TTL);
   * default: the whole value.
   */
  bytes?: ReadRange | "none";
}

/** What the decision step found. */
type Verdict =
  | { kind: "wait" }
  | { kind: "expand" }
  | { kind: "absent"; version: number }
  | { kind: "value"; version: number; value: Buffer; valueBytes: number; expiresAtMs: number }
  | { kind: "retry"; reason: string }
  | { kind: "fail"; reason: string; staleEpoch: boolean }
  | { kind: "mismatch"; error: KvError };

/** Bytes [base, end) of a node's blob being fetched; `offset`: the next blob offset to ask for. */
interface Fetch {
  version: number;
  blob: Buffer;
  base: number;
  offset: number;
  end: number;
  /** Whole stripes, each checked by its own CRC-32 as it arrives (range reads). */
  byStripe: boolean;
}

export class EcReadCoordinator {
  private readonly options: ReadCoordinatorOptions;
  /** The view of the current attempt (fixed for its duration). */
  private view!: View;
  /** The newest view seen, used by the next attempt. */
  private latest!: View;
  private attempt = 0;
  private phase: "idle" | "reading" | "backoff" | "refreshing" | "done" = "idle";
  private timer = 0;
  private timerFor: "backoff" | "hedge" | null = null;
  // Per attempt:
  private asked = new Set<number>();
  private replies = new Map<number, EcGetReply>();
  private failures = new Map<number, string>();
  private staleEpochFailures = 0;
  private fetches = new Map<number, Fetch>();
  private blobs = new Map<number, Buffer>();
  private lastReason = "";
  /** The time of the latest input (wall clock). */
  private nowMs = 0;
  /**
   * When the current attempt began (wall clock): TTL deadlines are judged at this time, not
   * at the latest input. Every reply of the attempt was answered after it, and the version k
   * of them agree on had not been replaced when the first of them answered (a newer version
   * is acknowledged only after k commits, one of them on a node that answered this version),
   * so the value was the key's at some moment between this time and then. Judged at a later
   * reply (a slow chunk, a timeout), a value that a newer write replaced before its deadline
   * would read as absent though the key was never absent.
   */
  private attemptStartMs = 0;

  constructor(options: ReadCoordinatorOptions) {
    assert(options.dataShards >= 1 && options.dataShards < options.shardCount);
    assert(options.codec.dataShards === options.dataShards && options.codec.parityShards === options.shardCount - options.dataShards);
    assert(options.extraNodes >= 0);
    this.options = options;
  }

  get done(): boolean {
    return this.phase === "done";
  }

  start(view: View, nowMs: number): ReadEffect[] {
    assert.equal(this.phase, "idle");
    this.nowMs = nowMs;
    this.latest = view;
    return this.beginAttempt();
  }

  /**
   * A node's answer. `nowMs` is wall-clock time (epoch ms): a value whose TTL deadline had
   * passed when the attempt began reads as absent (attemptStartMs).
   */
  onGetReply(attempt: number, node: number, reply: NodeReply<EcGetReply>, nowMs: number): ReadEffect[] {
    this.nowMs = nowMs;
    if (this.phase !== "reading" || attempt !== this.attempt || !this.asked.has(node) || this.failures.has(node)) return [];
    const fetch = this.fetches.get(node);
    if (fetch !== undefined) return this.onChunk(node, fetch, reply);
    if (this.replies.has(node)) return []; // a duplicate
    if (reply.kind === "ok" && reply.body.shardIndex !== node) {
      // Every node stores one fixed shard, the one its position in the cluster's servers list
      // gives it: a node answering for another is this client's config, not a fault to
      // route around.
      return this.finish({ kind: "fail", error: serverOrderMismatch(node, reply.body.shardIndex) });
    }
    if (reply.kind === "ok") {
      this.acceptFirstReply(node, reply.body);
    } else if (reply.kind === "refused" && reply.code === ResultCode.RESULT_CODE_CONFIG_MISMATCH) {
      return this.finish({ kind: "fail", error: new ConfigError(`node ${node}: ${reply.message}`) });
    } else if (reply.kind === "refused") {
      this.adopt(reply.view);
      this.fail(node, `${ResultCode[reply.code]}: ${reply.message}`, reply.code === ResultCode.RESULT_CODE_STALE_EPOCH);
    } else {
      this.fail(node, reply.message, false);
    }
    return this.step();
  }

  onViewRefreshed(view: View | null, nowMs: number): ReadEffect[] {
    this.nowMs = nowMs;
    if (this.phase !== "refreshing") return [];
    this.adopt(view);
    const lagging = this.staleEpochFailures > 0 && this.attempt < this.options.attemptsMax / 2;
    if (this.latest.epoch !== this.view.epoch) return this.beginAttempt(); // a newer view: read in it now
    if (!lagging) return this.finish({ kind: "fail", error: new UnavailableError(`read failed: ${this.lastReason}`) });
    return this.backoff(); // nodes still at an older epoch than ours catch up within moments
  }

  onTimer(timer: number, nowMs: number): ReadEffect[] {
    this.nowMs = nowMs;
    if (timer !== this.timer || this.timerFor === null) return [];
    const reason = this.timerFor;
    this.timerFor = null;
    if (reason === "backoff") return this.phase === "backoff" ? this.beginAttempt() : [];
    if (this.phase !== "reading") return [];
    // Hedge: still undecided; one more member, and the next hedge after as long again.
    const next = this.nextToAsk(1);
    if (next.length === 0) return [];
    return [...next.map((node) => this.askEffect(node)), ...this.armHedge()];
  }

  // ------------------------------------------------------------------ attempts

  private beginAttempt(): ReadEffect[] {
    if (this.attempt >= this.options.attemptsMax) {
      return this.finish({
        kind: "fail",
        error: new UnavailableError(`read did not settle after ${this.options.attemptsMax} attempts: ${this.lastReason}`),
      });
    }
    this.attempt++;
    this.phase = "reading";
    this.attemptStartMs = this.nowMs;
    this.view = this.latest;
    this.asked = new Set();
    this.replies = new Map();
    this.failures = new Map();
    this.staleEpochFailures = 0;
    this.fetches = new Map();
    this.blobs = new Map();
    // Only members serve reads: the others count as failed from the start.
    for (let node = 0; node < this.options.shardCount; node++) {
      if (this.view.members.includes(node)) continue;
      this.asked.add(node);
      this.failures.set(node, `not a member of view ${this.view.epoch}`);
    }
    const first = this.nextToAsk(this.options.dataShards + this.options.extraNodes);
    return [...first.map((node) => this.askEffect(node)), ...this.armHedge()];
  }

  /** Up to `count` members not asked yet: healthy first, then by index (data shards first). */
  private nextToAsk(count: number): number[] {
    const healthy = this.options.isHealthy ?? (() => true);
    return this.view.members
      .filter((node) => !this.asked.has(node))
      .map((node) => ({ node, healthy: healthy(node) }))
      .sort((a, b) => Number(b.healthy) - Number(a.healthy) || a.node - b.node)
      .slice(0, count)
      .map((entry) => entry.node);
  }

  private askEffect(node: number): ReadEffect {
    this.asked.add(node);
    return {
      kind: "get",
      attempt: this.attempt,
      node,
      epoch: this.view.epoch,
      request: {
        key: this.options.key,
        wantVersion: 0,
        offset: 0,
        lengthMax: this.options.chunkBytesMax,
        headerOnly: this.options.bytes !== undefined,
        stripeChecksums: false,
      },
    };
  }

  private acceptFirstReply(node: number, reply: EcGetReply): void {
    if (reply.version !== 0 && !reply.tombstone) {
      if (reply.offset !== 0 || reply.data.length > reply.shardBytes) {
        this.fail(node, `reply holds bytes ${reply.offset}..${reply.offset + reply.data.length} of a ${reply.shardBytes}-byte shard`, false);
        return;
      }
      if (reply.data.length === reply.shardBytes) {
        // The whole blob is here: check it now; a corrupt shard is never decoded.
        if (crc32(reply.data) !== reply.shardCrc32 >>> 0) {
          this.fail(node, "shard failed its checksum", false);
          return;
        }
        this.blobs.set(node, reply.data);
      }
    }
    this.replies.set(node, reply);
  }

  private onChunk(node: number, fetch: Fetch, reply: NodeReply<EcGetReply>): ReadEffect[] {
    if (reply.kind !== "ok") {
      this.fetches.delete(node);
      if (reply.kind === "refused" && reply.code === ResultCode.RESULT_CODE_VERSION_GONE) {
        // A newer write replaced the version being read: read again.
        return this.backoffWith(`node ${node}: version ${fetch.version} was replaced while it was read`);
      }
      this.fail(node, reply.kind === "refused" ? `${ResultCode[reply.code]}: ${reply.message}` : reply.message, false);
      return this.step();
    }
    const data = reply.body.data;
    if (reply.body.version !== fetch.version || reply.body.offset !== fetch.offset || data.length === 0 || fetch.offset + data.length > fetch.end) {
      this.fetches.delete(node);
      this.fail(node, `chunk at ${reply.body.offset} (${data.length} bytes, version ${reply.body.version}) does not continue the shard`, false);
      return this.step();
    }
    if (fetch.byStripe) {
      const problem = this.checkStripes(node, fetch, data, reply.body.stripeCrc32);
      if (problem !== null) {
        this.fetches.delete(node);
        this.fail(node, problem, false);
        return this.step();
      }
    }
    data.copy(fetch.blob, fetch.offset - fetch.base);
    fetch.offset += data.length;
    if (fetch.offset < fetch.end) return [this.chunkEffect(node, fetch)];
    this.fetches.delete(node);
    if (!fetch.byStripe && crc32(fetch.blob) !== this.replies.get(node)!.shardCrc32 >>> 0) {
      this.fail(node, `shard of version ${fetch.version} failed its checksum`, false);
    } else {
      this.blobs.set(node, fetch.blob);
    }
    return this.step();
  }

  /** Why a chunk of whole stripes is not what was asked for, or null when each stripe checks. */
  private checkStripes(node: number, fetch: Fetch, data: Buffer, checksums: number[]): string | null {
    const layout = this.layoutOfReply(node);
    let at = fetch.offset;
    let stripe = at / layout.blockBytes;
    for (const checksum of checksums) {
      const bytes = stripeShardBytes(layout, stripe);
      if (at + bytes > fetch.offset + data.length) break;
      if (crc32(data.subarray(at - fetch.offset, at - fetch.offset + bytes)) !== checksum >>> 0) {
        return `stripe ${stripe} of version ${fetch.version} failed its checksum`;
      }
      at += bytes;
      stripe++;
    }
    if (at !== fetch.offset + data.length) return `chunk at ${fetch.offset} is not ${checksums.length} whole checked stripes`;
    return null;
  }

  private layoutOfReply(node: number): Layout {
    const wire = this.replies.get(node)!.layout!;
    return { valueBytes: wire.valueBytes, blockBytes: wire.blockBytes, dataShards: wire.dataShards, parityShards: wire.parityShards };
  }

  private chunkEffect(node: number, fetch: Fetch): ReadEffect {
    return {
      kind: "get",
      attempt: this.attempt,
      node,
      epoch: this.view.epoch,
      request: {
        key: this.options.key,
        wantVersion: fetch.version,
        offset: fetch.offset,
        lengthMax: fetch.byStripe ? Math.min(this.options.chunkBytesMax, fetch.end - fetch.offset) : this.options.chunkBytesMax,
        headerOnly: false,
        stripeChecksums: fetch.byStripe,
      },
    };
  }

  private fail(node: number, reason: string, staleEpoch: boolean): void {
    this.failures.set(node, reason);
    this.replies.delete(node);
    this.blobs.delete(node);
    this.fetches.delete(node);
    if (staleEpoch) this.staleEpochFailures++;
  }

  // ------------------------------------------------------------------ deciding

  private step(): ReadEffect[] {
    const verdict = this.decide();
    switch (verdict.kind) {
      case "wait":
        return this.fetchNeeded();
      case "expand":
        return [...this.nextToAsk(this.options.shardCount).map((node) => this.askEffect(node)), ...this.fetchNeeded()];
      case "absent":
        return this.finish({ kind: "succeed", result: { kind: "absent", version: verdict.version } });
      case "value":
        return this.finish({
          kind: "succeed",
          result: { kind: "value", version: verdict.version, value: verdict.value, valueBytes: verdict.valueBytes, expiresAtMs: verdict.expiresAtMs },
        });
      case "mismatch":
        return this.finish({ kind: "fail", error: verdict.error });
      case "retry":
        return this.backoffWith(verdict.reason);
      case "fail":
        this.lastReason = verdict.reason;
        this.phase = "refreshing";
        this.cancelTimer();
        return [{ kind: "refreshView" }];
    }
  }

  private decide(): Verdict {
    const groups = new Map<number, number[]>();
    for (const [node, reply] of this.replies) {
      const group = groups.get(reply.version);
      if (group === undefined) groups.set(reply.version, [node]);
      else group.push(node);
    }
    let best: { version: number; nodes: number[] } | null = null;
    for (const [version, nodes] of groups) {
      if (nodes.length >= this.options.dataShards && (best === null || version > best.version)) best = { version, nodes };
    }
    if (best !== null) {
      const first = this.replies.get(best.nodes[0])!;
      if (best.version === 0 || first.tombstone) return { kind: "absent", version: best.version };
      // Past its deadline when the attempt began, the value reads as absent; its owner will
      // drop it (node_core.ts).
      const expired = first.expiresAtMs !== 0 && first.expiresAtMs <= this.attemptStartMs;
      if (expired && this.options.includeExpired !== true) return { kind: "absent", version: best.version };
      const decoded = this.options.bytes === undefined ? this.tryDecode(best.version, best.nodes) : this.tryRange(best.version, best.nodes, this.options.bytes);
      if (decoded !== null) return decoded;
      return { kind: "wait" };
    }
    const outstanding = [...this.asked].filter((node) => !this.replies.has(node) && !this.failures.has(node)).length;
    const unasked = this.options.shardCount - this.asked.size;
    const mixed = groups.size > 1;
    if ((this.failures.size > 0 || mixed) && unasked > 0) return { kind: "expand" };
    let largest = 0;
    for (const nodes of groups.values()) largest = Math.max(largest, nodes.length);
    if (outstanding > 0 && largest + outstanding >= this.options.dataShards) return { kind: "wait" };
    if (mixed && this.replies.size + outstanding >= this.options.dataShards) {
      return { kind: "retry", reason: `versions ${[...groups.keys()].join(", ")} disagree` };
    }
    const reasons = [...this.failures.entries()].map(([node, reason]) => `node ${node}: ${reason}`);
    return {
      kind: "fail",
      reason:
        `only ${this.replies.size} of ${this.options.shardCount} nodes answered, ${this.options.dataShards} needed` +
        (reasons.length > 0 ? ` (${reasons.join("; ")})` : ""),
      staleEpoch: this.staleEpochFailures > 0,
    };
  }

  /**
   * The layout k replies of `version` agree on; a mismatch verdict for a layout this client
   * cannot read; or, when a node's metadata disagrees (it is failed here), what decide() says
   * next.
   */
  private agreedLayout(version: number, sorted: number[]): Layout | Verdict {
    const reference = this.replies.get(sorted[0])!;
    const wire = reference.layout;
    if (wire === undefined) {
      this.fail(sorted[0], `version ${version} without a layout`, false);
      return this.decide();
    }
    if (wire.dataShards !== this.options.dataShards || wire.dataShards + wire.parityShards !== this.options.shardCount) {
      return {
        kind: "mismatch",
        error: new ConfigError(
          `the cluster stores this key as ${wire.dataShards} data + ${wire.parityShards} parity shards; this client is configured for ` +
            `k=${this.options.dataShards}, n=${this.options.shardCount}: use the cluster's ecc_config`,
        ),
      };
    }
    const layout: Layout = { valueBytes: wire.valueBytes, blockBytes: wire.blockBytes, dataShards: wire.dataShards, parityShards: wire.parityShards };
    const size = blobBytes(layout);
    for (const node of sorted) {
      const reply = this.replies.get(node)!;
      if (
        reply.shardBytes !== size ||
        reply.layout?.valueCrc32 !== wire.valueCrc32 ||
        reply.layout?.valueBytes !== wire.valueBytes ||
        reply.layout?.blockBytes !== wire.blockBytes
      ) {
        this.fail(node, `shard metadata disagrees with the other shards of version ${version}`, false);
        return this.decide();
      }
    }
    return layout;
  }

  /**
   * With k replies of `version` in hand: the value once k checked blobs are here, a mismatch
   * verdict for a layout this client cannot read, or null while blobs are still being fetched
   * (fetchNeeded starts them). Nodes whose metadata disagrees are failed here.
   */
  private tryDecode(version: number, nodes: number[]): Verdict | null {
    const sorted = nodes.slice().sort((a, b) => a - b);
    const layout = this.agreedLayout(version, sorted);
    if ("kind" in layout) return layout;
    const reference = this.replies.get(sorted[0])!;
    const ready = sorted.filter((node) => this.blobs.has(node));
    if (ready.length < this.options.dataShards) return null;
    const chosen = ready.slice(0, this.options.dataShards);
    const blobs: Array<Buffer | null> = new Array(this.options.shardCount).fill(null);
    for (const node of chosen) blobs[node] = this.blobs.get(node)!;
    const value = decodeValue(this.options.codec, layout, blobs);
    if (crc32(value) !== reference.layout!.valueCrc32 >>> 0) {
      return { kind: "retry", reason: `decoded value of version ${version} failed its checksum` };
    }
    return { kind: "value", version, value, valueBytes: value.length, expiresAtMs: reference.expiresAtMs };
  }

  /**
   * A range read with k replies of `version` in hand: the range once the stripes it needs are
   * here (from the data shards that hold it, or from any k nodes to decode), else null
   * (rangeFetchNeeded starts the fetches).
   */
  private tryRange(version: number, nodes: number[], bytes: ReadRange | "none"): Verdict | null {
    const sorted = nodes.slice().sort((a, b) => a - b);
    const layout = this.agreedLayout(version, sorted);
    if ("kind" in layout) return layout;
    const expiresAtMs = this.replies.get(sorted[0])!.expiresAtMs;
    const range = bytes === "none" ? null : resolveRange(bytes, layout.valueBytes);
    if (range === null) return { kind: "value", version, value: Buffer.alloc(0), valueBytes: layout.valueBytes, expiresAtMs };
    const plan = this.rangePlan(layout, range, sorted);
    if (!plan.sources.every((node) => this.blobs.has(node))) return null;
    const { first, last } = stripesOfRange(layout, range.start, range.end);
    const stripe = stripeValueBytes(layout);
    const out = Buffer.allocUnsafe(range.end - range.start + 1);
    if (plan.systematic) {
      // Shard j of stripe s holds value bytes s·S + j·L .. s·S + (j+1)·L - 1 (L: that stripe's shard size).
      for (const node of plan.sources) {
        const segment = this.blobs.get(node)!;
        for (let s = first; s <= last; s++) {
          const shardBytes = stripeShardBytes(layout, s);
          const from = Math.max(range.start, s * stripe + node * shardBytes);
          const to = Math.min(range.end, s * stripe + (node + 1) * shardBytes - 1, s * stripe + stripeBytes(layout, s) - 1);
          if (from > to) continue;
          const at = stripeBlobOffset(layout, s) - stripeBlobOffset(layout, first) + (from - s * stripe - node * shardBytes);
          segment.copy(out, from - range.start, at, at + to - from + 1);
        }
      }
    } else {
      let subBytes = 0;
      for (let s = first; s <= last; s++) subBytes += stripeBytes(layout, s);
      const sub: Layout = { ...layout, valueBytes: subBytes };
      const blobs: Array<Buffer | null> = new Array(this.options.shardCount).fill(null);
      for (const node of plan.sources) blobs[node] = this.blobs.get(node)!;
      const value = decodeValue(this.options.codec, sub, blobs);
      value.copy(out, 0, range.start - first * stripe, range.end - first * stripe + 1);
    }
    return { kind: "value", version, value: out, valueBytes: layout.valueBytes, expiresAtMs };
  }

  /**
   * Which nodes' stripes a range read uses: the data shards holding its bytes when all of
   * them are among `nodes` (the replies of the version), else k of `nodes` (those already
   * fetched or being fetched first, then data shards). Every node's segment is the same
   * stripes of its blob, so a fetch from a data shard serves either plan.
   */
  private rangePlan(layout: Layout, range: { start: number; end: number }, sorted: number[]): { systematic: boolean; sources: number[] } {
    const { first, last } = stripesOfRange(layout, range.start, range.end);
    const stripe = stripeValueBytes(layout);
    const holders: number[] = [];
    for (let node = 0; node < layout.dataShards; node++) {
      for (let s = first; s <= last; s++) {
        const shardBytes = stripeShardBytes(layout, s);
        const from = s * stripe + node * shardBytes;
        const to = Math.min(from + shardBytes, s * stripe + stripeBytes(layout, s)) - 1;
        if (from <= to && from <= range.end && to >= range.start) {
          holders.push(node);
          break;
        }
      }
    }
    const started = (node: number): boolean => this.blobs.has(node) || this.fetches.has(node);
    const ordered = sorted.slice().sort((a, b) => Number(started(b)) - Number(started(a)) || a - b);
    const decode = ordered.slice(0, this.options.dataShards);
    // The plan that asks for fewer new stripes: a holder's header that arrives after a decode
    // from k others has started adds no fetch, and a copy wins a tie.
    if (holders.every((node) => sorted.includes(node))) {
      const copyNew = holders.filter((node) => !started(node)).length;
      const decodeNew = decode.filter((node) => !started(node)).length;
      if (copyNew <= decodeNew) return { systematic: true, sources: holders };
    }
    return { systematic: false, sources: decode };
  }

  /** Starts the stripe fetches the best version's range plan still needs. */
  private rangeFetchNeeded(best: { version: number; nodes: number[] }): ReadEffect[] {
    const sorted = best.nodes.slice().sort((a, b) => a - b);
    const layout = this.layoutOfReply(sorted[0]);
    const range = this.options.bytes === "none" || this.options.bytes === undefined ? null : resolveRange(this.options.bytes, layout.valueBytes);
    if (range === null) return [];
    const { first, last } = stripesOfRange(layout, range.start, range.end);
    const base = stripeBlobOffset(layout, first);
    const end = stripeBlobOffset(layout, last) + stripeShardBytes(layout, last);
    const effects: ReadEffect[] = [];
    for (const node of this.rangePlan(layout, range, sorted).sources) {
      if (this.blobs.has(node) || this.fetches.has(node)) continue;
      const fetch: Fetch = { version: best.version, blob: Buffer.allocUnsafe(end - base), base, offset: base, end, byStripe: true };
      this.fetches.set(node, fetch);
      effects.push(this.chunkEffect(node, fetch));
    }
    return effects;
  }

  /** Starts fetching the rest of the blobs the best version still needs (k of them). */
  private fetchNeeded(): ReadEffect[] {
    let best: { version: number; nodes: number[] } | null = null;
    const groups = new Map<number, number[]>();
    for (const [node, reply] of this.replies) {
      if (reply.version === 0 || reply.tombstone) continue;
      const group = groups.get(reply.version) ?? [];
      group.push(node);
      groups.set(reply.version, group);
    }
    for (const [version, nodes] of groups) {
      if (nodes.length >= this.options.dataShards && (best === null || version > best.version)) best = { version, nodes };
    }
    if (best === null) return [];
    if (this.options.bytes !== undefined) return this.rangeFetchNeeded(best);
    const sorted = best.nodes.slice().sort((a, b) => a - b);
    const have = sorted.filter((node) => this.blobs.has(node) || this.fetches.has(node)).length;
    const effects: ReadEffect[] = [];
    let needed = this.options.dataShards - have;
    for (const node of sorted) {
      if (needed <= 0) break;
      if (this.blobs.has(node) || this.fetches.has(node)) continue;
      const reply = this.replies.get(node)!;
      const blob = Buffer.allocUnsafe(reply.shardBytes);
      reply.data.copy(blob, 0);
      const fetch: Fetch = { version: best.version, blob, base: 0, offset: reply.data.length, end: reply.shardBytes, byStripe: false };
      this.fetches.set(node, fetch);
      effects.push(this.chunkEffect(node, fetch));
      needed--;
    }
    return effects;
  }

  private backoffWith(reason: string): ReadEffect[] {
    this.lastReason = reason;
    return this.backoff();
  }

  private backoff(): ReadEffect[] {
    const ceiling = Math.min(this.options.backoffMsMax, this.options.backoffMsMin * 2 ** Math.min(this.attempt, 10));
    this.timer++;
    this.timerFor = "backoff";
    this.phase = "backoff"; // replies to this attempt are ignored from now on
    return [{ kind: "wait", timer: this.timer, ms: this.options.backoffMsMin + this.options.random.next() * ceiling }];
  }

  private armHedge(): ReadEffect[] {
    if (this.options.hedgeAfterMs === null) return [];
    this.timer++;
    this.timerFor = "hedge";
    return [{ kind: "wait", timer: this.timer, ms: this.options.hedgeAfterMs }];
  }

  private cancelTimer(): void {
    this.timer++;
    this.timerFor = null;
  }

  /** Keeps a newer view for the next attempt; the current attempt keeps its own. */
  private adopt(view: View | null): void {
    if (view !== null && view.epoch > this.latest.epoch) this.latest = view;
  }

  private finish(effect: Extract<ReadEffect, { kind: "succeed" | "fail" }>): ReadEffect[] {
    this.phase = "done";
    this.cancelTimer();
    return [effect];
  }
}

/**
 * The error for a node that stores another shard than the one this client's servers list
 * gives it: the list is in another order than the cluster's (or names another cluster).
 */
export function serverOrderMismatch(listed: number, stores: number): ConfigError {
  return new ConfigError(
    `the node this client lists as servers[${listed}] stores shard ${stores}: list the servers in the cluster's order ` +
      `(node ${stores} of the cluster's ecc_config is at that address)`,
  );
}
