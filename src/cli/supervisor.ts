// startAll: one OS process per node, so each node's memory is its own and each can be
// measured and killed on its own. Waits until every node reports it is listening, prints
// where, forwards node logs to stderr, and stops every node on Ctrl-C, SIGTERM or SIGHUP —
// also when the signal comes while nodes are still starting. The nodes are launched with
// the supervisor watch (src/core/launcher.ts), so none outlives this process even when it
// is killed with SIGKILL and can stop nothing itself.
import { STOP_GRACE_MS_DEFAULT, launch, nodeProcess } from "../core/launcher";

export interface NodeSpec {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  address: string;
  /** The node's RESP (Redis protocol) address, printed with its address; null when it has none. */
  respAddress?: string | null;
  /** The node's HTTP admin port, printed with its address; null when it has none. */
  httpAddress?: string | null;
}

const READY_TIMEOUT_MS = 20_000;
const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** Exit code when a signal stopped the nodes before all were ready: 128 + SIGINT, as a shell reports a Ctrl-C. */
const EXIT_INTERRUPTED = 130;
/** Exit code when every node exited without being asked to. */
const EXIT_NODES_GONE = 1;

export async function superviseNodes(nodes: NodeSpec[], readyEvent: string, title: string): Promise<number> {
  // Listen before the first node is spawned: a signal during startup must stop the nodes
  // already running. After the first signal the default action is back, so a second Ctrl-C
  // ends this process at once (its nodes then end through the watch).
  /** Set once the nodes are being stopped on purpose: their exits are then no news. */
  let stopping = false;
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  const release = (): void => {
    for (const signal of STOP_SIGNALS) process.off(signal, handler);
  };
  const handler = (signal: NodeJS.Signals): void => {
    release();
    // A terminal's Ctrl-C reaches the nodes too, and they may exit before we stop them.
    stopping = true;
    onSignal(signal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, handler);

  // ECC_CACHE_NODE_ARGS passes extra flags to each node's node binary (e.g. --cpu-prof).
  const extraNodeArgs = (process.env.ECC_CACHE_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
  const launched = nodes.map((spec) =>
    launch({
      name: spec.name,
      ...nodeProcess(process.argv[1], spec.args, spec.env, extraNodeArgs),
      onLine: (line) => process.stderr.write(`[${spec.name}] ${line}\n`),
    }),
  );
  for (const node of launched) {
    void node.exited.then(() => {
      if (!stopping) process.stderr.write(`${node.name} (pid ${node.pid}) exited: ${node.describeExit()}\n`);
    });
  }
  const stopAll = async (): Promise<void> => {
    stopping = true;
    await Promise.all(launched.map((node) => node.stop("SIGTERM", STOP_GRACE_MS_DEFAULT)));
  };

  const readyLine = (line: string): boolean => line.includes(`"event":"${readyEvent}"`);
  let early: NodeJS.Signals | null;
  try {
    early = await Promise.race([Promise.all(launched.map((node) => node.waitReady({ line: readyLine }, READY_TIMEOUT_MS))).then(() => null), signalled]);
  } catch (error) {
    release();
    await stopAll();
    throw error;
  }
  if (early !== null) {
    process.stderr.write(`${early}: stopping the nodes started so far\n`);
    await stopAll();
    return EXIT_INTERRUPTED;
  }

  process.stdout.write(`${title}: ${nodes.length} nodes running\n`);
  nodes.forEach((spec, index) =>
    process.stdout.write(
      `  ${spec.name}  listening on ${spec.address}  pid ${launched[index].pid}${spec.httpAddress ? `  http ${spec.httpAddress}` : ""}${spec.respAddress ? `  resp ${spec.respAddress}` : ""}\n`,
    ),
  );
  process.stdout.write("Press Ctrl-C to stop all nodes.\n");

  const end = await Promise.race([signalled, Promise.all(launched.map((node) => node.exited)).then(() => null)]);
  if (end === null) {
    release();
    return EXIT_NODES_GONE;
  }
  process.stdout.write("stopping all nodes...\n");
  await stopAll();
  return 0;
}
