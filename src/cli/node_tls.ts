// What the start commands do about TLS: a node's own settings and the plaintext warning
// (startOne), and `startAll --tls DIR` (certificates made in DIR when missing).
import path from "node:path";
import { ConfigError } from "../core/errors";
import { serverCredentials } from "../transport/tls";
import { ClientTlsSettings, NodeTlsSettings, PLAINTEXT_WARNED_ENV, nodeTlsSettings, plaintextExposureWarning } from "../transport/tls_settings";
import { CA_CERT_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE, NODE_CERT_PATTERN, NODE_KEY_PATTERN, createClusterCerts } from "./certs";

interface TlsConfig {
  servers: string[];
  tls?: NodeTlsSettings;
  clientTls?: ClientTlsSettings;
}


/**
 * The config of the node at `address` (its own certificate, what it dials peers with). Reads
 * the PEM files now, so a missing or unreadable one fails the start with a ConfigError (exit
 * 4) before any port is bound. Prints the one-line warning when the node listens beyond
 * loopback in plaintext.
 */
export function prepareNodeTls<T extends TlsConfig>(config: T, address: string): T {
  const own = nodeTlsSettings(config, address);
  if (own.tls !== undefined) serverCredentials(own.tls);
  const warning = plaintextExposureWarning([address], own.tls);
  if (warning !== null && process.env[PLAINTEXT_WARNED_ENV] !== "1") process.stderr.write(`ecc-cache: ${warning}\n`);
  return own;
}

/**
 * startAll: the warning once for every node (not once per node), and the environment that
 * tells the nodes it was given.
 */
export function warnPlaintextCluster(config: TlsConfig): NodeJS.ProcessEnv {
  const warning = plaintextExposureWarning(config.servers, config.tls);
  if (warning === null) return {};
  process.stderr.write(`ecc-cache: ${warning}\n`);
  return { [PLAINTEXT_WARNED_ENV]: "1" };
}

/** startAll --tls DIR: certificates for every configured node in DIR (missing ones made), and the config using them. */
export async function withClusterCerts<T extends TlsConfig>(config: T, dir: string): Promise<T> {
  if (config.tls !== undefined) throw new ConfigError("--tls DIR and tls_cert/tls_key/tls_ca both say where the certificates are: give one");
  const absolute = path.resolve(dir);
  const written = await createClusterCerts({ dir: absolute, nodes: config.servers, existing: "fill" });
  process.stdout.write(
    `TLS: certificates in ${absolute}${written.length > 0 ? ` (made ${written.length} files)` : ""}; clients: ` +
      `--cacert ${path.join(absolute, CA_CERT_FILE)} --cert ${path.join(absolute, CLIENT_CERT_FILE)} --key ${path.join(absolute, CLIENT_KEY_FILE)}\n`,
  );
  return {
    ...config,
    tls: { certPath: path.join(absolute, NODE_CERT_PATTERN), keyPath: path.join(absolute, NODE_KEY_PATTERN), caPath: path.join(absolute, CA_CERT_FILE), peerTls: "mutual" },
  };
}
