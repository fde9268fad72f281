// Per-node memory cgroups, read the way cAdvisor computes a container's working set
// (DESIGN.md section 5): usage minus inactive file pages, never below zero.
//   cgroup v1: memory.usage_in_bytes − total_inactive_file (memory.stat)
//   cgroup v2: memory.current        − inactive_file       (memory.stat)
// Also read: the kernel memory charged to the cgroup (slab objects such as the page cache's
// bookkeeping for files the node writes, socket buffers, page tables, kernel stacks), part of
// usage: v1 memory.kmem.usage_in_bytes, v2 the "kernel" line of memory.stat (Linux 5.18+).
//
// Where the bench puts its cgroups (as root only):
//   v1: under the bench's own memory cgroup: <mount>/<own path>/ecc-cache-bench-<pid>-<n>/<node>.
//       Nested, so whatever accounts for the bench's own cgroup still sees the nodes.
//   v2: a sibling of the bench's own cgroup (or under the root when the bench is in the root):
//       v2 forbids processes in a cgroup whose children have controllers enabled, so the
//       nodes cannot live below the cgroup the bench itself runs in.
// Nodes are placed at spawn (local_cluster.ts ProcessLauncher), so every page they touch is
// charged to them. cleanup() removes every directory created, after the nodes have exited.
import fs from "node:fs";
import path from "node:path";

export type CgroupVersion = "v1" | "v2";

export interface CgroupLayout {
  version: CgroupVersion;
  /** Mount point of the hierarchy holding the memory controller. */
  mount: string;
  /** The bench process's own cgroup path inside that hierarchy ("/" for the root). */
  ownPath: string;
}

export interface CgroupMemory {
  workingSetBytes: number;
  usageBytes: number;
  inactiveFileBytes: number;
  anonBytes: number | null;
  fileBytes: number | null;
  /** Kernel memory charged to the cgroup (included in usage); null where not reported. */
  kernelBytes: number | null;
}

/** memory.stat ("name value" lines) → numbers. */
export function parseMemoryStat(text: string): Record<string, number> {
  const stat: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = /^(\S+)\s+(\d+)\s*$/.exec(line);
    if (match !== null) stat[match[1]] = Number(match[2]);
  }
  return stat;
}

/** cAdvisor's working set: usage − inactive file, clamped at 0. */
function workingSet(usageBytes: number, inactiveFileBytes: number | undefined): number {
  if (inactiveFileBytes === undefined) return usageBytes;
  return usageBytes < inactiveFileBytes ? 0 : usageBytes - inactiveFileBytes;
}

/** `kmemUsageText`: memory.kmem.usage_in_bytes, null when the kernel has no such file. */
export function cgroupMemoryV1(usageInBytesText: string, memoryStatText: string, kmemUsageText: string | null = null): CgroupMemory {
  const usage = Number(usageInBytesText.trim());
  const kmem = kmemUsageText?.trim() ?? "";
  const stat = parseMemoryStat(memoryStatText);
  return {
    workingSetBytes: workingSet(usage, stat.total_inactive_file),
    usageBytes: usage,
    inactiveFileBytes: stat.total_inactive_file ?? 0,
    anonBytes: stat.total_rss ?? null,
    fileBytes: stat.total_cache ?? null,
    kernelBytes: /^\d+$/.test(kmem) ? Number(kmem) : null,
  };
}

export function cgroupMemoryV2(memoryCurrentText: string, memoryStatText: string): CgroupMemory {
  const current = Number(memoryCurrentText.trim());
  const stat = parseMemoryStat(memoryStatText);
  return {
    workingSetBytes: workingSet(current, stat.inactive_file),
    usageBytes: current,
    inactiveFileBytes: stat.inactive_file ?? 0,
    anonBytes: stat.anon ?? null,
    fileBytes: stat.file ?? null,
    kernelBytes: stat.kernel ?? null,
  };
}

export async function readCgroupMemory(dir: string, version: CgroupVersion): Promise<CgroupMemory | null> {
  try {
    if (version === "v1") {
      const [usage, stat, kmem] = await Promise.all([
        fs.promises.readFile(path.join(dir, "memory.usage_in_bytes"), "utf8"),
        fs.promises.readFile(path.join(dir, "memory.stat"), "utf8"),
        fs.promises.readFile(path.join(dir, "memory.kmem.usage_in_bytes"), "utf8").catch(() => null),
      ]);
      return cgroupMemoryV1(usage, stat, kmem);
    }
    const [current, stat] = await Promise.all([
      fs.promises.readFile(path.join(dir, "memory.current"), "utf8"),
      fs.promises.readFile(path.join(dir, "memory.stat"), "utf8"),
    ]);
    return cgroupMemoryV2(current, stat);
  } catch {
    return null;
  }
}

/**
 * Finds where the memory controller is mounted and the bench's own cgroup in it, from the
 * texts of /proc/self/mounts and /proc/self/cgroup. cgroup v1's memory hierarchy wins on
 * hybrid systems (there the v2 hierarchy has no memory controller).
 */
export function detectCgroupLayout(mountsText: string, selfCgroupText: string, v2HasMemory: (mount: string) => boolean): CgroupLayout | null {
  const mounts = mountsText
    .split("\n")
    .map((line) => line.split(" "))
    .filter((fields) => fields.length >= 4);
  const selfLines = selfCgroupText.split("\n").filter((line) => line !== "");
  const v1 = mounts.find((fields) => fields[2] === "cgroup" && fields[3].split(",").includes("memory"));
  if (v1 !== undefined) {
    const line = selfLines.find((l) => l.split(":")[1]?.split(",").includes("memory"));
    if (line === undefined) return null;
    return { version: "v1", mount: v1[1], ownPath: line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1) || "/" };
  }
  const v2 = mounts.find((fields) => fields[2] === "cgroup2");
  if (v2 !== undefined && v2HasMemory(v2[1])) {
    const line = selfLines.find((l) => l.startsWith("0::"));
    if (line === undefined) return null;
    return { version: "v2", mount: v2[1], ownPath: line.slice(3) || "/" };
  }
  return null;
}

export function detectLocalCgroupLayout(): CgroupLayout | null {
  try {
    return detectCgroupLayout(fs.readFileSync("/proc/self/mounts", "utf8"), fs.readFileSync("/proc/self/cgroup", "utf8"), (mount) => {
      try {
        return fs.readFileSync(path.join(mount, "cgroup.controllers"), "utf8").split(/\s+/).includes("memory");
      } catch {
        return false;
      }
    });
  } catch {
    return null;
  }
}

let groupCounter = 0;

/** Every NodeCgroups not yet cleaned up, for the last-resort cleanup at a forced exit. */
const liveGroups = new Set<NodeCgroups>();

/**
 * Last resort (a second Ctrl-C, after the node processes were SIGKILLed): removes every
 * cgroup this process created, waiting up to `timeoutMs` for the killed processes to leave
 * them. Returns the directories that could not be removed.
 */
export function cleanupAllCgroupsSync(timeoutMs = 2_000): string[] {
  const deadline = performance.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let leftovers: string[] = [];
  for (;;) {
    leftovers = [];
    for (const group of liveGroups) leftovers.push(...group.cleanupSync());
    if (leftovers.length === 0 || performance.now() > deadline) return leftovers;
    Atomics.wait(pause, 0, 0, 50); // a synchronous sleep: the processes are being reaped
  }
}

/** The cgroups of one cluster's nodes: created on demand, removed by cleanup(). */
export class NodeCgroups {
  private readonly leaves = new Map<string, string>();
  private cleaned = false;

  private constructor(
    readonly layout: CgroupLayout,
    readonly base: string,
  ) {}

  /** Creates the cluster's base cgroup, or returns why it cannot. */
  static create(layout: CgroupLayout): NodeCgroups | { reason: string } {
    if (typeof process.getuid === "function" && process.getuid() !== 0) return { reason: "per-node cgroups need root" };
    const name = `ecc-cache-bench-${process.pid}-${++groupCounter}`;
    let parent: string;
    if (layout.version === "v1") {
      parent = path.join(layout.mount, layout.ownPath);
    } else {
      const ownDir = path.join(layout.mount, layout.ownPath);
      parent = layout.ownPath === "/" ? layout.mount : path.dirname(ownDir);
      try {
        const subtree = fs.readFileSync(path.join(parent, "cgroup.subtree_control"), "utf8");
        if (!subtree.split(/\s+/).includes("memory")) return { reason: `memory controller not enabled in ${parent}/cgroup.subtree_control` };
      } catch (error) {
        return { reason: `cannot read ${parent}/cgroup.subtree_control: ${(error as Error).message}` };
      }
    }
    const base = path.join(parent, name);
    try {
      fs.mkdirSync(base);
    } catch (error) {
      return { reason: `cannot create cgroup ${base}: ${(error as Error).message}` };
    }
    if (layout.version === "v2") {
      try {
        fs.writeFileSync(path.join(base, "cgroup.subtree_control"), "+memory");
      } catch (error) {
        fs.rmdirSync(base);
        return { reason: `cannot enable the memory controller in ${base}: ${(error as Error).message}` };
      }
    }
    const group = new NodeCgroups(layout, base);
    liveGroups.add(group);
    return group;
  }

  /** The directory of a node's cgroup (created on first use). */
  dir(node: string): string {
    let dir = this.leaves.get(node);
    if (dir === undefined) {
      dir = path.join(this.base, node);
      fs.mkdirSync(dir, { recursive: true });
      if (this.layout.version === "v1") {
        // A PID moved in later (not placed at spawn) brings its charges along.
        try {
          fs.writeFileSync(path.join(dir, "memory.move_charge_at_immigrate"), "3");
        } catch {
          // not supported by this kernel: charges stay behind, placement at spawn avoids the need
        }
      }
      this.leaves.set(node, dir);
    }
    return dir;
  }

  procsFile(node: string): string {
    return path.join(this.dir(node), "cgroup.procs");
  }

  read(node: string): Promise<CgroupMemory | null> {
    const dir = this.leaves.get(node);
    return dir === undefined ? Promise.resolve(null) : readCgroupMemory(dir, this.layout.version);
  }

  /** Removes every cgroup created; retries while the last processes are being reaped. Returns leftovers. */
  async cleanup(timeoutMs = 5_000): Promise<string[]> {
    if (this.cleaned) return [];
    const deadline = performance.now() + timeoutMs;
    const remaining = [...this.leaves.values(), this.base];
    const leftovers: string[] = [];
    for (const dir of remaining) {
      for (;;) {
        try {
          if (fs.existsSync(dir)) fs.rmdirSync(dir);
          break;
        } catch (error) {
          if (performance.now() > deadline) {
            leftovers.push(`${dir}: ${(error as Error).message}`);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }
    this.cleaned = leftovers.length === 0;
    if (this.cleaned) liveGroups.delete(this);
    return leftovers;
  }

  /** One synchronous attempt to remove every directory; returns those still there. */
  cleanupSync(): string[] {
    if (this.cleaned) return [];
    const leftovers: string[] = [];
    for (const dir of [...this.leaves.values(), this.base]) {
      try {
        if (fs.existsSync(dir)) fs.rmdirSync(dir);
      } catch {
        leftovers.push(dir); // still busy: a killed process not yet reaped
      }
    }
    if (leftovers.length === 0) {
      this.cleaned = true;
      liveGroups.delete(this);
    }
    return leftovers;
  }
}
