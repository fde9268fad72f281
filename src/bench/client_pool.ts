// The bench's side of `--client-processes N`: starts N client processes (client_process.ts)
// with the project's launcher, gives each 1/N of the workers, drives them through warm-up and
// the measured phase, and collects their completions for runMeasured (RemoteWorkers).
// A load generator in one process can use a whole core before the cluster does; spread over
// several, it stops being what limits a fast peer.
//
// Every wait is bounded: a process must be connected within CONNECT_TIMEOUT_MS, and once it
// works it must report at least every STALL_MS (it sends its completions every 100 ms, and
// every operation has a deadline), or the run fails naming it and quoting its last output.
// A process that exits early fails the run the same way. stop() ends them all by PID.
import path from "node:path";
import { InvalidArgumentError, UnavailableError } from "../core/errors";
import { LaunchedProcess, launch } from "../core/launcher";
import { ClientCommand, ClientProcessConfig, ClientReport, CLIENT_CONFIG_ENV } from "./client_process";
import { CompletionStream } from "./completions";
import { ProgressSink, RemoteWorkers } from "./runner";

export const CLIENT_PROCESSES_MAX = 32;
const CLIENT_MAIN = path.resolve(__dirname, "client_process.js");
const CONNECT_TIMEOUT_MS = 30_000;
const STALL_MS = 60_000;
const STOP_GRACE_MS = 3_000;
const TAIL_LINES = 20;
const PROGRESS_PERIOD_MS = 100;

/** Workers per process: `concurrency` split as evenly as it goes (the first ones get one more). */
export function splitConcurrency(concurrency: number, processes: number): number[] {
  if (!Number.isInteger(processes) || processes < 1 || processes > CLIENT_PROCESSES_MAX) {
    throw new InvalidArgumentError(`client processes: ${processes} (1 to ${CLIENT_PROCESSES_MAX})`);
  }
  if (concurrency < processes) throw new InvalidArgumentError(`${processes} client processes need a concurrency of at least ${processes} (got ${concurrency}): every process runs one worker or more`);
  return Array.from({ length: processes }, (_, index) => Math.floor(concurrency / processes) + (index < concurrency % processes ? 1 : 0));
}

type Phase = "connecting" | "idle" | "warming" | "warm" | "measuring" | "done";

class ClientHandle {
  phase: Phase = "connecting";
  readonly stream = new CompletionStream();
  lastReportMs = performance.now();
  failure: string | null = null;
  /** Warm-up and measured completions received (for the progress bars). */
  warmupDone = 0;
  warmupErrors = 0;
  measuredDone = 0;
  measuredErrors = 0;

  constructor(
    readonly name: string,
    readonly launched: LaunchedProcess,
  ) {
    // A command written after the process exited fails with EPIPE; its exit is what counts,
    // and `until` reports it with the process's last output.
    launched.child.stdin?.on("error", () => undefined);
  }

  command(command: ClientCommand): void {
    this.launched.child.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  /** One line of the process's stdout (client_process.ts reports). */
  onReport(line: string): void {
    let report: ClientReport;
    try {
      report = JSON.parse(line) as ClientReport;
    } catch {
      this.failure ??= `wrote a line that is not a report: ${line.slice(0, 200)}`;
      return;
    }
    this.lastReportMs = performance.now();
    if (report.type === "ready") this.phase = "idle";
    else if (report.type === "warm") this.phase = this.phase === "done" ? "done" : "warm";
    else if (report.type === "done") this.phase = "done";
    else if (report.type === "failed") this.failure ??= `failed: ${report.message}`;
    else if (report.type === "batch") {
      const counts = this.stream.add(report);
      this.warmupDone += counts.warmupDone;
      this.warmupErrors += counts.warmupErrors;
      this.measuredDone += counts.measuredDone;
      this.measuredErrors += counts.measuredErrors;
    }
  }
}

export class ClientPool implements RemoteWorkers {
  private constructor(private readonly clients: ClientHandle[]) {}

  /**
   * Starts one process per entry of `configs` (each with its share) and waits until every one
   * is connected to the cluster; on any failure stops them all and throws.
   */
  static async start(configs: ClientProcessConfig[]): Promise<ClientPool> {
    const clients = configs.map((config) => {
      const name = `bench client ${config.process + 1}/${config.processes}`;
      let handle: ClientHandle | null = null;
      const launched = launch({
        name,
        command: process.execPath,
        args: [CLIENT_MAIN],
        env: { ...process.env, [CLIENT_CONFIG_ENV]: JSON.stringify(config) },
        stdin: "pipe",
        tailLines: TAIL_LINES,
        onLine: (line, stream) => {
          if (stream === "stdout" && handle !== null) handle.onReport(line);
        },
      });
      handle = new ClientHandle(name, launched);
      return handle;
    });
    const pool = new ClientPool(clients);
    try {
      await pool.until("idle", CONNECT_TIMEOUT_MS, () => false);
    } catch (error) {
      await pool.stop();
      throw error;
    }
    return pool;
  }

  /** The processes, for the CPU meter. */
  processes(): Array<{ name: string; pid: number | null }> {
    return this.clients.map((client) => ({ name: client.name, pid: client.launched.running ? client.launched.pid : null }));
  }

  async warmUp(progress: ProgressSink | undefined, interrupted: () => boolean): Promise<void> {
    for (const client of this.clients) {
      client.phase = "warming";
      client.lastReportMs = performance.now();
      client.command({ type: "warmup" });
    }
    await this.until("warm", null, interrupted, () => progress?.update(this.sum((c) => c.warmupDone), this.sum((c) => c.warmupErrors)));
  }

  async measure(startRunMs: number, progress: ProgressSink | undefined, interrupted: () => boolean): Promise<CompletionStream[]> {
    for (const client of this.clients) {
      client.phase = "measuring";
      client.lastReportMs = performance.now();
      client.command({ type: "measure", startRunMs });
    }
    await this.until("done", null, interrupted, () => progress?.update(this.sum((c) => c.measuredDone), this.sum((c) => c.measuredErrors)));
    return this.clients.map((client) => client.stream);
  }

  /** Ends every process: end of stdin (they close their clients), then SIGTERM and SIGKILL by PID. */
  async stop(): Promise<void> {
    for (const client of this.clients) client.launched.child.stdin?.end();
    await Promise.all(
      this.clients.map(async (client) => {
        const exited = await Promise.race([client.launched.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_GRACE_MS).unref())]);
        if (!exited) await client.launched.stop("SIGTERM");
      }),
    );
  }

  private sum(figure: (client: ClientHandle) => number): number {
    return this.clients.reduce((total, client) => total + figure(client), 0);
  }

  /**
   * Waits until every process reached `phase`; throws when one failed or exited, or did not
   * report for STALL_MS (or, with `timeoutMs`, the whole wait took longer). Sends stop to all
   * once `interrupted()` turns true, and keeps waiting for their last reports.
   */
  private async until(phase: Phase, timeoutMs: number | null, interrupted: () => boolean, onTick: () => void = () => undefined): Promise<void> {
    const started = performance.now();
    const tooLate = timeoutMs === null ? null : new UnavailableError(`bench client processes not connected within ${timeoutMs} ms`);
    let stopSent = false;
    for (;;) {
      onTick();
      for (const client of this.clients) {
        if (client.failure !== null) throw this.failed(client, client.failure);
        if (!client.launched.running && client.phase !== "done") throw this.failed(client, `exited (${client.launched.describeExit()})`);
        if (client.phase !== phase && performance.now() - client.lastReportMs > STALL_MS) throw this.failed(client, `reported nothing for ${STALL_MS / 1000} s`);
      }
      if (this.clients.every((client) => client.phase === phase || (phase === "warm" && client.phase === "done"))) return;
      if (tooLate !== null && timeoutMs !== null && performance.now() - started > timeoutMs) throw this.withTails(tooLate);
      if (!stopSent && interrupted()) {
        stopSent = true;
        for (const client of this.clients) client.command({ type: "stop" });
      }
      await new Promise((resolve) => setTimeout(resolve, PROGRESS_PERIOD_MS));
    }
  }

  private failed(client: ClientHandle, what: string): Error {
    return new UnavailableError(`${client.name} ${what}; last output: ${client.launched.tail.slice(-8).join(" | ")}`);
  }

  private withTails(error: UnavailableError): UnavailableError {
    error.message += `; ${this.clients.map((client) => `${client.name}: ${client.phase}, last output: ${client.launched.tail.slice(-4).join(" | ")}`).join("; ")}`;
    return error;
  }
}
