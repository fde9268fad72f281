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

  constructor(private readonly originMs: number) {}

  /** Milliseconds since the origin, now. */
  elapsedMs(): number {
    return performance.now() - this.originMs;
  }

  record(type: string, node?: string, detail?: string): RunEvent {
    const event: RunEvent = { tMs: Math.round(this.elapsedMs() * 10) / 10, type };
    if (node !== undefined) event.node = node;
    if (detail !== undefined) event.detail = detail;
    if (this.events.length < EVENTS_MAX) this.events.push(event);
    else this.dropped++;
    return event;
  }
}
