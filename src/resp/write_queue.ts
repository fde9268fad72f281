// Writes that arrive at one ecc node for one key, one at a time, with blind writes folded.
//
// Why: in ecc every write takes the key's lock on every node (EcPrepare); two writers of one
// key refuse each other and retry with backoff. Fifty clients setting one hot key through
// one node (redis-benchmark does exactly that: its key is a single "key:__rand_int__") then
// spend their time aborting each other. Queued here, the node's writes of a key never meet
// at the lock: each runs after the previous finished.
//
// Folding: consecutive queued blind writes (a SET with no condition, no GET and no KEEPTTL:
// its reply is OK whatever the key held) are carried out as one write of the last value, and
// all of them are answered with its outcome. That is linearizable: every folded write was
// invoked before the one write started and is answered after it committed, so each can be
// ordered just before it, each overwritten at once by the next. A write whose reply or effect
// depends on what the key holds (NX, XX, GET, KEEPTTL, DEL, EXPIRE, APPEND) runs on its own.
//
// Writes of other nodes' clients still meet this node's at the lock and retry as before.
interface Item<T> {
  foldable: boolean;
  run(): Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** Most blind writes one write may stand for (a bound, not a tuning knob: the queue is rarely this long). */
const FOLD_MAX = 4_096;

export class KeyWriteQueue {
  private readonly queues = new Map<string, Array<Item<unknown>>>();

  /** Writes queued or running, over all keys (tests, INFO). */
  get depth(): number {
    let count = 0;
    for (const queue of this.queues.values()) count += queue.length;
    return count;
  }

  /** Runs `run` after every earlier write of `key` through this queue; `foldable` for a blind write. */
  submit<T>(key: string, foldable: boolean, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const item: Item<T> = { foldable, run, resolve, reject };
      const queue = this.queues.get(key);
      if (queue === undefined) {
        this.queues.set(key, [item as Item<unknown>]);
        this.drain(key);
      } else {
        queue.push(item as Item<unknown>);
      }
    });
  }

  private drain(key: string): void {
    const queue = this.queues.get(key)!;
    let take = 1;
    if (queue[0].foldable) while (take < queue.length && take < FOLD_MAX && queue[take].foldable) take += 1;
    const batch = queue.slice(0, take);
    const last = batch[batch.length - 1];
    last.run().then(
      (value) => this.done(key, take, (item) => item.resolve(value)),
      (reason: unknown) => this.done(key, take, (item) => item.reject(reason)),
    );
  }

  private done(key: string, count: number, answer: (item: Item<unknown>) => void): void {
    const queue = this.queues.get(key)!;
    const finished = queue.splice(0, count);
    if (queue.length === 0) this.queues.delete(key);
    else this.drain(key);
    for (const item of finished) answer(item);
  }
}
