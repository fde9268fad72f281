// `ecc server ...`, `ecc client ...` and `ecc cluster ...`: argument handling and output
// only; protocol logic lives in src/ecc. The client, the node runtime and the codec are
// imported inside the actions that need them, so a client command never loads the node
// runtime and its control plane (test/unit/cli_modules.test.ts counts what it loads).
import fs from "node:fs";
import { Command, Option } from "commander";
import type { CodecBackend } from "../codec/codec";
import { ConfigError, InvalidArgumentError, NotFoundError, UnavailableError } from "../core/errors";
import type { EcClient } from "../ecc/client";
import { EccClusterConfig, eccConfigToFile } from "../ecc/config";
import type { EcStatsReply } from "../gen/ecc";
import { addConfigOptions } from "./config_sources";
import { CLIENT_TLS_FIELDS } from "./tls_fields";
import { ECC_CONFIG_FIELDS, ECC_CONFIG_HELP, EccConfigFlags, LoadedEccConfig, RESOLVED_CONFIG_ENV, loadEccConfig } from "./ecc_config_loader";
import { eccHealth, eccNodeStates, reportHealth } from "./health";
import { eccClusterStatus, keyCounts, memoryOf } from "../frontdoor/status";
import { readValue, writeValue } from "./io";
import { formatBytes, formatDurationMs as formatMs } from "../core/units";
import { parseTtlFlag } from "./ttl";
import { nodeDataDir } from "../core/data_dir";
import type { Logger } from "../core/logger";
import { exitWithSupervisor } from "../core/supervisor_watch";
import { authTokenOf, installTokenReload } from "../core/auth_token";

const CODEC_CHOICES = ["auto", "table", "wasm"];

/** The settings every client command needs to describe the cluster it talks to. */
const CLIENT_FIELDS = ["servers", "k", "n", "rpc_timeout_ms", "read_extra", "read_hedge_percentile", "auth_token", "auth_token_file", ...CLIENT_TLS_FIELDS];
/** Writes also cut values into stripes, lock with a lease, and wait for view changes. */
const WRITE_FIELDS = [...CLIENT_FIELDS, "block_size", "lock_lease_ms", "heartbeat_timeout_ms"];
const SERVER_FIELDS = ECC_CONFIG_FIELDS.map((field) => field.field).filter((field) => !CLIENT_TLS_FIELDS.includes(field));

function withConfig(command: Command, fields: readonly string[]): Command {
  return addConfigOptions(command, ECC_CONFIG_FIELDS, ECC_CONFIG_HELP, fields);
}

/** Hidden where the command codes nothing (del, stats, status): accepted there as before. */
function codecOption(hidden = false): Option {
  const option = new Option("--codec <backend>", "Reed–Solomon backend (env ECC_CODEC)").choices(CODEC_CHOICES).default(process.env.ECC_CODEC ?? "auto");
  return hidden ? option.hideHelp() : option;
}

/** Loads the config once per command and prints how the original's fields were read. */
function loadConfig(flags: EccConfigFlags): LoadedEccConfig {
  const loaded = loadEccConfig(flags);
  for (const notice of loaded.notices) process.stderr.write(`ecc-cache: notice: ${notice}\n`);
  return loaded;
}

async function openClient(config: EccClusterConfig, codecBackend: string): Promise<EcClient> {
  const [{ createCodec }, { EcClient }] = await Promise.all([import("../codec"), import("../ecc/client")]);
  const codec = await createCodec(codecBackend as CodecBackend | "auto", config.dataShards, config.parityShards);
  const afterPrepare =
    process.env.ECC_CACHE_FAULT === "pause-after-prepare"
      ? async (): Promise<void> => {
          // Fault injection for tests: stop between EcPrepare and EcCommit so a test can
          // SIGKILL this client at exactly that point.
          process.stderr.write("ecc-cache: fault: paused after prepare\n");
          await new Promise(() => undefined);
        }
      : undefined;
  return new EcClient({ config, codec, afterPrepare });
}

/**
 * ECC_CACHE_FAULT=slow-reads:MS (test-only fault injection, as pause-after-prepare): the node
 * answers every read MS ms late, the slow node of the late-binding bench.
 */
function slowReadsFault(logger: Logger): number {
  const match = /^slow-reads:(\d{1,5})$/.exec(process.env.ECC_CACHE_FAULT ?? "");
  if (match === null) return 0;
  logger.warn("ecc.fault_injected", { fault: "slow-reads", delayMs: Number(match[1]) });
  return Number(match[1]);
}

async function withClient<T>(config: EccClusterConfig, codecBackend: string, run: (client: EcClient) => Promise<T>): Promise<T> {
  const client = await openClient(config, codecBackend);
  try {
    return await run(client);
  } catch (error) {
    throw await (await import("../transport/tls_probe")).explainTlsFailure(error, config.servers, config.clientTls);
  } finally {
    client.close();
  }
}

export function eccCommand(): Command {
  const ecc = new Command("ecc");

  const server = ecc.command("server").description("run ecc nodes");
  withConfig(server.command("startAll"), SERVER_FIELDS)
    .description("start every configured node, one OS process each; Ctrl-C stops them all")
    .option("--tls <dir>", "serve TLS, mutual between nodes and clients, with the certificates in DIR (made there with openssl when missing, as `certs create`)")
    .action(async (flags: EccConfigFlags & { tls?: string }) => {
      const loaded = loadConfig(flags);
      const source = loaded.source;
      const config = flags.tls === undefined ? loaded.config : await (await import("./node_tls")).withClusterCerts(loaded.config, flags.tls);
      const [{ findBusyAddresses }, { superviseNodes }, http, resp] = await Promise.all([
        import("../core/ports"),
        import("./supervisor"),
        import("../frontdoor/admin_address"),
        import("../resp/resp_address"),
      ]);
      const httpAddresses = http.adminHttpAddresses(config, http.ECC_HTTP_BASE_PORT);
      const respAddresses = resp.respAddresses(config, resp.ECC_RESP_BASE_PORT);
      const busy = await findBusyAddresses([...config.servers, ...[...httpAddresses, ...respAddresses].filter((address): address is string => address !== null)]);
      if (busy.length > 0) throw new UnavailableError(`cannot start: ${busy.join(", ")} already in use (another cluster running?)`);
      process.stdout.write(
        `ecc cluster: k=${config.dataShards} n=${config.dataShards + config.parityShards} block_size=${config.blockBytes} (config: ${source})\n`,
      );
      const childConfig = { ...config, ...http.childHttpSettings(httpAddresses), ...resp.childRespSettings(respAddresses) };
      const warned = (await import("./node_tls")).warnPlaintextCluster(config);
      const env = { ...process.env, ...warned, [RESOLVED_CONFIG_ENV]: JSON.stringify(eccConfigToFile(childConfig)) };
      const code = await superviseNodes(
        config.servers.map((address, index) => ({
          name: `ecc node ${index} (shard ${index})`,
          address,
          httpAddress: httpAddresses[index],
          respAddress: respAddresses[index],
          // startAll starts a new cluster: every node's memory is empty, so view state
          // left by an earlier run is meaningless (and would make every node wait to rebuild).
          args: ["ecc", "server", "startOne", address, "--fresh"],
          env,
        })),
        "ecc.node_started",
        "ecc cluster",
      );
      process.exitCode = code;
    });

  withConfig(server.command("startOne"), SERVER_FIELDS)
    .description("start one node; <address> must be one of the configured servers")
    .argument("<address>", "host:port of this node, as listed in the config")
    .argument("[recover]", "the word 'recover': join as a replacement node (starts empty)")
    .option("--log-level <level>", "debug, info, warn or error (env ECC_LOG_LEVEL)")
    .option("--fresh", "discard view state from an earlier run (a new cluster; startAll passes this)")
    .action(async (address: string, recover: string | undefined, flags: EccConfigFlags & { logLevel?: string; fresh?: boolean }) => {
      exitWithSupervisor(); // a node started by a supervisor stops once the supervisor is gone
      if (recover !== undefined && recover !== "recover") {
        throw new InvalidArgumentError(`unexpected argument '${recover}' (only 'recover' may follow the address)`);
      }
      const loaded = loadConfig(flags);
      if (!loaded.config.servers.includes(address)) {
        throw new ConfigError(`${address} is not one of the configured servers: ${loaded.config.servers.join(", ")}`);
      }
      const config = (await import("./node_tls")).prepareNodeTls(loaded.config, address);
      const [{ createJsonLogger, parseLogLevel }, { createCodec }, { EccNodeRuntime }] = await Promise.all([
        import("../core/logger"),
        import("../codec"),
        import("../ecc/node"),
      ]);
      const logger = createJsonLogger({
        nodeId: address,
        mode: "ecc",
        level: parseLogLevel(flags.logLevel ?? process.env.ECC_LOG_LEVEL, "info"),
        write: (line) => process.stdout.write(line),
      });
      if (flags.fresh === true) {
        if (recover !== undefined) throw new InvalidArgumentError("--fresh and recover contradict each other");
        fs.rmSync(nodeDataDir(config.dataDir, address), { recursive: true, force: true });
      }
      const codec = await createCodec((process.env.ECC_CODEC ?? "auto") as CodecBackend | "auto", config.dataShards, config.parityShards);
      const { adminHttpAddress } = await import("../frontdoor/admin_address");
      const httpAddress = adminHttpAddress(config, address);
      const metrics = httpAddress === null ? undefined : new (await import("../frontdoor/metrics")).NodeMetrics({ mode: "ecc", address });
      const node = new EccNodeRuntime({ config, address, logger, codec, recover: recover !== undefined, slowReadsMs: slowReadsFault(logger), metrics });
      installTokenReload(config, logger); // SIGHUP: read auth_token_file again (rotation)
      // The RESP port is bound before the node starts, so a port in use fails the start (exit
      // 3, as for the gRPC port) and the node's ready line means both ports are listening.
      const respServer = await startEccResp(node, config, address, codec, logger, metrics);
      await node.start();
      const admin =
        httpAddress === null || metrics === undefined
          ? null
          : await (await import("../frontdoor/ecc_admin")).startEccAdmin({ node, config, codec, httpAddress, metrics, logger }).catch(async (error: unknown) => {
              await node.stop();
              throw error;
            });
      if (admin !== null) logger.info("http.listening", { address: admin.address });
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          logger.info("ecc.node_stopping", {});
          void Promise.all([respServer?.close(), admin?.close(), node.stop()]).then(() => resolve());
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });

  const client = ecc.command("client").description("talk to an ecc cluster");
  withConfig(client.command("set"), WRITE_FIELDS)
    .description("store a value (argument, --file, or stdin), optionally with a TTL")
    .argument("<key>", "UTF-8 key, 1..1024 bytes")
    .argument("[value]", "the value as text; '-' or omitted reads stdin")
    .option("-f, --file <path>", "read the value from a file (binary safe)")
    .option("--ttl <duration>", "expire after this long: 30s, 1500ms, 5m, 2h (a bare number is seconds)")
    .addOption(codecOption())
    .action(async (key: string, value: string | undefined, flags: EccConfigFlags & { file?: string; ttl?: string; codec: string }) => {
      const ttlMs = flags.ttl === undefined ? undefined : parseTtlFlag(flags.ttl);
      const bytes = await readValue({ value, file: flags.file });
      const { config } = loadConfig(flags);
      const result = await withClient(config, flags.codec, (ecc) => ecc.set(key, bytes, { ttlMs }));
      process.stderr.write(`OK (version ${result.version}, ${bytes.length} bytes${ttlMs === undefined ? "" : `, expires in ${formatMs(ttlMs)}`})\n`);
    });

  withConfig(client.command("get"), CLIENT_FIELDS)
    .description("print a value's raw bytes to stdout (a newline follows on a terminal); 'not found' on stderr and exit 1 when absent or expired")
    .argument("<key>", "UTF-8 key")
    .addOption(codecOption())
    .action(async (key: string, flags: EccConfigFlags & { codec: string }) => {
      const { config } = loadConfig(flags);
      const value = await withClient(config, flags.codec, (ecc) => ecc.get(key));
      if (value === null) throw new NotFoundError(`not found: ${key}`);
      await writeValue(value);
    });

  withConfig(client.command("getrange"), CLIENT_FIELDS)
    .description(
      "print bytes START..END of a value (inclusive; negative offsets count from its end, as Redis's GETRANGE; put -- before " +
        "negative ones); only the stripes covering the range are read. Exit 1 when the key holds no value",
    )
    .argument("<key>", "UTF-8 key")
    .argument("<start>", "first byte offset (integer)")
    .argument("<end>", "last byte offset (integer, inclusive)")
    .addOption(codecOption())
    .action(async (key: string, start: string, end: string, flags: EccConfigFlags & { codec: string }) => {
      const [from, to] = [start, end].map((text) => {
        if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new InvalidArgumentError(`offset '${text}' is not an integer`);
        return Number(text);
      });
      const { config } = loadConfig(flags);
      const value = await withClient(config, flags.codec, (ecc) => ecc.getRange(key, from, to));
      if (value === null) throw new NotFoundError(`not found: ${key}`);
      await writeValue(value);
    });

  withConfig(client.command("del"), WRITE_FIELDS.filter((field) => field !== "block_size"))
    .description("delete a key (a tombstone write); exit 1 when it held no value (nothing is written then)")
    .argument("<key>", "UTF-8 key")
    .addOption(codecOption(true))
    .action(async (key: string, flags: EccConfigFlags & { codec: string }) => {
      const { config } = loadConfig(flags);
      const result = await withClient(config, flags.codec, (ecc) => ecc.del(key));
      if (!result.applied) throw new NotFoundError(`nothing deleted: ${key} holds no value`);
      process.stderr.write(`OK (deleted, version ${result.version})\n`);
    });

  withConfig(client.command("expire"), WRITE_FIELDS)
    .description("set a key's TTL, keeping its value (reads and rewrites it); exit 1 when it holds no value")
    .argument("<key>", "UTF-8 key")
    .argument("<duration>", "30s, 1500ms, 5m, 2h (a bare number is seconds)")
    .addOption(codecOption())
    .action(async (key: string, duration: string, flags: EccConfigFlags & { codec: string }) => {
      const ttlMs = parseTtlFlag(duration);
      const { config } = loadConfig(flags);
      const done = await withClient(config, flags.codec, (ecc) => ecc.expire(key, { ttlMs }));
      if (!done) throw new NotFoundError(`not found: ${key}`);
      process.stderr.write(`OK (expires in ${formatMs(ttlMs)})\n`);
    });

  withConfig(client.command("ttl"), CLIENT_FIELDS)
    .description("print the milliseconds until a key expires, or -1 when it has no TTL; exit 1 when it holds no value")
    .argument("<key>", "UTF-8 key")
    .addOption(codecOption())
    .action(async (key: string, flags: EccConfigFlags & { codec: string }) => {
      const { config } = loadConfig(flags);
      const ms = await withClient(config, flags.codec, (ecc) => ecc.ttlMs(key));
      if (ms === -2) throw new NotFoundError(`not found: ${key}`);
      process.stdout.write(`${ms}\n`);
    });

  withConfig(client.command("persist"), WRITE_FIELDS)
    .description("remove a key's TTL, keeping its value; exit 1 when it holds no value or no TTL")
    .argument("<key>", "UTF-8 key")
    .addOption(codecOption())
    .action(async (key: string, flags: EccConfigFlags & { codec: string }) => {
      const { config } = loadConfig(flags);
      const done = await withClient(config, flags.codec, (ecc) => ecc.expire(key, null));
      if (!done) throw new NotFoundError(`nothing to persist: ${key} holds no value with a TTL`);
      process.stderr.write("OK (the key no longer expires)\n");
    });

  withConfig(client.command("stats"), CLIENT_FIELDS)
    .description("each node's exact logical bytes (live keys, tombstones, payload, metadata) and memory; exit 0 healthy, 7 degraded, 3 cannot serve")
    .option("--json", "machine-readable output")
    .addOption(codecOption(true))
    .action(async (flags: EccConfigFlags & { json?: boolean; codec: string }) => {
      const { config } = loadConfig(flags);
      const stats = await withClient(config, flags.codec, (ecc) => ecc.stats());
      const nodes = stats.map((s, index) => ({ address: config.servers[index], ...keyCounts(s), stats: s }));
      if (flags.json === true) {
        process.stdout.write(
          JSON.stringify(
            nodes.map((node) => ({
              address: node.address,
              reachable: node.stats !== null,
              keys: node.keys,
              tombstones: node.tombstones,
              memory: memoryOf(node.stats),
              stats: node.stats,
            })),
            null,
            2,
          ) + "\n",
        );
      } else {
        process.stdout.write("node                 shard  keys      tombstones  payload_B    key_B     meta_B    logical_B    rss_B       used/budget             evicted  expired  rejected\n");
        for (const { address, keys, tombstones, stats: s } of nodes) {
          if (s === null) {
            process.stdout.write(`${address.padEnd(20)} unreachable\n`);
            continue;
          }
          process.stdout.write(
            `${address.padEnd(20)} ${String(s.shardIndex).padStart(5)}  ${String(keys).padEnd(9)} ${String(tombstones).padEnd(11)} ${String(s.payloadBytes).padEnd(12)} ${String(s.keyBytes).padEnd(9)} ${String(s.metaBytes).padEnd(9)} ${String(s.logicalBytes).padEnd(12)} ${String(s.rssBytes).padEnd(11)} ${formatBudget(s).padEnd(23)} ${String(s.evictedKeys).padEnd(8)} ${String(s.expiredKeys).padEnd(8)} ${s.rejectedWrites}\n`,
          );
        }
      }
      reportHealth(eccHealth(eccNodeStates(stats, config.servers), config.dataShards));
    });

  const cluster = ecc.command("cluster").description("the ecc cluster as a whole");
  withConfig(cluster.command("status"), CLIENT_FIELDS)
    .description("the view (epoch, members, recovering), and per node: state, epoch, keys, logical bytes, recovery progress; exit 0 healthy, 7 degraded, 3 cannot serve")
    .option("--json", "machine-readable output")
    .addOption(codecOption(true))
    .action(async (flags: EccConfigFlags & { json?: boolean; codec: string }) => {
      const { config } = loadConfig(flags);
      const stats = await withClient(config, flags.codec, (ecc) => ecc.stats());
      const status = eccClusterStatus(stats, config.servers);
      const { view: newest, nodes } = status;
      if (flags.json === true) {
        process.stdout.write(JSON.stringify(status, null, 2) + "\n");
      } else {
        if (newest !== null) {
          process.stdout.write(
            `view epoch ${newest.epoch}: members [${newest.members.join(",")}] recovering [${newest.recovering.join(",")}] control leader ${newest.leader || "unknown"}\n`,
          );
        }
        process.stdout.write("shard  node                 state        epoch  keys      tombstones  logical_B    rss_B       used/budget             rebuild\n");
        for (const node of nodes) {
          const rebuild =
            node.rebuild === null
              ? ""
              : `${node.rebuild.keys}/${node.rebuild.totalKeys} keys, ${node.rebuild.bytes} B, ${(node.rebuild.bytesPerSecond / 1e6).toFixed(2)} MB/s`;
          process.stdout.write(
            `${String(node.shardIndex).padEnd(6)} ${node.address.padEnd(20)} ${(node.state + (node.controlLeader ? "*" : "")).padEnd(12)} ${String(node.epoch ?? "-").padEnd(6)} ${String(node.keys ?? "-").padEnd(9)} ${String(node.tombstones ?? "-").padEnd(11)} ${String(node.logicalBytes ?? "-").padEnd(12)} ${String(node.rssBytes ?? "-").padEnd(11)} ${(stats[node.shardIndex] === null ? "-" : formatBudget(stats[node.shardIndex]!)).padEnd(23)} ${rebuild}\n`,
          );
        }
        process.stdout.write("(* = control-plane leader)\n");
      }
      reportHealth(eccHealth(eccNodeStates(stats, config.servers), config.dataShards));
    });
  return ecc;
}

/** This node's RESP server (src/resp) when the config gives it a port; null when it has none. */
async function startEccResp(
  node: import("../ecc/node").EccNodeRuntime,
  config: EccClusterConfig,
  address: string,
  codec: import("../codec/codec").ErasureCodec,
  logger: Logger,
  metrics: import("../frontdoor/metrics").NodeMetricsSink | undefined,
): Promise<{ close(): Promise<void> } | null> {
  const { respAddress } = await import("../resp/resp_address");
  const listenAt = respAddress(config, address);
  if (listenAt === null) return null;
  const [{ startNodeRespServer }, { EccRespBackend, selfLink }, { EcClient }] = await Promise.all([
    import("../resp/server"),
    import("../resp/ecc_backend"),
    import("../ecc/client"),
  ]);
  const client = new EcClient({ config, codec, links: new Map([[node.shardIndex, selfLink(node)]]) });
  const backend = new EccRespBackend(node, client, config);
  return startNodeRespServer({ backend, listenAt, logger, metrics, auth: authTokenOf(config), tls: config.tls });
}

function formatBudget(stats: EcStatsReply): string {
  const budget = stats.maxMemoryBytes === 0 ? "none" : formatBytes(stats.maxMemoryBytes);
  return `${formatBytes(stats.usedBytes)}/${budget}`;
}
