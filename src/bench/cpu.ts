// CPU time per operation: on a machine with few cores, what a design costs in CPU says more
// about its efficiency than its ops/s, and a load generator that uses a whole core may be
// what holds a peer's ops/s down.
//
// CpuMeter reads the CPU time (user + system, all threads) of every process of a run over
// its measured phase: each node and peer server the bench started and each client process
// from /proc/<pid>/stat (utime + stime, in clock ticks: `getconf CLK_TCK`), and the bench
// process itself from process.cpuUsage() (microseconds). It reads when the phase begins,
// every `periodMs` while it runs (so a node killed mid-phase keeps what it used up to its
// last reading; it is marked partial), and when its last operation completed. A process
// first seen after the phase began (a restarted node) started inside the phase: all of its
// CPU counts. A node without a PID (an attached cluster, containers) cannot be read: its
// CPU, and so the per-operation total, is not given, and a note says why.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { RunCpu } from "./results";

/** A generator process above this many cores over the phase may have held the target back. */
export const GENERATOR_SATURATED_CORES = 0.9;
const CLOCK_TICKS_DEFAULT = 100;
export const CPU_PERIOD_MS_DEFAULT = 500;

let clockTicks: number | null = null;

/** The kernel's clock ticks per second (`getconf CLK_TCK`; 100 if it cannot be asked). */
export function clockTicksPerSecond(): number {
  if (clockTicks !== null) return clockTicks;
  try {
    const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    clockTicks = Number.isInteger(value) && value > 0 ? value : CLOCK_TICKS_DEFAULT;
  } catch {
    clockTicks = CLOCK_TICKS_DEFAULT; // no getconf: Linux's USER_HZ is 100 on every common platform
  }
  return clockTicks;
}

/**
 * utime + stime of /proc/<pid>/stat text, in clock ticks. The command name (field 2) is in
 * parentheses and may hold spaces and parentheses itself, so fields are counted after the
 * last ')'. null when the text is not a stat line.
 */
export function parseProcStatTicks(text: string): number | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  // After ") ": field 3 (state) is index 0, so utime (field 14) is index 11, stime index 12.
  const fields = text.slice(close + 2).trim().split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return utime + stime;
}

/** CPU time of a process in ms, or null when it is gone (or not readable). */
export function readProcessCpuMs(pid: number): number | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null; // exited
  }
  const ticks = parseProcStatTicks(text);
  return ticks === null ? null : (ticks * 1000) / clockTicksPerSecond();
}

export type CpuRole = RunCpu["processes"][number]["role"];

/** A process to meter: its PID may change (a restarted node) or be unknown (null). */
export interface MeteredProcess {
  role: CpuRole;
  name: string;
  pid: number | null;
}

interface Track {
  role: CpuRole;
  name: string;
  /** Per PID: the reading it is measured from, its latest reading, whether it vanished. */
  pids: Map<number, { fromMs: number; lastMs: number; gone: boolean }>;
  unknown: boolean;
}

export interface CpuMeterOptions {
  /** The processes to read now (nodes by name; their PIDs as they are at this moment). */
  processes(): MeteredProcess[];
  periodMs?: number;
  /** CPU ms of this process (default process.cpuUsage()); tests inject a clock. */
  selfCpuMs?(): number;
  /** CPU ms of another process, or null when gone (default /proc). */
  readCpuMs?(pid: number): number | null;
  now?(): number;
  cores?: number;
}

export class CpuMeter {
  private readonly tracks = new Map<string, Track>();
  private timer: NodeJS.Timeout | null = null;
  private startedMs = 0;
  private selfFromMs = 0;
  private begun = false;
  private finished = false;
  private wallMs = 0;
  private selfMs = 0;
  private readonly selfCpuMs: () => number;
  private readonly readCpuMs: (pid: number) => number | null;
  private readonly now: () => number;

  constructor(private readonly options: CpuMeterOptions) {
    this.selfCpuMs =
      options.selfCpuMs ??
      (() => {
        const usage = process.cpuUsage();
        return (usage.user + usage.system) / 1000;
      });
    this.readCpuMs = options.readCpuMs ?? readProcessCpuMs;
    this.now = options.now ?? (() => performance.now());
  }

  /** The measured phase began: first readings, then one every period. */
  begin(): void {
    this.begun = true;
    this.startedMs = this.now();
    this.selfFromMs = this.selfCpuMs();
    this.read(true);
    const period = this.options.periodMs ?? CPU_PERIOD_MS_DEFAULT;
    this.timer = setInterval(() => this.sample(), period);
    this.timer.unref();
  }

  /** The phase's last operation completed: the last readings (later calls do nothing). */
  finish(): void {
    if (!this.begun || this.finished) return;
    this.finished = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.read(false);
    this.wallMs = Math.max(0, this.now() - this.startedMs);
    this.selfMs = Math.max(0, this.selfCpuMs() - this.selfFromMs);
  }

  /**
   * The figures of a finished phase; null if it never began. `ops` is the phase's operation
   * count, `selfRole` what the bench process was in this run ("generator" when its own workers
   * issued the load, "bench" when client processes did).
   */
  result(ops: number, selfRole: CpuRole): RunCpu | null {
    if (!this.begun) return null;
    this.finish();
    const wallMs = this.wallMs;
    const cores = this.options.cores ?? os.cpus().length;
    const notes: string[] = [];
    const processes: RunCpu["processes"] = [{ role: selfRole, name: "bench", pids: [process.pid], cpuMs: round3(this.selfMs), partial: false }];
    for (const track of this.tracks.values()) {
      if (track.unknown && track.pids.size === 0) {
        notes.push(`${track.name}: no PID (an attached cluster or a container), CPU not read`);
        continue;
      }
      let cpuMs = 0;
      let partial = track.unknown;
      for (const reading of track.pids.values()) {
        cpuMs += Math.max(0, reading.lastMs - reading.fromMs);
        if (reading.gone) partial = true;
      }
      if (partial) notes.push(`${track.name}: a process of it exited or was not readable during the phase; its CPU after its last reading is missing`);
      processes.push({ role: track.role, name: track.name, pids: [...track.pids.keys()], cpuMs: round3(cpuMs), partial });
    }
    const sum = (role: CpuRole): number => processes.filter((entry) => entry.role === role).reduce((total, entry) => total + entry.cpuMs, 0);
    const nodesKnown = ![...this.tracks.values()].some((track) => track.role === "node" && track.unknown && track.pids.size === 0);
    const generatorMs = sum("generator");
    const generators = processes.filter((entry) => entry.role === "generator");
    const coresMax = wallMs > 0 ? Math.max(0, ...generators.map((entry) => entry.cpuMs / wallMs)) : 0;
    const perOp = (ms: number): number => (ops > 0 ? round3((ms * 1000) / ops) : 0);
    return {
      wallMs: round3(wallMs),
      cores,
      clockTicksPerSecond: clockTicksPerSecond(),
      processes,
      ops,
      cpuPerOpUs: nodesKnown ? perOp(sum("node") + generatorMs + sum("bench")) : null,
      nodeCpuPerOpUs: nodesKnown ? perOp(sum("node")) : null,
      generatorCpuPerOpUs: perOp(generatorMs),
      generatorShare: wallMs > 0 ? round3(generatorMs / wallMs / cores) : 0,
      generatorProcessCoresMax: round3(coresMax),
      generatorSaturated: coresMax > GENERATOR_SATURATED_CORES,
      notes,
    };
  }

  /** One reading of every process now (the timer's; a test may call it). */
  sample(): void {
    if (this.begun && !this.finished) this.read(false);
  }

  /** Stops the periodic readings without figures (a run that broke). */
  cancel(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private read(first: boolean): void {
    for (const entry of this.options.processes()) {
      const key = `${entry.role}\u0000${entry.name}`;
      let track = this.tracks.get(key);
      if (track === undefined) {
        track = { role: entry.role, name: entry.name, pids: new Map(), unknown: false };
        this.tracks.set(key, track);
      }
      for (const [pid, reading] of track.pids) {
        if (reading.gone || pid === entry.pid) continue;
        // A PID the process no longer has (killed, restarted): read it once more if it is still there.
        const last = this.readCpuMs(pid);
        if (last === null) reading.gone = true;
        else reading.lastMs = last;
      }
      if (entry.pid === null) {
        if (track.pids.size === 0) track.unknown = true;
        continue;
      }
      const value = this.readCpuMs(entry.pid);
      const known = track.pids.get(entry.pid);
      if (value === null) {
        if (known !== undefined) known.gone = true;
        else if (first) track.unknown = true;
        continue;
      }
      if (known === undefined) track.pids.set(entry.pid, { fromMs: first ? value : 0, lastMs: value, gone: false });
      else known.lastMs = value;
    }
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
