// The erasure codec interface: Reed–Solomon over GF(2^8), systematic (data shards are the
// value's bytes), free of keys, versions and I/O. `k`/`m` are used only inside codec math;
// everything outside says dataShards/parityShards.
//
// Size rules:
// - every shard of one encoding has the same length, shardBytes(valueBytes) =
//   max(1, ceil(valueBytes / k)); the last data shard is zero padded;
// - the true value length is metadata kept by the caller and passed to join(); it is never
//   inferred from padding, so values ending in zero bytes are safe;
// - a 0-byte value encodes as k+m one-byte all-zero shards (an RS code cannot split zero
//   bytes) and joins back to 0 bytes.

export interface ErasureCodec {
  readonly name: string;
  readonly dataShards: number; // k
  readonly parityShards: number; // m; dataShards + parityShards <= 256
  shardBytes(valueBytes: number): number;
  /** k zero-padded data shards (copies) followed by m zeroed parity shards. */
  split(value: Uint8Array): Uint8Array[];
  /**
   * Fills the m parity shards in place from the k data shards. All k+m shards must be
   * present and of one length (ShardSizeMismatchError); the array must hold exactly k+m
   * slots (InvalidShardCountError, as for every method here).
   */
  encode(shards: Uint8Array[]): void;
  /** True when the parity shards match the data shards. */
  verify(shards: Uint8Array[]): boolean;
  /**
   * Fills every null shard. Throws TooFewShardsError with fewer than k present. A zero-length
   * slot counts as missing too; rebuilt shards are new arrays put into the slots, present
   * shards are left as they are. The codec cannot tell a corrupt shard from a good one:
   * drop shards whose checksum fails before calling this (see checksum.ts).
   */
  reconstruct(shards: Array<Uint8Array | null>): void;
  /** Fills only the null data shards (all a read needs). */
  reconstructData(shards: Array<Uint8Array | null>): void;
  /**
   * Fills the null slots whose `wanted` flag is set (one flag per slot, k+m of them), and
   * leaves the other null slots null, except that missing data shards are rebuilt too when
   * a wanted parity shard needs them. A node rebuilding its own shard asks for just that
   * one (klauspost's ReconstructSome), so a parity shard costs one row of work, not m.
   * Same errors as reconstruct; a `wanted` of the wrong length is InvalidShardCountError.
   */
  reconstructSome(shards: Array<Uint8Array | null>, wanted: readonly boolean[]): void;
  /**
   * Concatenates the data shards and cuts to valueBytes, into a new array. Every data shard
   * must be present (TooFewShardsError) and exactly shardBytes(valueBytes) long
   * (ShardSizeMismatchError); nonzero padding after valueBytes is CorruptShardError.
   */
  join(shards: Array<Uint8Array | null>, valueBytes: number): Uint8Array;
}

export type CodecBackend = "native" | "wasm" | "table";
