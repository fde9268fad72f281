// The compose files and their docs name services, never containers. Compose v1
// (docker-compose) names a service's container <project>_<service>_<n>, Compose v2 (docker
// compose) <project>-<service>-<n>, and the project is whatever -p says; a container name
// written into a file or a command therefore works for one scheme and one project name only.
// Checked by parsing the files (no Docker needed, so this never skips):
// - no string in any compose file, and no command in the docs (their code blocks), has
//   either container-name shape for a service of these files; no service pins a
//   container_name;
// - the bench runner samples every node it benchmarks, each node by the name of an ecc
//   service, in the order of --servers (node i is the i-th server), and leaves --containers
//   to the image's entrypoint, which turns those service names into container IDs;
// - every cluster node (ecc and raft) keeps /data on a named volume of its own.
// test/container/compose_bench.test.ts runs the same stack for real.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { COMPOSE_CONTAINERS_ENV, DOCKER_DIR, REPO, environmentOf, flagValue, readCompose } from "./compose_support";

const COMPOSE_FILES = ["compose.ecc.yml", "compose.raft.yml", "compose.bench.yml"];

/** Every string in a parsed YAML document (keys included), depth first. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === "object" && value !== null) return Object.entries(value).flatMap(([key, inner]) => [key, ...strings(inner)]);
  return [];
}

/** The lines of a Markdown text's fenced code blocks: the commands it offers. */
function commandLines(markdown: string): string[] {
  let inside = false;
  return markdown.split("\n").filter((line) => {
    if (line.startsWith("```")) {
      inside = !inside;
      return false;
    }
    return inside;
  });
}

describe("compose files: services by name (Compose v1 and v2 alike), node state on volumes", () => {
  const files = Object.fromEntries(COMPOSE_FILES.map((name) => [name, readCompose(name)]));
  const services = COMPOSE_FILES.flatMap((name) => Object.keys(files[name].services));
  // <project>_<service>_<n> (v1) or <project>-<service>-<n> (v2), for any project name.
  const containerName = new RegExp(`[\\w.-]+[_-](${services.join("|")})[_-]\\d+\\b`);

  it("no compose file holds a container name or pins one", () => {
    for (const name of COMPOSE_FILES) {
      for (const [service, definition] of Object.entries(files[name].services)) {
        assert.equal(definition.container_name, undefined, `${name}: service ${service} sets container_name`);
      }
      for (const text of strings(files[name])) {
        assert.doesNotMatch(text, containerName, `${name} names a container: ${text}`);
      }
    }
  });

  it("every cluster node keeps /data on a volume of its own, so a replacement rejoins", () => {
    // /data holds the node's Raft state (ecc: the control plane's; raft: the data's). A
    // replacement container of the service (docker/README.md) gets the same volume; with an
    // empty /data an ecc node meets a control-plane leader that remembers its old log.
    for (const name of ["compose.ecc.yml", "compose.raft.yml"]) {
      const declared = Object.keys((files[name].volumes ?? {}) as Record<string, unknown>);
      const used = new Set<string>();
      for (const [service, definition] of Object.entries(files[name].services)) {
        const data = ((definition.volumes ?? []) as string[]).map((volume) => volume.split(":")).find((parts) => parts[1] === "/data");
        assert.ok(data !== undefined, `${name}: service ${service} has no volume at /data`);
        assert.ok(declared.includes(data[0]), `${name}: ${service}'s /data is not a named volume of the file`);
        assert.ok(!used.has(data[0]), `${name}: ${service} shares ${data[0]}`);
        used.add(data[0]);
      }
    }
  });

  it("the docs' commands name services, not containers", () => {
    for (const doc of [path.join(DOCKER_DIR, "README.md"), path.join(REPO, "README.md")]) {
      const found = commandLines(fs.readFileSync(doc, "utf8")).filter((line) => containerName.test(line));
      assert.deepEqual(found, [], `${path.relative(REPO, doc)} names containers`);
    }
  });

  it("the bench samples each node it benchmarks by its ecc service's name, in --servers order", () => {
    const bench = files["compose.bench.yml"].services.bench;
    const eccServices = Object.keys(files["compose.ecc.yml"].services);
    const command = bench.command ?? [];
    assert.ok(!command.includes("--containers"), "--containers comes from the entrypoint, which knows the container IDs");
    assert.equal(flagValue(command, "--memory"), "docker");
    const servers = (flagValue(command, "--servers") ?? "").split(",");
    const mapping = environmentOf(bench)[COMPOSE_CONTAINERS_ENV];
    assert.ok(mapping !== undefined, `the bench service sets ${COMPOSE_CONTAINERS_ENV}`);
    const pairs = mapping.split(",").map((pair) => pair.split("="));
    assert.deepEqual(
      pairs.map(([node]) => node),
      servers.map((_, index) => `node${index}`),
      "one node per server, named as the bench names them",
    );
    pairs.forEach(([node, service], index) => {
      assert.ok(eccServices.includes(service), `${node}=${service}: not a service of compose.ecc.yml`);
      assert.equal(servers[index].split(":")[0], service, `${node} is the server ${servers[index]}, so its container is service ${servers[index].split(":")[0]}'s`);
    });
  });
});

describe("docker/compose_containers.js: the containers of the bench's compose services", () => {
  // Plain JavaScript in the image next to dist/src (the entrypoint runs it); its pure part here.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const resolver = require(path.join(DOCKER_DIR, "compose_containers.js")) as {
    parsePairs(text: string): Array<[string, string]>;
    chooseContainers(pairs: Array<[string, string]>, containers: unknown[], ownId: string, project: string): Array<[string, string]>;
  };
  const container = (id: string, service: string, name: string) => ({
    Id: id,
    Names: [`/${name}`],
    Labels: { "com.docker.compose.project": "p", "com.docker.compose.service": service },
  });
  // Both naming schemes at once: the lookup goes by label only.
  const listing = [container("a0", "ecc0", "p_ecc0_1"), container("a1", "ecc1", "p-ecc1-1"), container("me", "bench", "p-bench-run-1")];

  it("maps each node to its service's one container, whatever its name, never the bench's own", () => {
    const pairs = resolver.parsePairs("node0=ecc0, node1=ecc1");
    assert.deepEqual(pairs, [["node0", "ecc0"], ["node1", "ecc1"]]);
    assert.deepEqual(resolver.chooseContainers(pairs, listing, "me", "p"), [["node0", "a0"], ["node1", "a1"]]);
    assert.throws(() => resolver.chooseContainers([["node0", "bench"]], listing, "me", "p"), /no running container of service 'bench' in compose project 'p'/);
  });

  it("a service with no container, or several, is an 'unavailable' error naming them", () => {
    assert.throws(() => resolver.chooseContainers([["node2", "ecc2"]], listing, "me", "p"), (error: Error & { code?: string }) => {
      return error.code === "UNAVAILABLE" && /node2: no running container of service 'ecc2'/.test(error.message);
    });
    const twice = [...listing, container("b0", "ecc0", "p_ecc0_run_1f2e")];
    assert.throws(() => resolver.chooseContainers([["node0", "ecc0"]], twice, "me", "p"), /service 'ecc0' has 2 running containers \(p_ecc0_1, p_ecc0_run_1f2e\)/);
  });

  it("bad pairs are usage errors", () => {
    for (const text of ["", "node0", "node0=", "=ecc0", "node0=ecc0,node0=ecc1", "node0=ecc 0"]) {
      assert.throws(() => resolver.parsePairs(text), (error: Error & { code?: string }) => error.code === "INVALID_ARGUMENT", text);
    }
  });
});
