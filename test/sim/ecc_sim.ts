// Seeded, deterministic simulator of ecc mode's protocol cores: n=5 EcShardReplica
// participants (k=3, m=2, fixed membership, blockBytes 16 so values span stripes), simulated
// clients whose coordinator state machines mirror src/ecc/client.ts (write: EcPrepare to all
// -> version = max committed + 1 -> EcCommit to all -> success at k acks; read: EcGet to the k
// data nodes, expand on failure/mismatch, decide with EcReadCoordinator, decode with
// decodeValue), and node-side lease resolution mirroring src/ecc/node.ts resolve() (txStatus
// to the other nodes, which fences; commit everywhere if any committed; abort everywhere if
// all answered and none committed; else resolutionFailed and retry later).
//
// Everything runs on one event queue with a virtual clock (integer ms) and one SeededRandom:
// the same seed gives the same transcript (hashed by the tests). The network delays, loses
// (a loss is a timeout at the sender) and duplicates messages; clients crash at random
// points (after the EcPrepare phase, in the middle of sending EcCommits, or at any time) and
// restart under a new client id; nodes pause (process nothing for a while, then catch up).
// Every client operation goes into a HistoryRecorder on the virtual clock and the history is
// checked with checkHistory after a settle phase and a final read of every key. Invariants
// are checked after every event; any failure throws SimCheckError with the seed and the
// transcript tail.
import { EventQueue } from "./event_queue";
import { createHash } from "node:crypto";
import { HistoryRecorder, History } from "../../src/check/history";
import { CheckResult, checkHistory } from "../../src/check/linearizability";
import { crc32 } from "../../src/codec/checksum";
import { TableCodec } from "../../src/codec/table_codec";
import { SeededRandom } from "../../src/core/env";
import { EC_BACKOFF_MS_MAX, EC_BACKOFF_MS_MIN } from "../../src/core/limits";
import { EcGetReply, ResultCode, TxState } from "../../src/gen/ecc";
import { Layout, blobBytes } from "../../src/ecc/layout";
import { EcReadCoordinator, ReadDecision } from "../../src/ecc/read_coordinator";
import { EcShardReplica } from "../../src/ecc/shard_replica";
import { decodeValue, encodeBlobs } from "../../src/ecc/shard_coding";

export const N = 5;
export const K = 3;
export const M = N - K;
const BLOCK_BYTES = 16;
const LEASE_MS = 100;
const RPC_TIMEOUT_MS = 60;
const RESOLVE_RPC_TIMEOUT_MS = 60;
const RESOLVE_RETRY_MS = 50;
const SCAN_MS = 10;
const DELAY_MS_MIN = 1;
const DELAY_MS_MAX = 12;
const SLOW_MS_MAX = 40;
const WRITE_ATTEMPTS_MAX = 12;
const READ_ATTEMPTS_MAX = 20;
const THINK_MS_MAX = 10;
const TRANSCRIPT_TAIL = 80;
const EVENTS_MAX = 2_000_000;

export interface EccSimOptions {
  seed: number;
  /** Virtual ms of workload with faults. */
  durationMs?: number;
  clientCount?: number;
  keyCount?: number;
  lossRate?: number;
  duplicateRate?: number;
  /** Client crash probabilities (after the EcPrepare phase / mid-EcCommit / per op start). */
  crashRate?: number;
  /** Share of messages that take up to SLOW_MS_MAX extra ms (default 0.08). */
  slowRate?: number;
  /** Share of operations that are gets (the rest: 5/6 sets, 1/6 dels). */
  readRatio?: number;
  /** Share of nemesis steps that pause a node (default 0.25; crashes take the next 0.25). */
  pauseRate?: number;
  /** Node pauses on or off. */
  pauses?: boolean;
  /**
   * Self-test of the harness: the coordinator reports success once ONE member acknowledged
   * EcCommit instead of k. Unsafe: k-1 or fewer nodes hold the new version, so a read can
   * still decode the old one after the write returned.
   */
  brokenCommitAfterOneAck?: boolean;
  /** Keep the whole transcript in the result (for debugging). */
  keepTranscript?: boolean;
}

export interface EccSimResult {
  seed: number;
  history: History;
  check: CheckResult;
  transcriptHash: string;
  counts: { ok: number; fail: number; unknown: number };
  crashes: number;
  pauses: number;
  resolutions: { commit: number; abort: number; retry: number };
  eventCount: number;
  simulatedMs: number;
  lockedAtEnd: number;
  transcript?: string[];
}

export class SimCheckError extends Error {}

type Request =
  | { kind: "prepare"; key: Buffer; txId: Buffer; shardIndex: number; layout: Layout & { valueCrc32: number }; tombstone: boolean; shardCrc32: number; data: Buffer }
  | { kind: "commit"; key: Buffer; txId: Buffer; version: number; resolution: boolean }
  | { kind: "abort"; key: Buffer; txId: Buffer }
  | { kind: "get"; key: Buffer }
  | { kind: "txStatus"; key: Buffer; txId: Buffer };

/** A reply as the sender sees it: OK with a body, a refusal, or a timeout. */
type Reply = { code: ResultCode; message: string; body?: unknown } | { code: "timeout" };

interface SimNode {
  index: number;
  replica: EcShardReplica;
  pausedUntilMs: number;
  lastVersion: Map<string, number>;
}

interface Client {
  slot: number;
  incarnation: number;
  id: string;
  txCounter: number;
  busy: boolean;
  /** Current op; the crash hook records it as unknown. */
  op: { handle: number; kind: "get" | "set" | "del"; key: string } | null;
  alive: boolean;
}

function asReply(outcome: { code: ResultCode; message: string; reply?: unknown }): Reply {
  return { code: outcome.code, message: outcome.message, body: outcome.reply };
}

const hex = (b: Buffer): string => b.toString("hex").slice(0, 12);

export function runEccSimulation(options: EccSimOptions): EccSimResult {
  const seed = options.seed;
  const durationMs = options.durationMs ?? 2_000;
  const clientCount = options.clientCount ?? 5;
  const keyCount = options.keyCount ?? 2;
  const lossRate = options.lossRate ?? 0.03;
  const duplicateRate = options.duplicateRate ?? 0.03;
  const crashRate = options.crashRate ?? 0.04;
  const pausesOn = options.pauses ?? true;
  const broken = options.brokenCommitAfterOneAck === true;
  const readRatio = options.readRatio ?? 0.45;
  const slowRate = options.slowRate ?? 0.08;
  const pauseRate = options.pauseRate ?? 0.25;

  const random = new SeededRandom(seed);
  const queue = new EventQueue();
  const codec = new TableCodec(K, M);
  let now = 0;
  let faults = true;
  let workload = true;
  const transcript: string[] = [];
  const hash = createHash("sha256");
  const log = (line: string): void => {
    const text = `${now} ${line}`;
    hash.update(text + "\n");
    transcript.push(text);
    if (!options.keepTranscript && transcript.length > TRANSCRIPT_TAIL * 4) transcript.splice(0, transcript.length - TRANSCRIPT_TAIL);
  };
  const fail = (message: string): never => {
    throw new SimCheckError(
      `ecc sim seed=${seed}${broken ? " (brokenCommitAfterOneAck)" : ""}: ${message}\n--- transcript tail ---\n` +
        transcript.slice(-TRANSCRIPT_TAIL).join("\n"),
    );
  };
  const recorder = new HistoryRecorder({ nowMs: () => now });
  const keys = Array.from({ length: keyCount }, (_, i) => `k${i}`);
  /** Every value some client tried to write, by key: reads must return one of these. */
  const written = new Map<string, Set<string>>(keys.map((k) => [k, new Set<string>()]));
  /** (key, version) -> identity of what was committed there (tx tag + value crc + tombstone). */
  const committedAt = new Map<string, string>();
  const counts = { crashes: 0, pauses: 0 };
  const resolutions = { commit: 0, abort: 0, retry: 0 };

  const nodes: SimNode[] = Array.from({ length: N }, (_, index) => ({
    index,
    replica: new EcShardReplica({ shardIndex: index, dataShards: K, parityShards: M, blockBytes: BLOCK_BYTES, address: `n${index}` }),
    pausedUntilMs: 0,
    lastVersion: new Map(),
  }));

  const at = (delayMs: number, run: () => void): void => queue.push(now + delayMs, run);
  // Mostly short delays, with a tail of slow messages (reordering across phases).
  const delay = (): number =>
    DELAY_MS_MIN + random.int(DELAY_MS_MAX - DELAY_MS_MIN + 1) + (faults && random.next() < slowRate ? random.int(SLOW_MS_MAX) : 0);

  // ------------------------------------------------------------------ network

  function describe(req: Request): string {
    switch (req.kind) {
      case "prepare":
        return `prepare ${req.key.toString()} tx=${hex(req.txId)}${req.tombstone ? " tomb" : ""} crc=${req.layout.valueCrc32}`;
      case "commit":
        return `commit ${req.key.toString()} tx=${hex(req.txId)} v=${req.version}${req.resolution ? " res" : ""}`;
      case "abort":
        return `abort ${req.key.toString()} tx=${hex(req.txId)}`;
      case "get":
        return `get ${req.key.toString()}`;
      case "txStatus":
        return `txStatus ${req.key.toString()} tx=${hex(req.txId)}`;
    }
  }

  function handle(node: SimNode, req: Request): Reply {
    const r = node.replica;
    switch (req.kind) {
      case "prepare":
        return asReply(r.prepare(
          {
            key: req.key,
            txId: req.txId,
            shardIndex: req.shardIndex,
            layout: req.layout,
            tombstone: req.tombstone,
            shardCrc32: req.shardCrc32,
            offset: 0,
            data: req.data,
            last: true,
            leaseMs: LEASE_MS,
          },
          now,
        ));
      case "commit":
        return asReply(r.commit({ key: req.key, txId: req.txId, version: req.version, resolution: req.resolution }));
      case "abort":
        return asReply(r.abort({ key: req.key, txId: req.txId }));
      case "get": {
        const out = r.get({ key: req.key, wantVersion: 0, offset: 0, lengthMax: 0 });
        // Copy: the replica hands out a view of its store.
        if (out.reply !== undefined) out.reply = { ...out.reply, data: Buffer.from(out.reply.data) };
        return asReply(out);
      }
      case "txStatus":
        return asReply(r.txStatus({ key: req.key, txId: req.txId }));
    }
  }

  let rpcCounter = 0;
  /**
   * One request/response exchange; `onReply` runs exactly once (reply or timeout) unless
   * `alive()` turned false first (a crashed client drops everything it was waiting for).
   */
  function rpc(from: string, to: number, req: Request, timeoutMs: number, alive: () => boolean, onReply: (reply: Reply) => void): void {
    const id = ++rpcCounter;
    let done = false;
    const settle = (reply: Reply): void => {
      if (done) return;
      done = true;
      if (!alive()) return;
      onReply(reply);
    };
    const lost = (): boolean => faults && random.next() < lossRate;
    const deliver = (copy: number): void => {
      const node = nodes[to];
      if (node.pausedUntilMs > now) {
        queue.push(node.pausedUntilMs + random.int(3), () => deliver(copy));
        return;
      }
      const reply = handle(node, req);
      log(`#${id}${copy > 0 ? "'" : ""} ${from}->n${to} ${describe(req)} => ${reply.code === ResultCode.RESULT_CODE_OK ? "OK" : ResultCode[reply.code as ResultCode]}`);
      checkInvariants(node);
      if (lost()) {
        log(`#${id} reply lost`);
        return;
      }
      at(delay(), () => settle(reply));
    };
    if (lost()) {
      log(`#${id} ${from}->n${to} ${describe(req)} lost`);
    } else {
      at(delay(), () => deliver(0));
      if (faults && random.next() < duplicateRate) at(delay() + random.int(20), () => deliver(1));
    }
    at(timeoutMs, () => settle({ code: "timeout" }));
  }

  // ------------------------------------------------------------------ invariants

  function checkInvariants(node: SimNode): void {
    for (const key of keys) {
      const entry = node.replica.store.get(key);
      const version = entry?.version ?? 0;
      const last = node.lastVersion.get(key) ?? 0;
      if (version < last) fail(`n${node.index}: version of ${key} went back from ${last} to ${version}`);
      node.lastVersion.set(key, version);
      if (entry === null) continue;
      const identity = `tag=${entry.txTag} crc=${entry.valueCrc32} tomb=${entry.tombstone} bytes=${entry.valueBytes}`;
      const slot = `${key}@${version}`;
      const seen = committedAt.get(slot);
      if (seen === undefined) committedAt.set(slot, identity);
      else if (seen !== identity) fail(`two different values committed at ${slot}: ${seen} vs ${identity} (n${node.index})`);
    }
  }

  // ------------------------------------------------------------------ node-side resolution

  function scan(node: SimNode): void {
    if (node.pausedUntilMs <= now) {
      const expired = node.replica.takeExpiredLocks(now, 8);
      for (const lock of expired) resolve(node, lock.key, lock.txId);
    }
    at(SCAN_MS, () => scan(node));
  }

  function resolve(node: SimNode, key: Buffer, txId: Buffer): void {
    const others = nodes.filter((n) => n.index !== node.index).map((n) => n.index);
    const name = `n${node.index}`;
    log(`${name} resolving ${key.toString()} tx=${hex(txId)}`);
    let pending = others.length;
    let answered = 0;
    let committedVersion = 0;
    for (const index of others) {
      rpc(name, index, { kind: "txStatus", key, txId }, RESOLVE_RPC_TIMEOUT_MS, () => true, (reply) => {
        if (reply.code === ResultCode.RESULT_CODE_OK) {
          answered++;
          const body = reply.body as { state: TxState; version: number };
          if (body.state === TxState.TX_STATE_COMMITTED) committedVersion = body.version;
        }
        if (--pending > 0) return;
        if (committedVersion > 0) {
          const local = node.replica.commit({ key, txId, version: committedVersion, resolution: true });
          resolutions.commit++;
          log(`${name} resolved ${key.toString()} tx=${hex(txId)} commit v=${committedVersion} local=${ResultCode[local.code]}`);
          checkInvariants(node);
          for (const o of others) rpc(name, o, { kind: "commit", key, txId, version: committedVersion, resolution: true }, RESOLVE_RPC_TIMEOUT_MS, () => true, () => undefined);
          return;
        }
        if (answered < others.length) {
          resolutions.retry++;
          log(`${name} resolution of tx=${hex(txId)} undecided (${answered}/${others.length} answered)`);
          node.replica.resolutionFailed(key, txId, now, RESOLVE_RETRY_MS);
          return;
        }
        resolutions.abort++;
        node.replica.abort({ key, txId });
        log(`${name} resolved ${key.toString()} tx=${hex(txId)} abort`);
        for (const o of others) rpc(name, o, { kind: "abort", key, txId }, RESOLVE_RPC_TIMEOUT_MS, () => true, () => undefined);
      });
    }
  }

  // ------------------------------------------------------------------ clients

  const clients: Client[] = [];
  const backoffMs = (attempt: number): number => {
    const ceiling = Math.min(EC_BACKOFF_MS_MAX, EC_BACKOFF_MS_MIN * 2 ** Math.min(attempt, 10));
    return EC_BACKOFF_MS_MIN + Math.floor(random.next() * ceiling);
  };

  function newClient(slot: number, incarnation: number): Client {
    const client: Client = { slot, incarnation, id: `c${slot}.${incarnation}`, txCounter: 0, busy: false, op: null, alive: true };
    clients[slot] = client;
    return client;
  }

  function crash(client: Client, where: string): void {
    if (!client.alive) return;
    client.alive = false;
    counts.crashes++;
    log(`${client.id} CRASH ${where}`);
    if (client.op !== null) {
      if (client.op.kind === "get") recorder.fail(client.op.handle);
      else recorder.unknown(client.op.handle);
    }
    const next = newClient(client.slot, client.incarnation + 1);
    at(1 + random.int(30), () => nextOp(next));
  }

  function finishOp(client: Client, outcome: "ok" | "fail" | "unknown", result?: string | null): void {
    const op = client.op!;
    client.op = null;
    log(`${client.id} ${op.kind} ${op.key} -> ${outcome}${result !== undefined ? ` ${JSON.stringify(result)}` : ""}`);
    if (outcome === "ok") {
      if (op.kind === "get") recorder.ok(op.handle, result ?? null);
      else recorder.ok(op.handle);
    } else if (outcome === "fail") recorder.fail(op.handle);
    else recorder.unknown(op.handle);
    at(random.int(THINK_MS_MAX + 1), () => nextOp(client));
  }

  function nextOp(client: Client): void {
    if (!client.alive || !workload) return;
    const key = keys[random.int(keys.length)];
    const dice = random.next();
    if (dice < readRatio) {
      client.op = { handle: recorder.invoke(client.id, { kind: "get", key }), kind: "get", key };
      log(`${client.id} invoke get ${key}`);
      read(client, key, (result) => (result.kind === "ok" ? finishOp(client, "ok", result.value) : finishOp(client, "fail")));
      return;
    }
    const tombstone = dice >= readRatio + ((1 - readRatio) * 5) / 6;
    let value = "";
    if (!tombstone) {
      value = `${client.id}-${client.txCounter + 1}`;
      const pad = random.int(4) === 0 ? 40 + random.int(120) : random.int(10);
      value += ".".repeat(pad);
      written.get(key)!.add(value);
    }
    client.op = tombstone
      ? { handle: recorder.invoke(client.id, { kind: "del", key }), kind: "del", key }
      : { handle: recorder.invoke(client.id, { kind: "set", key, value }), kind: "set", key };
    log(`${client.id} invoke ${tombstone ? "del" : "set"} ${key} ${JSON.stringify(value)}`);
    write(client, key, tombstone ? null : Buffer.from(value, "utf8"));
  }

  function write(client: Client, keyString: string, value: Buffer | null): void {
    const key = Buffer.from(keyString, "latin1");
    const bytes = value ?? Buffer.alloc(0);
    const layout: Layout = { valueBytes: bytes.length, blockBytes: BLOCK_BYTES, dataShards: K, parityShards: M };
    const blobs = value === null ? null : encodeBlobs(codec, layout, bytes);
    const valueCrc32 = crc32(bytes);
    const alive = (): boolean => client.alive;
    let commitSent = false;

    const attempt = (n: number): void => {
      if (!client.alive) return;
      const txId = Buffer.alloc(16);
      txId.writeUInt32BE(client.slot, 0);
      txId.writeUInt32BE(client.incarnation, 4);
      txId.writeDoubleBE(++client.txCounter, 8);
      let pending = N;
      let refused = 0;
      let version = 0;
      for (let i = 0; i < N; i++) {
        const blob = blobs === null ? Buffer.alloc(0) : blobs[i];
        const req: Request = {
          kind: "prepare",
          key,
          txId,
          shardIndex: i,
          layout: { ...layout, valueCrc32 },
          tombstone: value === null,
          shardCrc32: blobs === null ? 0 : crc32(blob),
          data: blob,
        };
        rpc(client.id, i, req, RPC_TIMEOUT_MS, alive, (reply) => {
          if (reply.code === ResultCode.RESULT_CODE_OK) {
            version = Math.max(version, (reply.body as { committedVersion: number }).committedVersion);
          } else refused++;
          if (--pending > 0) return;
          if (refused > 0) {
            abortAll(txId, () => retry(n, `prepare refused/timed out on ${refused}`));
            return;
          }
          if (faults && random.next() < crashRate) return crash(client, `after prepare tx=${hex(txId)}`);
          commitAll(n, txId, version + 1);
        });
      }
    };

    const abortAll = (txId: Buffer, then: () => void): void => {
      let pending = N;
      for (let i = 0; i < N; i++) {
        rpc(client.id, i, { kind: "abort", key, txId }, RPC_TIMEOUT_MS, alive, () => {
          if (--pending === 0) then();
        });
      }
    };

    const retry = (n: number, reason: string): void => {
      if (n >= WRITE_ATTEMPTS_MAX) {
        log(`${client.id} write gives up: ${reason}`);
        finishOp(client, commitSent ? "unknown" : "fail");
        return;
      }
      at(backoffMs(n), () => attempt(n + 1));
    };

    const commitAll = (n: number, txId: Buffer, version: number): void => {
      const crashAfter = faults && random.next() < crashRate ? random.int(N) : -1;
      let acknowledged = 0;
      let refused = 0;
      let answered = 0;
      let settled = false;
      const need = broken ? 1 : K;
      for (let i = 0; i < N; i++) {
        if (i === crashAfter) return crash(client, `mid-commit tx=${hex(txId)} after ${i} EcCommits`);
        commitSent = true;
        rpc(client.id, i, { kind: "commit", key, txId, version, resolution: false }, RPC_TIMEOUT_MS, alive, (reply) => {
          answered++;
          if (reply.code === ResultCode.RESULT_CODE_OK) acknowledged++;
          else if (reply.code !== "timeout") refused++;
          if (settled) return;
          if (acknowledged >= need) {
            settled = true;
            finishOp(client, "ok");
          } else if (answered === N) {
            settled = true;
            // As client.ts: retry only when every node refused outright; a timeout may hide a
            // commit whose reply was lost, so that is an unknown outcome.
            if (refused === N) {
              log(`${client.id} EcCommit v=${version} refused everywhere; abort and retry`);
              abortAll(txId, () => retry(n, "EcCommit refused by every node"));
            } else {
              log(`${client.id} write outcome unknown: ${acknowledged} acks of v=${version}`);
              finishOp(client, "unknown");
            }
          }
        });
      }
    };

    attempt(1);
  }

  type ReadResult = { kind: "ok"; value: string | null; version: number } | { kind: "fail" };

  function read(client: Client, keyString: string, done: (result: ReadResult) => void): void {
    const key = Buffer.from(keyString, "latin1");
    const alive = (): boolean => client.alive;
    const attempt = (n: number): void => {
      if (!client.alive) return;
      const coordinator = new EcReadCoordinator(N, K);
      let settled = false;
      const ask = (index: number): void => {
        coordinator.markAsked(index);
        rpc(client.id, index, { kind: "get", key }, RPC_TIMEOUT_MS, alive, (reply) => {
          if (reply.code === ResultCode.RESULT_CODE_OK) coordinator.onReply(index, reply.body as EcGetReply);
          else coordinator.onFailure(index, reply.code === "timeout" ? "timeout" : ResultCode[reply.code]);
          step();
        });
      };
      const step = (): void => {
        if (settled) return;
        const decision = coordinator.decide();
        if (decision.kind === "wait") return;
        if (decision.kind === "expand") {
          for (const index of coordinator.notAsked()) ask(index);
          return;
        }
        settled = true;
        finish(decision);
      };
      const finish = (decision: ReadDecision): void => {
        switch (decision.kind) {
          case "absent":
            return done({ kind: "ok", value: null, version: decision.version });
          case "fail":
            log(`${client.id} read fails: ${decision.reason}`);
            return done({ kind: "fail" });
          case "retry":
            return again(n, decision.reason);
          case "decode": {
            const first = coordinator.reply(decision.nodes[0])!;
            const l = first.layout!;
            const layout: Layout = { valueBytes: l.valueBytes, blockBytes: l.blockBytes, dataShards: l.dataShards, parityShards: l.parityShards };
            const size = blobBytes(layout);
            const blobs: Array<Buffer | null> = new Array(N).fill(null);
            for (const index of decision.nodes) {
              const reply = coordinator.reply(index)!;
              if (reply.shardBytes !== size || reply.layout?.valueCrc32 !== l.valueCrc32) {
                // client.ts throws CorruptShardError here: the read fails.
                log(`${client.id} read: shard metadata disagrees at v=${decision.version}`);
                return done({ kind: "fail" });
              }
              blobs[index] = reply.data;
            }
            const value = decodeValue(codec, layout, blobs);
            if (crc32(value) !== l.valueCrc32 >>> 0) return again(n, `decoded v=${decision.version} failed its checksum`);
            const text = value.toString("utf8");
            if (!written.get(keyString)!.has(text)) fail(`read of ${keyString} returned bytes no write wrote: ${JSON.stringify(text)}`);
            return done({ kind: "ok", value: text, version: decision.version });
          }
        }
      };
      for (let i = 0; i < K; i++) ask(i);
    };
    const again = (n: number, reason: string): void => {
      if (n >= READ_ATTEMPTS_MAX) {
        log(`${client.id} read did not settle: ${reason}`);
        return done({ kind: "fail" });
      }
      at(backoffMs(n), () => attempt(n + 1));
    };
    attempt(1);
  }

  // ------------------------------------------------------------------ faults

  function nemesis(): void {
    if (!faults) return;
    const dice = random.next();
    if (pausesOn && dice < pauseRate) {
      const node = nodes[random.int(N)];
      if (node.pausedUntilMs <= now) {
        const hold = 20 + random.int(250);
        node.pausedUntilMs = now + hold;
        counts.pauses++;
        log(`n${node.index} PAUSE for ${hold} ms`);
      }
    } else if (dice < pauseRate + 0.25) {
      const client = clients[random.int(clients.length)];
      if (client.op !== null) crash(client, "at a random time");
    }
    at(20 + random.int(120), nemesis);
  }

  // ------------------------------------------------------------------ run

  let eventCount = 0;
  const runUntil = (untilMs: number, stop?: () => boolean): void => {
    for (;;) {
      if (stop !== undefined && stop()) return;
      const event = queue.pop();
      if (event === undefined) return;
      if (event.atMs > untilMs) {
        queue.push(event.atMs, event.run);
        now = untilMs;
        return;
      }
      now = event.atMs;
      event.run();
      if (++eventCount > EVENTS_MAX) fail(`more than ${EVENTS_MAX} events`);
    }
  };

  for (const node of nodes) at(random.int(SCAN_MS), () => scan(node));
  for (let slot = 0; slot < clientCount; slot++) {
    const client = newClient(slot, 0);
    at(random.int(THINK_MS_MAX), () => nextOp(client));
  }
  at(50 + random.int(100), nemesis);

  runUntil(durationMs);
  // Settle: no more faults, no new ops; let in-flight ops finish and leases resolve.
  faults = false;
  workload = false;
  log("SETTLE");
  for (const node of nodes) node.pausedUntilMs = Math.min(node.pausedUntilMs, now);
  runUntil(now + 20 * LEASE_MS, () => clients.every((c) => c.op === null));
  if (clients.some((c) => c.op !== null)) fail("a client operation did not finish within the settle phase");
  runUntil(now + 4 * LEASE_MS);
  const lockedAtEnd = nodes.reduce((sum, node) => sum + keys.filter((k) => node.replica.isLocked(k)).length, 0);
  if (lockedAtEnd > 0) {
    fail(`${lockedAtEnd} lock(s) still held after the settle phase: ` +
      nodes.map((n) => `n${n.index}:[${keys.filter((k) => n.replica.isLocked(k)).join(",")}]`).join(" "));
  }

  // Final read of every key by a fresh client.
  const reader = newClient(clientCount, 0);
  reader.id = "final";
  for (const key of keys) {
    reader.op = { handle: recorder.invoke("final", { kind: "get", key }), kind: "get", key };
    log(`final invoke get ${key}`);
    let result: ReadResult | null = null;
    read(reader, key, (r) => (result = r));
    runUntil(now + 10_000, () => result !== null);
    const r = result as ReadResult | null;
    if (r === null || r.kind !== "ok") fail(`final read of ${key} did not succeed`);
    const value = (r as { value: string | null }).value;
    recorder.ok(reader.op.handle, value);
    log(`final get ${key} -> ${JSON.stringify(value)}`);
    reader.op = null;
  }

  const history = recorder.history();
  const check = checkHistory(history, { stepsMaxPerKey: 2_000_000 });
  log(`check ${check.ok ? "ok" : check.inconclusive ? "inconclusive" : "VIOLATION"}`);
  if (!check.ok) fail(check.message);
  const tally = { ok: 0, fail: 0, unknown: 0 };
  for (const op of history) tally[op.status]++;
  return {
    seed,
    history,
    check,
    transcriptHash: hash.digest("hex"),
    counts: tally,
    crashes: counts.crashes,
    pauses: counts.pauses,
    resolutions,
    eventCount,
    simulatedMs: now,
    lockedAtEnd,
    transcript: options.keepTranscript ? transcript : undefined,
  };
}
