// A client's add/remove member on a raft node (src/raft/node.ts, memberChange): an added
// member must be a host:port address, since a node id is its address. Found by the port
// fuzzer (src/fuzz): addMember of ":", "[::1", "127.0.0.1" and "127.0.0.1:65536" were each
// committed as voters, and three of them cost a 3-node group its quorum for good.
// Properties: every malformed address is refused with InvalidArgumentError (nothing is
// proposed); a real address is an "add"; a remove is passed on as it is (the core refuses a
// name that is not a voter).
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../src/core/errors";
import { memberChange } from "../../src/raft/node";

describe("raft member changes from clients", () => {
  it("refuses to add a member whose address is not host:port", () => {
    for (const address of ["", ":", "[::1", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "host:port", "a b:1", "\u0000:1", "x".repeat(300)]) {
      assert.throws(() => memberChange("addMember", address), InvalidArgumentError, JSON.stringify(address));
    }
  });

  it("adds a member with a real address, and passes removes on", () => {
    assert.deepEqual(memberChange("addMember", "127.0.0.1:7001"), { type: "add", nodeId: "127.0.0.1:7001" });
    assert.deepEqual(memberChange("addMember", "node-3.cache:7001"), { type: "add", nodeId: "node-3.cache:7001" });
    assert.deepEqual(memberChange("removeMember", "127.0.0.1:7001"), { type: "remove", nodeId: "127.0.0.1:7001" });
    assert.deepEqual(memberChange("removeMember", ":"), { type: "remove", nodeId: ":" });
  });
});
