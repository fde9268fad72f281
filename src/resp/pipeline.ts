// Which commands of one connection may run now: the pure core of the RESP front door's
// pipelining (no sockets, no promises; server.ts drives it).
//
// A connection's commands arrive in order and their replies leave in that order, but they
// need not run one at a time: commands on different keys run concurrently, so a pipeline of
// 16 GETs becomes one batched fan-out to the nodes instead of 16 round trips in a row. What
// must hold is what a client of a single Redis sees: a command sees the effect of every
// earlier command of its connection on the same key, and no effect of a later one. So a
// command waits while an earlier, unfinished command of the same connection
// - touches one of its keys and either of the two writes it (two reads of one key may run
//   together: neither changes what the other sees);
// - is a barrier, or it is one itself: commands that read or change more than named keys
//   (DBSIZE, SCAN, KEYS, INFO, FLUSHALL, QUIT) run alone, after everything before them.
// Commands that only touch the connection (PING, ECHO, CLIENT SETNAME) have no keys and are
// not barriers: they run at once and their replies still leave in order.
import assert from "node:assert/strict";

export interface CommandAccess {
  /** The keys the command reads or writes (latin1 strings of the key bytes). */
  keys: readonly string[];
  /** True when it writes any of its keys. */
  write: boolean;
  barrier: boolean;
}

interface Entry {
  id: number;
  access: CommandAccess;
  running: boolean;
}

export class PipelineScheduler {
  private nextId = 1;
  /** Unfinished commands (waiting or running), in arrival order. */
  private readonly unfinished = new Map<number, Entry>();
  /** For each key, the unfinished commands that touch it, in arrival order. */
  private readonly byKey = new Map<string, Entry[]>();
  private waitingCount = 0;
  private barrierCount = 0;

  /** Commands received and not finished (waiting or running). */
  get size(): number {
    return this.unfinished.size;
  }

  /** Adds the next command of the connection; `start` says whether it may run now. */
  admit(access: CommandAccess): { id: number; start: boolean } {
    const entry: Entry = { id: this.nextId++, access, running: false };
    const start = this.mayStart(entry);
    this.unfinished.set(entry.id, entry);
    for (const key of distinct(access.keys)) {
      const list = this.byKey.get(key);
      if (list === undefined) this.byKey.set(key, [entry]);
      else list.push(entry);
    }
    if (access.barrier) this.barrierCount += 1;
    if (start) entry.running = true;
    else this.waitingCount += 1;
    return { id: entry.id, start };
  }

  /** Marks a running command finished; returns the ids of the commands that may run now, in order. */
  finish(id: number): number[] {
    const entry = this.unfinished.get(id);
    assert.ok(entry !== undefined && entry.running, `command ${id} is not running`);
    this.unfinished.delete(id);
    if (entry.access.barrier) this.barrierCount -= 1;
    for (const key of distinct(entry.access.keys)) {
      const list = this.byKey.get(key)!;
      const index = list.indexOf(entry);
      assert.ok(index >= 0);
      list.splice(index, 1);
      if (list.length === 0) this.byKey.delete(key);
    }
    if (this.waitingCount === 0) return [];
    const started: number[] = [];
    for (const waiting of this.unfinished.values()) {
      if (waiting.running) continue;
      if (this.mayStart(waiting)) {
        waiting.running = true;
        this.waitingCount -= 1;
        started.push(waiting.id);
      }
    }
    return started;
  }

  /** Whether `entry` conflicts with no unfinished command that arrived before it. */
  private mayStart(entry: Entry): boolean {
    if (this.barrierCount > 0 || entry.access.barrier) {
      for (const earlier of this.unfinished.values()) {
        if (earlier.id >= entry.id) break;
        if (earlier.access.barrier || entry.access.barrier) return false;
      }
    }
    for (const key of entry.access.keys) {
      const list = this.byKey.get(key);
      if (list === undefined) continue;
      for (const earlier of list) {
        if (earlier.id >= entry.id) break;
        if (earlier.access.write || entry.access.write) return false;
      }
    }
    return true;
  }
}

/** The keys without repeats (most commands name one key: no Set for them). */
function distinct(keys: readonly string[]): readonly string[] {
  return keys.length <= 1 ? keys : [...new Set(keys)];
}
