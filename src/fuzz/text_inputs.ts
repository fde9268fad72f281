// RESP and HTTP inputs for the port fuzzer, and the raw and slow inputs of every port: seeded
// generators, no I/O (src/fuzz/mutate.ts has the byte mutations).
//
// RESP: commands from the node's own command table (src/resp/commands.ts) with arguments
// drawn from boundary values (numbers at and past int64, empty and oversized keys, option
// words in the wrong place), wrong arity, inline commands, RESP3 types a client never sends,
// and framing faults (bulk lengths that lie, missing CR or LF, negative and huge counts),
// then mutated bytes. Keys are fuzz-only: no input names a key acknowledged before the fuzz.
//
// HTTP: request lines with unknown or lower-case methods, bad versions, odd paths (very long,
// percent-encoded, absolute URIs, `*`, `..`), headers that are huge, repeated, folded, or
// carry NUL or a lone CR, conflicting Content-Length and Transfer-Encoding, bodies that lie.
import { Random } from "../core/env";
import { COMMAND_NAMES } from "../resp/commands";
import { mutate, pick, randomBytes } from "./mutate";

// ------------------------------------------------------------------ RESP

const RESP_WORDS = ["EX", "PX", "EXAT", "PXAT", "NX", "XX", "GET", "KEEPTTL", "MATCH", "COUNT", "TYPE", "string", "*", "fz:*", "SETNAME", "GETNAME", "ID", "INFO", "SETINFO", "LIB-NAME", "COUNT", "LIST", "DOCS", "GET", "SET", "3", "2", "AUTH", "default"];
const RESP_NUMBERS = ["0", "1", "-1", "2", "10", "-2", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616", "1e3", "0x10", "+5", " 1", "1.5", "NaN", "inf", "", "00000000000000000000001"];

function respArgument(random: Random): Buffer {
  switch (random.int(8)) {
    case 0:
      return Buffer.from(pick(random, RESP_WORDS));
    case 1:
    case 2:
      return Buffer.from(pick(random, RESP_NUMBERS));
    case 3:
      return randomBytes(random, random.int(32));
    case 4:
      return Buffer.alloc(pick(random, [0, 1024, 1025, 70_000]), 0x61);
    default:
      return Buffer.from(`fz:${random.int(64)}`);
  }
}

/** A command's argument list: a real command name (any case), then 0..7 arguments. */
function respArguments(random: Random): Buffer[] {
  const name = random.int(12) === 0 ? randomBytes(random, random.int(12)).toString("latin1") : pick(random, COMMAND_NAMES);
  const cased = random.int(2) === 0 ? name.toUpperCase() : name;
  return [Buffer.from(cased, "latin1"), ...Array.from({ length: random.int(8) }, () => respArgument(random))];
}

export function respFrame(args: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const argument of args) parts.push(Buffer.from(`$${argument.length}\r\n`), argument, Buffer.from("\r\n"));
  return Buffer.concat(parts);
}

/** Framing faults a parser must refuse with an error, not a crash or a hang it cannot leave. */
const RESP_BAD_FRAMES = [
  "*-1\r\n",
  "*0\r\n",
  "*2147483648\r\n",
  "*99999999999999999999\r\n",
  "*1\r\n$-1\r\n",
  "*1\r\n$-2\r\n",
  "*1\r\n$9999999999\r\n",
  "*1\r\n$4\r\nPINGxx",
  "*1\r\n$4\r\nPING\n",
  "*1\r\n$4\r\nPING\r",
  "*1\r\n:1\r\n",
  "*1\r\n*1\r\n$4\r\nPING\r\n",
  "*1\r\n%1\r\n+a\r\n+b\r\n",
  "*1\r\n_\r\n",
  "*1\r\n,1.5\r\n",
  "*1\r\n#t\r\n",
  "*1\r\n(123\r\n",
  "*1\r\n=3\r\ntxt\r\n",
  "*x\r\n",
  "*1\n$4\nPING\n",
  "\r\n\r\n\r\n",
  "\"unbalanced quote\r\n",
  "set 'a\\x00b' \"c\\xzz\"\r\n",
  "$4\r\nPING\r\n",
  "+PING\r\n",
  "-ERR\r\n",
];

/** 1..5 commands on one connection, each framed, inline, or broken, the whole maybe mutated. */
export function respInput(random: Random): Buffer {
  const parts: Buffer[] = [];
  const count = 1 + random.int(5);
  for (let i = 0; i < count; i++) {
    const roll = random.int(10);
    if (roll < 5) parts.push(respFrame(respArguments(random)));
    else if (roll < 7) parts.push(Buffer.from(`${respArguments(random).map((argument) => argument.toString("latin1")).join(" ")}\r\n`, "latin1"));
    else parts.push(Buffer.from(pick(random, RESP_BAD_FRAMES), "latin1"));
  }
  const whole = Buffer.concat(parts);
  return random.int(2) === 0 ? whole : mutate(random, whole);
}

// ------------------------------------------------------------------ HTTP

const HTTP_METHODS = ["GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH", "get", "G\u0000T", "PRI", "FOO", ""];
const HTTP_PATHS = [
  "/healthz",
  "/readyz",
  "/metrics",
  "/v1/status",
  "/",
  "*",
  "",
  "healthz",
  "/healthz?x=1&y",
  "/healthz#frag",
  "/%2e%2e/%2e%2e/etc/passwd",
  "/../../etc/passwd",
  "/metrics/../healthz",
  "/%ZZ",
  "/%00",
  "//healthz",
  "http://127.0.0.1/healthz",
  "http://[::1/healthz",
  "/v1/status?" + "a=".repeat(2_000),
];
const HTTP_VERSIONS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.1x", "HTTP/9.9", "http/1.1", ""];

function httpHeaders(random: Random): string[] {
  const headers: string[] = [];
  if (random.int(4) !== 0) headers.push("Host: 127.0.0.1");
  const count = random.int(5);
  for (let i = 0; i < count; i++) {
    headers.push(
      pick(random, [
        "Content-Length: 5",
        "Content-Length: -1",
        "Content-Length: 99999999999999999999",
        "Content-Length: 1, 2",
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: gzip, chunked",
        "Connection: close",
        "Connection: keep-alive",
        "Expect: 100-continue",
        "Upgrade: h2c",
        "X-Empty:",
        ": no-name",
        "No-Colon",
        "X-Nul: a\u0000b",
        "X-Cr: a\rb",
        " folded: continuation",
        "X-Long: " + "y".repeat(pick(random, [1_000, 20_000, 70_000])),
        "Host: a, b",
        "Accept: */*",
      ]),
    );
  }
  return headers;
}

/** One request's bytes (sometimes two pipelined), maybe mutated. */
export function httpInput(random: Random): Buffer {
  const one = (): string => {
    const line = `${pick(random, HTTP_METHODS)} ${pick(random, HTTP_PATHS)} ${pick(random, HTTP_VERSIONS)}`;
    const body = pick(random, ["", "", "hello", "0\r\n\r\n", "zz\r\nbad\r\n", "5\r\nhello\r\n0\r\n\r\n", "x".repeat(2_000)]);
    return `${line}\r\n${httpHeaders(random).join("\r\n")}\r\n\r\n${body}`;
  };
  const text = random.int(6) === 0 ? one() + one() : one();
  const bytes = Buffer.from(text, "latin1");
  return random.int(3) === 0 ? mutate(random, bytes) : bytes;
}

// ------------------------------------------------------------------ raw and slow, any port

export type PortKind = "grpc" | "resp" | "http";

/** The HTTP/2 client preface and an empty SETTINGS frame: how a gRPC connection starts. */
const H2_PREFACE = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** Random bytes, sometimes after the opening the port expects (so they reach the next layer). */
export function rawInput(random: Random, kind: PortKind): Buffer {
  const garbage = randomBytes(random, random.int(random.int(10) === 0 ? 8_192 : 256));
  if (random.int(2) === 0) return garbage;
  const opening = kind === "grpc" ? H2_PREFACE : kind === "resp" ? Buffer.from("*3\r\n$3\r\nSET\r\n") : Buffer.from("GET /healthz HTTP/1.1\r\n");
  return Buffer.concat([opening, garbage]);
}

/** What a slow connection drips: the start of a well-formed request, never finished in time. */
export function slowInput(random: Random, kind: PortKind): Buffer {
  if (kind === "grpc") return Buffer.concat([H2_PREFACE, randomBytes(random, 400)]);
  if (kind === "resp") return respFrame([Buffer.from("SET"), Buffer.from(`fz:slow:${random.int(64)}`), randomBytes(random, 400)]);
  return Buffer.from(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${"s".repeat(400)}\r\n\r\n`);
}
