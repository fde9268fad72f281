// The admin port in the Docker files (issue 17), checked by reading the files (no Docker
// needed): every ecc and raft node of the compose files has its admin port (ECC_HTTP_PORT /
// RAFT_HTTP_PORT), publishes it on 127.0.0.1 only, and is health-checked on /readyz; the
// bench stack's Prometheus scrapes exactly the ecc nodes' admin ports and its config passes
// `promtool check config`; the committed Grafana dashboard is valid JSON whose every query
// names only metrics a node really exposes. The exposition of both modes' registries (built
// here around stand-in node state) passes `promtool check metrics` too.
// test/container/compose_prometheus.test.ts runs the stack for real.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { NodeMetrics } from "../../src/frontdoor/metrics";
import { registerEccGauges } from "../../src/frontdoor/ecc_admin";
import { registerRaftGauges } from "../../src/frontdoor/raft_admin";
import type { EcStatsReply } from "../../src/gen/ecc";
import type { KvStatsReply } from "../../src/gen/raft";

const DOCKER = path.resolve(__dirname, "..", "..", "..", "docker");
const PROMTOOL = spawnSync("promtool", ["--version"], { encoding: "utf8" }).status === 0;

interface Service {
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  ports?: string[];
  volumes?: string[];
  networks?: string[];
  profiles?: string[];
  image?: string;
}

function compose(name: string): Record<string, Service> {
  return (parse(fs.readFileSync(path.join(DOCKER, name), "utf8"), { merge: true }) as { services: Record<string, Service> }).services;
}

async function expositions(): Promise<string[]> {
  const ecc = new NodeMetrics({ mode: "ecc", address: "ecc0:3000" });
  const eccStats = {
    keyCount: 12, tombstoneCount: 2, payloadBytes: 4096, keyBytes: 60, metaBytes: 192, logicalBytes: 4348, stagedCount: 0, stagedBytes: 0,
    view: { epoch: 3, members: [0, 1, 2], recovering: [], leader: "ecc1:3000" }, state: "member", rebuiltKeys: 0, rebuiltBytes: 0,
    rebuildTotalKeys: 0, controlLeader: false, v8HeapBytes: 1 << 22, arrayBuffersBytes: 1 << 20,
    usedBytes: 5000, heldBytes: 6000, maxMemoryBytes: 1 << 20, evictionPolicy: "allkeys-lru", evictedKeys: 3, expiredKeys: 1, rejectedWrites: 0,
  } as unknown as EcStatsReply;
  registerEccGauges(ecc, { core: { progress: null } as never, stats: () => eccStats });
  ecc.opDone("prepare", "RESULT_CODE_OK", performance.now());
  ecc.opDone("get", "RESULT_CODE_NOT_SERVING", performance.now());
  ecc.grpcError("UNAVAILABLE");
  ecc.leaderChanged();
  ecc.httpRefusedRequest(404);
  const raft = new NodeMetrics({ mode: "raft", address: "raft0:4000" });
  const raftStats = {
    nodeId: "raft0:4000", role: "leader", term: 2, leaderId: "raft0:4000", commitIndex: 9, appliedIndex: 9, firstIndex: 1, lastIndex: 9,
    voters: ["raft0:4000", "raft1:4000", "raft2:4000"], keyCount: 4, valueBytes: 4096, keyBytes: 16, metaBytes: 64, logBytes: 0,
    logicalBytes: 4176, snapshotIndex: 0, v8HeapBytes: 1 << 22, arrayBuffersBytes: 1 << 20,
    usedBytes: 5000, arenaFreeBytes: 100, maxMemoryBytes: 1 << 20, evictionPolicy: "allkeys-lru", evictedKeys: 2, expiredKeys: 1, rejectedWrites: 0,
  } as unknown as KvStatsReply;
  registerRaftGauges(raft, { stats: () => raftStats as never });
  raft.opDone("set", "KV_CODE_OK", performance.now());
  return [(await ecc.exposition()).body, (await raft.exposition()).body];
}

/** Every metric name an exposition offers a query: counters and gauges as typed, histograms with their series suffixes. */
function offeredNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(match[1]);
    if (match[2] === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(match[1] + suffix);
  }
  return names;
}

describe("admin port in the Docker files and dashboards", () => {
  it("every compose node has its admin port, published on loopback, and a /readyz healthcheck", () => {
    // The healthcheck's script asks /readyz on the port it is given and is in the image.
    const script = fs.readFileSync(path.join(DOCKER, "readyz.sh"), "utf8");
    assert.match(script, /printf 'GET \/readyz HTTP\/1\.0\\r\\n\\r\\n' \| nc -w 2 127\.0\.0\.1 "\$port"/);
    assert.match(fs.readFileSync(path.join(DOCKER, "Dockerfile"), "utf8"), /^COPY docker\/readyz\.sh \/usr\/local\/bin\/ecc-cache-readyz$/m);
    for (const [file, variable, port, count] of [["compose.ecc.yml", "ECC_HTTP_PORT", 9300, 5], ["compose.raft.yml", "RAFT_HTTP_PORT", 9400, 3]] as const) {
      const services = compose(file);
      assert.equal(Object.keys(services).length, count);
      Object.entries(services).forEach(([name, service], index) => {
        assert.equal(service.environment?.[variable], String(port), `${file} ${name}: ${variable}`);
        assert.deepEqual(service.healthcheck?.test, ["CMD", "ecc-cache-readyz", String(port)], `${file} ${name}`);
        assert.ok(service.ports?.includes(`127.0.0.1:${port + index}:${port}`), `${file} ${name} publishes its admin port on 127.0.0.1:${port + index}`);
      });
    }
  });

  it("the bench stack's Prometheus scrapes every ecc node's admin port, and promtool accepts its config", function () {
    const prometheus = compose("compose.bench.yml").prometheus;
    assert.ok(prometheus !== undefined, "compose.bench.yml has a prometheus service");
    assert.deepEqual(prometheus.profiles, ["prometheus"]);
    assert.deepEqual(prometheus.networks, ["ecc"]);
    assert.ok(prometheus.volumes?.includes("./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"));
    const config = parse(fs.readFileSync(path.join(DOCKER, "prometheus", "prometheus.yml"), "utf8")) as {
      scrape_configs: Array<{ metrics_path: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = config.scrape_configs.flatMap((job) => job.static_configs.flatMap((group) => group.targets));
    assert.deepEqual(targets, Object.keys(compose("compose.ecc.yml")).map((service) => `${service}:9300`));
    assert.ok(config.scrape_configs.every((job) => job.metrics_path === "/metrics"));
    if (!PROMTOOL) {
      console.log("      promtool not installed (apt-get install prometheus): `promtool check config` not run");
      return;
    }
    const check = spawnSync("promtool", ["check", "config", path.join(DOCKER, "prometheus", "prometheus.yml")], { encoding: "utf8", timeout: 10_000 });
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  it("both modes' /metrics pass `promtool check metrics`", async function () {
    if (!PROMTOOL) {
      console.log("      promtool not installed (apt-get install prometheus): skipped");
      this.skip();
    }
    for (const text of await expositions()) {
      const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 10_000 });
      assert.equal(check.status, 0, check.stdout + check.stderr);
    }
  });

  it("the Grafana dashboard is valid JSON and queries only metrics the nodes expose", async () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(DOCKER, "grafana", "ecc-cache.json"), "utf8")) as {
      uid: string;
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
      templating: { list: Array<{ query: string }> };
    };
    assert.equal(dashboard.uid, "ecc-cache-nodes");
    const offered = new Set<string>();
    for (const text of await expositions()) for (const name of offeredNames(text)) offered.add(name);
    const queries = [...dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr)), ...dashboard.templating.list.map((variable) => variable.query)];
    assert.ok(queries.length >= 12);
    const used = new Set(queries.flatMap((query) => [...query.matchAll(/\b((?:ecc_cache|process|nodejs)_[a-z_]+)\b/g)].map((match) => match[1])));
    const missing = [...used].filter((name) => !offered.has(name));
    assert.deepEqual(missing, [], "every metric the dashboard queries is exposed by a node");
    for (const needed of [
      "ecc_cache_ops_total", "ecc_cache_op_duration_seconds_bucket", "ecc_cache_view_epoch", "ecc_cache_rebuild_rebuilt_bytes", "ecc_cache_raft_term",
      "ecc_cache_grpc_errors_total", "ecc_cache_memory_budget_bytes", "ecc_cache_evicted_keys_total", "ecc_cache_expired_keys_total",
    ]) {
      assert.ok(used.has(needed), `the dashboard shows ${needed}`);
    }
  });
});
