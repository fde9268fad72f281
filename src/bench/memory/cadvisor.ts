// Container memory from a cAdvisor REST endpoint (--cadvisor URL). cAdvisor computes the
// working set itself (usage − inactive_file); we read its memory.working_set from the newest
// stats entry. Accepted response shapes (cAdvisor's info/v1 and info/v2 types):
//   /api/v1.3/containers/<name>  → ContainerInfo { name, aliases, spec, stats: [ContainerStats] }
//   /api/v1.3/docker/<id>        → { "<name>": ContainerInfo, ... }
//   /api/v1.3/subcontainers/...  → [ContainerInfo, ...]
//   /api/v2.0/stats/<name>       → { "<name>": [v2 ContainerStats { timestamp, has_memory, memory }] }
// A ContainerStats entry has timestamp (RFC 3339) and memory { usage, working_set, cache,
// rss, ... } in bytes.
import { getJson } from "./docker";

export interface CadvisorMemory {
  container: string;
  timestamp: string;
  workingSetBytes: number;
  usageBytes: number;
  rssBytes: number | null;
  cacheBytes: number | null;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function latestMemory(name: string, stats: unknown): CadvisorMemory | null {
  if (!Array.isArray(stats)) return null;
  let best: CadvisorMemory | null = null;
  for (const entry of stats) {
    if (!isObject(entry) || !isObject(entry.memory)) continue;
    if (entry.has_memory === false) continue;
    const memory = entry.memory;
    if (typeof memory.working_set !== "number" || typeof memory.usage !== "number") continue;
    const timestamp = typeof entry.timestamp === "string" ? entry.timestamp : "";
    if (best !== null && Date.parse(timestamp) < Date.parse(best.timestamp)) continue;
    best = {
      container: name,
      timestamp,
      workingSetBytes: memory.working_set,
      usageBytes: memory.usage,
      rssBytes: typeof memory.rss === "number" ? memory.rss : null,
      cacheBytes: typeof memory.cache === "number" ? memory.cache : null,
    };
  }
  return best;
}

function matches(info: Json, key: string | null, wanted: string | undefined): boolean {
  if (wanted === undefined) return true;
  const names = [key, info.name, info.id, ...(Array.isArray(info.aliases) ? info.aliases : [])].filter((n): n is string => typeof n === "string");
  const last = (name: string): string => name.slice(name.lastIndexOf("/") + 1);
  // Exact name, the last path segment (/docker/<id> for <id>), or a docker short id (12+ hex).
  return names.some((name) => name === wanted || last(name) === wanted || (wanted.length >= 12 && last(name).startsWith(wanted)));
}

/** The newest memory reading for `container` (or the only container) in any accepted shape. */
export function parseCadvisorMemory(body: unknown, container?: string): CadvisorMemory | null {
  if (Array.isArray(body)) {
    for (const info of body) {
      if (isObject(info) && matches(info, null, container)) {
        const found = latestMemory(String(info.name ?? container ?? ""), info.stats);
        if (found !== null) return found;
      }
    }
    return null;
  }
  if (!isObject(body)) return null;
  if (Array.isArray(body.stats)) return matches(body, null, container) ? latestMemory(String(body.name ?? container ?? ""), body.stats) : null;
  for (const [key, value] of Object.entries(body)) {
    if (Array.isArray(value)) {
      // v2.0 stats: name → [ContainerStats]
      if (container === undefined || matches({}, key, container)) {
        const found = latestMemory(key, value);
        if (found !== null) return found;
      }
    } else if (isObject(value) && Array.isArray(value.stats) && matches(value, key, container)) {
      const found = latestMemory(String(value.name ?? key), value.stats);
      if (found !== null) return found;
    }
  }
  return null;
}

/** Path to ask for one container: absolute cgroup names via /containers, anything else as a docker id or name. */
export function cadvisorPath(container: string): string {
  const query = "?num_stats=1";
  if (container.startsWith("/")) return `/api/v1.3/containers${container.split("/").map(encodeURIComponent).join("/")}${query}`;
  return `/api/v1.3/docker/${encodeURIComponent(container)}${query}`;
}

export async function fetchCadvisorMemory(baseUrl: string, container: string, timeoutMs = 3_000): Promise<CadvisorMemory | null> {
  const url = new URL(baseUrl);
  if (url.protocol !== "http:") throw new Error(`--cadvisor ${baseUrl}: only http:// is supported`);
  const prefix = url.pathname.replace(/\/$/, "");
  const body = await getJson({ host: url.hostname, port: url.port === "" ? 80 : Number(url.port), path: prefix + cadvisorPath(container) }, timeoutMs);
  return parseCadvisorMemory(body, container);
}
