// A full garbage collection on request, without starting node with --expose-gc: the
// benchmark asks our nodes to collect before it reads their memory, so a snapshot shows
// live data, not garbage the runtime has not yet collected. Rate-limited: it is a
// stop-the-world pause.
import v8 from "node:v8";
import vm from "node:vm";

const GC_INTERVAL_MS_MIN = 1_000;
let collect: (() => void) | null = null;
let lastMs = -Infinity;

export function collectGarbage(): boolean {
  const nowMs = performance.now();
  if (nowMs - lastMs < GC_INTERVAL_MS_MIN) return false;
  if (collect === null) {
    v8.setFlagsFromString("--expose-gc");
    collect = vm.runInNewContext("gc") as () => void;
  }
  lastMs = nowMs;
  // Twice: V8 frees dead ArrayBuffers' memory in a background sweep after a full
  // collection; the second collection finishes that sweep before it returns.
  collect();
  collect();
  return true;
}

/**
 * A full collection when dead buffers pile up: under a write flood every request leaves a
 * buffer behind, and V8 collects only after tens of MiB of them, which a memory budget
 * cannot afford. Called on a timer by a node with a budget: collects when ArrayBuffer
 * memory exceeds what the node holds (`heldBytes`) by more than `slackBytes`, at most
 * every `intervalMs`. Returns whether it collected.
 */
export function collectWhenBuffersPileUp(heldBytes: number, slackBytes: number, intervalMs = 200): boolean {
  const nowMs = performance.now();
  if (nowMs - lastPressureMs < intervalMs) return false;
  if (process.memoryUsage().arrayBuffers - heldBytes <= slackBytes) return false;
  lastPressureMs = nowMs;
  if (collect === null) {
    v8.setFlagsFromString("--expose-gc");
    collect = vm.runInNewContext("gc") as () => void;
  }
  collect();
  return true;
}

let lastPressureMs = -Infinity;
