// Process memory from /proc: VmRSS (and its anon/file/shmem parts) from /proc/<pid>/status,
// or Rss/Pss from /proc/<pid>/smaps_rollup (Pss shares pages mapped by several processes
// fairly, e.g. the node binary's text; the kernel sums it over every mapping, so it costs
// more to read). Both report kB; we report bytes.
import fs from "node:fs/promises";

export interface ProcStatusMemory {
  vmRssBytes: number;
  rssAnonBytes: number | null;
  rssFileBytes: number | null;
  rssShmemBytes: number | null;
}

export interface SmapsRollupMemory {
  rssBytes: number;
  pssBytes: number;
  privateBytes: number;
  anonymousBytes: number;
}

function kilobyteFields(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z_]+):\s+(\d+)\s*kB\s*$/.exec(line);
    if (match !== null) fields.set(match[1], Number(match[2]) * 1024);
  }
  return fields;
}

/** Parses /proc/<pid>/status; null when it has no VmRSS (a zombie or kernel thread). */
export function parseProcStatus(text: string): ProcStatusMemory | null {
  const fields = kilobyteFields(text);
  const vmRss = fields.get("VmRSS");
  if (vmRss === undefined) return null;
  return {
    vmRssBytes: vmRss,
    rssAnonBytes: fields.get("RssAnon") ?? null,
    rssFileBytes: fields.get("RssFile") ?? null,
    rssShmemBytes: fields.get("RssShmem") ?? null,
  };
}

/** Parses /proc/<pid>/smaps_rollup; null when the Rss line is missing. */
export function parseSmapsRollup(text: string): SmapsRollupMemory | null {
  const fields = kilobyteFields(text);
  const rss = fields.get("Rss");
  if (rss === undefined) return null;
  return {
    rssBytes: rss,
    pssBytes: fields.get("Pss") ?? rss,
    privateBytes: (fields.get("Private_Clean") ?? 0) + (fields.get("Private_Dirty") ?? 0),
    anonymousBytes: fields.get("Anonymous") ?? 0,
  };
}

/** null when the process is gone. */
export async function readProcStatus(pid: number, procRoot = "/proc"): Promise<ProcStatusMemory | null> {
  try {
    return parseProcStatus(await fs.readFile(`${procRoot}/${pid}/status`, "utf8"));
  } catch {
    return null;
  }
}

export async function readSmapsRollup(pid: number, procRoot = "/proc"): Promise<SmapsRollupMemory | null> {
  try {
    return parseSmapsRollup(await fs.readFile(`${procRoot}/${pid}/smaps_rollup`, "utf8"));
  } catch {
    return null;
  }
}
