// One client process of `ecc-cache bench --client-processes N` (started by client_pool.ts
// through the project's launcher, never by hand): it attaches to the cluster the bench
// started, exactly as `--servers` does (the target's own start() with the nodes' addresses,
// so the client library and its settings are the bench's own), and runs its share of the
// workers on its share of the operations: process i of N issues operations i, i+N, i+2N, ...
// of the workload's one seeded stream, so N processes together issue the same operations as
// one would.
//
// Protocol: the run's settings in the environment (CLIENT_CONFIG_ENV, JSON); commands on
// stdin and reports on stdout, one JSON object per line; diagnostics on stderr.
//   stdout {"type":"ready"}                     connected
//   stdin  {"type":"warmup"}                    do the warm-up share, then report
//   stdout {"type":"warm"}                      warm-up done; waiting
//   stdin  {"type":"measure","startRunMs":T}    the measured phase began at T (run ms)
//   stdout {"type":"batch",...}                 completions (completions.ts), every 100 ms
//   stdout {"type":"done"}                      the share is done, every batch sent
//   stdin  {"type":"stop"}                      stop issuing (Ctrl-C), then report done
//   stdin  end of file                          close the client and exit 0
//   stdout {"type":"failed","message":M}        cannot go on (exit 1)
// Times are ms since the run's origin on the bench's clock: this process's
// performance.now() plus (its performance.timeOrigin − the origin's epoch ms).
import os from "node:os";
import readline from "node:readline";
import { errorMessage } from "../core/errors";
import { freeLoopbackPorts } from "../core/ports";
import { sleep } from "../core/env";
import { exitWithSupervisor } from "../core/supervisor_watch";
import { Completion, CompletionBatch, encodeCompletions } from "./completions";
import { ProcessLauncher } from "./local_cluster";
import { lookupTarget } from "./registry";
import { performOperation } from "./runner";
import { BenchClient, ClusterHandle, TargetParams } from "./target";
import { OperationGenerator, ValuePool, WorkloadSpec, valueSizeMax } from "./workload";

export const CLIENT_CONFIG_ENV = "ECC_CACHE_BENCH_CLIENT";
const BATCH_PERIOD_MS = 100;
const BATCH_RECORDS_MAX = 4_096;

/** What one client process is to do (JSON in CLIENT_CONFIG_ENV). */
export interface ClientProcessConfig {
  kind: string;
  params: TargetParams;
  /** The nodes' addresses, as --servers would name them. */
  servers: string[];
  spec: WorkloadSpec;
  /** This process's number, 0-based, and how many there are. */
  process: number;
  processes: number;
  /** Workers in this process. */
  concurrency: number;
  warmupOps: number;
  /** Measured operations of the whole run (all processes); ignored with durationMs. */
  ops: number;
  durationMs: number | null;
  errorBackoffMs: number;
  originEpochMs: number;
}

export type ClientCommand = { type: "warmup" } | { type: "measure"; startRunMs: number } | { type: "stop" };
export type ClientReport =
  | { type: "ready" }
  | { type: "warm" }
  | ({ type: "batch" } & CompletionBatch)
  | { type: "done" }
  | { type: "failed"; message: string };

function send(report: ClientReport): void {
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** Issues this process's share of the operations and streams the completions. */
class ShareRunner {
  private readonly generator: OperationGenerator;
  private generated = 0;
  private next: number;
  private readonly total: number;
  private readonly values: ValuePool;
  private readonly runOffsetMs: number;
  private pending: Completion[] = [];
  private measuring = false;
  private stopped = false;
  private endRunMs = Infinity;
  private waiting = 0;
  private releaseMeasure: () => void = () => undefined;
  private readonly measureBegun: Promise<void>;
  private warmReported = false;

  constructor(
    private readonly config: ClientProcessConfig,
    private readonly client: BenchClient,
  ) {
    this.generator = new OperationGenerator(config.spec);
    this.next = config.process;
    this.total = config.warmupOps + config.ops;
    this.values = new ValuePool(valueSizeMax(config.spec.valueSize), config.spec.seed);
    this.runOffsetMs = performance.timeOrigin - config.originEpochMs;
    this.measureBegun = new Promise((resolve) => (this.releaseMeasure = resolve));
  }

  /** Runs the warm-up, then (after measure()) the measured share; resolves when all is sent. */
  async run(): Promise<void> {
    const flusher = setInterval(() => this.flush(), BATCH_PERIOD_MS);
    try {
      await Promise.all(Array.from({ length: Math.max(1, this.config.concurrency) }, () => this.worker()));
    } finally {
      clearInterval(flusher);
      this.flush();
    }
    if (!this.warmReported) send({ type: "warm" }); // stopped before the warm-up was over
    send({ type: "done" });
  }

  measure(startRunMs: number): void {
    this.measuring = true;
    if (this.config.durationMs !== null) this.endRunMs = startRunMs + this.config.durationMs;
    this.releaseMeasure();
  }

  stop(): void {
    this.stopped = true;
    this.releaseMeasure();
  }

  private nowRunMs(): number {
    return performance.now() + this.runOffsetMs;
  }

  private async worker(): Promise<void> {
    const { config } = this;
    for (;;) {
      if (this.stopped) return;
      const index = this.next;
      if (index >= config.warmupOps && !this.measuring) {
        this.waiting++;
        if (this.waiting === Math.max(1, config.concurrency)) {
          this.flush();
          this.warmReported = true;
          send({ type: "warm" });
        }
        await this.measureBegun;
        continue;
      }
      if (config.durationMs === null ? index >= this.total : index >= config.warmupOps && this.nowRunMs() >= this.endRunMs) return;
      this.next += config.processes;
      // Operations of the one stream in index order: skip the other processes' ones.
      while (this.generated < index) {
        this.generator.next();
        this.generated++;
      }
      const op = this.generator.next();
      this.generated++;
      const measured = index >= config.warmupOps;
      const done = await performOperation(this.client, op, index, measured, false, this.values, this.runOffsetMs);
      this.push(done);
      let failed = !done.ok;
      if (config.spec.fillOnMiss === true && done.hit === false) {
        const filled = await performOperation(this.client, op, index, measured, true, this.values, this.runOffsetMs);
        this.push(filled);
        failed = !filled.ok;
      }
      if (failed && config.errorBackoffMs > 0) await sleep(config.errorBackoffMs);
    }
  }

  private push(completion: Completion): void {
    this.pending.push(completion);
    if (this.pending.length >= BATCH_RECORDS_MAX) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = encodeCompletions(this.pending);
    this.pending = [];
    send({ type: "batch", ...batch });
  }
}

async function main(): Promise<void> {
  exitWithSupervisor();
  const text = process.env[CLIENT_CONFIG_ENV];
  if (text === undefined || text === "") throw new Error(`${CLIENT_CONFIG_ENV} is not set: this process is started by the bench (--client-processes)`);
  const config = JSON.parse(text) as ClientProcessConfig;
  const lookup = lookupTarget(config.kind);
  if ("missing" in lookup) throw new Error(`client process: ${lookup.missing}`);
  const handle: ClusterHandle = await lookup.target.start({
    params: config.params,
    servers: config.servers,
    workDir: os.tmpdir(), // attached: nothing is written there
    launcher: new ProcessLauncher(),
    ports: freeLoopbackPorts,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const client = await handle.connect();
  const runner = new ShareRunner(config, client);
  let running: Promise<void> | null = null;
  const input = readline.createInterface({ input: process.stdin });
  input.on("line", (line) => {
    const command = JSON.parse(line) as ClientCommand;
    if (command.type === "warmup" && running === null) {
      running = runner.run().catch((error: unknown) => {
        send({ type: "failed", message: errorMessage(error) });
        process.exitCode = 1;
      });
    } else if (command.type === "measure") runner.measure(command.startRunMs);
    else if (command.type === "stop") runner.stop();
  });
  send({ type: "ready" });
  await new Promise<void>((resolve) => input.once("close", () => resolve()));
  runner.stop();
  await running;
  await client.close().catch(() => undefined);
  await handle.stop();
}

if (require.main === module) {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      send({ type: "failed", message: errorMessage(error) });
      process.exit(1);
    },
  );
}
