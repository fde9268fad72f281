// One gRPC client to a node named by address, which its owner can dial anew when it learns
// that another node answers there. A healthy connection never resolves the name again, so
// after a node was replaced and another took over its old IP (a container restarted on a
// network that handed the IP on), the old connection would reach the wrong node for good.
// Used by the Raft peer transport, the ecc channel and the raft client, each of which
// notices the wrong node its own way.
export class Redialer<Client extends { close(): void }> {
  private current: Client;
  private lastRedialMs = -Infinity;
  private redialCount = 0;

  /** `dial` makes a client for the address; `intervalMs` is the least time between two dials. */
  constructor(
    private readonly dial: () => Client,
    private readonly intervalMs: number,
  ) {
    this.current = dial();
  }

  get client(): Client {
    return this.current;
  }

  /** How often the address was dialled anew. */
  get redials(): number {
    return this.redialCount;
  }

  /**
   * Dials anew unless the last dial is younger than the interval (a name that still points at
   * the wrong node must not be dialled in a loop). The old client is closed: calls still
   * running on it finish. True when it dialled.
   */
  redial(): boolean {
    const nowMs = performance.now();
    if (nowMs - this.lastRedialMs < this.intervalMs) return false;
    this.lastRedialMs = nowMs;
    this.redialCount++;
    const old = this.current;
    this.current = this.dial();
    old.close();
    return true;
  }

  close(): void {
    this.current.close();
  }
}
