// Shared by the compose tests: where the compose files are, reading them (the `yaml`
// package, with YAML merge keys resolved as Compose resolves them), the name of the
// variable through which the bench service asks the image's entrypoint for container IDs,
// whether Compose can run here, and removing everything a test's compose project left.
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { runCommand } from "../../src/jepsen/netns";
import { Dockerode, REQUIRE_DOCKER, dockerUnavailableReason } from "./docker_support";

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

export const PROJECT_LABEL = "com.docker.compose.project";
export const SERVICE_LABEL = "com.docker.compose.service";

/**
 * Null when a Docker engine, the image and docker-compose are there; otherwise why not. With
 * ECC_CACHE_REQUIRE_DOCKER=1 (CI) a missing piece throws instead of being a reason to skip.
 */
export async function composeUnavailableReason(): Promise<string | null> {
  let reason = await dockerUnavailableReason();
  if (reason === null) {
    reason = await runCommand("docker-compose", ["version", "--short"]).then(
      () => null,
      (error: unknown) => `no docker-compose (${String(error)}); run bash scripts/ci_docker.sh as root`,
    );
  }
  if (reason !== null && REQUIRE_DOCKER) throw new Error(`ECC_CACHE_REQUIRE_DOCKER=1 but ${reason}`);
  return reason;
}

/**
 * `docker-compose down -v` of a test's project, then whatever `down` missed (it was
 * interrupted, or a container was renamed mid-way), found by the project label. Returns the
 * problems met, for the test to print.
 */
export async function removeComposeProject(docker: Dockerode | null, project: string, composeArgs: string[]): Promise<string[]> {
  const problems: string[] = [];
  if (composeArgs.length > 0) {
    await runCommand("docker-compose", [...composeArgs, "down", "-v", "--remove-orphans", "-t", "5"], 90_000).catch((error: unknown) => problems.push(String(error)));
  }
  if (docker !== null) {
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`${PROJECT_LABEL}=${project}`] } });
    for (const info of leftovers) {
      await docker.getContainer(info.Id).remove({ force: true, v: true }).catch((error: unknown) => problems.push(String(error)));
    }
    const volumes = (await docker.listVolumes({ filters: { label: [`${PROJECT_LABEL}=${project}`] } })).Volumes ?? [];
    for (const volume of volumes) {
      await docker.getVolume(volume.Name).remove().catch((error: unknown) => problems.push(String(error)));
    }
  }
  return problems;
}
