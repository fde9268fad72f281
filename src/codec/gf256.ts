// Arithmetic in GF(2^8) with the primitive polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d) and
// generator 2, plus the few matrix helpers a Reed–Solomon codec needs.
//
// Why 0x11d and generator 2: Backblaze JavaReedSolomon, klauspost/reedsolomon and the Rust
// reed-solomon-erasure crate (our wasm backend) all use them. Parity bytes depend on the
// field, so every backend must agree on it for shards written by one to be readable by
// another.
//
// Addition and subtraction are XOR. Multiplication goes through a full 256x256 product
// table (64 KiB): one indexed load per byte is the cheapest multiply plain JavaScript has.
import assert from "node:assert/strict";

/** The field polynomial including the x^8 term. */
export const GF_POLYNOMIAL = 0x11d;
export const GF_ORDER = 256;

/** LOG_TABLE[a] = log_2(a) for a in 1..255; LOG_TABLE[0] is unused (log of 0 is undefined). */
export const LOG_TABLE = new Uint8Array(GF_ORDER);
/**
 * EXP_TABLE[i] = 2^i. It is 510 entries long so that EXP_TABLE[LOG[a] + LOG[b]] needs no
 * modulo 255.
 */
export const EXP_TABLE = new Uint8Array(2 * (GF_ORDER - 1));
/** MUL_TABLE[(a << 8) | b] = a * b. Row a (256 bytes) is the "multiply by a" lookup. */
export const MUL_TABLE = new Uint8Array(GF_ORDER * GF_ORDER);

(function buildTables(): void {
  let element = 1;
  for (let exponent = 0; exponent < GF_ORDER - 1; exponent++) {
    EXP_TABLE[exponent] = element;
    EXP_TABLE[exponent + GF_ORDER - 1] = element;
    LOG_TABLE[element] = exponent;
    element <<= 1;
    if (element & 0x100) element ^= GF_POLYNOMIAL;
  }
  // 2 generates the multiplicative group only if the walk returned to 1 after 255 steps.
  assert.equal(element, 1, "2 must be a generator of GF(2^8) under 0x11d");
  for (let a = 1; a < GF_ORDER; a++) {
    for (let b = 1; b < GF_ORDER; b++) {
      MUL_TABLE[(a << 8) | b] = EXP_TABLE[LOG_TABLE[a] + LOG_TABLE[b]];
    }
  }
  // Row 0 and column 0 stay 0, as Uint8Array starts zeroed.
})();

export function gfAdd(a: number, b: number): number {
  return a ^ b;
}

export function gfMul(a: number, b: number): number {
  return MUL_TABLE[(a << 8) | b];
}

export function gfInverse(a: number): number {
  assert.ok(a !== 0, "0 has no multiplicative inverse");
  return EXP_TABLE[GF_ORDER - 1 - LOG_TABLE[a]];
}

export function gfDiv(a: number, b: number): number {
  assert.ok(b !== 0, "division by 0 in GF(2^8)");
  if (a === 0) return 0;
  return EXP_TABLE[LOG_TABLE[a] + GF_ORDER - 1 - LOG_TABLE[b]];
}

/** a^n, with 0^0 = 1 as in Backblaze's Vandermonde construction. */
export function gfPow(a: number, n: number): number {
  assert.ok(Number.isInteger(n) && n >= 0);
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP_TABLE[(LOG_TABLE[a] * n) % (GF_ORDER - 1)];
}

// ---- Slice kernels: the inner loops of encode and decode. ----
//
// Assembling four products into one 32-bit store is faster than a byte loop with one table
// lookup per byte, because the target is read and written a quarter as often (npm run
// bench:codec measures both backends). So the kernels write 32-bit words when the target is 4-byte aligned (every shard
// that split() or reconstruct() allocates is) and fall back to bytes otherwise and for the
// tail. The word path assumes little-endian byte order (byte i of a word is bits 8i..8i+7),
// which is checked once here.

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Shorter slices use the byte path. V8 keeps typed arrays of up to 64 bytes inside its heap,
 * and reading `.buffer` (needed for a word view) moves such an array out of it, which cost
 * more than the word path saves: 100-byte values at k=3 encoded 2x slower before this limit.
 */
export const WORD_PATH_BYTES_MIN = 128;

/** A 32-bit view of the whole words of `bytes`, or null when the word path is not used. */
export function wordsOf(bytes: Uint8Array): Int32Array | null {
  if (!LITTLE_ENDIAN || bytes.length < WORD_PATH_BYTES_MIN || (bytes.byteOffset & 3) !== 0) return null;
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
}

function checkKernelArguments(
  source: Uint8Array,
  target: Uint8Array,
  byteCount: number,
  targetWords: Int32Array | null,
): void {
  assert.ok(byteCount <= source.length, "source shorter than byteCount");
  assert.ok(byteCount <= target.length, "target shorter than byteCount");
  if (targetWords !== null) {
    assert.ok(targetWords.buffer === target.buffer, "targetWords must view target");
    assert.ok(targetWords.byteOffset === target.byteOffset, "targetWords must start at target");
    assert.ok(targetWords.length >= byteCount >>> 2);
  }
}

/** target[i] = coefficient * source[i] for i < byteCount. */
export function mulSlice(
  coefficient: number,
  source: Uint8Array,
  target: Uint8Array,
  byteCount: number,
  targetWords: Int32Array | null = wordsOf(target),
): void {
  checkKernelArguments(source, target, byteCount, targetWords);
  if (coefficient === 0) {
    target.fill(0, 0, byteCount);
    return;
  }
  if (coefficient === 1) {
    // set(source) avoids subarray(), which would also move a small array off V8's heap.
    if (byteCount === source.length) target.set(source);
    else target.set(source.subarray(0, byteCount));
    return;
  }
  const table = MUL_TABLE;
  const base = coefficient << 8;
  let i = 0;
  if (targetWords !== null) {
    const wordCount = byteCount >>> 2;
    for (let w = 0; w < wordCount; w++, i += 4) {
      targetWords[w] =
        table[base | source[i]] |
        (table[base | source[i + 1]] << 8) |
        (table[base | source[i + 2]] << 16) |
        (table[base | source[i + 3]] << 24);
    }
  }
  for (; i < byteCount; i++) target[i] = table[base | source[i]];
}

/** target[i] ^= coefficient * source[i] for i < byteCount. */
export function mulAddSlice(
  coefficient: number,
  source: Uint8Array,
  target: Uint8Array,
  byteCount: number,
  targetWords: Int32Array | null = wordsOf(target),
): void {
  checkKernelArguments(source, target, byteCount, targetWords);
  if (coefficient === 0) return;
  let i = 0;
  const wordCount = targetWords === null ? 0 : byteCount >>> 2;
  if (coefficient === 1) {
    const sourceWords = targetWords === null ? null : wordsOf(source);
    if (targetWords !== null && sourceWords !== null) {
      for (let w = 0; w < wordCount; w++) targetWords[w] ^= sourceWords[w];
      i = wordCount << 2;
    }
    for (; i < byteCount; i++) target[i] ^= source[i];
    return;
  }
  const table = MUL_TABLE;
  const base = coefficient << 8;
  if (targetWords !== null) {
    for (let w = 0; w < wordCount; w++, i += 4) {
      targetWords[w] ^=
        table[base | source[i]] |
        (table[base | source[i + 1]] << 8) |
        (table[base | source[i + 2]] << 16) |
        (table[base | source[i + 3]] << 24);
    }
  }
  for (; i < byteCount; i++) target[i] ^= table[base | source[i]];
}

// ---- Matrices: arrays of rows, each row a Uint8Array. Small (at most 256x256). ----

export type GfMatrix = Uint8Array[];

export function matrixCreate(rowCount: number, columnCount: number): GfMatrix {
  const rows: GfMatrix = [];
  for (let r = 0; r < rowCount; r++) rows.push(new Uint8Array(columnCount));
  return rows;
}

export function matrixIdentity(size: number): GfMatrix {
  const rows = matrixCreate(size, size);
  for (let i = 0; i < size; i++) rows[i][i] = 1;
  return rows;
}

/** rows x columns Vandermonde matrix: entry (r, c) = r^c. Any `columns` rows are independent. */
export function matrixVandermonde(rowCount: number, columnCount: number): GfMatrix {
  assert.ok(rowCount <= GF_ORDER, "GF(2^8) has only 256 distinct evaluation points");
  const rows = matrixCreate(rowCount, columnCount);
  for (let r = 0; r < rowCount; r++) {
    for (let c = 0; c < columnCount; c++) rows[r][c] = gfPow(r, c);
  }
  return rows;
}

export function matrixMultiply(left: GfMatrix, right: GfMatrix): GfMatrix {
  assert.ok(left.length > 0 && right.length > 0);
  const innerCount = left[0].length;
  assert.equal(innerCount, right.length, "matrix shapes do not chain");
  const columnCount = right[0].length;
  const product = matrixCreate(left.length, columnCount);
  for (let r = 0; r < left.length; r++) {
    for (let c = 0; c < columnCount; c++) {
      let sum = 0;
      for (let i = 0; i < innerCount; i++) sum ^= gfMul(left[r][i], right[i][c]);
      product[r][c] = sum;
    }
  }
  return product;
}

/** The listed rows, copied. */
export function matrixSelectRows(matrix: GfMatrix, rowIndexes: readonly number[]): GfMatrix {
  return rowIndexes.map((rowIndex) => {
    assert.ok(rowIndex >= 0 && rowIndex < matrix.length);
    return matrix[rowIndex].slice();
  });
}

/** Gauss–Jordan inverse of a square matrix; null when it is singular. */
export function matrixInvert(matrix: GfMatrix): GfMatrix | null {
  const size = matrix.length;
  for (const row of matrix) assert.equal(row.length, size, "only square matrices invert");
  const work = matrix.map((row) => row.slice());
  const inverse = matrixIdentity(size);
  for (let column = 0; column < size; column++) {
    // Find a pivot row at or below `column` and swap it up.
    let pivotRow = column;
    while (pivotRow < size && work[pivotRow][column] === 0) pivotRow++;
    if (pivotRow === size) return null;
    if (pivotRow !== column) {
      [work[pivotRow], work[column]] = [work[column], work[pivotRow]];
      [inverse[pivotRow], inverse[column]] = [inverse[column], inverse[pivotRow]];
    }
    // Scale the pivot row so the pivot is 1.
    const pivotInverse = gfInverse(work[column][column]);
    for (let c = 0; c < size; c++) {
      work[column][c] = gfMul(work[column][c], pivotInverse);
      inverse[column][c] = gfMul(inverse[column][c], pivotInverse);
    }
    // Clear the column in every other row.
    for (let r = 0; r < size; r++) {
      if (r === column) continue;
      const factor = work[r][column];
      if (factor === 0) continue;
      for (let c = 0; c < size; c++) {
        work[r][c] ^= gfMul(factor, work[column][c]);
        inverse[r][c] ^= gfMul(factor, inverse[column][c]);
      }
    }
  }
  return inverse;
}

export function matrixIsIdentity(matrix: GfMatrix): boolean {
  for (let r = 0; r < matrix.length; r++) {
    for (let c = 0; c < matrix[r].length; c++) {
      if (matrix[r][c] !== (r === c ? 1 : 0)) return false;
    }
  }
  return true;
}

/**
 * The (k+m) x k systematic encoding matrix of Backblaze / klauspost / reed-solomon-erasure:
 * a (k+m) x k Vandermonde matrix multiplied by the inverse of its top k x k square, so the
 * top k rows become the identity (data shards are the value's bytes) and any k rows stay
 * independent (any k shards rebuild the value). Row k+r gives parity shard r's coefficients.
 */
export function buildEncodingMatrix(dataShards: number, parityShards: number): GfMatrix {
  assert.ok(Number.isInteger(dataShards) && dataShards >= 1);
  assert.ok(Number.isInteger(parityShards) && parityShards >= 1);
  assert.ok(dataShards + parityShards <= GF_ORDER);
  const vandermonde = matrixVandermonde(dataShards + parityShards, dataShards);
  const topIndexes = Array.from({ length: dataShards }, (_, i) => i);
  const topInverse = matrixInvert(matrixSelectRows(vandermonde, topIndexes));
  assert.ok(topInverse !== null, "a square Vandermonde matrix with distinct points is invertible");
  const encoding = matrixMultiply(vandermonde, topInverse);
  assert.ok(matrixIsIdentity(encoding.slice(0, dataShards)), "the code must be systematic");
  return encoding;
}
