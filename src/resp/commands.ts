// The RESP front door's command table: every command this cache answers, its arity and keys
// (as Redis declares them, so COMMAND INFO tells clients the truth), how it is scheduled
// within a pipeline (pipeline.ts), and what it does through the mode's backend (backend.ts).
// A command not in this table is answered with Redis's own "unknown command" error.
//
// Semantics follow Redis 7 where this cache can keep them, with these differences (the
// README's "Redis protocol (RESP)" lists them for users):
// - keys are 1..1024 bytes (Redis allows the empty key);
// - multi-key commands (MSET, DEL, EXISTS, MGET) act key by key: MSET is not atomic across keys;
// - DBSIZE, SCAN and KEYS list what this node holds (ecc: its shards; raft: its state
//   machine), not a linearizable snapshot of the cluster;
// - one database (SELECT 0 only); no MULTI/EXEC, pub/sub, scripts or data types other than strings.
import { KEY_BYTES_MAX, RESP_KEYS_COMMAND_KEYS_MAX, RESP_KEYS_IN_FLIGHT_MAX, RESP_SCAN_COUNT_MAX, VALUE_BYTES_MAX } from "../core/limits";
import { keyProblem } from "../core/keys";
import { BackendInfo, InfoField, RespBackend, SetExpiry, SetRequest } from "./backend";
import { CommandError, deadlineMs, globMatcher, int64Argument, offsetArgument, parseInt64, word } from "./arguments";
import {
  ERR_NOT_INTEGER,
  ERR_HELLO_NOAUTH,
  ERR_NOAUTH,
  ERR_SYNTAX,
  ERR_WRONGPASS,
  errInvalidExpire,
  errUnknownCommand,
  errUnknownSubcommand,
  errWrongArity,
  errorReply,
} from "./errors";
import { CommandAccess } from "./pipeline";
import { NULL, OK, PONG, Protocol, Reply, array, bulk, bulkOrNull, error, integer, simple } from "./reply";

/** The Redis version this front door's commands behave like (HELLO, INFO's redis_version). */
export const REDIS_COMPATIBLE_VERSION = "7.0.0";

/** One connection's state that commands read and change. */
export interface ConnectionState {
  readonly id: number;
  name: Buffer | null;
  /** The protocol replies are written in (HELLO changes it from its own reply on). */
  protocol: Protocol;
  /** Library name and version (CLIENT SETINFO), shown by CLIENT INFO. */
  libName: string;
  libVersion: string;
  readonly remoteAddress: string;
  /**
   * AUTH (or HELLO ... AUTH) accepted the token; true from the start when the node has none.
   * A rotated token does not log out a connection already in: the check is at AUTH.
   */
  authenticated: boolean;
}

/** Counters and facts of the server that INFO and CLIENT report. */
export interface ServerFacts {
  readonly startedAtMs: number;
  readonly address: string;
  readonly connectedClients: number;
  readonly maxClients: number;
  readonly totalConnections: number;
  readonly rejectedConnections: number;
  readonly totalCommands: number;
  readonly keyspaceHits: number;
  readonly keyspaceMisses: number;
  readonly runId: string;
}

export interface CommandContext {
  readonly backend: RespBackend;
  readonly connection: ConnectionState;
  readonly server: ServerFacts;
  /** The node's token (auth_token, auth_token_file), checked in constant time; null: no auth. */
  readonly auth: { matches(password: Buffer): boolean } | null;
  /** Wall-clock time (TTL deadlines are epoch ms). */
  nowMs(): number;
  /** GET found (true) or missed (false) a key: INFO's keyspace_hits/misses. */
  countLookup(hit: boolean): void;
}

export interface CommandResult {
  reply: Reply;
  /** Write this reply, and every later one, in this protocol (HELLO). */
  protocol?: Protocol;
  /** Close the connection once this reply is written (QUIT). */
  close?: boolean;
}

type Scheduling = "read" | "write" | "barrier" | "connection";

interface CommandSpec {
  /** Lower case, as Redis names commands in errors and COMMAND. */
  name: string;
  /** Redis's convention: n exactly n arguments (the name included), -n at least n. */
  arity: number;
  scheduling: Scheduling;
  /** COMMAND INFO's flags. */
  flags: string[];
  /** Key positions as Redis declares them: first, last (-1: the last argument), step; 0,0,0 for none. */
  keys: [number, number, number];
  group: string;
  summary: string;
  run(context: CommandContext, args: Buffer[]): Promise<CommandResult> | CommandResult;
}

function reply(value: Reply): CommandResult {
  return { reply: value };
}

// ------------------------------------------------------------------ helpers

function key(args: Buffer[], index: number): Buffer {
  const bytes = args[index];
  const problem = keyProblem(bytes);
  if (problem !== null) throw new CommandError(`ERR invalid key: ${problem} (keys are 1..${KEY_BYTES_MAX} bytes here)`);
  return bytes;
}

/** Runs `work` on every item with at most RESP_KEYS_IN_FLIGHT_MAX at once; results in order. */
async function eachLimited<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(RESP_KEYS_IN_FLIGHT_MAX, items.length) }, worker));
  return results;
}

/** SET's options (Redis 7): NX|XX, GET, EX|PX|EXAT|PXAT|KEEPTTL; conflicts are a syntax error. */
function parseSetOptions(args: Buffer[], nowMs: number): SetRequest {
  let condition: SetRequest["condition"] = "none";
  let expiry: SetExpiry = { kind: "none" };
  let expirySet = false;
  let returnPrevious = false;
  for (let i = 3; i < args.length; i++) {
    const option = word(args[i]);
    if (option === "nx" || option === "xx") {
      if (condition !== "none") throw new CommandError(ERR_SYNTAX);
      condition = option;
    } else if (option === "get") {
      returnPrevious = true;
    } else if (option === "keepttl") {
      if (expirySet) throw new CommandError(ERR_SYNTAX);
      expiry = { kind: "keep" };
      expirySet = true;
    } else if (option === "ex" || option === "px" || option === "exat" || option === "pxat") {
      if (expirySet || i + 1 >= args.length) throw new CommandError(ERR_SYNTAX);
      const amount = parseInt64(args[i + 1]);
      if (amount === null) throw new CommandError(ERR_NOT_INTEGER);
      if (amount <= 0n) throw new CommandError(errInvalidExpire("set"));
      const atMs = deadlineMs(args[++i], option.startsWith("e") ? "s" : "ms", option.endsWith("at"), nowMs, "set");
      expiry = { kind: "at", atMs: Number(atMs) };
      expirySet = true;
    } else {
      throw new CommandError(ERR_SYNTAX);
    }
  }
  return { condition, expiry, returnPrevious };
}

/** EXPIRE and PEXPIRE: a TTL of 0 or less deletes the key, as in Redis. */
async function expireCommand(context: CommandContext, args: Buffer[], unit: "s" | "ms", name: string): Promise<CommandResult> {
  const target = key(args, 1);
  if (args.length > 3) throw new CommandError(`ERR Unsupported option ${args[3].toString("latin1")}`);
  const atMs = deadlineMs(args[2], unit, false, context.nowMs(), name);
  if (atMs <= BigInt(context.nowMs())) return reply(integer((await context.backend.del(target)) ? 1 : 0));
  return reply(integer((await context.backend.expire(target, Number(atMs))) ? 1 : 0));
}

async function ttlCommand(context: CommandContext, args: Buffer[], unit: "s" | "ms"): Promise<CommandResult> {
  const stat = await context.backend.stat(key(args, 1));
  if (stat === null) return reply(integer(-2));
  if (stat.expiresAtMs === 0) return reply(integer(-1));
  const leftMs = Math.max(0, stat.expiresAtMs - context.nowMs());
  return reply(integer(unit === "ms" ? leftMs : Math.floor((leftMs + 500) / 1000)));
}

function infoText(context: CommandContext, info: BackendInfo, sections: string[]): string {
  const { server } = context;
  const uptimeS = Math.floor((Date.now() - server.startedAtMs) / 1000);
  const all: Array<[string, InfoField[]]> = [
    [
      "Server",
      [
        ["redis_version", REDIS_COMPATIBLE_VERSION],
        ["redis_mode", "standalone"],
        ["os", `${process.platform} ${process.arch}`],
        ["arch_bits", 64],
        ["process_id", process.pid],
        ["run_id", server.runId],
        ["tcp_port", server.address.slice(server.address.lastIndexOf(":") + 1)],
        ["uptime_in_seconds", uptimeS],
        ["uptime_in_days", Math.floor(uptimeS / 86400)],
        ["executable", process.execPath],
        ["node_version", process.versions.node],
        ...info.server,
      ],
    ],
    [
      "Clients",
      [
        ["connected_clients", server.connectedClients],
        ["maxclients", server.maxClients],
        ["blocked_clients", 0],
      ],
    ],
    ["Memory", info.memory],
    [
      "Stats",
      [
        ["total_connections_received", server.totalConnections],
        ["total_commands_processed", server.totalCommands],
        ["rejected_connections", server.rejectedConnections],
        ["keyspace_hits", server.keyspaceHits],
        ["keyspace_misses", server.keyspaceMisses],
      ],
    ],
    ["Replication", info.replication],
    ["Keyspace", info.keys === 0 ? [] : [["db0", `keys=${info.keys},expires=${info.keysWithTtl},avg_ttl=0`]]],
  ];
  const wanted = sections.length === 0 || sections.some((s) => s === "all" || s === "everything" || s === "default") ? null : new Set(sections);
  return all
    .filter(([name]) => wanted === null || wanted.has(name.toLowerCase()))
    .map(([name, fields]) => `# ${name}\r\n${fields.map(([field, value]) => `${field}:${value}\r\n`).join("")}`)
    .join("\r\n");
}

function clientInfoLine(context: CommandContext): string {
  const connection = context.connection;
  const name = connection.name === null ? "" : connection.name.toString("latin1");
  return `id=${connection.id} addr=${connection.remoteAddress} laddr=${context.server.address} name=${name} db=0 resp=${connection.protocol} lib-name=${connection.libName} lib-ver=${connection.libVersion}`;
}

// ------------------------------------------------------------------ the table

const COMMANDS: CommandSpec[] = [
  // connection
  {
    name: "ping",
    arity: -1,
    scheduling: "connection",
    flags: ["fast", "stale"],
    keys: [0, 0, 0],
    group: "connection",
    summary: "Returns the server's liveliness response.",
    run: (_context, args) => {
      if (args.length > 2) throw new CommandError(errWrongArity("ping"));
      return reply(args.length === 2 ? bulk(args[1]) : PONG);
    },
  },
  {
    name: "echo",
    arity: 2,
    scheduling: "connection",
    flags: ["fast", "stale"],
    keys: [0, 0, 0],
    group: "connection",
    summary: "Returns the given string.",
    run: (_context, args) => reply(bulk(args[1])),
  },
  {
    name: "hello",
    arity: -1,
    scheduling: "connection",
    flags: ["noauth", "fast", "stale"],
    keys: [0, 0, 0],
    group: "connection",
    summary: "Handshakes with the server (RESP2 or RESP3).",
    run: (context, args) => {
      let protocol = context.connection.protocol;
      if (args.length >= 2) {
        const version = parseInt64(args[1]);
        if (version === null) throw new CommandError("ERR Protocol version is not an integer or out of range");
        if (version !== 2n && version !== 3n) throw new CommandError("NOPROTO unsupported protocol version");
        protocol = Number(version) as Protocol;
      }
      // As Redis: every option is read first; then AUTH is checked, then nothing changes
      // for a connection that is still not authenticated.
      let credentials: [Buffer, Buffer] | null = null;
      let name: Buffer | null = null;
      for (let i = 2; i < args.length; i++) {
        const option = word(args[i]);
        if (option === "auth" && i + 2 < args.length) {
          credentials = [args[i + 1], args[i + 2]];
          i += 2;
        } else if (option === "setname" && i + 1 < args.length) {
          name = clientName(args[++i]);
        } else {
          throw new CommandError(`ERR Syntax error in HELLO option '${args[i].toString("latin1")}'`);
        }
      }
      if (credentials !== null) authenticate(context, credentials[0], credentials[1]);
      if (!context.connection.authenticated) throw new CommandError(ERR_HELLO_NOAUTH);
      if (name !== null) context.connection.name = name;
      const fields: Array<[Reply, Reply]> = [
        [bulk("server"), bulk("redis")],
        [bulk("version"), bulk(REDIS_COMPATIBLE_VERSION)],
        [bulk("proto"), integer(protocol)],
        [bulk("id"), integer(context.connection.id)],
        [bulk("mode"), bulk("standalone")],
        [bulk("role"), bulk("master")],
        [bulk("modules"), array([])],
      ];
      return { reply: { kind: "map", entries: fields }, protocol };
    },
  },
  {
    name: "auth",
    arity: -2,
    scheduling: "connection",
    flags: ["noauth", "fast", "stale"],
    keys: [0, 0, 0],
    group: "connection",
    summary: "Authenticates the connection with the node's token (AUTH <token> or AUTH default <token>).",
    run: (context, args) => {
      if (args.length > 3) throw new CommandError(ERR_SYNTAX);
      if (args.length === 2) {
        if (context.auth === null) {
          throw new CommandError(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
          );
        }
        authenticate(context, DEFAULT_USER, args[1]);
        return reply(OK);
      }
      authenticate(context, args[1], args[2]);
      return reply(OK);
    },
  },
  {
    name: "select",
    arity: 2,
    scheduling: "connection",
    flags: ["loading", "stale", "fast"],
    keys: [0, 0, 0],
    group: "connection",
    summary: "Changes the selected database (only database 0 exists).",
    run: (_context, args) => {
      const index = int64Argument(args[1]);
      if (index !== 0n) throw new CommandError("ERR DB index is out of range");
      return reply(OK);
    },
  },
  {
    name: "quit",
    arity: -1,
    scheduling: "barrier",
    flags: ["noauth", "fast", "stale"],
    keys: [0, 0, 0],
    group: "connection",
    summary: "Closes the connection.",
    run: () => ({ reply: OK, close: true }),
  },
  {
    name: "client",
    arity: -2,
    scheduling: "connection",
    flags: ["stale"],
    keys: [0, 0, 0],
    group: "connection",
    summary: "CLIENT SETNAME, GETNAME, ID, INFO, SETINFO.",
    run: (context, args) => {
      const sub = word(args[1]);
      const exactly = (count: number): void => {
        if (args.length !== count) throw new CommandError(errWrongArity(`client|${sub}`));
      };
      switch (sub) {
        case "setname":
          exactly(3);
          context.connection.name = args[2].length === 0 ? null : clientName(args[2]);
          return reply(OK);
        case "getname":
          exactly(2);
          return reply(bulkOrNull(context.connection.name));
        case "id":
          exactly(2);
          return reply(integer(context.connection.id));
        case "info":
          exactly(2);
          return reply(bulk(clientInfoLine(context) + "\n"));
        case "setinfo": {
          exactly(4);
          const attribute = word(args[2]);
          if (attribute === "lib-name") context.connection.libName = args[3].toString("latin1");
          else if (attribute === "lib-ver") context.connection.libVersion = args[3].toString("latin1");
          else throw new CommandError(`ERR Unrecognized option '${args[2].toString("latin1")}'`);
          return reply(OK);
        }
        default:
          throw new CommandError(errUnknownSubcommand(args[1], "CLIENT"));
      }
    },
  },
  {
    name: "command",
    arity: -1,
    scheduling: "connection",
    flags: ["loading", "stale"],
    keys: [0, 0, 0],
    group: "server",
    summary: "COMMAND, COMMAND COUNT, DOCS, INFO, LIST.",
    run: (_context, args) => {
      if (args.length === 1) return reply(array(COMMANDS.map(commandInfo)));
      const sub = word(args[1]);
      const named = (): CommandSpec[] =>
        args.length === 2 ? COMMANDS : args.slice(2).map((name) => BY_NAME.get(word(name))).filter((spec): spec is CommandSpec => spec !== undefined);
      switch (sub) {
        case "count":
          return reply(integer(COMMANDS.length));
        case "list":
          return reply(array(COMMANDS.map((spec) => bulk(spec.name))));
        case "info":
          return reply(array((args.length === 2 ? COMMANDS : args.slice(2).map((name) => BY_NAME.get(word(name)) ?? null)).map((spec) => (spec === null ? NULL : commandInfo(spec)))));
        case "docs":
          return reply({ kind: "map", entries: named().map((spec) => [bulk(spec.name), commandDocs(spec)] as [Reply, Reply]) });
        default:
          throw new CommandError(errUnknownSubcommand(args[1], "COMMAND"));
      }
    },
  },
  {
    name: "config",
    arity: -2,
    scheduling: "connection",
    flags: ["admin", "loading", "stale"],
    keys: [0, 0, 0],
    group: "server",
    summary: "CONFIG GET of the settings clients ask about (read only).",
    run: (context, args) => {
      const sub = word(args[1]);
      if (sub !== "get") {
        if (sub === "set" || sub === "resetstat" || sub === "rewrite") throw new CommandError(`ERR CONFIG ${sub.toUpperCase()} is not supported: configure the cluster's nodes instead`);
        throw new CommandError(errUnknownSubcommand(args[1], "CONFIG"));
      }
      if (args.length < 3) throw new CommandError(errWrongArity("config|get"));
      const values = context.backend.configValues();
      const entries: Array<[Reply, Reply]> = [];
      for (const pattern of args.slice(2)) {
        const matches = globMatcher(Buffer.from(pattern.toString("latin1").toLowerCase(), "latin1"));
        for (const [name, value] of Object.entries(values)) {
          if (matches(Buffer.from(name, "latin1")) && !entries.some(([known]) => known.kind === "bulk" && known.value.toString() === name)) {
            entries.push([bulk(name), bulk(value)]);
          }
        }
      }
      return reply({ kind: "map", entries });
    },
  },
  // strings
  {
    name: "get",
    arity: 2,
    scheduling: "read",
    flags: ["readonly", "fast"],
    keys: [1, 1, 1],
    group: "string",
    summary: "Returns the string value of a key.",
    run: async (context, args) => {
      const value = await context.backend.get(key(args, 1));
      context.countLookup(value !== null);
      return reply(bulkOrNull(value));
    },
  },
  {
    name: "set",
    arity: -3,
    scheduling: "write",
    flags: ["write", "denyoom"],
    keys: [1, 1, 1],
    group: "string",
    summary: "Sets the string value of a key (EX, PX, EXAT, PXAT, KEEPTTL, NX, XX, GET).",
    run: async (context, args) => {
      const target = key(args, 1);
      const request = parseSetOptions(args, context.nowMs());
      const outcome = await context.backend.set(target, args[2], request);
      if (request.returnPrevious) return reply(bulkOrNull(outcome.previous));
      return reply(outcome.applied ? OK : NULL);
    },
  },
  {
    name: "getdel",
    arity: 2,
    scheduling: "write",
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    group: "string",
    summary: "Returns the string value of a key after deleting the key.",
    run: async (context, args) => reply(bulkOrNull(await context.backend.getDel(key(args, 1)))),
  },
  {
    name: "getrange",
    arity: 4,
    scheduling: "read",
    flags: ["readonly"],
    keys: [1, 1, 1],
    group: "string",
    summary: "Returns a substring of the string stored at a key (only the stripes covering it are read).",
    run: async (context, args) => {
      const target = key(args, 1);
      const [start, end] = [offsetArgument(args[2]), offsetArgument(args[3])];
      // Redis: a negative start past a negative end selects nothing, before any lookup.
      if (start < 0 && end < 0 && start > end) return reply(bulk(Buffer.alloc(0)));
      return reply(bulk((await context.backend.getRange(target, start, end)) ?? Buffer.alloc(0)));
    },
  },
  {
    name: "strlen",
    arity: 2,
    scheduling: "read",
    flags: ["readonly", "fast"],
    keys: [1, 1, 1],
    group: "string",
    summary: "Returns the length of a string value (read without its bytes).",
    run: async (context, args) => reply(integer((await context.backend.stat(key(args, 1)))?.valueBytes ?? 0)),
  },
  {
    name: "append",
    arity: 3,
    scheduling: "write",
    flags: ["write", "denyoom", "fast"],
    keys: [1, 1, 1],
    group: "string",
    summary: "Appends a string to the value of a key (a read and a version-conditional write).",
    run: async (context, args) => {
      const target = key(args, 1);
      return reply(integer(await context.backend.append(target, args[2], VALUE_BYTES_MAX)));
    },
  },
  {
    name: "mget",
    arity: -2,
    scheduling: "read",
    flags: ["readonly", "fast"],
    keys: [1, -1, 1],
    group: "string",
    summary: "Returns the values of one or more keys.",
    run: async (context, args) => {
      const keys = args.slice(1).map((_, index) => key(args, index + 1));
      const values = await eachLimited(keys, (k) => context.backend.get(k));
      for (const value of values) context.countLookup(value !== null);
      return reply(array(values.map(bulkOrNull)));
    },
  },
  {
    name: "mset",
    arity: -3,
    scheduling: "write",
    flags: ["write", "denyoom"],
    keys: [1, -1, 2],
    group: "string",
    summary: "Sets the values of one or more keys (key by key: not atomic across keys).",
    run: async (context, args) => {
      if (args.length % 2 === 0) throw new CommandError(errWrongArity("mset"));
      const pairs: Array<[Buffer, Buffer]> = [];
      for (let i = 1; i < args.length; i += 2) pairs.push([key(args, i), args[i + 1]]);
      await eachLimited(pairs, ([k, v]) => context.backend.set(k, v, { condition: "none", expiry: { kind: "none" }, returnPrevious: false }));
      return reply(OK);
    },
  },
  // keys
  {
    name: "del",
    arity: -2,
    scheduling: "write",
    flags: ["write"],
    keys: [1, -1, 1],
    group: "generic",
    summary: "Deletes one or more keys.",
    run: async (context, args) => {
      const keys = args.slice(1).map((_, index) => key(args, index + 1));
      // A key named twice is deleted once (the second delete finds nothing), as in Redis.
      const unique = [...new Map(keys.map((k) => [k.toString("latin1"), k])).values()];
      const deleted = await eachLimited(unique, (k) => context.backend.del(k));
      return reply(integer(deleted.filter(Boolean).length));
    },
  },
  {
    name: "exists",
    arity: -2,
    scheduling: "read",
    flags: ["readonly", "fast"],
    keys: [1, -1, 1],
    group: "generic",
    summary: "Counts the keys that exist (a key named twice counts twice).",
    run: async (context, args) => {
      const keys = args.slice(1).map((_, index) => key(args, index + 1));
      const stats = await eachLimited(keys, (k) => context.backend.stat(k));
      return reply(integer(stats.filter((stat) => stat !== null).length));
    },
  },
  {
    name: "type",
    arity: 2,
    scheduling: "read",
    flags: ["readonly", "fast"],
    keys: [1, 1, 1],
    group: "generic",
    summary: "Returns the type of the value of a key (string or none).",
    run: async (context, args) => reply(simple((await context.backend.stat(key(args, 1))) === null ? "none" : "string")),
  },
  {
    name: "expire",
    arity: -3,
    scheduling: "write",
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    group: "generic",
    summary: "Sets a key's time to live in seconds (0 or less deletes it).",
    run: (context, args) => expireCommand(context, args, "s", "expire"),
  },
  {
    name: "pexpire",
    arity: -3,
    scheduling: "write",
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    group: "generic",
    summary: "Sets a key's time to live in milliseconds (0 or less deletes it).",
    run: (context, args) => expireCommand(context, args, "ms", "pexpire"),
  },
  {
    name: "ttl",
    arity: 2,
    scheduling: "read",
    flags: ["readonly", "fast"],
    keys: [1, 1, 1],
    group: "generic",
    summary: "Returns the time to live of a key in seconds (-1: none, -2: no key).",
    run: (context, args) => ttlCommand(context, args, "s"),
  },
  {
    name: "pttl",
    arity: 2,
    scheduling: "read",
    flags: ["readonly", "fast"],
    keys: [1, 1, 1],
    group: "generic",
    summary: "Returns the time to live of a key in milliseconds (-1: none, -2: no key).",
    run: (context, args) => ttlCommand(context, args, "ms"),
  },
  {
    name: "persist",
    arity: 2,
    scheduling: "write",
    flags: ["write", "fast"],
    keys: [1, 1, 1],
    group: "generic",
    summary: "Removes the expiration time of a key.",
    run: async (context, args) => reply(integer((await context.backend.expire(key(args, 1), null)) ? 1 : 0)),
  },
  // introspection
  {
    name: "dbsize",
    arity: 1,
    scheduling: "barrier",
    flags: ["readonly", "fast"],
    keys: [0, 0, 0],
    group: "server",
    summary: "Returns the number of keys this node holds.",
    run: async (context) => reply(integer((await context.backend.info()).keys)),
  },
  {
    name: "scan",
    arity: -2,
    scheduling: "barrier",
    flags: ["readonly"],
    keys: [0, 0, 0],
    group: "generic",
    summary: "Iterates over the keys this node holds (MATCH, COUNT, TYPE).",
    run: async (context, args) => {
      const cursor = parseInt64(args[1]);
      if (cursor === null || cursor < 0n || cursor > BigInt(Number.MAX_SAFE_INTEGER)) throw new CommandError("ERR invalid cursor");
      let count = 10;
      let match: ((key: Buffer) => boolean) | null = null;
      let typeOk = true;
      for (let i = 2; i < args.length; i += 2) {
        if (i + 1 >= args.length) throw new CommandError(ERR_SYNTAX);
        const option = word(args[i]);
        if (option === "count") {
          const value = int64Argument(args[i + 1]);
          if (value < 1n) throw new CommandError(ERR_SYNTAX);
          count = Number(value > BigInt(RESP_SCAN_COUNT_MAX) ? BigInt(RESP_SCAN_COUNT_MAX) : value);
        } else if (option === "match") {
          match = globMatcher(args[i + 1]);
        } else if (option === "type") {
          typeOk = word(args[i + 1]) === "string";
        } else {
          throw new CommandError(ERR_SYNTAX);
        }
      }
      const page = await context.backend.scan(Number(cursor), count);
      const keys = typeOk ? page.keys.filter((k) => match === null || match(k)) : [];
      return reply(array([bulk(String(page.cursor)), array(keys.map((k) => bulk(k)))]));
    },
  },
  {
    name: "keys",
    arity: 2,
    scheduling: "barrier",
    flags: ["readonly"],
    keys: [0, 0, 0],
    group: "generic",
    summary: `Returns the keys this node holds that match a pattern (refused above ${RESP_KEYS_COMMAND_KEYS_MAX} keys: use SCAN).`,
    run: async (context, args) => {
      const held = (await context.backend.info()).keys;
      if (held > RESP_KEYS_COMMAND_KEYS_MAX) {
        throw new CommandError(`ERR KEYS is refused on a node holding ${held} keys (more than ${RESP_KEYS_COMMAND_KEYS_MAX}): use SCAN`);
      }
      const match = globMatcher(args[1]);
      const found: Buffer[] = [];
      let cursor = 0;
      do {
        const page = await context.backend.scan(cursor, RESP_SCAN_COUNT_MAX);
        for (const k of page.keys) if (match(k)) found.push(k);
        cursor = page.cursor;
      } while (cursor !== 0 && found.length <= RESP_KEYS_COMMAND_KEYS_MAX);
      return reply(array(found.map((k) => bulk(k))));
    },
  },
  {
    name: "info",
    arity: -1,
    scheduling: "barrier",
    flags: ["loading", "stale"],
    keys: [0, 0, 0],
    group: "server",
    summary: "Server, clients, memory, stats, replication and keyspace, with this cache's own fields.",
    run: async (context, args) => {
      const info = await context.backend.info();
      return reply(bulk(infoText(context, info, args.slice(1).map(word))));
    },
  },
];

const BY_NAME = new Map(COMMANDS.map((spec) => [spec.name, spec]));

const DEFAULT_USER = Buffer.from("default");

/**
 * Redis's one user, "default": without a token any password is taken (Redis's nopass
 * default user); with one, the password must be the token. A failed AUTH leaves the
 * connection as it was (as in Redis 6 and later).
 */
function authenticate(context: CommandContext, user: Buffer, password: Buffer): void {
  if (!user.equals(DEFAULT_USER)) throw new CommandError(ERR_WRONGPASS);
  if (context.auth === null) return;
  if (!context.auth.matches(password)) throw new CommandError(ERR_WRONGPASS);
  context.connection.authenticated = true;
}

function clientName(name: Buffer): Buffer {
  if (/[\x00-\x20\x7f-\xff]/.test(name.toString("latin1"))) {
    throw new CommandError("ERR Client names cannot contain spaces, newlines or special characters.");
  }
  return Buffer.from(name);
}

function commandInfo(spec: CommandSpec): Reply {
  return array([
    bulk(spec.name),
    integer(spec.arity),
    array(spec.flags.map((flag) => simple(flag))),
    integer(spec.keys[0]),
    integer(spec.keys[1]),
    integer(spec.keys[2]),
    array([]),
    array([]),
    array([]),
    array([]),
  ]);
}

function commandDocs(spec: CommandSpec): Reply {
  return {
    kind: "map",
    entries: [
      [bulk("summary"), bulk(spec.summary)],
      [bulk("since"), bulk("1.0.0")],
      [bulk("group"), bulk(spec.group)],
    ],
  };
}

// ------------------------------------------------------------------ dispatch

/** A command read from the wire, resolved against the table before it is scheduled. */
export interface PreparedCommand {
  access: CommandAccess;
  /** Runs it (or answers its error); never rejects. */
  run(context: CommandContext): Promise<CommandResult> | CommandResult;
  /** The command's name for metrics ("unknown" for a name not in the table). */
  name: string;
  /** False for the commands Redis flags "noauth" (AUTH, HELLO, QUIT) and for errors found before any run. */
  needsAuth: boolean;
}

const NO_KEYS: CommandAccess = { keys: [], write: false, barrier: false };

export function prepareCommand(args: Buffer[]): PreparedCommand {
  const name = word(args[0]);
  const spec = BY_NAME.get(name);
  if (spec === undefined) return immediate("unknown", error(errUnknownCommand(args)));
  if ((spec.arity > 0 && args.length !== spec.arity) || (spec.arity < 0 && args.length < -spec.arity)) {
    return immediate(name, error(errWrongArity(name)));
  }
  const access = accessOf(spec, args);
  return {
    access,
    name,
    needsAuth: !spec.flags.includes("noauth"),
    run: (context) => {
      try {
        const result = spec.run(context, args);
        return result instanceof Promise ? result.catch(failure) : result;
      } catch (cause) {
        return failure(cause);
      }
    },
  };
}

function immediate(name: string, value: Reply): PreparedCommand {
  return { access: NO_KEYS, name, needsAuth: false, run: () => ({ reply: value }) };
}

/**
 * What a connection that has not authenticated gets for a command that needs it: Redis's
 * NOAUTH, at once, touching nothing (checked when the command arrives, so a command sent
 * before AUTH is refused even if it would run after it).
 */
export function refusedUnauthenticated(prepared: PreparedCommand): PreparedCommand {
  return immediate(prepared.name, error(ERR_NOAUTH));
}

function failure(cause: unknown): CommandResult {
  return { reply: cause instanceof CommandError ? error(cause.reply) : errorReply(cause) };
}

function accessOf(spec: CommandSpec, args: Buffer[]): CommandAccess {
  if (spec.scheduling === "barrier") return { keys: [], write: false, barrier: true };
  const [first, lastDeclared, step] = spec.keys;
  if (first === 0) return NO_KEYS;
  const last = lastDeclared < 0 ? args.length + lastDeclared : lastDeclared;
  const keys: string[] = [];
  for (let i = first; i <= last && i < args.length; i += step) keys.push(args[i].toString("latin1"));
  return { keys, write: spec.scheduling === "write", barrier: false };
}

/** The names in the table (COMMAND COUNT, tests, metrics labels). */
export const COMMAND_NAMES: readonly string[] = COMMANDS.map((spec) => spec.name);
