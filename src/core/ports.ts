// Loopback port checks: that the ports a cluster will use are free before any node starts,
// and free ports for clusters the bench, jepsen and the tests start.
import net from "node:net";
import { parseAddress } from "./address";

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

/** Ports the OS reports free on 127.0.0.1 right now (distinct). */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    ports.push((server.address() as net.AddressInfo).port);
    servers.push(server);
  }
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
