// The admin port in Docker, run the real way (issue 17): docker-compose starts the ecc cluster
// of docker/compose.ecc.yml and the bench stack's Prometheus (compose.bench.yml, profile
// "prometheus", the image docker/prometheus/build_image.sh builds from Debian's prometheus).
// Checks: every node turns healthy through its /readyz healthcheck; Prometheus scrapes all
// five nodes' /metrics (every target up, no scrape error) and answers queries over them
// (the view epoch of five nodes, one control-plane leader); a node stopped by Compose turns
// its target down while the others stay up.
//
// Like compose_bench.test.ts it runs copies of the compose files in a temporary directory,
// with one change: no service publishes host ports, so the run needs neither
// 127.0.0.1:3000-3004, 9300-9304 nor 9090 free; the test asks Prometheus at its address on
// the compose network. Skipped, with the reason, without a Docker engine, the image,
// docker-compose or Debian's prometheus (to build its image); with ECC_CACHE_REQUIRE_DOCKER=1
// a missing engine fails instead. `down -v` and a sweep by the project label remove
// everything it started, also after a failure.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getContainerRuntimeClient } from "testcontainers";
import { stringify } from "yaml";
import { runCommand } from "../../src/jepsen/netns";
import { sleep } from "../support/processes";
import { DOCKER_DIR, PROJECT_LABEL, SERVICE_LABEL, composeUnavailableReason, readCompose, removeComposeProject } from "./compose_support";
import { Dockerode, RUN_ID } from "./docker_support";

const PROJECT = `eccprom${RUN_ID.replace(/-/g, "").slice(0, 10)}`;
const PROMETHEUS_IMAGE = process.env.ECC_CACHE_PROMETHEUS_IMAGE ?? "ecc-cache-prometheus:dev";

describe("compose: healthchecks on /readyz and Prometheus scraping every node (skipped without Docker)", function () {
  this.timeout(300_000);
  let docker: Dockerode | null = null;
  let dir = "";
  let composeArgs: string[] = [];

  before(async function () {
    this.timeout(180_000);
    const reason = await composeUnavailableReason();
    if (reason !== null) {
      console.log(`      skipping: ${reason}`);
      this.skip();
    }
    if (spawnSync("prometheus", ["--version"], { encoding: "utf8" }).status !== 0) {
      console.log("      skipping: no prometheus binary to build the Prometheus image from (apt-get install --no-install-recommends prometheus)");
      this.skip();
    }
    await runCommand("bash", [path.join(DOCKER_DIR, "prometheus", "build_image.sh"), "--tag", PROMETHEUS_IMAGE], 150_000);
    docker = (await getContainerRuntimeClient()).container.dockerode;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-compose-prometheus-"));
    fs.mkdirSync(path.join(dir, "docker", "prometheus"), { recursive: true });
    fs.mkdirSync(path.join(dir, "results"));
    const quoted = { defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN" } as const; // docker-compose v1 reads YAML 1.1
    const ecc = readCompose("compose.ecc.yml");
    for (const service of Object.values(ecc.services)) delete service.ports;
    fs.writeFileSync(path.join(dir, "docker", "compose.ecc.yml"), stringify(ecc, quoted));
    const bench = readCompose("compose.bench.yml");
    for (const service of Object.values(bench.services)) delete service.ports;
    bench.services.prometheus.image = PROMETHEUS_IMAGE;
    fs.writeFileSync(path.join(dir, "docker", "compose.bench.yml"), stringify(bench, quoted));
    fs.copyFileSync(path.join(DOCKER_DIR, "ecc_config.compose.json"), path.join(dir, "docker", "ecc_config.compose.json"));
    fs.copyFileSync(path.join(DOCKER_DIR, "prometheus", "prometheus.yml"), path.join(dir, "docker", "prometheus", "prometheus.yml"));
    composeArgs = ["-f", path.join(dir, "docker", "compose.ecc.yml"), "-f", path.join(dir, "docker", "compose.bench.yml"), "-p", PROJECT];
  });

  after(async function () {
    this.timeout(120_000);
    const problems = await removeComposeProject(docker, PROJECT, composeArgs.length > 0 ? [...composeArgs, "--profile", "prometheus"] : []);
    if (dir !== "") fs.rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) console.error(`      compose cleanup problems:\n        ${problems.join("\n        ")}`);
  });

  it("nodes turn healthy on /readyz; Prometheus scrapes every node, and sees one stopped", async () => {
    await runCommand("docker-compose", [...composeArgs, "--profile", "prometheus", "up", "-d"], 120_000);
    const containers = await docker!.listContainers({ filters: { label: [`${PROJECT_LABEL}=${PROJECT}`] } });
    const idOf = new Map(containers.map((info) => [info.Labels[SERVICE_LABEL], info.Id]));
    const nodes = Object.keys(readCompose("compose.ecc.yml").services);
    assert.deepEqual([...idOf.keys()].sort(), [...nodes, "prometheus"].sort());
    await waitFor(async () => (await healthOf(nodes.map((node) => idOf.get(node)!))).every((state) => state === "healthy"), 90_000, async () => `health: ${(await healthOf(nodes.map((node) => idOf.get(node)!))).join(", ")}`);

    // Prometheus publishes no port here: the host reaches it at its address on the
    // project's network (the host is that bridge network's gateway).
    const networks = (await docker!.getContainer(idOf.get("prometheus")!).inspect()).NetworkSettings.Networks;
    const address = Object.values(networks)[0]?.IPAddress;
    assert.ok(address !== undefined && address !== "", "Prometheus has an address on the compose network");
    const api = async (query: string): Promise<{ data: unknown }> => {
      const response = await fetch(`http://${address}:9090/api/v1/${query}`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(response.status, 200, query);
      return (await response.json()) as { data: unknown };
    };
    type Target = { labels: { instance: string }; health: string; lastError: string };
    const targets = async (): Promise<Target[]> => ((await api("targets?state=active")).data as { activeTargets: Target[] }).activeTargets;
    await waitFor(async () => (await targets()).filter((target) => target.health === "up").length === nodes.length, 60_000, async () => JSON.stringify(await targets()));
    assert.deepEqual((await targets()).map((target) => target.labels.instance).sort(), nodes.map((node) => `${node}:9300`).sort());
    assert.ok((await targets()).every((target) => target.lastError === ""), "no scrape errors");

    type Vector = { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    const query = async (expr: string): Promise<Vector["result"]> => ((await api(`query?query=${encodeURIComponent(expr)}`)).data as Vector).result;
    await waitFor(async () => (await query("ecc_cache_view_epoch")).length === nodes.length, 30_000, async () => JSON.stringify(await query("ecc_cache_view_epoch")));
    assert.equal((await query("sum(ecc_cache_control_plane_leader)"))[0]?.value[1], "1", "one node leads the view control plane");
    assert.equal((await query('count(ecc_cache_node_state{state="member"} == 1)'))[0]?.value[1], String(nodes.length));

    // A node stopped: its target goes down, the others stay up.
    await runCommand("docker-compose", [...composeArgs, "stop", "-t", "5", "ecc4"], 60_000);
    await waitFor(
      async () => {
        const now = await targets();
        return now.find((target) => target.labels.instance === "ecc4:9300")?.health === "down" && now.filter((target) => target.health === "up").length === nodes.length - 1;
      },
      60_000,
      async () => JSON.stringify(await targets()),
    );
  });

  async function healthOf(ids: string[]): Promise<string[]> {
    return Promise.all(ids.map(async (id) => (await docker!.getContainer(id).inspect()).State.Health?.Status ?? "none"));
  }

  async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, describe: () => Promise<string>): Promise<void> {
    const deadlineMs = Date.now() + timeoutMs;
    while (Date.now() < deadlineMs) {
      if (await condition().catch(() => false)) return;
      await sleep(1_000);
    }
    assert.fail(`not within ${timeoutMs} ms: ${await describe().catch((error: unknown) => String(error))}`);
  }
});
