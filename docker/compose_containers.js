#!/usr/bin/env node
// Turns node=service pairs into the node=container-ID pairs the bench's --containers wants,
// for a bench running as a service of a Compose project (docker/compose.bench.yml).
//
// Why: the bench reads each node's memory from the Docker engine by container, but Compose
// names containers by a scheme of its own that changed between versions (v1 docker-compose:
// <project>_<service>_<n>; v2 docker compose: <project>-<service>-<n>) and that includes the
// project name given with -p. Both versions label every container with
// com.docker.compose.project and com.docker.compose.service, so the compose file names
// services and this looks their containers up by label, in the project of the container it
// runs in (found by its hostname, which Docker sets to the container's short ID).
//
// Usage (docker/entrypoint.sh runs it for `bench` when ECC_CACHE_COMPOSE_CONTAINERS is set):
//   node docker/compose_containers.js node0=ecc0,node1=ecc1,...   -> node0=<id>,node1=<id>,...
// Needs the engine's socket at /var/run/docker.sock (the bench service mounts it) and the
// compiled code next to it (dist/src: /app/dist/src in the image, or a built checkout).
// Exit codes as the CLI's: 2 bad pairs, 3 a service has no running container (or several),
// 4 not a Compose container or no engine socket, 5 anything unexpected.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const dist = path.join(__dirname, "..", "dist", "src");
const { DOCKER_SOCKET_DEFAULT, getJson } = require(path.join(dist, "bench", "memory", "docker.js"));
const { ConfigError, InvalidArgumentError, UnavailableError } = require(path.join(dist, "core", "errors.js"));
const { exitCodeOf } = require(path.join(dist, "cli", "exit_codes.js"));

const PROJECT_LABEL = "com.docker.compose.project";
const SERVICE_LABEL = "com.docker.compose.service";
const REQUEST_TIMEOUT_MS = 5_000;

/** "node0=ecc0,node1=ecc1" -> [["node0", "ecc0"], ["node1", "ecc1"]]; names checked. */
function parsePairs(text) {
  const pairs = [];
  for (const part of (text ?? "").split(",")) {
    const match = /^\s*([\w.-]+)=([\w.-]+)\s*$/.exec(part);
    if (match === null) throw new InvalidArgumentError(`'${part}' is not NODE=SERVICE (in '${text}')`);
    if (pairs.some(([node]) => node === match[1])) throw new InvalidArgumentError(`node ${match[1]} is named twice (in '${text}')`);
    pairs.push([match[1], match[2]]);
  }
  return pairs;
}

/**
 * The container of each pair's service among `containers` (the project's running containers,
 * as GET /containers/json lists them), never `ownId` itself. Exactly one per service: the
 * bench samples one container per node.
 */
function chooseContainers(pairs, containers, ownId, project) {
  return pairs.map(([node, service]) => {
    const matches = containers.filter((info) => (info.Labels ?? {})[SERVICE_LABEL] === service && info.Id !== ownId);
    if (matches.length === 0) throw new UnavailableError(`${node}: no running container of service '${service}' in compose project '${project}'`);
    if (matches.length > 1) {
      const names = matches.map((info) => (info.Names ?? [info.Id])[0].replace(/^\//, ""));
      throw new UnavailableError(`${node}: service '${service}' has ${matches.length} running containers (${names.join(", ")}); the bench samples one per node`);
    }
    return [node, matches[0].Id];
  });
}

async function resolve(text, socketPath = DOCKER_SOCKET_DEFAULT, hostname = os.hostname()) {
  const pairs = parsePairs(text);
  if (!fs.existsSync(socketPath)) throw new ConfigError(`no Docker engine socket at ${socketPath}: mount it into the bench container`);
  const self = await getJson({ socketPath, path: `/containers/${encodeURIComponent(hostname)}/json` }, REQUEST_TIMEOUT_MS).catch((error) => {
    throw new ConfigError(`cannot find this container (hostname ${hostname}) through the Docker engine: ${error.message}`, { cause: error });
  });
  const project = ((self.Config ?? {}).Labels ?? {})[PROJECT_LABEL];
  if (typeof project !== "string" || project === "") throw new ConfigError(`this container (${hostname}) was not started by Docker Compose (no ${PROJECT_LABEL} label)`);
  const filters = encodeURIComponent(JSON.stringify({ label: [`${PROJECT_LABEL}=${project}`] }));
  const containers = await getJson({ socketPath, path: `/containers/json?filters=${filters}` }, REQUEST_TIMEOUT_MS);
  return chooseContainers(pairs, containers, self.Id, project)
    .map(([node, id]) => `${node}=${id}`)
    .join(",");
}

module.exports = { parsePairs, chooseContainers, resolve };

if (require.main === module) {
  resolve(process.argv[2]).then(
    (mapping) => process.stdout.write(`${mapping}\n`),
    (error) => {
      process.stderr.write(`compose_containers: ${error.message}\n`);
      process.exit(exitCodeOf(error));
    },
  );
}
