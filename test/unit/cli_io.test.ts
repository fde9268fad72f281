// `client get` output (src/cli/io.ts): raw bytes into a pipe or file, nothing added; on a
// terminal a newline follows unless the value ends with one (as redis-cli does). Method: a
// fake output stream that records what was written and says whether it is a terminal.
import assert from "node:assert/strict";
import { ValueOutput, writeValue } from "../../src/cli/io";

function recorder(isTTY: boolean): ValueOutput & { bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    isTTY,
    write(bytes, callback) {
      chunks.push(Buffer.from(bytes));
      callback(null);
      return true;
    },
    bytes: () => Buffer.concat(chunks),
  };
}

describe("client get output", () => {
  it("writes the raw bytes and nothing else when not on a terminal", async () => {
    for (const value of [Buffer.from("cherry"), Buffer.from([0, 255, 10, 0]), Buffer.alloc(0)]) {
      const output = recorder(false);
      await writeValue(value, output);
      assert.deepEqual(output.bytes(), value);
    }
  });

  it("adds a newline on a terminal unless the value already ends with one", async () => {
    const cases: Array<[string, string]> = [
      ["cherry", "cherry\n"],
      ["two\nlines\n", "two\nlines\n"],
      ["", "\n"],
    ];
    for (const [value, shown] of cases) {
      const output = recorder(true);
      await writeValue(Buffer.from(value), output);
      assert.equal(output.bytes().toString(), shown);
    }
  });
});
