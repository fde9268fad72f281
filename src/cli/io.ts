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

export function writeRaw(bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(bytes, (error) => (error ? reject(error) : resolve()));
  });
}
