// Where each node's HTTP admin port listens, one rule for both modes (node_ports.ts holds it,
// for every front door):
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
import { FieldRules } from "../core/flat_config";
import { FrontDoor, childDoorSettings, doorAddress, doorAddresses, doorFieldRules, doorServersProblems } from "./node_ports";

export const ECC_HTTP_BASE_PORT = 9300;
export const RAFT_HTTP_BASE_PORT = 9400;

const HTTP_DOOR: FrontDoor = { portField: "http_port", serversField: "http_servers", portName: "the HTTP admin port", portsName: "admin ports" };

/** The config-file fields (both modes), checked with the other flat fields. */
export const HTTP_FIELD_RULES: FieldRules = doorFieldRules(HTTP_DOOR);

export interface HttpSettings {
  servers: readonly string[];
  httpPort?: number;
  httpServers?: readonly string[];
}

function door(settings: HttpSettings): { servers: readonly string[]; port?: number; list?: readonly string[] } {
  return { servers: settings.servers, port: settings.httpPort, list: settings.httpServers };
}

/** Cross-field problems of http_servers: parallel to servers, addresses that parse, none reused. */
export function httpServersProblems(servers: readonly string[], httpServers: readonly string[] | undefined): string[] {
  return doorServersProblems(HTTP_DOOR, servers, httpServers);
}

/** The admin address of the node at `address`; null: no admin port. */
export function adminHttpAddress(settings: HttpSettings, address: string): string | null {
  return doorAddress(HTTP_DOOR, door(settings), address);
}

/** Every configured node's admin address as startAll starts them (defaults: `basePort` + index). */
export function adminHttpAddresses(settings: HttpSettings, basePort: number): Array<string | null> {
  return doorAddresses(HTTP_DOOR, door(settings), basePort);
}

/** The http fields startAll hands its children so each starts exactly the admin port it printed. */
export function childHttpSettings(addresses: ReadonlyArray<string | null>): { httpPort?: number; httpServers?: string[] } {
  const { port, list } = childDoorSettings(HTTP_DOOR, addresses);
  return { httpPort: port, httpServers: list };
}
