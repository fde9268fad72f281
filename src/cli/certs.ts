// `ecc-cache certs create`: a CA, one certificate per node and one client certificate for
// a cluster, made with the system's openssl binary (Debian's; no npm dependency). Also used
// by `startAll --tls DIR`, which fills in whatever is missing in DIR.
//
// The files, in DIR:
//   ca.crt, ca.key             the cluster CA (tls_ca, --cacert); ca.key signs the rest
//   node-<i>.crt, node-<i>.key node i's certificate (tls_cert node-{index}.crt): the host of
//                              its address, 127.0.0.1 and localhost as subject alternative
//                              names; usable to serve and to dial peers (serverAuth, clientAuth)
//   client.crt, client.key     a client's (--cert, --key): clientAuth only
// Keys are P-256 EC keys, written mode 0600; certificates 0644. Everything is made in a
// private temporary directory first and moved in when done, so a failed run leaves DIR as
// it was, and a key is never readable by others even for a moment.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import { ConfigError, InvalidArgumentError, errorMessage } from "../core/errors";
import { SERVERS_MAX } from "../core/limits";
import type { TlsConfigFields } from "../transport/tls_settings";

const OPENSSL = "openssl";
/** One openssl run (a key, a request, a signature) takes milliseconds; this bounds a hung one. */
const OPENSSL_TIMEOUT_MS = 20_000;
const CA_DAYS = 3650;
const LEAF_DAYS = 825;

export const CA_CERT_FILE = "ca.crt";
export const CA_KEY_FILE = "ca.key";
export const CLIENT_CERT_FILE = "client.crt";
export const CLIENT_KEY_FILE = "client.key";
/** tls_cert and tls_key for a directory made here (node-{index}.crt, the placeholder of tls_settings.ts). */
export const NODE_CERT_PATTERN = "node-{index}.crt";
export const NODE_KEY_PATTERN = "node-{index}.key";

/** The config fields of a cluster and its clients using the certificates in `dir` (peer_tls mutual by default). */
export function tlsFieldsFor(dir: string): TlsConfigFields {
  const absolute = path.resolve(dir);
  return {
    tls_cert: path.join(absolute, NODE_CERT_PATTERN),
    tls_key: path.join(absolute, NODE_KEY_PATTERN),
    tls_ca: path.join(absolute, CA_CERT_FILE),
    client_cacert: path.join(absolute, CA_CERT_FILE),
    client_cert: path.join(absolute, CLIENT_CERT_FILE),
    client_key: path.join(absolute, CLIENT_KEY_FILE),
  };
}

export function nodeCertFile(index: number): string {
  return `node-${index}.crt`;
}
export function nodeKeyFile(index: number): string {
  return `node-${index}.key`;
}

export interface CertsRequest {
  dir: string;
  /** One entry per node: its host (a host:port address is cut to its host). */
  nodes: readonly string[];
  /** "refuse": any existing file is an error (nothing is written); "fill": only missing files are made, with the CA in dir when it exists. */
  existing: "refuse" | "fill";
}

/** The host of a node given as host or host:port (IPv6 in brackets), checked. */
export function nodeHost(text: string): string {
  const trimmed = text.trim();
  const bracketed = /^\[([0-9a-fA-F:]+)\](?::\d{1,5})?$/.exec(trimmed);
  if (bracketed !== null) return bracketed[1];
  const host = /^[A-Za-z0-9._-]+:\d{1,5}$/.test(trimmed) ? trimmed.slice(0, trimmed.lastIndexOf(":")) : trimmed;
  if (net.isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(host)) {
    throw new InvalidArgumentError(`'${text}' is not a host name, an IP address, or host:port`);
  }
  return host;
}

/** The subjectAltName of a node certificate: its host, then 127.0.0.1 and localhost, without repeats. */
export function subjectAltNames(host: string): string {
  const names: string[] = [];
  for (const name of [host, "127.0.0.1", "localhost"]) {
    const entry = net.isIP(name) !== 0 ? `IP:${name}` : `DNS:${name}`;
    if (!names.includes(entry)) names.push(entry);
  }
  return names.join(",");
}

/** The files a request makes, in the order they are made. */
export function plannedFiles(nodeCount: number): string[] {
  const files = [CA_CERT_FILE, CA_KEY_FILE];
  for (let index = 0; index < nodeCount; index++) files.push(nodeCertFile(index), nodeKeyFile(index));
  files.push(CLIENT_CERT_FILE, CLIENT_KEY_FILE);
  return files;
}

function runOpenssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(OPENSSL, args, { timeout: OPENSSL_TIMEOUT_MS, encoding: "utf8" }, (error, _stdout, stderr) => {
      if (error === null) {
        resolve();
        return;
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        reject(new ConfigError("openssl is not installed (or not on PATH); it makes the certificates: apt-get install openssl", { cause: error }));
      } else if (error.killed === true) {
        reject(new ConfigError(`openssl ${args[0]} did not finish within ${OPENSSL_TIMEOUT_MS} ms`, { cause: error }));
      } else {
        reject(new ConfigError(`openssl ${args[0]} failed: ${(stderr || errorMessage(error)).trim().split("\n").slice(-3).join(" / ")}`, { cause: error }));
      }
    });
  });
}

async function newKeyAndRequest(work: string, name: string, subject: string): Promise<void> {
  await runOpenssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path.join(work, `${name}.key`)]);
  await runOpenssl(["req", "-new", "-key", path.join(work, `${name}.key`), "-subj", subject, "-out", path.join(work, `${name}.csr`)]);
}

async function signLeaf(work: string, name: string, extensions: string[]): Promise<void> {
  const extFile = path.join(work, `${name}.ext`);
  fs.writeFileSync(extFile, extensions.join("\n") + "\n");
  await runOpenssl([
    "x509",
    "-req",
    "-in",
    path.join(work, `${name}.csr`),
    "-CA",
    path.join(work, CA_CERT_FILE),
    "-CAkey",
    path.join(work, CA_KEY_FILE),
    "-set_serial",
    "0x" + randomBytes(16).toString("hex").replace(/^[89a-f]/, "1"),
    "-days",
    String(LEAF_DAYS),
    "-sha256",
    "-extfile",
    extFile,
    "-out",
    path.join(work, `${name}.crt`),
  ]);
}

/** Makes the request's certificates in `dir`; returns the files it wrote (empty: all were there). */
export async function createClusterCerts(request: CertsRequest): Promise<string[]> {
  if (request.nodes.length < 1 || request.nodes.length > SERVERS_MAX) throw new InvalidArgumentError(`give 1 to ${SERVERS_MAX} nodes, got ${request.nodes.length}`);
  const hosts = request.nodes.map(nodeHost);
  const dir = path.resolve(request.dir);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new InvalidArgumentError(`${dir} exists and is not a directory`);
  const present = plannedFiles(hosts.length).filter((file) => fs.existsSync(path.join(dir, file)));
  if (request.existing === "refuse" && present.length > 0) {
    throw new InvalidArgumentError(`${dir} already holds ${present.join(", ")}; nothing was written (choose another --out, or remove them)`);
  }
  const hasCa = present.includes(CA_CERT_FILE) && present.includes(CA_KEY_FILE);
  if (!hasCa && (present.includes(CA_CERT_FILE) || present.includes(CA_KEY_FILE))) {
    throw new ConfigError(`${dir} holds only one of ${CA_CERT_FILE} and ${CA_KEY_FILE}: cannot sign with half a CA`);
  }
  const missing = plannedFiles(hosts.length).filter((file) => !present.includes(file));
  if (missing.length === 0) return [];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-certs-")); // mode 0700
  try {
    if (hasCa) {
      fs.copyFileSync(path.join(dir, CA_CERT_FILE), path.join(work, CA_CERT_FILE));
      fs.copyFileSync(path.join(dir, CA_KEY_FILE), path.join(work, CA_KEY_FILE));
    } else {
      await runOpenssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path.join(work, CA_KEY_FILE)]);
      await runOpenssl([
        "req",
        "-x509",
        "-new",
        "-key",
        path.join(work, CA_KEY_FILE),
        "-subj",
        `/O=ecc-cache/CN=ecc-cache cluster CA ${randomBytes(4).toString("hex")}`,
        "-days",
        String(CA_DAYS),
        "-sha256",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        path.join(work, CA_CERT_FILE),
      ]);
    }
    for (let index = 0; index < hosts.length; index++) {
      if (!missing.includes(nodeCertFile(index)) && !missing.includes(nodeKeyFile(index))) continue;
      const name = `node-${index}`;
      await newKeyAndRequest(work, name, `/O=ecc-cache/OU=node/CN=ecc-cache node ${index}`);
      await signLeaf(work, name, [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
        `subjectAltName=${subjectAltNames(hosts[index])}`,
      ]);
    }
    if (missing.includes(CLIENT_CERT_FILE) || missing.includes(CLIENT_KEY_FILE)) {
      await newKeyAndRequest(work, "client", "/O=ecc-cache/OU=client/CN=ecc-cache client");
      await signLeaf(work, "client", ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"]);
    }
    // A node's or the client's pair is made together: write both when either was missing.
    const written: string[] = [];
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const file of plannedFiles(hosts.length)) {
      const made = path.join(work, file);
      if (!fs.existsSync(made) || (hasCa && (file === CA_CERT_FILE || file === CA_KEY_FILE))) continue;
      const bytes = fs.readFileSync(made);
      const target = path.join(dir, file);
      fs.rmSync(target, { force: true });
      fs.writeFileSync(target, bytes, { mode: file.endsWith(".key") ? 0o600 : 0o644, flag: "wx" });
      written.push(target);
    }
    return written;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function certsCommand(): Command {
  const certs = new Command("certs");
  certs
    .command("create")
    .description("make a cluster CA, one certificate per node and a client certificate with openssl (keys mode 0600)")
    .requiredOption("--out <dir>", "directory to write ca.crt, ca.key, node-<i>.crt/.key, client.crt/.key (created if missing; existing files are refused)")
    .option("--nodes <list>", "comma-separated hosts or host:port addresses, one per node (node i gets node-<i>.crt for that host, 127.0.0.1 and localhost)")
    .option("--count <n>", "instead of --nodes: n nodes, all on loopback (127.0.0.1, localhost)")
    .action(async (flags: { out: string; nodes?: string; count?: string }) => {
      if ((flags.nodes === undefined) === (flags.count === undefined)) throw new InvalidArgumentError("give either --nodes HOST[,HOST...] or --count N");
      let nodes: string[];
      if (flags.nodes !== undefined) {
        nodes = flags.nodes.split(",").filter((item) => item.trim() !== "");
      } else {
        const count = Number(flags.count);
        if (!/^\d+$/.test(flags.count!) || count < 1 || count > SERVERS_MAX) throw new InvalidArgumentError(`--count: expected a whole number from 1 to ${SERVERS_MAX}, got '${flags.count}'`);
        nodes = new Array<string>(count).fill("127.0.0.1");
      }
      const written = await createClusterCerts({ dir: flags.out, nodes, existing: "refuse" });
      const dir = path.resolve(flags.out);
      process.stdout.write(`wrote ${written.length} files to ${dir}:\n${written.map((file) => `  ${path.basename(file)}`).join("\n")}\n`);
      process.stdout.write(
        `nodes:   tls_cert ${path.join(dir, NODE_CERT_PATTERN)}  tls_key ${path.join(dir, NODE_KEY_PATTERN)}  tls_ca ${path.join(dir, CA_CERT_FILE)}\n` +
          `clients: --cacert ${path.join(dir, CA_CERT_FILE)} --cert ${path.join(dir, CLIENT_CERT_FILE)} --key ${path.join(dir, CLIENT_KEY_FILE)}\n`,
      );
    });
  return certs;
}
