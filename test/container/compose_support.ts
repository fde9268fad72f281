// Shared by the compose tests: where the compose files are, reading them (the `yaml`
// package, with YAML merge keys resolved as Compose resolves them), and the name of the
// variable through which the bench service asks the image's entrypoint for container IDs.
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";

export const REPO = path.join(__dirname, "..", "..", "..");
export const DOCKER_DIR = path.join(REPO, "docker");
/** node=service pairs; docker/entrypoint.sh turns them into the bench's --containers. */
export const COMPOSE_CONTAINERS_ENV = "ECC_CACHE_COMPOSE_CONTAINERS";

export interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string> | string[];
  container_name?: string;
  ports?: string[];
  [key: string]: unknown;
}
export interface ComposeFile {
  services: Record<string, ComposeService>;
  [key: string]: unknown;
}

export function readCompose(name: string): ComposeFile {
  return parse(fs.readFileSync(path.join(DOCKER_DIR, name), "utf8"), { merge: true }) as ComposeFile;
}

/** The environment of a service in either of Compose's shapes (map or KEY=VALUE list). */
export function environmentOf(service: ComposeService): Record<string, string> {
  const environment = service.environment ?? {};
  if (!Array.isArray(environment)) return { ...environment };
  return Object.fromEntries(environment.map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]));
}

/** The value after `flag` in a command, or undefined. */
export function flagValue(command: string[], flag: string): string | undefined {
  const index = command.indexOf(flag);
  return index >= 0 ? command[index + 1] : undefined;
}
