// The bench targets by kind. A new target is one line in TARGETS.
import { eccTarget } from "./ecc_target";
import { etcdTarget } from "./etcd_target";
import { raftTarget } from "./raft_target";
import { redisTarget } from "./redis_target";
import { BenchTarget } from "./target";

const TARGETS: BenchTarget[] = [eccTarget, raftTarget, etcdTarget, redisTarget];

export type TargetLookup = { target: BenchTarget } | { missing: string };

export function lookupTarget(kind: string): TargetLookup {
  const target = TARGETS.find((candidate) => candidate.kind === kind);
  if (target === undefined) return { missing: `unknown target '${kind}' (known: ${knownTargetKinds().join(", ")})` };
  return { target };
}

export function knownTargetKinds(): string[] {
  return TARGETS.map((target) => target.kind);
}
