// Memory sampler parsing (src/bench/memory/*), against files in test/fixtures/bench (see its
// README for where each came from).
// Checks: /proc status and smaps_rollup give RSS/Pss in bytes; cgroup v1 and v2 working sets
// equal usage − inactive file as cAdvisor computes them (and clamp at zero); the memory
// hierarchy and the bench's own cgroup are found in /proc/self/mounts and /proc/self/cgroup
// texts for v1, v2 and hybrid hosts; Docker stats responses of v1 and v2 hosts give the
// docker CLI's working set; cAdvisor v1.3 and v2.0 responses give the newest working_set of
// the asked container. The HTTP paths are exercised too: a fake cAdvisor on loopback and a
// fake Docker engine on a unix socket serve the fixtures.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { cadvisorPath, fetchCadvisorMemory, parseCadvisorMemory } from "../../src/bench/memory/cadvisor";
import { cgroupMemoryV1, cgroupMemoryV2, detectCgroupLayout, parseMemoryStat, readCgroupMemory } from "../../src/bench/memory/cgroup";
import { fetchDockerStats, parseDockerMemory } from "../../src/bench/memory/docker";
import { parseProcStatus, parseSmapsRollup } from "../../src/bench/memory/proc";
import { primarySampler } from "../../src/bench/memory/recorder";

const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "bench");
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), "utf8");
const json = (name: string): unknown => JSON.parse(fixture(name));

function listen(server: http.Server, target: number | string): Promise<void> {
  return new Promise((resolve) => (typeof target === "number" ? server.listen(target, "127.0.0.1", resolve) : server.listen(target, resolve)));
}

describe("bench memory samplers", () => {
  it("/proc/<pid>/status: VmRSS and its parts in bytes", () => {
    assert.deepEqual(parseProcStatus(fixture("proc_status.txt")), {
      vmRssBytes: 18_924 * 1024,
      rssAnonBytes: 9_504 * 1024,
      rssFileBytes: 9_420 * 1024,
      rssShmemBytes: 0,
    });
    assert.equal(parseProcStatus("Name:\tzombie\nState:\tZ (zombie)\n"), null);
  });

  it("/proc/<pid>/smaps_rollup: Rss, Pss, private and anonymous bytes", () => {
    assert.deepEqual(parseSmapsRollup(fixture("smaps_rollup.txt")), {
      rssBytes: 18_924 * 1024,
      pssBytes: 16_405 * 1024,
      privateBytes: (5_872 + 9_504) * 1024,
      anonymousBytes: 9_504 * 1024,
    });
  });

  it("cgroup v1: working set = usage_in_bytes − total_inactive_file", async () => {
    const memory = cgroupMemoryV1(fixture("cgroup_v1/memory.usage_in_bytes"), fixture("cgroup_v1/memory.stat"));
    assert.equal(memory.usageBytes, 36_311_040);
    assert.equal(memory.inactiveFileBytes, 25_255_936);
    assert.equal(memory.workingSetBytes, 11_055_104);
    assert.equal(memory.anonBytes, 9_732_096);
    assert.equal(memory.fileBytes, 25_407_488);
    assert.equal(memory.kernelBytes, null, "no memory.kmem.usage_in_bytes given");
    // Kernel memory (part of usage) from memory.kmem.usage_in_bytes, which the fixture has.
    const withKernel = cgroupMemoryV1(fixture("cgroup_v1/memory.usage_in_bytes"), fixture("cgroup_v1/memory.stat"), fixture("cgroup_v1/memory.kmem.usage_in_bytes"));
    assert.equal(withKernel.kernelBytes, 1_163_264);
    assert.equal(cgroupMemoryV1("100\n", "", "not a number\n").kernelBytes, null);
    assert.deepEqual(await readCgroupMemory(path.join(FIXTURES, "cgroup_v1"), "v1"), withKernel);
  });

  it("cgroup v2: working set = memory.current − inactive_file", async () => {
    const memory = cgroupMemoryV2(fixture("cgroup_v2/memory.current"), fixture("cgroup_v2/memory.stat"));
    assert.equal(memory.usageBytes, 48_234_496);
    assert.equal(memory.inactiveFileBytes, 20_480_000);
    assert.equal(memory.workingSetBytes, 27_754_496);
    assert.equal(memory.anonBytes, 21_970_944);
    assert.equal(memory.kernelBytes, 1_269_760, "memory.stat kernel");
    assert.equal(cgroupMemoryV2("5000\n", "anon 5000\n").kernelBytes, null, "kernels before 5.18 have no kernel line");
    assert.deepEqual(await readCgroupMemory(path.join(FIXTURES, "cgroup_v2"), "v2"), memory);
    assert.equal(await readCgroupMemory(path.join(FIXTURES, "missing"), "v2"), null);
  });

  it("cgroup working set clamps at zero and tolerates a missing inactive_file", () => {
    assert.equal(cgroupMemoryV1("100\n", "total_inactive_file 4096\n").workingSetBytes, 0);
    assert.equal(cgroupMemoryV2("5000\n", "anon 5000\n").workingSetBytes, 5000);
    assert.deepEqual(parseMemoryStat("cache 1\nbad line\nrss 2\n"), { cache: 1, rss: 2 });
  });

  it("finds the memory hierarchy and the bench's own cgroup (v1, hybrid, v2)", () => {
    const hybridMounts = [
      "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0",
      "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0",
      "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0",
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0",
    ].join("\n");
    const hybridSelf = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";
    assert.deepEqual(detectCgroupLayout(hybridMounts, hybridSelf, () => false), { version: "v1", mount: "/sys/fs/cgroup/memory", ownPath: "/process_api/abc" });
    const v2Mounts = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n";
    assert.deepEqual(detectCgroupLayout(v2Mounts, "0::/user.slice/session-1.scope\n", () => true), {
      version: "v2",
      mount: "/sys/fs/cgroup",
      ownPath: "/user.slice/session-1.scope",
    });
    assert.equal(detectCgroupLayout(v2Mounts, "0::/\n", () => false), null, "v2 without the memory controller");
    assert.equal(detectCgroupLayout("proc /proc proc rw 0 0\n", "0::/\n", () => true), null);
  });

  it("Docker stats: working set like the docker CLI on cgroup v1 and v2 hosts", () => {
    assert.deepEqual(parseDockerMemory(json("docker_stats_cgroup_v1.json")), {
      usageBytes: 98_181_120,
      inactiveFileBytes: 23_433_216,
      workingSetBytes: 74_747_904,
      limitBytes: 25_275_240_448,
    });
    assert.deepEqual(parseDockerMemory(json("docker_stats_cgroup_v2.json")), {
      usageBytes: 71_942_144,
      inactiveFileBytes: 14_868_480,
      workingSetBytes: 57_073_664,
      limitBytes: 25_275_240_448,
    });
    assert.equal(parseDockerMemory({ memory_stats: {} }), null, "a stopped container has no usage");
  });

  it("cAdvisor: newest working_set from v1.3 (docker map, ContainerInfo, list) and v2.0 shapes", () => {
    const v13 = json("cadvisor_v1.3_docker.json") as Record<string, unknown>;
    const id = "5b1d0e6f3c8a9e2d7f4b6a1c0e9d8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e";
    const expected = { container: `/docker/${id}`, timestamp: "2026-11-20T10:15:04.412785637Z", workingSetBytes: 74_747_904, usageBytes: 98_181_120, rssBytes: 63_700_992, cacheBytes: 30_945_280 };
    assert.deepEqual(parseCadvisorMemory(v13, id), expected);
    assert.deepEqual(parseCadvisorMemory(v13, id.slice(0, 12)), expected, "a docker short id");
    assert.deepEqual(parseCadvisorMemory(v13, "ecc-bench-node0-1"), expected, "an alias");
    const info = Object.values(v13)[0];
    assert.deepEqual(parseCadvisorMemory(info, `/docker/${id}`), expected, "/api/v1.3/containers/<name> answers one ContainerInfo");
    assert.deepEqual(parseCadvisorMemory([info]), expected, "a list of ContainerInfo");
    assert.equal(parseCadvisorMemory(v13, "another-container"), null);
    const v20 = parseCadvisorMemory(json("cadvisor_v2.0_stats.json"), "9f8e7d6c5b4a");
    assert.equal(v20?.workingSetBytes, 57_073_664);
    assert.equal(v20?.timestamp, "2026-11-20T10:17:41.005214876Z");
    assert.equal(cadvisorPath("/docker/abc"), "/api/v1.3/containers/docker/abc?num_stats=1");
    assert.equal(cadvisorPath("abc"), "/api/v1.3/docker/abc?num_stats=1");
  });

  it("fetches from a cAdvisor endpoint on loopback", async () => {
    const requested: string[] = [];
    const server = http.createServer((request, response) => {
      requested.push(request.url ?? "");
      response.writeHead(200, { "content-type": "application/json" });
      response.end(fixture("cadvisor_v1.3_docker.json"));
    });
    await listen(server, 0);
    try {
      const port = (server.address() as { port: number }).port;
      const memory = await fetchCadvisorMemory(`http://127.0.0.1:${port}`, "ecc-bench-node0-1");
      assert.equal(memory?.workingSetBytes, 74_747_904);
      assert.deepEqual(requested, ["/api/v1.3/docker/ecc-bench-node0-1?num_stats=1"]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("fetches container stats from a Docker engine over its unix socket", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-docker-test-"));
    const socket = path.join(dir, "docker.sock");
    const requested: string[] = [];
    const server = http.createServer((request, response) => {
      requested.push(request.url ?? "");
      if (!request.url?.startsWith("/containers/ecc-node0/")) {
        response.writeHead(404);
        response.end('{"message":"No such container"}');
        return;
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(fixture("docker_stats_cgroup_v2.json"));
    });
    await listen(server, socket);
    try {
      assert.equal(parseDockerMemory(await fetchDockerStats("ecc-node0", socket))?.workingSetBytes, 57_073_664);
      await assert.rejects(fetchDockerStats("missing", socket), /HTTP 404/);
      assert.deepEqual(requested, ["/containers/ecc-node0/stats?stream=false&one-shot=true", "/containers/missing/stats?stream=false&one-shot=true"]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prefers the cgroup working set, then docker, cAdvisor, RSS", () => {
    assert.equal(primarySampler(["proc", "cgroup", "reported"]), "cgroup");
    assert.equal(primarySampler(["proc", "reported"]), "proc");
    assert.equal(primarySampler(["reported", "cadvisor"]), "cadvisor");
    assert.equal(primarySampler([]), null);
  });
});
