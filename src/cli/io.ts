// Reading values for `client set` and writing raw bytes for `client get`.
import fs from "node:fs";
import { InvalidArgumentError, ValueTooLargeError, errorMessage } from "../core/errors";
import { VALUE_BYTES_MAX } from "../core/limits";

export interface ValueSource {
  value?: string;
  file?: string;
}

/** The value from the argument, --file, or stdin (when neither is given, or value is "-"). */
export async function readValue(source: ValueSource, stdin: NodeJS.ReadStream = process.stdin): Promise<Buffer> {
  if (source.value !== undefined && source.file !== undefined) {
    throw new InvalidArgumentError("give the value as an argument or with --file, not both");
  }
  if (source.file !== undefined) {
    let size: number;
    try {
      size = fs.statSync(source.file).size;
    } catch (error) {
      throw new InvalidArgumentError(`cannot read --file ${source.file}: ${errorMessage(error)}`);
    }
    if (size > VALUE_BYTES_MAX) throw new ValueTooLargeError(size, VALUE_BYTES_MAX);
    return fs.readFileSync(source.file);
  }
  if (source.value !== undefined && source.value !== "-") return Buffer.from(source.value, "utf8");
  if (stdin.isTTY && source.value !== "-") {
    throw new InvalidArgumentError("no value: pass it as an argument, with --file FILE, or on stdin");
  }
  return readStream(stdin);
}

async function readStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    total += buffer.length;
    if (total > VALUE_BYTES_MAX) throw new ValueTooLargeError(total, VALUE_BYTES_MAX);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

/** The part of a stream writeValue uses (process.stdout in production). */
export interface ValueOutput {
  isTTY?: boolean;
  write(bytes: Uint8Array | string, callback: (error?: Error | null) => void): boolean;
}

/**
 * Writes a value's bytes as they are: into a pipe or file nothing may be added, or binary
 * values would be corrupted. On a terminal a newline follows, as redis-cli does, unless the
 * value already ends with one, so the prompt starts on a line of its own.
 */
export async function writeValue(bytes: Uint8Array, output: ValueOutput = process.stdout): Promise<void> {
  await write(output, bytes);
  if (output.isTTY === true && bytes[bytes.length - 1] !== 0x0a) await write(output, "\n");
}

function write(output: ValueOutput, bytes: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) => {
    output.write(bytes, (error) => (error ? reject(error) : resolve()));
  });
}
