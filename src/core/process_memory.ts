// What a node process says about its own memory in its stats reply. The benchmark records
// these next to the cgroup working set so the report can split a node's growth into the
// stores' array buffers, the V8 heap and the rest (allocator, native runtime, kernel).
import v8 from "node:v8";

export interface ProcessMemory {
  rssBytes: number;
  heapUsedBytes: number;
  /** Resident pages of the V8 heap, code space included (v8 total_physical_size). */
  v8HeapBytes: number;
  /** Memory of all ArrayBuffers as allocated (arena slabs, key index, Buffers in flight). */
  arrayBuffersBytes: number;
}

export function processMemory(): ProcessMemory {
  const usage = process.memoryUsage();
  return {
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    v8HeapBytes: v8.getHeapStatistics().total_physical_size,
    arrayBuffersBytes: usage.arrayBuffers,
  };
}
