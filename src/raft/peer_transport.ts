// Raft peer messaging over gRPC, shared by raft mode (node.ts) and ecc mode's view control
// plane: two client-streaming Deliver calls per peer for outgoing messages; incoming ones
// are decoded (snapshots and large appends reassembled) and handed to a callback.
//
// Why two streams: messages on one stream arrive in order, so a heartbeat written after a
// 64 MiB append reached the follower only after the whole append did, and the follower
// started an election meanwhile. The data stream carries AppendEntries with entries and
// snapshots, in pieces (wire.ts), written only while fewer than DATA_WINDOW_BYTES of them are
// on their way (the leader paces large appends); the control stream carries everything else
// at once. HTTP/2 interleaves the two streams' frames on the peer's one connection.
//
// Each stream names its recipient (RECIPIENT_HEADER) and a node refuses a stream meant for
// another with FAILED_PRECONDITION. The sender then dials anew: a healthy connection never
// resolves the peer's name again, so when a peer is replaced and another node took over its
// old address (a container restarted on a network that handed its IP to another one), the
// old connection would carry its messages to the wrong node forever, and they would be
// dropped there unheard.
import { ChannelCredentials, ClientWritableStream, Metadata, Server, ServerReadableStream, ServiceError, credentials, sendUnaryData, status } from "@grpc/grpc-js";
import { peerCallProblem } from "../transport/tls";
import { DeliverSummary, PeerBatch, PeerMessage, RaftPeerClient, RaftPeerService } from "../gen/raft";
import { errorMessage } from "../core/errors";
import { Logger } from "../core/logger";
import { RAFT_CHANNEL_OPTIONS } from "../transport/grpc_options";
import { RaftMessage } from "./types";
import type { NodeMetricsSink } from "../frontdoor/metrics";
import { grpcCodeName } from "../transport/status";
import { MessageAssembler, malformedMessage, toWire } from "./wire";
import { AuthToken } from "../core/auth_token";
import { authClientInterceptors } from "../transport/auth";
import { Redialer } from "../transport/redialer";

/** Control messages queued on one peer stream beyond which more are dropped (Raft resends). */
const CONTROL_QUEUE_MESSAGES_MAX = 10_000;
/** Data bytes written to the data stream and not yet handed to the connection, at most. */
const DATA_WINDOW_BYTES = 4 * 1024 * 1024;
/**
 * Data bytes waiting to be written, at most; a message that would go beyond is dropped
 * (Raft resends), except that one message of any size is taken when nothing waits.
 */
const DATA_QUEUE_BYTES_MAX = 64 * 1024 * 1024;
/** The stream's intended recipient (its Raft id), checked by the receiving node. */
const RECIPIENT_HEADER = "x-raft-recipient";
/** A sender dials a peer anew at most this often after a refusal for a wrong recipient. */
const REDIAL_INTERVAL_MS = 500;
/** Per-message framing counted on top of its payload. */
const MESSAGE_OVERHEAD_BYTES = 64;

/** Messages that go on the data stream: appends carrying entries, and snapshot pieces. */
function isData(message: RaftMessage): boolean {
  return (message.type === "AppendEntries" && message.entries.length > 0) || message.type === "InstallSnapshot";
}

function wireBytes(message: PeerMessage): number {
  const body = message.body;
  if (body === undefined) return MESSAGE_OVERHEAD_BYTES;
  switch (body.$case) {
    case "appendEntries":
      return MESSAGE_OVERHEAD_BYTES + body.value.entries.reduce((sum, entry) => sum + entry.data.length + MESSAGE_OVERHEAD_BYTES, 0);
    case "appendChunk":
    case "snapshotChunk":
      return MESSAGE_OVERHEAD_BYTES + body.value.data.length;
    default:
      return MESSAGE_OVERHEAD_BYTES;
  }
}

interface QueuedBatch {
  batch: PeerBatch;
  bytes: number;
}

class PeerSender {
  private control: ClientWritableStream<PeerBatch> | null = null;
  private data: ClientWritableStream<PeerBatch> | null = null;
  private readonly peer: Redialer<InstanceType<typeof RaftPeerClient>>;
  /** The recipient header of every stream (built here: an address no header can carry throws now, not later). */
  private readonly recipient = new Metadata();
  /** Data batches waiting for room in the window, in order; a large message is several. */
  private dataQueue: QueuedBatch[] = [];
  private dataQueuedBytes = 0;
  /** Bytes written on the current data stream whose write has not completed. */
  private dataInFlightBytes = 0;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly logger: Logger,
    private readonly metrics: Pick<NodeMetricsSink, "grpcError"> | undefined,
    auth: AuthToken | null,
    channelCredentials: ChannelCredentials,
  ) {
    this.recipient.set(RECIPIENT_HEADER, address);
    this.peer = new Redialer(() => new RaftPeerClient(address, channelCredentials, { ...RAFT_CHANNEL_OPTIONS, interceptors: authClientInterceptors(auth) }), REDIAL_INTERVAL_MS);
  }

  /**
   * The node at the other end is not `address` (see the header comment): drop the streams
   * and dial again, which resolves the name again (at most every REDIAL_INTERVAL_MS).
   */
  private redial(): void {
    if (this.closed) return;
    if (this.peer.redial()) this.dropStreams();
  }

  /** Ends both streams and forgets what waited to be sent on them (Raft resends). */
  private dropStreams(): void {
    this.control?.end();
    this.data?.end();
    this.control = null;
    this.data = null;
    this.dataQueue = [];
    this.dataQueuedBytes = 0;
    this.dataInFlightBytes = 0;
  }

  send(messages: readonly RaftMessage[]): void {
    const control: PeerMessage[] = [];
    let dataGroup: PeerMessage[] = [];
    let dataGroupBytes = 0;
    const flushGroup = (): void => {
      if (dataGroup.length > 0) this.enqueueData([{ batch: { messages: dataGroup }, bytes: dataGroupBytes }]);
      dataGroup = [];
      dataGroupBytes = 0;
    };
    for (const message of messages) {
      const wire = toWire(message);
      if (!isData(message)) {
        control.push(...wire);
        continue;
      }
      if (wire.length === 1) {
        // Small appends of one ready travel together in one batch.
        dataGroup.push(wire[0]);
        dataGroupBytes += wireBytes(wire[0]);
        continue;
      }
      flushGroup();
      this.enqueueData(wire.map((piece) => ({ batch: { messages: [piece] }, bytes: wireBytes(piece) })));
    }
    flushGroup();
    if (control.length > 0) {
      const stream = this.controlStream();
      // The peer is not keeping up (or is gone): drop; Raft retransmits what matters.
      if (stream.writableLength < CONTROL_QUEUE_MESSAGES_MAX) stream.write({ messages: control });
    }
    this.pumpData();
  }

  close(): void {
    this.closed = true;
    this.dropStreams();
    this.peer.close();
  }

  /** Queues one message's batches, all or nothing. */
  private enqueueData(batches: QueuedBatch[]): void {
    const bytes = batches.reduce((sum, queued) => sum + queued.bytes, 0);
    if (this.dataQueue.length > 0 && this.dataQueuedBytes + bytes > DATA_QUEUE_BYTES_MAX) return; // Raft resends
    this.dataQueue.push(...batches);
    this.dataQueuedBytes += bytes;
  }

  /** Writes queued data while the window has room; called again as writes complete. */
  private pumpData(): void {
    while (!this.closed && this.dataQueue.length > 0 && this.dataInFlightBytes < DATA_WINDOW_BYTES) {
      const queued = this.dataQueue.shift() as QueuedBatch;
      this.dataQueuedBytes -= queued.bytes;
      const stream = this.dataStream();
      this.dataInFlightBytes += queued.bytes;
      stream.write(queued.batch, () => {
        if (this.data !== stream) return; // a stream that broke: its accounting was reset
        this.dataInFlightBytes -= queued.bytes;
        this.pumpData();
      });
    }
  }

  private controlStream(): ClientWritableStream<PeerBatch> {
    if (this.control === null) this.control = this.open("control", (stream) => {
        if (this.control === stream) this.control = null;
      });
    return this.control;
  }

  private dataStream(): ClientWritableStream<PeerBatch> {
    if (this.data === null) {
      this.dataInFlightBytes = 0;
      this.data = this.open("data", (stream) => {
        if (this.data !== stream) return; // an older stream, already replaced (redial)
        // What was queued behind a broken stream is dropped with it: Raft resends.
        this.data = null;
        this.dataQueue = [];
        this.dataQueuedBytes = 0;
        this.dataInFlightBytes = 0;
      });
    }
    return this.data;
  }

  private open(kind: "control" | "data", onBroken: (stream: ClientWritableStream<PeerBatch>) => void): ClientWritableStream<PeerBatch> {
    let current = true;
    const broken = (): void => {
      if (!current) return;
      current = false;
      onBroken(stream);
    };
    const stream = this.peer.client.deliver(this.recipient.clone(), (error: ServiceError | null) => {
      broken();
      if (error !== null) {
        this.metrics?.grpcError(grpcCodeName(error));
        if (error.code === status.FAILED_PRECONDITION) {
          this.logger.info("raft.peer_redial", { peer: this.address, message: errorMessage(error) });
          this.redial();
        } else {
          this.logger.debug("raft.peer_stream_closed", { peer: this.address, stream: kind, message: errorMessage(error) });
        }
      }
    });
    stream.on("error", broken);
    return stream;
  }
}

export class RaftPeerTransport {
  private readonly peers = new Map<string, PeerSender>();
  private readonly assembler = new MessageAssembler();
  private closed = false;
  private malformedDropped = 0;
  private malformedLoggedMs = -Infinity;

  constructor(
    private readonly selfId: string,
    private readonly logger: Logger,
    /** Told of failed peer streams, for /metrics (src/frontdoor/metrics.ts). */
    private readonly metrics?: Pick<NodeMetricsSink, "grpcError">,
    /** The cluster's token, sent on every peer stream (src/transport/auth.ts); null: none. */
    private readonly auth: AuthToken | null = null,
    /** How peers are dialled: plaintext unless given (src/transport/tls.ts). */
    private readonly channelCredentials: ChannelCredentials = credentials.createInsecure(),
  ) {}

  /** Adds the RaftPeer service to `server`; `onMessages` gets each batch of decoded messages. */
  register(server: Server, onMessages: (messages: RaftMessage[]) => void): void {
    server.addService(RaftPeerService, {
      deliver: (call: ServerReadableStream<PeerBatch, DeliverSummary>, callback: sendUnaryData<DeliverSummary>) => {
        // A client of the cluster (its certificate is from the cluster CA too) cannot forge
        // votes, entries or views: the peer service takes calls from node certificates only.
        const refused = peerCallProblem(call.getAuthContext());
        if (refused !== null) {
          this.logger.warn("raft.peer_refused", { peer: call.getPeer(), reason: refused });
          callback({ code: status.PERMISSION_DENIED, details: refused });
          return;
        }
        const recipient = call.metadata.get(RECIPIENT_HEADER)[0];
        if (recipient !== undefined && String(recipient) !== this.selfId) {
          callback({ code: status.FAILED_PRECONDITION, details: `this is node ${this.selfId}, not ${String(recipient).slice(0, 64)}` });
          return;
        }
        // Headers right away: until a client-streaming call hears from the server, gRPC-js
        // keeps every message written on it (for a retry, up to 256 KiB of them), and each
        // kept message pins the 8 KiB pool slab it was encoded into. Headers commit the
        // call, and sent messages are then let go.
        call.sendMetadata(new Metadata());
        call.on("data", (batch: PeerBatch) => {
          if (this.closed) return;
          const messages: RaftMessage[] = [];
          for (const wire of batch.messages) {
            if (wire.to !== this.selfId || wire.from === "" || wire.from === this.selfId) continue; // not for us
            const message = this.assembler.fromWire(wire);
            if (message === null) continue;
            const malformed = malformedMessage(message);
            if (malformed !== null) {
              this.noteMalformed(wire.from, message.type, malformed);
              continue;
            }
            messages.push(message);
          }
          if (messages.length > 0) onMessages(messages);
        });
        call.on("end", () => callback(null, {}));
        call.on("error", () => undefined); // the sender went away; it reconnects when it can
      },
    });
  }

  /** Logs a dropped malformed message, at most once a second (a flood must not flood the log). */
  private noteMalformed(from: string, type: string, reason: string): void {
    this.malformedDropped++;
    const nowMs = performance.now();
    if (nowMs - this.malformedLoggedMs < 1_000) return;
    this.malformedLoggedMs = nowMs;
    this.logger.warn("raft.peer_message_malformed", { from: JSON.stringify(from.slice(0, 64)), type, reason, dropped: this.malformedDropped });
  }

  send(messages: readonly RaftMessage[]): void {
    if (messages.length === 0 || this.closed) return;
    const byPeer = new Map<string, RaftMessage[]>();
    for (const message of messages) {
      let list = byPeer.get(message.to);
      if (list === undefined) {
        list = [];
        byPeer.set(message.to, list);
      }
      list.push(message);
    }
    for (const [to, list] of byPeer) {
      let peer = this.peers.get(to);
      if (peer === undefined) {
        try {
          peer = new PeerSender(to, this.logger, this.metrics, this.auth, this.channelCredentials);
        } catch (error) {
          // An answer to a sender whose `from` is no gRPC target (a stranger's malformed
          // message, found by the port fuzzer): gRPC's channel refuses to parse it. Nobody
          // can hear the answer, so it is dropped; the node must not die of it.
          this.logger.warn("raft.peer_address_invalid", { peer: JSON.stringify(to.slice(0, 64)), message: errorMessage(error) });
          continue;
        }
        this.peers.set(to, peer);
      }
      peer.send(list);
    }
  }

  close(): void {
    this.closed = true;
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
  }
}
