// RespServer: the Redis protocol port of a node (node:net). Per connection it reads
// commands (request_reader.ts: redis-parser plus our limits), schedules them (pipeline.ts:
// concurrent across keys, in order on a key), runs them through the command table
// (commands.ts) against the mode's backend, and writes the replies in arrival order, encoded
// in the connection's protocol (reply.ts). Everything here is I/O and bookkeeping; what a
// command means lives in commands.ts, what may run when in pipeline.ts.
//
// Limits (src/core/limits.ts): connections per node, commands in flight per connection
// (reading pauses beyond), reply bytes queued per connection (reading pauses until the
// client reads), the partial-command deadline (slowloris), and the reader's own. A protocol
// error is answered as Redis answers it ("-ERR Protocol error: ...") and the connection is
// closed after the replies before it; the node keeps serving everyone else.
import net from "node:net";
import tls from "node:tls";
import { randomBytes } from "node:crypto";
import { ConfigError, UnavailableError, errorMessage } from "../core/errors";
import { Logger } from "../core/logger";
import { RESP_COMMANDS_RUNNING_MAX, RESP_CONNECTIONS_MAX, RESP_OUTPUT_BYTES_HIGH, RESP_PARTIAL_COMMAND_MS_MAX, RESP_PIPELINE_COMMANDS_MAX } from "../core/limits";
import { parseAddress } from "../core/address";
import { RespBackend } from "./backend";
import { CommandContext, CommandResult, ConnectionState, ServerFacts, prepareCommand, refusedUnauthenticated } from "./commands";
import { PipelineScheduler } from "./pipeline";
import { Protocol, encodeReply, error } from "./reply";
import { REQUEST_LIMITS_DEFAULT, RequestLimits, RequestReader } from "./request_reader";

/**
 * ECC_CACHE_RESP_PARTIAL_COMMAND_MS: a shorter slowloris deadline for a node (tests use it to
 * see the deadline fire without waiting RESP_PARTIAL_COMMAND_MS_MAX); never a longer one.
 */
export const PARTIAL_COMMAND_MS_ENV = "ECC_CACHE_RESP_PARTIAL_COMMAND_MS";

export function partialCommandMsFromEnv(env: NodeJS.ProcessEnv): number {
  const text = env[PARTIAL_COMMAND_MS_ENV];
  if (text === undefined || text === "") return RESP_PARTIAL_COMMAND_MS_MAX;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 50 || value > RESP_PARTIAL_COMMAND_MS_MAX) {
    throw new ConfigError(`${PARTIAL_COMMAND_MS_ENV}: expected a whole number of ms from 50 to ${RESP_PARTIAL_COMMAND_MS_MAX}, got '${text}'`);
  }
  return value;
}

export interface RespServerOptions {
  backend: RespBackend;
  logger: Logger;
  connectionsMax?: number;
  partialCommandMsMax?: number;
  pipelineCommandsMax?: number;
  requestLimits?: RequestLimits;
  /** The node's token (src/core/auth_token.ts): connections must AUTH first. Null or absent: no auth. */
  auth?: { matches(password: Buffer): boolean } | null;
  /** Called once per command answered: its name, whether the reply was an error, and when it arrived (performance.now()). */
  onCommand?: (name: string, failed: boolean, startedMs: number) => void;
  /** Serve TLS (as Redis's tls-port) with these options (src/transport/tls.ts); unset: plaintext. */
  tls?: tls.TlsOptions;
}

/** A TLS client gets this long to finish its handshake: a stalled one must not hold a socket for Node's default 120 s. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * RESP commands in the node's metrics (src/frontdoor/metrics.ts), as operations named
 * resp_<command> with result ok or error: ecc_cache_op_duration_seconds{command="resp_get"}
 * and the per-result counts beside it. Unknown commands count as resp_unknown.
 */
export function respMetrics(sink: { opDone(command: string, result: string, startedMs: number): void } | undefined): RespServerOptions["onCommand"] {
  if (sink === undefined) return undefined;
  return (name, failed, startedMs) => sink.opDone(`resp_${name}`, failed ? "error" : "ok", startedMs);
}

interface Slot {
  result: CommandResult | null;
  /** performance.now() when the command arrived (metrics). */
  startedMs: number;
}

/**
 * A node's RESP port, as `server startOne` of either mode opens it: `backend` behind a
 * RespServer listening at `listenAt`, with the node's token and TLS (clients must show a
 * certificate from the cluster CA when peer TLS is mutual), commands counted in the node's
 * metrics. Closing it closes the server, then the backend; a failed listen closes the
 * backend and throws.
 */
export async function startNodeRespServer(options: {
  backend: RespBackend;
  listenAt: string;
  logger: Logger;
  metrics: { opDone(command: string, result: string, startedMs: number): void } | undefined;
  auth: RespServerOptions["auth"];
  tls: import("../transport/tls_settings").NodeTlsSettings | undefined;
}): Promise<{ close(): Promise<void> }> {
  const { backend, logger } = options;
  const tls = options.tls === undefined ? undefined : (await import("../transport/tls")).tlsServerOptions(options.tls, options.tls.peerTls === "mutual");
  const server = new RespServer({ backend, logger, partialCommandMsMax: partialCommandMsFromEnv(process.env), onCommand: respMetrics(options.metrics), auth: options.auth, tls });
  try {
    await server.listen(options.listenAt);
  } catch (error) {
    await backend.close();
    throw error;
  }
  logger.info("resp.listening", { address: server.address });
  return {
    close: async () => {
      await server.close();
      await backend.close();
    },
  };
}

export class RespServer {
  private readonly server: net.Server;
  private readonly connections = new Set<RespConnection>();
  private readonly connectionsMax: number;
  private readonly partialCommandMsMax: number;
  private nextClientId = 1;
  private sweepTimer: NodeJS.Timeout | null = null;
  private boundAddress = "";
  readonly startedAtMs = Date.now();
  readonly runId = randomBytes(20).toString("hex");
  counters = { totalConnections: 0, rejectedConnections: 0, totalCommands: 0, keyspaceHits: 0, keyspaceMisses: 0 };

  constructor(readonly options: RespServerOptions) {
    this.connectionsMax = options.connectionsMax ?? RESP_CONNECTIONS_MAX;
    this.partialCommandMsMax = options.partialCommandMsMax ?? RESP_PARTIAL_COMMAND_MS_MAX;
    this.server =
      options.tls === undefined
        ? net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket))
        : tls.createServer({ ...options.tls, allowHalfOpen: true, noDelay: true, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, (socket) => this.accept(socket));
  }

  /** Listens on host:port; a port in use is an UnavailableError, as for the gRPC port. Returns the port. */
  listen(address: string): Promise<number> {
    const { host, port } = parseAddress(address);
    return new Promise<number>((resolve, reject) => {
      const onError = (cause: NodeJS.ErrnoException): void => {
        const reason = cause.code === "EADDRINUSE" ? "the address is already in use (is another node running on this port?)" : errorMessage(cause);
        reject(new UnavailableError(`cannot listen on ${address} (RESP): ${reason}`, { cause }));
      };
      this.server.once("error", onError);
      this.server.listen({ host: host.replace(/^\[|\]$/g, ""), port, exclusive: true }, () => {
        this.server.off("error", onError);
        const bound = (this.server.address() as net.AddressInfo).port;
        this.boundAddress = `${host}:${bound}`;
        this.sweepTimer = setInterval(() => this.sweep(), Math.max(10, Math.min(1_000, this.partialCommandMsMax / 4)));
        this.sweepTimer.unref();
        resolve(bound);
      });
    });
  }

  get address(): string {
    return this.boundAddress;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    for (const connection of this.connections) connection.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  facts(): ServerFacts {
    return {
      startedAtMs: this.startedAtMs,
      address: this.boundAddress,
      connectedClients: this.connections.size,
      maxClients: this.connectionsMax,
      totalConnections: this.counters.totalConnections,
      rejectedConnections: this.counters.rejectedConnections,
      totalCommands: this.counters.totalCommands,
      keyspaceHits: this.counters.keyspaceHits,
      keyspaceMisses: this.counters.keyspaceMisses,
      runId: this.runId,
    };
  }

  private accept(socket: net.Socket): void {
    this.counters.totalConnections += 1;
    if (this.connections.size >= this.connectionsMax) {
      this.counters.rejectedConnections += 1;
      socket.on("error", () => undefined); // the client may be gone already; nothing to tell it
      socket.end("-ERR max number of clients reached\r\n");
      return;
    }
    const connection = new RespConnection(this, socket, this.nextClientId++);
    this.connections.add(connection);
    socket.once("close", () => this.connections.delete(connection));
  }

  /** Closes connections whose incomplete command is older than the deadline. */
  private sweep(): void {
    const nowMs = performance.now();
    for (const connection of this.connections) connection.checkDeadline(nowMs, this.partialCommandMsMax);
  }
}

class RespConnection {
  private readonly reader: RequestReader;
  private readonly scheduler = new PipelineScheduler();
  private readonly state: ConnectionState;
  private readonly context: CommandContext;
  /** Replies in arrival order; the head is written once it has its result. */
  private readonly slots: Slot[] = [];
  private slotsHead = 0;
  /** Commands admitted and waiting for their turn (pipeline.ts), by scheduler id. */
  private readonly waiting = new Map<number, { slot: Slot; run: (context: CommandContext) => Promise<CommandResult> | CommandResult; name: string }>();
  /** Commands the scheduler let go that wait for a running slot (RESP_COMMANDS_RUNNING_MAX), in order. */
  private readonly ready: Array<{ id: number; slot: Slot; run: (context: CommandContext) => Promise<CommandResult> | CommandResult; name: string }> = [];
  private readyHead = 0;
  private running = 0;
  private flushScheduled = false;
  /** No more commands are read (QUIT, a protocol error, the client half-closed). */
  private readingDone = false;
  private closeAfterFlush = false;
  private pausedForPipeline = false;
  private pausedForOutput = false;
  private destroyed = false;

  constructor(
    private readonly server: RespServer,
    private readonly socket: net.Socket,
    id: number,
  ) {
    const options = server.options;
    this.reader = new RequestReader(options.requestLimits ?? REQUEST_LIMITS_DEFAULT);
    this.state = {
      id,
      name: null,
      protocol: 2,
      libName: "",
      libVersion: "",
      remoteAddress: `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`,
      authenticated: options.auth === undefined || options.auth === null,
    };
    this.context = {
      backend: options.backend,
      connection: this.state,
      auth: options.auth ?? null,
      get server() {
        return server.facts();
      },
      nowMs: () => Date.now(),
      countLookup: (hit) => {
        if (hit) server.counters.keyspaceHits += 1;
        else server.counters.keyspaceMisses += 1;
      },
    };
    socket.setKeepAlive(true, 60_000);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => {
      // The client half-closed: answer what it sent, then close our side.
      this.readingDone = true;
      this.closeAfterFlush = true;
      this.maybeEnd();
    });
    socket.on("drain", () => {
      if (this.pausedForOutput) {
        this.pausedForOutput = false;
        this.resumeIfIdle();
      }
    });
    socket.on("error", (cause) => {
      options.logger.debug("resp.connection_error", { client: id, message: errorMessage(cause) });
      this.destroy();
    });
    socket.on("close", () => {
      this.destroyed = true;
    });
  }

  destroy(): void {
    this.destroyed = true;
    this.readingDone = true;
    this.socket.destroy();
  }

  checkDeadline(nowMs: number, partialCommandMsMax: number): void {
    if (this.readingDone) return;
    const ageMs = this.reader.partialAgeMs(nowMs);
    if (ageMs !== null && ageMs > partialCommandMsMax) {
      this.server.options.logger.info("resp.partial_command_timeout", { client: this.state.id, ageMs: Math.round(ageMs) });
      this.protocolError(`Protocol error: a command was still incomplete after ${partialCommandMsMax} ms`);
    }
  }

  private onData(chunk: Buffer): void {
    if (this.readingDone) return;
    const { commands, protocolError } = this.reader.feed(chunk, performance.now());
    for (const args of commands) {
      if (this.readingDone) break;
      this.admit(args);
    }
    if (protocolError !== null && !this.readingDone) this.protocolError(protocolError);
    if (!this.readingDone && this.scheduler.size >= (this.server.options.pipelineCommandsMax ?? RESP_PIPELINE_COMMANDS_MAX)) {
      this.pausedForPipeline = true;
      this.socket.pause();
    }
  }

  private admit(args: Buffer[]): void {
    const parsed = prepareCommand(args);
    const prepared = parsed.needsAuth && !this.state.authenticated ? refusedUnauthenticated(parsed) : parsed;
    const slot: Slot = { result: null, startedMs: performance.now() };
    this.slots.push(slot);
    if (prepared.name === "quit") this.readingDone = true;
    const { id, start } = this.scheduler.admit(prepared.access);
    if (start) this.run(id, slot, prepared.run, prepared.name);
    else this.waiting.set(id, { slot, run: prepared.run, name: prepared.name });
  }

  private run(id: number, slot: Slot, run: (context: CommandContext) => Promise<CommandResult> | CommandResult, name: string): void {
    if (this.running >= RESP_COMMANDS_RUNNING_MAX) {
      this.ready.push({ id, slot, run, name });
      return;
    }
    this.running += 1;
    const result = run(this.context);
    if (result instanceof Promise) result.then((done) => this.complete(id, slot, done, name));
    else this.complete(id, slot, result, name);
  }

  private complete(id: number, slot: Slot, result: CommandResult, name: string): void {
    this.running -= 1;
    slot.result = result;
    this.server.counters.totalCommands += 1;
    this.server.options.onCommand?.(name, result.reply.kind === "error", slot.startedMs);
    // Commands already waiting for a running slot go first, then the ones this one held.
    while (this.running < RESP_COMMANDS_RUNNING_MAX && this.readyHead < this.ready.length) {
      const next = this.ready[this.readyHead++];
      this.run(next.id, next.slot, next.run, next.name);
    }
    if (this.readyHead === this.ready.length) {
      this.ready.length = 0;
      this.readyHead = 0;
    }
    for (const next of this.scheduler.finish(id)) {
      const entry = this.waiting.get(next)!;
      this.waiting.delete(next);
      this.run(next, entry.slot, entry.run, entry.name);
    }
    // Every command received has its reply: write them now rather than a turn later (a
    // client waiting for its one reply, -P 1, saves a turn of the event loop). Otherwise
    // the replies ready so far go out together in the next turn.
    if (this.scheduler.size === 0) this.flush();
    else this.scheduleFlush();
  }

  private protocolError(message: string): void {
    this.readingDone = true;
    this.closeAfterFlush = true;
    this.slots.push({ result: { reply: error(`ERR ${message}`), close: true }, startedMs: performance.now() });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes every finished reply at the head of the queue, in one write. */
  private flush(): void {
    if (this.destroyed) return;
    const out: Buffer[] = [];
    while (this.slotsHead < this.slots.length) {
      const result = this.slots[this.slotsHead].result;
      if (result === null) break;
      this.slotsHead += 1;
      if (result.protocol !== undefined) this.state.protocol = result.protocol;
      encodeReply(result.reply, this.state.protocol, out);
      if (result.close === true) {
        this.closeAfterFlush = true;
        this.readingDone = true;
        break;
      }
    }
    if (this.slotsHead > 1024 && this.slotsHead * 2 > this.slots.length) {
      this.slots.splice(0, this.slotsHead);
      this.slotsHead = 0;
    }
    if (out.length > 0) {
      let written: boolean;
      if (out.length === 1) written = this.socket.write(out[0]);
      else {
        this.socket.cork();
        for (const part of out) this.socket.write(part);
        this.socket.uncork();
        written = this.socket.writableLength < RESP_OUTPUT_BYTES_HIGH;
      }
      if (!written && this.socket.writableLength >= RESP_OUTPUT_BYTES_HIGH) {
        this.pausedForOutput = true;
        this.socket.pause();
      }
    }
    this.resumeIfIdle();
    this.maybeEnd();
  }

  private resumeIfIdle(): void {
    if (this.readingDone || this.destroyed) return;
    if (this.pausedForPipeline && this.scheduler.size < (this.server.options.pipelineCommandsMax ?? RESP_PIPELINE_COMMANDS_MAX) / 2) {
      this.pausedForPipeline = false;
    }
    if (!this.pausedForPipeline && !this.pausedForOutput && this.socket.isPaused()) this.socket.resume();
  }

  /** Ends the connection once no reply is owed (after QUIT, a protocol error or the client's half-close). */
  private maybeEnd(): void {
    if (!this.closeAfterFlush || this.destroyed) return;
    const owed = this.slotsHead < this.slots.length && !(this.slots[this.slotsHead - 1]?.result?.close === true);
    if (owed) return;
    this.destroyed = true;
    this.socket.end();
  }
}
