// The one place the RESP front door turns errors into Redis-style error replies (as
// src/cli/exit_codes.ts does for exit codes). The first word is the error's code, as in
// Redis: clients show it and some act on it (ioredis retries nothing by code unless told).
//   ERR             bad input, and anything without a better code
//   OOM             Redis's own text for a write refused for memory (noeviction)
//   TRYAGAIN        contention that did not clear (a key kept locked by other writers)
//   CLUSTERDOWN     the cluster cannot serve now: too few nodes, no leader, timeouts
//   OUTCOMEUNKNOWN  the write may or may not have been applied (it is not retried)
//   CORRUPT         a checksum failed; nothing wrong was returned
import { KvError, errorMessage, isKvError } from "../core/errors";
import { Reply, error } from "./reply";

export function errorReply(cause: unknown): Reply {
  if (!isKvError(cause)) return error(`ERR internal error: ${errorMessage(cause)}`);
  return error(`${codeWord(cause)} ${cause.message}`);
}

function codeWord(cause: KvError): string {
  switch (cause.code) {
    case "OUT_OF_MEMORY":
      return "OOM command not allowed when used memory > 'maxmemory':";
    case "LOCKED":
    case "WRITE_ABORTED":
      return "TRYAGAIN";
    case "NOT_LEADER":
    case "TIMEOUT":
    case "UNAVAILABLE":
    case "TOO_FEW_SHARDS":
    // Another node refused this node's token (a rotation signalled to some nodes only): the
    // RESP client's own AUTH was fine, the cluster cannot serve until the nodes agree again.
    case "UNAUTHENTICATED":
      return "CLUSTERDOWN";
    case "OUTCOME_UNKNOWN":
      return "OUTCOMEUNKNOWN";
    case "CORRUPT_SHARD":
      return "CORRUPT";
    case "INVALID_ARGUMENT":
    case "KEY_TOO_LARGE":
    case "VALUE_TOO_LARGE":
    case "NOT_FOUND":
    case "SHARD_SIZE_MISMATCH":
    case "INVALID_SHARD_COUNT":
    case "CONFIG":
    case "INTERNAL":
      return "ERR";
  }
}

// Redis's own texts for authentication (a token is configured: auth_token, auth_token_file).
export const ERR_NOAUTH = "NOAUTH Authentication required.";
export const ERR_WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled.";
export const ERR_HELLO_NOAUTH =
  "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

// Redis's own texts for bad input, so clients and people see what they know.
export const ERR_SYNTAX = "ERR syntax error";
export const ERR_NOT_INTEGER = "ERR value is not an integer or out of range";
export const ERR_STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
export function errWrongArity(name: string): string {
  return `ERR wrong number of arguments for '${name}' command`;
}
export function errInvalidExpire(name: string): string {
  return `ERR invalid expire time in '${name}' command`;
}
/** Redis 7's text: the name and the first arguments, each cut to 128 bytes. */
export function errUnknownCommand(args: readonly Buffer[]): string {
  const quote = (arg: Buffer): string => `'${printable(arg.subarray(0, 128))}'`;
  const rest = args
    .slice(1)
    .map((arg) => quote(arg) + " ")
    .join("")
    .slice(0, 128);
  return `ERR unknown command ${quote(args[0])}, with args beginning with: ${rest}`;
}
export function errUnknownSubcommand(subcommand: Buffer, command: string): string {
  return `ERR unknown subcommand '${printable(subcommand.subarray(0, 128))}'. Try ${command} HELP.`;
}

/** Bytes as text for an error line: control bytes and CR/LF escaped so the line stays one line. */
function printable(bytes: Buffer): string {
  return bytes.toString("latin1").replace(/[\x00-\x1f\x7f-\xff']/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
