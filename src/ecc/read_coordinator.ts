// EcReadCoordinator: decides a read from shard replies. Pure: it is told which node
// answered what, and says what to do next. One instance per read attempt.
//
// Rules (DESIGN.md section 3): replies are grouped by committed version; a value is decoded
// only from k replies of the same version (never across versions); version 0 (absent) and
// tombstones count like any version, so "not found" also needs k agreeing nodes. A reply
// whose shard fails its checksum is treated as that node failing. Because k > n/2, once a
// read returns version v no later read can assemble k replies of an older version.
import assert from "node:assert/strict";
import { EcGetReply } from "../gen/ecc";
import { crc32 } from "../codec/checksum";

export type ReadDecision =
  | { kind: "wait" }
  /** Ask the nodes not asked yet: a node failed or versions disagree. */
  | { kind: "expand" }
  | { kind: "decode"; version: number; nodes: number[] }
  | { kind: "absent"; version: number }
  /** Versions disagree and none can reach k now: a write is committing; read again. */
  | { kind: "retry"; reason: string }
  /**
   * Too many nodes failed to answer. staleEpoch: some of them refused because they are at
   * another view epoch (they catch up within moments, so the caller may read again).
   */
  | { kind: "fail"; reason: string; staleEpoch: boolean };

interface Group {
  version: number;
  nodes: number[];
}

export class EcReadCoordinator {
  private readonly asked = new Set<number>();
  private readonly replies = new Map<number, EcGetReply>();
  private readonly failures = new Map<number, string>();
  private staleEpochFailures = 0;
  private readonly groups = new Map<number, Group>();

  constructor(
    readonly shardCount: number,
    readonly dataShards: number,
  ) {
    assert(dataShards >= 1 && dataShards < shardCount);
  }

  markAsked(nodeIndex: number): void {
    this.asked.add(nodeIndex);
  }

  notAsked(): number[] {
    const result: number[] = [];
    for (let i = 0; i < this.shardCount; i++) if (!this.asked.has(i)) result.push(i);
    return result;
  }

  reply(nodeIndex: number): EcGetReply | undefined {
    return this.replies.get(nodeIndex);
  }

  onReply(nodeIndex: number, reply: EcGetReply): void {
    assert(this.asked.has(nodeIndex));
    assert(!this.replies.has(nodeIndex) && !this.failures.has(nodeIndex));
    if (reply.version !== 0 && !reply.tombstone && reply.data.length === reply.shardBytes) {
      // The whole blob is here: check it now; a corrupt shard is never decoded.
      if (reply.offset !== 0 || crc32(reply.data) !== reply.shardCrc32 >>> 0) {
        this.failures.set(nodeIndex, "shard failed its checksum");
        return;
      }
    }
    if (reply.version !== 0 && reply.shardIndex !== nodeIndex) {
      this.failures.set(nodeIndex, `node answered for shard ${reply.shardIndex}`);
      return;
    }
    this.replies.set(nodeIndex, reply);
    let group = this.groups.get(reply.version);
    if (group === undefined) {
      group = { version: reply.version, nodes: [] };
      this.groups.set(reply.version, group);
    }
    group.nodes.push(nodeIndex);
  }

  /** `staleEpoch`: the node refused because it is at another view epoch than the request. */
  onFailure(nodeIndex: number, reason: string, staleEpoch = false): void {
    assert(this.asked.has(nodeIndex));
    if (this.replies.has(nodeIndex) || this.failures.has(nodeIndex)) return;
    this.failures.set(nodeIndex, reason);
    if (staleEpoch) this.staleEpochFailures++;
  }

  decide(): ReadDecision {
    let best: Group | null = null;
    for (const group of this.groups.values()) {
      if (group.nodes.length >= this.dataShards && (best === null || group.version > best.version)) best = group;
    }
    if (best !== null) {
      const first = this.replies.get(best.nodes[0])!;
      if (best.version === 0 || first.tombstone) return { kind: "absent", version: best.version };
      // Prefer data shards: with all k of them the decode is a plain copy.
      const nodes = best.nodes.slice().sort((a, b) => a - b).slice(0, this.dataShards);
      return { kind: "decode", version: best.version, nodes };
    }
    const outstanding = this.asked.size - this.replies.size - this.failures.size;
    const unasked = this.shardCount - this.asked.size;
    const mixed = this.groups.size > 1;
    if ((this.failures.size > 0 || mixed) && unasked > 0) return { kind: "expand" };
    let largest = 0;
    for (const group of this.groups.values()) largest = Math.max(largest, group.nodes.length);
    if (outstanding > 0 && largest + outstanding >= this.dataShards) return { kind: "wait" };
    if (mixed && this.replies.size + outstanding >= this.dataShards) {
      return { kind: "retry", reason: `versions ${[...this.groups.keys()].join(", ")} disagree` };
    }
    const reasons = [...this.failures.entries()].map(([node, reason]) => `node ${node}: ${reason}`);
    return {
      kind: "fail",
      reason: `only ${this.replies.size} of ${this.shardCount} nodes answered, ${this.dataShards} needed` +
        (reasons.length > 0 ? ` (${reasons.join("; ")})` : ""),
      staleEpoch: this.staleEpochFailures > 0,
    };
  }
}
