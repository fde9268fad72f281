// EcWriteCoordinator: every decision of one ecc write (a set or a delete), as a pure state
// machine. One instance per write, across all its attempts. It never awaits, reads a clock
// or draws a random number: the driver (EcClient in client.ts, the simulator in test/sim)
// feeds it the view, each node's reply (or the lack of one), and the time as a value, and
// carries out the effects it returns.
//
// One attempt (DESIGN.md section 3):
// 1. EcPrepare to every node of the view (members and recovering), chunk by chunk: a node's
//    next chunk goes out when it acknowledged the previous one, so each chunk's deadline runs
//    from when it is sent and no node is sent its whole shard at once.
// 2. Every node staged -> version = max(committed) + 1 -> EcCommit to every node.
// 3. k members acknowledged EcCommit -> success. Why k suffices: every node staged the shard,
//    so each one still missing commits it (the EcCommit in flight, or resolution, which
//    commits once any node did); and with k members at the new version, those still at the
//    old one are fewer than k (members <= n < 2k), so no read can decode the old version.
//
// When an attempt cannot finish:
// - a node refuses EcPrepare because another write holds the key (LOCKED), or its tx was
//   fenced (TX_ABORTED): EcAbort to every node (not waited for: a node that misses it resolves
//   the tx itself when its lease ends), back off with jitter, retry with a new tx id.
//   Only these count against attemptsMax.
// - a node answers for another epoch (STALE_EPOCH, NOT_SERVING with its view): adopt the newer
//   view, abort, retry at once in it.
// - a node does not answer: while the others answer, the failure detector will drop it from
//   the view within heartbeat_timeout_ms. The coordinator polls the view while it waits and
//   abandons the attempt the moment a newer view arrives, rather than waiting out the silent
//   node's deadline; it gives up (UnavailableError naming the node) after unavailableWaitMs
//   without a view change, or at once when fewer than k nodes answered at all.
// - bad input, a limit, a corrupt shard: EcAbort and fail with the typed error.
// - EcCommit refused by every node (fenced, or a new epoch): none committed, so retrying is
//   safe (a node that did commit answers a repeated EcCommit OK in any epoch, node_core.ts). Some node acknowledged or did not answer but fewer than k members acknowledged: the
//   write may still complete through resolution (a view change during the commit fences it on
//   the nodes that moved, and they resolve it among themselves). The coordinator then asks the
//   members of the newest view for the tx's status (EcTxStatus), round after round for up to
//   confirmWaitMs: once k of them report it committed at its version it succeeds; otherwise
//   the outcome is unknown (never reported as failed: a failed write must not have happened).
//   Asking fences the tx where it is still staged, which is harmless: every EcCommit of this
//   write has been answered by then.
import assert from "node:assert/strict";
import { Random } from "../core/env";
import {
  InvalidArgumentError,
  KvError,
  OutcomeUnknownError,
  OutOfMemoryError,
  UnavailableError,
  WriteAbortedError,
} from "../core/errors";
import { EcCommit, EcPrepare, EcPrepareReply, EcTxStatus, EcTxStatusReply, ResultCode, TxState, WriteReason } from "../gen/ecc";
import { errorFromResult } from "../transport/status";
import { Layout } from "./layout";
import { View, writeTargets } from "./view";

/** A node's answer to one request, as the driver saw it. */
export type NodeReply<T> =
  | { kind: "ok"; body: T }
  /** The node answered with a refusal; `view` is the node's view when it sent one. */
  | { kind: "refused"; code: ResultCode; message: string; view: View | null }
  /** No answer within the deadline, or the connection failed. */
  | { kind: "silent"; message: string };

export type WriteEffect =
  | { kind: "prepare"; attempt: number; node: number; epoch: number; request: EcPrepare }
  | { kind: "commit"; attempt: number; node: number; epoch: number; request: EcCommit }
  /** Asks a member whether this write's tx committed there; answer with onTxStatusReply. */
  | { kind: "txStatus"; round: number; node: number; request: EcTxStatus }
  /** Fire and forget: the coordinator never waits for an EcAbort. */
  | { kind: "abort"; node: number; epoch: number; key: Buffer; txId: Buffer }
  /** Ask the servers for their view; answer with onViewRefreshed (null: nobody answered). */
  | { kind: "refreshView" }
  /** Call onTimer(timer) after `ms`; only the newest timer matters, older ones are ignored. */
  | { kind: "wait"; timer: number; ms: number }
  | { kind: "succeed"; result: WriteOutcome }
  | { kind: "fail"; error: KvError };

export interface WriteOutcome {
  /** False when the write's condition did not hold: nothing was written (version: the current one). */
  applied: boolean;
  version: number;
  /** Attempts started (1 when nothing got in the way). */
  attempts: number;
  /** The key's state before this write: its newest version (0: never written) and whether it held a live value. */
  previousVersion: number;
  previousLive: boolean;
  /** The TTL deadline the write committed (epoch ms, 0 = none). */
  expiresAtMs: number;
}

/**
 * When a write applies, judged on the key's current state (the prepare reply with the highest
 * committed version, read while every node is locked for this write): "absent" (SET NX: no
 * live value: never written, deleted, or expired), "present" (SET XX), "version" (the
 * current version is this one: an eviction or expiry must not drop a newer write).
 */
export type WriteCondition = { kind: "none" } | { kind: "absent" } | { kind: "present" } | { kind: "version"; version: number };

/** The TTL the write commits: none, a deadline (epoch ms), or the current value's (KEEPTTL). */
export type WriteExpiry = { kind: "none" } | { kind: "at"; atMs: number } | { kind: "keep" };

export interface WriteCoordinatorOptions {
  key: Buffer;
  /** The encoded shard blob of each node, or null for a delete (tombstone). */
  blobs: readonly Buffer[] | null;
  /** CRC-32 of each blob (ignored for a tombstone). */
  shardCrc32s: readonly number[] | null;
  layout: Layout;
  valueCrc32: number;
  dataShards: number;
  shardCount: number;
  lockLeaseMs: number;
  /** Largest payload of one EcPrepare message. */
  chunkBytesMax: number;
  /** Contention retries (LOCKED, fenced, refused EcCommit) before giving up. */
  attemptsMax: number;
  backoffMsMin: number;
  backoffMsMax: number;
  /** How long to wait for a view change after a node stopped answering. */
  unavailableWaitMs: number;
  /** How often to poll the view while some node has not answered. */
  viewPollMs: number;
  /** How long to keep asking whether a commit that fewer than k members acknowledged completed. */
  confirmWaitMs: number;
  /** Jitter for backoffs. */
  random: Random;
  /** A fresh tx id for each attempt (unique per client; the driver decides how). */
  newTxId: () => Buffer;
  condition?: WriteCondition;
  expiry?: WriteExpiry;
  /** Why: a client's write (default), or the cluster's eviction or expiry of the key. */
  reason?: WriteReason;
  /**
   * Test-only planted bug: report success once one member acknowledged EcCommit instead of k.
   * The simulator's self-test shows its checks catch it (a read can still decode the old
   * version after the write returned).
   */
  plantedBug?: "acknowledge-after-one-commit";
}

type Phase = "idle" | "preparing" | "committing" | "confirming" | "backoff" | "refreshing" | "done";

interface NodeState {
  /** Bytes of this node's blob acknowledged by EcPrepare so far. */
  offsetAcked: number;
  staged: boolean;
  /** An EcPrepare or EcCommit to this node is out and unanswered. */
  outstanding: boolean;
  answered: boolean;
  committedVersion: number;
}

export class EcWriteCoordinator {
  private readonly options: WriteCoordinatorOptions;
  private phase: Phase = "idle";
  /** The view of the current attempt (fixed for its duration). */
  private view!: View;
  /** The newest view seen; the next attempt uses it. */
  private latest!: View;
  private attempt = 0;
  /** The highest committed state seen in this attempt's prepare replies. */
  private latestState = { version: 0, tombstone: false, expiresAtMs: 0 };
  /** Attempts that ended in contention (count against attemptsMax). */
  private contentionCount = 0;
  private txId: Buffer = Buffer.alloc(0);
  private targets: number[] = [];
  private nodes = new Map<number, NodeState>();
  private version = 0;
  private previousVersion = 0;
  private previousLive = false;
  private expiresAtMs = 0;
  private commitAcks = 0;
  private commitMemberAcks = 0;
  private commitRefusals = 0;
  private commitAnswers = 0;
  /** When this attempt started waiting on a silent node; null while nobody is silent. */
  private silentSinceMs: number | null = null;
  private silentNodes = new Set<number>();
  private lastError: KvError | null = null;
  /** The newest timer asked for; onTimer with another id is stale. */
  private timer = 0;
  private timerArmed = false;
  /** Why the coordinator is refreshing the view (what to do with the answer). */
  private refreshFor: "silent" | "retry" | "confirm" | null = null;
  /** Confirming a commit: the round of EcTxStatus asks, and who said committed / answered in it. */
  private confirmRound = 0;
  private confirmUntilMs = 0;
  private confirmAsked = new Set<number>();
  private confirmCommitted = new Set<number>();
  private confirmAnswered = new Set<number>();
  private attemptStartedMs = 0;
  private lastPollMs = 0;

  constructor(options: WriteCoordinatorOptions) {
    assert(options.dataShards >= 1 && options.dataShards < options.shardCount);
    assert(options.blobs === null || options.blobs.length === options.shardCount);
    assert(options.chunkBytesMax > 0);
    this.options = options;
  }

  get done(): boolean {
    return this.phase === "done";
  }

  start(view: View, nowMs: number): WriteEffect[] {
    assert.equal(this.phase, "idle");
    this.latest = view;
    return this.beginAttempt(nowMs);
  }

  onPrepareReply(attempt: number, node: number, reply: NodeReply<EcPrepareReply>, nowMs: number): WriteEffect[] {
    if (attempt !== this.attempt || this.phase !== "preparing") return [];
    const state = this.nodes.get(node);
    if (state === undefined || !state.outstanding) return [];
    state.outstanding = false;
    state.answered = true;
    switch (reply.kind) {
      case "ok": {
        this.silentNodes.delete(node);
        state.committedVersion = Math.max(state.committedVersion, reply.body.committedVersion);
        if (reply.body.committedVersion >= this.latestState.version) {
          this.latestState = {
            version: reply.body.committedVersion,
            tombstone: reply.body.committedTombstone,
            expiresAtMs: reply.body.committedExpiresAtMs,
          };
        }
        state.offsetAcked = Math.min(this.blobBytes(node), state.offsetAcked + this.chunkLength(node, state.offsetAcked));
        if (state.offsetAcked < this.blobBytes(node)) {
          state.outstanding = true;
          return [this.prepareEffect(node, state.offsetAcked)];
        }
        state.staged = true;
        return this.afterPrepareProgress(nowMs);
      }
      case "refused":
        return this.onPrepareRefused(node, reply, nowMs);
      case "silent":
        state.answered = false;
        this.silentNodes.add(node);
        this.lastError = new UnavailableError(`node ${node}: ${reply.message}`);
        return this.afterPrepareProgress(nowMs);
    }
  }

  onCommitReply(attempt: number, node: number, reply: NodeReply<unknown>, nowMs: number): WriteEffect[] {
    if (attempt !== this.attempt || this.phase !== "committing") return [];
    const state = this.nodes.get(node);
    if (state === undefined || !state.outstanding) return [];
    state.outstanding = false;
    this.commitAnswers++;
    if (reply.kind === "ok") {
      this.commitAcks++;
      if (this.view.members.includes(node)) this.commitMemberAcks++;
    } else if (reply.kind === "refused") {
      this.commitRefusals++;
      this.adopt(reply.view);
    }
    const needed = this.options.plantedBug === "acknowledge-after-one-commit" ? 1 : this.options.dataShards;
    if (this.commitMemberAcks >= needed) return this.succeed();
    if (this.commitAnswers < this.targets.length) return [];
    if (this.commitRefusals === this.targets.length) {
      // Nobody committed: safe to try again.
      this.lastError = new WriteAbortedError(`EcCommit of version ${this.version} refused by every node`);
      return this.retryAfterContention();
    }
    this.phase = "confirming";
    this.confirmUntilMs = nowMs + this.options.confirmWaitMs;
    this.refreshFor = "confirm";
    return [{ kind: "refreshView" }];
  }

  /** A member's answer to EcTxStatus while confirming a commit. */
  onTxStatusReply(round: number, node: number, reply: NodeReply<EcTxStatusReply>, nowMs: number): WriteEffect[] {
    if (this.phase !== "confirming" || round !== this.confirmRound || !this.confirmAsked.has(node) || this.confirmAnswered.has(node)) return [];
    this.confirmAnswered.add(node);
    if (reply.kind === "ok" && reply.body.state === TxState.TX_STATE_COMMITTED && reply.body.version === this.version) this.confirmCommitted.add(node);
    if (reply.kind === "refused") this.adopt(reply.view);
    if (this.confirmCommitted.size >= this.options.dataShards) return this.succeed();
    if (this.confirmAnswered.size < this.confirmAsked.size) return [];
    if (nowMs >= this.confirmUntilMs) return this.outcomeUnknown();
    return [this.newTimer(this.options.viewPollMs)];
  }

  private succeed(): WriteEffect[] {
    this.phase = "done";
    return [
      {
        kind: "succeed",
        result: {
          applied: true,
          version: this.version,
          attempts: this.attempt,
          previousVersion: this.previousVersion,
          previousLive: this.previousLive,
          expiresAtMs: this.expiresAtMs,
        },
      },
    ];
  }

  private outcomeUnknown(): WriteEffect[] {
    this.phase = "done";
    const confirmed = this.confirmRound === 0 ? "" : `; ${this.confirmCommitted.size} members of view ${this.latest.epoch} confirmed it since`;
    return [
      {
        kind: "fail",
        error: new OutcomeUnknownError(
          `write outcome unknown: ${this.commitAcks} of ${this.targets.length} nodes acknowledged EcCommit of version ${this.version}` +
            ` (${this.commitMemberAcks} members, ${this.options.dataShards} needed)${confirmed}; it may still complete`,
        ),
      },
    ];
  }

  /** One round of EcTxStatus to the members of the newest view. */
  private confirmAsk(): WriteEffect[] {
    this.confirmRound++;
    this.confirmAsked = new Set(this.latest.members);
    this.confirmAnswered = new Set();
    this.confirmCommitted = new Set();
    return this.latest.members.map((node) => ({
      kind: "txStatus",
      round: this.confirmRound,
      node,
      request: { key: this.options.key, txId: this.txId },
    }));
  }

  /** A view learned outside a refresh (e.g. from a node's refusal elsewhere). */
  onView(view: View, nowMs: number): WriteEffect[] {
    this.adopt(view);
    if (this.latest.epoch <= this.view.epoch || this.phase !== "preparing") return [];
    return this.abandonForNewView(nowMs);
  }

  onViewRefreshed(view: View | null, nowMs: number): WriteEffect[] {
    const reason = this.refreshFor;
    this.refreshFor = null;
    if (this.phase === "done") return [];
    this.adopt(view);
    const newer = this.latest.epoch > this.view.epoch;
    if (reason === "retry") {
      if (this.phase !== "refreshing") return [];
      return this.beginAttempt(nowMs);
    }
    if (reason === "confirm" && this.phase === "confirming") return this.confirmAsk();
    if (reason === "silent" && this.phase === "preparing") {
      if (newer) return this.abandonForNewView(nowMs);
      return this.checkSilence(nowMs);
    }
    return [];
  }

  onTimer(timer: number, nowMs: number): WriteEffect[] {
    if (timer !== this.timer || !this.timerArmed) return [];
    this.timerArmed = false;
    if (this.phase === "backoff") return this.beginAttempt(nowMs);
    if (this.phase === "preparing" && this.refreshFor === null) return this.checkSilence(nowMs);
    if (this.phase === "confirming") {
      if (nowMs >= this.confirmUntilMs) return this.outcomeUnknown();
      this.refreshFor = "confirm";
      return [{ kind: "refreshView" }];
    }
    return [];
  }

  // ------------------------------------------------------------------ attempts

  private beginAttempt(nowMs: number): WriteEffect[] {
    this.attempt++;
    this.phase = "preparing";
    this.view = this.latest;
    this.txId = this.options.newTxId();
    this.targets = writeTargets(this.view);
    this.nodes = new Map();
    this.silentNodes = new Set();
    this.silentSinceMs = null;
    this.attemptStartedMs = nowMs;
    this.lastPollMs = nowMs;
    this.version = 0;
    this.latestState = { version: 0, tombstone: false, expiresAtMs: 0 };
    this.commitAcks = 0;
    this.commitMemberAcks = 0;
    this.commitRefusals = 0;
    this.commitAnswers = 0;
    const effects: WriteEffect[] = [];
    for (const node of this.targets) {
      this.nodes.set(node, { offsetAcked: 0, staged: false, outstanding: true, answered: false, committedVersion: 0 });
      effects.push(this.prepareEffect(node, 0));
    }
    effects.push(...this.armTimer());
    return effects;
  }

  private onPrepareRefused(node: number, reply: Extract<NodeReply<unknown>, { kind: "refused" }>, nowMs: number): WriteEffect[] {
    const error = errorFromResult(reply.code, reply.message, `node ${node}`);
    switch (reply.code) {
      case ResultCode.RESULT_CODE_LOCKED:
      case ResultCode.RESULT_CODE_TX_ABORTED:
      case ResultCode.RESULT_CODE_MEMORY_FULL:
        // MEMORY_FULL: the node is over budget and evicting; the write fits once it caught up.
        this.lastError = error;
        return this.retryAfterContention();
      case ResultCode.RESULT_CODE_STALE_EPOCH:
      case ResultCode.RESULT_CODE_NOT_SERVING: {
        this.lastError = error;
        this.adopt(reply.view);
        if (this.latest.epoch > this.view.epoch) return this.abandonForNewView(nowMs);
        // The node is ahead of every view we know, or behind ours: learn the view, then retry.
        return this.retryAfterRefresh();
      }
      default:
        // Bad input, a node limit, a corrupt shard: retrying cannot help.
        this.phase = "done";
        return [...this.abortAll(), { kind: "fail", error }];
    }
  }

  /** Called after a prepare reply moved things on: commit, wait, or give up. */
  private afterPrepareProgress(nowMs: number): WriteEffect[] {
    const states = [...this.nodes.values()];
    if (states.every((state) => state.staged)) return this.beginCommit(nowMs);
    if (states.some((state) => state.outstanding)) {
      if (this.silentNodes.size > 0) this.silentSinceMs ??= nowMs;
      return [];
    }
    // Everyone answered or fell silent, and some are silent: the attempt cannot finish.
    return this.checkSilence(nowMs);
  }

  /** Decides what a silent node means now: wait (polling the view), move on, or give up. */
  private checkSilence(nowMs: number): WriteEffect[] {
    if (this.phase !== "preparing") return [];
    const states = [...this.nodes.entries()];
    const silent = states.filter(([, state]) => !state.answered && !state.outstanding).map(([node]) => node);
    const pending = states.filter(([, state]) => state.outstanding).map(([node]) => node);
    const waitedMs = nowMs - this.attemptStartedMs;
    if (silent.length === 0) {
      // Nobody has failed yet; some are slow. Poll the view now and then: if it drops a slow
      // node, there is no need to wait for its deadline.
      if (pending.length > 0 && waitedMs >= this.options.viewPollMs && nowMs - this.lastPollMs >= this.options.viewPollMs) {
        this.lastPollMs = nowMs;
        this.refreshFor = "silent";
        return [{ kind: "refreshView" }];
      }
      return this.armTimer();
    }
    const answered = this.targets.length - silent.length;
    if (pending.length === 0 && answered < this.options.dataShards) {
      this.phase = "done";
      return [
        ...this.abortAll(),
        {
          kind: "fail",
          error: new UnavailableError(
            `write needs every node of view ${this.view.epoch} (${this.targets.join(",")}); only ${answered} answered, fewer than k=${this.options.dataShards}` +
              ` (silent: ${silent.join(",")}): ${this.lastError?.message ?? ""}`,
            { cause: this.lastError ?? undefined },
          ),
        },
      ];
    }
    this.silentSinceMs ??= nowMs;
    if (nowMs - this.silentSinceMs >= this.options.unavailableWaitMs) {
      this.phase = "done";
      return [
        ...this.abortAll(),
        {
          kind: "fail",
          error: new UnavailableError(
            `write waited ${Math.round(nowMs - this.silentSinceMs)} ms for view ${this.view.epoch} to drop silent node(s) ${silent.join(",")}; it did not change` +
              (this.lastError !== null ? `: ${this.lastError.message}` : ""),
            { cause: this.lastError ?? undefined },
          ),
        },
      ];
    }
    if (nowMs - this.lastPollMs >= this.options.viewPollMs || pending.length === 0) {
      this.lastPollMs = nowMs;
      this.refreshFor = "silent";
      return [{ kind: "refreshView" }];
    }
    return this.armTimer();
  }

  private beginCommit(nowMs: number): WriteEffect[] {
    let committed = 0;
    for (const state of this.nodes.values()) committed = Math.max(committed, state.committedVersion);
    const latest = this.latestState;
    assert.equal(latest.version, committed);
    this.previousVersion = committed;
    this.previousLive = committed > 0 && !latest.tombstone && !(latest.expiresAtMs !== 0 && latest.expiresAtMs <= nowMs);
    if (!conditionHolds(this.options.condition ?? { kind: "none" }, committed, this.previousLive)) {
      // Nothing to write: release the locks and report the key's state.
      this.phase = "done";
      return [
        ...this.abortAll(),
        {
          kind: "succeed",
          result: {
            applied: false,
            version: committed,
            attempts: this.attempt,
            previousVersion: committed,
            previousLive: this.previousLive,
            expiresAtMs: this.previousLive ? latest.expiresAtMs : 0,
          },
        },
      ];
    }
    const expiry = this.options.expiry ?? { kind: "none" };
    this.expiresAtMs =
      this.options.blobs === null ? 0 : expiry.kind === "at" ? expiry.atMs : expiry.kind === "keep" && this.previousLive ? latest.expiresAtMs : 0;
    this.phase = "committing";
    this.version = committed + 1;
    const effects: WriteEffect[] = [];
    for (const node of this.targets) {
      this.nodes.get(node)!.outstanding = true;
      effects.push({
        kind: "commit",
        attempt: this.attempt,
        node,
        epoch: this.view.epoch,
        request: { key: this.options.key, txId: this.txId, version: this.version, resolution: false, expiresAtMs: this.expiresAtMs },
      });
    }
    return effects;
  }

  private retryAfterContention(): WriteEffect[] {
    const effects = this.abortAll();
    this.contentionCount++;
    if (this.contentionCount >= this.options.attemptsMax) {
      this.phase = "done";
      if (this.lastError instanceof OutOfMemoryError) {
        effects.push({ kind: "fail", error: new OutOfMemoryError(`write gave up after ${this.contentionCount} attempts: ${this.lastError.message}`) });
        return effects;
      }
      effects.push({
        kind: "fail",
        error: new WriteAbortedError(
          `write gave up after ${this.contentionCount} contended attempts: ${this.lastError?.message ?? "contention"}`,
          { cause: this.lastError ?? undefined },
        ),
      });
      return effects;
    }
    this.phase = "backoff";
    const ceiling = Math.min(this.options.backoffMsMax, this.options.backoffMsMin * 2 ** Math.min(this.contentionCount, 10));
    effects.push(this.newTimer(this.options.backoffMsMin + this.options.random.next() * ceiling));
    return effects;
  }

  private retryAfterRefresh(): WriteEffect[] {
    const effects = this.abortAll();
    this.phase = "refreshing";
    this.refreshFor = "retry";
    effects.push({ kind: "refreshView" });
    return effects;
  }

  private abandonForNewView(nowMs: number): WriteEffect[] {
    const effects = this.abortAll();
    effects.push(...this.beginAttempt(nowMs));
    return effects;
  }

  private abortAll(): WriteEffect[] {
    return this.targets.map((node) => ({ kind: "abort", node, epoch: this.view.epoch, key: this.options.key, txId: this.txId }));
  }

  /** A timer for checkSilence while prepares are out (unless one is already armed). */
  private armTimer(): WriteEffect[] {
    if (this.timerArmed) return [];
    return [this.newTimer(this.options.viewPollMs)];
  }

  private newTimer(ms: number): WriteEffect {
    this.timer++;
    this.timerArmed = true;
    return { kind: "wait", timer: this.timer, ms };
  }

  /** Keeps `view` for the next attempt if it is newer than any seen; says whether it was. */
  private adopt(view: View | null): boolean {
    if (view === null || view.epoch <= this.latest.epoch) return false;
    this.latest = view;
    return true;
  }

  // ------------------------------------------------------------------ chunks

  private blobBytes(node: number): number {
    return this.options.blobs === null ? 0 : this.options.blobs[node].length;
  }

  private chunkLength(node: number, offset: number): number {
    return Math.min(this.options.chunkBytesMax, this.blobBytes(node) - offset);
  }

  private prepareEffect(node: number, offset: number): WriteEffect {
    const total = this.blobBytes(node);
    const end = Math.min(total, offset + this.options.chunkBytesMax);
    const blob = this.options.blobs?.[node];
    return {
      kind: "prepare",
      attempt: this.attempt,
      node,
      epoch: this.view.epoch,
      request: {
        key: this.options.key,
        txId: this.txId,
        shardIndex: node,
        layout: { ...this.options.layout, valueCrc32: this.options.valueCrc32 },
        tombstone: this.options.blobs === null,
        shardCrc32: this.options.shardCrc32s?.[node] ?? 0,
        offset,
        data: blob === undefined ? Buffer.alloc(0) : blob.subarray(offset, end),
        last: end === total,
        leaseMs: this.options.lockLeaseMs,
        reason: this.options.reason ?? WriteReason.WRITE_REASON_CLIENT,
      },
    };
  }
}

function conditionHolds(condition: WriteCondition, version: number, live: boolean): boolean {
  switch (condition.kind) {
    case "none":
      return true;
    case "absent":
      return !live;
    case "present":
      return live;
    case "version":
      return version === condition.version;
  }
}

/** Checks the write options a caller controls (the driver checks keys and values first). */
export function checkWriteShape(options: Pick<WriteCoordinatorOptions, "blobs" | "shardCount">): void {
  if (options.blobs !== null && options.blobs.length !== options.shardCount) {
    throw new InvalidArgumentError(`${options.blobs.length} shard blobs for ${options.shardCount} nodes`);
  }
}
