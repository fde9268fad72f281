// The TTL a client command was given (--ttl, expire): a duration such as 30s, 1500ms, 5m or
// 2h; a bare number is seconds. Zero, negative, non-numeric or overflowing is a usage error.
import { parseDurationMs } from "../core/units";

/** Milliseconds; throws InvalidArgumentError (exit 2) naming what was wrong. */
export function parseTtlFlag(text: string): number {
  return parseDurationMs(text, "TTL", "s");
}
