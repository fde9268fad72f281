// Shared by the container suites: the image, the run label every container carries (so
// cleanup finds them whatever state they are in), a container class that joins exactly one
// network, and the check that a Docker engine and the image are there.
import { randomUUID } from "node:crypto";
import { GenericContainer, ImageName, type ImagePullPolicy, type StartedNetwork, getContainerRuntimeClient } from "testcontainers";

// testcontainers starts its reaper container (Ryuk) unless this is "true"; the reaper image
// cannot be pulled here (no registry), and each suite removes everything it creates.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";

export const IMAGE = process.env.ECC_CACHE_IMAGE ?? "ecc-cache:dev";
export const REQUIRE_DOCKER = process.env.ECC_CACHE_REQUIRE_DOCKER === "1";
export const RUN_LABEL = "ecc-cache.test-run";
export const RUN_ID = randomUUID();

/** Never pull: the image is local by construction, and no registry is reachable. */
export const NEVER_PULL: ImagePullPolicy = { shouldPull: () => false };

/** The Docker API client testcontainers uses (dockerode), typed without a direct dependency. */
export type Dockerode = Awaited<ReturnType<typeof getContainerRuntimeClient>>["container"]["dockerode"];

/**
 * A container on exactly one network, found there by one alias, with its ports published on
 * 127.0.0.1 only. Plain testcontainers does neither: it publishes on every interface, and
 * withNetworkAliases() creates the container on Docker's default bridge and then connects it
 * to the named network as well, so a `docker network disconnect` would leave the node
 * reachable through the default bridge (its published port lives there) and would not be a
 * partition at all.
 */
export class ClusterNodeContainer extends GenericContainer {
  constructor(
    image: string,
    private readonly clusterNetwork: StartedNetwork,
    private readonly alias: string,
  ) {
    super(image);
    this.withNetwork(clusterNetwork); // no aliases: NetworkMode is this network, nothing else
  }

  protected override async beforeContainerCreated(): Promise<void> {
    this.createOpts.NetworkingConfig = { EndpointsConfig: { [this.clusterNetwork.getName()]: { Aliases: [this.alias] } } };
    for (const bindings of Object.values(this.hostConfig.PortBindings ?? {}) as Array<Array<{ HostIp?: string }>>) {
      for (const binding of bindings) binding.HostIp = "127.0.0.1";
    }
  }
}


/** null when a Docker engine answers and the image exists; otherwise why not. */
export async function dockerUnavailableReason(): Promise<string | null> {
  let runtime;
  try {
    runtime = await withTimeout(getContainerRuntimeClient(), 15_000, "no answer from a Docker engine within 15 s");
  } catch (error) {
    return `no Docker engine (${error instanceof Error ? error.message : String(error)}); run bash scripts/ci_docker.sh as root`;
  }
  if (!(await runtime.image.exists(ImageName.fromString(IMAGE)))) {
    return `image ${IMAGE} is not built; run bash scripts/ci_docker.sh`;
  }
  return null;
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  const timeout = new Error(message); // created when the wait starts, so its stack shows the waiter
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeout), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}
