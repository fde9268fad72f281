// Reading command arguments the way Redis does: integers by Redis's string2ll rules (an
// optional '-', digits without a leading zero or '+', within 64 bits), option words without
// regard to case, TTLs checked for 0, negatives and overflow with Redis's own error texts,
// and glob patterns (MATCH, KEYS) with Redis's stringmatch rules.
import { ERR_NOT_INTEGER, errInvalidExpire } from "./errors";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A thrown bad-input reply: commands.ts answers it as the error line it carries. */
export class CommandError extends Error {
  constructor(readonly reply: string) {
    super(reply);
  }
}

/** The argument as a 64-bit integer, or null when Redis would not read it as one. */
export function parseInt64(argument: Buffer): bigint | null {
  if (argument.length === 0 || argument.length > 20) return null;
  const text = argument.toString("latin1");
  if (!/^(0|-?[1-9][0-9]*)$/.test(text)) return null;
  const value = BigInt(text);
  return value < INT64_MIN || value > INT64_MAX ? null : value;
}

/** A 64-bit integer argument, else ERR value is not an integer or out of range. */
export function int64Argument(argument: Buffer): bigint {
  const value = parseInt64(argument);
  if (value === null) throw new CommandError(ERR_NOT_INTEGER);
  return value;
}

/** An integer argument clamped to the safe range (offsets: a value is far shorter than 2^53). */
export function offsetArgument(argument: Buffer): number {
  const value = int64Argument(argument);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(value > max ? max : value < -max ? -max : value);
}

export function word(argument: Buffer): string {
  return argument.toString("latin1").toLowerCase();
}

export type TtlUnit = "s" | "ms";

/**
 * The deadline (epoch ms) of a relative TTL (EX, PX, EXPIRE, PEXPIRE) or an absolute one
 * (EXAT, PXAT, EXPIREAT, PEXPIREAT) as Redis checks it: a non-integer is "not an integer";
 * overflow (of 64 bits, or here of JavaScript's safe integers, 2^53 ms being some 285,000
 * years) is "invalid expire time". 0 and negatives are the caller's to judge: SET refuses
 * them, EXPIRE deletes the key.
 */
export function deadlineMs(argument: Buffer, unit: TtlUnit, absolute: boolean, nowMs: number, command: string): bigint {
  const amount = int64Argument(argument);
  const ms = unit === "s" ? amount * 1000n : amount;
  if (unit === "s" && (amount > INT64_MAX / 1000n || amount < INT64_MIN / 1000n)) throw new CommandError(errInvalidExpire(command));
  const at = absolute ? ms : ms + BigInt(nowMs);
  if (at > BigInt(Number.MAX_SAFE_INTEGER) || at < -BigInt(Number.MAX_SAFE_INTEGER)) throw new CommandError(errInvalidExpire(command));
  return at;
}

/**
 * Redis's glob (stringmatchlen): `*` any run of bytes, `?` one byte, `[abc]`, `[^a]`,
 * `[a-z]`, `\x` the byte x. Compiled once per SCAN or KEYS call to a RegExp over latin1 text,
 * one character per key byte.
 */
export function globMatcher(pattern: Buffer): (key: Buffer) => boolean {
  const text = pattern.toString("latin1");
  if (text === "*") return () => true;
  let source = "^";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "*") source += "[\\s\\S]*";
    else if (c === "?") source += "[\\s\\S]";
    else if (c === "\\" && i + 1 < text.length) source += escapeRegExp(text[++i]);
    else if (c === "[") {
      const close = findClass(text, i + 1);
      if (close < 0) {
        source += "\\[";
        continue;
      }
      let body = text.slice(i + 1, close);
      let negate = false;
      if (body.startsWith("^")) {
        negate = true;
        body = body.slice(1);
      }
      let set = "";
      for (let j = 0; j < body.length; j++) {
        if (body[j] === "\\" && j + 1 < body.length) set += escapeClass(body[++j]);
        else if (body[j + 1] === "-" && j + 2 < body.length) {
          const [low, high] = [body[j], body[j + 2]].sort();
          set += `${escapeClass(low)}-${escapeClass(high)}`;
          j += 2;
        } else set += escapeClass(body[j]);
      }
      source += set === "" ? (negate ? "[\\s\\S]" : "(?!)") : `[${negate ? "^" : ""}${set}]`;
      i = close;
    } else source += escapeRegExp(c);
  }
  const regexp = new RegExp(source + "$");
  return (key) => regexp.test(key.toString("latin1"));
}

function findClass(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === "]" && i > from) return i;
  }
  return -1;
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}

function escapeClass(c: string): string {
  return /[\\\]^-]/.test(c) ? `\\${c}` : c;
}
