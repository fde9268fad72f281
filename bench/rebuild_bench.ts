// Rebuild benchmark (issue 4): how fast a replaced ecc node rebuilds its shards while
// writes go on, and how much write throughput dips meanwhile.
//
// Method: start 5 ecc nodes (k=3) as real processes, load values until each node holds
// ~--shard-mib MiB of shards, run a steady writer (1 KiB values, --concurrency), measure
// its ops/s for a baseline window, SIGKILL node 1 and restart it with `recover`, keep the
// writer running until the node is promoted, and report the node's rebuild rate (shard
// bytes installed per second, from its own stats) and the writer's ops/s before, during
// and after. Prints a table; --json FILE writes the figures. The node rebuilds the writer's
// keys too (small values, written before the restart): the table counts them apart.
//
//   node dist/bench/rebuild_bench.js [--shard-mib 100] [--value-kib 64] [--concurrency 16] [--json FILE]
import { spawn, ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { createCodec } from "../src/codec";
import { EcClient } from "../src/ecc/client";
import { eccConfigToFile, parseEccConfig } from "../src/ecc/config";
import { RESOLVED_CONFIG_ENV } from "../src/cli/ecc_config_loader";

const CLI = path.resolve(__dirname, "..", "src", "cli", "main.js");
/** The recovering node's rebuild events, printed with the result. */
const rebuildLog: string[] = [];

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function startNode(address: string, env: NodeJS.ProcessEnv, recover: boolean): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, "ecc", "server", "startOne", address, ...(recover ? ["recover"] : [])], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${address} not ready`)), 20_000);
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      if (/ec\.rebuild_(started|finished|failed)|ec\.promoted/.test(line)) rebuildLog.push(line);
      if (line.includes('"event":"ecc.node_started"')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.resume();
    child.on("exit", () => reject(new Error(`${address} exited`)));
  });
}

export interface RebuildResult {
  /** Shard MiB on node 1 after the load, before the writer started. */
  shardMibPerNode: number;
  valueKib: number;
  /** Keys of the load (valueKib each); the writer's keys (writerValueBytes each) come on top. */
  loadKeys: number;
  writerValueBytes: number;
  concurrency: number;
  rebuild: { keys: number; megabytes: number; seconds: number; nodeReportedMegabytesPerSecond: number; wallMegabytesPerSecond: number };
  writesPerSecond: { baseline: number; afterKillBeforeRestart: number; duringRebuild: number; afterPromotion: number };
  dipPercent: number;
  writeErrors: number;
  killToRestartSeconds: number;
}

/**
 * The printed table. The rebuilt node rebuilds every key it lacks: the load's keys and the
 * keys the writer wrote before the restart, whose values are small; the rows say which is
 * which, so the key count is not read as keys of the load's value size.
 */
export function resultTable(result: RebuildResult): string {
  const writerKeys = Math.max(0, result.rebuild.keys - result.loadKeys);
  const writerSize = result.writerValueBytes % 1024 === 0 ? `${result.writerValueBytes / 1024} KiB` : `${result.writerValueBytes} B`;
  const writes = result.writesPerSecond;
  return (
    [
      `| measure | value |`,
      `|---|---|`,
      `| shards on node 1 after the load | ${result.shardMibPerNode.toFixed(1)} MiB (${result.loadKeys} keys of ${result.valueKib} KiB values) |`,
      `| keys rebuilt | ${result.rebuild.keys}: ${Math.min(result.loadKeys, result.rebuild.keys)} of the load (${result.valueKib} KiB values) + ${writerKeys} of the writer's (${writerSize} values) |`,
      `| shard bytes rebuilt | ${result.rebuild.megabytes.toFixed(1)} MB |`,
      `| rebuild time (restart to promotion) | ${result.rebuild.seconds.toFixed(1)} s |`,
      `| rebuild rate | ${result.rebuild.wallMegabytesPerSecond.toFixed(1)} MB/s of shard bytes |`,
      `| writes/s before the failure (${writerSize}, c${result.concurrency}) | ${writes.baseline.toFixed(0)} |`,
      `| writes/s with the node dead (view change) | ${writes.afterKillBeforeRestart.toFixed(0)} |`,
      `| writes/s during the rebuild | ${writes.duringRebuild.toFixed(0)} (dip ${result.dipPercent.toFixed(0)}%) |`,
      `| writes/s after promotion | ${writes.afterPromotion.toFixed(0)} |`,
      `| write errors | ${result.writeErrors} |`,
    ].join("\n") + "\n"
  );
}

async function main(): Promise<void> {
  const shardMib = arg("shard-mib", 100);
  const valueKib = arg("value-kib", 64);
  const concurrency = arg("concurrency", 16);
  const jsonIndex = process.argv.indexOf("--json");
  const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "rebuild-bench-"));
  const config = parseEccConfig(
    {
      servers: ports.map((port) => `127.0.0.1:${port}`),
      k: 3,
      n: 5,
      block_size: 256 * 1024,
      heartbeat_timeout_ms: 1_000,
      lock_lease_ms: 2_000,
      rpc_timeout_ms: 5_000,
      data_dir: dataDir,
    },
    "rebuild bench",
  );
  const env = { [RESOLVED_CONFIG_ENV]: JSON.stringify(eccConfigToFile(config)), ECC_LOG_LEVEL: "info" };
  const nodes: Array<ChildProcess | null> = await Promise.all(config.servers.map((address) => startNode(address, env, false)));
  const codec = await createCodec("auto", 3, 2);
  const client = new EcClient({ config, codec });
  try {
    const valueBytes = valueKib * 1024;
    const shardBytesPerValue = Math.ceil(valueBytes / 3);
    const valueCount = Math.ceil((shardMib * 1024 * 1024) / shardBytesPerValue);
    process.stderr.write(`loading ${valueCount} values of ${valueKib} KiB (~${shardMib} MiB of shards per node)...\n`);
    const value = Buffer.alloc(valueBytes);
    for (let i = 0; i < valueBytes; i++) value[i] = (i * 131) & 255;
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < valueCount) {
          const index = next++;
          value.writeUInt32LE(index, 0);
          await client.set(`bulk${index}`, value);
        }
      }),
    );
    const loaded = await client.stats();
    const payload = loaded[1]?.payloadBytes ?? 0;
    process.stderr.write(`node 1 holds ${(payload / 1024 / 1024).toFixed(1)} MiB of shards\n`);

    // The steady writer, counting completed writes per 250 ms bucket.
    const small = Buffer.alloc(1024, 7);
    let running = true;
    let done = 0;
    let errors = 0;
    const writer = Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        for (let i = 0; running; i++) {
          try {
            await client.set(`w${w}-${i % 1000}`, small);
            done++;
          } catch {
            errors++;
          }
        }
      }),
    );
    const rate = async (ms: number): Promise<number> => {
      const start = done;
      await new Promise((resolve) => setTimeout(resolve, ms));
      return ((done - start) * 1000) / ms;
    };
    const baseline = await rate(5_000);
    nodes[1]!.kill("SIGKILL");
    const killedAt = performance.now();
    const duringLoss = await rate(3_000);
    nodes[1] = await startNode(config.servers[1], env, true);
    const restartedAt = performance.now();
    let duringDone = done;
    let promotedAt = 0;
    let rebuild = { keys: 0, bytes: 0, bytesPerSecond: 0 };
    for (let i = 0; i < 6_000 && promotedAt === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const stats = (await client.stats())[1];
      if (stats !== null && stats.rebuildTotalKeys > 0) {
        rebuild = { keys: stats.rebuiltKeys, bytes: stats.rebuiltBytes, bytesPerSecond: stats.rebuildBytesPerSecond };
      }
      if (stats !== null && stats.state === "member") promotedAt = performance.now();
    }
    const rebuildS = (promotedAt - restartedAt) / 1000;
    const duringRebuild = ((done - duringDone) * 1000) / (promotedAt - restartedAt);
    duringDone = done;
    const after = await rate(5_000);
    running = false;
    await writer;
    const result: RebuildResult = {
      shardMibPerNode: payload / 1024 / 1024,
      valueKib,
      loadKeys: valueCount,
      writerValueBytes: small.length,
      concurrency,
      rebuild: {
        keys: rebuild.keys,
        megabytes: rebuild.bytes / 1e6,
        seconds: rebuildS,
        nodeReportedMegabytesPerSecond: rebuild.bytesPerSecond / 1e6,
        wallMegabytesPerSecond: rebuild.bytes / 1e6 / rebuildS,
      },
      writesPerSecond: { baseline, afterKillBeforeRestart: duringLoss, duringRebuild, afterPromotion: after },
      dipPercent: (1 - duringRebuild / baseline) * 100,
      writeErrors: errors,
      killToRestartSeconds: (restartedAt - killedAt) / 1000,
    };
    process.stdout.write(resultTable(result));
    process.stderr.write(rebuildLog.join("\n") + "\n");
    if (jsonIndex >= 0) fs.writeFileSync(process.argv[jsonIndex + 1], JSON.stringify(result, null, 2) + "\n");
  } finally {
    client.close();
    for (const node of nodes) node?.kill("SIGKILL");
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
