// Checking a flat config record (ecc_config.json, raft_config.json, after defaults are merged
// in): whole numbers within bounds, non-empty strings, string lists, one-of choices, and no
// unknown fields (a typo must not be silently ignored). Every problem is reported, one line
// each, naming the field and the rule. The mode's parser adds its cross-field rules.
//
// Hand-written rather than a zod schema: these records are flat, and loading zod costs about
// a fifth of a CLI command's start-up budget (scripts/cli_startup.js), which every command
// would pay since every command reads its config. zod stays where schemas are deep (the
// bench's result and scenario files).

import { parseByteSize } from "./units";

export type FieldRule = { optional?: boolean } & (
  | { kind: "integer"; min: number; max: number }
  | { kind: "string" }
  | { kind: "strings"; itemsMin: number; itemsMax: number }
  | { kind: "choice"; choices: readonly string[] }
  /** A byte count: a whole number, or a size string such as "512MiB" (core/units.ts). */
  | { kind: "bytes"; min: number; max: number }
);

export type FieldRules = Readonly<Record<string, FieldRule>>;

/** The problems with `input` under `rules`, as "field: rule" lines; empty when it conforms. */
export function flatConfigProblems(input: unknown, rules: FieldRules): string[] {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return ["(top level): expected a JSON object"];
  const record = input as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(rules, key)) problems.push(`${key}: unknown field (the fields are ${Object.keys(rules).join(", ")})`);
  }
  for (const [field, rule] of Object.entries(rules)) {
    const value = record[field];
    if (value === undefined) {
      if (rule.optional !== true) problems.push(`${field}: missing`);
      continue;
    }
    const problem = valueProblem(value, rule);
    if (problem !== null) problems.push(`${field}: ${problem}, got ${JSON.stringify(value)}`);
  }
  return problems;
}

function valueProblem(value: unknown, rule: FieldRule): string | null {
  switch (rule.kind) {
    case "integer":
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < rule.min || value > rule.max) {
        return `expected a whole number from ${rule.min} to ${rule.max}`;
      }
      return null;
    case "string":
      return typeof value === "string" && value !== "" ? null : "expected a non-empty string";
    case "strings":
      if (!Array.isArray(value) || !value.every((item) => typeof item === "string") || value.length < rule.itemsMin || value.length > rule.itemsMax) {
        return `expected a list of ${rule.itemsMin} to ${rule.itemsMax} strings`;
      }
      return null;
    case "choice":
      return typeof value === "string" && rule.choices.includes(value) ? null : `expected one of ${rule.choices.join(", ")}`;
    case "bytes": {
      let bytes: number;
      try {
        if (typeof value !== "number" && typeof value !== "string") throw new Error("not a size");
        bytes = parseByteSize(value);
      } catch {
        return "expected a size in bytes (a whole number, or e.g. 512MiB, 1GiB)";
      }
      if (bytes !== 0 && (bytes < rule.min || bytes > rule.max)) return `expected 0 (no limit) or a size from ${rule.min} to ${rule.max} bytes`;
      return null;
    }
  }
}
