// JSON-lines logger: one object per line with ts, level, nodeId, mode, event and fields.
// Values are never logged; log key hashes, byte lengths, versions, shard indexes.

export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

export interface JsonLoggerOptions {
  nodeId: string;
  mode: "ecc" | "raft" | "cli" | "bench";
  level: LogLevel;
  write: (line: string) => void;
}

export function parseLogLevel(text: string | undefined, fallback: LogLevel): LogLevel {
  if (text === undefined || text === "") return fallback;
  if (text in LEVEL_RANK) return text as LogLevel;
  throw new Error(`unknown log level '${text}' (use debug, info, warn or error)`);
}

export function createJsonLogger(options: JsonLoggerOptions): Logger {
  const rankMin = LEVEL_RANK[options.level];
  const log = (level: LogLevel, event: string, fields?: Record<string, unknown>): void => {
    if (LEVEL_RANK[level] < rankMin) return;
    const record = {
      ts: new Date().toISOString(),
      level,
      nodeId: options.nodeId,
      mode: options.mode,
      event,
      ...fields,
    };
    options.write(JSON.stringify(record, bigintSafe) + "\n");
  };
  return {
    debug: (event, fields) => log("debug", event, fields),
    info: (event, fields) => log("info", event, fields),
    warn: (event, fields) => log("warn", event, fields),
    error: (event, fields) => log("error", event, fields),
  };
}

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
