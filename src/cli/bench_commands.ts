// `ecc-cache bench`: drive a cluster with YCSB-style workloads and write one JSON result
// file per run (versioned schema). Starts and stops the local cluster it measures unless
// given the addresses of a running one (--servers).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command, Option } from "commander";
import { InvalidArgumentError } from "../core/errors";
import { EcStatsReply } from "../gen/ecc";
import { parseEccConfig } from "../ecc/config";
import { EccTarget } from "../bench/ecc_target";
import { RunSummary, preload, runWorkload } from "../bench/runner";
import { KeyDistribution, WORKLOADS, parseMix } from "../bench/workload";
import { CodecBackend } from "../codec/codec";
import { EC_LOCK_LEASE_MS_DEFAULT, RPC_TIMEOUT_MS } from "../core/limits";
import { freeLoopbackPorts } from "./ports";

export const BENCH_SCHEMA = "ecc-cache.bench/1";

interface BenchFlags {
  target: string;
  workloads: string;
  mix?: string;
  concurrency: string;
  ops: string;
  keys: string;
  valueBytes: string;
  distribution: KeyDistribution;
  seed: string;
  k: string;
  n: string;
  blockSize: string;
  servers?: string;
  codec: string;
  out?: string;
}

function positiveInt(text: string, flag: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${flag}: '${text}' is not a positive whole number`);
  }
  return value;
}

function sizeLabel(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024}MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes}B`;
}

function gitCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: path.resolve(__dirname, "..", "..", ".."), stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return "unknown"; // not a git checkout (a container image, a tarball)
  }
}

export function benchCommand(): Command {
  return new Command("bench")
    .description("run YCSB-style workloads against a cluster and record latency and throughput")
    .addOption(new Option("--target <name>", "system under test").choices(["ecc"]).default("ecc"))
    .option("--workloads <list>", "comma list of A (50/50), B (95/5 read/update), C (inserts), S (100% update)", "B,S")
    .option("--mix <shares>", "custom mix instead of --workloads, e.g. read=0.7,update=0.2,delete=0.1")
    .option("--concurrency <list>", "comma list of client concurrencies", "1,64")
    .option("--ops <count>", "operations per run", "10000")
    .option("--keys <count>", "keys preloaded and addressed (key0...)", "10000")
    .option("--value-bytes <bytes>", "value size", "1024")
    .addOption(new Option("--distribution <name>", "key distribution").choices(["uniform", "zipfian"]).default("uniform"))
    .option("--seed <n>", "workload seed", "1")
    .option("--k <count>", "ecc data shards", "3")
    .option("--n <count>", "ecc total shards (= nodes)", "5")
    .option("--block-size <bytes>", "ecc shard bytes per stripe", "262144")
    .option("--servers <list>", "use a running cluster at these addresses instead of starting one")
    .addOption(new Option("--codec <backend>", "ecc codec").choices(["auto", "wasm", "table"]).default("auto"))
    .option("--out <file>", "result JSON path (default results/bench-<target>-<time>.json)")
    .action(async (flags: BenchFlags) => {
      const ops = positiveInt(flags.ops, "--ops");
      const keyCount = positiveInt(flags.keys, "--keys");
      const valueBytes = positiveInt(flags.valueBytes, "--value-bytes");
      const seed = positiveInt(flags.seed, "--seed");
      const concurrencies = flags.concurrency.split(",").map((c) => positiveInt(c.trim(), "--concurrency"));
      const workloads = flags.mix !== undefined ? [["custom", parseMix(flags.mix)] as const] : flags.workloads.split(",").map((w) => {
        const name = w.trim().toUpperCase();
        const mix = WORKLOADS[name];
        if (mix === undefined) throw new InvalidArgumentError(`unknown workload '${w}' (A, B, C, S)`);
        return [name, mix] as const;
      });
      const k = positiveInt(flags.k, "--k");
      const n = positiveInt(flags.n, "--n");
      const launch = flags.servers === undefined;
      const servers = launch ? (await freeLoopbackPorts(n)).map((port) => `127.0.0.1:${port}`) : flags.servers!.split(",");
      const config = parseEccConfig(
        {
          servers,
          k,
          n,
          block_size: positiveInt(flags.blockSize, "--block-size"),
          heartbeat_timeout_ms: 1_000,
          lock_lease_ms: EC_LOCK_LEASE_MS_DEFAULT,
          rpc_timeout_ms: RPC_TIMEOUT_MS,
        },
        "bench flags",
      );
      const runs: Array<RunSummary & { name: string; target: string; valueBytes: number; keyCount: number }> = [];
      const startedAt = new Date().toISOString();
      let preloadStats: Array<{ address: string; stats: EcStatsReply | null }> = [];
      const target = await EccTarget.open(config, flags.codec as CodecBackend | "auto", launch);
      try {
        process.stderr.write(`bench: ${target.name} on ${servers.join(",")}; preloading ${keyCount} keys of ${valueBytes} B...\n`);
        await preload(target, keyCount, valueBytes, 64);
        const nodeStats = await target.stats();
        preloadStats = nodeStats.map((stats, index) => ({ address: servers[index], stats }));
        const keyBytes = Array.from({ length: keyCount }, (_, i) => `key${i}`.length).reduce((a, b) => a + b, 0);
        const idealPerNode = keyCount * Math.ceil(valueBytes / k) + keyBytes;
        for (const entry of preloadStats) {
          if (entry.stats === null) continue;
          process.stdout.write(
            `node ${entry.address}: ${entry.stats.keyCount} keys, logical ${entry.stats.logicalBytes} B ` +
              `(ideal shard+key bytes ${idealPerNode} B, +${(((entry.stats.logicalBytes - idealPerNode) / idealPerNode) * 100).toFixed(1)}%), rss ${entry.stats.rssBytes} B\n`,
          );
        }
        for (const [name, mix] of workloads) {
          for (const concurrency of concurrencies) {
            const runName = `ecc-k${k}m${n - k}-${name}-${sizeLabel(valueBytes)}-c${concurrency}`;
            const summary = await runWorkload(
              target,
              { name, mix, keyCount, distribution: flags.distribution, valueBytes, seed },
              ops,
              concurrency,
            );
            runs.push({ name: runName, target: target.name, valueBytes, keyCount, ...summary });
            const read = summary.latency.read;
            const update = summary.latency.update ?? summary.latency.insert;
            process.stdout.write(
              `${runName.padEnd(28)} ${String(summary.opsPerSecond).padStart(7)} ops/s` +
                (read ? `  get p50 ${read.p50Us} us p99 ${read.p99Us} us` : "") +
                (update ? `  set p50 ${update.p50Us} us p99 ${update.p99Us} us` : "") +
                `  errors ${summary.errors}\n`,
            );
          }
        }
      } finally {
        await target.close();
      }
      const result = {
        schema: BENCH_SCHEMA,
        startedAt,
        commit: gitCommit(),
        environment: { node: process.version, platform: `${os.platform()} ${os.release()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "" },
        config: { target: flags.target, k, n, blockBytes: config.blockBytes, ops, keyCount, valueBytes, seed, distribution: flags.distribution, codec: flags.codec },
        preloadStats,
        runs,
      };
      const out = flags.out ?? path.join("results", `bench-${flags.target}-${startedAt.replace(/[:.]/g, "-")}.json`);
      fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      fs.writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
      process.stderr.write(`bench: results written to ${out}\n`);
    });
}
