// Checks that the ports a cluster will use are free before any node starts.
import net from "node:net";
import { parseAddress } from "../core/address";

export async function findBusyAddresses(addresses: string[]): Promise<string[]> {
  const busy: string[] = [];
  for (const address of addresses) {
    const { host, port } = parseAddress(address);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once("error", () => resolve(false));
      server.listen({ host: host.replace(/^\[|\]$/g, ""), port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (!free) busy.push(address);
  }
  return busy;
}
