// The HTTP admin port every node serves (both modes): GET /healthz, /readyz, /metrics and
// /v1/status. Plain node:http: four read-only endpoints need no framework.
//
// The port faces whoever can reach it, so bad input gets a 4xx and never takes the node
// down or ties it up: the parser's errors (garbage bytes, oversized headers) are answered
// 400/431 and the socket closed; a request whose headers or whole body do not arrive in
// time (slowloris) gets 408; an idle connection (half-open: the peer vanished without a FIN)
// is closed after IDLE_TIMEOUT_MS; connections are capped. None of these reach a handler.
import http from "node:http";
import https from "node:https";
import type { TlsOptions } from "node:tls";
import net from "node:net";
import { UnavailableError, errorMessage } from "../core/errors";
import { Logger } from "../core/logger";
import { parseAddress } from "../core/address";
import type { NodeMetrics } from "./metrics";
import { HttpAuth, bearerProblem } from "../core/auth_token";

/** Whole request headers must arrive within this; Node answers 408 otherwise. */
export const HEADERS_TIMEOUT_MS = 5_000;
/** The whole request (there is never a body here) must arrive within this. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** How often Node checks the two timeouts above (its default, 30 s, would let a slow peer linger). */
const TIMEOUT_CHECK_MS = 1_000;
/** A connection with no traffic for this long is closed (half-open peers, idle keep-alives). */
export const IDLE_TIMEOUT_MS = 15_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Bytes of request line plus headers; a scraper sends a few hundred. */
export const HEADER_BYTES_MAX = 8 * 1024;
/** Concurrent connections; more are refused (closed at once) so a flood cannot exhaust the node. */
export const CONNECTIONS_MAX = 64;

export interface Readiness {
  ready: boolean;
  /** Why not, or what it is ready as ("member of view 3"); one line. */
  reason: string;
}

/** What the endpoints show; the node's admin glue (admin.ts) provides these. */
export interface AdminHandlers {
  readiness(): Readiness;
  /** The JSON `cluster status --json` prints. */
  status(): Promise<unknown>;
  /** Prometheus text exposition. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Told of every request answered with a 4xx status (counted in /metrics). */
  refused?(status: number): void;
  /** The token (auth_token, auth_token_file): /v1/status, or every endpoint, needs `Authorization: Bearer <token>`. */
  auth?: HttpAuth | null;
}

/**
 * `run` shared by every caller while one run is in flight: however many clients ask for
 * /v1/status at once, the node sends one round of stats requests.
 */
export function coalesced<T>(run: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | null = null;
  return () => (inFlight ??= run().finally(() => (inFlight = null)));
}

export interface AdminHttpServer {
  readonly port: number;
  readonly address: string;
  close(): Promise<void>;
}

/** The status line Node's own default would send for a parser or timeout error. */
function clientErrorStatus(error: NodeJS.ErrnoException): number {
  if (error.code === "HPE_HEADER_OVERFLOW") return 431;
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") return 408;
  return 400;
}

const REASONS: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" };

/** The bounds above; tests pass shorter ones so a slow client is caught in a second. */
export interface AdminHttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  timeoutCheckMs: number;
  connectionsMax: number;
}

export const ADMIN_HTTP_LIMITS: AdminHttpLimits = {
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  timeoutCheckMs: TIMEOUT_CHECK_MS,
  connectionsMax: CONNECTIONS_MAX,
};

export async function startAdminHttp(
  host: string,
  port: number,
  handlers: AdminHandlers,
  logger: Logger,
  limits: AdminHttpLimits = ADMIN_HTTP_LIMITS,
  /** Serve HTTPS with these options (src/transport/tls.ts); unset: plain HTTP. */
  secure?: TlsOptions,
): Promise<AdminHttpServer> {
  const createServer = (secure === undefined ? http.createServer : https.createServer) as typeof http.createServer;
  const server = createServer(
    {
      ...secure,
      maxHeaderSize: HEADER_BYTES_MAX,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: limits.timeoutCheckMs,
      insecureHTTPParser: false,
    },
    (request, response) => {
      handle(request, response, handlers).catch((error: unknown) => {
        logger.error("http.handler_failed", { path: request.url ?? "", message: errorMessage(error) });
        if (!response.headersSent) reply(response, 500, "text/plain; charset=utf-8", "internal error\n");
        else response.destroy();
      });
    },
  );
  server.maxConnections = limits.connectionsMax;
  server.setTimeout(limits.idleTimeoutMs, (socket: net.Socket) => socket.destroy());
  server.on("clientError", (error: NodeJS.ErrnoException, socket: net.Socket) => {
    logger.debug("http.client_error", { code: error.code ?? "", message: error.message });
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = clientErrorStatus(error);
    handlers.refused?.(status);
    socket.end(`HTTP/1.1 ${status} ${REASONS[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  const bindHost = host.replace(/^\[|\]$/g, "");
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const reason = error.code === "EADDRINUSE" ? "the address is already in use" : errorMessage(error);
      reject(new UnavailableError(`cannot listen on ${host}:${port} (HTTP admin port): ${reason}`, { cause: error }));
    };
    server.once("error", onError);
    server.listen({ host: bindHost, port, exclusive: true }, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const bound = (server.address() as net.AddressInfo).port;
  return {
    port: bound,
    address: `${host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(request: http.IncomingMessage, response: http.ServerResponse, handlers: AdminHandlers): Promise<void> {
  // No endpoint takes a body: refuse one rather than read it, and close the connection
  // (its unread bytes would otherwise be parsed as the next request).
  if (request.headers["content-length"] !== undefined && request.headers["content-length"] !== "0") {
    response.setHeader("Connection", "close");
    return reply(response, 413, "text/plain; charset=utf-8", "no request body is accepted here\n", handlers);
  }
  if (request.headers["transfer-encoding"] !== undefined) {
    response.setHeader("Connection", "close");
    return reply(response, 413, "text/plain; charset=utf-8", "no request body is accepted here\n", handlers);
  }
  const path = (request.url ?? "").split("?", 1)[0];
  const known = path === "/healthz" || path === "/readyz" || path === "/metrics" || path === "/v1/status";
  if (!known) return reply(response, 404, "text/plain; charset=utf-8", "not found; the endpoints are /healthz, /readyz, /metrics, /v1/status\n", handlers);
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    return reply(response, 405, "text/plain; charset=utf-8", "method not allowed; use GET\n", handlers);
  }
  const auth = handlers.auth;
  if (auth !== undefined && auth !== null && (auth.allEndpoints || path === "/v1/status")) {
    const problem = bearerProblem(auth.token, request.headers.authorization);
    if (problem !== null) {
      response.setHeader("WWW-Authenticate", 'Bearer realm="ecc-cache"');
      const why = problem === "missing" ? "this endpoint needs the cluster's token (Authorization: Bearer <token>)" : "the token sent is not the cluster's token";
      return reply(response, 401, "text/plain; charset=utf-8", `unauthorized: ${why}\n`, handlers);
    }
  }
  switch (path) {
    case "/healthz":
      return reply(response, 200, "text/plain; charset=utf-8", "ok\n");
    case "/readyz": {
      const { ready, reason } = handlers.readiness();
      return reply(response, ready ? 200 : 503, "text/plain; charset=utf-8", `${ready ? "ready" : "not ready"}: ${reason}\n`);
    }
    case "/metrics": {
      const { contentType, body } = await handlers.metrics();
      return reply(response, 200, contentType, body);
    }
    case "/v1/status": {
      let status: unknown;
      try {
        status = await handlers.status();
      } catch (error) {
        return reply(response, 503, "application/json", JSON.stringify({ error: errorMessage(error) }) + "\n");
      }
      return reply(response, 200, "application/json", JSON.stringify(status, null, 2) + "\n");
    }
  }
}

function reply(response: http.ServerResponse, status: number, contentType: string, body: string, handlers?: AdminHandlers): void {
  if (status >= 400 && status < 500) handlers?.refused?.(status);
  const bytes = Buffer.from(body);
  response.writeHead(status, { "Content-Type": contentType, "Content-Length": bytes.length, "Cache-Control": "no-store" });
  response.end(response.req.method === "HEAD" ? undefined : bytes);
}

export interface NodeAdminOptions {
  /** host:port the admin port listens on. */
  httpAddress: string;
  metrics: Pick<NodeMetrics, "exposition" | "httpRefusedRequest">;
  logger: Logger;
  readiness: () => Readiness;
  /** Gathers the cluster status document; concurrent requests share one gather. */
  gatherStatus: () => Promise<unknown>;
  /** Releases what gatherStatus opened (its client), after the server closed. */
  release: () => void;
  /** The admin port's token check (auth_http); null or absent: every endpoint open. */
  auth?: HttpAuth | null;
  /** Serve HTTPS with these options (the node's certificate); unset: plain HTTP. */
  secure?: TlsOptions;
}

/** A node's admin port: the mode's readiness and status, the node's metrics. */
export async function startNodeAdmin(options: NodeAdminOptions): Promise<AdminHttpServer> {
  const { host, port } = parseAddress(options.httpAddress);
  const { metrics } = options;
  const server = await startAdminHttp(
    host,
    port,
    {
      readiness: options.readiness,
      status: coalesced(options.gatherStatus),
      metrics: () => metrics.exposition(),
      refused: (status) => metrics.httpRefusedRequest(status),
      auth: options.auth ?? null,
    },
    options.logger,
    ADMIN_HTTP_LIMITS,
    options.secure,
  );
  return {
    port: server.port,
    address: server.address,
    close: async () => {
      await server.close();
      options.release();
    },
  };
}
