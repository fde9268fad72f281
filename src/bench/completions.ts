// Completed operations as values, and how they travel from a client process to the bench.
//
// A Completion is one operation's outcome: which operation (its issue index in the workload's
// one seeded stream, so the bench can regenerate kind, key and size), whether it was the set
// that followed a miss, warm-up or measured, ok or the error message, a read's hit or miss,
// when it ended (ms since the run's origin, on the bench's clock) and its latency. The
// bench's accounting (runner.ts PhaseRecorder) takes completions in the order they ended,
// whichever process issued them, so a run with client processes is counted by the same code
// as one without.
//
// Wire format (client_process.ts → client_pool.ts): batches of fixed 17-byte records, base64
// in one JSON line, plus the error messages by position in the batch:
//   u32 index | u8 flags (ok, fill, measured, hit known, hit) | f64 end (run ms) | u32 latency µs
// Within one process completions are recorded in the order they end, so each process's
// stream is sorted by end time and the bench merges the streams (mergeByEndTime).
export interface Completion {
  /** Issue index of the operation in the workload's stream (warm-up first). */
  index: number;
  /** The set that followed a miss of operation `index` (cache workload). */
  fill: boolean;
  measured: boolean;
  ok: boolean;
  /** A read's outcome when it succeeded: true if a value came back; null for writes and failures. */
  hit: boolean | null;
  /** When the operation completed, in ms since the run's origin. */
  tEndRunMs: number;
  latencyUs: number;
  /** The error message of a failed operation; null when ok. */
  error: string | null;
}

export const RECORD_BYTES = 17;
const OK = 1;
const FILL = 2;
const MEASURED = 4;
const HIT_KNOWN = 8;
const HIT = 16;

export interface CompletionBatch {
  /** base64 of the records. */
  records: string;
  /** [position in the batch, message] of every failed completion. */
  errors: Array<[number, string]>;
}

export function encodeCompletions(completions: readonly Completion[]): CompletionBatch {
  const buffer = Buffer.allocUnsafe(completions.length * RECORD_BYTES);
  const errors: Array<[number, string]> = [];
  completions.forEach((completion, position) => {
    const at = position * RECORD_BYTES;
    let flags = 0;
    if (completion.ok) flags |= OK;
    if (completion.fill) flags |= FILL;
    if (completion.measured) flags |= MEASURED;
    if (completion.hit !== null) flags |= HIT_KNOWN | (completion.hit ? HIT : 0);
    buffer.writeUInt32LE(completion.index, at);
    buffer.writeUInt8(flags, at + 4);
    buffer.writeDoubleLE(completion.tEndRunMs, at + 5);
    buffer.writeUInt32LE(Math.min(0xffffffff, Math.max(0, Math.round(completion.latencyUs))), at + 13);
    if (!completion.ok) errors.push([position, completion.error ?? "unknown error"]);
  });
  return { records: buffer.toString("base64"), errors };
}

export interface BatchCounts {
  warmupDone: number;
  warmupErrors: number;
  measuredDone: number;
  measuredErrors: number;
}

/** One process's completions, batch after batch, read back one at a time. */
export class CompletionStream {
  private readonly batches: Array<{ buffer: Buffer; errors: Map<number, string> }> = [];
  private batch = 0;
  private position = 0;
  count = 0;

  /** Appends a batch; returns what it holds, for progress (measured: the sets after misses left out). */
  add(batch: CompletionBatch): BatchCounts {
    const buffer = Buffer.from(batch.records, "base64");
    if (buffer.length % RECORD_BYTES !== 0) throw new Error(`completion batch of ${buffer.length} bytes is not a whole number of ${RECORD_BYTES}-byte records`);
    const counts: BatchCounts = { warmupDone: 0, warmupErrors: 0, measuredDone: 0, measuredErrors: 0 };
    if (buffer.length === 0) return counts;
    this.batches.push({ buffer, errors: new Map(batch.errors) });
    this.count += buffer.length / RECORD_BYTES;
    for (let at = 0; at < buffer.length; at += RECORD_BYTES) {
      const flags = buffer.readUInt8(at + 4);
      const failed = (flags & OK) === 0;
      if ((flags & MEASURED) === 0) {
        counts.warmupDone++;
        if (failed) counts.warmupErrors++;
      } else {
        if ((flags & FILL) === 0) counts.measuredDone++;
        if (failed) counts.measuredErrors++;
      }
    }
    return counts;
  }

  /** The next completion, or null at the end. */
  next(): Completion | null {
    while (this.batch < this.batches.length && this.position * RECORD_BYTES >= this.batches[this.batch].buffer.length) {
      this.batch++;
      this.position = 0;
    }
    if (this.batch >= this.batches.length) return null;
    const { buffer, errors } = this.batches[this.batch];
    const at = this.position * RECORD_BYTES;
    const flags = buffer.readUInt8(at + 4);
    const ok = (flags & OK) !== 0;
    const completion: Completion = {
      index: buffer.readUInt32LE(at),
      fill: (flags & FILL) !== 0,
      measured: (flags & MEASURED) !== 0,
      ok,
      hit: (flags & HIT_KNOWN) === 0 ? null : (flags & HIT) !== 0,
      tEndRunMs: buffer.readDoubleLE(at + 5),
      latencyUs: buffer.readUInt32LE(at + 13),
      error: ok ? null : (errors.get(this.position) ?? "unknown error"),
    };
    this.position++;
    return completion;
  }
}

/**
 * Calls `take` with every completion of every stream in the order they ended (each stream is
 * already in that order; ties keep the streams' order). Streams are consumed.
 */
export function mergeByEndTime(streams: CompletionStream[], take: (completion: Completion) => void): void {
  const heads = streams.map((stream) => stream.next());
  for (;;) {
    let pick = -1;
    for (let i = 0; i < heads.length; i++) {
      const head = heads[i];
      if (head !== null && (pick < 0 || head.tEndRunMs < heads[pick]!.tEndRunMs)) pick = i;
    }
    if (pick < 0) return;
    take(heads[pick]!);
    heads[pick] = streams[pick].next();
  }
}
