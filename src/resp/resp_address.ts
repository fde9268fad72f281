// Where each node's RESP (Redis protocol) port listens: the rule of every front door
// (src/frontdoor/node_ports.ts), with the RESP port's fields and base ports:
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
import { FieldRules } from "../core/flat_config";
import { FrontDoor, childDoorSettings, doorAddress, doorAddresses, doorFieldRules, doorServersProblems } from "../frontdoor/node_ports";

export const ECC_RESP_BASE_PORT = 6379;
export const RAFT_RESP_BASE_PORT = 6390;

const RESP_DOOR: FrontDoor = { portField: "resp_port", serversField: "resp_servers", portName: "the RESP port", portsName: "RESP ports" };

/** The config-file fields (both modes), checked with the other flat fields. */
export const RESP_FIELD_RULES: FieldRules = doorFieldRules(RESP_DOOR);

export interface RespSettings {
  servers: readonly string[];
  respPort?: number;
  respServers?: readonly string[];
}

function door(settings: RespSettings): { servers: readonly string[]; port?: number; list?: readonly string[] } {
  return { servers: settings.servers, port: settings.respPort, list: settings.respServers };
}

/** Cross-field problems of resp_servers: parallel to servers, addresses that parse, none reused. */
export function respServersProblems(servers: readonly string[], respServers: readonly string[] | undefined): string[] {
  return doorServersProblems(RESP_DOOR, servers, respServers);
}

/** The RESP address of the node at `address`; null: no RESP port. */
export function respAddress(settings: RespSettings, address: string): string | null {
  return doorAddress(RESP_DOOR, door(settings), address);
}

/** Every configured node's RESP address as startAll starts them (defaults: `basePort` + index). */
export function respAddresses(settings: RespSettings, basePort: number): Array<string | null> {
  return doorAddresses(RESP_DOOR, door(settings), basePort);
}

/** The resp fields startAll hands its children so each starts exactly the RESP port it printed. */
export function childRespSettings(addresses: ReadonlyArray<string | null>): { respPort?: number; respServers?: string[] } {
  const { port, list } = childDoorSettings(RESP_DOOR, addresses);
  return { respPort: port, respServers: list };
}
