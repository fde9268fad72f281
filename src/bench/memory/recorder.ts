// Periodic memory and logical-bytes sampling of one cluster during a run.
//
// Each node has one or more memory sources (cgroup working set, docker, cAdvisor, Netdata,
// /proc RSS, smaps Pss, or the node's own report) and the cluster's stats call gives each node's
// logical bytes. Every period (default 500 ms) all are read at once; a tick that is still
// running when the next is due is not doubled up (a paused node's stats call can take its
// whole deadline). snapshot() takes one reading on demand: the before/after-load points.
import { NodeStats } from "../target";

export type SamplerKind = "cgroup" | "docker" | "cadvisor" | "netdata" | "proc" | "smaps" | "reported";
export const SAMPLER_KINDS: readonly SamplerKind[] = ["cgroup", "docker", "cadvisor", "netdata", "proc", "smaps", "reported"];
/**
 * Which sampler is a node's "memory" when several ran (DESIGN.md section 5: working set
 * first). Netdata's figure is the cgroup working set too, but collected once a second on its
 * own clock, so the files read at the very moment come first.
 */
export const SAMPLER_PREFERENCE: readonly SamplerKind[] = ["cgroup", "docker", "cadvisor", "netdata", "proc", "smaps", "reported"];

export const SAMPLES_MAX = 500_000;

export interface MemoryReading {
  bytes: number;
  detail?: Record<string, number>;
}

export interface MemorySource {
  node: string;
  sampler: SamplerKind;
  /** null when the node cannot be read now (down, not started). */
  read(): Promise<MemoryReading | null>;
}

export interface MemorySample {
  tMs: number;
  node: string;
  sampler: SamplerKind;
  bytes: number;
}

export interface LogicalSample {
  tMs: number;
  node: string;
  logicalBytes: number | null;
  keyCount: number | null;
}

export interface NodeSnapshot {
  memory: Partial<Record<SamplerKind, number>>;
  detail: Partial<Record<SamplerKind, Record<string, number>>>;
  logicalBytes: number | null;
  keyCount: number | null;
  stats: Record<string, number>;
}

export interface MemorySnapshot {
  label: string;
  tMs: number;
  nodes: Record<string, NodeSnapshot>;
}

export interface RecorderOptions {
  periodMs: number;
  /** Milliseconds since the run's origin. */
  elapsedMs(): number;
  sources: MemorySource[];
  /** The cluster's per-node stats, aligned with nodeNames(); null to skip. */
  stats: (() => Promise<Array<NodeStats | null>>) | null;
  nodeNames(): string[];
  /** Record NodeStats.rssBytes as the "reported" sampler. */
  reported: boolean;
  onError?(message: string): void;
}

export class MemoryRecorder {
  readonly samples: MemorySample[] = [];
  readonly logical: LogicalSample[] = [];
  truncated = false;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<unknown> | null = null;
  private readonly errorsSeen = new Set<string>();

  constructor(private readonly options: RecorderOptions) {}

  start(): void {
    if (this.timer !== null) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.options.periodMs);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  /** One reading of everything now (also appended to the time series). */
  async snapshot(label: string): Promise<MemorySnapshot> {
    await this.inFlight;
    const reading = this.readAll();
    const tracked = reading.finally(() => {
      if (this.inFlight === tracked) this.inFlight = null;
    });
    this.inFlight = tracked;
    const { tMs, nodes } = await tracked;
    return { label, tMs, nodes };
  }

  private tick(): void {
    if (this.inFlight !== null) return;
    const tracked: Promise<unknown> = this.readAll().finally(() => {
      if (this.inFlight === tracked) this.inFlight = null;
    });
    this.inFlight = tracked;
  }

  private async readAll(): Promise<{ tMs: number; nodes: Record<string, NodeSnapshot> }> {
    const tMs = Math.round(this.options.elapsedMs());
    const names = this.options.nodeNames();
    const nodes: Record<string, NodeSnapshot> = {};
    for (const name of names) nodes[name] = { memory: {}, detail: {}, logicalBytes: null, keyCount: null, stats: {} };
    const [readings, stats] = await Promise.all([
      Promise.all(
        this.options.sources.map(async (source) => {
          try {
            return await source.read();
          } catch (error) {
            this.noteError(`${source.sampler} ${source.node}: ${(error as Error).message}`);
            return null;
          }
        }),
      ),
      this.options.stats === null
        ? Promise.resolve(null)
        : this.options.stats().catch((error: unknown) => {
            this.noteError(`stats: ${(error as Error).message}`);
            return null;
          }),
    ]);
    this.options.sources.forEach((source, index) => {
      const reading = readings[index];
      if (reading === null) return;
      const node = (nodes[source.node] ??= { memory: {}, detail: {}, logicalBytes: null, keyCount: null, stats: {} });
      node.memory[source.sampler] = reading.bytes;
      if (reading.detail !== undefined) node.detail[source.sampler] = reading.detail;
      this.push(this.samples, { tMs, node: source.node, sampler: source.sampler, bytes: reading.bytes });
    });
    if (stats !== null) {
      names.forEach((name, index) => {
        const entry = stats[index] ?? null;
        const node = nodes[name];
        if (entry !== null) {
          node.logicalBytes = entry.logicalBytes;
          node.keyCount = entry.keyCount;
          node.stats = { ...(entry.extra ?? {}) };
          if (this.options.reported && typeof entry.rssBytes === "number") {
            node.memory.reported = entry.rssBytes;
            this.push(this.samples, { tMs, node: name, sampler: "reported", bytes: entry.rssBytes });
          }
        }
        this.push(this.logical, { tMs, node: name, logicalBytes: entry?.logicalBytes ?? null, keyCount: entry?.keyCount ?? null });
      });
    }
    return { tMs, nodes };
  }

  private push<T>(list: T[], item: T): void {
    if (list.length >= SAMPLES_MAX) {
      this.truncated = true;
      return;
    }
    list.push(item);
  }

  private noteError(message: string): void {
    if (this.errorsSeen.has(message) || this.errorsSeen.size > 20) return;
    this.errorsSeen.add(message);
    this.options.onError?.(message);
  }
}

/** The preferred sampler among those that produced a reading for any node. */
export function primarySampler(available: Iterable<SamplerKind>): SamplerKind | null {
  const set = new Set(available);
  return SAMPLER_PREFERENCE.find((kind) => set.has(kind)) ?? null;
}
