// The run's event log: phases, failures injected, nodes that died on their own, sampler
// problems. Times are milliseconds since the run's origin (the moment its cluster started),
// the same clock as memory samples, so the report can line them up.
export interface RunEvent {
  tMs: number;
  type: string;
  node?: string;
  detail?: string;
}

export const EVENTS_MAX = 10_000;

export class EventLog {
  readonly events: RunEvent[] = [];
  dropped = 0;

  /** @param originMs performance.now() at the run's origin. */
  constructor(readonly originMs: number) {}

  /** The origin as epoch milliseconds (performance.timeOrigin-based), for other processes' clocks. */
  get originEpochMs(): number {
    return performance.timeOrigin + this.originMs;
  }

  /** Milliseconds since the origin, now. */
  elapsedMs(): number {
    return performance.now() - this.originMs;
  }

  /** Records an event now, or at `atMs` (ms since the origin) when it happened earlier than it is recorded. */
  record(type: string, node?: string, detail?: string, atMs?: number): RunEvent {
    const event: RunEvent = { tMs: Math.round((atMs ?? this.elapsedMs()) * 10) / 10, type };
    if (node !== undefined) event.node = node;
    if (detail !== undefined) event.detail = detail;
    if (this.events.length < EVENTS_MAX) this.events.push(event);
    else this.dropped++;
    return event;
  }
}
