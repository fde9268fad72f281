// Sizes and durations as people write them: "512MiB", "1.5GiB", "64 MB", "30s", "1500ms",
// "5m". One parser each for configs, flags and commands; bad text is an InvalidArgumentError
// naming what was expected.
import { InvalidArgumentError } from "./errors";

const BYTE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * A byte count: a whole number of bytes, or a number with a unit (B, KiB/MiB/GiB/TiB binary,
 * KB/MB/GB/TB decimal, K/M/G/T binary). "512MiB", "1.5 GiB", "100". Case-insensitive.
 */
export function parseByteSize(text: string | number, what = "size"): number {
  if (typeof text === "number") {
    if (!Number.isSafeInteger(text) || text < 0) throw new InvalidArgumentError(`${what} must be a whole number of bytes, got ${text}`);
    return text;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const scale = match === null ? undefined : BYTE_UNITS[match[2].toLowerCase()];
  if (match === null || scale === undefined) {
    throw new InvalidArgumentError(`${what}: '${text}' is not a size (e.g. 1048576, 512MiB, 1.5GiB, 64MB)`);
  }
  const bytes = Math.round(Number(match[1]) * scale);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError(`${what}: '${text}' is too large`);
  return bytes;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration in milliseconds: a number with a unit (ms, s, m, h, d), or a bare number in
 * `bareUnit` ("30s", "1500ms", "5m"; "30" is 30 s by default). Must be positive; at most
 * `maxMs` (default: 100 years, so a deadline stays a safe integer of epoch ms).
 */
export function parseDurationMs(text: string, what = "duration", bareUnit: "ms" | "s" = "s", maxMs = 100 * 365 * 86_400_000): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (match === null) throw new InvalidArgumentError(`${what}: '${text}' is not a duration (e.g. 30s, 1500ms, 5m, 2h)`);
  const unit = (match[2] ?? bareUnit).toLowerCase();
  const ms = Number(match[1]) * DURATION_UNITS[unit];
  if (!Number.isFinite(ms) || ms < 1) throw new InvalidArgumentError(`${what}: '${text}' must be at least 1 ms`);
  if (ms > maxMs) throw new InvalidArgumentError(`${what}: '${text}' is longer than the limit of ${Math.round(maxMs / 86_400_000)} days`);
  return Math.round(ms);
}

/** "1.5 MiB", "300 B", "−2.0 KiB" (binary units); "–" for null. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return "–";
  const sign = bytes < 0 ? "−" : "";
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024 * 1024) return `${sign}${(abs / 1024 ** 3).toFixed(2)} GiB`;
  if (abs >= 1024 * 1024) return `${sign}${(abs / 1024 ** 2).toFixed(1)} MiB`;
  if (abs >= 1024) return `${sign}${(abs / 1024).toFixed(1)} KiB`;
  return `${sign}${abs} B`;
}

/** "1500 ms", "30 s", "5 min", "2 h" (the largest unit that keeps it exact, or one decimal). */
export function formatDurationMs(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000 || ms % 60_000 !== 0) return `${Number((ms / 1_000).toFixed(1))} s`;
  if (ms < 3_600_000 || ms % 3_600_000 !== 0) return `${ms / 60_000} min`;
  return `${ms / 3_600_000} h`;
}
