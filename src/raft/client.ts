// RaftClient: the raft mode client library. Finds the leader (following NOT_LEADER hints),
// retries with capped, jittered backoff on unavailability, and never reports success for a
// write that was not applied: a write answers OK only once the leader applied its entry.
// Writes carry (clientId, seq, floor) so a retried write is applied at most once
// (kv_state.ts), and a retry of one the leader already holds never appends another copy
// (node.ts). One instance is safe for many concurrent callers.
//
// Sessions: the state machine keeps at most KV_SESSION_SEQS_MAX applied seqs above a
// session's floor and, past that, raises the floor over the oldest, which would make a write
// still in flight below it look applied when it never was (acknowledged, and lost). One write
// stuck in retries across a leader change while thousands of others finish (a node's RESP
// door shares one client among all its connections) would do that. So a client opens a new
// session (a new clientId) before its window of seqs in flight spans half the limit; the
// writes still in flight keep the session they started in.
//
// Honest outcomes: a write that gives up says "failed" (UnavailableError, exit 3) only when
// no attempt can have been applied: every attempt was refused before it reached a log (not
// the leader, never connected, out of memory). Once an attempt may have reached a log (it
// timed out after it was sent, its stream broke, or the leader lost leadership after
// appending it), giving up is OutcomeUnknownError (exit 8): the write may or may not have
// happened. Either message names what each node answered last.
//
// Deadlines and node choice: an attempt's deadline is rpcTimeoutMs plus the time a set's
// value takes at RAFT_CLIENT_BYTES_PER_SECOND_MIN, so a large value is not given up while it
// is still being replicated. After a node failed to answer, the next attempts go to the
// other nodes, and for DISTRUST_MS (or rpcTimeoutMs, if longer) a NOT_LEADER hint naming it
// is not followed: a follower keeps naming a stopped leader until its election timeout runs
// out, and following it cost a second full timeout at the stopped node.
//
// With connectTimeoutMs set, an operation during which no node ever accepted a connection
// gives up after that long with "no raft node reachable at A, B, C", instead of spending
// every attempt on connections that are refused. Only failures that prove the request never
// left this process count (UnreachableError).
import { credentials } from "@grpc/grpc-js";
import { KvBatch, KvCode, KvOp, KvResult, KvResultBatch, KvSetCondition, KvStatsReply, RaftKvClient } from "../gen/raft";
import type { SetCondition } from "./kv_state";
import {
  InvalidArgumentError,
  KvError,
  NotLeaderError,
  OutOfMemoryError,
  OutcomeUnknownError,
  TimeoutError,
  UnauthenticatedError,
  UnavailableError,
  UnreachableError,
  ValueTooLargeError,
  errorMessage,
  isKvError,
} from "../core/errors";
import { KV_SESSION_SEQS_MAX, RAFT_CLIENT_BYTES_PER_SECOND_MIN, TTL_MS_MAX, VALUE_BYTES_MAX } from "../core/limits";
import { checkKey } from "../core/keys";
import { BatchingChannel } from "../transport/batching_channel";
import { Redialer } from "../transport/redialer";
import { RAFT_CHANNEL_OPTIONS } from "../transport/grpc_options";
import { AuthToken, AuthTokenInput, authTokenFromInput } from "../core/auth_token";
import { authClientInterceptors } from "../transport/auth";
import { channelCredentials } from "../transport/tls";
import type { ClientTlsSettings } from "../transport/tls_settings";
import { sleep } from "../core/env";

type KvBody = NonNullable<KvOp["body"]>;
type KvChannel = BatchingChannel<KvBody, KvOp, KvResult, KvBatch, KvResultBatch>;

const BACKOFF_MS_MIN = 5;
const BACKOFF_MS_MAX = 500;
/**
 * How long a node that failed to answer is passed over within an operation: longer than an
 * election timeout (the default config's is at most 600 ms), short enough that a leader that
 * was only slow (a long GC pause) is asked again within the operation.
 */
const DISTRUST_MS = 2_000;

export interface RaftClientOptions {
  servers: string[];
  rpcTimeoutMs: number;
  /** Attempts per operation across leader changes (each bounded by its deadline). */
  attemptsMax?: number;
  /**
   * Give up an operation when, this long after it started, every server was tried and none
   * accepted a connection. Unset: only attemptsMax bounds an operation (what the bench and
   * jepsen clients want: they ride out whole-cluster restarts).
   */
  connectTimeoutMs?: number;
  /**
   * The cluster's token (auth_token), sent on every request; a live AuthToken follows its
   * file's rotation. Absent: none is sent. A node that refuses it fails the operation at once
   * with UnauthenticatedError (not retried: another node would say the same).
   */
  authToken?: AuthTokenInput;
  /** TLS to the nodes (--cacert, --cert, --key; src/transport/tls_settings.ts); unset: plaintext. */
  tls?: ClientTlsSettings;
}

export interface RaftSetOptions {
  /** Expire this long after the leader takes the write (ms, 1 to TTL_MS_MAX). */
  ttlMs?: number;
  /** nx: write only when the key holds no live value; xx: only when it does (decided by the state machine). */
  condition?: SetCondition;
  /** Keep the live value's TTL (Redis's KEEPTTL); excludes ttlMs. */
  keepTtl?: boolean;
  /** Also return the value the key held before (SET ... GET). */
  returnPrevious?: boolean;
}

/** What a set did: applied (its condition held), and the value before when asked for (null: none). */
export interface RaftSetOutcome {
  applied: boolean;
  previous: Buffer | null;
}

const CONDITION_CODES: Record<SetCondition, KvSetCondition> = {
  none: KvSetCondition.KV_SET_CONDITION_NONE,
  nx: KvSetCondition.KV_SET_CONDITION_NX,
  xx: KvSetCondition.KV_SET_CONDITION_XX,
};

/** The deadline of one attempt of `body`: the base, plus a set's value at the slowest rate assumed. */
export function attemptTimeoutMs(rpcTimeoutMs: number, body: KvBody): number {
  const valueBytes = body.$case === "set" || body.$case === "append" ? body.value.value.length : 0;
  return rpcTimeoutMs + Math.ceil((valueBytes * 1000) / RAFT_CLIENT_BYTES_PER_SECOND_MIN);
}

function checkTtlMs(ttlMs: number): number {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > TTL_MS_MAX) {
    throw new InvalidArgumentError(`TTL must be a whole number of ms from 1 to ${TTL_MS_MAX}, got ${ttlMs}`);
  }
  return ttlMs;
}

/** A client session: its id, its next seq and the seqs still in flight. */
interface ClientSession {
  readonly clientId: number;
  nextSeq: number;
  readonly inFlight: Set<number>;
}

/** A channel is dialled anew at most this often (see RaftClient.redial). */
const REDIAL_INTERVAL_MS = 1_000;

/** Seqs in flight (from the lowest unsettled to the next) past which a client opens a new session. */
const SESSION_WINDOW_SEQS = KV_SESSION_SEQS_MAX / 2;

function newSession(): ClientSession {
  return { clientId: 1 + Math.floor(Math.random() * (2 ** 52 - 1)), nextSeq: 1, inFlight: new Set() };
}

/** The session's lowest seq still waiting: every seq below it is settled. */
function sessionFloor(session: ClientSession): number {
  let floor = session.nextSeq;
  for (const seq of session.inFlight) if (seq < floor) floor = seq;
  return floor;
}

export class RaftClient {
  private readonly channels = new Map<string, KvChannel>();
  /** The gRPC client under each address's channel (dialled anew by redial). */
  private readonly nodes = new Map<string, Redialer<InstanceType<typeof RaftKvClient>>>();
  private leader: string | null = null;
  private rotation = 0;
  private session: ClientSession = newSession();
  /** Sessions this client opened (the first included), for tests. */
  sessionCount = 1;
  private readonly attemptsMax: number;
  private readonly auth: AuthToken | null;
  /** Attempts made by every operation so far (the big-values script reports it). */
  attemptCount = 0;
  /** The nodes the latest operation to finish sent its attempts to, in order (for tests and scripts). */
  lastAttemptAddresses: string[] = [];

  constructor(private readonly options: RaftClientOptions) {
    if (options.servers.length === 0) throw new InvalidArgumentError("no servers given");
    this.attemptsMax = options.attemptsMax ?? 40;
    this.auth = authTokenFromInput(options.authToken);
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    for (const node of this.nodes.values()) node.close();
  }

  /** The value, or null when the key is absent (deleted, evicted or past its TTL). */
  async get(key: string | Uint8Array): Promise<Buffer | null> {
    const keyBytes = checkKey(key);
    const result = await this.run({ $case: "get", value: { key: keyBytes } });
    return result.found ? result.value : null;
  }

  /**
   * Sets the key. With a condition (NX/XX), KEEPTTL or returnPrevious the state machine
   * decides when the entry applies, and a retry gets the first application's answer (kv_state.ts).
   */
  async set(key: string | Uint8Array, value: Uint8Array, options: RaftSetOptions = {}): Promise<RaftSetOutcome> {
    const keyBytes = checkKey(key);
    if (value.length > VALUE_BYTES_MAX) throw new ValueTooLargeError(value.length, VALUE_BYTES_MAX);
    const ttlMs = options.ttlMs === undefined ? 0 : checkTtlMs(options.ttlMs);
    const condition = options.condition ?? "none";
    if (!(condition in CONDITION_CODES)) throw new InvalidArgumentError(`unknown set condition ${JSON.stringify(condition)}`);
    const keepTtl = options.keepTtl === true;
    if (keepTtl && ttlMs > 0) throw new InvalidArgumentError("a set cannot both keep the TTL and set one");
    const returnPrevious = options.returnPrevious === true;
    const conditional = condition !== "none" || keepTtl || returnPrevious;
    const result = await this.write((clientId, seq, floor) => ({
      $case: "set",
      value: {
        key: keyBytes,
        value: Buffer.from(value.buffer, value.byteOffset, value.length),
        clientId,
        seq,
        floor,
        ttlMs,
        condition: CONDITION_CODES[condition],
        keepTtl,
        returnPrevious,
      },
    }));
    return { applied: conditional ? result.written : true, previous: returnPrevious && result.found ? result.value : null };
  }

  /**
   * Deletes the key (nothing happens when it is absent). True when the key held a value, as
   * the state machine found it (RESP's DEL count); a retry of a delete already applied finds
   * the key as it is by then.
   */
  async del(key: string | Uint8Array): Promise<boolean> {
    const keyBytes = checkKey(key);
    return (await this.write((clientId, seq, floor) => ({ $case: "del", value: { key: keyBytes, clientId, seq, floor, returnPrevious: false } }))).existed;
  }

  /** Deletes the key and returns the value it held (null: none), in one state machine step (GETDEL). */
  async getDel(key: string | Uint8Array): Promise<Buffer | null> {
    const keyBytes = checkKey(key);
    const result = await this.write((clientId, seq, floor) => ({ $case: "del", value: { key: keyBytes, clientId, seq, floor, returnPrevious: true } }));
    return result.found ? result.value : null;
  }

  /**
   * Appends `suffix` to the key's value (an absent key starts empty), keeping its TTL, in one
   * state machine step. Returns the length after; ValueTooLargeError when it would exceed
   * VALUE_BYTES_MAX (decided when the entry applies: nothing changed).
   */
  async append(key: string | Uint8Array, suffix: Uint8Array): Promise<number> {
    const keyBytes = checkKey(key);
    if (suffix.length > VALUE_BYTES_MAX) throw new ValueTooLargeError(suffix.length, VALUE_BYTES_MAX);
    const result = await this.write((clientId, seq, floor) => ({
      $case: "append",
      value: { key: keyBytes, value: Buffer.from(suffix.buffer, suffix.byteOffset, suffix.length), clientId, seq, floor },
    }));
    if (!result.written) throw new ValueTooLargeError(result.valueBytes + suffix.length, VALUE_BYTES_MAX);
    return result.valueBytes;
  }

  /** Gives the key's value a TTL of `ttlMs` from now (the leader's clock); false when the key is absent. */
  async expire(key: string | Uint8Array, ttlMs: number): Promise<boolean> {
    const keyBytes = checkKey(key);
    const ttl = checkTtlMs(ttlMs);
    const result = await this.write((clientId, seq, floor) => ({ $case: "expire", value: { key: keyBytes, ttlMs: ttl, clientId, seq, floor } }));
    return result.existed;
  }

  /** Removes the key's TTL: "removed", "none" (it had no TTL) or "absent". */
  async persist(key: string | Uint8Array): Promise<"removed" | "none" | "absent"> {
    const keyBytes = checkKey(key);
    const result = await this.write((clientId, seq, floor) => ({ $case: "expire", value: { key: keyBytes, ttlMs: 0, clientId, seq, floor } }));
    return !result.existed ? "absent" : result.hadTtl ? "removed" : "none";
  }

  /** Milliseconds until the key expires; -1 without a TTL; -2 when the key is absent. */
  async ttl(key: string | Uint8Array): Promise<number> {
    const keyBytes = checkKey(key);
    const result = await this.run({ $case: "ttl", value: { key: keyBytes } });
    return result.ttlMs;
  }

  async addMember(address: string): Promise<void> {
    await this.run({ $case: "addMember", value: { address } });
  }

  async removeMember(address: string): Promise<void> {
    await this.run({ $case: "removeMember", value: { address } });
  }

  /** Stats of one node (any role), or of every configured node with statsAll(). */
  async stats(address: string, collectGarbage = false): Promise<KvStatsReply> {
    const result = await this.channel(address).send({ $case: "stats", value: { collectGarbage } }, this.options.rpcTimeoutMs);
    if (result.code !== KvCode.KV_CODE_OK || result.stats === undefined) throw new UnavailableError(`${address}: ${result.message}`);
    return result.stats;
  }

  async statsAll(addresses: string[] = this.options.servers, collectGarbage = false): Promise<Array<KvStatsReply | null>> {
    let refusal: UnauthenticatedError | null = null;
    const stats = await Promise.all(
      addresses.map(async (address) => {
        try {
          return await this.stats(address, collectGarbage);
        } catch (error) {
          if (error instanceof UnauthenticatedError) refusal = error;
          return null; // unreachable nodes are reported as null, by design
        }
      }),
    );
    // No node answered and some refused the token: that is the answer, typed.
    if (refusal !== null && stats.every((reply) => reply === null)) throw refusal;
    return stats;
  }

  private async write(body: (clientId: number, seq: number, floor: number) => KvBody): Promise<KvResult> {
    if (this.session.nextSeq - sessionFloor(this.session) >= SESSION_WINDOW_SEQS) {
      this.session = newSession(); // see the header: the old one keeps its writes in flight
      this.sessionCount++;
    }
    const session = this.session;
    const seq = session.nextSeq++;
    session.inFlight.add(seq);
    try {
      return await this.run(body(session.clientId, seq, sessionFloor(session)));
    } finally {
      session.inFlight.delete(seq);
    }
  }

  private channel(address: string): KvChannel {
    let channel = this.channels.get(address);
    if (channel === undefined) {
      const node = new Redialer(
        () => new RaftKvClient(address, channelCredentials(this.options.tls), { ...RAFT_CHANNEL_OPTIONS, interceptors: authClientInterceptors(this.auth) }),
        REDIAL_INTERVAL_MS,
      );
      this.nodes.set(address, node);
      channel = new BatchingChannel<KvBody, KvOp, KvResult, KvBatch, KvResultBatch>(address, {
        openStream: () => node.client.exchange(),
        makeOp: (id, body) => ({ id, body }),
        makeBatch: (ops) => ({ ops }),
        results: (batch) => batch.results,
        resultId: (result) => result.id,
        bodyBytes: (body) => 64 + (body.$case === "set" ? body.value.value.length + body.value.key.length : 0),
      });
      this.channels.set(address, channel);
    }
    return channel;
  }

  private async run(body: KvBody): Promise<KvResult> {
    const isWrite = body.$case === "set" || body.$case === "del" || body.$case === "expire" || body.$case === "append";
    const timeoutMs = attemptTimeoutMs(this.options.rpcTimeoutMs, body);
    const startedMs = performance.now();
    const tracker = new AttemptTracker(this.options.servers, Math.max(DISTRUST_MS, this.options.rpcTimeoutMs));
    const addresses: string[] = [];
    try {
      return await this.attempts(body, isWrite, timeoutMs, startedMs, tracker, addresses);
    } finally {
      this.lastAttemptAddresses = addresses;
    }
  }

  private async attempts(body: KvBody, isWrite: boolean, timeoutMs: number, startedMs: number, tracker: AttemptTracker, addresses: string[]): Promise<KvResult> {
    let lastError: KvError | null = null;
    // Servers that refused a connection during this operation; null once any node was reached.
    let refused: Set<string> | null = new Set<string>();
    for (let attempt = 0; attempt < this.attemptsMax; attempt++) {
      const address = tracker.pick(this.leader, this.rotation);
      this.attemptCount++;
      addresses.push(address);
      let result: KvResult;
      try {
        result = await this.channel(address).send(body, timeoutMs);
      } catch (error) {
        lastError = isKvError(error) ? error : new UnavailableError(errorMessage(error));
        // Refused before the node read the request: this attempt changed nothing.
        if (lastError instanceof UnauthenticatedError) {
          if (isWrite && tracker.maybeApplied) throw tracker.unknown(lastError.message, attempt + 1, startedMs, lastError);
          throw lastError;
        }
        this.forgetLeader(address);
        tracker.failed(address, lastError instanceof TimeoutError ? `no answer within ${timeoutMs} ms` : lastError.message);
        // Sent and not answered: a write may have reached the log. Never connected: it did not.
        if (isWrite && !neverConnected(lastError)) tracker.mayHaveApplied(address);
        if (refused !== null && neverConnected(lastError)) refused.add(address);
        else refused = null;
        const connectTimeoutMs = this.options.connectTimeoutMs;
        if (refused !== null && connectTimeoutMs !== undefined) {
          const remainingMs = connectTimeoutMs - (performance.now() - startedMs);
          if (remainingMs <= 0 && this.options.servers.every((server) => refused!.has(server))) {
            throw new UnavailableError(`no raft node reachable at ${this.options.servers.join(", ")}`, { cause: lastError });
          }
          await sleep(Math.min(backoffMs(attempt), Math.max(remainingMs, BACKOFF_MS_MIN)));
          continue;
        }
        await sleep(backoffMs(attempt));
        continue;
      }
      refused = null;
      switch (result.code) {
        case KvCode.KV_CODE_OK:
          this.leader = address;
          return result;
        case KvCode.KV_CODE_NOT_LEADER: {
          const hint = result.leaderHint === "" ? null : result.leaderHint;
          if (hint === address) this.redial(address);
          lastError = new NotLeaderError(hint, `${address}: ${result.message}`);
          if (isWrite && result.maybeApplied) tracker.mayHaveApplied(address);
          tracker.answered(address, hint === null ? `${result.message} (no leader known)` : `${result.message} (names ${hint})`);
          if (hint !== null && hint !== address && tracker.trusted(hint)) {
            this.leader = hint;
          } else {
            this.forgetLeader(address);
            await sleep(backoffMs(attempt));
          }
          continue;
        }
        case KvCode.KV_CODE_INVALID_ARGUMENT:
          throw new InvalidArgumentError(result.message);
        case KvCode.KV_CODE_OUT_OF_MEMORY:
          if (tracker.maybeApplied) throw tracker.unknown(`${result.message}, after an earlier attempt`, attempt + 1, startedMs, lastError);
          throw new OutOfMemoryError(`${address}: ${result.message}`);
        case KvCode.KV_CODE_UNAVAILABLE:
          lastError = new UnavailableError(`${address}: ${result.message}`);
          tracker.answered(address, result.message);
          await sleep(backoffMs(attempt));
          continue;
        default:
          // A retried conditional write whose result the state machine no longer keeps: it was applied.
          if (isWrite && result.maybeApplied) tracker.mayHaveApplied(address);
          if (isWrite && tracker.maybeApplied) throw tracker.unknown(`${KvCode[result.code]}: ${result.message}`, attempt + 1, startedMs, lastError);
          throw new UnavailableError(`${address}: ${KvCode[result.code]}: ${result.message}`);
      }
    }
    const what = body.$case === "get" || body.$case === "ttl" ? "read" : isWrite ? "write" : body.$case;
    if (isWrite && tracker.maybeApplied) throw tracker.unknown("gave up", this.attemptsMax, startedMs, lastError);
    throw new UnavailableError(`${what} failed after ${this.attemptsMax} attempts (${elapsedSeconds(startedMs)} s): ${tracker.summary()}`, { cause: lastError });
  }

  /** How often channels were dialled anew because another node answered at their address (for tests). */
  get redialCount(): number {
    let count = 0;
    for (const node of this.nodes.values()) count += node.redials;
    return count;
  }

  /**
   * The node that answered at `address` named `address` as the leader: it is another node
   * (no node names itself in NOT_LEADER), reached through a connection that outlived the
   * address's owner (redialer.ts). Dial anew, at most once a second per address; operations
   * in flight on the old stream finish.
   */
  private redial(address: string): void {
    if (this.nodes.get(address)?.redial() === true) this.channels.get(address)?.detach();
  }

  /** After `address` failed: the next attempt goes elsewhere. */
  private forgetLeader(address: string): void {
    if (this.leader === address) this.leader = null;
    this.rotation++;
  }
}

/**
 * One operation's view of the servers: what each answered last, which ones failed to answer
 * (passed over, and not followed as leader hints, for distrustMs), and whether an attempt may
 * have reached a log.
 */
class AttemptTracker {
  private readonly lastWord = new Map<string, string>();
  private readonly failedAtMs = new Map<string, number>();
  /** The nodes attempts that may have been applied went to, in order; empty while none may have. */
  readonly maybeAppliedAt: string[] = [];

  constructor(
    private readonly servers: readonly string[],
    private readonly distrustMs: number,
  ) {}

  /** The leader when known and trusted, else the next server in rotation that did not just fail. */
  pick(leader: string | null, rotation: number): string {
    if (leader !== null && this.trusted(leader)) return leader;
    for (let offset = 0; offset < this.servers.length; offset++) {
      const candidate = this.servers[(rotation + offset) % this.servers.length];
      if (this.trusted(candidate)) return candidate;
    }
    return this.servers[rotation % this.servers.length];
  }

  trusted(address: string): boolean {
    const failedAt = this.failedAtMs.get(address);
    return failedAt === undefined || performance.now() - failedAt > this.distrustMs;
  }

  failed(address: string, why: string): void {
    this.failedAtMs.set(address, performance.now());
    this.lastWord.set(address, why);
  }

  answered(address: string, what: string): void {
    this.lastWord.set(address, what);
  }

  mayHaveApplied(address: string): void {
    if (!this.maybeAppliedAt.includes(address)) this.maybeAppliedAt.push(address);
  }

  get maybeApplied(): boolean {
    return this.maybeAppliedAt.length > 0;
  }

  /** What each node answered last, e.g. "127.0.0.1:4000: no answer within 2000 ms; 127.0.0.1:4001: not the leader (no leader known)". */
  summary(): string {
    if (this.lastWord.size === 0) return "no node answered";
    return [...this.lastWord].map(([address, word]) => `${address}: ${word}`).join("; ");
  }

  unknown(reason: string, attempts: number, startedMs: number, cause: KvError | null): OutcomeUnknownError {
    return new OutcomeUnknownError(
      `write outcome unknown after ${attempts} attempts (${elapsedSeconds(startedMs)} s): ${reason}; attempts that may have been applied reached ${this.maybeAppliedAt.join(", ")} (last answers: ${this.summary()})`,
      { cause },
    );
  }
}

/** True when a failure proves the request never reached a node (no connection could be made). */
function neverConnected(error: KvError): boolean {
  return error instanceof UnreachableError;
}

function elapsedSeconds(startedMs: number): string {
  return ((performance.now() - startedMs) / 1000).toFixed(1);
}

function backoffMs(attempt: number): number {
  const ceiling = Math.min(BACKOFF_MS_MAX, BACKOFF_MS_MIN * 2 ** Math.min(attempt, 10));
  return BACKOFF_MS_MIN + Math.random() * ceiling;
}
