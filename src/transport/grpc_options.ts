// gRPC channel and server options, set explicitly: the library defaults are not our limits.
import { ChannelOptions } from "@grpc/grpc-js";
import { GRPC_MESSAGE_BYTES_MAX, RAFT_MESSAGE_BYTES_MAX } from "../core/limits";

export const CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.max_send_message_length": GRPC_MESSAGE_BYTES_MAX,
  "grpc.max_receive_message_length": GRPC_MESSAGE_BYTES_MAX,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  // A restarted node should be found again within a second, not after the default
  // exponential backoff of up to two minutes.
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
  "grpc.min_reconnect_backoff_ms": 100,
  // A replaced node (a new container) comes back under its name at a new address: resolve
  // names again within a second of a failed connection, not the default 30 s, or peers keep
  // dialling the old address and the replacement stays outside the view that long.
  "grpc.dns_min_time_between_resolutions_ms": 1_000,
  "grpc.enable_retries": 0,
  // Distinct channels per target even when two clients in one process dial the same node.
  "grpc.use_local_subchannel_pool": 1,
};

export const SERVER_OPTIONS: ChannelOptions = {
  "grpc.max_send_message_length": GRPC_MESSAGE_BYTES_MAX,
  "grpc.max_receive_message_length": GRPC_MESSAGE_BYTES_MAX,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 5_000,
};

/** Raft mode's channels and servers (peers, clients, and the ecc control plane's server): a message may carry a whole entry. */
export const RAFT_CHANNEL_OPTIONS: ChannelOptions = {
  ...CHANNEL_OPTIONS,
  "grpc.max_send_message_length": RAFT_MESSAGE_BYTES_MAX,
  "grpc.max_receive_message_length": RAFT_MESSAGE_BYTES_MAX,
};
export const RAFT_SERVER_OPTIONS: ChannelOptions = {
  ...SERVER_OPTIONS,
  "grpc.max_send_message_length": RAFT_MESSAGE_BYTES_MAX,
  "grpc.max_receive_message_length": RAFT_MESSAGE_BYTES_MAX,
};
