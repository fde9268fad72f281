// Client auth's shared parts (src/core/auth_token.ts, src/transport/auth.ts): the config
// fields in both modes (file, flag, environment; one of token or file; the bounds), reading
// and reloading a token file, the constant-time comparison, the bearer header, the one
// error mapping (gRPC status, exit code, RESP word), and the admin port's auth_http policy.
//
// Method: pure calls with their exact errors; the comparison is watched through
// crypto.timingSafeEqual (every check must be one call on two 32-byte digests, whatever the
// candidate's length); the admin port is a real server on 127.0.0.1 with canned handlers.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { status as GrpcStatus, Metadata } from "@grpc/grpc-js";
import { AuthToken, authTokenOf, bearerProblem, digestMatches, readTokenFile, tokenProblem } from "../../src/core/auth_token";
import { AUTH_TOKEN_BYTES_MAX, AUTH_TOKEN_BYTES_MIN } from "../../src/core/limits";
import { ConfigError, InvalidArgumentError, UnauthenticatedError } from "../../src/core/errors";
import { ECC_DEFAULT_FILE, eccConfigToFile, parseEccConfig } from "../../src/ecc/config";
import { RAFT_DEFAULT_FILE, parseRaftConfig, raftConfigToFile } from "../../src/raft/config";
import { loadEccConfig } from "../../src/cli/ecc_config_loader";
import { loadRaftConfig } from "../../src/cli/raft_config_loader";
import { EXIT_UNAUTHENTICATED, exitCodeOf } from "../../src/cli/exit_codes";
import { errorFromGrpc, grpcStatusOf } from "../../src/transport/status";
import { errorReply } from "../../src/resp/errors";
import { AdminHttpServer, startAdminHttp } from "../../src/frontdoor/http";
import { silentLogger } from "../../src/core/logger";

const TOKEN = "0123456789abcdef0123456789abcdef";
const OTHER = "fedcba9876543210fedcba9876543210";

describe("client auth: config, token files, constant-time check, error mapping", function () {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "auth-unit-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string): string => {
    const where = path.join(dir, name);
    fs.writeFileSync(where, text);
    return where;
  };
  const eccProblem = (extra: Record<string, unknown>): string => {
    try {
      parseEccConfig({ ...ECC_DEFAULT_FILE, ...extra }, "test");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail("no error");
  };

  it("both modes parse auth_token, auth_token_file and auth_http, and write them back for startAll's children", () => {
    const ecc = parseEccConfig({ ...ECC_DEFAULT_FILE, auth_token: TOKEN, auth_http: "all" }, "test");
    assert.equal(ecc.authToken, TOKEN);
    assert.equal(ecc.authHttp, "all");
    assert.deepEqual(parseEccConfig(eccConfigToFile(ecc), "again"), ecc);
    const raft = parseRaftConfig({ ...RAFT_DEFAULT_FILE, auth_token_file: "/run/secrets/token" }, "test");
    assert.equal(raft.authTokenFile, "/run/secrets/token");
    assert.equal(raft.authToken, undefined);
    assert.deepEqual(parseRaftConfig(raftConfigToFile(raft), "again"), raft);
    const none = parseEccConfig({ ...ECC_DEFAULT_FILE }, "test");
    assert.ok(!("authToken" in none) && !("authTokenFile" in none) && !("authHttp" in none));
  });

  it("refuses both token and file, an empty or short or long or spaced token, auth_http without a token or of another value", () => {
    assert.match(eccProblem({ auth_token: TOKEN, auth_token_file: "/x" }), /auth_token and auth_token_file exclude each other/);
    assert.match(eccProblem({ auth_token: "" }), /auth_token: expected a non-empty string/);
    assert.match(eccProblem({ auth_token_file: "" }), /auth_token_file: expected a non-empty string/);
    assert.match(eccProblem({ auth_token: "short" }), new RegExp(`auth_token: a token is ${AUTH_TOKEN_BYTES_MIN} to ${AUTH_TOKEN_BYTES_MAX} bytes, this one is 5`));
    assert.match(eccProblem({ auth_token: "x".repeat(AUTH_TOKEN_BYTES_MAX + 1) }), /a token is 8 to 1024 bytes/);
    assert.match(eccProblem({ auth_token: "with a space" }), /printable ASCII without spaces/);
    assert.match(eccProblem({ auth_token: "tab\there1234" }), /printable ASCII without spaces/);
    assert.match(eccProblem({ auth_http: "all" }), /auth_http needs a token to check/);
    assert.match(eccProblem({ auth_token: TOKEN, auth_http: "some" }), /auth_http: expected one of status, all/);
    assert.throws(() => parseRaftConfig({ ...RAFT_DEFAULT_FILE, auth_token: TOKEN, auth_token_file: "/x" }, "test"), /exclude each other/);
    // The messages never repeat a token.
    assert.doesNotMatch(eccProblem({ auth_token: "seven77" }), /seven77/);
  });

  it("takes the fields from flags and the environment (ECC_AUTH_TOKEN, RAFT_AUTH_TOKEN_FILE, ...), flags first", () => {
    const empty = fs.mkdtempSync(path.join(dir, "cwd-"));
    assert.equal(loadEccConfig({ authToken: TOKEN }, {}, empty).config.authToken, TOKEN);
    assert.equal(loadEccConfig({}, { ECC_AUTH_TOKEN: TOKEN }, empty).config.authToken, TOKEN);
    assert.equal(loadEccConfig({ authToken: OTHER }, { ECC_AUTH_TOKEN: TOKEN }, empty).config.authToken, OTHER);
    assert.equal(loadEccConfig({}, { ECC_AUTH_TOKEN_FILE: "/t", ECC_AUTH_HTTP: "all" }, empty).config.authHttp, "all");
    assert.equal(loadRaftConfig({ authTokenFile: "/t" }, {}, empty).config.authTokenFile, "/t");
    assert.equal(loadRaftConfig({}, { RAFT_AUTH_TOKEN_FILE: "/t" }, empty).config.authTokenFile, "/t");
    assert.throws(() => loadRaftConfig({ authToken: TOKEN }, { RAFT_AUTH_TOKEN_FILE: "/t" }, empty), /exclude each other/);
  });

  it("reads a token file: one trailing newline dropped; empty, blank, oversized and missing files refused", () => {
    assert.equal(readTokenFile(file("lf", TOKEN + "\n")), TOKEN);
    assert.equal(readTokenFile(file("crlf", TOKEN + "\r\n")), TOKEN);
    assert.equal(readTokenFile(file("bare", TOKEN)), TOKEN);
    assert.throws(() => readTokenFile(file("two", TOKEN + "\n\n")), (error: unknown) => error instanceof ConfigError && /printable ASCII/.test(error.message));
    assert.throws(() => readTokenFile(file("empty", "")), /the token is empty/);
    assert.throws(() => readTokenFile(file("newline", "\n")), /the token is empty/);
    assert.throws(() => readTokenFile(file("big", "x".repeat(AUTH_TOKEN_BYTES_MAX + 10))), /more than a token's 1024/);
    assert.throws(() => readTokenFile(path.join(dir, "absent")), /cannot read auth token file .*absent/);
  });

  it("matches in constant time: one timingSafeEqual of two 32-byte digests per check, whatever the candidate's length", () => {
    const token = new AuthToken(TOKEN);
    const original = crypto.timingSafeEqual;
    const calls: Array<[number, number]> = [];
    (crypto as { timingSafeEqual: typeof crypto.timingSafeEqual }).timingSafeEqual = (a, b) => {
      calls.push([a.byteLength, b.byteLength]);
      return original(a, b);
    };
    try {
      const candidates: Array<[string | Buffer, boolean]> = [
        [TOKEN, true],
        [Buffer.from(TOKEN), true],
        [OTHER, false],
        [TOKEN.slice(0, -1), false],
        [TOKEN + "0", false],
        ["", false],
        ["x".repeat(5_000), false],
        [TOKEN.toUpperCase(), false],
      ];
      for (const [candidate, expected] of candidates) assert.equal(token.matches(candidate), expected, String(candidate).slice(0, 40));
    } finally {
      (crypto as { timingSafeEqual: typeof crypto.timingSafeEqual }).timingSafeEqual = original;
    }
    assert.equal(calls.length, 8);
    for (const lengths of calls) assert.deepEqual(lengths, [32, 32]);
    const digest = crypto.createHash("sha256").update(TOKEN).digest();
    assert.ok(digestMatches(digest, TOKEN));
    assert.ok(!digestMatches(digest, OTHER));
  });

  it("refuses a bad token given to a client, and checks the bearer header", () => {
    assert.throws(() => new AuthToken(""), (error: unknown) => error instanceof InvalidArgumentError && /empty/.test(error.message));
    assert.throws(() => new AuthToken("short"), InvalidArgumentError);
    assert.equal(tokenProblem(TOKEN), null);
    const token = new AuthToken(TOKEN);
    assert.equal(bearerProblem(token, `Bearer ${TOKEN}`), null);
    assert.equal(bearerProblem(token, undefined), "missing");
    assert.equal(bearerProblem(token, ""), "missing");
    assert.equal(bearerProblem(token, `Bearer ${OTHER}`), "wrong");
    assert.equal(bearerProblem(token, `bearer ${TOKEN}`), "wrong");
    assert.equal(bearerProblem(token, `Basic ${TOKEN}`), "wrong");
    assert.equal(bearerProblem(token, TOKEN), "wrong");
    assert.equal(bearerProblem(token, Buffer.from(`Bearer ${TOKEN}`)), "missing", "binary metadata is no token");
  });

  it("reloads a token file: the new token matches, the old does not; a bad file keeps the current one", () => {
    const where = file("rotating", TOKEN + "\n");
    const token = authTokenOf({ authTokenFile: where })!;
    assert.equal(authTokenOf({ authTokenFile: where }), token, "one live token per file in a process");
    assert.equal(authTokenOf({}), null);
    let changes = 0;
    const unsubscribe = token.onChange(() => changes++);
    assert.equal(token.reload(), false);
    assert.equal(changes, 0, "an unchanged file tells nobody (servers keep their calls)");
    fs.writeFileSync(where, OTHER + "\n");
    assert.equal(token.reload(), true);
    assert.equal(changes, 1, "a changed token is told once");
    unsubscribe();
    assert.ok(token.matches(OTHER));
    assert.ok(!token.matches(TOKEN));
    assert.equal(token.current, OTHER);
    fs.writeFileSync(where, "");
    assert.throws(() => token.reload(), ConfigError);
    assert.ok(token.matches(OTHER), "a failed reload keeps the token");
    assert.equal(changes, 1);
    assert.equal(new AuthToken(TOKEN).reload(), false, "a token given as such has no file to reload");
  });

  it("maps UNAUTHENTICATED both ways, to exit code 10 and to a RESP error word", () => {
    const refused = errorFromGrpc({ code: GrpcStatus.UNAUTHENTICATED, details: "authentication failed", metadata: new Metadata() }, "127.0.0.1:1");
    assert.ok(refused instanceof UnauthenticatedError);
    assert.equal(refused.retryable, false);
    assert.equal(refused.message, "127.0.0.1:1: authentication failed");
    assert.equal(grpcStatusOf(refused), GrpcStatus.UNAUTHENTICATED);
    assert.equal(exitCodeOf(refused), EXIT_UNAUTHENTICATED);
    assert.equal(EXIT_UNAUTHENTICATED, 10);
    const reply = errorReply(refused);
    assert.equal(reply.kind, "error");
    assert.match((reply as { text: string }).text, /^CLUSTERDOWN /);
  });
});

describe("client auth: the admin port's auth_http", function () {
  this.timeout(20_000);
  const servers: AdminHttpServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });

  const start = async (allEndpoints: boolean): Promise<number> => {
    const server = await startAdminHttp(
      "127.0.0.1",
      0,
      {
        readiness: () => ({ ready: true, reason: "test" }),
        status: async () => ({ ok: true }),
        metrics: async () => ({ contentType: "text/plain", body: "# none\n" }),
        auth: { token: new AuthToken(TOKEN), allEndpoints },
      },
      silentLogger,
    );
    servers.push(server);
    return server.port;
  };
  const status = async (port: number, urlPath: string, token?: string): Promise<{ status: number; challenge: string | null }> => {
    const response = await fetch(`http://127.0.0.1:${port}${urlPath}`, {
      headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    });
    await response.arrayBuffer();
    return { status: response.status, challenge: response.headers.get("www-authenticate") };
  };

  it("status (the default): only /v1/status needs the token", async () => {
    const port = await start(false);
    for (const open of ["/healthz", "/readyz", "/metrics"]) assert.equal((await status(port, open)).status, 200, open);
    assert.deepEqual(await status(port, "/v1/status"), { status: 401, challenge: 'Bearer realm="ecc-cache"' });
    assert.equal((await status(port, "/v1/status", OTHER)).status, 401);
    assert.equal((await status(port, "/v1/status", TOKEN)).status, 200);
  });

  it("all: every endpoint needs the token", async () => {
    const port = await start(true);
    for (const endpoint of ["/healthz", "/readyz", "/metrics", "/v1/status"]) {
      assert.equal((await status(port, endpoint)).status, 401, endpoint);
      assert.equal((await status(port, endpoint, OTHER)).status, 401, endpoint);
      assert.equal((await status(port, endpoint, TOKEN)).status, 200, endpoint);
    }
    assert.equal((await status(port, "/nowhere", TOKEN)).status, 404);
  });
});
