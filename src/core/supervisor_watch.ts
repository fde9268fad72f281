// A node started by a supervisor (`server startAll`, the bench, the Jepsen runner, the
// integration tests) must not outlive it, however the supervisor ends: a SIGKILL runs no
// cleanup, so the supervisor cannot be relied on to stop its nodes. Instead the launcher
// (launcher.ts) gives each node the read end of a pipe as file descriptor SUPERVISOR_FD and
// names it in ECC_CACHE_SUPERVISOR_FD; the supervisor holds the other end and never writes.
// When the supervisor dies the kernel closes its end, the node reads end-of-file and stops.
//
// The watch is opt-in through that variable, never inferred from stdin: a node started by
// hand runs with stdin on a terminal, /dev/null or a closed pipe (nohup, scripts), and one
// in a container (docker/entrypoint.sh) has no supervisor of ours at all.
import net from "node:net";
import { ConfigError, errorMessage } from "./errors";

export const SUPERVISOR_FD_ENV = "ECC_CACHE_SUPERVISOR_FD";
/** The child's descriptor for the watch pipe: the first one after stdin, stdout and stderr. */
export const SUPERVISOR_FD = 3;
/** How long a node may take to stop after its supervisor died, before it exits regardless. */
export const SUPERVISOR_GONE_STOP_MS_MAX = 5_000;
/** Exit code when stopping after the supervisor died took too long: as if SIGTERM had killed it. */
const EXIT_STOP_TIMED_OUT = 128 + 15;

/**
 * When this process was started with a supervisor watch, ends it once the supervisor is gone:
 * it sends itself SIGTERM, so a node that is up stops the way a Ctrl-C stops it and one still
 * starting (no SIGTERM handler yet) ends at once; after SUPERVISOR_GONE_STOP_MS_MAX it exits
 * regardless. Returns whether a watch was set up (false: not started by a supervisor).
 */
export function exitWithSupervisor(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env[SUPERVISOR_FD_ENV];
  if (value === undefined || value === "") return false;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${SUPERVISOR_FD_ENV} must be a file descriptor number, not ${JSON.stringify(value)}`);
  let pipe: net.Socket;
  try {
    pipe = new net.Socket({ fd: Number(value), readable: true, writable: false });
  } catch (error) {
    throw new ConfigError(`${SUPERVISOR_FD_ENV}=${value}, but descriptor ${value} is not a pipe from a supervisor (${errorMessage(error)})`, { cause: error });
  }
  // The watch must not keep a node alive that has otherwise stopped.
  pipe.unref();
  let gone = false;
  const onGone = (): void => {
    if (gone) return;
    gone = true;
    // The supervisor read this process's output; its pipes now fail with EPIPE, and there is
    // nobody left to tell. Without a listener that error would end the process before it
    // stopped cleanly.
    for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
    setTimeout(() => process.exit(EXIT_STOP_TIMED_OUT), SUPERVISOR_GONE_STOP_MS_MAX).unref();
    process.kill(process.pid, "SIGTERM");
  };
  pipe.on("data", () => undefined); // the supervisor never writes; reading is what sees end-of-file
  pipe.once("end", onGone);
  pipe.once("close", onGone);
  pipe.once("error", onGone);
  return true;
}
