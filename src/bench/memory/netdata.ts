// Per-node memory from a Netdata agent's REST API (--memory netdata --netdata URL), the way
// the original study watched memory. Netdata's cgroups plugin charts every memory cgroup it
// finds; the bench puts each node in a cgroup of its own (cgroup.ts), so a node's memory is
// the chart of that cgroup:
//   chart id   "cgroup_" + the cgroup's path below the hierarchy's mount, "/" → "_"
//              (netdata_fix_chart_id: characters other than letters, digits, ".", "_", "-"
//              become "_"), e.g. cgroup_ecc-cache-bench-4242-1_node0 for
//              <mount>/ecc-cache-bench-4242-1/node0
//   chart      <id>.mem_usage, context cgroup.mem_usage, units MiB, dimensions ram and swap
//   ram        usage − total_inactive_file (v1), the same working set the cgroup sampler
//              computes (checked against the files in the test; Debian's netdata 1.37).
// Netdata collects once per its `update every` (1 s by default), so a reading is the last
// collected value: up to a second older than the cgroup sampler's. It finds new cgroups only
// every `check for new cgroups every` seconds and only those its filters enable; until then
// the chart does not exist (HTTP 404) and a node has no netdata reading. The agent settings
// the bench needs are in netdataAgentConfig() below (the tests start an agent with them).
import path from "node:path";
import { getJson } from "./docker";

export interface NetdataMemory {
  chart: string;
  /** Time of the value, seconds since the epoch (netdata's own clock). */
  timeS: number;
  workingSetBytes: number;
  swapBytes: number;
}

const MIB = 1024 * 1024;

/** The chart id (type part) Netdata gives the cgroup at `dir` in the hierarchy mounted at `mount`. */
export function netdataCgroupChartId(mount: string, dir: string): string {
  const relative = path.relative(mount, dir);
  if (relative.startsWith("..")) throw new Error(`${dir} is not below ${mount}`);
  const id = relative === "" ? "/" : relative.split(path.sep).join("/");
  return "cgroup_" + id.replace(/\//g, "_").replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * Parses /api/v1/data?format=json for a cgroup.mem_usage chart: { labels: ["time", "ram",
 * "swap"], data: [[time, ram MiB, swap MiB], ...] }, newest row first. Null when it holds no row.
 */
export function parseNetdataMemUsage(chart: string, body: unknown): NetdataMemory | null {
  if (typeof body !== "object" || body === null) return null;
  const { labels, data } = body as { labels?: unknown; data?: unknown };
  if (!Array.isArray(labels) || !Array.isArray(data) || data.length === 0) return null;
  const ram = labels.indexOf("ram");
  const swap = labels.indexOf("swap");
  const time = labels.indexOf("time");
  const row = data[0];
  if (ram < 0 || time < 0 || !Array.isArray(row) || typeof row[ram] !== "number" || typeof row[time] !== "number") return null;
  return {
    chart,
    timeS: row[time],
    workingSetBytes: Math.round(row[ram] * MIB),
    swapBytes: swap >= 0 && typeof row[swap] === "number" ? Math.round(row[swap] * MIB) : 0,
  };
}

/** The latest mem_usage of `chart`, or null when Netdata has no such chart (yet). */
export async function fetchNetdataMemory(baseUrl: string, chart: string, timeoutMs = 3_000): Promise<NetdataMemory | null> {
  const url = new URL(baseUrl);
  if (url.protocol !== "http:") throw new Error(`--netdata ${baseUrl}: only http:// is supported`);
  const prefix = url.pathname.replace(/\/$/, "");
  const query = `chart=${encodeURIComponent(chart + ".mem_usage")}&after=-1&points=1&format=json&options=unaligned`;
  let body: unknown;
  try {
    body = await getJson({ host: url.hostname, port: url.port === "" ? 80 : Number(url.port), path: `${prefix}/api/v1/data?${query}` }, timeoutMs);
  } catch (error) {
    if (/^HTTP 404 /.test((error as Error).message)) return null; // not discovered yet, or gone
    throw error;
  }
  return parseNetdataMemUsage(chart, body);
}

/**
 * A netdata.conf for an agent that serves the bench: only the cgroups collector, every
 * second, new cgroups looked for every second and the bench's enabled, data in memory, the
 * web API on `bind` only, nothing sent anywhere (no registry, health, ML; the agent also
 * needs DO_NOT_TRACK=1 in its environment or the opt-out file in `dir`/etc). `dir` holds its
 * config, logs, cache and lock files. It runs as root to read every cgroup.
 */
export function netdataAgentConfig(options: { bind: string; dir: string; cgroupV2: boolean }): string {
  const { dir } = options;
  const disabled = [
    "proc", "diskspace", "tc", "idlejitter", "timex", "checks", "apps", "python.d", "charts.d", "go.d", "node.d",
    "ebpf", "fping", "ioping", "perf", "slabinfo", "nfacct", "cups", "freeipmi", "statsd",
  ];
  return [
    "[global]",
    "\trun as user = root",
    "\thostname = ecc-cache-bench",
    "[db]",
    "\tmode = ram",
    "\tupdate every = 1",
    "\tretention = 3600",
    "[directories]",
    `\tconfig = ${dir}/etc`,
    "\tstock config = /usr/lib/netdata/conf.d",
    `\tlog = ${dir}/log`,
    `\tcache = ${dir}/cache`,
    `\tlib = ${dir}/lib`,
    `\tlock = ${dir}/lock`,
    `\thome = ${dir}`,
    "\tplugins = /usr/lib/netdata/plugins.d",
    "\tweb = /usr/share/netdata/web",
    "[logs]",
    "\tdebug = /dev/null",
    `\terror = ${dir}/log/error.log`,
    "\taccess = none",
    "[web]",
    `\tbind to = ${options.bind}`,
    "[ml]",
    "\tenabled = no",
    "[health]",
    "\tenabled = no",
    "[registry]",
    "\tenabled = no",
    "[plugins]",
    ...disabled.map((plugin) => `\t${plugin} = no`),
    "\tcgroups = yes",
    "\tenable running new plugins = no",
    "[plugin:cgroups]",
    "\tupdate every = 1",
    "\tcheck for new cgroups every = 1",
    // "auto" picks the unified hierarchy whenever one is mounted, also on hybrid systems
    // where the memory controller is on v1 (the bench's layout follows the controller).
    `\tuse unified cgroups = ${options.cgroupV2 ? "yes" : "no"}`,
    "\tenable by default cgroups matching = *ecc-cache-bench-*",
    "\tsearch for cgroups in subpaths matching = *",
    "\tenable by default cgroups names matching = *",
    "",
  ].join("\n");
}
