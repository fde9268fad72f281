// A real Netdata agent (Debian's `netdata` package) for tests: started as root in the
// foreground on a free loopback port with a temporary config and directories
// (netdataAgentConfig: only the cgroups collector, nothing sent anywhere), stopped by PID.
// Every wait is bounded.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LaunchedProcess, launch } from "../../src/core/launcher";
import { netdataAgentConfig } from "../../src/bench/memory/netdata";
import { freePorts, waitUntil } from "./processes";

export interface NetdataAgent {
  url: string;
  pid: number;
  /** The agent's error log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** Why an agent cannot be started here, or null when it can. */
export function netdataUnavailable(): string | null {
  const version = spawnSync("netdata", ["-v"], { encoding: "utf8", timeout: 5_000 });
  if (version.error !== undefined || version.status !== 0) return "netdata is not installed (apt-get install -y netdata)";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "the agent must run as root to read every cgroup";
  return null;
}

export async function startNetdataAgent(options: { cgroupV2: boolean }): Promise<NetdataAgent> {
  const [port] = await freePorts(1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-cache-netdata-"));
  for (const sub of ["etc", "log", "cache", "lib", "lock"]) fs.mkdirSync(path.join(dir, sub));
  fs.writeFileSync(path.join(dir, "etc", ".opt-out-from-anonymous-statistics"), "");
  const config = path.join(dir, "netdata.conf");
  fs.writeFileSync(config, netdataAgentConfig({ bind: `127.0.0.1:${port}`, dir, cgroupV2: options.cgroupV2 }));
  const agent: LaunchedProcess = launch({
    name: "netdata",
    command: "netdata",
    args: ["-D", "-c", config, "-P", path.join(dir, "netdata.pid")],
    env: { ...process.env, DO_NOT_TRACK: "1" },
  });
  const url = `http://127.0.0.1:${port}`;
  const log = (): string => {
    try {
      return fs.readFileSync(path.join(dir, "log", "error.log"), "utf8").split("\n").slice(-30).join("\n");
    } catch {
      return "(no log)";
    }
  };
  const stop = async (): Promise<void> => {
    await agent.stop("SIGTERM", 5_000);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      async () => {
        const response = await fetch(`${url}/api/v1/info`, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
        return response !== null && response.ok;
      },
      20_000,
      `netdata on ${url}`,
    );
  } catch (error) {
    const text = log();
    await stop();
    throw new Error(`${(error as Error).message}\n${text}`);
  }
  return { url, pid: agent.pid, log, stop };
}
