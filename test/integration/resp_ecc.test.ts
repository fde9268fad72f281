// The RESP front door of an ecc cluster (5 node processes, k=3), every node a coordinator:
// the shared checks of test/support/resp_checks.ts (redis-cli, ioredis, bad input), with the
// nodes started the way the tests start ecc nodes and each given a RESP port (resp_servers).
import { parseAddress } from "../../src/core/address";
import { startEccCluster } from "../support/ecc_cluster";
import { TEST_PARTIAL_COMMAND_MS, defineRespChecks } from "../support/resp_checks";
import { PARTIAL_COMMAND_MS_ENV } from "../../src/resp/server";

defineRespChecks("RESP front door, ecc mode (5 processes, k=3)", async () => {
  const cluster = await startEccCluster({ resp: true, env: { [PARTIAL_COMMAND_MS_ENV]: String(TEST_PARTIAL_COMMAND_MS) } });
  return {
    mode: "ecc",
    ports: cluster.config.respServers!.map((address) => parseAddress(address).port),
    stop: () => cluster.stop(),
  };
});
