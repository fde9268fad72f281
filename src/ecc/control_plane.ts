// ViewControlPlane: the ecc servers' agreement on views. All n configured servers run the
// project's own RaftCore as a small control plane whose log holds only views (view.ts);
// each server applies committed views in order, so every server sees the same sequence of
// epochs. A view is proposed only by the Raft leader (failure detector, join, promote),
// one at a time, each with epoch = current + 1; an entry whose epoch is not current + 1 (a
// stale proposal from an old leader) is skipped on apply, the same way everywhere.
//
// Why Raft and not heartbeats each node judges alone (the original's way): under a
// partition two sides could each decide the other is dead and serve diverging data; a
// view needs a majority of the n servers, and because k > n/2 any view's members
// intersect every majority.
//
// The control log is persisted (DiskRaftStorage, fsync always: views are rare) under
// data_dir, so a restarted server keeps its term and vote, which Raft's safety needs, even
// though its shards (memory) are gone.
import path from "node:path";
import { ChannelCredentials, Server } from "@grpc/grpc-js";
import { SeededRandom } from "../core/env";
import { NotLeaderError, UnavailableError, errorMessage } from "../core/errors";
import { Logger } from "../core/logger";
import { RAFT_CONFIG_DEFAULTS, RaftCore, RaftReady } from "../raft/core";
import { RaftDriver, RaftHost } from "../raft/driver";
import { DiskRaftStorage } from "../raft/disk_storage";
import { RaftPeerTransport } from "../raft/peer_transport";
import { AuthToken } from "../core/auth_token";
import { LogEntry, RaftMessage, Snapshot } from "../raft/types";
import { nodeDataDir } from "../core/data_dir";
import { View, ViewStateMachine, decodeView, initialView } from "./view";

/** Compact the control log after this many views (each entry is a few dozen bytes). */
const CONTROL_SNAPSHOT_ENTRIES = 1_000;
const PROPOSAL_TIMEOUT_MS = 5_000;

export interface ControlPlaneOptions {
  id: string;
  servers: readonly string[];
  dataShards: number;
  dataDir: string;
  heartbeatTimeoutMs: number;
  logger: Logger;
  /** How the control plane dials its peers (TLS or plaintext: src/transport/tls.ts). */
  credentials: ChannelCredentials;
  onView: (view: View, previous: View) => void;
  /** The cluster's token, sent to the other members (src/transport/auth.ts); null: none. */
  auth?: AuthToken | null;
}

export class ViewControlPlane implements RaftHost {
  readonly hadPersistedState: boolean;
  private readonly core: RaftCore;
  private readonly driver: RaftDriver;
  private readonly storage: DiskRaftStorage;
  private readonly transport: RaftPeerTransport;
  private readonly tickMs: number;
  private readonly views: ViewStateMachine;
  private tickTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private stopped = false;
  private proposing: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ControlPlaneOptions) {
    this.storage = new DiskRaftStorage(path.join(nodeDataDir(options.dataDir, options.id), "control"), "always");
    const stored = this.storage.view();
    this.hadPersistedState = stored.hardState !== null || stored.snapshot !== null || stored.entries.length > 0;
    const initial = stored.snapshot !== null && stored.snapshot.data.byteLength > 0 ? decodeView(stored.snapshot.data) : initialView(options.servers.length);
    this.views = new ViewStateMachine(initial, options.servers.length, options.dataShards, (view, previous) => {
      options.logger.info("ec.view_changed", { epoch: view.epoch, members: view.members, recovering: view.recovering });
      options.onView(view, previous);
    });
    // Ticks scale with the failure-detection timeout so elections fit inside it.
    this.tickMs = Math.max(5, Math.min(50, Math.floor(options.heartbeatTimeoutMs / 20)));
    this.core = new RaftCore(
      {
        ...RAFT_CONFIG_DEFAULTS,
        id: options.id,
        voters: [...options.servers],
        electionTicks: 10,
        heartbeatTicks: 2,
        random: new SeededRandom(Date.now() ^ (process.pid << 8)),
        logger: options.logger,
      },
      stored,
    );
    this.driver = new RaftDriver(this.core, this, {
      snapshotEntries: CONTROL_SNAPSHOT_ENTRIES,
      appliedIndex: stored.snapshot?.meta.lastIndex ?? 0,
    });
    this.transport = new RaftPeerTransport(options.id, options.logger, undefined, options.auth ?? null, options.credentials);
  }

  register(server: Server): void {
    this.transport.register(server, (messages) => {
      if (this.stopped) return;
      for (const message of messages) this.core.step(message);
      this.schedule();
    });
  }

  start(): void {
    this.tickTimer = setInterval(() => {
      this.core.tick();
      this.schedule();
    }, this.tickMs);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.transport.close();
    this.driver.failAll("node stopping");
    this.storage.close();
  }

  view(): View {
    return this.views.view();
  }

  isLeader(): boolean {
    return this.core.status().role === "leader";
  }

  leaderAddress(): string {
    return this.core.status().leaderId ?? "";
  }

  /**
   * Proposes the view `make(current)` (null: nothing to change) and resolves with the view
   * in force once it is applied here. Proposals are serialised on this node, so each is
   * computed from the view left by the previous one.
   */
  change(make: (current: View) => View | null): Promise<View> {
    const run = async (): Promise<View> => {
      const proposal = this.views.proposal(make);
      if (proposal === null) return this.views.view();
      const next = proposal.view;
      if (!this.isLeader()) throw new NotLeaderError(this.leaderAddress() || null);
      await new Promise<void>((resolve, reject) => {
        let settled = false;
        const timer = setTimeout(() => {
          settled = true;
          reject(new UnavailableError(`view ${next.epoch} not committed within ${PROPOSAL_TIMEOUT_MS} ms`));
        }, PROPOSAL_TIMEOUT_MS);
        this.driver.propose(proposal.data, (outcome) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          if (outcome.ok) resolve();
          else reject(new NotLeaderError(outcome.leaderHint, outcome.reason));
        });
        this.schedule();
      });
      return this.views.view();
    };
    const result = this.proposing.then(run, run);
    this.proposing = result.catch(() => undefined);
    return result;
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped) return;
      try {
        this.driver.process();
      } catch (error) {
        this.options.logger.error("ec.control_plane_failed", { message: errorMessage(error) });
        throw error;
      }
    });
  }

  // ------------------------------------------------- RaftHost: called by the driver only

  persist(ready: RaftReady): void {
    this.storage.persist(ready);
  }

  send(messages: readonly RaftMessage[]): void {
    this.transport.send(messages);
  }

  restore(snapshot: Snapshot): void {
    this.views.restore(snapshot.data);
  }

  apply(entry: LogEntry): void {
    if (entry.type !== "command") return;
    if (!this.views.apply(entry)) this.options.logger.info("ec.view_entry_skipped", { index: entry.index });
  }

  compact(appliedIndex: number): void {
    const snapshot = this.core.compact(appliedIndex, this.views.snapshot());
    const log = this.core.logView();
    const remaining: LogEntry[] = [];
    for (let i = appliedIndex + 1; i <= log.lastIndex(); i++) remaining.push(log.entry(i));
    this.storage.compact(snapshot, remaining);
  }

}
