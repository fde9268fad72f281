// Why a client could not reach any node, when the reason is TLS. gRPC-js reports a TLS
// mismatch as "No connection established ... Failed to connect", the same words as a node
// that is down, so after a client command failed as unavailable, the CLI asks the nodes
// directly with one TLS handshake each (node:tls) and names the mismatch: a plaintext
// client at a TLS node, a TLS client at a plaintext node, a node certificate the client's
// CA did not sign, a node that wants a client certificate, or one that refused ours.
// Bounded: at most PROBE_SERVERS_MAX nodes, each for at most the timeout.
import fs from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { parseAddress } from "../core/address";
import { ConfigError, isKvError } from "../core/errors";
import { ClientTlsSettings } from "./tls_settings";

const PROBE_SERVERS_MAX = 3;
const PROBE_TIMEOUT_MS_DEFAULT = 1_500;
/** With TLS 1.3 the server checks the client's certificate after the client saw the handshake end: wait this long for its alert. */
const ALERT_WAIT_MS = 300;

type ProbeResult = string | null;

/** The failures a TLS mismatch shows up as: no node answered. */
const UNREACHED_CODES: readonly string[] = ["UNAVAILABLE", "TIMEOUT", "TOO_FEW_SHARDS", "WRITE_ABORTED"];

/**
 * What a failed client operation should report: when it failed because no node answered
 * and the nodes show a TLS mismatch, a ConfigError (exit 4) that names the mismatch (the
 * client's flags must change; retrying as is cannot help); else the error itself. The CLI
 * loads this module only after a failure, so a working command pays nothing for it.
 */
export async function explainTlsFailure(error: unknown, servers: readonly string[], clientTls: ClientTlsSettings | undefined): Promise<unknown> {
  if (!isKvError(error) || !UNREACHED_CODES.includes(error.code)) return error;
  const mismatch = await tlsMismatch(servers, clientTls);
  if (mismatch === null) return error;
  return new ConfigError(`${mismatch} (the request failed: ${error.message})`, { cause: error });
}

/** A sentence naming the TLS mismatch with the first nodes that shows one; null when none does (they are down, or TLS is fine). */
export async function tlsMismatch(servers: readonly string[], clientTls: ClientTlsSettings | undefined, timeoutMs = PROBE_TIMEOUT_MS_DEFAULT): Promise<string | null> {
  const results = await Promise.all(servers.slice(0, PROBE_SERVERS_MAX).map((address) => probe(address, clientTls, timeoutMs)));
  return results.find((result) => result !== null) ?? null;
}

function probe(address: string, clientTls: ClientTlsSettings | undefined, timeoutMs: number): Promise<ProbeResult> {
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseAddress(address));
  } catch {
    return Promise.resolve(null); // the config check reports bad addresses
  }
  host = host.replace(/^\[|\]$/g, "");
  let options: tls.ConnectionOptions;
  try {
    options =
      clientTls === undefined
        ? { host, port, rejectUnauthorized: false, ALPNProtocols: ["h2"] }
        : {
            host,
            port,
            ALPNProtocols: ["h2"],
            ca: fs.readFileSync(clientTls.caPath),
            ...(clientTls.certPath === undefined ? {} : { cert: fs.readFileSync(clientTls.certPath) }),
            ...(clientTls.keyPath === undefined ? {} : { key: fs.readFileSync(clientTls.keyPath) }),
            ...(net.isIP(host) === 0 ? { servername: host } : {}),
          };
  } catch {
    return Promise.resolve(null); // unreadable files were reported when the channels were made
  }
  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    const socket = tls.connect(options);
    let secured = false;
    // A node that accepted the handshake speaks first (HTTP/2 SETTINGS): TLS is fine.
    socket.on("data", () => finish(null));
    socket.on("secureConnect", () => {
      if (clientTls === undefined) {
        finish(`${address} speaks TLS and this client does not: pass --cacert FILE (and --cert FILE --key FILE when the cluster asks for client certificates)`);
        return;
      }
      secured = true;
      setTimeout(() => finish(null), ALERT_WAIT_MS);
    });
    // A node that rejects a client certificate after the handshake (TLS 1.3) may just close.
    socket.on("close", () => {
      if (!secured || clientTls === undefined) return;
      finish(
        clientTls.certPath === undefined
          ? `${address} requires a client certificate signed by the cluster's CA: pass --cert FILE --key FILE`
          : `${address} refused this client's certificate (${clientTls.certPath}): it is not signed by the cluster's CA`,
      );
    });
    socket.on("error", (error: NodeJS.ErrnoException) => finish(clientTls === undefined ? null : describeTlsError(address, error, clientTls)));
  });
}

function describeTlsError(address: string, error: NodeJS.ErrnoException, clientTls: ClientTlsSettings): ProbeResult {
  const code = error.code ?? "";
  const text = `${code} ${error.message}`;
  if (/ALERT_UNKNOWN_CA|alert unknown ca|ALERT_BAD_CERTIFICATE|bad certificate/i.test(text)) {
    return `${address} refused this client's certificate (${clientTls.certPath ?? "none"}): it is not signed by the cluster's CA`;
  }
  if (/CERTIFICATE_REQUIRED|certificate required|HANDSHAKE_FAILURE/i.test(text)) {
    return `${address} requires a client certificate signed by the cluster's CA: pass --cert FILE --key FILE`;
  }
  if (/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_SIGNATURE_FAILURE/i.test(text)) {
    return `${address}'s certificate is not signed by --cacert ${clientTls.caPath}`;
  }
  if (/ERR_TLS_CERT_ALTNAME_INVALID/.test(code)) return `${address}'s certificate does not name that host (${error.message})`;
  if (/wrong version number|packet length too long|ECONNRESET|EPROTO/i.test(text)) {
    return `${address} does not speak TLS (a plaintext node?): leave out --cacert, --cert and --key, or start the cluster with TLS`;
  }
  return null;
}
