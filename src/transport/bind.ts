// Binding a gRPC server with a clear error when the port is taken or the address is bad.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { UnavailableError, errorMessage } from "../core/errors";

export function bindServer(server: Server, address: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, port) => {
      if (error !== null) {
        const text = errorMessage(error);
        const hint = /EADDRINUSE|address already in use|No address added/i.test(text)
          ? " (is another node already running on this port?)"
          : "";
        reject(new UnavailableError(`cannot listen on ${address}: ${text}${hint}`, { cause: error }));
        return;
      }
      resolve(port);
    });
  });
}
