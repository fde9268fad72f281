// gRPC credentials from the TLS settings (tls_settings.ts): a node's server credentials and
// the channel credentials every process dials nodes with. Plaintext when no settings are
// given, which stays the default. PEM files are read once per process (channels are many,
// the files few) and a file that is missing or holds no PEM is a ConfigError naming it, so a
// typo fails the start instead of every connection.
import fs from "node:fs";
import type { TlsOptions } from "node:tls";
import { ChannelCredentials, ServerCredentials, ServerUnaryCall, credentials } from "@grpc/grpc-js";
import { ConfigError, errorMessage } from "../core/errors";
import { ClientTlsSettings, NodeTlsSettings } from "./tls_settings";

const pemCache = new Map<string, Buffer>();

/** The PEM file at `file` (what: "tls_cert", "--cacert", ... for the error). */
export function readPem(file: string, what: string): Buffer {
  const cached = pemCache.get(file);
  if (cached !== undefined) return cached;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${what}: cannot read ${file}: ${errorMessage(error)}`);
  }
  if (!bytes.includes("-----BEGIN ")) throw new ConfigError(`${what}: ${file} holds no PEM block (expected a certificate or key in PEM form)`);
  pemCache.set(file, bytes);
  return bytes;
}

/**
 * A node's server credentials: its certificate, and with peer_tls "mutual" a required client
 * certificate signed by the cluster CA (checked in the TLS handshake, before any call).
 */
export function serverCredentials(tls: NodeTlsSettings | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  const ca = readPem(tls.caPath, "tls_ca");
  const cert = readPem(tls.certPath, "tls_cert");
  const key = readPem(tls.keyPath, "tls_key");
  return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], tls.peerTls === "mutual");
}

/**
 * node:tls server options for a node's other TCP ports (RESP, HTTP admin) from its TLS
 * settings: its certificate and, when `clientCertificates`, a required client certificate
 * signed by the cluster CA (RESP with peer_tls mutual, as Redis's tls-auth-clients yes).
 */
export function tlsServerOptions(tls: NodeTlsSettings, clientCertificates: boolean): TlsOptions {
  return {
    cert: readPem(tls.certPath, "tls_cert"),
    key: readPem(tls.keyPath, "tls_key"),
    ca: readPem(tls.caPath, "tls_ca"),
    requestCert: clientCertificates,
    rejectUnauthorized: clientCertificates,
    minVersion: "TLSv1.2",
  };
}

const channelCache = new Map<string, ChannelCredentials>();

/**
 * gRPC-js sets the TLS server name (SNI) to the target's host, which for a node at an IP
 * address makes Node print DEP0123 ("Setting the TLS ServerName to an IP address is not
 * permitted by RFC 6066") on stderr once per process. The certificate is still checked
 * against the IP (the nodes' certificates carry their IPs), and the servers ignore SNI, so
 * the warning tells a user nothing: this drops just that warning, once, the way bind.ts drops
 * one grpc-js log line. Every other warning passes through unchanged.
 */
let serverNameWarningFiltered = false;
function filterServerNameWarning(): void {
  if (serverNameWarningFiltered) return;
  serverNameWarningFiltered = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[0] === "object" && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code === "DEP0123") return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** Credentials to dial nodes with: plaintext without settings, else TLS checking the nodes against the CA. */
export function channelCredentials(tls: ClientTlsSettings | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  const cacheKey = JSON.stringify([tls.caPath, tls.certPath ?? "", tls.keyPath ?? ""]);
  let made = channelCache.get(cacheKey);
  if (made === undefined) {
    filterServerNameWarning();
    const ca = readPem(tls.caPath, "--cacert (client_cacert)");
    const key = tls.keyPath === undefined ? null : readPem(tls.keyPath, "--key (client_key)");
    const cert = tls.certPath === undefined ? null : readPem(tls.certPath, "--cert (client_cert)");
    made = credentials.createSsl(ca, key, cert);
    channelCache.set(cacheKey, made);
  }
  return made;
}

/** What gRPC-js tells a handler about the caller's TLS (its AuthContext type is not exported). */
type AuthContext = ReturnType<ServerUnaryCall<unknown, unknown>["getAuthContext"]>;

/** The extended key usage of a certificate that may serve TLS (id-kp-serverAuth). */
const SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1";

/**
 * Why a call that only nodes make (Raft peer messages: raft mode's log, ecc's views) must be
 * refused, given the caller's TLS; null when it may go on. With peer_tls mutual every caller
 * holds a certificate from the cluster CA, clients too, so the CA alone cannot tell a client
 * from a node: a node's certificate is one that may also serve (serverAuth, as
 * `certs create` makes them), a client's may not (clientAuth only). Without a client
 * certificate (plaintext, or peer_tls off) the port's setting already decided who may call.
 */
export function peerCallProblem(context: AuthContext | null): string | null {
  const certificate = context?.sslPeerCertificate;
  if (certificate === undefined) return null;
  const usages = certificate.ext_key_usage;
  if (usages === undefined || usages.includes(SERVER_AUTH_OID)) return null; // no restriction, or a node's
  const name = certificate.subject?.CN ?? "?";
  return `certificate '${name}' is not a node's (it may not serve TLS): Raft peer messages are taken only from nodes`;
}
