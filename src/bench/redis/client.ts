// The bench's Redis client: ioredis (a maintained, widely used client: RESP2/3 parsing in
// its own parser package, pipelining, reconnects, per-command deadlines), set up for a
// benchmark rather than an application:
// - commands issued in one event-loop turn go out in one write (enableAutoPipelining), as a
//   loaded client would send them;
// - every command has a deadline (commandTimeout), and a command to a server that is down
//   fails after one reconnect attempt instead of waiting in ioredis's offline queue for ever
//   (maxRetriesPerRequest 1), so a killed or paused node shows up as errors, in bounded time;
// - reconnects are retried every RECONNECT_MS_MAX at most, so a restarted node is found again;
// - values come back as Buffers (getBuffer): values are bytes.
import Redis from "ioredis";
import { parseAddress } from "../../core/address";

const RECONNECT_MS_MAX = 200;

export type RedisClient = Redis;

export function redisClient(address: string, timeoutMs: number): RedisClient {
  const { host, port } = parseAddress(address);
  const client = new Redis({
    host: host.replace(/^\[|\]$/g, ""),
    port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
    retryStrategy: (attempt: number) => Math.min(attempt * 50, RECONNECT_MS_MAX),
  });
  // Each failed command rejects with its own error; the connection-level 'error' event would
  // otherwise be printed by ioredis as an unhandled error on every reconnect attempt.
  client.on("error", () => undefined);
  return client;
}

/** INFO's text ("# Section" headers, "field:value" lines) as a flat record. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}
