// Where each node's HTTP admin port listens, one rule for both modes:
//   http_port     this node's port on its own host (startOne, e.g. one node per container);
//                 0 turns the port off. Given to startAll, only 0 is meaningful (off for every
//                 node): one port cannot serve several nodes, so any other value with more
//                 than one server is refused.
//   http_servers  host:port per node, parallel to servers (node i at http_servers[i]).
//   neither       startAll gives node i the mode's base port + i on the node's host (ecc 9300,
//                 9301, ...; raft 9400, ...) and hands its children the list it chose; a node
//                 started on its own (startOne by hand, the bench's and jepsen's clusters,
//                 which pick their own free gRPC ports) has no admin port unless told, so
//                 two such clusters on one machine never fight over fixed ports.
// Kept free of prom-client and node:http so the config code and the CLI can use it cheaply.
import assert from "node:assert/strict";
import { ConfigError } from "../core/errors";
import { parseAddress } from "../core/address";
import { FieldRules } from "../core/flat_config";
import { SERVERS_MAX } from "../core/limits";

export const ECC_HTTP_BASE_PORT = 9300;
export const RAFT_HTTP_BASE_PORT = 9400;

/** The config-file fields (both modes), checked with the other flat fields. */
export const HTTP_FIELD_RULES: FieldRules = {
  http_port: { kind: "integer", min: 0, max: 65535, optional: true },
  http_servers: { kind: "strings", itemsMin: 1, itemsMax: SERVERS_MAX, optional: true },
};

export interface HttpSettings {
  servers: readonly string[];
  httpPort?: number;
  httpServers?: readonly string[];
}

/** Cross-field problems of http_servers: parallel to servers, addresses that parse, none reused. */
export function httpServersProblems(servers: readonly string[], httpServers: readonly string[] | undefined): string[] {
  if (httpServers === undefined) return [];
  const problems: string[] = [];
  if (httpServers.length !== servers.length) {
    problems.push(`http_servers lists ${httpServers.length} addresses but servers lists ${servers.length}; give one per server, in the same order`);
  }
  const seen = new Set<string>();
  for (const address of httpServers) {
    try {
      parseAddress(address);
    } catch (error) {
      problems.push(`http_servers: ${(error as Error).message}`);
    }
    if (seen.has(address)) problems.push(`http_servers: ${address} is listed twice`);
    if (servers.includes(address)) problems.push(`http_servers: ${address} is also a node's gRPC address in servers`);
    seen.add(address);
  }
  return problems;
}

/** The admin address of the node at `address`; null: no admin port. */
export function adminHttpAddress(settings: HttpSettings, address: string): string | null {
  const index = settings.servers.indexOf(address);
  let chosen: string | null = null;
  if (settings.httpPort !== undefined) chosen = settings.httpPort === 0 ? null : `${parseAddress(address).host}:${settings.httpPort}`;
  else if (settings.httpServers !== undefined && index >= 0) chosen = settings.httpServers[index];
  if (chosen !== null && chosen === address) {
    throw new ConfigError(`the HTTP admin port of ${address} would be its gRPC port; set http_port or http_servers to another port`);
  }
  return chosen;
}

/** Every configured node's admin address as startAll starts them (defaults: `basePort` + index). */
export function adminHttpAddresses(settings: HttpSettings, basePort: number): Array<string | null> {
  if (settings.httpPort !== undefined && settings.httpPort !== 0 && settings.servers.length > 1) {
    throw new ConfigError(
      `http_port ${settings.httpPort} names one node's admin port, but ${settings.servers.length} nodes start here; give http_servers (one per server), leave both out for the defaults (${basePort}+i), or 0 to turn the admin ports off`,
    );
  }
  if (settings.httpPort !== undefined || settings.httpServers !== undefined) return settings.servers.map((address) => adminHttpAddress(settings, address));
  const defaults = settings.servers.map((address, index) => `${parseAddress(address).host}:${basePort + index}`);
  return settings.servers.map((address) => adminHttpAddress({ servers: settings.servers, httpServers: defaults }, address));
}

/** The http fields startAll hands its children so each starts exactly the admin port it printed. */
export function childHttpSettings(addresses: ReadonlyArray<string | null>): { httpPort?: number; httpServers?: string[] } {
  const on = addresses.filter((address): address is string => address !== null);
  // adminHttpAddresses turns every node's port on, or every node's off.
  assert.ok(on.length === 0 || on.length === addresses.length, "admin ports partly on");
  return on.length === 0 ? { httpPort: 0, httpServers: undefined } : { httpPort: undefined, httpServers: on };
}
