// Access stamps: the 16 bits a KeyIndex keeps per key so eviction can prefer cold keys, as
// Redis does, by sampling a few keys and dropping the best candidate among them.
//
// LRU stamp: the time of the last access on a seconds clock, mod 2^16 (it wraps every 18.2
// hours; an idle time is read mod 2^16, so a key idle for longer than that looks young
// again, as in Redis's 24-bit clock, only sooner).
// LFU stamp: high byte a logarithmic access counter (a hit adds 1 with probability
// 1 / ((counter - LFU_INIT) * LFU_LOG_FACTOR + 1), so 255 stands for about a million hits),
// low byte the minute (mod 256) the counter was last decayed; the counter loses one per
// LFU_DECAY_MINUTES idle. Redis's defaults: log factor 10, decay time 1 minute, new keys 5.
// Pure: time and randomness come in as arguments.
import { EvictionPolicy } from "../core/eviction";

const LFU_INIT = 5;
const LFU_LOG_FACTOR = 10;
const LFU_DECAY_MINUTES = 1;

function lfuUsesCounter(policy: EvictionPolicy): boolean {
  return policy === "allkeys-lfu" || policy === "volatile-lfu";
}

function secondsClock(nowMs: number): number {
  return Math.floor(nowMs / 1000) & 0xffff;
}

function minutesClock(nowMs: number): number {
  return Math.floor(nowMs / 60_000) & 0xff;
}

/** The stamp of a key created now. */
export function initialStamp(policy: EvictionPolicy, nowMs: number): number {
  return lfuUsesCounter(policy) ? (LFU_INIT << 8) | minutesClock(nowMs) : secondsClock(nowMs);
}

/** The counter after decay for the minutes since the stamp's last decay. */
function lfuDecayed(stamp: number, nowMs: number): number {
  const counter = stamp >>> 8;
  const idleMinutes = (minutesClock(nowMs) - (stamp & 0xff)) & 0xff;
  return Math.max(0, counter - Math.floor(idleMinutes / LFU_DECAY_MINUTES));
}

/** The stamp after an access now; `chance` is a uniform draw in [0, 1) (LFU only). */
export function touchStamp(policy: EvictionPolicy, stamp: number, nowMs: number, chance: number): number {
  if (!lfuUsesCounter(policy)) return secondsClock(nowMs);
  let counter = lfuDecayed(stamp, nowMs);
  if (counter < 255) {
    const base = Math.max(0, counter - LFU_INIT);
    if (chance < 1 / (base * LFU_LOG_FACTOR + 1)) counter += 1;
  }
  return (counter << 8) | minutesClock(nowMs);
}

/**
 * How strongly a key should go first: higher evicts sooner. LRU: seconds idle; LFU: 255 minus
 * the decayed counter; volatile-ttl: the sooner the deadline, the higher (keys without a TTL
 * never qualify, -Infinity); random: 0 (the caller picks any of the sampled).
 */
export function evictionScore(policy: EvictionPolicy, stamp: number, nowMs: number, expiresAtMs: number): number {
  if (policy.startsWith("volatile-") && expiresAtMs === 0) return Number.NEGATIVE_INFINITY;
  switch (policy) {
    case "allkeys-lru":
    case "volatile-lru":
      return (secondsClock(nowMs) - stamp) & 0xffff;
    case "allkeys-lfu":
    case "volatile-lfu":
      return 255 - lfuDecayed(stamp, nowMs);
    case "volatile-ttl":
      return -expiresAtMs;
    case "allkeys-random":
    case "volatile-random":
      return 0;
    case "noeviction":
      return Number.NEGATIVE_INFINITY;
  }
}
