// Merging a config from its sources, highest precedence first: flags, environment, the
// config file (-c FILE, else $<MODE>_CONFIG, else ./<mode>_config.json when present), the
// embedded defaults. Shared by the ecc and raft config loaders; validation is the mode's.
// Each field's flag, environment variable and JSON name are declared once (ConfigField) and
// the commands add only the fields they use as options (addConfigOptions).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Command, Option } from "commander";
import { ConfigError, errorMessage } from "../core/errors";

export interface ConfigField {
  /** Key in the flags object (commander's camelCase name). */
  flag: string;
  /** Environment variable. */
  env: string;
  /** Field name in the JSON file. */
  field: string;
  kind: "integer" | "string" | "list";
  /** The option as commander spells it, e.g. "--rpc-timeout-ms <ms>". */
  option: string;
  /** Help text; the environment variable is appended. */
  help: string;
}

/**
 * Adds `-c FILE` and every field's option. Help lists the named fields (JSON names), in the
 * order given: the settings this command uses. The others are accepted but hidden, so one
 * set of flags can serve every command as the file and the environment do; they are
 * validated like the rest, never ignored.
 */
export function addConfigOptions(command: Command, fields: readonly ConfigField[], configHelp: string, names: readonly string[]): Command {
  command.option("-c, --config <file>", configHelp);
  for (const name of names) assert(fields.some((field) => field.field === name), `no config field ${name}`);
  const ordered = [...names.map((name) => fields.find((field) => field.field === name)!), ...fields.filter((field) => !names.includes(field.field))];
  for (const field of ordered) {
    const option = new Option(field.option, `${field.help} (env ${field.env})`);
    command.addOption(names.includes(field.field) ? option : option.hideHelp());
  }
  return command;
}

export interface ConfigSourcesSpec {
  defaults: Record<string, unknown>;
  fileFlag: string | undefined;
  fileEnv: string;
  localFileName: string;
  fields: readonly ConfigField[];
  /** Called with the merged file object after the file was read (e.g. to default n). */
  afterFile?: (merged: Record<string, unknown>, fromFile: Record<string, unknown>, file: string) => void;
  afterFlags?: (merged: Record<string, unknown>, given: Set<string>) => void;
}

export interface MergedConfig {
  merged: Record<string, unknown>;
  source: string;
}

export function mergeConfigSources(
  spec: ConfigSourcesSpec,
  flags: Record<string, string | undefined>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): MergedConfig {
  let merged: Record<string, unknown> = { ...spec.defaults };
  const sources: string[] = [];
  const fromEnvFile = env[spec.fileEnv];
  const filePath = spec.fileFlag ?? (fromEnvFile !== undefined && fromEnvFile !== "" ? fromEnvFile : undefined);
  const localPath = path.join(cwd, spec.localFileName);
  const chosen = filePath ?? (fs.existsSync(localPath) ? localPath : undefined);
  if (chosen !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(chosen, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read config file ${chosen}: ${errorMessage(error)}`);
    }
    const parsed = parseJson(text, chosen);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${chosen} must hold a JSON object`);
    }
    merged = { ...merged, ...(parsed as Record<string, unknown>) };
    spec.afterFile?.(merged, parsed as Record<string, unknown>, chosen);
    sources.push(chosen);
  } else {
    sources.push("embedded defaults");
  }
  const given = new Set<string>();
  for (const field of spec.fields) {
    const fromFlag = flags[field.flag];
    const fromEnv = env[field.env];
    const text = fromFlag ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : undefined);
    if (text === undefined) continue;
    const where = fromFlag !== undefined ? "--" + kebab(field.flag) : field.env;
    if (field.kind === "integer") {
      const value = Number(text);
      if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new ConfigError(`${where}: '${text}' is not a whole number`);
      merged[field.field] = value;
    } else if (field.kind === "list") {
      merged[field.field] = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
    } else {
      merged[field.field] = text;
    }
    given.add(field.field);
    sources.push(where);
  }
  spec.afterFlags?.(merged, given);
  return { merged, source: sources.join(" + ") };
}

export function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${where} is not valid JSON: ${errorMessage(error)}`);
  }
}

export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}
