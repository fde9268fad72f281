// Small injected edges, so cores never read the clock or Math.random themselves.

export interface Clock {
  /** Milliseconds, monotonic. */
  nowMs(): number;
}

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, max). */
  int(max: number): number;
}

export const systemClock: Clock = {
  nowMs: () => performance.now(),
};

/** Seeded PRNG (mulberry32): the same seed gives the same sequence on every platform. */
export class SeededRandom implements Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
}

export const systemRandom: Random = {
  next: () => Math.random(),
  int: (max: number) => Math.floor(Math.random() * max),
};

/** Resolves after `ms` (drivers only: cores take time as a value and never wait). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
