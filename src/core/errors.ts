// Operating errors: expected failures that callers handle. Broken invariants use
// node:assert instead and end the process.
//
// Each error has a stable `code` (used for gRPC status mapping and CLI exit codes in one
// place each: src/transport/status.ts and src/cli/exit_codes.ts) and a `retryable` flag.

export type KvErrorCode =
  | "INVALID_ARGUMENT"
  | "KEY_TOO_LARGE"
  | "VALUE_TOO_LARGE"
  | "NOT_FOUND"
  | "NOT_LEADER"
  | "TIMEOUT"
  | "UNAVAILABLE"
  | "TOO_FEW_SHARDS"
  | "SHARD_SIZE_MISMATCH"
  | "INVALID_SHARD_COUNT"
  | "WRITE_ABORTED"
  | "LOCKED"
  | "CORRUPT_SHARD"
  | "CONFIG"
  | "OUTCOME_UNKNOWN"
  | "OUT_OF_MEMORY"
  | "UNAUTHENTICATED"
  | "INTERNAL";

export class KvError extends Error {
  readonly code: KvErrorCode;
  readonly retryable: boolean;
  constructor(code: KvErrorCode, message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.retryable = retryable;
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("INVALID_ARGUMENT", message, false, options);
  }
}
export class KeyTooLargeError extends KvError {
  constructor(keyBytes: number, keyBytesMax: number) {
    super("KEY_TOO_LARGE", `key is ${keyBytes} bytes; the limit is ${keyBytesMax} bytes`, false);
  }
}
export class ValueTooLargeError extends KvError {
  constructor(valueBytes: number, valueBytesMax: number) {
    super("VALUE_TOO_LARGE", `value is ${valueBytes} bytes; the limit is ${valueBytesMax} bytes`, false);
  }
}
export class NotFoundError extends KvError {
  constructor(message = "not found") {
    super("NOT_FOUND", message, false);
  }
}
export class NotLeaderError extends KvError {
  readonly leaderHint: string | null;
  constructor(leaderHint: string | null, message = "not the leader") {
    super("NOT_LEADER", leaderHint ? `${message}; leader is ${leaderHint}` : message, true);
    this.leaderHint = leaderHint;
  }
}
export class TimeoutError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("TIMEOUT", message, true, options);
  }
}
export class UnavailableError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("UNAVAILABLE", message, true, options);
  }
}
/**
 * No connection to the node could be established (refused, no route): the request never left
 * this process, so a write certainly did not happen there.
 */
export class UnreachableError extends UnavailableError {}
export class TooFewShardsError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("TOO_FEW_SHARDS", message, true, options);
  }
}
export class ShardSizeMismatchError extends KvError {
  constructor(message: string) {
    super("SHARD_SIZE_MISMATCH", message, false);
  }
}
export class InvalidShardCountError extends KvError {
  constructor(message: string) {
    super("INVALID_SHARD_COUNT", message, false);
  }
}
export class WriteAbortedError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("WRITE_ABORTED", message, true, options);
  }
}
export class LockedError extends KvError {
  constructor(message: string) {
    super("LOCKED", message, true);
  }
}
export class CorruptShardError extends KvError {
  constructor(message: string) {
    super("CORRUPT_SHARD", message, true);
  }
}
/**
 * A write whose effect cannot be known: an earlier attempt may have been applied (or may
 * still be, through resolution or a log entry already replicated). Not retryable blindly:
 * a failed write never happened, this one may have.
 */
export class OutcomeUnknownError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("OUTCOME_UNKNOWN", message, false, options);
  }
}
/**
 * A write needs memory the cluster's budget does not have: the nodes are full and their
 * eviction_policy is noeviction (or evictions could not keep up). Nothing was written; reads
 * and deletes keep working.
 */
export class OutOfMemoryError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("OUT_OF_MEMORY", message, false, options);
  }
}
/**
 * The node refused the request's credentials: no token, or not the cluster's token
 * (auth_token, auth_token_file; src/core/auth_token.ts). The node checked them before
 * looking at the request, so nothing was read or changed. Not retryable: the same token
 * gets the same answer.
 */
export class UnauthenticatedError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("UNAUTHENTICATED", message, false, options);
  }
}
export class ConfigError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("CONFIG", message, false, options);
  }
}
export class InternalError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super("INTERNAL", message, false, options);
  }
}

export function isKvError(error: unknown): error is KvError {
  return error instanceof KvError;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
