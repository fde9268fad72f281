// host:port addresses of nodes.
import { InvalidArgumentError } from "./errors";

export interface HostPort {
  host: string;
  port: number;
}

export function parseAddress(text: string): HostPort {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(text);
  if (match === null) throw new InvalidArgumentError(`'${text}' is not a host:port address`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`'${text}': port ${port} is outside 1..65535`);
  return { host: match[1], port };
}

/** Problems with a configured server list: addresses that do not parse, duplicates. */
export function serverListProblems(servers: readonly string[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const server of servers) {
    try {
      parseAddress(server);
    } catch (error) {
      problems.push(`servers: ${(error as Error).message}`);
    }
    if (seen.has(server)) problems.push(`servers: ${server} is listed twice`);
    seen.add(server);
  }
  return problems;
}
