// The nemesis: carries a schedule (schedule.ts) out against a real cluster.
//
// Faults and how each is injected:
// - kill:      SIGKILL of the node's PID; undone by starting it again (ecc: `startOne <addr>
//              recover`, the node rebuilds its shards; raft: `startOne <index>`, it reloads
//              its data directory).
// - pause:     SIGSTOP of the PID; undone by SIGCONT.
// - partition: iptables DROP between the cut-off side and every other node, inside each
//              node's network namespace (netns.ts); undone by deleting those rules.
// - client-crash (ecc): `ecc client set` with ECC_CACHE_FAULT=pause-after-prepare; once it
//              prints "paused after prepare" (every member staged the shard and holds the
//              key's lock) it is SIGKILLed. Its write is recorded as an unknown operation of
//              a client of its own, since resolution may commit it or abort it.
//
// The budget is checked twice: the schedule never plans more faulty nodes than the budget,
// and before each window starts the nemesis asks the cluster which nodes are healthy now
// (a restarted ecc node is not healthy until it rebuilt and was promoted). A window that
// would exceed the budget live waits, and is skipped if it cannot start within a bound.
import { errorMessage } from "../core/errors";
import { HistoryRecorder } from "../check/history";
import { sleep } from "../core/env";
import { JepsenCluster } from "./cluster";
import { FaultWindow } from "./schedule";

export type NemesisEventKind =
  | "kill"
  | "restart"
  | "pause"
  | "resume"
  | "partition"
  | "heal"
  | "client-crash"
  | "skip"
  | "error";

export interface NemesisEvent {
  /** Milliseconds since the workload started (the history's time base). */
  atMs: number;
  kind: NemesisEventKind;
  nodes: number[];
  windowIndex: number | null;
  detail: string;
}

export interface NemesisOptions {
  cluster: JepsenCluster;
  schedule: readonly FaultWindow[];
  recorder: HistoryRecorder;
  keys: readonly string[];
  /** Milliseconds since the workload started; the same clock as the recorder's. */
  nowMs: () => number;
  /** How long past its planned start a window may wait for the live budget. */
  startDelayMsMax?: number;
  /** How long a crashing CLI writer may take to reach "paused after prepare". */
  crashPauseTimeoutMs?: number;
  log?: (line: string) => void;
}

const START_DELAY_MS_MAX_DEFAULT = 5_000;
const CRASH_PAUSE_TIMEOUT_MS_DEFAULT = 10_000;
const LIVE_RECHECK_MS = 300;
const LOOP_SLICE_MS = 50;

interface QueuedAction {
  atMs: number;
  window: FaultWindow;
  phase: "start" | "end";
}

export class Nemesis {
  readonly events: NemesisEvent[] = [];
  private readonly options: NemesisOptions;
  private readonly cluster: JepsenCluster;
  private readonly queue: QueuedAction[];
  /** Windows whose fault is in force now. */
  private readonly active = new Map<number, FaultWindow>();
  private readonly crashTasks = new Set<Promise<void>>();
  private crashCount = 0;
  private stopping = false;
  private loop: Promise<void> | null = null;

  constructor(options: NemesisOptions) {
    this.options = options;
    this.cluster = options.cluster;
    this.queue = options.schedule.map((window) => ({ atMs: window.startMs, window, phase: "start" as const }));
  }

  start(): void {
    if (this.loop !== null) throw new Error("nemesis already started");
    this.loop = this.run();
  }

  /** No new fault starts after this; waits for the loop and any client crash in progress. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    await Promise.all([...this.crashTasks]);
  }

  /**
   * Undoes every fault in force: heals partitions, resumes paused nodes, restarts killed ones;
   * then, as a backstop, heals every rule and starts any node that is down.
   */
  async healAll(): Promise<void> {
    // Network and SIGCONT first: restarts then find a connected, running cluster.
    const windows = [...this.active.values()].sort((a, b) => rank(a) - rank(b) || a.windowIndex - b.windowIndex);
    for (const window of windows) await this.end(window, "heal-all");
    if (this.cluster.network !== null && this.cluster.network.activeRuleCount > 0) {
      await this.cluster.network.healAll();
      this.note("heal", [], null, "heal-all: removed leftover partition rules");
    }
    for (let index = 0; index < this.cluster.nodeCount; index++) {
      const node = this.cluster.nodes[index];
      if (node !== null && node.paused) {
        this.cluster.resumeNode(index);
        this.note("resume", [index], null, "heal-all");
      }
    }
    for (let index = 0; index < this.cluster.nodeCount; index++) {
      if (this.cluster.alive(index)) continue;
      try {
        await this.cluster.startNode(index, true);
        this.note("restart", [index], null, `heal-all: pid ${this.cluster.nodes[index]?.pid}`);
      } catch (error) {
        this.note("error", [index], null, `heal-all restart failed: ${errorMessage(error)}`);
      }
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      this.queue.sort((a, b) => a.atMs - b.atMs || (a.phase === "end" ? -1 : 1));
      const next = this.queue[0];
      if (next === undefined) {
        await sleep(LOOP_SLICE_MS);
        continue;
      }
      const waitMs = next.atMs - this.options.nowMs();
      if (waitMs > 0) {
        await sleep(Math.min(waitMs, LOOP_SLICE_MS));
        continue;
      }
      this.queue.shift();
      try {
        if (next.phase === "end") await this.end(next.window, "scheduled");
        else await this.begin(next);
      } catch (error) {
        this.note("error", next.window.nodes, next.window.windowIndex, `${next.phase} ${next.window.kind}: ${errorMessage(error)}`);
      }
    }
  }

  private async begin(action: QueuedAction): Promise<void> {
    const window = action.window;
    if (window.kind === "client-crash") {
      this.startClientCrash(window);
      return;
    }
    if (window.kind === "partition" && this.cluster.network === null) {
      this.note("skip", window.nodes, window.windowIndex, "partition: no namespace network");
      return;
    }
    const refusal = await this.liveBudgetRefusal(window);
    if (refusal !== null) {
      const deadlineMs = window.startMs + (this.options.startDelayMsMax ?? START_DELAY_MS_MAX_DEFAULT);
      if (this.options.nowMs() + LIVE_RECHECK_MS <= deadlineMs) {
        this.queue.push({ atMs: this.options.nowMs() + LIVE_RECHECK_MS, window, phase: "start" });
      } else {
        this.note("skip", window.nodes, window.windowIndex, `${window.kind}: ${refusal}`);
      }
      return;
    }
    switch (window.kind) {
      case "kill":
        for (const index of window.nodes) await this.cluster.killNode(index);
        this.note("kill", window.nodes, window.windowIndex, `SIGKILL, down for ${window.holdMs} ms`);
        break;
      case "pause":
        for (const index of window.nodes) this.cluster.pauseNode(index);
        this.note("pause", window.nodes, window.windowIndex, `SIGSTOP for ${window.holdMs} ms`);
        break;
      case "partition":
        await this.cluster.network!.partition(window.nodes);
        this.note("partition", window.nodes, window.windowIndex, `[${window.nodes.join(",")}] cut off from the other nodes for ${window.holdMs} ms`);
        break;
    }
    this.active.set(window.windowIndex, window);
    this.queue.push({ atMs: this.options.nowMs() + window.holdMs, window, phase: "end" });
  }

  private async end(window: FaultWindow, why: string): Promise<void> {
    if (!this.active.has(window.windowIndex)) return;
    this.active.delete(window.windowIndex);
    const position = this.queue.findIndex((action) => action.window === window && action.phase === "end");
    if (position >= 0) this.queue.splice(position, 1);
    switch (window.kind) {
      case "kill":
        for (const index of window.nodes) {
          try {
            await this.cluster.startNode(index, true);
            this.note("restart", [index], window.windowIndex, `${why}: ${this.cluster.mode === "ecc" ? "startOne recover" : "startOne from its data dir"}, pid ${this.cluster.nodes[index]?.pid}`);
          } catch (error) {
            this.note("error", [index], window.windowIndex, `restart failed (${why}): ${errorMessage(error)}`);
          }
        }
        break;
      case "pause":
        for (const index of window.nodes) this.cluster.resumeNode(index);
        this.note("resume", window.nodes, window.windowIndex, `${why}: SIGCONT`);
        break;
      case "partition":
        await this.cluster.network!.heal(window.nodes);
        this.note("heal", window.nodes, window.windowIndex, why);
        break;
      case "client-crash":
        break;
    }
  }

  /** Why `window` may not start now, or null when the live cluster has room for it. */
  private async liveBudgetRefusal(window: FaultWindow): Promise<string | null> {
    const held = new Set<number>();
    for (const active of this.active.values()) for (const node of active.nodes) held.add(node);
    let healthy: Set<number>;
    try {
      healthy = (await this.cluster.probe()).healthy;
    } catch (error) {
      return `health probe failed: ${errorMessage(error)}`;
    }
    const faulty = new Set<number>(held);
    for (let index = 0; index < this.cluster.nodeCount; index++) if (!healthy.has(index)) faulty.add(index);
    const busy = window.nodes.filter((node) => faulty.has(node));
    if (busy.length > 0) return `nodes [${busy.join(",")}] not healthy yet`;
    if (faulty.size + window.nodes.length > this.cluster.faultBudget) {
      return `budget: ${faulty.size} faulty now ([${[...faulty].join(",")}]) + ${window.nodes.length} > ${this.cluster.faultBudget}`;
    }
    return null;
  }

  private startClientCrash(window: FaultWindow): void {
    if (this.cluster.mode !== "ecc") {
      this.note("skip", [], window.windowIndex, "client-crash is an ecc fault");
      return;
    }
    const crashIndex = this.crashCount++;
    const clientId = `x${crashIndex}`;
    const key = this.options.keys[window.keyIndex ?? 0];
    const value = `${clientId}-0`;
    const task = (async () => {
      const handle = this.options.recorder.invoke(clientId, { kind: "set", key, value });
      try {
        const writer = await this.cluster.startPausingWriter(key, value, this.options.crashPauseTimeoutMs ?? CRASH_PAUSE_TIMEOUT_MS_DEFAULT);
        await this.cluster.killProcess(writer.child, writer.exited);
        const detail =
          writer.outcome === "paused"
            ? `CLI writer ${clientId} set ${key}=${value} SIGKILLed between EcPrepare and EcCommit`
            : `CLI writer ${clientId} set ${key}=${value} ${writer.outcome} before pausing (${writer.output.slice(-1)[0] ?? ""}); killed`;
        this.note("client-crash", [], window.windowIndex, detail);
      } catch (error) {
        this.note("error", [], window.windowIndex, `client-crash: ${errorMessage(error)}`);
      } finally {
        // Whatever happened, the write may have taken effect: resolution decides later.
        this.options.recorder.unknown(handle);
      }
    })();
    this.crashTasks.add(task);
    void task.finally(() => this.crashTasks.delete(task));
  }

  private note(kind: NemesisEventKind, nodes: number[], windowIndex: number | null, detail: string): void {
    const event: NemesisEvent = { atMs: Math.round(this.options.nowMs()), kind, nodes: [...nodes], windowIndex, detail };
    this.events.push(event);
    this.options.log?.(formatEvent(event));
  }
}

function rank(window: FaultWindow): number {
  return window.kind === "partition" ? 0 : window.kind === "pause" ? 1 : 2;
}

export function formatEvent(event: NemesisEvent): string {
  const nodes = event.nodes.length > 0 ? ` [${event.nodes.join(",")}]` : "";
  const window = event.windowIndex === null ? "" : ` (window ${event.windowIndex})`;
  return `${(event.atMs / 1000).toFixed(3).padStart(8)} s  ${event.kind}${nodes}${window}: ${event.detail}`;
}
