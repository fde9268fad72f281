// Client authentication by one shared token (issue 19), the part every door shares: the
// config fields, what a valid token is, reading a token file, the constant-time comparison,
// and reloading token files on SIGHUP. The doors apply it: gRPC in src/transport/auth.ts
// (every RPC, clients' and peers'), RESP's AUTH in src/resp/commands.ts, the admin port in
// src/frontdoor/http.ts. Free of gRPC and node:http so the config code and the CLI load it
// cheaply.
//
// Config (both modes; field, flag and environment in the loaders' tables):
//   auth_token       the token itself (--auth-token, ECC_AUTH_TOKEN / RAFT_AUTH_TOKEN);
//   auth_token_file  a file holding it (--auth-token-file, ..._AUTH_TOKEN_FILE); one trailing
//                    newline is dropped. A node reads it again on SIGHUP: rotation without a
//                    restart. The two exclude each other.
//   auth_http        which admin-port endpoints need the token: "status" (default: only
//                    /v1/status; /healthz, /readyz and /metrics stay open for probes and
//                    scrapers) or "all".
// Without a token nothing is checked: the plaintext two-command start stays as it was.
//
// A token is AUTH_TOKEN_BYTES_MIN..AUTH_TOKEN_BYTES_MAX bytes of printable ASCII without
// spaces (it travels in an HTTP/2 header and as one RESP argument). It is never logged.
import assert from "node:assert/strict";
import { createHash, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ConfigError, InvalidArgumentError, errorMessage } from "./errors";
import { FieldRules } from "./flat_config";
import { AUTH_TOKEN_BYTES_MAX, AUTH_TOKEN_BYTES_MIN, AUTH_TOKEN_FILES_MAX } from "./limits";

const AUTH_TOKEN_LISTENERS_MAX = 64;
import { Logger } from "./logger";

export const AUTH_HTTP_POLICIES = ["status", "all"] as const;
export type AuthHttpPolicy = (typeof AUTH_HTTP_POLICIES)[number];
export const AUTH_HTTP_DEFAULT: AuthHttpPolicy = "status";

/** The config-file fields (both modes), checked with the other flat fields. */
export const AUTH_FIELD_RULES: FieldRules = {
  auth_token: { kind: "string", optional: true },
  auth_token_file: { kind: "string", optional: true },
  auth_http: { kind: "choice", choices: AUTH_HTTP_POLICIES, optional: true },
};

/** The auth part of a parsed cluster config (EccClusterConfig, RaftClusterConfig). */
export interface AuthSettings {
  authToken?: string;
  authTokenFile?: string;
  authHttp?: AuthHttpPolicy;
}

export interface AuthFileFields {
  auth_token?: string;
  auth_token_file?: string;
  auth_http?: string;
}

/** Cross-field problems of the auth fields (their kinds are checked by AUTH_FIELD_RULES). */
export function authConfigProblems(file: AuthFileFields): string[] {
  const problems: string[] = [];
  if (file.auth_token !== undefined && file.auth_token_file !== undefined) {
    problems.push("auth_token and auth_token_file exclude each other: give the token or the file that holds it");
  }
  if (file.auth_token !== undefined) {
    const problem = tokenProblem(file.auth_token);
    if (problem !== null) problems.push(`auth_token: ${problem}`);
  }
  if (file.auth_http !== undefined && file.auth_token === undefined && file.auth_token_file === undefined) {
    problems.push("auth_http needs a token to check: give auth_token or auth_token_file");
  }
  return problems;
}

/** The typed settings from a checked file record (no file is read here). */
export function authSettingsOf(file: AuthFileFields): AuthSettings {
  return {
    ...(file.auth_token === undefined ? {} : { authToken: file.auth_token }),
    ...(file.auth_token_file === undefined ? {} : { authTokenFile: file.auth_token_file }),
    ...(file.auth_http === undefined ? {} : { authHttp: file.auth_http as AuthHttpPolicy }),
  };
}

/** Back to file fields (startAll hands its children the resolved config). */
export function authSettingsToFile(settings: AuthSettings): AuthFileFields {
  return {
    ...(settings.authToken === undefined ? {} : { auth_token: settings.authToken }),
    ...(settings.authTokenFile === undefined ? {} : { auth_token_file: settings.authTokenFile }),
    ...(settings.authHttp === undefined ? {} : { auth_http: settings.authHttp }),
  };
}

/** Why `token` cannot be a token, or null. Says nothing of the token's content. */
export function tokenProblem(token: string): string | null {
  if (token.length === 0) return "the token is empty";
  if (!/^[\x21-\x7e]+$/.test(token)) return "a token is printable ASCII without spaces or control characters";
  if (token.length < AUTH_TOKEN_BYTES_MIN || token.length > AUTH_TOKEN_BYTES_MAX) {
    return `a token is ${AUTH_TOKEN_BYTES_MIN} to ${AUTH_TOKEN_BYTES_MAX} bytes, this one is ${token.length}`;
  }
  return null;
}

/** Reads a token file: one trailing newline (LF or CRLF) is dropped, the rest is the token. */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    const { size } = fs.statSync(file);
    // Bounded before reading: a token file is a few bytes, not whatever the path names.
    if (size > AUTH_TOKEN_BYTES_MAX + 2) throw new ConfigError(`auth token file ${file}: ${size} bytes, more than a token's ${AUTH_TOKEN_BYTES_MAX}`);
    text = fs.readFileSync(file, "latin1");
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`cannot read auth token file ${file}: ${errorMessage(error)}`, { cause: error });
  }
  const token = text.replace(/\r?\n$/, "");
  const problem = tokenProblem(token);
  if (problem !== null) throw new ConfigError(`auth token file ${file}: ${problem}`);
  return token;
}

function digestOf(candidate: string | Buffer): Buffer {
  return createHash("sha256").update(candidate).digest();
}

/**
 * Whether `candidate` is the token whose SHA-256 is `expectedDigest`, in time that depends on
 * neither: both sides are hashed to 32 bytes first (so the length of the token does not show
 * either), then compared with crypto.timingSafeEqual.
 */
export function digestMatches(expectedDigest: Buffer, candidate: string | Buffer): boolean {
  return timingSafeEqual(expectedDigest, digestOf(candidate));
}

/**
 * The token a process holds: what its servers check and what its clients send. One from
 * auth_token never changes; one from auth_token_file changes when reload() reads the file
 * again (SIGHUP on a node).
 */
export class AuthToken {
  private token: string;
  private digest: Buffer;
  /** Told when reload() changed the token (servers end calls admitted under the old one). */
  private readonly listeners = new Set<() => void>();

  constructor(
    token: string,
    /** The file it came from; null for a token given as such. */
    readonly file: string | null = null,
  ) {
    const problem = tokenProblem(token);
    if (problem !== null) throw new InvalidArgumentError(`auth token: ${problem}`);
    this.token = token;
    this.digest = digestOf(token);
  }

  static fromFile(file: string): AuthToken {
    return new AuthToken(readTokenFile(file), file);
  }

  /** The token to send (gRPC metadata). */
  get current(): string {
    return this.token;
  }

  /** Constant-time check of a presented token. */
  matches(candidate: string | Buffer): boolean {
    return digestMatches(this.digest, candidate);
  }

  /** Reads the file again; true when the token changed. A bad file throws ConfigError and keeps the old token. */
  reload(): boolean {
    if (this.file === null) return false;
    const token = readTokenFile(this.file);
    const changed = !this.matches(token);
    this.token = token;
    this.digest = digestOf(token);
    if (changed) for (const listener of [...this.listeners]) listener();
    return changed;
  }

  /** Calls `listener` after each reload that changed the token; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    // One per server of the process (a node has one or two); more means servers leak.
    assert(this.listeners.size < AUTH_TOKEN_LISTENERS_MAX, "too many listeners on one auth token");
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** How a token is presented in gRPC metadata and HTTP headers: `authorization: Bearer <token>`. */
export const BEARER = "Bearer ";

/** Why a presented `authorization` value is refused, or null when it carries the token. */
export function bearerProblem(token: AuthToken, header: unknown): "missing" | "wrong" | null {
  if (typeof header !== "string" || header === "") return "missing";
  if (!header.startsWith(BEARER)) return "wrong";
  return token.matches(header.slice(BEARER.length)) ? null : "wrong";
}

/** What the admin port checks: the token, on /v1/status only or on every endpoint (auth_http). */
export interface HttpAuth {
  token: AuthToken;
  allEndpoints: boolean;
}

export function httpAuthOf(settings: AuthSettings): HttpAuth | null {
  const token = authTokenOf(settings);
  if (token === null) return null;
  return { token, allEndpoints: (settings.authHttp ?? AUTH_HTTP_DEFAULT) === "all" };
}

/** The client option: a token as text, or a live AuthToken (a node's, which rotates). */
export type AuthTokenInput = string | AuthToken;

export function authTokenFromInput(input: AuthTokenInput | null | undefined): AuthToken | null {
  if (input === undefined || input === null) return null;
  return typeof input === "string" ? new AuthToken(input) : input;
}

/**
 * A token file is one secret per process: every server and client in a node reads the same
 * live AuthToken, so one reload reaches all of them without a handle threaded through every
 * constructor. Keyed by absolute path; bounded.
 */
const fileTokens = new Map<string, AuthToken>();

/**
 * The token a config names: null when it names none; from auth_token_file the process's
 * shared AuthToken for that file (read the first time; ConfigError when it cannot be).
 */
export function authTokenOf(settings: AuthSettings): AuthToken | null {
  if (settings.authToken !== undefined) return new AuthToken(settings.authToken);
  if (settings.authTokenFile === undefined) return null;
  const key = path.resolve(settings.authTokenFile);
  let token = fileTokens.get(key);
  if (token === undefined) {
    if (fileTokens.size >= AUTH_TOKEN_FILES_MAX) throw new ConfigError(`more than ${AUTH_TOKEN_FILES_MAX} auth token files in one process`);
    token = AuthToken.fromFile(settings.authTokenFile);
    fileTokens.set(key, token);
  }
  return token;
}

/**
 * A node with auth_token_file reads it again on SIGHUP and logs auth.token_reloaded (whether
 * it changed; never the token) or auth.token_reload_failed (the old token stays). Without a
 * token file SIGHUP keeps its default meaning. Signal the node processes themselves: startAll's
 * supervisor treats SIGHUP as "stop every node" (src/cli/supervisor.ts).
 */
export function installTokenReload(settings: AuthSettings, logger: Logger): void {
  const token = authTokenOf(settings);
  if (token === null || token.file === null) return;
  const file = token.file;
  process.on("SIGHUP", () => {
    try {
      const changed = token.reload();
      logger.info("auth.token_reloaded", { file, changed });
    } catch (error) {
      logger.error("auth.token_reload_failed", { file, message: errorMessage(error) });
    }
  });
}
