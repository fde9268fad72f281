// The one place that maps errors, and cluster health verdicts, to process exit codes.
import { KvError, isKvError } from "../core/errors";

export const EXIT_OK = 0;
export const EXIT_NOT_FOUND = 1;
export const EXIT_USAGE = 2; // bad flags, bad arguments, bad input
export const EXIT_UNAVAILABLE = 3; // cluster cannot serve now (too few nodes, timeouts, contention)
export const EXIT_CONFIG = 4;
export const EXIT_INTERNAL = 5;
export const EXIT_CORRUPT = 6;
/**
 * `cluster status` and `client stats` only: the cluster serves, but some node did not answer
 * or is recovering (health.ts). Apart from 3 so a script can tell "serving, a node needs
 * attention" from "not serving"; not 1, which means "not found" everywhere else.
 */
export const EXIT_DEGRADED = 7;
/** A write whose effect cannot be known: it may or may not have been applied. */
export const EXIT_OUTCOME_UNKNOWN = 8;
/** A write was refused for memory: the nodes are full and do not evict (noeviction). */
export const EXIT_OUT_OF_MEMORY = 9;
/** The node refused the credentials: no token, or not the cluster's (--auth-token, --auth-token-file). Nothing changed. */
export const EXIT_UNAUTHENTICATED = 10;

export function exitCodeOf(error: unknown): number {
  if (!isKvError(error)) return EXIT_INTERNAL;
  return exitCodeOfKvError(error);
}

function exitCodeOfKvError(error: KvError): number {
  switch (error.code) {
    case "NOT_FOUND":
      return EXIT_NOT_FOUND;
    case "INVALID_ARGUMENT":
    case "KEY_TOO_LARGE":
    case "VALUE_TOO_LARGE":
    case "SHARD_SIZE_MISMATCH":
    case "INVALID_SHARD_COUNT":
      return EXIT_USAGE;
    case "CONFIG":
      return EXIT_CONFIG;
    case "NOT_LEADER":
    case "TIMEOUT":
    case "UNAVAILABLE":
    case "TOO_FEW_SHARDS":
    case "WRITE_ABORTED":
    case "LOCKED":
      return EXIT_UNAVAILABLE;
    case "CORRUPT_SHARD":
      return EXIT_CORRUPT;
    case "OUTCOME_UNKNOWN":
      return EXIT_OUTCOME_UNKNOWN;
    case "OUT_OF_MEMORY":
      return EXIT_OUT_OF_MEMORY;
    case "UNAUTHENTICATED":
      return EXIT_UNAUTHENTICATED;
    case "INTERNAL":
      return EXIT_INTERNAL;
  }
}
