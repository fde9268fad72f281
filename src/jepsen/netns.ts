// Real network partitions on this machine: every node runs in a network namespace of its own,
// created here and removed at the end.
//
// Layout (all names carry the runner's PID, so two runs never collide and leftovers of a
// killed run can be found):
//
//   root namespace (the runner and its clients)
//     veth j<pid>r  10.213.X.254/24 ──┐
//   namespace jepsen-<pid>-hub        │
//     bridge br0 ── j<pid>h (peer of j<pid>r) ── j<pid>b0 ... j<pid>b<n-1>
//   namespace jepsen-<pid>-n<i>       │
//     veth j<pid>n<i>  10.213.X.(i+1)/24 (peer of j<pid>b<i>), lo up
//
// The bridge lives in its own namespace, not in the root one: on a host where Docker runs,
// bridged traffic in the root namespace passes the host's iptables FORWARD chain
// (br_netfilter), whose policy is DROP. Only one interface is added to the root namespace,
// and it is deleted with the hub namespace (deleting one end of a veth pair deletes both).
//
// A partition cuts every node of one side off from every node of the other with iptables
// DROP rules on INPUT inside each node's namespace: packets vanish silently, as on a real
// broken link, so peers see timeouts, not refusals. Clients in the root namespace still
// reach every node (the usual Jepsen setting: the network between servers is what breaks).
import { execFile } from "node:child_process";
import { InvalidArgumentError, errorMessage } from "../core/errors";

const COMMAND_TIMEOUT_MS = 10_000;
export const NETNS_PREFIX = "jepsen-";
/** Port every node listens on: each has its own address, so they can share one. */
export const NETNS_NODE_PORT = 7000;

export class NetworkCommandError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NetworkCommandError";
  }
}

/** Runs a command to completion, bounded in time; rejects with its stderr on failure. */
export function runCommand(command: string, args: string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error !== null) {
        reject(new NetworkCommandError(`${command} ${args.join(" ")}: ${stderr.trim() || errorMessage(error)}`, { cause: error }));
        return;
      }
      resolve(stdout);
    });
  });
}

export interface NamespaceNetworkOptions {
  nodeCount: number;
  /** Owner tag; the runner's PID by default. */
  ownerPid?: number;
  /** Third octet of 10.213.X.0/24; picked from the PID (and skipping routes in use) by default. */
  subnetOctet?: number;
}

/** Checks that this process can create namespaces; the reason when it cannot. */
export async function namespaceSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.platform !== "linux") return { ok: false, reason: `network namespaces need Linux, this is ${process.platform}` };
  if (typeof process.getuid === "function" && process.getuid() !== 0) return { ok: false, reason: "network namespaces need root" };
  for (const [command, args] of [
    ["ip", ["-V"]],
    ["iptables", ["--version"]],
  ] as Array<[string, string[]]>) {
    try {
      await runCommand(command, args);
    } catch (error) {
      return { ok: false, reason: `${command} is not usable (${errorMessage(error)}); install iproute2 and iptables` };
    }
  }
  // Being root is not enough inside some containers (no CAP_SYS_ADMIN): try it for real.
  const probe = `${NETNS_PREFIX}${process.pid}-probe`;
  try {
    await runCommand("ip", ["netns", "add", probe]);
  } catch (error) {
    return { ok: false, reason: `cannot create a network namespace (${errorMessage(error)})` };
  }
  try {
    await runCommand("ip", ["netns", "exec", probe, "iptables", "-w", "5", "-S", "INPUT"]);
  } catch (error) {
    return { ok: false, reason: `iptables does not work inside a network namespace (${errorMessage(error)})` };
  } finally {
    await runCommand("ip", ["netns", "delete", probe]).catch(() => undefined); // best effort; named after our PID
  }
  return { ok: true };
}

export class NamespaceNetwork {
  readonly nodeCount: number;
  readonly tag: string;
  readonly subnetPrefix: string;
  private readonly hubNamespace: string;
  private readonly nodeNamespaces: string[];
  /** Active DROP rules as [namespace, source address], with multiplicity. */
  private readonly rules: Array<[string, string]> = [];
  private created = false;

  private constructor(nodeCount: number, ownerPid: number, subnetOctet: number) {
    this.nodeCount = nodeCount;
    this.tag = `j${ownerPid.toString(36)}`;
    this.subnetPrefix = `10.213.${subnetOctet}`;
    this.hubNamespace = `${NETNS_PREFIX}${ownerPid}-hub`;
    this.nodeNamespaces = Array.from({ length: nodeCount }, (_, index) => `${NETNS_PREFIX}${ownerPid}-n${index}`);
  }

  /** Creates the namespaces, the bridge and the links. On failure removes what it made. */
  static async create(options: NamespaceNetworkOptions): Promise<NamespaceNetwork> {
    const nodeCount = options.nodeCount;
    if (!Number.isSafeInteger(nodeCount) || nodeCount < 1 || nodeCount > 250) throw new InvalidArgumentError(`nodeCount must be 1..250, got ${nodeCount}`);
    const ownerPid = options.ownerPid ?? process.pid;
    const subnetOctet = options.subnetOctet ?? (await freeSubnetOctet(ownerPid));
    const network = new NamespaceNetwork(nodeCount, ownerPid, subnetOctet);
    try {
      await network.build();
    } catch (error) {
      await network.destroy();
      throw error;
    }
    return network;
  }

  /** Where node `index` listens. */
  nodeAddress(index: number): string {
    return `${this.subnetPrefix}.${index + 1}:${NETNS_NODE_PORT}`;
  }

  private nodeIp(index: number): string {
    return `${this.subnetPrefix}.${index + 1}`;
  }

  /** The command line that runs `command args` inside node `index`'s namespace (same PID). */
  wrap(index: number, command: string, args: string[]): { command: string; args: string[] } {
    return { command: "ip", args: ["netns", "exec", this.nodeNamespaces[index], command, ...args] };
  }

  namespaces(): string[] {
    return [this.hubNamespace, ...this.nodeNamespaces];
  }

  private async build(): Promise<void> {
    this.created = true;
    const hub = this.hubNamespace;
    await runCommand("ip", ["netns", "add", hub]);
    await runCommand("ip", ["-n", hub, "link", "set", "lo", "up"]);
    await runCommand("ip", ["-n", hub, "link", "add", "br0", "type", "bridge"]);
    await runCommand("ip", ["-n", hub, "link", "set", "br0", "up"]);
    // The root namespace's link into the hub.
    const rootLink = `${this.tag}r`;
    const rootPeer = `${this.tag}h`;
    await runCommand("ip", ["link", "add", rootLink, "type", "veth", "peer", "name", rootPeer]);
    await runCommand("ip", ["link", "set", rootPeer, "netns", hub]);
    await runCommand("ip", ["-n", hub, "link", "set", rootPeer, "master", "br0"]);
    await runCommand("ip", ["-n", hub, "link", "set", rootPeer, "up"]);
    await runCommand("ip", ["addr", "add", `${this.subnetPrefix}.254/24`, "dev", rootLink]);
    await runCommand("ip", ["link", "set", rootLink, "up"]);
    for (let index = 0; index < this.nodeCount; index++) {
      const namespace = this.nodeNamespaces[index];
      const nodeLink = `${this.tag}n${index}`;
      const hubLink = `${this.tag}b${index}`;
      await runCommand("ip", ["netns", "add", namespace]);
      await runCommand("ip", ["-n", namespace, "link", "set", "lo", "up"]);
      await runCommand("ip", ["link", "add", nodeLink, "type", "veth", "peer", "name", hubLink]);
      await runCommand("ip", ["link", "set", nodeLink, "netns", namespace]);
      await runCommand("ip", ["link", "set", hubLink, "netns", hub]);
      await runCommand("ip", ["-n", hub, "link", "set", hubLink, "master", "br0"]);
      await runCommand("ip", ["-n", hub, "link", "set", hubLink, "up"]);
      await runCommand("ip", ["-n", namespace, "addr", "add", `${this.nodeIp(index)}/24`, "dev", nodeLink]);
      await runCommand("ip", ["-n", namespace, "link", "set", nodeLink, "up"]);
    }
  }

  /**
   * Cuts `side` off from every other node, in both directions. Partitions compose: two calls
   * with disjoint sides isolate each side from everyone else.
   */
  async partition(side: readonly number[]): Promise<void> {
    for (const inside of side) {
      for (let outside = 0; outside < this.nodeCount; outside++) {
        if (side.includes(outside)) continue;
        await this.addDrop(this.nodeNamespaces[inside], this.nodeIp(outside));
        await this.addDrop(this.nodeNamespaces[outside], this.nodeIp(inside));
      }
    }
  }

  /** Undoes exactly one earlier partition(side). */
  async heal(side: readonly number[]): Promise<void> {
    for (const inside of side) {
      for (let outside = 0; outside < this.nodeCount; outside++) {
        if (side.includes(outside)) continue;
        await this.removeDrop(this.nodeNamespaces[inside], this.nodeIp(outside));
        await this.removeDrop(this.nodeNamespaces[outside], this.nodeIp(inside));
      }
    }
  }

  /** Removes every DROP rule this object added. */
  async healAll(): Promise<void> {
    while (this.rules.length > 0) {
      const [namespace, source] = this.rules[this.rules.length - 1];
      await this.removeDrop(namespace, source);
    }
  }

  get activeRuleCount(): number {
    return this.rules.length;
  }

  private async addDrop(namespace: string, source: string): Promise<void> {
    await runCommand("ip", ["netns", "exec", namespace, "iptables", "-w", "5", "-A", "INPUT", "-s", source, "-j", "DROP"]);
    this.rules.push([namespace, source]);
  }

  private async removeDrop(namespace: string, source: string): Promise<void> {
    const position = this.rules.findIndex(([ruleNamespace, ruleSource]) => ruleNamespace === namespace && ruleSource === source);
    if (position < 0) return;
    await runCommand("ip", ["netns", "exec", namespace, "iptables", "-w", "5", "-D", "INPUT", "-s", source, "-j", "DROP"]);
    this.rules.splice(position, 1);
  }

  /**
   * Deletes every namespace (and with them the bridge and every veth, the root link too).
   * Call only after every process inside has exited: a namespace with a live process outlives
   * its name. Never throws; returns the problems it met.
   */
  async destroy(): Promise<string[]> {
    if (!this.created) return [];
    const problems: string[] = [];
    for (const namespace of [...this.nodeNamespaces, this.hubNamespace]) {
      try {
        await runCommand("ip", ["netns", "delete", namespace]);
      } catch (error) {
        // Missing is fine (a failed build may not have made it); anything else is reported.
        if (!/No such file|Cannot remove namespace file/.test(errorMessage(error))) problems.push(errorMessage(error));
      }
    }
    try {
      await runCommand("ip", ["link", "delete", `${this.tag}r`]);
    } catch {
      // Expected: the root link went away with its peer in the hub namespace.
    }
    this.rules.length = 0;
    this.created = false;
    return problems;
  }
}

/** A free 10.213.X.0/24: derived from the PID, skipping any X with a route already. */
async function freeSubnetOctet(ownerPid: number): Promise<number> {
  const routes = await runCommand("ip", ["-o", "-4", "route", "show", "table", "all"]).catch(() => "");
  for (let attempt = 0; attempt < 250; attempt++) {
    const octet = 1 + ((ownerPid + attempt) % 250);
    if (!routes.includes(`10.213.${octet}.`)) return octet;
  }
  throw new NetworkCommandError("no free 10.213.X.0/24 subnet");
}

/**
 * Namespaces left by runs whose runner died (SIGKILL): `jepsen-<pid>-...` whose PID is no
 * longer alive. Deleting them is a separate, explicit step (--cleanup-netns): a PID that is
 * gone here may belong to another PID namespace, so this never happens by itself.
 */
export async function staleNamespaces(): Promise<string[]> {
  const listing = await runCommand("ip", ["netns", "list"]).catch(() => "");
  const stale: string[] = [];
  for (const line of listing.split("\n")) {
    const name = line.trim().split(/\s+/)[0];
    const match = /^jepsen-(\d+)-(hub|probe|n\d+)$/.exec(name ?? "");
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === process.pid) continue;
    if (!processAlive(pid)) stale.push(name);
  }
  return stale;
}

export async function deleteNamespaces(names: readonly string[]): Promise<void> {
  for (const name of names) await runCommand("ip", ["netns", "delete", name]);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
