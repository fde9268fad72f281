// Keys: byte strings of 1..KEY_BYTES_MAX bytes (UTF-8 when given as text). The one place
// both modes check them: clients throw a typed error before anything is sent, servers
// answer the same rule with a refusal.
import { InvalidArgumentError, KeyTooLargeError } from "./errors";
import { KEY_BYTES_MAX } from "./limits";

export type KeyInput = string | Uint8Array;

/** The key's bytes (no copy for a Uint8Array). */
export function keyBytesOf(key: KeyInput): Buffer {
  return typeof key === "string" ? Buffer.from(key, "utf8") : Buffer.from(key.buffer, key.byteOffset, key.length);
}

/** What is wrong with a key received from the network, or null. */
export function keyProblem(key: Uint8Array): string | null {
  if (key.length === 0) return "key is empty";
  if (key.length > KEY_BYTES_MAX) return `key is ${key.length} bytes; the limit is ${KEY_BYTES_MAX} bytes`;
  return null;
}

/** The key's bytes, or a typed error (InvalidArgumentError, KeyTooLargeError). */
export function checkKey(key: KeyInput): Buffer {
  const bytes = keyBytesOf(key);
  if (bytes.length === 0) throw new InvalidArgumentError("key is empty");
  if (bytes.length > KEY_BYTES_MAX) throw new KeyTooLargeError(bytes.length, KEY_BYTES_MAX);
  return bytes;
}
