// Where each node's RESP (Redis protocol) port listens, one rule for both modes, the same
// shape as the HTTP admin port's:
//   resp_port     this node's port on its own host (startOne, e.g. one node per container);
//                 0 turns the port off. Given to startAll, only 0 is meaningful (off for every
//                 node): one port cannot serve several nodes, so any other value with more
//                 than one server is refused.
//   resp_servers  host:port per node, parallel to servers (node i at resp_servers[i]).
//   neither       startAll gives node i the mode's base port + i on the node's host (ecc 6379,
//                 6380, ...; raft 6390, ...) and hands its children the list it chose; a node
//                 started on its own (startOne by hand, the bench's, jepsen's and the tests'
//                 clusters, which pick their own free ports) has no RESP port unless told, so
//                 two such clusters on one machine never fight over fixed ports.
// Kept free of node:net and the server so the config code and the CLI load it cheaply.
import assert from "node:assert/strict";
import { ConfigError } from "../core/errors";
import { parseAddress } from "../core/address";
import { FieldRules } from "../core/flat_config";
import { SERVERS_MAX } from "../core/limits";

export const ECC_RESP_BASE_PORT = 6379;
export const RAFT_RESP_BASE_PORT = 6390;

/** The config-file fields (both modes), checked with the other flat fields. */
export const RESP_FIELD_RULES: FieldRules = {
  resp_port: { kind: "integer", min: 0, max: 65535, optional: true },
  resp_servers: { kind: "strings", itemsMin: 1, itemsMax: SERVERS_MAX, optional: true },
};

export interface RespSettings {
  servers: readonly string[];
  respPort?: number;
  respServers?: readonly string[];
}

/** Cross-field problems of resp_servers: parallel to servers, addresses that parse, none reused. */
export function respServersProblems(servers: readonly string[], respServers: readonly string[] | undefined): string[] {
  if (respServers === undefined) return [];
  const problems: string[] = [];
  if (respServers.length !== servers.length) {
    problems.push(`resp_servers lists ${respServers.length} addresses but servers lists ${servers.length}; give one per server, in the same order`);
  }
  const seen = new Set<string>();
  for (const address of respServers) {
    try {
      parseAddress(address);
    } catch (error) {
      problems.push(`resp_servers: ${(error as Error).message}`);
    }
    if (seen.has(address)) problems.push(`resp_servers: ${address} is listed twice`);
    if (servers.includes(address)) problems.push(`resp_servers: ${address} is also a node's gRPC address in servers`);
    seen.add(address);
  }
  return problems;
}

/** The RESP address of the node at `address`; null: no RESP port. */
export function respAddress(settings: RespSettings, address: string): string | null {
  const index = settings.servers.indexOf(address);
  let chosen: string | null = null;
  if (settings.respPort !== undefined) chosen = settings.respPort === 0 ? null : `${parseAddress(address).host}:${settings.respPort}`;
  else if (settings.respServers !== undefined && index >= 0) chosen = settings.respServers[index];
  if (chosen !== null && chosen === address) {
    throw new ConfigError(`the RESP port of ${address} would be its gRPC port; set resp_port or resp_servers to another port`);
  }
  return chosen;
}

/** Every configured node's RESP address as startAll starts them (defaults: `basePort` + index). */
export function respAddresses(settings: RespSettings, basePort: number): Array<string | null> {
  if (settings.respPort !== undefined && settings.respPort !== 0 && settings.servers.length > 1) {
    throw new ConfigError(
      `resp_port ${settings.respPort} names one node's RESP port, but ${settings.servers.length} nodes start here; give resp_servers (one per server), leave both out for the defaults (${basePort}+i), or 0 to turn the RESP ports off`,
    );
  }
  if (settings.respPort !== undefined || settings.respServers !== undefined) return settings.servers.map((address) => respAddress(settings, address));
  const defaults = settings.servers.map((address, index) => `${parseAddress(address).host}:${basePort + index}`);
  return settings.servers.map((address) => respAddress({ servers: settings.servers, respServers: defaults }, address));
}

/** The resp fields startAll hands its children so each starts exactly the RESP port it printed. */
export function childRespSettings(addresses: ReadonlyArray<string | null>): { respPort?: number; respServers?: string[] } {
  const on = addresses.filter((address): address is string => address !== null);
  // respAddresses turns every node's port on, or every node's off.
  assert.ok(on.length === 0 || on.length === addresses.length, "RESP ports partly on");
  return on.length === 0 ? { respPort: 0, respServers: undefined } : { respPort: undefined, respServers: on };
}
