// Bench target `etcd`: a Raft-replicated KV store to compare against, from Debian's
// etcd-server package. The bench starts `nodes` members (default 3) on loopback, each with
// its own data directory in the run's temporary directory, with --unsafe-no-fsync (a cache
// keeps nothing on disk worth an fsync; without it etcd's latency is the disk's). The client
// speaks the etcd v3 gRPC API (etcd/client.ts).
//
// Logical bytes: etcd has no exact count of live user bytes; the bench records each member's
// Maintenance.Status dbSizeInUse (bytes of its bbolt file in use: every key *revision*
// not yet compacted, plus bbolt's page overhead). etcd keeps the history of every update
// until compaction, which the default config never runs during a short benchmark: that is
// part of what etcd costs, and the report says so.
//
// Parameters: nodes (1..7), binary (path of etcd; default: `etcd` on PATH).
import { spawnSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { InvalidArgumentError } from "../core/errors";
import { EtcdClient } from "./etcd/client";
import { sleep } from "../core/env";
import { LocalCluster, LocalFaults } from "./local_cluster";
import { BenchClient, BenchTarget, ClusterHandle, NodeInfo, NodeStats, TargetContext, TargetParams, checkParamNames, intParam } from "./target";

const PARAMS = ["nodes", "binary"] as const;
const CLUSTER_READY_TIMEOUT_MS = 30_000;

export function binaryVersion(binary: string, args: string[], pattern: RegExp): string | null {
  const result = spawnSync(binary, args, { encoding: "utf8", timeout: 5_000 });
  if (result.error !== undefined || result.status !== 0) return null;
  const match = pattern.exec(`${result.stdout}\n${result.stderr}`);
  return match === null ? "unknown" : match[1];
}

export function tcpReachable(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export const etcdTarget: BenchTarget = {
  kind: "etcd",
  description: "etcd 3 (Raft, full replication) from Debian's etcd-server; started on loopback with --unsafe-no-fsync (params nodes, binary)",

  async unavailableReason(params: TargetParams): Promise<string | null> {
    const binary = params.binary ?? "etcd";
    return binaryVersion(binary, ["--version"], /etcd Version:\s*(\S+)/) === null
      ? `etcd binary '${binary}' not found or not runnable (Debian: apt-get install -y etcd-server etcd-client)`
      : null;
  },

  label(params: TargetParams): string {
    return `etcd(${intParam(params, "nodes", 3, 1, 7)})`;
  },

  validate(params: TargetParams): void {
    checkParamNames("etcd", params, PARAMS);
    intParam(params, "nodes", 3, 1, 7);
  },

  async start(context: TargetContext): Promise<ClusterHandle> {
    const { params } = context;
    this.validate(params);
    const count = intParam(params, "nodes", 3, 1, 7);
    const binary = params.binary ?? "etcd";
    const version = binaryVersion(binary, ["--version"], /etcd Version:\s*(\S+)/) ?? "unknown";
    if (context.servers !== null) {
      const client = new EtcdClient(context.servers);
      return new EtcdCluster(context.servers.map((address, index) => ({ name: `node${index}`, address })), null, client, true, version);
    }
    const ports = await context.ports(2 * count);
    const members = Array.from({ length: count }, (_, index) => ({
      name: `node${index}`,
      clientPort: ports[2 * index],
      peerPort: ports[2 * index + 1],
    }));
    const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(",");
    const token = `ecc-cache-bench-${process.pid}-${Date.now()}`;
    const cluster = new LocalCluster(
      members.map((member) => ({
        name: member.name,
        address: `127.0.0.1:${member.clientPort}`,
        role: "member",
        command: binary,
        args: [
          "--name", member.name,
          "--data-dir", path.join(context.workDir, `etcd-${member.name}`),
          "--listen-client-urls", `http://127.0.0.1:${member.clientPort}`,
          "--advertise-client-urls", `http://127.0.0.1:${member.clientPort}`,
          "--listen-peer-urls", `http://127.0.0.1:${member.peerPort}`,
          "--initial-advertise-peer-urls", `http://127.0.0.1:${member.peerPort}`,
          "--initial-cluster", initialCluster,
          "--initial-cluster-state", "new",
          "--initial-cluster-token", token,
          "--unsafe-no-fsync",
          "--logger", "zap",
          "--log-level", "warn",
        ],
        // A member answers TCP before the cluster has a leader; cluster readiness is checked below.
        readyProbe: () => tcpReachable("127.0.0.1", member.clientPort),
      })),
      context.launcher,
      { onUnexpectedExit: (node, code, signal) => context.log(`etcd ${node} exited unexpectedly (${signal ?? code})`) },
    );
    await cluster.startAll();
    const client = new EtcdClient(members.map((m) => `127.0.0.1:${m.clientPort}`));
    const handle = new EtcdCluster(
      members.map((m) => ({ name: m.name, address: `127.0.0.1:${m.clientPort}` })),
      cluster,
      client,
      false,
      version,
    );
    try {
      await handle.waitForLeader(CLUSTER_READY_TIMEOUT_MS);
    } catch (error) {
      await handle.stop();
      throw error;
    }
    return handle;
  },
};

class EtcdCluster extends LocalFaults implements ClusterHandle {
  readonly kind = "etcd";
  readonly label: string;
  readonly idealOverhead: number;
  readonly logicalSource = "etcd Maintenance.Status dbSizeInUse: bbolt bytes in use, every uncompacted revision (not exact live bytes)";
  readonly params: Record<string, string | number | boolean>;
  private readonly clients: EtcdClient[] = [];
  private stopped = false;

  constructor(
    private readonly members: Array<{ name: string; address: string }>,
    cluster: LocalCluster | null,
    private readonly statsClient: EtcdClient,
    readonly attached: boolean,
    version: string,
  ) {
    super(cluster);
    this.label = `etcd(${members.length})`;
    this.idealOverhead = members.length;
    this.params = { nodes: members.length, version, unsafeNoFsync: !attached };
  }

  nodes(): NodeInfo[] {
    if (this.cluster !== null) return this.cluster.nodes();
    return this.members.map((m) => ({ name: m.name, address: m.address, pid: null, running: true, paused: false, role: "member" }));
  }

  async waitForLeader(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last = "";
    while (performance.now() < deadline) {
      try {
        const statuses = await Promise.all(this.members.map((_, index) => this.statsClient.status(index, 1_000)));
        if (statuses.every((s) => s.leader !== "0" && s.leader === statuses[0].leader)) return;
        last = `leaders seen: ${statuses.map((s) => s.leader).join(", ")}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`etcd cluster has no leader after ${timeoutMs} ms (${last})`);
  }

  async connect(): Promise<BenchClient> {
    const client = new EtcdClient(this.members.map((m) => m.address));
    this.clients.push(client);
    return {
      get: (key) => client.get(key),
      set: (key, value) => client.set(key, value),
      del: (key) => client.del(key),
      close: async () => client.close(),
    };
  }

  async stats(): Promise<Array<NodeStats | null>> {
    return Promise.all(
      this.members.map(async (_, index) => {
        try {
          const [status, keyCount] = await Promise.all([this.statsClient.status(index, 1_000), this.statsClient.countKeys(index)]);
          return { logicalBytes: status.dbSizeInUse, keyCount, extra: { dbSizeBytes: status.dbSize, raftIndex: status.raftIndex } };
        } catch {
          return null; // unreachable (killed, paused): recorded as a gap
        }
      }),
    );
  }


  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const client of this.clients) client.close();
    this.statsClient.close();
    if (this.cluster !== null) await this.cluster.stop();
  }

}
