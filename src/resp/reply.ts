// Replies of the RESP front door as values, and their encoding in RESP2 and RESP3
// (https://redis.io/docs/latest/develop/reference/protocol-spec/). A command produces a Reply;
// the connection encodes it when its turn to be written comes, in the protocol the
// connection speaks at that moment (HELLO 3 switches it, effective from HELLO's own reply).
//
// Only the encoder is ours: the request parser is redis-parser (request_reader.ts).
// RESP2 has no null, map or boolean types: a null is "$-1" (a null bulk string), a map a flat
// array of keys and values, as Redis itself answers a RESP2 client.

export type Protocol = 2 | 3;

export type Reply =
  | { kind: "simple"; text: string }
  /** The whole error line after '-': "ERR ...", "WRONGTYPE ...", "NOAUTH ...". */
  | { kind: "error"; text: string }
  | { kind: "integer"; value: number }
  | { kind: "bulk"; value: Buffer }
  /** The absent value: "$-1" in RESP2, "_" in RESP3. */
  | { kind: "null" }
  | { kind: "array"; items: Reply[] }
  /** RESP3 map; RESP2: a flat array k1, v1, k2, v2, ... */
  | { kind: "map"; entries: Array<[Reply, Reply]> };

export const OK: Reply = { kind: "simple", text: "OK" };
export const NULL: Reply = { kind: "null" };
export const PONG: Reply = { kind: "simple", text: "PONG" };

export function simple(text: string): Reply {
  return { kind: "simple", text };
}
export function integer(value: number): Reply {
  return { kind: "integer", value };
}
export function bulk(value: Buffer | string): Reply {
  return { kind: "bulk", value: typeof value === "string" ? Buffer.from(value, "utf8") : value };
}
export function bulkOrNull(value: Buffer | null): Reply {
  return value === null ? NULL : { kind: "bulk", value };
}
export function array(items: Reply[]): Reply {
  return { kind: "array", items };
}
/** An error reply; `text` starts with its code word ("ERR", "WRONGTYPE", ...). */
export function error(text: string): Reply {
  return { kind: "error", text: text.replace(/[\r\n]+/g, " ") };
}

const CRLF = Buffer.from("\r\n");
const NULL_RESP2 = Buffer.from("$-1\r\n");
const NULL_RESP3 = Buffer.from("_\r\n");
const OK_BYTES = Buffer.from("+OK\r\n");
const PONG_BYTES = Buffer.from("+PONG\r\n");
/** Values up to this size are copied into the output; larger ones are written as they are. */
const COPY_BYTES_MAX = 16 * 1024;

/**
 * Appends the encoding of `reply` to `out` (a list of buffers the connection writes in one
 * go): small parts are joined into a text prefix, large values are passed by reference so a
 * 64 MiB value is never copied.
 */
export function encodeReply(reply: Reply, protocol: Protocol, out: Buffer[]): void {
  switch (reply.kind) {
    case "simple":
      if (reply.text === "OK") out.push(OK_BYTES);
      else if (reply.text === "PONG") out.push(PONG_BYTES);
      else out.push(Buffer.from(`+${reply.text}\r\n`, "utf8"));
      return;
    case "error":
      out.push(Buffer.from(`-${reply.text}\r\n`, "utf8"));
      return;
    case "integer":
      out.push(Buffer.from(`:${reply.value}\r\n`, "latin1"));
      return;
    case "null":
      out.push(protocol === 3 ? NULL_RESP3 : NULL_RESP2);
      return;
    case "bulk": {
      const value = reply.value;
      if (value.length <= COPY_BYTES_MAX) {
        const header = `$${value.length}\r\n`;
        const bytes = Buffer.allocUnsafe(header.length + value.length + 2);
        bytes.write(header, 0, "latin1");
        value.copy(bytes, header.length);
        bytes[bytes.length - 2] = 13;
        bytes[bytes.length - 1] = 10;
        out.push(bytes);
      } else {
        out.push(Buffer.from(`$${value.length}\r\n`, "latin1"), value, CRLF);
      }
      return;
    }
    case "array":
      out.push(Buffer.from(`*${reply.items.length}\r\n`, "latin1"));
      for (const item of reply.items) encodeReply(item, protocol, out);
      return;
    case "map":
      out.push(Buffer.from(protocol === 3 ? `%${reply.entries.length}\r\n` : `*${reply.entries.length * 2}\r\n`, "latin1"));
      for (const [key, value] of reply.entries) {
        encodeReply(key, protocol, out);
        encodeReply(value, protocol, out);
      }
      return;
  }
}

/** The encoding as one buffer (tests, small replies). */
export function encodeReplyBytes(reply: Reply, protocol: Protocol): Buffer {
  const out: Buffer[] = [];
  encodeReply(reply, protocol, out);
  return Buffer.concat(out);
}
