// A small Redis client over node:net: RESP2 encoding and an incremental reply parser, one
// connection, pipelined (every command is written at once; replies are matched in order).
//
// Why our own: no Redis client is among this project's dependencies, and the bench needs
// only GET/SET/DEL/INFO/DBSIZE/WAIT/PING. Everything is bounded: commands in flight
// (PENDING_MAX), one reply line (LINE_BYTES_MAX), one bulk string (BULK_BYTES_MAX), array
// length and nesting. A command that passes its deadline fails and resets the connection:
// with in-order replies there is no way to skip just its answer. The next command
// reconnects (bounded by the same deadline).
import net from "node:net";
import { VALUE_BYTES_MAX } from "../../core/limits";

export const PENDING_MAX = 65_536;
export const LINE_BYTES_MAX = 64 * 1024;
export const BULK_BYTES_MAX = VALUE_BYTES_MAX + 1024 * 1024;
export const ARRAY_LENGTH_MAX = 1_000_000;
export const ARRAY_DEPTH_MAX = 8;
const SWEEP_PERIOD_MS = 50;

export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisReplyError";
  }
}

export class RedisProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisProtocolError";
  }
}

export class RedisConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisConnectionError";
  }
}

export type RespValue = string | number | Buffer | null | RedisReplyError | RespValue[];

export function encodeCommand(args: ReadonlyArray<string | Buffer | number>): Buffer[] {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === "string" ? Buffer.from(arg) : typeof arg === "number" ? Buffer.from(String(arg)) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return parts;
}

const CRLF = Buffer.from("\r\n");
const INCOMPLETE = Symbol("incomplete");
type Parsed = { value: RespValue; end: number } | { incomplete: typeof INCOMPLETE; need: number };

/**
 * Incremental RESP2 parser. push() chunks as they arrive; values come out in order. A large
 * bulk string is not re-concatenated on every chunk: the parser remembers how many bytes
 * it needs and waits until they are there.
 */
export class RespParser {
  private buffer: Buffer = Buffer.alloc(0);
  private offset = 0;
  private readonly chunks: Buffer[] = [];
  private chunkBytes = 0;
  private need = 1;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
  }

  /** Every complete value so far; throws RedisProtocolError on malformed input. */
  drain(): RespValue[] {
    const values: RespValue[] = [];
    if (this.buffer.length - this.offset + this.chunkBytes < this.need) return values;
    if (this.chunks.length > 0) {
      this.buffer = Buffer.concat([this.buffer.subarray(this.offset), ...this.chunks]);
      this.offset = 0;
      this.chunks.length = 0;
      this.chunkBytes = 0;
    }
    while (this.offset < this.buffer.length) {
      const parsed = parseAt(this.buffer, this.offset, 0);
      if ("incomplete" in parsed) {
        this.need = parsed.need;
        break;
      }
      values.push(parsed.value);
      this.offset = parsed.end;
      this.need = 1;
    }
    if (this.offset >= this.buffer.length) {
      this.buffer = Buffer.alloc(0);
      this.offset = 0;
    }
    return values;
  }
}

function parseAt(buffer: Buffer, start: number, depth: number): Parsed {
  const available = buffer.length - start;
  if (available < 3) return { incomplete: INCOMPLETE, need: available + 1 };
  const lineEnd = buffer.indexOf(CRLF, start + 1);
  if (lineEnd < 0) {
    if (available > LINE_BYTES_MAX) throw new RedisProtocolError(`reply line longer than ${LINE_BYTES_MAX} bytes`);
    return { incomplete: INCOMPLETE, need: available + 1 };
  }
  const type = buffer[start];
  const line = buffer.toString("latin1", start + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case 0x2b: // '+'
      return { value: line, end: afterLine };
    case 0x2d: // '-'
      return { value: new RedisReplyError(buffer.toString("utf8", start + 1, lineEnd)), end: afterLine };
    case 0x3a: // ':'
      return { value: parseInteger(line), end: afterLine };
    case 0x24: {
      // '$' bulk string
      const length = parseInteger(line);
      if (length === -1) return { value: null, end: afterLine };
      if (length < 0 || length > BULK_BYTES_MAX) throw new RedisProtocolError(`bulk string of ${length} bytes`);
      const end = afterLine + length + 2;
      if (buffer.length < end) return { incomplete: INCOMPLETE, need: end - start };
      if (buffer[end - 2] !== 0x0d || buffer[end - 1] !== 0x0a) throw new RedisProtocolError("bulk string not followed by CRLF");
      return { value: Buffer.from(buffer.subarray(afterLine, afterLine + length)), end };
    }
    case 0x2a: {
      // '*' array
      const count = parseInteger(line);
      if (count === -1) return { value: null, end: afterLine };
      if (count < 0 || count > ARRAY_LENGTH_MAX) throw new RedisProtocolError(`array of ${count} elements`);
      if (depth >= ARRAY_DEPTH_MAX) throw new RedisProtocolError(`arrays nested deeper than ${ARRAY_DEPTH_MAX}`);
      const items: RespValue[] = [];
      let position = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parseAt(buffer, position, depth + 1);
        if ("incomplete" in item) return { incomplete: INCOMPLETE, need: item.need + (position - start) };
        items.push(item.value);
        position = item.end;
      }
      return { value: items, end: position };
    }
    default:
      throw new RedisProtocolError(`unexpected reply type byte 0x${type.toString(16)}`);
  }
}

function parseInteger(text: string): number {
  if (!/^-?\d+$/.test(text)) throw new RedisProtocolError(`'${text.slice(0, 40)}' is not an integer`);
  return Number(text);
}

interface Pending {
  resolve(value: RespValue): void;
  reject(error: Error): void;
  deadlineMs: number;
}

export interface RedisConnectionOptions {
  host: string;
  port: number;
  /** Deadline of one command, and of connecting. */
  timeoutMs: number;
}

export class RedisConnection {
  private socket: net.Socket | null = null;
  private connecting: Promise<net.Socket> | null = null;
  private readonly pending: Pending[] = [];
  private head = 0;
  private parser = new RespParser();
  private corked = false;
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: RedisConnectionOptions) {}

  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  get inFlight(): number {
    return this.pending.length - this.head;
  }

  /** Sends one command; resolves with its reply (a RedisReplyError reply rejects). */
  async command(args: ReadonlyArray<string | Buffer | number>): Promise<RespValue> {
    if (this.closed) throw new RedisConnectionError(`connection to ${this.address} is closed`);
    if (this.inFlight >= PENDING_MAX) throw new RedisConnectionError(`more than ${PENDING_MAX} commands in flight to ${this.address}`);
    const socket = this.socket ?? (await this.connect());
    if (socket.destroyed) throw new RedisConnectionError(`connection to ${this.address} was lost`);
    const reply = new Promise<RespValue>((resolve, reject) => {
      this.pending.push({ resolve, reject, deadlineMs: performance.now() + this.options.timeoutMs });
    });
    if (!this.corked) {
      // Commands issued in the same event-loop turn leave in one write (pipelining).
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    for (const part of encodeCommand(args)) socket.write(part);
    const value = await reply;
    if (value instanceof RedisReplyError) throw value;
    return value;
  }

  close(): void {
    this.closed = true;
    this.fail(new RedisConnectionError(`connection to ${this.address} closed by the client`));
  }

  private connect(): Promise<net.Socket> {
    if (this.connecting !== null) return this.connecting;
    this.connecting = new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: this.options.host, port: this.options.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RedisConnectionError(`connect to ${this.address} timed out after ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        this.socket = socket;
        this.parser = new RespParser();
        this.startSweeper();
        resolve(socket);
      });
      socket.on("data", (chunk: Buffer) => this.onData(socket, chunk));
      socket.once("error", (error) => {
        clearTimeout(timer);
        reject(new RedisConnectionError(`${this.address}: ${error.message}`));
        this.onSocketGone(socket, new RedisConnectionError(`${this.address}: ${error.message}`));
      });
      socket.once("close", () => this.onSocketGone(socket, new RedisConnectionError(`connection to ${this.address} closed`)));
    }).finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.parser.push(chunk);
    let values: RespValue[];
    try {
      values = this.parser.drain();
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    for (const value of values) {
      if (this.head >= this.pending.length) {
        this.fail(new RedisProtocolError(`reply from ${this.address} with no command waiting`));
        return;
      }
      this.pending[this.head++].resolve(value);
    }
    this.compact();
  }

  private onSocketGone(socket: net.Socket, error: Error): void {
    if (socket !== this.socket) return;
    this.fail(error);
  }

  /** Rejects every command in flight and drops the connection (the next command reconnects). */
  private fail(error: Error): void {
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) socket.destroy();
    const waiting = this.pending.splice(this.head);
    this.pending.length = 0;
    this.head = 0;
    for (const entry of waiting) entry.reject(error);
    if (this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private startSweeper(): void {
    if (this.sweeper !== null) return;
    // One timer per connection, not per command: replies come in order, so the oldest
    // command is the first to pass its deadline.
    this.sweeper = setInterval(() => {
      if (this.head < this.pending.length && this.pending[this.head].deadlineMs < performance.now()) {
        this.fail(new RedisConnectionError(`command to ${this.address} timed out after ${this.options.timeoutMs} ms (connection reset)`));
      }
    }, SWEEP_PERIOD_MS);
    this.sweeper.unref();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** Parses INFO output ("field:value" lines) into a map. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}
