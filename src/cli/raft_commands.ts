// `raft server ...`, `raft client ...` and `raft cluster ...`: argument handling only;
// protocol logic lives in src/raft.
import { Command } from "commander";
import { ConfigError, NotFoundError } from "../core/errors";
import { createJsonLogger, parseLogLevel } from "../core/logger";
import { RaftClient } from "../raft/client";
import { RaftClusterConfig, raftConfigToFile } from "../raft/config";
import { RaftNodeRuntime } from "../raft/node";
import { parseAddress } from "../core/address";
import { readValue, writeRaw } from "./io";
import { findBusyAddresses } from "../core/ports";
import { exitWithSupervisor } from "../core/supervisor_watch";
import { RAFT_RESOLVED_CONFIG_ENV, RaftConfigFlags, loadRaftConfig } from "./raft_config_loader";
import { superviseNodes } from "./supervisor";

function addConfigOptions(command: Command): Command {
  return command
    .option("-c, --config <file>", "raft_config.json to read (default: $RAFT_CONFIG, then ./raft_config.json, then built-in defaults)")
    .option("--servers <list>", "comma-separated host:port list of the bootstrap voters (env RAFT_SERVERS)")
    .option("--tick-ms <ms>", "Raft tick (env RAFT_TICK_MS)")
    .option("--election-ticks <n>", "election timeout in ticks, randomised up to twice this (env RAFT_ELECTION_TICKS)")
    .option("--heartbeat-ticks <n>", "heartbeat interval in ticks (env RAFT_HEARTBEAT_TICKS)")
    .option("--snapshot-entries <n>", "snapshot and compact the log every n applied entries (env RAFT_SNAPSHOT_ENTRIES)")
    .option("--fsync <policy>", "always (survives power loss) or never (survives process crashes only) (env RAFT_FSYNC)")
    .option("--data-dir <dir>", "where nodes keep term, vote, log and snapshot (env RAFT_DATA_DIR)")
    .option("--rpc-timeout-ms <ms>", "deadline of one client request (env RAFT_RPC_TIMEOUT_MS)");
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
  const client = new RaftClient({ servers: config.servers, rpcTimeoutMs: config.rpcTimeoutMs });
  try {
    return await run(client, config);
  } finally {
    client.close();
  }
}

export function raftCommand(): Command {
  const raft = new Command("raft").description("Raft mode: full values replicated to every node by our own Raft");

  const server = raft.command("server").description("run raft nodes");
  addConfigOptions(server.command("startAll"))
    .description("start every configured node, one OS process each; Ctrl-C stops them all")
    .action(async (flags: RaftConfigFlags) => {
      const { config, source } = loadRaftConfig(flags);
      const busy = await findBusyAddresses(config.servers);
      if (busy.length > 0) throw new ConfigError(`cannot start: ${busy.join(", ")} already in use (another cluster running?)`);
      process.stdout.write(`raft cluster: ${config.servers.length} nodes, fsync ${config.fsync}, data in ${config.dataDir} (config: ${source})\n`);
      const env = { ...process.env, [RAFT_RESOLVED_CONFIG_ENV]: JSON.stringify(raftConfigToFile(config)) };
      process.exitCode = await superviseNodes(
        config.servers.map((address, index) => ({ name: `raft node ${index}`, address, args: ["raft", "server", "startOne", String(index)], env })),
        "raft.node_started",
        "raft cluster",
      );
    });

  addConfigOptions(server.command("startOne"))
    .description("start one node: <id> is its index in servers, or a new host:port that joins the running cluster")
    .argument("<id>", "0-based index into servers, or host:port")
    .option("--join", "ask the running cluster to add this node as a voter (implied for an address not in servers)")
    .option("--log-level <level>", "debug, info, warn or error (env RAFT_LOG_LEVEL)")
    .action(async (id: string, flags: RaftConfigFlags & { join?: boolean; logLevel?: string }) => {
      exitWithSupervisor(); // a node started by a supervisor stops once the supervisor is gone
      const { config } = loadRaftConfig(flags);
      const { address, bootstrap } = resolveNodeAddress(id, config);
      const logger = createJsonLogger({
        nodeId: address,
        mode: "raft",
        level: parseLogLevel(flags.logLevel ?? process.env.RAFT_LOG_LEVEL, "info"),
        write: (line) => process.stdout.write(line),
      });
      const node = new RaftNodeRuntime({ config, address, logger, join: flags.join === true || !bootstrap });
      await node.start();
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          logger.info("raft.node_stopping", {});
          void node.stop().then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });

  const client = raft.command("client").description("talk to a raft cluster");
  addConfigOptions(client.command("set"))
    .description("store a value (argument, --file, or stdin)")
    .argument("<key>", "UTF-8 key, 1..1024 bytes")
    .argument("[value]", "the value as text; '-' or omitted reads stdin")
    .option("-f, --file <path>", "read the value from a file (binary safe)")
    .action(async (key: string, value: string | undefined, flags: RaftConfigFlags & { file?: string }) => {
      const bytes = await readValue({ value, file: flags.file });
      await withClient(flags, (raftClient) => raftClient.set(key, bytes));
      process.stderr.write(`OK (${bytes.length} bytes)\n`);
    });

  addConfigOptions(client.command("get"))
    .description("print a value's raw bytes to stdout; 'not found' on stderr and exit 1 when absent")
    .argument("<key>", "UTF-8 key")
    .action(async (key: string, flags: RaftConfigFlags) => {
      const value = await withClient(flags, (raftClient) => raftClient.get(key));
      if (value === null) throw new NotFoundError(`not found: ${key}`);
      await writeRaw(value);
    });

  addConfigOptions(client.command("del"))
    .description("delete a key")
    .argument("<key>", "UTF-8 key")
    .action(async (key: string, flags: RaftConfigFlags) => {
      await withClient(flags, (raftClient) => raftClient.del(key));
      process.stderr.write("OK (deleted)\n");
    });

  addConfigOptions(client.command("stats"))
    .description("each node's role, term, indexes and exact logical bytes")
    .option("--json", "machine-readable output")
    .action(async (flags: RaftConfigFlags & { json?: boolean }) => {
      await withClient(flags, async (raftClient, config) => {
        const stats = await raftClient.statsAll(config.servers);
        if (flags.json === true) {
          process.stdout.write(JSON.stringify(stats.map((s, i) => ({ address: config.servers[i], stats: s })), null, 2) + "\n");
          return;
        }
        process.stdout.write("node                 role        term   commit   applied  keys      value_B      log_B      logical_B    rss_B\n");
        stats.forEach((s, i) => {
          const address = config.servers[i].padEnd(20);
          if (s === null) return void process.stdout.write(`${address} unreachable\n`);
          process.stdout.write(
            `${address} ${s.role.padEnd(11)} ${String(s.term).padEnd(6)} ${String(s.commitIndex).padEnd(8)} ${String(s.appliedIndex).padEnd(8)} ${String(s.keyCount).padEnd(9)} ${String(s.valueBytes).padEnd(12)} ${String(s.logBytes).padEnd(10)} ${String(s.logicalBytes).padEnd(12)} ${s.rssBytes}\n`,
          );
        });
      });
    });

  const cluster = raft.command("cluster").description("membership of a raft cluster (one change at a time)");
  addConfigOptions(cluster.command("add"))
    .description("add a voter (start it first with `raft server startOne <host:port>`, which joins by itself)")
    .argument("<address>", "host:port of the node")
    .action(async (address: string, flags: RaftConfigFlags) => {
      parseAddress(address);
      await withClient(flags, (raftClient) => raftClient.addMember(address));
      process.stderr.write(`OK (${address} added)\n`);
    });
  addConfigOptions(cluster.command("remove"))
    .description("remove a voter")
    .argument("<address>", "host:port of the node")
    .action(async (address: string, flags: RaftConfigFlags) => {
      parseAddress(address);
      await withClient(flags, (raftClient) => raftClient.removeMember(address));
      process.stderr.write(`OK (${address} removed)\n`);
    });
  return raft;
}

