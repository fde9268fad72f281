// The RESP front door of a raft cluster (3 node processes), every node forwarding to the
// leader: the shared checks of test/support/resp_checks.ts (redis-cli, ioredis, bad input),
// less what raft's state machine cannot do yet (conditional writes: the checks assert the
// clear error instead).
import { parseAddress } from "../../src/core/address";
import { startRaftCluster } from "../support/raft_cluster";
import { TEST_PARTIAL_COMMAND_MS, defineRespChecks } from "../support/resp_checks";
import { PARTIAL_COMMAND_MS_ENV } from "../../src/resp/server";

defineRespChecks("RESP front door, raft mode (3 processes)", async () => {
  const cluster = await startRaftCluster({ resp: true, env: { [PARTIAL_COMMAND_MS_ENV]: String(TEST_PARTIAL_COMMAND_MS) } });
  return {
    mode: "raft",
    ports: cluster.config.respServers!.map((address) => parseAddress(address).port),
    stop: () => cluster.stop(),
  };
});
