// The event queue of the seeded simulators (raft history simulation, ecc protocol
// simulation): a binary min-heap ordered by (atMs, insertion order), so events due at the
// same virtual time run in the order they were scheduled and a seed replays exactly.

interface Event {
  atMs: number;
  order: number;
  run: () => void;
}

export class EventQueue {
  private readonly heap: Event[] = [];
  private nextOrder = 0;

  get size(): number {
    return this.heap.length;
  }

  push(atMs: number, run: () => void): void {
    const event = { atMs, order: this.nextOrder++, run };
    const heap = this.heap;
    heap.push(event);
    let position = heap.length - 1;
    while (position > 0) {
      const parent = (position - 1) >> 1;
      if (before(heap[parent], event)) break;
      heap[position] = heap[parent];
      position = parent;
    }
    heap[position] = event;
  }

  pop(): Event | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      let position = 0;
      for (;;) {
        const left = 2 * position + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && before(heap[right], heap[left]) ? right : left;
        if (before(last, heap[child])) break;
        heap[position] = heap[child];
        position = child;
      }
      heap[position] = last;
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order);
}
