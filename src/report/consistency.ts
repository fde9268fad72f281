// The report's "consistency under faults" section, from jepsen result files (schema
// ecc-cache.jepsen/1, written by `npm run jepsen -- --out FILE`). Reads files only.
import fs from "node:fs";
import { InvalidArgumentError } from "../core/errors";
import { JepsenResult, RESULT_SCHEMA } from "../jepsen/runner";

/** True when the file is a jepsen result (the report also reads bench results). */
export function isJepsenFile(file: string): boolean {
  try {
    const head = fs.readFileSync(file, "utf8").slice(0, 200);
    return head.includes(`"${RESULT_SCHEMA}"`);
  } catch {
    return false; // unreadable here: the bench reader reports it with its reason
  }
}

export function readJepsenResult(file: string): JepsenResult {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new InvalidArgumentError(`${file}: not JSON (${(error as Error).message})`);
  }
  const result = data as Partial<JepsenResult>;
  const problems: string[] = [];
  if (result.schema !== RESULT_SCHEMA) problems.push(`schema is ${JSON.stringify(result.schema)}, expected "${RESULT_SCHEMA}"`);
  if (result.mode !== "ecc" && result.mode !== "raft") problems.push("mode must be ecc or raft");
  if (typeof result.seed !== "number") problems.push("seed missing");
  if (typeof result.verdict !== "string") problems.push("verdict missing");
  if (result.counts === undefined || result.config === undefined || !Array.isArray(result.events)) problems.push("counts, config or events missing");
  if (problems.length > 0) throw new InvalidArgumentError(`${file}: not a valid ${RESULT_SCHEMA} document: ${problems.join("; ")}`);
  return result as JepsenResult;
}

/** Markdown: one row per run, then the failing sub-histories, if any. */
export function consistencySection(results: Array<{ file: string; result: JepsenResult }>): string {
  if (results.length === 0) return "";
  const rows = results.map(({ result }) => {
    const faults = new Map<string, number>();
    for (const event of result.events) {
      const kind = (event as { kind?: string }).kind ?? "?";
      faults.set(kind, (faults.get(kind) ?? 0) + 1);
    }
    const faultText = [...faults].map(([kind, count]) => `${kind} ×${count}`).join(", ") || "none";
    const total = result.counts.total;
    const unknownSeen = Object.values(result.unknownWrites ?? {}).reduce((sum, entry) => sum + entry.setsSeenLater, 0);
    return [
      result.mode,
      String(result.seed),
      `${Math.round(result.config.timeMs / 1000)} s, ${result.config.clients} clients, ${result.config.keys.length} keys`,
      faultText + (result.config.partitions.enabled ? "" : " (no partitions here)"),
      `${total.ok} / ${total.fail} / ${total.unknown}`,
      String(unknownSeen),
      // Files written before the gaps were measured have none.
      result.longestGaps === undefined ? "–" : `${(result.longestGaps.reads.ms / 1000).toFixed(1)} s / ${(result.longestGaps.writes.ms / 1000).toFixed(1)} s`,
      result.health.healthy ? "yes" : `no: ${result.health.summary}`,
      `**${result.verdict}**`,
    ];
  });
  const header = ["mode", "seed", "run", "faults (events)", "ok / fail / unknown", "unknown writes seen later", "longest without a success: reads / writes", "healthy after healing", "verdict"];
  const lines = [
    "## Consistency under faults",
    "",
    "Histories of concurrent get/set/del on a few keys under a seeded nemesis (kill + restart, pause, network partitions, " +
      "clients killed between EcPrepare and EcCommit), checked per key for linearizability (Wing–Gong/Lowe); the final " +
      "reads after healing are part of the history, so a lost acknowledged write fails the check. " +
      "*Unknown* operations (timed out, crashed client) may or may not have happened; *seen later* counts unknown writes a later read proved took effect; " +
      "*longest without a success*: the longest stretch of the workload in which no read (write) of any client succeeded.",
    "",
    `| ${header.join(" | ")} |`,
    `| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((row) => `| ${row.map((cell) => cell.replace(/\|/g, "\\|")).join(" | ")} |`),
    "",
  ];
  for (const { file, result } of results) {
    for (const failing of result.failing) {
      lines.push(`Failing sub-history, ${result.mode} seed ${result.seed} (\`${file}\`), key \`${failing.key}\`:`, "", "```", failing.text, "```", "");
    }
  }
  return lines.join("\n");
}
