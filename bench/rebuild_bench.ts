// Rebuild benchmark (issue 18): how fast a replaced ecc node rebuilds its shards while a
// foreground load goes on, what the rebuild costs in CPU, and how much the foreground's
// ops/s dip meanwhile.
//
// Method: start 5 ecc nodes (k=3) as real processes, the way startAll does (launcher.ts:
// node flags, allocator); load values of --value-bytes until node 1 holds ~--shard-mib MiB
// of shards; preload --foreground-keys keys of 1 KiB and run a foreground load on them
// (--concurrency workers, --read-ratio gets, the rest sets) from this process; measure its
// ops/s for a baseline window; SIGKILL node 1 and restart it with `recover`; keep the load
// running until the node is promoted; measure a window after. Reports the node's rebuild
// rate (shard bytes installed per second, from its own stats, and from restart to promotion),
// the foreground's ops/s before, with the node dead, during the rebuild and after, and the
// CPU time every node used during the rebuild per rebuilt MB. The node rebuilds the
// foreground's keys too: the table counts them apart. Prints a table; --json FILE writes the
// figures.
//
//   node dist/bench/rebuild_bench.js [--shard-mib 100] [--value-bytes 64KiB] [--concurrency 16]
//                                    [--read-ratio 0.5] [--foreground-keys 10000] [--json FILE]
//                                    [--heartbeat-timeout-ms 1000]
// The heartbeat timeout is the cluster default; on a machine busy with other work a node can
// miss it and be removed (the table counts rebuild starts), so it can be raised.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createCodec } from "../src/codec";
import { EcClient } from "../src/ecc/client";
import { eccConfigToFile, parseEccConfig } from "../src/ecc/config";
import { RESOLVED_CONFIG_ENV } from "../src/cli/ecc_config_loader";
import { CLI_MAIN, LaunchedProcess, launch, nodeProcess } from "../src/core/launcher";
import { readProcessCpuMs } from "../src/bench/cpu";
import { parseByteSize } from "../src/core/units";
import { sleep } from "../src/core/env";

/** Rebuild, view and warning events of every node, printed with the result (bounded). */
const rebuildLog: string[] = [];
const REBUILD_LOG_LINES_MAX = 400;
const EVENT_LINE = /ec\.rebuild_(started|finished|failed)|ec\.promoted|ec\.node_removed|ec\.removed_from_view|"level":"(warn|error)"/;
const READY_TIMEOUT_MS = 30_000;
/** Longest rebuild the bench waits for (the old per-key path took minutes at 1 KiB). */
const REBUILD_WAIT_MS_MAX = 30 * 60_000;
const FOREGROUND_VALUE_BYTES = 1024;
const LOAD_CONCURRENCY = 32;

const USAGE = `usage: node dist/bench/rebuild_bench.js [--shard-mib 100] [--value-bytes 64KiB] [--concurrency 16]
  [--read-ratio 0.5] [--foreground-keys 10000] [--heartbeat-timeout-ms 1000] [--json FILE]`;

/** The command line, checked: an unknown flag or a bad number is a usage error (exit 2), --help prints the usage. */
function parseOptions(argv: string[]): { shardMib: number; valueBytes: number; concurrency: number; readRatio: number; foregroundKeys: number; heartbeatTimeoutMs: number; json: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        "shard-mib": { type: "string", default: "100" },
        "value-bytes": { type: "string", default: "64KiB" },
        "value-kib": { type: "string" },
        concurrency: { type: "string", default: "16" },
        "read-ratio": { type: "string", default: "0.5" },
        "foreground-keys": { type: "string", default: "10000" },
        "heartbeat-timeout-ms": { type: "string", default: "1000" },
        json: { type: "string", default: "" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    usageError((error as Error).message);
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const number = (flag: string, text: string, min: number, max: number): number => {
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value) || value < min || value > max) usageError(`--${flag} needs a number from ${min} to ${max}, got '${text}'`);
    return value;
  };
  let valueBytes = 0;
  try {
    valueBytes = parseByteSize(parsed["value-kib"] !== undefined ? `${parsed["value-kib"]}KiB` : parsed["value-bytes"]!, "--value-bytes");
  } catch (error) {
    usageError((error as Error).message);
  }
  return {
    shardMib: number("shard-mib", parsed["shard-mib"]!, 1, 100_000),
    valueBytes,
    concurrency: Math.floor(number("concurrency", parsed.concurrency!, 1, 1_000)),
    readRatio: number("read-ratio", parsed["read-ratio"]!, 0, 1),
    foregroundKeys: Math.floor(number("foreground-keys", parsed["foreground-keys"]!, 1, 10_000_000)),
    heartbeatTimeoutMs: Math.floor(number("heartbeat-timeout-ms", parsed["heartbeat-timeout-ms"]!, 100, 60_000)),
    json: parsed.json!,
  };
}

function usageError(message: string): never {
  process.stderr.write(`rebuild bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startNode(address: string, env: NodeJS.ProcessEnv, recover: boolean): Promise<LaunchedProcess> {
  const command = nodeProcess(CLI_MAIN, ["ecc", "server", "startOne", address, ...(recover ? ["recover"] : [])], { ...process.env, ...env });
  const node = launch({
    name: `ecc node ${address}`,
    ...command,
    onLine: (line) => {
      if (EVENT_LINE.test(line) && rebuildLog.length < REBUILD_LOG_LINES_MAX) rebuildLog.push(line);
    },
  });
  await node.waitReady({ line: /"event":"ecc\.node_started"/ }, READY_TIMEOUT_MS);
  return node;
}

export interface RebuildResult {
  /** Shard MiB on node 1 after the load, before the foreground started. */
  shardMibPerNode: number;
  valueBytes: number;
  /** Keys of the load (valueBytes each); the foreground's keys (1 KiB each) come on top. */
  loadKeys: number;
  foregroundKeys: number;
  foregroundValueBytes: number;
  concurrency: number;
  readRatio: number;
  heartbeatTimeoutMs: number;
  rebuild: {
    keys: number;
    megabytes: number;
    /** From the restart to promotion. */
    seconds: number;
    /** The node's own figure: shard bytes installed ÷ the time from its key listing to the last install. */
    nodeReportedMegabytesPerSecond: number;
    /** Shard bytes ÷ (restart to promotion). */
    wallMegabytesPerSecond: number;
    /** Times the restarted node began its rebuild (more than 1: it was removed from the view and started over). */
    starts: number;
    /** Keys installed from bulk pulls and keys read the per-key way, from its ec.rebuild_finished line (when it logs them). */
    pulledKeys: number | null;
    fallbackKeys: number | null;
    /** Mean latency of a bulk pull and the mean pull window (pulls in flight), when the node logs them. */
    pullMsAverage: number | null;
    pullWindowAverage: number | null;
  };
  /** Foreground operations per second (gets + sets) in each window. */
  opsPerSecond: { baseline: number; afterKillBeforeRestart: number; duringRebuild: number; afterPromotion: number };
  /** ops/s during the rebuild ÷ ops/s before the failure, in percent. */
  duringPercentOfBaseline: number;
  foregroundErrors: number;
  /** CPU ms the nodes used from the restart to promotion, per MB rebuilt: the recovering node, the others. */
  cpuMsPerMegabyte: { recovering: number; others: number };
  /** CPU the bench process (the foreground load) used per second of the rebuild window, in cores. */
  generatorCores: number;
  killToRestartSeconds: number;
  /** Foreground ops/s per TIMELINE_MS, from the start of the baseline; marks in seconds on the same axis. */
  timeline: number[];
  marks: { killSeconds: number; restartSeconds: number; promotedSeconds: number };
}

const TIMELINE_MS = 500;

/** The JSON log lines of the node at `address` (from rebuildLog) whose event is `event`. */
function nodeEvents(address: string, event: string): Array<Record<string, unknown>> {
  const events: Array<Record<string, unknown>> = [];
  for (const line of rebuildLog) {
    if (!line.includes(`"event":"${event}"`)) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.nodeId === address) events.push(parsed);
    } catch {
      continue; // not a JSON log line
    }
  }
  return events;
}

function sizeLabel(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/**
 * The printed table. The rebuilt node rebuilds every key it lacks: the load's keys and the
 * foreground's keys, whose values are small; the rows say which is which, so the key count
 * is not read as keys of the load's value size.
 */
export function resultTable(result: RebuildResult): string {
  const foregroundKeys = Math.max(0, result.rebuild.keys - result.loadKeys);
  const loadSize = sizeLabel(result.valueBytes);
  const foregroundSize = sizeLabel(result.foregroundValueBytes);
  const ops = result.opsPerSecond;
  const load = `${foregroundSize}, ${Math.round(result.readRatio * 100)}% gets, c${result.concurrency}`;
  return (
    [
      `| measure | value |`,
      `|---|---|`,
      `| cluster | 5 nodes, k=3, heartbeat timeout ${result.heartbeatTimeoutMs} ms |`,
      `| shards on node 1 after the load | ${result.shardMibPerNode.toFixed(1)} MiB (${result.loadKeys} keys of ${loadSize} values) |`,
      `| keys rebuilt | ${result.rebuild.keys}: ${Math.min(result.loadKeys, result.rebuild.keys)} of the load (${loadSize} values) + ${foregroundKeys} of the foreground's (${foregroundSize} values) |`,
      `| shard bytes rebuilt | ${result.rebuild.megabytes.toFixed(1)} MB |`,
      `| rebuild time (restart to promotion) | ${result.rebuild.seconds.toFixed(1)} s |`,
      `| rebuild rate, node's own figure | ${result.rebuild.nodeReportedMegabytesPerSecond.toFixed(1)} MB/s of shard bytes |`,
      `| rebuild rate, restart to promotion | ${result.rebuild.wallMegabytesPerSecond.toFixed(1)} MB/s of shard bytes |`,
      `| rebuild starts (1 = never removed meanwhile) | ${result.rebuild.starts} |`,
      ...(result.rebuild.pulledKeys === null ? [] : [`| keys pulled in bulk / read per key | ${result.rebuild.pulledKeys} / ${result.rebuild.fallbackKeys ?? 0} |`]),
      ...(result.rebuild.pullMsAverage === null
        ? []
        : [`| bulk pull latency (mean), pulls in flight (mean) | ${result.rebuild.pullMsAverage.toFixed(0)} ms, ${(result.rebuild.pullWindowAverage ?? 0).toFixed(1)} |`]),
      `| CPU per rebuilt MB | ${result.cpuMsPerMegabyte.recovering.toFixed(1)} ms on the recovering node + ${result.cpuMsPerMegabyte.others.toFixed(1)} ms on the other 4 |`,
      `| foreground ops/s before the failure (${load}) | ${ops.baseline.toFixed(0)} |`,
      `| foreground ops/s with the node dead | ${ops.afterKillBeforeRestart.toFixed(0)} |`,
      `| foreground ops/s during the rebuild | ${ops.duringRebuild.toFixed(0)} (${result.duringPercentOfBaseline.toFixed(0)}% of before) |`,
      `| foreground ops/s after promotion | ${ops.afterPromotion.toFixed(0)} |`,
      `| foreground errors | ${result.foregroundErrors} |`,
      `| load generator (this process) during the rebuild | ${result.generatorCores.toFixed(2)} cores |`,
    ].join("\n") + "\n"
  );
}

/** Attempts per key of the load: a busy machine can make a node miss its heartbeats and a write's outcome unknown. */
const LOAD_ATTEMPTS_MAX = 10;

/** Sets `key`, again after a failure (a set is idempotent here), up to LOAD_ATTEMPTS_MAX times. */
async function setWithRetries(client: EcClient, key: string, value: Buffer): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.set(key, value);
      return;
    } catch (error) {
      if (attempt >= LOAD_ATTEMPTS_MAX) throw error;
      await sleep(100 * attempt);
    }
  }
}

/** Runs `count` tasks with `concurrency` workers. */
async function forEach(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

function cpuOf(nodes: Array<LaunchedProcess | null>): number[] {
  return nodes.map((node) => (node === null ? 0 : (readProcessCpuMs(node.pid) ?? 0)));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const { shardMib, valueBytes, concurrency, readRatio, heartbeatTimeoutMs } = options;
  const foregroundKeyCount = options.foregroundKeys;
  const jsonFile = options.json;
  const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "rebuild-bench-"));
  const config = parseEccConfig(
    {
      servers: ports.map((port) => `127.0.0.1:${port}`),
      k: 3,
      n: 5,
      block_size: 256 * 1024,
      heartbeat_timeout_ms: heartbeatTimeoutMs,
      lock_lease_ms: 2_000,
      rpc_timeout_ms: 5_000,
      data_dir: dataDir,
    },
    "rebuild bench",
  );
  const env = { [RESOLVED_CONFIG_ENV]: JSON.stringify(eccConfigToFile(config)), ECC_LOG_LEVEL: "info" };
  const nodes: Array<LaunchedProcess | null> = await Promise.all(config.servers.map((address) => startNode(address, env, false)));
  const codec = await createCodec("auto", 3, 2);
  const client = new EcClient({ config, codec });
  try {
    const shardBytesPerValue = Math.max(1, Math.ceil(valueBytes / 3));
    const valueCount = Math.ceil((shardMib * 1024 * 1024) / shardBytesPerValue);
    process.stderr.write(`loading ${valueCount} values of ${sizeLabel(valueBytes)} (~${shardMib} MiB of shards per node)...\n`);
    const value = Buffer.alloc(valueBytes);
    for (let i = 0; i < valueBytes; i++) value[i] = (i * 131) & 255;
    await forEach(valueCount, LOAD_CONCURRENCY, async (index) => {
      const copy = Buffer.from(value);
      if (copy.length >= 4) copy.writeUInt32LE(index, 0);
      await setWithRetries(client, `bulk${index}`, copy);
    });
    const loaded = await client.stats();
    const payload = loaded[1]?.payloadBytes ?? 0;
    process.stderr.write(`node 1 holds ${(payload / 1024 / 1024).toFixed(1)} MiB of shards\n`);
    const foregroundValue = Buffer.alloc(FOREGROUND_VALUE_BYTES, 7);
    await forEach(foregroundKeyCount, LOAD_CONCURRENCY, async (index) => {
      await setWithRetries(client, `fg${index}`, foregroundValue);
    });

    // The foreground load: gets and sets of the preloaded 1 KiB keys.
    let running = true;
    let done = 0;
    let errors = 0;
    const foreground = Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        let seed = worker * 7919 + 1;
        while (running) {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          const key = `fg${seed % foregroundKeyCount}`;
          try {
            if ((seed >>> 8) % 1000 < readRatio * 1000) await client.get(key);
            else await client.set(key, foregroundValue);
            done++;
          } catch {
            errors++;
            await sleep(10);
          }
        }
      }),
    );
    const timeline: number[] = [];
    const timelineStart = performance.now();
    let timelineDone = 0;
    const sampler = setInterval(() => {
      timeline.push(((done - timelineDone) * 1000) / TIMELINE_MS);
      timelineDone = done;
    }, TIMELINE_MS);
    const secondsSinceStart = (at: number): number => Number(((at - timelineStart) / 1000).toFixed(2));
    const rate = async (ms: number): Promise<number> => {
      const start = done;
      await sleep(ms);
      return ((done - start) * 1000) / ms;
    };
    const baseline = await rate(5_000);
    await nodes[1]!.stop("SIGKILL");
    nodes[1] = null;
    const killedAt = performance.now();
    const duringLoss = await rate(3_000);
    const cpuBefore = cpuOf(nodes);
    const generatorBefore = process.cpuUsage();
    const restartingAt = performance.now();
    nodes[1] = await startNode(config.servers[1], env, true);
    const restartedAt = performance.now();
    const doneAtRestart = done;
    cpuBefore[1] = 0; // a new process: all of its CPU counts
    let promotedAt = 0;
    let rebuild = { keys: 0, bytes: 0, bytesPerSecond: 0 };
    const deadline = performance.now() + REBUILD_WAIT_MS_MAX;
    while (promotedAt === 0 && performance.now() < deadline) {
      await sleep(100);
      const stats = (await client.stats())[1];
      if (stats !== null && stats.rebuildTotalKeys > 0) {
        rebuild = { keys: stats.rebuiltKeys, bytes: stats.rebuiltBytes, bytesPerSecond: stats.rebuildBytesPerSecond };
      }
      if (stats !== null && stats.state === "member") promotedAt = performance.now();
    }
    if (promotedAt === 0) throw new Error(`node 1 was not promoted within ${REBUILD_WAIT_MS_MAX / 1000} s`);
    const cpuAfter = cpuOf(nodes);
    const generator = process.cpuUsage(generatorBefore);
    const rebuildS = (promotedAt - restartedAt) / 1000;
    const duringRebuild = ((done - doneAtRestart) * 1000) / (promotedAt - restartedAt);
    const after = await rate(5_000);
    running = false;
    clearInterval(sampler);
    await foreground;
    const finished = nodeEvents(config.servers[1], "ec.rebuild_finished").at(-1);
    const countField = (name: string): number | null => (typeof finished?.[name] === "number" ? (finished[name] as number) : null);
    const megabytes = rebuild.bytes / 1e6;
    const cpuUsed = cpuAfter.map((ms, index) => ms - cpuBefore[index]);
    const others = cpuUsed.reduce((sum, ms, index) => (index === 1 ? sum : sum + ms), 0);
    const result: RebuildResult = {
      shardMibPerNode: payload / 1024 / 1024,
      valueBytes,
      loadKeys: valueCount,
      foregroundKeys: foregroundKeyCount,
      foregroundValueBytes: FOREGROUND_VALUE_BYTES,
      concurrency,
      readRatio,
      heartbeatTimeoutMs,
      rebuild: {
        keys: rebuild.keys,
        megabytes,
        seconds: rebuildS,
        nodeReportedMegabytesPerSecond: rebuild.bytesPerSecond / 1e6,
        wallMegabytesPerSecond: megabytes / rebuildS,
        starts: nodeEvents(config.servers[1], "ec.rebuild_started").length,
        pulledKeys: countField("pulledKeys"),
        fallbackKeys: countField("fallbackKeys"),
        pullMsAverage: countField("pullMsAverage"),
        pullWindowAverage: countField("pullWindowAverage"),
      },
      opsPerSecond: { baseline, afterKillBeforeRestart: duringLoss, duringRebuild, afterPromotion: after },
      duringPercentOfBaseline: (duringRebuild / baseline) * 100,
      foregroundErrors: errors,
      cpuMsPerMegabyte: { recovering: cpuUsed[1] / Math.max(megabytes, 1e-9), others: others / Math.max(megabytes, 1e-9) },
      generatorCores: (generator.user + generator.system) / 1000 / ((promotedAt - restartingAt) || 1),
      killToRestartSeconds: (restartedAt - killedAt) / 1000,
      timeline,
      marks: { killSeconds: secondsSinceStart(killedAt), restartSeconds: secondsSinceStart(restartedAt), promotedSeconds: secondsSinceStart(promotedAt) },
    };
    process.stdout.write(resultTable(result));
    process.stderr.write(rebuildLog.join("\n") + "\n");
    if (jsonFile !== "") fs.writeFileSync(jsonFile, JSON.stringify(result, null, 2) + "\n");
  } finally {
    client.close();
    await Promise.all(nodes.map((node) => node?.stop("SIGKILL")));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

// Run only as a program: a test imports resultTable without starting a cluster.
if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`rebuild bench failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
