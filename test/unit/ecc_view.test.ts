// View decisions (pure): the failure detector removes one silent node per change and never
// leaves fewer than k members; join moves a node from members to recovering; promote moves
// it back; epochs grow by one; encode/decode round-trips.
import assert from "node:assert/strict";
import { View, checkView, decodeView, encodeView, initialView, nextViewForJoin, nextViewForPromote, nextViewForSilence, writeTargets } from "../../src/ecc/view";

describe("ecc views", () => {
  const k = 3;

  it("starts with every server a member at epoch 1", () => {
    assert.deepEqual(initialView(5), { epoch: 1, members: [0, 1, 2, 3, 4], recovering: [] });
  });

  it("removes silent nodes one at a time, the longest silent first, never below k members", () => {
    let view: View = initialView(5);
    const silent = [3, 1, 4]; // as the detector lists them: 3 has been silent longest
    view = nextViewForSilence(view, silent, k)!;
    assert.deepEqual(view, { epoch: 2, members: [0, 1, 2, 4], recovering: [] });
    view = nextViewForSilence(view, silent, k)!;
    assert.deepEqual(view, { epoch: 3, members: [0, 2, 4], recovering: [] });
    assert.equal(nextViewForSilence(view, silent, k), null, "a third removal would leave fewer than k");
    assert.equal(nextViewForSilence(initialView(5), [], k), null);
  });

  it("drops a silent recovering node first, whatever the member count", () => {
    const view: View = { epoch: 7, members: [0, 2, 4], recovering: [1] };
    assert.deepEqual(nextViewForSilence(view, [0, 1], k), { epoch: 8, members: [0, 2, 4], recovering: [] });
  });

  it("join lists a node as recovering (leaving members), promote makes it a member", () => {
    const start: View = { epoch: 3, members: [0, 2, 3, 4], recovering: [] };
    const joined = nextViewForJoin(start, 1, k);
    assert.deepEqual(joined, { epoch: 4, members: [0, 2, 3, 4], recovering: [1] });
    assert.equal(nextViewForJoin(joined as View, 1, k), "unchanged");
    const rejoin = nextViewForJoin(start, 2, k);
    assert.deepEqual(rejoin, { epoch: 4, members: [0, 3, 4], recovering: [2] }, "a restarted member leaves members");
    assert.equal(nextViewForJoin({ epoch: 1, members: [0, 1, 2], recovering: [] }, 2, k), "refused");
    const promoted = nextViewForPromote(joined as View, 1);
    assert.deepEqual(promoted, { epoch: 5, members: [0, 1, 2, 3, 4], recovering: [] });
    assert.equal(nextViewForPromote(promoted as View, 1), "unchanged");
    assert.equal(nextViewForPromote(start, 1), "refused", "only a recovering node is promoted");
  });

  it("writes go to members and recovering nodes; views round-trip and are checked", () => {
    const view: View = { epoch: 9, members: [0, 3, 4], recovering: [1] };
    assert.deepEqual(writeTargets(view), [0, 1, 3, 4]);
    assert.deepEqual(decodeView(encodeView(view)), view);
    assert.throws(() => checkView({ epoch: 2, members: [0, 1], recovering: [] }, 5, k), /fewer than k/);
    assert.throws(() => checkView({ epoch: 2, members: [0, 1, 2], recovering: [2] }, 5, k), /twice/);
  });
});
