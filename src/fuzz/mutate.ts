// Byte-level mutations for the port fuzzer (src/fuzz): pure functions of a seeded Random and
// their input, no I/O, so one seed gives the same inputs on every run and every machine.
//
// A mutation is one of: flip bits, overwrite a byte with a boundary value, insert random
// bytes, delete a run, duplicate a run, truncate, splice in a varint that claims a huge
// length or number, or append garbage. Several may apply to one input. Sizes are bounded:
// an input grows by at most MUTATION_GROWTH_BYTES_MAX per mutation.
import { Random } from "../core/env";

/** Most bytes one mutation adds to an input. */
export const MUTATION_GROWTH_BYTES_MAX = 64;
/** Most mutations applied to one input. */
export const MUTATIONS_PER_INPUT_MAX = 4;

/** Bytes that sit on protocol boundaries: protobuf tags and wire types, CR/LF, '*', '$', NUL, 0x7f/0x80/0xff. */
const BOUNDARY_BYTES = [0x00, 0x01, 0x02, 0x08, 0x0a, 0x0d, 0x12, 0x1a, 0x20, 0x22, 0x24, 0x2a, 0x2b, 0x2d, 0x3a, 0x7f, 0x80, 0xfe, 0xff];

/** Varints a decoder must refuse or bound: 2^31, 2^32, 2^53+1, 2^63, 2^64-1, and an overlong 11-byte run. */
const HUGE_VARINTS: Buffer[] = [
  varint(2n ** 31n),
  varint(2n ** 32n - 1n),
  varint(2n ** 53n + 1n),
  varint(2n ** 63n),
  varint(2n ** 64n - 1n),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
];

/** Protobuf base-128 varint of a non-negative integer. */
export function varint(value: bigint): Buffer {
  if (value < 0n) throw new RangeError("varint of a negative number");
  const bytes: number[] = [];
  let rest = value;
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    bytes.push(rest === 0n ? low : low | 0x80);
  } while (rest !== 0n);
  return Buffer.from(bytes);
}

export function randomBytes(random: Random, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = random.int(256);
  return bytes;
}

export function pick<T>(random: Random, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError("pick from an empty list");
  return items[random.int(items.length)];
}

/** Applies 1..MUTATIONS_PER_INPUT_MAX mutations to a copy of `input`. */
export function mutate(random: Random, input: Uint8Array): Buffer {
  let bytes: Buffer = Buffer.from(input);
  const count = 1 + random.int(MUTATIONS_PER_INPUT_MAX);
  for (let i = 0; i < count; i++) bytes = mutateOnce(random, bytes);
  return bytes;
}

function mutateOnce(random: Random, bytes: Buffer): Buffer {
  const at = bytes.length === 0 ? 0 : random.int(bytes.length);
  const run = 1 + random.int(Math.min(MUTATION_GROWTH_BYTES_MAX, Math.max(1, bytes.length - at)));
  switch (random.int(8)) {
    case 0: {
      if (bytes.length === 0) return randomBytes(random, 1);
      const copy = Buffer.from(bytes);
      copy[at] ^= 1 << random.int(8);
      return copy;
    }
    case 1: {
      if (bytes.length === 0) return Buffer.from([pick(random, BOUNDARY_BYTES)]);
      const copy = Buffer.from(bytes);
      copy[at] = pick(random, BOUNDARY_BYTES);
      return copy;
    }
    case 2:
      return Buffer.concat([bytes.subarray(0, at), randomBytes(random, 1 + random.int(MUTATION_GROWTH_BYTES_MAX)), bytes.subarray(at)]);
    case 3:
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + run)]);
    case 4:
      return Buffer.concat([bytes.subarray(0, at + run), bytes.subarray(at, at + run), bytes.subarray(at + run)]);
    case 5:
      return bytes.subarray(0, at);
    case 6:
      return Buffer.concat([bytes.subarray(0, at), pick(random, HUGE_VARINTS), bytes.subarray(at + Math.min(run, 2))]);
    default:
      return Buffer.concat([bytes, randomBytes(random, 1 + random.int(MUTATION_GROWTH_BYTES_MAX))]);
  }
}
