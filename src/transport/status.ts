// The one place that maps errors to gRPC status codes and ecc ResultCodes, both ways.
import { status as GrpcStatus, ServiceError } from "@grpc/grpc-js";
import {
  ConfigError,
  CorruptShardError,
  InternalError,
  InvalidArgumentError,
  KvError,
  LockedError,
  NotFoundError,
  NotLeaderError,
  OutOfMemoryError,
  TimeoutError,
  UnauthenticatedError,
  UnavailableError,
  UnreachableError,
  WriteAbortedError,
  errorMessage,
} from "../core/errors";
import { ResultCode } from "../gen/ecc";

export function grpcStatusOf(error: KvError): GrpcStatus {
  switch (error.code) {
    case "INVALID_ARGUMENT":
    case "KEY_TOO_LARGE":
    case "VALUE_TOO_LARGE":
    case "SHARD_SIZE_MISMATCH":
    case "INVALID_SHARD_COUNT":
    case "CONFIG":
      return GrpcStatus.INVALID_ARGUMENT;
    case "NOT_FOUND":
      return GrpcStatus.NOT_FOUND;
    case "NOT_LEADER":
      return GrpcStatus.FAILED_PRECONDITION;
    case "TIMEOUT":
      return GrpcStatus.DEADLINE_EXCEEDED;
    case "UNAVAILABLE":
    case "TOO_FEW_SHARDS":
      return GrpcStatus.UNAVAILABLE;
    case "WRITE_ABORTED":
      return GrpcStatus.ABORTED;
    case "LOCKED":
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case "CORRUPT_SHARD":
      return GrpcStatus.DATA_LOSS;
    case "OUTCOME_UNKNOWN":
      return GrpcStatus.UNKNOWN;
    case "OUT_OF_MEMORY":
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case "UNAUTHENTICATED":
      return GrpcStatus.UNAUTHENTICATED;
    case "INTERNAL":
      return GrpcStatus.INTERNAL;
  }
}

/**
 * The gRPC status name of a failed call, for counting: the code the wire carried when there
 * is one (the error itself or its cause), else the status our typed error maps to (a local
 * deadline is DEADLINE_EXCEEDED, a closed channel UNAVAILABLE).
 */
export function grpcCodeName(error: unknown): string {
  for (const candidate of [error, (error as { cause?: unknown } | null)?.cause]) {
    const code = (candidate as Partial<ServiceError> | null | undefined)?.code;
    if (typeof code === "number" && GrpcStatus[code] !== undefined) return GrpcStatus[code];
  }
  if (error instanceof KvError) return GrpcStatus[grpcStatusOf(error)];
  return GrpcStatus[GrpcStatus.UNKNOWN];
}

/** A gRPC failure seen by a client, as a typed error. `leaderHint` comes from metadata. */
export function errorFromGrpc(error: unknown, what: string): KvError {
  const service = error as Partial<ServiceError>;
  const detail = service.details ?? errorMessage(error);
  const message = `${what}: ${detail}`;
  switch (service.code) {
    case GrpcStatus.INVALID_ARGUMENT:
      return new InvalidArgumentError(message);
    case GrpcStatus.NOT_FOUND:
      return new NotFoundError(message);
    case GrpcStatus.FAILED_PRECONDITION: {
      const hint = service.metadata?.get("leader-hint")[0];
      return new NotLeaderError(typeof hint === "string" && hint !== "" ? hint : null, message);
    }
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new TimeoutError(message, { cause: error });
    case GrpcStatus.ABORTED:
      return new WriteAbortedError(message, { cause: error });
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return new LockedError(message);
    case GrpcStatus.DATA_LOSS:
      return new CorruptShardError(message);
    case GrpcStatus.UNAVAILABLE:
      // grpc-js has no status of its own for "never connected"; its pick-first balancer says so
      // in the details. This is the one place that reads them.
      if (typeof service.details === "string" && service.details.startsWith("No connection established")) {
        return new UnreachableError(message, { cause: error });
      }
      return new UnavailableError(message, { cause: error });
    case GrpcStatus.UNAUTHENTICATED:
      return new UnauthenticatedError(message, { cause: error });
    case GrpcStatus.CANCELLED:
      return new UnavailableError(message, { cause: error });
    default:
      return new InternalError(message, { cause: error });
  }
}

/** An ecc Result code other than OK, as a typed error. */
export function errorFromResult(code: ResultCode, message: string, what: string): KvError {
  const text = `${what}: ${message}`;
  switch (code) {
    case ResultCode.RESULT_CODE_INVALID_ARGUMENT:
      return new InvalidArgumentError(text);
    case ResultCode.RESULT_CODE_LOCKED:
      return new LockedError(text);
    case ResultCode.RESULT_CODE_TX_ABORTED:
    case ResultCode.RESULT_CODE_STALE_VERSION:
    case ResultCode.RESULT_CODE_VERSION_GONE:
    case ResultCode.RESULT_CODE_STALE_EPOCH:
      return new WriteAbortedError(text);
    case ResultCode.RESULT_CODE_NOT_LEADER:
      return new NotLeaderError(null, text);
    case ResultCode.RESULT_CODE_NOT_SERVING:
      return new UnavailableError(text);
    case ResultCode.RESULT_CODE_LIMIT:
      return new UnavailableError(text);
    case ResultCode.RESULT_CODE_CORRUPT:
      return new CorruptShardError(text);
    case ResultCode.RESULT_CODE_OUT_OF_MEMORY:
    case ResultCode.RESULT_CODE_MEMORY_FULL:
      return new OutOfMemoryError(text);
    case ResultCode.RESULT_CODE_CONFIG_MISMATCH:
      return new ConfigError(text);
    default:
      return new InternalError(text);
  }
}
