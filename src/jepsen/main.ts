#!/usr/bin/env node
// `node dist/src/jepsen/main.js --mode ecc|raft --time SECONDS [...]` (npm run jepsen -- ...):
// a Jepsen-style linearizability test against a real local cluster it starts itself.
// Exit codes: 0 linearizable, 1 not linearizable, 2 inconclusive (or the run could not be
// carried out: bad flags, the cluster did not start).
import fs from "node:fs";
import path from "node:path";
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from "commander";
import { errorMessage } from "../core/errors";
import { integerOption } from "../cli/commander_options";
import { deleteNamespaces, staleNamespaces } from "./netns";
import { FAULT_KINDS, FaultKind } from "./schedule";
import { JepsenResult, cleanupActiveRuns, defaultFaults, formatReport, historyFileText, resultToJson, runJepsen } from "./runner";

export const EXIT_LINEARIZABLE = 0;
export const EXIT_NOT_LINEARIZABLE = 1;
export const EXIT_INCONCLUSIVE = 2;

/** A fraction in 0..1 (the runner checks it against the sets' share). */
function fraction(name: string): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    if (!/^(0|1|0?\.\d+)$/.test(value) || parsed < 0 || parsed > 1) throw new CommanderArgumentError(`${name} must be a fraction in 0..1, e.g. 0.1`);
    return parsed;
  };
}

/** SET NX's share of the operations in a run through RESP, unless --nx-fraction says otherwise. */
const RESP_NX_FRACTION_DEFAULT = 0.1;

function faultList(value: string): FaultKind[] {
  if (value === "none") return [];
  const kinds = value.split(",").map((part) => part.trim());
  for (const kind of kinds) {
    if (!FAULT_KINDS.includes(kind as FaultKind)) throw new CommanderArgumentError(`unknown fault ${JSON.stringify(kind)}; choose from ${FAULT_KINDS.join(", ")} or none`);
  }
  return kinds as FaultKind[];
}

export function jepsenProgram(): Command {
  return new Command("jepsen")
    .description(
      "Jepsen-style test: concurrent clients do random get/set/del (and SET NX) on a few keys of a real local cluster " +
        "(ecc: 5 nodes, k=3; raft: 3 nodes) while a seeded nemesis injects faults within the fault budget " +
        "(ecc: at most n-k=2 faulty nodes at once; raft: 1 of 3). At the end every fault is healed, every key " +
        "is read by a fresh client, and the whole history is checked for linearizability.",
    )
    .addOption(new Option("--mode <mode>", "which store to test (required)").choices(["ecc", "raft"]))
    .option("--time <seconds>", "how long the workload and the nemesis run", integerOption("--time", 1, 3_600), 60)
    .option("--seed <n>", "seed of the nemesis schedule and the clients' choices (default: random, printed)", integerOption("--seed", 0, 2 ** 31 - 1))
    .option("--clients <n>", "concurrent clients", integerOption("--clients", 1, 64), 8)
    .option("--keys <n>", "keys (few, so operations collide)", integerOption("--keys", 1, 1_000), 4)
    .option("--op-timeout-ms <ms>", "per-operation deadline; a write past it is recorded as unknown", integerOption("--op-timeout-ms", 100, 600_000), 8_000)
    .option(
      "--faults <list>",
      `comma list of ${FAULT_KINDS.join(", ")}, or none (default: ecc ${defaultFaults("ecc").join(",")}; raft ${defaultFaults("raft").join(",")}). ` +
        "kill = SIGKILL a node and restart it (ecc with `recover`); pause = SIGSTOP then SIGCONT; " +
        "partition = real network partition: every node runs in its own network namespace (created by this run, root and " +
        "iproute2 + iptables needed) and iptables DROP rules cut one side off from the other nodes, clients still reach all nodes; " +
        "client-crash (ecc only) = a CLI client SIGKILLed between EcPrepare and EcCommit. When partitions are not possible " +
        "on this machine and --faults is not given, they are left out and the report says so.",
      faultList,
    )
    .addOption(
      new Option("--via <client>", "how clients reach the cluster: library (EcClient/RaftClient) or resp (ioredis on every node's RESP port)")
        .choices(["library", "resp"])
        .default("library"),
    )
    .option(
      "--nx-fraction <f>",
      "fraction of operations that are SET NX, from the sets' share (default 0.1 with --via resp, else 0)",
      fraction("--nx-fraction"),
    )
    .option("--heal-timeout-ms <ms>", "bound on waiting for a healthy cluster after healing", integerOption("--heal-timeout-ms", 1_000, 600_000), 60_000)
    .option("--check-steps <n>", "linearizability search budget per key (more = slower, fewer inconclusive verdicts)", integerOption("--check-steps", 1, 16_000_000), 5_000_000)
    .option("--out <file>", "write the results JSON (schema ecc-cache.jepsen/1) here")
    .option("--history-out <file>", "write the full history (ecc-cache-history JSON) here")
    .option("--node-logs <dir>", "append every node's output to <dir>/node<i>.log")
    .option("--max-memory <size>", "each node's memory budget (max_memory_bytes), e.g. 4MiB; evictions join the history as expire operations (from the nodes' logs)")
    .option("--eviction-policy <policy>", "the nodes' eviction_policy (default allkeys-lru)")
    .option("--value-bytes <n>", "store each value padded to n bytes (the history keeps the short value), so a small budget fills with few keys", integerOption("--value-bytes", 0, 16 * 1024 * 1024))
    .option("--ttl-ms <ms>", "a third of the sets carry this TTL; expirations join the history as expire operations (raft: from the nodes' logs; ecc: at each value's deadline)", integerOption("--ttl-ms", 1, 86_400_000))
    .option("--tls", "run the cluster and every client over mutual TLS, with certificates made for the run (openssl)")
    .option("--cleanup-netns", "only delete network namespaces left by killed runs (jepsen-<pid>-*, pid gone), then exit")
    .option("-q, --quiet", "print only the report, not nemesis events as they happen")
    .addHelpText(
      "after",
      "\nExit codes: 0 linearizable, 1 not linearizable (the shortest failing sub-history of each failing key is printed), " +
        "2 inconclusive (checker budget exhausted, a final read failed, or the run could not be carried out).\n" +
        "No acknowledged write lost: the final reads are part of the checked history, so a lost write is a linearizability violation.",
    );
}

interface Flags {
  mode?: "ecc" | "raft";
  time: number;
  seed?: number;
  clients: number;
  keys: number;
  opTimeoutMs: number;
  via: "library" | "resp";
  nxFraction?: number;
  faults?: FaultKind[];
  healTimeoutMs: number;
  checkSteps: number;
  out?: string;
  historyOut?: string;
  nodeLogs?: string;
  cleanupNetns?: boolean;
  quiet?: boolean;
  maxMemory?: string;
  evictionPolicy?: string;
  valueBytes?: number;
  ttlMs?: number;
  tls?: boolean;
}

function writeFile(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, text);
}

export async function main(argv: string[]): Promise<number> {
  const program = jepsenProgram();
  program.exitOverride();
  program.configureOutput({ writeErr: (text) => process.stderr.write(text) });
  try {
    program.parse(argv);
  } catch (error) {
    const code = (error as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : EXIT_INCONCLUSIVE;
  }
  const flags = program.opts<Flags>();
  if (flags.cleanupNetns === true) {
    const stale = await staleNamespaces();
    await deleteNamespaces(stale);
    process.stdout.write(stale.length === 0 ? "no stale namespaces\n" : `deleted ${stale.join(", ")}\n`);
    return 0;
  }
  if (flags.mode === undefined) {
    process.stderr.write("jepsen: --mode ecc|raft is required (see --help)\n");
    return EXIT_INCONCLUSIVE;
  }
  const seed = flags.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = flags.quiet === true ? undefined : (line: string): void => void process.stderr.write(line + "\n");
  process.stderr.write(`jepsen ${flags.mode}: seed ${seed}\n`);
  let result: JepsenResult;
  try {
    result = await runJepsen({
      mode: flags.mode,
      seed,
      timeMs: flags.time * 1_000,
      clientCount: flags.clients,
      keyCount: flags.keys,
      operationTimeoutMs: flags.opTimeoutMs,
      faults: flags.faults,
      healTimeoutMs: flags.healTimeoutMs,
      checkOptions: { stepsMaxPerKey: flags.checkSteps },
      nodeLogDir: flags.nodeLogs ?? null,
      via: flags.via,
      setNxFraction: flags.nxFraction ?? (flags.via === "resp" ? RESP_NX_FRACTION_DEFAULT : 0),
      log,
      maxMemory: flags.maxMemory,
      evictionPolicy: flags.evictionPolicy,
      valueBytes: flags.valueBytes,
      ttlMs: flags.ttlMs,
      tls: flags.tls === true,
    });
  } catch (error) {
    process.stderr.write(`jepsen: the run could not be carried out: ${errorMessage(error)}\n(seed ${seed})\n`);
    return EXIT_INCONCLUSIVE;
  }
  process.stdout.write(formatReport(result) + "\n");
  if (flags.out !== undefined) writeFile(flags.out, resultToJson(result));
  if (flags.historyOut !== undefined) writeFile(flags.historyOut, historyFileText(result));
  return result.verdict === "linearizable" ? EXIT_LINEARIZABLE : result.verdict === "not-linearizable" ? EXIT_NOT_LINEARIZABLE : EXIT_INCONCLUSIVE;
}

/** Runs main() as the process: signal handlers clean up, the exit code is the verdict. */
export function runAsProcess(argv: string[] = process.argv): void {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`jepsen: ${signal}: stopping every started process and removing namespaces\n`);
    void cleanupActiveRuns().finally(() => process.exit(EXIT_INCONCLUSIVE));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  main(argv).then(
    (code) => {
      process.exitCode = code;
      // gRPC channels of abandoned operations may linger; every process we started is stopped.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (error: unknown) => {
      process.stderr.write(`jepsen: ${errorMessage(error)}\n`);
      void cleanupActiveRuns().finally(() => process.exit(EXIT_INCONCLUSIVE));
    },
  );
}

if (require.main === module) runAsProcess();
