// Bench target: an ecc cluster through the EcClient library.
import { createCodec } from "../codec";
import { CodecBackend } from "../codec/codec";
import { EcClient } from "../ecc/client";
import { EccClusterConfig, eccConfigToFile } from "../ecc/config";
import { RESOLVED_CONFIG_ENV } from "../cli/ecc_config_loader";
import { BenchTarget } from "./target";
import { LaunchedNode, launchNodes, stopNodes } from "./launcher";

export class EccTarget implements BenchTarget {
  readonly name: string;
  private constructor(
    private readonly client: EcClient,
    readonly config: EccClusterConfig,
    readonly nodes: LaunchedNode[],
  ) {
    this.name = `ecc(${config.dataShards + config.parityShards},${config.dataShards})`;
  }

  static async open(config: EccClusterConfig, codecBackend: CodecBackend | "auto", launch: boolean): Promise<EccTarget> {
    let nodes: LaunchedNode[] = [];
    if (launch) {
      const env = { ...process.env, [RESOLVED_CONFIG_ENV]: JSON.stringify(eccConfigToFile(config)), ECC_LOG_LEVEL: "warn" };
      nodes = await launchNodes(
        config.servers.map((address, index) => ({
          name: `ecc node ${index}`,
          args: ["ecc", "server", "startOne", address, "--log-level", "info"],
          env,
        })),
        /ecc\.node_started/,
      );
    }
    const codec = await createCodec(codecBackend, config.dataShards, config.parityShards);
    return new EccTarget(new EcClient({ config, codec }), config, nodes);
  }

  get(key: string): Promise<Buffer | null> {
    return this.client.get(key);
  }
  async set(key: string, value: Buffer): Promise<void> {
    await this.client.set(key, value);
  }
  async del(key: string): Promise<void> {
    await this.client.del(key);
  }
  stats() {
    return this.client.stats();
  }
  async close(): Promise<void> {
    this.client.close();
    await stopNodes(this.nodes);
  }
}
