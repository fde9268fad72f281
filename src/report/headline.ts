// The report's headline (DESIGN.md section 5; issue: the reference report opens with it):
// the memory ratio ecc(3,2)/raft(3) and ecc(5,3)/raft(5), measured against the ideal
// (k-of-n coding vs full replicas: 0.5 and 0.33) and the original study's 0.58, from the
// cgroup memory delta and from the exact logical bytes; and ecc and raft throughput and
// p99 against etcd's. Computed from one comparison group (the first steady 1 KiB workload B
// group when there is one), averaged over nothing: every figure is one run's.
import { RunSummaryRow, formatRatio, formatUs } from "./analysis";

const ORIGINAL_STUDY_RATIO = 0.58;

function pick(rows: RunSummaryRow[], target: string): RunSummaryRow | undefined {
  return rows.find((row) => row.target === target);
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return null;
  return a / b;
}

export function headline(summaries: RunSummaryRow[]): string {
  const groups = [...new Set(summaries.map((row) => row.group))];
  const group =
    groups.find((name) => name.startsWith("B-1KiB") && name.includes("steady")) ?? groups.find((name) => name.startsWith("B-")) ?? groups[0];
  if (group === undefined) return "";
  const rows = summaries.filter((row) => row.group === group);
  const lines: string[] = [`**Headline** (group \`${group}\`):`, ""];
  const pairs: Array<[string, string, number]> = [
    ["ecc(n=3,k=2)", "raft(3)", 0.5],
    ["ecc(n=5,k=3)", "raft(5)", 1 / 3],
  ];
  for (const [eccTarget, raftTarget, ideal] of pairs) {
    const ecc = pick(rows, eccTarget);
    const raft = pick(rows, raftTarget);
    if (ecc === undefined || raft === undefined) continue;
    const memory = ratio(ecc.memoryDeltaBytes, raft.memoryDeltaBytes);
    const logical = ratio(ecc.logicalDeltaBytes, raft.logicalDeltaBytes);
    lines.push(
      `- memory ${eccTarget} ÷ ${raftTarget}: **${memory === null ? "–" : memory.toFixed(2)}** measured (cgroup working-set delta), ` +
        `${logical === null ? "–" : logical.toFixed(2)} in exact logical bytes; ideal ${ideal.toFixed(2)}, the original study measured ${ORIGINAL_STUDY_RATIO}.`,
    );
  }
  const etcd = pick(rows, "etcd(3)");
  if (etcd !== undefined) {
    for (const name of ["ecc(n=5,k=3)", "ecc(n=3,k=2)", "raft(3)"]) {
      const row = pick(rows, name);
      if (row === undefined) continue;
      const speed = ratio(row.opsPerSecond, etcd.opsPerSecond);
      lines.push(
        `- ${name} vs etcd(3): ${speed === null ? "–" : formatRatio(speed)} the ops/s (${row.opsPerSecond ?? "–"} vs ${etcd.opsPerSecond ?? "–"}), ` +
          `p99 ${formatUs(row.p99Us)} vs ${formatUs(etcd.p99Us)}.`,
      );
    }
  }
  return lines.length > 2 ? lines.join("\n") : "";
}
