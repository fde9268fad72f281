// RaftClient: the raft mode client library. Finds the leader (following NOT_LEADER hints),
// retries with capped, jittered backoff on unavailability, and never reports success for a
// write that was not applied: a write answers OK only once the leader applied its entry.
// Writes carry (clientId, seq, floor) so a retried write is applied at most once
// (kv_state.ts). One instance is safe for many concurrent callers.
//
// With connectTimeoutMs set, an operation during which no node ever accepted a connection
// gives up after that long with "no raft node reachable at A, B, C", instead of spending
// every attempt on connections that are refused. Only failures that prove the request never
// left this process count (see neverConnected): a node that took the request and then broke
// the connection may have applied a write, so that case keeps retrying as before.
import { credentials } from "@grpc/grpc-js";
import { KvBatch, KvCode, KvOp, KvResult, KvResultBatch, KvStatsReply, RaftKvClient } from "../gen/raft";
import {
  InvalidArgumentError,
  KeyTooLargeError,
  KvError,
  TimeoutError,
  NotLeaderError,
  UnavailableError,
  UnreachableError,
  ValueTooLargeError,
  errorMessage,
  isKvError,
} from "../core/errors";
import { VALUE_BYTES_MAX } from "../core/limits";
import { checkKey } from "../core/keys";
import { BatchingChannel } from "../transport/batching_channel";
import { RAFT_CHANNEL_OPTIONS } from "../transport/grpc_options";
import { sleep } from "../core/env";

type KvBody = NonNullable<KvOp["body"]>;
type KvChannel = BatchingChannel<KvBody, KvOp, KvResult, KvBatch, KvResultBatch>;

const BACKOFF_MS_MIN = 5;
const BACKOFF_MS_MAX = 500;

export interface RaftClientOptions {
  servers: string[];
  rpcTimeoutMs: number;
  /** Attempts per operation across leader changes (each bounded by rpcTimeoutMs). */
  attemptsMax?: number;
  /**
   * Give up an operation when, this long after it started, every server was tried and none
   * accepted a connection. Unset: only attemptsMax bounds an operation (what the bench and
   * jepsen clients want: they ride out whole-cluster restarts).
   */
  connectTimeoutMs?: number;
}

export class RaftClient {
  private readonly channels = new Map<string, KvChannel>();
  private readonly clients: Array<InstanceType<typeof RaftKvClient>> = [];
  private leader: string | null = null;
  private rotation = 0;
  private readonly clientId = 1 + Math.floor(Math.random() * (2 ** 52 - 1));
  private nextSeq = 1;
  private readonly inFlightSeqs = new Set<number>();
  private readonly attemptsMax: number;

  constructor(private readonly options: RaftClientOptions) {
    if (options.servers.length === 0) throw new InvalidArgumentError("no servers given");
    this.attemptsMax = options.attemptsMax ?? 40;
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    for (const client of this.clients) client.close();
  }

  async get(key: string | Uint8Array): Promise<Buffer | null> {
    const keyBytes = checkKey(key);
    const result = await this.run({ $case: "get", value: { key: keyBytes } });
    return result.found ? result.value : null;
  }

  async set(key: string | Uint8Array, value: Uint8Array): Promise<void> {
    const keyBytes = checkKey(key);
    if (value.length > VALUE_BYTES_MAX) throw new ValueTooLargeError(value.length, VALUE_BYTES_MAX);
    const seq = this.takeSeq();
    try {
      await this.run({ $case: "set", value: { key: keyBytes, value: Buffer.from(value.buffer, value.byteOffset, value.length), clientId: this.clientId, seq, floor: this.floor() } });
    } finally {
      this.inFlightSeqs.delete(seq);
    }
  }

  async del(key: string | Uint8Array): Promise<void> {
    const keyBytes = checkKey(key);
    const seq = this.takeSeq();
    try {
      await this.run({ $case: "del", value: { key: keyBytes, clientId: this.clientId, seq, floor: this.floor() } });
    } finally {
      this.inFlightSeqs.delete(seq);
    }
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
    return Promise.all(
      addresses.map(async (address) => {
        try {
          return await this.stats(address, collectGarbage);
        } catch {
          return null; // unreachable nodes are reported as null, by design
        }
      }),
    );
  }

  private takeSeq(): number {
    const seq = this.nextSeq++;
    this.inFlightSeqs.add(seq);
    return seq;
  }

  /** The lowest seq still waiting: every seq below it is settled. */
  private floor(): number {
    let floor = this.nextSeq;
    for (const seq of this.inFlightSeqs) if (seq < floor) floor = seq;
    return floor;
  }

  private channel(address: string): KvChannel {
    let channel = this.channels.get(address);
    if (channel === undefined) {
      const client = new RaftKvClient(address, credentials.createInsecure(), RAFT_CHANNEL_OPTIONS);
      this.clients.push(client);
      channel = new BatchingChannel<KvBody, KvOp, KvResult, KvBatch, KvResultBatch>(address, {
        openStream: () => client.exchange(),
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
    let lastError: KvError | null = null;
    const startedMs = performance.now();
    // Servers that refused a connection during this operation; null once any node was reached.
    let refused: Set<string> | null = new Set<string>();
    for (let attempt = 0; attempt < this.attemptsMax; attempt++) {
      const address = this.leader ?? this.options.servers[this.rotation % this.options.servers.length];
      let result: KvResult;
      try {
        result = await this.channel(address).send(body, this.options.rpcTimeoutMs);
      } catch (error) {
        lastError = isKvError(error) ? error : new UnavailableError(errorMessage(error));
        this.forgetLeader(address);
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
        case KvCode.KV_CODE_NOT_LEADER:
          lastError = new NotLeaderError(result.leaderHint === "" ? null : result.leaderHint, `${address}: ${result.message}`);
          if (result.leaderHint !== "" && result.leaderHint !== address) {
            this.leader = result.leaderHint;
          } else {
            this.forgetLeader(address);
            await sleep(backoffMs(attempt));
          }
          continue;
        case KvCode.KV_CODE_INVALID_ARGUMENT:
          throw new InvalidArgumentError(result.message);
        case KvCode.KV_CODE_UNAVAILABLE:
          lastError = new UnavailableError(`${address}: ${result.message}`);
          await sleep(backoffMs(attempt));
          continue;
        default:
          throw new UnavailableError(`${address}: ${KvCode[result.code]}: ${result.message}`);
      }
    }
    const what = body.$case === "get" ? "read" : body.$case === "set" || body.$case === "del" ? "write" : body.$case;
    if (lastError instanceof TimeoutError && (body.$case === "set" || body.$case === "del")) {
      throw new TimeoutError(`${what} outcome unknown after ${this.attemptsMax} attempts: ${lastError.message}`, { cause: lastError });
    }
    throw new UnavailableError(`${what} failed after ${this.attemptsMax} attempts: ${lastError?.message ?? "no leader"}`, { cause: lastError });
  }

  private forgetLeader(address: string): void {
    if (this.leader === address) this.leader = null;
    this.rotation++;
  }
}

/** True when a failure proves the request never reached a node (no connection could be made). */
function neverConnected(error: KvError): boolean {
  return error instanceof UnreachableError;
}


function backoffMs(attempt: number): number {
  const ceiling = Math.min(BACKOFF_MS_MAX, BACKOFF_MS_MIN * 2 ** Math.min(attempt, 10));
  return BACKOFF_MS_MIN + Math.random() * ceiling;
}

