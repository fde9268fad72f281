// Binding a gRPC server with a clear error when the port is taken or the address is bad.
import { Server, ServerCredentials, setLogger } from "@grpc/grpc-js";
import { UnavailableError, errorMessage } from "../core/errors";

/**
 * grpc-js logs "No address added out of total N resolved" at error level when a bind fails,
 * then fails the bind with an error that carries the same text and the cause; bindServer
 * reports that error in its own words. So grpc-js's logger is replaced, once, by one that
 * drops just that line and prints every other line the way grpc-js's default logger does
 * (console.error with an E, I or D prefix; nothing else in the project sets a grpc logger).
 */
let bindNoiseFiltered = false;
function filterBindNoise(): void {
  if (bindNoiseFiltered) return;
  bindNoiseFiltered = true;
  setLogger({
    error: (message?: unknown, ...rest: unknown[]) => {
      if (typeof message === "string" && message.startsWith("No address added out of total")) return;
      console.error(`E ${String(message)}`, ...rest);
    },
    info: (message?: unknown, ...rest: unknown[]) => console.error(`I ${String(message)}`, ...rest),
    debug: (message?: unknown, ...rest: unknown[]) => console.error(`D ${String(message)}`, ...rest),
  });
}

/** Binds `server` at `address`; plaintext unless TLS credentials are given (src/transport/tls.ts). */
export function bindServer(server: Server, address: string, serverCredentials: ServerCredentials = ServerCredentials.createInsecure()): Promise<number> {
  filterBindNoise();
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(address, serverCredentials, (error, port) => {
      if (error !== null) {
        const text = errorMessage(error);
        const reason = /EADDRINUSE|address already in use/i.test(text)
          ? "the address is already in use (is another node running on this port?)"
          : text.replace(/^No address added out of total \d+ resolved errors: /, "");
        reject(new UnavailableError(`cannot listen on ${address}: ${reason}`, { cause: error }));
        return;
      }
      resolve(port);
    });
  });
}
