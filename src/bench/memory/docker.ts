// Container memory from the Docker engine: GET /containers/<id>/stats?stream=false over the
// engine's unix socket (node:http, no client library). Working set as the docker CLI and
// cAdvisor compute it: memory_stats.usage minus inactive file pages, taken from
// memory_stats.stats.total_inactive_file on cgroup v1 hosts and .inactive_file on v2.
import http from "node:http";

export const DOCKER_SOCKET_DEFAULT = "/var/run/docker.sock";
const RESPONSE_BYTES_MAX = 4 * 1024 * 1024;

export interface DockerMemory {
  usageBytes: number;
  inactiveFileBytes: number;
  workingSetBytes: number;
  limitBytes: number | null;
}

/** Parses a stats response; null when it has no memory usage (container stopped). */
export function parseDockerMemory(body: unknown): DockerMemory | null {
  if (typeof body !== "object" || body === null) return null;
  const memory = (body as { memory_stats?: unknown }).memory_stats;
  if (typeof memory !== "object" || memory === null) return null;
  const usage = (memory as { usage?: unknown }).usage;
  if (typeof usage !== "number") return null;
  const stats = ((memory as { stats?: unknown }).stats ?? {}) as Record<string, unknown>;
  const limit = (memory as { limit?: unknown }).limit;
  // Same order as the docker CLI: v1's total_inactive_file when present, else v2's inactive_file.
  let inactive = 0;
  if (typeof stats.total_inactive_file === "number" && stats.total_inactive_file < usage) inactive = stats.total_inactive_file;
  else if (typeof stats.total_inactive_file !== "number" && typeof stats.inactive_file === "number" && stats.inactive_file < usage) inactive = stats.inactive_file;
  return { usageBytes: usage, inactiveFileBytes: inactive, workingSetBytes: usage - inactive, limitBytes: typeof limit === "number" ? limit : null };
}

/** One stats snapshot of a container (one-shot=true: no 1 s wait on engines that support it). */
export function fetchDockerStats(containerId: string, socketPath = DOCKER_SOCKET_DEFAULT, timeoutMs = 3_000): Promise<unknown> {
  return getJson({ socketPath, path: `/containers/${encodeURIComponent(containerId)}/stats?stream=false&one-shot=true` }, timeoutMs);
}

/** GET → parsed JSON, bounded in size and time. Shared with the cAdvisor sampler. */
export function getJson(options: http.RequestOptions, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const request = http.request({ ...options, method: "GET", timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > RESPONSE_BYTES_MAX) {
          request.destroy(new Error(`response larger than ${RESPONSE_BYTES_MAX} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on("end", () => {
        if (response.statusCode !== 200) {
          reject(new Error(`HTTP ${response.statusCode} for ${options.path}: ${Buffer.concat(chunks).toString("utf8").slice(0, 200)}`));
          return;
        }
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch (error) {
          reject(error);
        }
      });
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`no answer for ${options.path} within ${timeoutMs} ms`)));
    request.on("error", reject);
    request.end();
  });
}
