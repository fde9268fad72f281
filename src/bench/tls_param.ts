// The `tls=DIR` parameter of the ecc and raft bench targets: the cluster serves TLS (peer_tls
// mutual) with the certificates in DIR, made there when missing (as `startAll --tls DIR`),
// and the bench's clients present DIR's client certificate. Attached to a running cluster
// (--servers, and the client processes, which attach to the bench's own), DIR must already
// hold the CA and the client's files. One run can then compare `--target ecc` with
// `--target ecc:tls=certs` on the same machine.
import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "../core/errors";
import { CA_CERT_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE, createClusterCerts, tlsFieldsFor } from "../cli/certs";
import { TlsConfigFields } from "../transport/tls_settings";
import { TargetParams } from "./target";

/** The config fields of `tls=DIR` (none without it); makes missing certificates for a cluster the bench starts. */
export async function benchTlsFields(params: TargetParams, servers: readonly string[], attached: boolean): Promise<TlsConfigFields> {
  if (params.tls === undefined) return {};
  const dir = path.resolve(params.tls);
  if (attached) {
    for (const file of [CA_CERT_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE]) {
      if (!fs.existsSync(path.join(dir, file))) throw new ConfigError(`tls=${params.tls}: ${path.join(dir, file)} is missing (make it with certs create)`);
    }
  } else {
    await createClusterCerts({ dir, nodes: servers, existing: "fill" });
  }
  return tlsFieldsFor(dir);
}

/** "+tls" for a label when the parameter is set. */
export function tlsLabel(params: TargetParams): string {
  return params.tls === undefined ? "" : "+tls";
}
