// TLS settings of both modes' configs: the flat fields, their cross-field rules, and what a
// node or a client makes of them. Kept free of gRPC and node:tls so the config code and
// every CLI command load it cheaply; src/transport/tls.ts turns settings into credentials.
//
// The fields (config file; flags and environment in the loaders' tables):
//   tls_cert, tls_key   this node's certificate and key (PEM). "{index}" in either path is
//                       replaced by the node's 0-based position in servers, so one config
//                       serves every node (certs/node-{index}.crt).
//   tls_ca              the cluster CA (PEM): nodes check each other's certificates with it,
//                       and with peer_tls "mutual" every connection's client certificate.
//   peer_tls            "mutual" (the default once tls_* are set): every connection to a
//                       node's port must present a certificate the cluster CA signed, and
//                       nodes present their own certificate when they dial each other.
//                       "off": the port encrypts and proves who the node is, but asks nothing
//                       of whoever connects (etcd without --client-cert-auth).
//   client_cacert, client_cert, client_key
//                       what a client (the CLI's --cacert, --cert, --key, as etcdctl names
//                       them; the library) trusts and presents when it dials the nodes.
//
// Why one rule for the whole port: each node serves clients and peers on one gRPC port, and
// in ecc mode a client is a data-path participant anyway (it coordinates the two-phase
// commit and writes shards to every node itself), so separating "peer-only" calls would
// not keep an outsider with a client certificate away from the data. The line that matters
// is the cluster CA: with peer_tls "mutual", a process without a certificate from it cannot
// complete a TLS handshake, so it can neither read or write keys nor join a view or a Raft
// group. This is etcd's --client-cert-auth on a port that also carries the peer traffic.
// One call is kept from clients all the same: the Raft peer service (raft's log, ecc's view
// control plane) takes only node certificates (tls.ts, peerCallProblem), so a client cannot
// forge votes, entries or views.
import { ConfigError } from "../core/errors";
import { FieldRules } from "../core/flat_config";

export const PEER_TLS_CHOICES = ["mutual", "off"] as const;
export type PeerTls = (typeof PEER_TLS_CHOICES)[number];

/** The placeholder in tls_cert and tls_key that becomes the node's index in servers. */
export const NODE_INDEX_PLACEHOLDER = "{index}";

/** A node's TLS as configured: paths may still hold {index}. */
export interface NodeTlsSettings {
  certPath: string;
  keyPath: string;
  caPath: string;
  peerTls: PeerTls;
}

/** What a process trusts and presents when it dials nodes; without a cert it presents none. */
export interface ClientTlsSettings {
  caPath: string;
  certPath?: string;
  keyPath?: string;
}

export interface TlsConfigFields {
  tls_cert?: string;
  tls_key?: string;
  tls_ca?: string;
  peer_tls?: string;
  client_cacert?: string;
  client_cert?: string;
  client_key?: string;
}

export const TLS_FIELD_RULES: FieldRules = {
  tls_cert: { kind: "string", optional: true },
  tls_key: { kind: "string", optional: true },
  tls_ca: { kind: "string", optional: true },
  peer_tls: { kind: "choice", choices: PEER_TLS_CHOICES, optional: true },
  client_cacert: { kind: "string", optional: true },
  client_cert: { kind: "string", optional: true },
  client_key: { kind: "string", optional: true },
};

/** Cross-field problems: the node's three files together, a client's cert and key together and with a CA. */
export function tlsProblems(file: TlsConfigFields): string[] {
  const problems: string[] = [];
  const node = [file.tls_cert, file.tls_key, file.tls_ca];
  if (node.some((value) => value !== undefined) && !node.every((value) => value !== undefined)) {
    problems.push("tls_cert, tls_key and tls_ca go together: give all three (TLS on) or none (plaintext)");
  }
  if (file.peer_tls !== undefined && file.tls_cert === undefined) problems.push("peer_tls needs tls_cert, tls_key and tls_ca");
  if ((file.client_cert === undefined) !== (file.client_key === undefined)) problems.push("client_cert (--cert) and client_key (--key) go together");
  if (file.client_cert !== undefined && file.client_cacert === undefined) {
    problems.push("client_cert (--cert) needs client_cacert (--cacert): the CA that signed the nodes' certificates");
  }
  return problems;
}

export function parseTlsSettings(file: TlsConfigFields): { tls?: NodeTlsSettings; clientTls?: ClientTlsSettings } {
  return {
    ...(file.tls_cert === undefined || file.tls_key === undefined || file.tls_ca === undefined
      ? {}
      : { tls: { certPath: file.tls_cert, keyPath: file.tls_key, caPath: file.tls_ca, peerTls: (file.peer_tls ?? "mutual") as PeerTls } }),
    ...(file.client_cacert === undefined
      ? {}
      : {
          clientTls: {
            caPath: file.client_cacert,
            ...(file.client_cert === undefined ? {} : { certPath: file.client_cert }),
            ...(file.client_key === undefined ? {} : { keyPath: file.client_key }),
          },
        }),
  };
}

export function tlsSettingsToFile(settings: { tls?: NodeTlsSettings; clientTls?: ClientTlsSettings }): TlsConfigFields {
  const { tls, clientTls } = settings;
  return {
    ...(tls === undefined ? {} : { tls_cert: tls.certPath, tls_key: tls.keyPath, tls_ca: tls.caPath, peer_tls: tls.peerTls }),
    ...(clientTls === undefined ? {} : { client_cacert: clientTls.caPath }),
    ...(clientTls?.certPath === undefined ? {} : { client_cert: clientTls.certPath }),
    ...(clientTls?.keyPath === undefined ? {} : { client_key: clientTls.keyPath }),
  };
}

/**
 * The settings of the node at `address`: its own certificate paths ({index} replaced),
 * and, as what it dials peers with, the cluster CA plus (peer_tls "mutual") its own
 * certificate. Unchanged when TLS is off.
 */
export function nodeTlsSettings<T extends { servers: readonly string[]; tls?: NodeTlsSettings; clientTls?: ClientTlsSettings }>(config: T, address: string): T {
  const tls = config.tls;
  if (tls === undefined) return config;
  const index = config.servers.indexOf(address);
  const own = (file: string): string => {
    if (!file.includes(NODE_INDEX_PLACEHOLDER)) return file;
    // A raft node joining at a new address has no position in servers to fill in.
    if (index < 0) throw new ConfigError(`${address} is not in servers, so ${NODE_INDEX_PLACEHOLDER} in ${file} names no file: give this node's own tls_cert and tls_key`);
    return file.split(NODE_INDEX_PLACEHOLDER).join(String(index));
  };
  const certPath = own(tls.certPath);
  const keyPath = own(tls.keyPath);
  return {
    ...config,
    tls: { ...tls, certPath, keyPath },
    clientTls: tls.peerTls === "mutual" ? { caPath: tls.caPath, certPath, keyPath } : { caPath: tls.caPath },
  };
}

const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/i;

/** The host part of host:port (IPv6 in brackets kept as written). */
export function hostOf(address: string): string {
  const colon = address.lastIndexOf(":");
  return colon < 0 ? address : address.slice(0, colon);
}

export function isLoopbackAddress(address: string): boolean {
  return LOOPBACK_HOST.test(hostOf(address));
}

/**
 * The one warning line printed when nodes listen beyond loopback in plaintext (startOne: its
 * own address; startAll: every node's, once); null when TLS is on or all are on loopback.
 */
export function plaintextExposureWarning(addresses: readonly string[], tls: NodeTlsSettings | undefined): string | null {
  const exposed = addresses.filter((address) => !isLoopbackAddress(address));
  if (tls !== undefined || exposed.length === 0) return null;
  return (
    `warning: ${exposed.join(", ")} ${exposed.length === 1 ? "is not a loopback address" : "are not loopback addresses"} and TLS is off: ` +
    `anyone who can reach ${exposed.length === 1 ? "this port" : "these ports"} can read and overwrite every key and take part in the cluster's views ` +
    `(set tls_cert, tls_key, tls_ca, or startAll --tls DIR)`
  );
}

/** Set by startAll for its nodes once it printed the warning for all of them. */
export const PLAINTEXT_WARNED_ENV = "ECC_CACHE_PLAINTEXT_WARNED";
