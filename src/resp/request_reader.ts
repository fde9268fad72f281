// Requests of the RESP front door: bytes in, commands (arrays of bulk strings) out, with the
// limits of src/core/limits.ts enforced as the bytes arrive.
//
// The parsing itself is redis-parser (the RESP parser of ioredis 4-5 and node_redis 3; see
// the README's "Redis protocol (RESP)" for why it and not another). It parses replies, which
// are a superset of requests, keeps partial input across chunks, returns bulk strings as
// Buffers (binary safe) and collects a large bulk string's chunks to concatenate them once.
// It has no limits of its own, so this reader checks, after every chunk:
// - a bulk string whose declared length is over RESP_BULK_BYTES_MAX, as soon as its header
//   is in (redis-parser then holds the declared end in `bigStrSize`);
// - an array (a command) with more than RESP_COMMAND_ARGUMENTS_MAX elements, also as soon as
//   its header is in (the array being filled is `arrayCache[0]`);
// - bytes that do not yet form a whole command, against RESP_QUERY_BUFFER_BYTES_MAX;
// - anything that is not a flat array of bulk strings (requests never nest).
// The two redis-parser fields read here are internal, so the dependency is pinned to 3.0.0
// and test/unit/resp_request_reader.test.ts fails if they change meaning.
// Empty lines between commands are skipped, as Redis skips them (redis-cli --pipe sends one
// before its closing ECHO). Not supported: Redis's other inline commands (a line of text
// without the '*' framing); every Redis client and redis-cli send the framed form.
import RedisParser from "redis-parser";
import { RESP_BULK_BYTES_MAX, RESP_COMMAND_ARGUMENTS_MAX, RESP_QUERY_BUFFER_BYTES_MAX } from "../core/limits";

export interface RequestLimits {
  bulkBytesMax: number;
  argumentsMax: number;
  queryBufferBytesMax: number;
}

export const REQUEST_LIMITS_DEFAULT: RequestLimits = {
  bulkBytesMax: RESP_BULK_BYTES_MAX,
  argumentsMax: RESP_COMMAND_ARGUMENTS_MAX,
  queryBufferBytesMax: RESP_QUERY_BUFFER_BYTES_MAX,
};

export interface FeedResult {
  /** Whole commands, in order (each at least one argument, every argument a Buffer). */
  commands: Buffer[][];
  /** A protocol error: the connection must answer it and close. Commands before it are valid. */
  protocolError: string | null;
}

/** redis-parser's internal state that the limits need (see the header). */
interface ParserInternals {
  offset: number;
  bigStrSize: number;
  arrayCache: unknown[][];
  buffer: Buffer | null;
}

export class RequestReader {
  private readonly parser: RedisParser;
  private readonly internals: ParserInternals;
  private completed: Buffer[][] = [];
  private failure: string | null = null;
  /** Upper bound of the bytes received that belong to the command not yet complete. */
  private partialBytes = 0;
  /** When the incomplete command's first byte arrived (ms, caller's clock); null: none. */
  private partialSinceMs: number | null = null;
  /** Offset in redis-parser's current buffer where the next command starts (-1: unknown). */
  private boundaryOffset = -1;
  /** Bytes of redis-parser's current buffer that precede the chunk being fed. */
  private leftoverBytes = 0;
  /** Set when the parser met an empty line at a command boundary: where it is in the chunk. */
  private emptyLineAt = -1;

  constructor(private readonly limits: RequestLimits = REQUEST_LIMITS_DEFAULT) {
    this.parser = new RedisParser({
      returnBuffers: true,
      returnReply: (reply: unknown) => this.onReply(reply),
      // A top-level '-' line: a client never sends one.
      returnError: () => this.fail("Protocol error: expected '*', got '-'"),
      returnFatalError: (error: Error) => this.onFatal(error),
    });
    this.internals = this.parser as unknown as ParserInternals;
  }

  /** Feeds one chunk received at `nowMs`. After a protocol error, feed no more. */
  feed(chunk: Buffer, nowMs: number): FeedResult {
    if (this.failure !== null) return { commands: [], protocolError: this.failure };
    this.completed = [];
    let rest: Buffer | null = chunk;
    let completedBefore = false;
    while (rest !== null && rest.length > 0 && this.failure === null) {
      const piece: Buffer = rest;
      rest = null;
      const internals = this.internals;
      const idle = internals.buffer === null && internals.bigStrSize === 0 && internals.arrayCache.length === 0;
      // Where redis-parser's offsets will point during this execute (see onFatal).
      this.leftoverBytes = internals.buffer !== null && internals.bigStrSize === 0 ? internals.buffer.length - internals.offset : 0;
      this.boundaryOffset = idle ? 0 : -1;
      this.emptyLineAt = -1;
      const countBefore = this.completed.length;
      try {
        this.parser.execute(piece);
      } catch (error) {
        // e.g. `new Array(length)` of an absurd array header throws a RangeError.
        this.fail(error instanceof RangeError ? "Protocol error: invalid multibulk length" : `Protocol error: ${(error as Error).message}`);
      }
      if (this.emptyLineAt >= 0) {
        // An empty line between commands: drop it and parse on from the next byte.
        let next = this.emptyLineAt;
        while (next < piece.length && (piece[next] === 13 || piece[next] === 10)) next += 1;
        this.parser.reset();
        completedBefore ||= this.completed.length > countBefore;
        rest = piece.subarray(next);
        if (rest.length === 0) this.checkPartial(0, true, nowMs);
        continue;
      }
      if (this.failure === null) this.checkPartial(piece.length, completedBefore || this.completed.length > countBefore, nowMs);
    }
    const commands = this.completed;
    this.completed = [];
    return { commands, protocolError: this.failure };
  }

  /**
   * redis-parser met a byte that starts no RESP type. At a command boundary a CR or LF is an
   * empty line, which Redis skips: note where, so feed() goes on after it. Anything else is a
   * protocol error. When this is called, redis-parser's offset is one past the byte, in its
   * buffer: the chunk, preceded by `leftoverBytes` of an incomplete command.
   */
  private onFatal(error: Error): void {
    const at = this.internals.offset - 1;
    const text = protocolErrorText(error.message);
    if (at === this.boundaryOffset && /got '\\x0[ad]'$/.test(text) && at >= this.leftoverBytes) {
      this.emptyLineAt = at - this.leftoverBytes;
      return;
    }
    this.fail(text);
  }

  /** How long the incomplete command has been arriving; null when there is none. */
  partialAgeMs(nowMs: number): number | null {
    return this.partialSinceMs === null ? null : nowMs - this.partialSinceMs;
  }

  private checkPartial(chunkBytes: number, commandCompleted: boolean, nowMs: number): void {
    const internals = this.internals;
    const pending = internals.buffer !== null || internals.bigStrSize > 0 || internals.arrayCache.length > 0;
    if (!pending) {
      this.partialBytes = 0;
      this.partialSinceMs = null;
      return;
    }
    if (commandCompleted || this.partialSinceMs === null) {
      // The incomplete command began within this chunk.
      this.partialBytes = chunkBytes;
      this.partialSinceMs = nowMs;
    } else {
      this.partialBytes += chunkBytes;
    }
    if (internals.bigStrSize > 0 && internals.bigStrSize - internals.offset - 2 > this.limits.bulkBytesMax) {
      this.fail("Protocol error: invalid bulk length");
      return;
    }
    if (internals.arrayCache.length > 1) {
      this.fail("Protocol error: expected '$', got '*'");
      return;
    }
    if (internals.arrayCache.length === 1 && internals.arrayCache[0].length > this.limits.argumentsMax) {
      this.fail("Protocol error: invalid multibulk length");
      return;
    }
    if (this.partialBytes > this.limits.queryBufferBytesMax) {
      this.fail(`Protocol error: query buffer of ${this.partialBytes} bytes is over the limit of ${this.limits.queryBufferBytesMax} bytes`);
    }
  }

  private onReply(reply: unknown): void {
    if (this.failure !== null) return;
    if (reply === null || (Array.isArray(reply) && reply.length === 0)) {
      // "*-1" and "*0": Redis ignores a null or empty multibulk
      this.boundaryOffset = this.internals.offset;
      return;
    }
    if (!Array.isArray(reply)) {
      this.fail("Protocol error: expected '*' (an array of bulk strings; inline commands are not supported)");
      return;
    }
    if (reply.length > this.limits.argumentsMax) {
      this.fail("Protocol error: invalid multibulk length");
      return;
    }
    for (const argument of reply) {
      if (!Buffer.isBuffer(argument)) {
        this.fail(`Protocol error: expected '$', got ${Array.isArray(argument) ? "'*'" : argument === null ? "a null bulk string" : "'+' or ':'"}`);
        return;
      }
      if (argument.length > this.limits.bulkBytesMax) {
        this.fail("Protocol error: invalid bulk length");
        return;
      }
    }
    this.completed.push(reply as Buffer[]);
    this.boundaryOffset = this.internals.offset;
  }

  private fail(message: string): void {
    if (this.failure === null) this.failure = message;
  }
}

/** redis-parser says `Protocol error, got "h" as reply type byte`; Redis says `Protocol error: expected '*', got 'h'`. */
function protocolErrorText(parserMessage: string): string {
  const match = /got "(.*)" as reply type byte/.exec(parserMessage);
  if (match === null) return `Protocol error: ${parserMessage}`;
  let byte: string;
  try {
    byte = JSON.parse(`"${match[1]}"`) as string;
  } catch {
    byte = "?"; // an escape JSON cannot read back: name no byte rather than a wrong one
  }
  const printable = /^[\x21-\x7e]$/.test(byte) ? byte : `\\x${byte.charCodeAt(0).toString(16).padStart(2, "0")}`;
  return `Protocol error: expected '*', got '${printable}'`;
}
