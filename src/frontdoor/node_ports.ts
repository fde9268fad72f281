// Where each node's front-door port listens (the HTTP admin port, the RESP port), one rule
// for every front door and both modes; admin_address.ts and src/resp/resp_address.ts name
// their fields and base ports and call this:
//   <door>_port     this node's port on its own host (startOne, e.g. one node per container);
//                   0 turns the port off. Given to startAll, only 0 is meaningful (off for
//                   every node): one port cannot serve several nodes, so any other value with
//                   more than one server is refused.
//   <door>_servers  host:port per node, parallel to servers (node i at <door>_servers[i]).
//   neither         startAll gives node i the door's base port + i on the node's host and
//                   hands its children the list it chose; a node started on its own (startOne
//                   by hand, the bench's, jepsen's and the tests' clusters, which pick their own
//                   free ports) has no such port unless told, so two such clusters on one
//                   machine never fight over fixed ports.
// Kept free of servers and libraries so the config code and the CLI can use it cheaply.
import assert from "node:assert/strict";
import { ConfigError } from "../core/errors";
import { parseAddress } from "../core/address";
import { FieldRules } from "../core/flat_config";
import { SERVERS_MAX } from "../core/limits";

export interface FrontDoor {
  /** Config field of one node's port, e.g. "http_port". */
  portField: string;
  /** Config field of the per-node list, e.g. "http_servers". */
  serversField: string;
  /** "the HTTP admin port", "the RESP port": what one node's port is called in messages. */
  portName: string;
  /** "admin ports", "RESP ports": the nodes' ports together. */
  portsName: string;
}

/** One door's settings as a config holds them. */
export interface DoorSettings {
  servers: readonly string[];
  port?: number;
  list?: readonly string[];
}

/** The config-file fields of a door, checked with the other flat fields. */
export function doorFieldRules(door: FrontDoor): FieldRules {
  return {
    [door.portField]: { kind: "integer", min: 0, max: 65535, optional: true },
    [door.serversField]: { kind: "strings", itemsMin: 1, itemsMax: SERVERS_MAX, optional: true },
  };
}

/** Cross-field problems of <door>_servers: parallel to servers, addresses that parse, none reused. */
export function doorServersProblems(door: FrontDoor, servers: readonly string[], list: readonly string[] | undefined): string[] {
  if (list === undefined) return [];
  const field = door.serversField;
  const problems: string[] = [];
  if (list.length !== servers.length) {
    problems.push(`${field} lists ${list.length} addresses but servers lists ${servers.length}; give one per server, in the same order`);
  }
  const seen = new Set<string>();
  for (const address of list) {
    try {
      parseAddress(address);
    } catch (error) {
      problems.push(`${field}: ${(error as Error).message}`);
    }
    if (seen.has(address)) problems.push(`${field}: ${address} is listed twice`);
    if (servers.includes(address)) problems.push(`${field}: ${address} is also a node's gRPC address in servers`);
    seen.add(address);
  }
  return problems;
}

/** The door's address of the node at `address`; null: it has no such port. */
export function doorAddress(door: FrontDoor, settings: DoorSettings, address: string): string | null {
  const index = settings.servers.indexOf(address);
  let chosen: string | null = null;
  if (settings.port !== undefined) chosen = settings.port === 0 ? null : `${parseAddress(address).host}:${settings.port}`;
  else if (settings.list !== undefined && index >= 0) chosen = settings.list[index];
  if (chosen !== null && chosen === address) {
    throw new ConfigError(`${door.portName} of ${address} would be its gRPC port; set ${door.portField} or ${door.serversField} to another port`);
  }
  return chosen;
}

/** Every configured node's door address as startAll starts them (defaults: `basePort` + index). */
export function doorAddresses(door: FrontDoor, settings: DoorSettings, basePort: number): Array<string | null> {
  if (settings.port !== undefined && settings.port !== 0 && settings.servers.length > 1) {
    const one = door.portsName.replace(/s$/, "");
    throw new ConfigError(
      `${door.portField} ${settings.port} names one node's ${one}, but ${settings.servers.length} nodes start here; give ${door.serversField} (one per server), leave both out for the defaults (${basePort}+i), or 0 to turn the ${door.portsName} off`,
    );
  }
  if (settings.port !== undefined || settings.list !== undefined) return settings.servers.map((address) => doorAddress(door, settings, address));
  const defaults = settings.servers.map((address, index) => `${parseAddress(address).host}:${basePort + index}`);
  return settings.servers.map((address) => doorAddress(door, { servers: settings.servers, list: defaults }, address));
}

/** The door's settings startAll hands its children so each starts exactly the port it printed. */
export function childDoorSettings(door: FrontDoor, addresses: ReadonlyArray<string | null>): { port?: number; list?: string[] } {
  const on = addresses.filter((address): address is string => address !== null);
  // doorAddresses turns every node's port on, or every node's off.
  assert.ok(on.length === 0 || on.length === addresses.length, `${door.portsName} partly on`);
  return on.length === 0 ? { port: 0, list: undefined } : { port: undefined, list: on };
}
