// Raft peer messaging over gRPC, shared by raft mode (node.ts) and ecc mode's view control
// plane: one client-streaming Deliver call per peer for outgoing messages; incoming ones
// are decoded (snapshots reassembled) and handed to a callback.
import { ClientWritableStream, Metadata, Server, ServerReadableStream, credentials, sendUnaryData } from "@grpc/grpc-js";
import { DeliverSummary, PeerBatch, PeerMessage, RaftPeerClient, RaftPeerService } from "../gen/raft";
import { errorMessage } from "../core/errors";
import { Logger } from "../core/logger";
import { RAFT_CHANNEL_OPTIONS } from "../transport/grpc_options";
import { RaftMessage } from "./types";
import { SnapshotAssembler, toWire } from "./wire";
import type { NodeMetricsSink } from "../frontdoor/metrics";
import { grpcCodeName } from "../transport/status";

/** Bytes queued on one peer stream beyond which messages are dropped (Raft resends). */
const PEER_QUEUE_BYTES_MAX = 64 * 1024 * 1024;

class PeerSender {
  private stream: ClientWritableStream<PeerBatch> | null = null;
  private readonly client: InstanceType<typeof RaftPeerClient>;
  constructor(
    readonly address: string,
    private readonly logger: Logger,
    private readonly metrics: Pick<NodeMetricsSink, "grpcError"> | undefined,
  ) {
    this.client = new RaftPeerClient(address, credentials.createInsecure(), RAFT_CHANNEL_OPTIONS);
  }

  send(messages: PeerMessage[]): void {
    if (this.stream === null) {
      const stream = this.client.deliver((error: unknown) => {
        if (this.stream === stream) this.stream = null;
        if (error !== null) {
          this.metrics?.grpcError(grpcCodeName(error));
          this.logger.debug("raft.peer_stream_closed", { peer: this.address, message: errorMessage(error) });
        }
      });
      stream.on("error", () => {
        if (this.stream === stream) this.stream = null;
      });
      this.stream = stream;
    }
    // The peer is not keeping up (or is gone): drop; Raft retransmits what matters.
    if (this.stream.writableLength > PEER_QUEUE_BYTES_MAX) return;
    this.stream.write({ messages });
  }

  close(): void {
    this.stream?.end();
    this.stream = null;
    this.client.close();
  }
}

export class RaftPeerTransport {
  private readonly peers = new Map<string, PeerSender>();
  private readonly assembler = new SnapshotAssembler();
  private closed = false;

  constructor(
    private readonly selfId: string,
    private readonly logger: Logger,
    /** Told of failed peer streams, for /metrics (src/frontdoor/metrics.ts). */
    private readonly metrics?: Pick<NodeMetricsSink, "grpcError">,
  ) {}

  /** Adds the RaftPeer service to `server`; `onMessages` gets each batch of decoded messages. */
  register(server: Server, onMessages: (messages: RaftMessage[]) => void): void {
    server.addService(RaftPeerService, {
      deliver: (call: ServerReadableStream<PeerBatch, DeliverSummary>, callback: sendUnaryData<DeliverSummary>) => {
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
            if (message !== null) messages.push(message);
          }
          if (messages.length > 0) onMessages(messages);
        });
        call.on("end", () => callback(null, {}));
        call.on("error", () => undefined); // the sender went away; it reconnects when it can
      },
    });
  }

  send(messages: readonly RaftMessage[]): void {
    if (messages.length === 0 || this.closed) return;
    const byPeer = new Map<string, PeerMessage[]>();
    for (const message of messages) {
      let list = byPeer.get(message.to);
      if (list === undefined) {
        list = [];
        byPeer.set(message.to, list);
      }
      for (const wire of toWire(message)) list.push(wire);
    }
    for (const [to, list] of byPeer) {
      let peer = this.peers.get(to);
      if (peer === undefined) {
        peer = new PeerSender(to, this.logger, this.metrics);
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
