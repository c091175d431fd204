/** cgroup v1 (and hybrid) layout: one mounted hierarchy per directory under the cgroup root. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { isDir, readFiles } from "../files.js";
import { type CgroupFiles, V1_STAT_FILES } from "../stats.js";

/**
 * The hierarchies under a v1 cgroup root, by directory name, sorted: "blkio", "cpu", ..., the named "systemd"
 * hierarchy and, on a hybrid host, the cgroup2 "unified" mount. Symlinks such as "cpu" → "cpu,cpuacct" are
 * skipped so that each hierarchy appears once.
 */
export function v1Hierarchies(root: string): string[] {
  try {
    return readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** The existing directories of cgroup `rel` ("berth/abc") in every hierarchy under `root`. */
export function v1Dirs(root: string, rel: string): string[] {
  return v1Hierarchies(root)
    .map((h) => join(root, h, rel))
    .filter(isDir);
}

/**
 * Reads the stat files of cgroup `rel` from the cpuacct, cpu, memory, pids and blkio hierarchies (by controller
 * name, so combined mounts reached through symlinks work). Undefined when the cgroup is in none of them.
 */
export async function readV1Files(root: string, rel: string): Promise<CgroupFiles | undefined> {
  const found = Object.entries(V1_STAT_FILES)
    .map(([controller, names]) => ({ dir: join(root, controller, rel), names }))
    .filter(({ dir }) => isDir(dir));
  if (found.length === 0) return undefined;
  const maps = await Promise.all(found.map(({ dir, names }) => readFiles(dir, names)));
  return new Map(maps.flatMap((m) => [...m]));
}
