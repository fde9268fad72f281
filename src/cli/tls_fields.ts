// The TLS fields of both modes' config tables (field, flag and environment variable in one
// place; what they mean: src/transport/tls_settings.ts). The client flags keep etcdctl's
// names (--cacert, --cert, --key).
import { ConfigField } from "./config_sources";

export interface TlsConfigFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  peerTls?: string;
  cacert?: string;
  cert?: string;
  key?: string;
}

/** The node TLS fields, then the client's; `prefix` is the mode's environment prefix (ECC, RAFT). */
export function tlsConfigFields(prefix: string): ConfigField[] {
  return [
    {
      flag: "tlsCert",
      env: `${prefix}_TLS_CERT`,
      field: "tls_cert",
      kind: "string",
      option: "--tls-cert <file>",
      help: "this node's certificate (PEM); {index} becomes the node's position in servers",
    },
    { flag: "tlsKey", env: `${prefix}_TLS_KEY`, field: "tls_key", kind: "string", option: "--tls-key <file>", help: "this node's private key (PEM); {index} as in tls_cert" },
    { flag: "tlsCa", env: `${prefix}_TLS_CA`, field: "tls_ca", kind: "string", option: "--tls-ca <file>", help: "the cluster CA (PEM) that signed every node's and client's certificate" },
    {
      flag: "peerTls",
      env: `${prefix}_PEER_TLS`,
      field: "peer_tls",
      kind: "string",
      option: "--peer-tls <mode>",
      help: "mutual (default with TLS: every connection needs a certificate from the cluster CA, nodes present theirs) or off",
    },
    { flag: "cacert", env: `${prefix}_CLIENT_CACERT`, field: "client_cacert", kind: "string", option: "--cacert <file>", help: "client: talk TLS, trusting nodes signed by this CA (PEM)" },
    { flag: "cert", env: `${prefix}_CLIENT_CERT`, field: "client_cert", kind: "string", option: "--cert <file>", help: "client: present this certificate (PEM; needed when the cluster runs peer_tls mutual)" },
    { flag: "key", env: `${prefix}_CLIENT_KEY`, field: "client_key", kind: "string", option: "--key <file>", help: "client: the private key of --cert (PEM)" },
  ];
}

/** The client fields, for the commands that dial nodes. */
export const CLIENT_TLS_FIELDS = ["client_cacert", "client_cert", "client_key"];
