// The raft memory budget holds for the cgroup working set, not only for the node's own count.
// Method: one raft node (a single-voter group, started the real way: node with the project's
// flags and allocator, `raft server startOne`) is placed in a memory cgroup of its own at
// spawn. Its idle working set is measured once it leads; then the cgroup is limited to
// max_memory_bytes × 1.25 + that baseline, and a write flood of twice the budget in
// distinct keys runs against it (allkeys-lru evicts). Checked: the node is never OOM-killed
// (it runs at the end, the cgroup counted no OOM kill); what the kernel cannot reclaim from
// it (anonymous and kernel memory, sampled every 50 ms) stays under the limit, so the working
// set (usage minus inactive file pages, as cAdvisor computes it) never has to exceed the
// limit either: page cache is reclaimed first; and it reports its state within the budget.
// Needs root and a memory cgroup hierarchy (v1 or v2); skipped with the reason otherwise.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CLI_MAIN, LaunchedProcess, launch, nodeProcess } from "../../src/core/launcher";
import { freeLoopbackPorts } from "../../src/core/ports";
import { NodeCgroups, detectLocalCgroupLayout } from "../../src/bench/memory/cgroup";
import { RAFT_RESOLVED_CONFIG_ENV } from "../../src/cli/raft_config_loader";
import { parseRaftConfig, raftConfigToFile } from "../../src/raft/config";
import { RaftClient } from "../../src/raft/client";
import { sleep } from "../support/processes";

/**
 * Under a flood of 4 KiB values the node's working set holds, besides its state, about 10 MB
 * of anonymous memory (requests in flight, buffers awaiting GC, V8 heap) and the page cache
 * of log.bin since the last snapshot (written a frame at a time, so its pages are "active"),
 * up to snapshot_entries × entry size: 20-30 MB here, whatever the budget. The 25% margin
 * covers that with room to spare from about 128 MiB on (README "Memory budget").
 */
const BUDGET_BYTES = 128 * 1024 * 1024;
const VALUE_BYTES = 4 * 1024;
const FLOOD_BYTES = 2 * BUDGET_BYTES;
const NODE = "raft0";

describe("raft memory budget in a cgroup (real process)", function () {
  this.timeout(120_000);
  let group: NodeCgroups | null = null;
  let node: LaunchedProcess | null = null;
  let client: RaftClient | null = null;
  let dataDir = "";

  before(function () {
    const layout = detectLocalCgroupLayout();
    if (layout === null) return this.skip(); // no memory cgroup hierarchy here
    const created = NodeCgroups.create(layout);
    if (!(created instanceof NodeCgroups)) {
      process.stderr.write(`  (skipped: ${created.reason})\n`);
      return this.skip();
    }
    group = created;
  });

  after(async () => {
    client?.close();
    if (node !== null) await node.stop("SIGKILL");
    await group?.cleanup();
    if (dataDir !== "") fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("a write flood of two budgets never gets the node OOM-killed; its working set stays under budget × 1.25 + its idle baseline", async () => {
    const cgroups = group!;
    const [port] = await freeLoopbackPorts(1);
    const address = `127.0.0.1:${port}`;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-cgroup-"));
    const config = parseRaftConfig(
      {
        servers: [address],
        tick_ms: 25,
        election_ticks: 12,
        heartbeat_ticks: 2,
        snapshot_entries: 5_000,
        fsync: "never",
        data_dir: dataDir,
        rpc_timeout_ms: 2_000,
        max_memory_bytes: BUDGET_BYTES,
        eviction_policy: "allkeys-lru",
      },
      "cgroup test",
    );
    const env = { ...process.env, [RAFT_RESOLVED_CONFIG_ENV]: JSON.stringify(raftConfigToFile(config)), RAFT_LOG_LEVEL: "warn" };
    node = launch({ name: "raft node in a cgroup", ...nodeProcess(CLI_MAIN, ["raft", "server", "startOne", "0", "--log-level", "info"], env), procsFile: cgroups.procsFile(NODE) });
    await node.waitReady({ line: /raft\.node_started/ }, 20_000);
    client = new RaftClient({ servers: [address], rpcTimeoutMs: 2_000 });
    for (let tries = 0; tries < 100 && (await client.stats(address).catch(() => null))?.role !== "leader"; tries++) await sleep(50);
    await client.set("warm", Buffer.from("up"));
    await sleep(1_000);
    const idle = await cgroups.read(NODE);
    assert(idle !== null, "the cgroup reads");
    const limitBytes = Math.round(BUDGET_BYTES * 1.25 + idle.workingSetBytes);
    const dir = cgroups.dir(NODE);
    fs.writeFileSync(path.join(dir, cgroups.layout.version === "v1" ? "memory.limit_in_bytes" : "memory.max"), String(limitBytes));

    let workingSetMax = 0;
    let unreclaimableMax = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const memory = await cgroups.read(NODE);
        if (memory !== null) {
          workingSetMax = Math.max(workingSetMax, memory.workingSetBytes);
          unreclaimableMax = Math.max(unreclaimableMax, (memory.anonBytes ?? memory.workingSetBytes) + (memory.kernelBytes ?? 0));
        }
        await sleep(50);
      }
    })();
    const value = Buffer.alloc(VALUE_BYTES, 1);
    const keys = FLOOD_BYTES / VALUE_BYTES;
    let next = 0;
    let errors = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < keys && node!.running) {
          const key = `key${next++}`;
          try {
            await client!.set(key, value);
          } catch {
            errors++;
          }
        }
      }),
    );
    await sleep(500);
    sampling = false;
    await sampler;

    const context = `idle ${idle.workingSetBytes} B, limit ${limitBytes} B, working set max ${workingSetMax} B, anonymous + kernel max ${unreclaimableMax} B`;
    assert(node.running, `the node is still running (${node.describeExit()}); ${context}`);
    if (cgroups.layout.version === "v1") {
      const oomKills = /oom_kill (\d+)/.exec(fs.readFileSync(path.join(dir, "memory.oom_control"), "utf8"));
      assert.equal(Number(oomKills?.[1] ?? 0), 0, `no OOM kill in the cgroup; ${context}`);
    } else {
      const oomKills = /oom_kill (\d+)/.exec(fs.readFileSync(path.join(dir, "memory.events"), "utf8"));
      assert.equal(Number(oomKills?.[1] ?? 0), 0, `no OOM kill in the cgroup; ${context}`);
    }
    assert(workingSetMax <= limitBytes, context);
    assert(unreclaimableMax < limitBytes, context);
    assert.equal(errors, 0, `every write succeeded; ${context}`);
    const stats = await client.stats(address);
    assert(stats.evictedKeys > 0, "the flood evicted");
    assert(stats.usedBytes <= BUDGET_BYTES, `the node holds ${stats.usedBytes} bytes, budget ${BUDGET_BYTES}`);
    process.stderr.write(`      (${context}; ${stats.evictedKeys} evictions)\n`);
  });
});
