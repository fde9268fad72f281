// The bench stack of docker/compose.bench.yml, run the real way with Docker Compose against
// the ecc cluster of docker/compose.ecc.yml, under container names of both Compose schemes.
//
// Method: `docker-compose up -d` starts the five ecc services under a project name of this
// run (not "ecc"), then the test renames their containers from v1's <project>_<service>_1
// to v2's <project>-<service>-1 (this machine has only Compose v1, and Compose finds its
// containers by label, not by name, so it keeps working). `docker-compose run bench` then
// runs the file's own bench command, cut down to one short workload, and the test checks
// that every node's memory was sampled from the Docker engine's stats of exactly that
// node's container: the compose files name services, and the image's entrypoint finds the
// containers of its own project by Compose's labels, whatever they are called.
//
// The test runs copies of the two compose files (and the node config they mount) in a
// temporary directory, with one change: the ecc services publish no host ports, so the run
// does not need 127.0.0.1:3000-3004 free (the bench reaches the nodes inside the network).
//
// Skipped, with the reason, without a Docker engine, the image or docker-compose; with
// ECC_CACHE_REQUIRE_DOCKER=1 (CI) it fails instead. `docker-compose down` and a sweep by
// the project label remove everything it started, also after a failure.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getContainerRuntimeClient } from "testcontainers";
import { stringify } from "yaml";
import { readResults } from "../../src/bench/results";
import { runCommand } from "../../src/jepsen/netns";
import { sleep } from "../support/processes";
import { DOCKER_DIR, PROJECT_LABEL, SERVICE_LABEL, environmentOf, flagValue, readCompose, COMPOSE_CONTAINERS_ENV, composeUnavailableReason, removeComposeProject } from "./compose_support";
import { Dockerode, RUN_ID } from "./docker_support";

const PROJECT = `ecctest${RUN_ID.replace(/-/g, "").slice(0, 10)}`;

describe("compose bench stack (docker-compose, v2 container names; skipped without Docker)", function () {
  this.timeout(300_000);
  let docker: Dockerode | null = null;
  let dir = "";
  let composeArgs: string[] = [];

  before(async function () {
    this.timeout(60_000);
    const reason = await composeUnavailableReason();
    if (reason !== null) {
      console.log(`      skipping the compose bench test: ${reason}`);
      this.skip();
    }
    docker = (await getContainerRuntimeClient()).container.dockerode;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-compose-bench-"));
    // docker/ and results/ side by side, as in the repository: compose.bench.yml mounts
    // ../results relative to the first file's directory.
    fs.mkdirSync(path.join(dir, "docker"));
    fs.mkdirSync(path.join(dir, "results"));
    const ecc = readCompose("compose.ecc.yml");
    for (const service of Object.values(ecc.services)) delete service.ports;
    // Every value double-quoted: docker-compose v1 reads YAML 1.1, where a bare `no` is false.
    fs.writeFileSync(path.join(dir, "docker", "compose.ecc.yml"), stringify(ecc, { defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN" }));
    for (const name of ["compose.bench.yml", "ecc_config.compose.json"]) {
      fs.copyFileSync(path.join(DOCKER_DIR, name), path.join(dir, "docker", name));
    }
    composeArgs = ["-f", path.join(dir, "docker", "compose.ecc.yml"), "-f", path.join(dir, "docker", "compose.bench.yml"), "-p", PROJECT];
  });

  after(async function () {
    this.timeout(120_000);
    const problems = await removeComposeProject(docker, PROJECT, composeArgs);
    if (dir !== "") fs.rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) console.error(`      compose cleanup problems:\n        ${problems.join("\n        ")}`);
  });

  it("the bench reads every node's container memory by service, under Compose v2's container names", async () => {
    await runCommand("docker-compose", [...composeArgs, "up", "-d"], 120_000);
    const nodes = await docker!.listContainers({ filters: { label: [`${PROJECT_LABEL}=${PROJECT}`] } });
    const eccServices = Object.keys(readCompose("compose.ecc.yml").services);
    assert.deepEqual(nodes.map((info) => info.Labels[SERVICE_LABEL]).sort(), [...eccServices].sort());
    const idOfService = new Map<string, string>();
    for (const info of nodes) {
      const service = info.Labels[SERVICE_LABEL];
      await docker!.getContainer(info.Id).rename({ name: `${PROJECT}-${service}-1` });
      idOfService.set(service, info.Id);
    }
    await waitHealthy([...idOfService.values()], 60_000);

    const bench = readCompose("compose.bench.yml").services.bench;
    const command = [
      ...(bench.command ?? []),
      // The file's command, cut down to one short workload (later flags win).
      "--workloads", "B",
      "--concurrency", "8",
      "--ops", "600",
      "--keys", "300",
      "--memory-period-ms", "250",
      "--settle-ms", "300",
      "--out", "/results/bench-test.json",
    ];
    await runCommand("docker-compose", [...composeArgs, "run", "--rm", "-T", "bench", ...command], 180_000);

    const results = readResults(path.join(dir, "results", "bench-test.json"));
    assert.equal(results.runs.length, 1);
    const run = results.runs[0];
    assert.equal(run.status, "ok", run.reason ?? "");
    assert.ok(run.memory !== undefined && run.memory !== null, "the run recorded memory");
    assert.equal(run.memory.primary, "docker");
    const mapping = environmentOf(bench)[COMPOSE_CONTAINERS_ENV] ?? "";
    const servers = (flagValue(bench.command ?? [], "--servers") ?? "").split(",");
    assert.equal(servers.length, eccServices.length);
    for (let index = 0; index < servers.length; index++) {
      const node = `node${index}`;
      const service = servers[index].split(":")[0];
      assert.ok(mapping.split(",").includes(`${node}=${service}`), `${COMPOSE_CONTAINERS_ENV} maps ${node} to ${service}`);
      assert.equal(results.config.containers[node], idOfService.get(service), `${node} sampled from service ${service}'s container`);
      const samples = run.memory.samples.filter((sample) => sample.node === node && sample.sampler === "docker");
      assert.ok(samples.length >= 2, `${node}: ${samples.length} docker samples`);
      assert.ok(samples.every((sample) => sample.bytes > 1024 * 1024), `${node}: a container uses more than 1 MiB`);
    }
  });

  async function waitHealthy(ids: string[], timeoutMs: number): Promise<void> {
    const deadlineMs = Date.now() + timeoutMs;
    let states: string[] = [];
    while (Date.now() < deadlineMs) {
      states = await Promise.all(ids.map(async (id) => (await docker!.getContainer(id).inspect()).State.Health?.Status ?? "none"));
      if (states.every((state) => state === "healthy")) return;
      await sleep(500);
    }
    assert.fail(`compose nodes not healthy after ${timeoutMs} ms: ${states.join(", ")}`);
  }
});
