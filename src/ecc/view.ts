// Views: which servers hold shards now (DESIGN.md section 3).
//
// A view is {epoch, members, recovering} over shard indexes 0..n-1 (node i stores shard
// i). Members serve reads and take writes; recovering nodes take writes (so they miss
// nothing new) while they rebuild older shards, and serve no reads. Epochs only grow; the
// servers agree on each view through a small Raft group (control_plane.ts) whose log holds
// only views. Invariants: members and recovering are disjoint; |members| >= k.
//
// This file is pure: the next-view decisions of the failure detector and of join/promote
// requests, so they can be tested and simulated without processes.
import assert from "node:assert/strict";

export interface View {
  readonly epoch: number;
  readonly members: readonly number[];
  readonly recovering: readonly number[];
}

export function initialView(shardCount: number): View {
  return { epoch: 1, members: Array.from({ length: shardCount }, (_, i) => i), recovering: [] };
}

export function encodeView(view: View): Buffer {
  return Buffer.from(JSON.stringify({ epoch: view.epoch, members: view.members, recovering: view.recovering }), "utf8");
}

export function decodeView(data: Uint8Array): View {
  const parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8")) as View;
  assert(Number.isSafeInteger(parsed.epoch) && parsed.epoch >= 1);
  assert(Array.isArray(parsed.members) && Array.isArray(parsed.recovering));
  return { epoch: parsed.epoch, members: [...parsed.members], recovering: [...parsed.recovering] };
}

/**
 * The view a committed control-log entry installs: the entry's view when its epoch is the
 * current one + 1, else null (a stale proposal of an old leader, or unreadable bytes). Every
 * server applies the same entries to the same view, so all skip the same ones.
 */
export function viewOfEntry(entry: { data: Uint8Array }, current: View): View | null {
  let view: View;
  try {
    view = decodeView(entry.data);
  } catch {
    return null; // not a view: skipped the same way everywhere
  }
  return view.epoch === current.epoch + 1 ? view : null;
}

export function checkView(view: View, shardCount: number, dataShards: number): void {
  assert(view.members.length >= dataShards, `view ${view.epoch} has fewer than k members`);
  const seen = new Set<number>();
  for (const index of [...view.members, ...view.recovering]) {
    assert(Number.isInteger(index) && index >= 0 && index < shardCount);
    assert(!seen.has(index), `shard ${index} twice in view ${view.epoch}`);
    seen.add(index);
  }
}

/** Nodes a write must reach in this view: members and recovering, in index order. */
export function writeTargets(view: View): number[] {
  return [...view.members, ...view.recovering].sort((a, b) => a - b);
}

/**
 * The failure detector's decision: remove silent nodes, one per view change. A silent
 * member is removed only while k members remain; a silent recovering node always.
 * `silent` holds the shard indexes not heard from within heartbeat_timeout_ms.
 */
/**
 * Removes one silent node: a recovering one first (it serves nothing), else the first member
 * in `silent`'s order (the detector lists the longest silent first: most likely down rather
 * than slow), never leaving fewer than k members; null when nothing may change.
 */
export function nextViewForSilence(view: View, silent: readonly number[], dataShards: number): View | null {
  const recovering = silent.find((index) => view.recovering.includes(index));
  if (recovering !== undefined) {
    return { epoch: view.epoch + 1, members: view.members, recovering: view.recovering.filter((index) => index !== recovering) };
  }
  if (view.members.length - 1 < dataShards) return null;
  const member = silent.find((index) => view.members.includes(index));
  if (member === undefined) return null;
  return { epoch: view.epoch + 1, members: view.members.filter((index) => index !== member), recovering: view.recovering };
}

/** A restarted, empty node asks to rebuild: it leaves members (if still there) and recovers. */
export function nextViewForJoin(view: View, shardIndex: number, dataShards: number): View | "unchanged" | "refused" {
  if (view.recovering.includes(shardIndex)) return "unchanged";
  const members = view.members.filter((index) => index !== shardIndex);
  if (members.length < dataShards) return "refused";
  return { epoch: view.epoch + 1, members, recovering: [...view.recovering, shardIndex].sort((a, b) => a - b) };
}

/** A recovering node finished its rebuild: it becomes a member. */
export function nextViewForPromote(view: View, shardIndex: number): View | "unchanged" | "refused" {
  if (view.members.includes(shardIndex)) return "unchanged";
  if (!view.recovering.includes(shardIndex)) return "refused";
  return {
    epoch: view.epoch + 1,
    members: [...view.members, shardIndex].sort((a, b) => a - b),
    recovering: view.recovering.filter((index) => index !== shardIndex),
  };
}

/**
 * A view change as data: what the failure detector or a join/promote request asks the
 * control-plane leader to propose. `expectedEpoch`: the view the request was made in; a
 * change made in an older view is dropped (it must not undo what happened since).
 */
export type ViewChange =
  | { kind: "silence"; silent: readonly number[]; expectedEpoch: number }
  | { kind: "join"; shardIndex: number; expectedEpoch: number }
  | { kind: "promote"; shardIndex: number; expectedEpoch: number };

/** The view `change` makes of `view`, or null when it changes nothing (or no longer applies). */
export function applyViewChange(view: View, change: ViewChange, dataShards: number): View | null {
  if (view.epoch !== change.expectedEpoch) return null;
  switch (change.kind) {
    case "silence":
      return nextViewForSilence(view, change.silent, dataShards);
    case "join": {
      const next = nextViewForJoin(view, change.shardIndex, dataShards);
      return typeof next === "string" ? null : next;
    }
    case "promote": {
      const next = nextViewForPromote(view, change.shardIndex);
      return typeof next === "string" ? null : next;
    }
  }
}

/**
 * The control plane's state machine: the log holds only views, applied in order; each server
 * applies the same entries, so every server sees the same sequence of epochs. Used by the
 * real control plane (control_plane.ts) and the simulator alike.
 */
export class ViewStateMachine {
  private current: View;

  constructor(
    initial: View,
    private readonly shardCount: number,
    private readonly dataShards: number,
    private readonly onView: (view: View, previous: View) => void,
  ) {
    this.current = initial;
  }

  view(): View {
    return this.current;
  }

  /** A committed entry: installs its view when its epoch is current + 1; says whether it did. */
  apply(entry: { data: Uint8Array }): boolean {
    const view = viewOfEntry(entry, this.current);
    if (view === null) return false;
    this.install(view);
    return true;
  }

  /** A snapshot of the log (the view at its index). */
  restore(data: Uint8Array): void {
    if (data.byteLength > 0) this.install(decodeView(data));
  }

  snapshot(): Uint8Array {
    return encodeView(this.current);
  }

  /**
   * The entry to propose for `change` (made from the current view), or null when there is
   * nothing to change. A proposal whose epoch is not current + 1 when it commits is skipped.
   */
  proposal(change: ViewChange | ((current: View) => View | null)): { view: View; data: Uint8Array } | null {
    const next = typeof change === "function" ? change(this.current) : applyViewChange(this.current, change, this.dataShards);
    if (next === null) return null;
    checkView(next, this.shardCount, this.dataShards);
    if (next.epoch !== this.current.epoch + 1) return null;
    return { view: next, data: encodeView(next) };
  }

  private install(view: View): void {
    const previous = this.current;
    this.current = view;
    this.onView(view, previous);
  }
}
