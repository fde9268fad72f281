// Where a node keeps its files: one directory per node under the configured data_dir, named
// after the node's address with every character a file name should not hold replaced.
import path from "node:path";

/** The directory name of the node at `address` ("127.0.0.1:3000" -> "127.0.0.1_3000"). */
export function dataDirName(address: string): string {
  return address.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** `<dataDir>/<node directory>`. */
export function nodeDataDir(dataDir: string, address: string): string {
  return path.join(dataDir, dataDirName(address));
}
