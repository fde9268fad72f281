// The Netdata sampler's two pure parts (src/bench/memory/netdata.ts): the chart id Netdata's
// cgroups plugin gives a cgroup directory, and the mem_usage chart's data response (the
// shape Debian's netdata 1.37 answers; values in MiB, newest row first). The agent itself is
// exercised in test/integration/bench_netdata.test.ts.
import assert from "node:assert/strict";
import { netdataAgentConfig, netdataCgroupChartId, parseNetdataMemUsage } from "../../src/bench/memory/netdata";
import { parseSamplerList } from "../../src/bench/bench";

describe("Netdata memory sampler", () => {
  it("derives the chart id from the cgroup's path below the mount", () => {
    assert.equal(
      netdataCgroupChartId("/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/process_api/fb6c1974/ecc-cache-bench-4242-1/node0"),
      "cgroup_process_api_fb6c1974_ecc-cache-bench-4242-1_node0",
    );
    assert.equal(netdataCgroupChartId("/sys/fs/cgroup", "/sys/fs/cgroup/ecc-cache-bench-7-2/node3"), "cgroup_ecc-cache-bench-7-2_node3");
    assert.equal(netdataCgroupChartId("/sys/fs/cgroup", "/sys/fs/cgroup/a b/c:d"), "cgroup_a_b_c_d", "other characters become _");
    assert.throws(() => netdataCgroupChartId("/sys/fs/cgroup/memory", "/tmp/x"), /is not below/);
  });

  it("reads ram (the working set) and swap from a data response, in bytes", () => {
    const body = { labels: ["time", "ram", "swap"], data: [[1796641459, 3.519531, 0]] };
    assert.deepEqual(parseNetdataMemUsage("cgroup_x", body), { chart: "cgroup_x", timeS: 1796641459, workingSetBytes: 3690496, swapBytes: 0 });
    assert.equal(parseNetdataMemUsage("cgroup_x", { labels: ["time", "ram", "swap"], data: [] }), null);
    assert.equal(parseNetdataMemUsage("cgroup_x", { labels: ["time", "rss"], data: [[1, 2]] }), null);
    assert.equal(parseNetdataMemUsage("cgroup_x", "Chart is not found"), null);
  });

  it("is a sampler --memory accepts, and the agent config enables only what the bench needs", () => {
    assert.deepEqual(parseSamplerList("cgroup,netdata"), ["cgroup", "netdata"]);
    const config = netdataAgentConfig({ bind: "127.0.0.1:29999", dir: "/tmp/nd", cgroupV2: false });
    assert.match(config, /^\tbind to = 127\.0\.0\.1:29999$/m);
    assert.match(config, /^\tcgroups = yes$/m);
    assert.match(config, /^\tuse unified cgroups = no$/m);
    assert.match(config, /^\tenable by default cgroups matching = \*ecc-cache-bench-\*$/m);
    assert.doesNotMatch(config, /^\t(proc|apps|go\.d|python\.d) = yes$/m);
  });
});
