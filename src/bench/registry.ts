// The bench targets by kind. A new target is one line in BUILT_IN (or in OPTIONAL when its
// module may be absent from a build). `raft` is listed as optional: when
// src/bench/raft_target.ts exists and exports `raftTarget: BenchTarget`, `--target raft`
// works with no other change; until then a run naming it is reported as skipped, with the
// reason.
import { errorMessage } from "../core/errors";
import { eccTarget } from "./ecc_target";
import { etcdTarget } from "./etcd_target";
import { redisTarget } from "./redis_target";
import { BenchTarget } from "./target";

const BUILT_IN: BenchTarget[] = [eccTarget, etcdTarget, redisTarget];

const OPTIONAL: Array<{ kind: string; module: string; exportName: string }> = [
  { kind: "raft", module: "./raft_target", exportName: "raftTarget" },
];

export type TargetLookup = { target: BenchTarget } | { missing: string };

export function lookupTarget(kind: string): TargetLookup {
  const builtIn = BUILT_IN.find((target) => target.kind === kind);
  if (builtIn !== undefined) return { target: builtIn };
  const optional = OPTIONAL.find((entry) => entry.kind === kind);
  if (optional === undefined) return { missing: `unknown target '${kind}' (known: ${knownTargetKinds().join(", ")})` };
  let module: Record<string, unknown>;
  try {
    module = require(optional.module) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "MODULE_NOT_FOUND" && errorMessage(error).includes(optional.module.slice(2))) {
      return { missing: `target '${kind}' is not built in this version (src/bench/${optional.module.slice(2)}.ts is missing)` };
    }
    return { missing: `target '${kind}' failed to load: ${errorMessage(error)}` };
  }
  const target = module[optional.exportName] as BenchTarget | undefined;
  if (target === undefined || typeof target.start !== "function") {
    return { missing: `target '${kind}': ${optional.module} does not export ${optional.exportName}` };
  }
  return { target };
}

export function knownTargetKinds(): string[] {
  return [...BUILT_IN.map((target) => target.kind), ...OPTIONAL.map((entry) => entry.kind)];
}
