// `ecc server ...` and `ecc client ...`: argument handling only; protocol logic lives in
// src/ecc.
import fs from "node:fs";
import path from "node:path";
import { Command, Option } from "commander";
import { createCodec } from "../codec";
import { CodecBackend } from "../codec/codec";
import { nodeDataDir } from "../core/data_dir";
import { ConfigError, NotFoundError, InvalidArgumentError } from "../core/errors";
import { createJsonLogger, parseLogLevel } from "../core/logger";
import { EcClient } from "../ecc/client";
import { eccConfigToFile } from "../ecc/config";
import { EccNodeRuntime } from "../ecc/node";
import { EccConfigFlags, RESOLVED_CONFIG_ENV, loadEccConfig } from "./ecc_config_loader";
import { readValue, writeRaw } from "./io";
import { findBusyAddresses } from "../core/ports";
import { exitWithSupervisor } from "../core/supervisor_watch";
import { superviseNodes } from "./supervisor";

const CODEC_CHOICES = ["auto", "table", "wasm"];

function addConfigOptions(command: Command): Command {
  return command
    .option("-c, --config <file>", "ecc_config.json to read (default: $ECC_CONFIG, then ./ecc_config.json, then built-in defaults)")
    .option("--servers <list>", "comma-separated host:port list (env ECC_SERVERS)")
    .option("--k <count>", "data shards k (env ECC_K)")
    .option("--n <count>", "total shards n = number of servers (env ECC_N)")
    .option("--block-size <bytes>", "shard bytes per stripe; a stripe holds k of these (env ECC_BLOCK_SIZE)")
    .option("--heartbeat-timeout-ms <ms>", "failure detection timeout (env ECC_HEARTBEAT_TIMEOUT_MS)")
    .option("--lock-lease-ms <ms>", "EcPrepare lock lease (env ECC_LOCK_LEASE_MS)")
    .option("--rpc-timeout-ms <ms>", "deadline of one request to one node (env ECC_RPC_TIMEOUT_MS)")
    .option("--data-dir <dir>", "where nodes keep their view control plane state (env ECC_DATA_DIR)");
}

function codecOption(): Option {
  return new Option("--codec <backend>", "Reed–Solomon backend (env ECC_CODEC)").choices(CODEC_CHOICES).default(process.env.ECC_CODEC ?? "auto");
}

async function openClient(flags: EccConfigFlags & { codec: string }): Promise<EcClient> {
  const { config } = loadEccConfig(flags);
  const codec = await createCodec(flags.codec as CodecBackend | "auto", config.dataShards, config.parityShards);
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

export function eccCommand(): Command {
  const ecc = new Command("ecc").description("erasure-coded mode: Reed–Solomon shards, one per node, 2PC writes");

  const server = ecc.command("server").description("run ecc nodes");
  addConfigOptions(server.command("startAll"))
    .description("start every configured node, one OS process each; Ctrl-C stops them all")
    .action(async (flags: EccConfigFlags) => {
      const { config, source } = loadEccConfig(flags);
      const busy = await findBusyAddresses(config.servers);
      if (busy.length > 0) {
        throw new ConfigError(`cannot start: ${busy.join(", ")} already in use (another cluster running?)`);
      }
      process.stdout.write(
        `ecc cluster: k=${config.dataShards} n=${config.dataShards + config.parityShards} block_size=${config.blockBytes} (config: ${source})\n`,
      );
      const env = { ...process.env, [RESOLVED_CONFIG_ENV]: JSON.stringify(eccConfigToFile(config)) };
      const code = await superviseNodes(
        config.servers.map((address, index) => ({
          name: `ecc node ${index} (shard ${index})`,
          address,
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

  addConfigOptions(server.command("startOne"))
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
      const { config } = loadEccConfig(flags);
      if (!config.servers.includes(address)) {
        throw new ConfigError(`${address} is not one of the configured servers: ${config.servers.join(", ")}`);
      }
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
      const node = new EccNodeRuntime({ config, address, logger, codec, recover: recover !== undefined });
      await node.start();
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          logger.info("ecc.node_stopping", {});
          void node.stop().then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });

  const client = ecc.command("client").description("talk to an ecc cluster");
  addConfigOptions(client.command("set"))
    .description("store a value (argument, --file, or stdin)")
    .argument("<key>", "UTF-8 key, 1..1024 bytes")
    .argument("[value]", "the value as text; '-' or omitted reads stdin")
    .option("-f, --file <path>", "read the value from a file (binary safe)")
    .addOption(codecOption())
    .action(async (key: string, value: string | undefined, flags: EccConfigFlags & { file?: string; codec: string }) => {
      const bytes = await readValue({ value, file: flags.file });
      const ecc = await openClient(flags);
      try {
        const result = await ecc.set(key, bytes);
        process.stderr.write(`OK (version ${result.version}, ${bytes.length} bytes)\n`);
      } finally {
        ecc.close();
      }
    });

  addConfigOptions(client.command("get"))
    .description("print a value's raw bytes to stdout; 'not found' on stderr and exit 1 when absent")
    .argument("<key>", "UTF-8 key")
    .addOption(codecOption())
    .action(async (key: string, flags: EccConfigFlags & { codec: string }) => {
      const ecc = await openClient(flags);
      try {
        const value = await ecc.get(key);
        if (value === null) throw new NotFoundError(`not found: ${key}`);
        await writeRaw(value);
      } finally {
        ecc.close();
      }
    });

  addConfigOptions(client.command("del"))
    .description("delete a key (a tombstone write)")
    .argument("<key>", "UTF-8 key")
    .addOption(codecOption())
    .action(async (key: string, flags: EccConfigFlags & { codec: string }) => {
      const ecc = await openClient(flags);
      try {
        const result = await ecc.del(key);
        process.stderr.write(`OK (deleted, version ${result.version})\n`);
      } finally {
        ecc.close();
      }
    });

  addConfigOptions(client.command("stats"))
    .description("each node's exact logical bytes (keys, payload, metadata) and memory")
    .option("--json", "machine-readable output")
    .addOption(codecOption())
    .action(async (flags: EccConfigFlags & { codec: string; json?: boolean }) => {
      const ecc = await openClient(flags);
      try {
        const { config } = loadEccConfig(flags);
        const stats = await ecc.stats();
        if (flags.json === true) {
          process.stdout.write(JSON.stringify(stats.map((s, i) => ({ address: config.servers[i], stats: s })), null, 2) + "\n");
          return;
        }
        process.stdout.write("node                 shard  keys      payload_B    key_B     meta_B    logical_B    rss_B\n");
        stats.forEach((s, i) => {
          const address = config.servers[i].padEnd(20);
          if (s === null) {
            process.stdout.write(`${address} unreachable\n`);
            return;
          }
          process.stdout.write(
            `${address} ${String(s.shardIndex).padStart(5)}  ${String(s.keyCount).padEnd(9)} ${String(s.payloadBytes).padEnd(12)} ${String(s.keyBytes).padEnd(9)} ${String(s.metaBytes).padEnd(9)} ${String(s.logicalBytes).padEnd(12)} ${s.rssBytes}\n`,
          );
        });
      } finally {
        ecc.close();
      }
    });
  const cluster = ecc.command("cluster").description("the ecc cluster as a whole");
  addConfigOptions(cluster.command("status"))
    .description("the view (epoch, members, recovering), and per node: state, epoch, keys, logical bytes, recovery progress")
    .option("--json", "machine-readable output")
    .addOption(codecOption())
    .action(async (flags: EccConfigFlags & { codec: string; json?: boolean }) => {
      const client = await openClient(flags);
      try {
        const { config } = loadEccConfig(flags);
        const stats = await client.stats();
        const views = stats.filter((s) => s !== null && s.view !== undefined).map((s) => s!.view!);
        const newest = views.sort((a, b) => b.epoch - a.epoch)[0] ?? null;
        const nodes = stats.map((s, index) => ({
          address: config.servers[index],
          shardIndex: index,
          reachable: s !== null,
          state: s?.state ?? "unreachable",
          epoch: s?.view?.epoch ?? null,
          controlLeader: s?.controlLeader ?? false,
          keys: s?.keyCount ?? null,
          logicalBytes: s?.logicalBytes ?? null,
          rssBytes: s?.rssBytes ?? null,
          rebuild: s === null || s.rebuildTotalKeys === 0 ? null : {
            keys: s.rebuiltKeys,
            totalKeys: s.rebuildTotalKeys,
            bytes: s.rebuiltBytes,
            bytesPerSecond: s.rebuildBytesPerSecond,
          },
        }));
        if (flags.json === true) {
          process.stdout.write(JSON.stringify({ view: newest, nodes }, null, 2) + "\n");
          return;
        }
        if (newest === null) {
          process.stdout.write("no node answered\n");
          process.exitCode = 3;
          return;
        }
        process.stdout.write(`view epoch ${newest.epoch}: members [${newest.members.join(",")}] recovering [${newest.recovering.join(",")}] control leader ${newest.leader || "unknown"}\n`);
        process.stdout.write("shard  node                 state        epoch  keys      logical_B    rss_B       rebuild\n");
        for (const node of nodes) {
          const rebuild = node.rebuild === null ? "" : `${node.rebuild.keys}/${node.rebuild.totalKeys} keys, ${node.rebuild.bytes} B, ${(node.rebuild.bytesPerSecond / 1e6).toFixed(2)} MB/s`;
          process.stdout.write(
            `${String(node.shardIndex).padEnd(6)} ${node.address.padEnd(20)} ${(node.state + (node.controlLeader ? "*" : "")).padEnd(12)} ${String(node.epoch ?? "-").padEnd(6)} ${String(node.keys ?? "-").padEnd(9)} ${String(node.logicalBytes ?? "-").padEnd(12)} ${String(node.rssBytes ?? "-").padEnd(11)} ${rebuild}\n`,
          );
        }
        process.stdout.write("(* = control-plane leader)\n");
      } finally {
        client.close();
      }
    });
  return ecc;
}
