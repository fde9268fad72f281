// `raft server ...`, `raft client ...` and `raft cluster ...`: argument handling and output
// only; protocol logic lives in src/raft. The client and the node runtime are imported inside
// the actions that need them, so a client command never loads the Raft core, its storage or
// the node runtime (test/unit/cli_modules.test.ts counts what it loads).
import { Command } from "commander";
import { parseAddress } from "../core/address";
import { ConfigError, NotFoundError, UnavailableError } from "../core/errors";
import { parseDurationMs } from "../core/units";
import { TTL_MS_MAX } from "../core/limits";
import type { KvStatsReply } from "../gen/raft";
import type { RaftClient } from "../raft/client";
import { RaftClusterConfig, raftConfigToFile } from "../raft/config";
import { addConfigOptions } from "./config_sources";
import { CLIENT_TLS_FIELDS } from "./tls_fields";
import { reportHealth, raftHealth } from "./health";
import { readValue, writeValue } from "./io";
import { RAFT_CONFIG_FIELDS, RAFT_CONFIG_HELP, RAFT_RESOLVED_CONFIG_ENV, RaftConfigFlags, loadRaftConfig } from "./raft_config_loader";
import { exitWithSupervisor } from "../core/supervisor_watch";
import { authTokenOf, installTokenReload } from "../core/auth_token";
import { RaftClusterReport, gatherRaftCluster, raftClusterStatus } from "../frontdoor/status";

/** A client needs the servers and its own two deadlines; the rest configures nodes. */
const CLIENT_FIELDS = ["servers", "rpc_timeout_ms", "connect_timeout_ms", "auth_token", "auth_token_file", ...CLIENT_TLS_FIELDS];
const SERVER_FIELDS = RAFT_CONFIG_FIELDS.map((field) => field.field).filter((field) => field !== "rpc_timeout_ms" && field !== "connect_timeout_ms" && !CLIENT_TLS_FIELDS.includes(field));

function withConfig(command: Command, fields: readonly string[]): Command {
  return addConfigOptions(command, RAFT_CONFIG_FIELDS, RAFT_CONFIG_HELP, fields);
}

/** `<id>`: an index into servers (0-based) or a host:port address. */
function resolveNodeAddress(id: string, config: RaftClusterConfig): { address: string; bootstrap: boolean } {
  if (/^\d+$/.test(id)) {
    const index = Number(id);
    if (index >= config.servers.length) {
      throw new ConfigError(`node index ${index} is out of range: the config lists ${config.servers.length} servers (0..${config.servers.length - 1}); give a host:port to add a new node`);
    }
    return { address: config.servers[index], bootstrap: true };
  }
  parseAddress(id);
  return { address: id, bootstrap: config.servers.includes(id) };
}

async function withClient<T>(flags: RaftConfigFlags, run: (client: RaftClient, config: RaftClusterConfig) => Promise<T>): Promise<T> {
  const { config } = loadRaftConfig(flags);
  const { RaftClient } = await import("../raft/client");
  const client = new RaftClient({ servers: config.servers, rpcTimeoutMs: config.rpcTimeoutMs, connectTimeoutMs: config.connectTimeoutMs, authToken: authTokenOf(config) ?? undefined, tls: config.clientTls });
  try {
    return await run(client, config);
  } catch (error) {
    throw await (await import("../transport/tls_probe")).explainTlsFailure(error, config.servers, config.clientTls);
  } finally {
    client.close();
  }
}

/** A TTL argument or --ttl: a duration of at least 1 ms (bad text is a usage error, exit 2). */
function parseTtl(text: string): number {
  return parseDurationMs(text, "TTL", "s", TTL_MS_MAX);
}

function budgetText(stats: KvStatsReply): string {
  return stats.maxMemoryBytes === 0 ? "none" : String(stats.maxMemoryBytes);
}

function reportClusterHealth(report: RaftClusterReport): void {
  reportHealth(raftHealth(report.nodes.filter((node) => node.member).map((node) => ({ address: node.address, role: node.stats?.role ?? null }))));
}

export function raftCommand(): Command {
  const raft = new Command("raft");

  const server = raft.command("server").description("run raft nodes");
  withConfig(server.command("startAll"), SERVER_FIELDS)
    .description("start every configured node, one OS process each; Ctrl-C stops them all")
    .option("--tls <dir>", "serve TLS, mutual between nodes and clients, with the certificates in DIR (made there with openssl when missing, as `certs create`)")
    .action(async (flags: RaftConfigFlags & { tls?: string }) => {
      const loaded = loadRaftConfig(flags);
      const source = loaded.source;
      const config = flags.tls === undefined ? loaded.config : await (await import("./node_tls")).withClusterCerts(loaded.config, flags.tls);
      const [{ findBusyAddresses }, { superviseNodes }, http, resp] = await Promise.all([
        import("../core/ports"),
        import("./supervisor"),
        import("../frontdoor/admin_address"),
        import("../resp/resp_address"),
      ]);
      const httpAddresses = http.adminHttpAddresses(config, http.RAFT_HTTP_BASE_PORT);
      const respAddresses = resp.respAddresses(config, resp.RAFT_RESP_BASE_PORT);
      const busy = await findBusyAddresses([...config.servers, ...[...httpAddresses, ...respAddresses].filter((address): address is string => address !== null)]);
      if (busy.length > 0) throw new UnavailableError(`cannot start: ${busy.join(", ")} already in use (another cluster running?)`);
      process.stdout.write(`raft cluster: ${config.servers.length} nodes, fsync ${config.fsync}, data in ${config.dataDir} (config: ${source})\n`);
      const childConfig = { ...config, ...http.childHttpSettings(httpAddresses), ...resp.childRespSettings(respAddresses) };
      const warned = (await import("./node_tls")).warnPlaintextCluster(config);
      const env = { ...process.env, ...warned, [RAFT_RESOLVED_CONFIG_ENV]: JSON.stringify(raftConfigToFile(childConfig)) };
      process.exitCode = await superviseNodes(
        config.servers.map((address, index) => ({
          name: `raft node ${index}`,
          address,
          httpAddress: httpAddresses[index],
          respAddress: respAddresses[index],
          args: ["raft", "server", "startOne", String(index)],
          env,
        })),
        "raft.node_started",
        "raft cluster",
      );
    });

  withConfig(server.command("startOne"), SERVER_FIELDS)
    .description("start one node: <id> is its index in servers, or a new host:port that joins the running cluster")
    .argument("<id>", "0-based index into servers, or host:port")
    .option("--join", "ask the running cluster to add this node as a voter (implied for an address not in servers)")
    .option("--log-level <level>", "debug, info, warn or error (env RAFT_LOG_LEVEL)")
    .action(async (id: string, flags: RaftConfigFlags & { join?: boolean; logLevel?: string }) => {
      exitWithSupervisor(); // a node started by a supervisor stops once the supervisor is gone
      const loaded = loadRaftConfig(flags);
      const { address, bootstrap } = resolveNodeAddress(id, loaded.config);
      const config = (await import("./node_tls")).prepareNodeTls(loaded.config, address);
      const [{ createJsonLogger, parseLogLevel }, { RaftNodeRuntime }] = await Promise.all([import("../core/logger"), import("../raft/node")]);
      const logger = createJsonLogger({
        nodeId: address,
        mode: "raft",
        level: parseLogLevel(flags.logLevel ?? process.env.RAFT_LOG_LEVEL, "info"),
        write: (line) => process.stdout.write(line),
      });
      const { adminHttpAddress } = await import("../frontdoor/admin_address");
      const httpAddress = adminHttpAddress(config, address);
      const metrics = httpAddress === null ? undefined : new (await import("../frontdoor/metrics")).NodeMetrics({ mode: "raft", address });
      const node = new RaftNodeRuntime({ config, address, logger, join: flags.join === true || !bootstrap, metrics });
      installTokenReload(config, logger); // SIGHUP: read auth_token_file again (rotation)
      // Bound before the node starts: a port in use fails the start (exit 3, as for the gRPC port).
      const respServer = await startRaftResp(node, config, address, logger, metrics);
      await node.start();
      const admin =
        httpAddress === null || metrics === undefined
          ? null
          : await (await import("../frontdoor/raft_admin")).startRaftAdmin({ node, config, httpAddress, metrics, logger }).catch(async (error: unknown) => {
              await node.stop();
              throw error;
            });
      if (admin !== null) logger.info("http.listening", { address: admin.address });
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          logger.info("raft.node_stopping", {});
          void Promise.all([respServer?.close(), admin?.close(), node.stop()]).then(() => resolve());
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });

  const client = raft.command("client").description("talk to a raft cluster");
  withConfig(client.command("set"), CLIENT_FIELDS)
    .description("store a value (argument, --file, or stdin); with --ttl it expires that long after the leader takes it")
    .argument("<key>", "UTF-8 key, 1..1024 bytes")
    .argument("[value]", "the value as text; '-' or omitted reads stdin")
    .option("-f, --file <path>", "read the value from a file (binary safe)")
    .option("--ttl <duration>", "time to live: 30s, 1500ms, 5m, 2h, 1d (a bare number is seconds)")
    .action(async (key: string, value: string | undefined, flags: RaftConfigFlags & { file?: string; ttl?: string }) => {
      const ttlMs = flags.ttl === undefined ? undefined : parseTtl(flags.ttl);
      const bytes = await readValue({ value, file: flags.file });
      await withClient(flags, (raftClient) => raftClient.set(key, bytes, { ttlMs }));
      process.stderr.write(`OK (${bytes.length} bytes${ttlMs === undefined ? "" : `, expires in ${ttlMs} ms`})\n`);
    });

  withConfig(client.command("expire"), CLIENT_FIELDS)
    .description("give a key's value a time to live, from now; exit 1 when the key is absent")
    .argument("<key>", "UTF-8 key")
    .argument("<ttl>", "30s, 1500ms, 5m, 2h, 1d (a bare number is seconds)")
    .action(async (key: string, ttl: string, flags: RaftConfigFlags) => {
      const ttlMs = parseTtl(ttl);
      const existed = await withClient(flags, (raftClient) => raftClient.expire(key, ttlMs));
      if (!existed) throw new NotFoundError(`not found: ${key}`);
      process.stderr.write(`OK (expires in ${ttlMs} ms)\n`);
    });

  withConfig(client.command("ttl"), CLIENT_FIELDS)
    .description("print the milliseconds until a key expires (-1: it has no TTL); exit 1 when the key is absent")
    .argument("<key>", "UTF-8 key")
    .action(async (key: string, flags: RaftConfigFlags) => {
      const ttlMs = await withClient(flags, (raftClient) => raftClient.ttl(key));
      if (ttlMs === -2) throw new NotFoundError(`not found: ${key}`);
      process.stdout.write(`${ttlMs}\n`);
    });

  withConfig(client.command("persist"), CLIENT_FIELDS)
    .description("remove a key's time to live (it no longer expires); exit 1 when the key is absent")
    .argument("<key>", "UTF-8 key")
    .action(async (key: string, flags: RaftConfigFlags) => {
      const outcome = await withClient(flags, (raftClient) => raftClient.persist(key));
      if (outcome === "absent") throw new NotFoundError(`not found: ${key}`);
      process.stderr.write(outcome === "removed" ? "OK (TTL removed)\n" : "OK (it had no TTL)\n");
    });

  withConfig(client.command("get"), CLIENT_FIELDS)
    .description("print a value's raw bytes to stdout (a newline follows on a terminal); 'not found' on stderr and exit 1 when absent")
    .argument("<key>", "UTF-8 key")
    .action(async (key: string, flags: RaftConfigFlags) => {
      const value = await withClient(flags, (raftClient) => raftClient.get(key));
      if (value === null) throw new NotFoundError(`not found: ${key}`);
      await writeValue(value);
    });

  withConfig(client.command("del"), CLIENT_FIELDS)
    .description("delete a key; 'nothing deleted' on stderr and exit 1 when it held no value")
    .argument("<key>", "UTF-8 key")
    .action(async (key: string, flags: RaftConfigFlags) => {
      const existed = await withClient(flags, (raftClient) => raftClient.del(key));
      if (!existed) throw new NotFoundError(`nothing deleted: ${key} holds no value`);
      process.stderr.write("OK (deleted)\n");
    });

  withConfig(client.command("stats"), CLIENT_FIELDS)
    .description("each node's role, term, indexes, exact logical bytes, memory used against its budget, evictions, expirations and writes refused for memory; exit 0 healthy, 7 degraded, 3 cannot serve")
    .option("--json", "machine-readable output")
    .action(async (flags: RaftConfigFlags & { json?: boolean }) => {
      const report = await withClient(flags, gatherRaftCluster);
      if (flags.json === true) {
        process.stdout.write(JSON.stringify(report.nodes.map((node) => ({ address: node.address, reachable: node.stats !== null, member: node.member, stats: node.stats })), null, 2) + "\n");
      } else {
        process.stdout.write(
          "node                 role        term   commit   applied  keys      value_B      log_B      logical_B    used_B       budget_B     evicted  expired  rejected rss_B\n",
        );
        for (const { address, stats: s } of report.nodes) {
          if (s === null) {
            process.stdout.write(`${address.padEnd(20)} unreachable\n`);
            continue;
          }
          process.stdout.write(
            `${address.padEnd(20)} ${s.role.padEnd(11)} ${String(s.term).padEnd(6)} ${String(s.commitIndex).padEnd(8)} ${String(s.appliedIndex).padEnd(8)} ${String(s.keyCount).padEnd(9)} ${String(s.valueBytes).padEnd(12)} ${String(s.logBytes).padEnd(10)} ${String(s.logicalBytes).padEnd(12)} ${String(s.usedBytes).padEnd(12)} ${budgetText(s).padEnd(12)} ${String(s.evictedKeys).padEnd(8)} ${String(s.expiredKeys).padEnd(8)} ${String(s.rejectedWrites).padEnd(8)} ${s.rssBytes}\n`,
          );
        }
      }
      reportClusterHealth(report);
    });

  const cluster = raft.command("cluster").description("the raft cluster as a whole: status, and membership changes (one at a time)");
  withConfig(cluster.command("status"), CLIENT_FIELDS)
    .description("the leader, term and members, and per node: role, term, commit and applied index, memory used against its budget; exit 0 healthy, 7 degraded, 3 cannot serve")
    .option("--json", "machine-readable output")
    .action(async (flags: RaftConfigFlags & { json?: boolean }) => {
      const report = await withClient(flags, gatherRaftCluster);
      const status = raftClusterStatus(report);
      const { nodes } = status;
      if (flags.json === true) {
        process.stdout.write(JSON.stringify(status, null, 2) + "\n");
      } else {
        process.stdout.write(`leader ${report.leader ?? "none"} term ${report.term ?? "-"} members [${report.members.join(",")}]\n`);
        process.stdout.write("node                 role        term   commit   applied  member used_B       budget_B     policy\n");
        for (const node of nodes) {
          const stats = report.nodes.find((entry) => entry.address === node.address)?.stats ?? null;
          process.stdout.write(
            `${node.address.padEnd(20)} ${node.role.padEnd(11)} ${String(node.term ?? "-").padEnd(6)} ${String(node.commitIndex ?? "-").padEnd(8)} ${String(node.appliedIndex ?? "-").padEnd(8)} ${(node.member ? "yes" : "no").padEnd(6)} ${String(stats?.usedBytes ?? "-").padEnd(12)} ${(stats === null ? "-" : budgetText(stats)).padEnd(12)} ${stats?.evictionPolicy ?? "-"}\n`,
          );
        }
      }
      reportClusterHealth(report);
    });
  withConfig(cluster.command("add"), CLIENT_FIELDS)
    .description("add a voter (start it first with `raft server startOne <host:port>`, which joins by itself)")
    .argument("<address>", "host:port of the node")
    .action(async (address: string, flags: RaftConfigFlags) => {
      parseAddress(address);
      await withClient(flags, (raftClient) => raftClient.addMember(address));
      process.stderr.write(`OK (${address} added)\n`);
    });
  withConfig(cluster.command("remove"), CLIENT_FIELDS)
    .description("remove a voter")
    .argument("<address>", "host:port of the node")
    .action(async (address: string, flags: RaftConfigFlags) => {
      parseAddress(address);
      await withClient(flags, (raftClient) => raftClient.removeMember(address));
      process.stderr.write(`OK (${address} removed)\n`);
    });
  return raft;
}

/** This node's RESP server (src/resp), forwarding to the leader; null when the config gives it no port. */
async function startRaftResp(
  node: import("../raft/node").RaftNodeRuntime,
  config: RaftClusterConfig,
  address: string,
  logger: import("../core/logger").Logger,
  metrics: import("../frontdoor/metrics").NodeMetricsSink | undefined,
): Promise<{ close(): Promise<void> } | null> {
  const { respAddress } = await import("../resp/resp_address");
  const listenAt = respAddress(config, address);
  if (listenAt === null) return null;
  const [{ startNodeRespServer }, { RaftRespBackend }, { RaftClient }] = await Promise.all([
    import("../resp/server"),
    import("../resp/raft_backend"),
    import("../raft/client"),
  ]);
  const client = new RaftClient({ servers: config.servers, rpcTimeoutMs: config.rpcTimeoutMs, connectTimeoutMs: config.connectTimeoutMs, authToken: authTokenOf(config) ?? undefined, tls: config.clientTls });
  const backend = new RaftRespBackend(node, client, config);
  return startNodeRespServer({ backend, listenAt, logger, metrics, auth: authTokenOf(config), tls: config.tls });
}
