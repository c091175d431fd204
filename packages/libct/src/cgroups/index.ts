/**
 * cgroups: container resource stats and cgroup housekeeping on cgroup v1, hybrid and v2 hosts.
 *
 * Containers get `linux.cgroupsPath` = "/berth/<id>" (cgroupfs style), so their cgroup is
 * `<root>/<hierarchy>/berth/<id>` on v1 and hybrid hosts and `<root>/berth/<id>` on v2.
 * Parsing lives in parse/ and stats.ts (pure); v1/ and v2/ read files; this module picks one by `host.cgroup.mode`
 * (hybrid behaves as v1 for controllers, but housekeeping also covers its cgroup2 "unified" mount).
 *
 * @example
 * const stats = await readStats(host, "/berth/web-1");
 * console.log(stats.memory?.usageBytes, stats.pids?.current);
 * await removeCgroup(host, "/berth/web-1"); // after the runtime has deleted the container
 */

import { chown, readdir, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { LibctError } from "../errors.js";
import type { HostFacts } from "../model/host.js";
import { readSmallFile } from "../system/read.js";
import { errno, GONE, rmdirCgroup, subtreeLeafFirst } from "./files.js";
import { parseFlatKeyed } from "./parse/index.js";
import { cgroupRelPath } from "./path.js";
import { type ContainerStats, statsFromV1, statsFromV2 } from "./stats.js";
import { readV1Files, v1Dirs } from "./v1/hierarchies.js";
import { readV2Files, v2Dirs } from "./v2/unified.js";

export * from "./parse/index.js";
export { cgroupRelPath } from "./path.js";
export * from "./stats.js";

type CgroupHost = Pick<HostFacts, "cgroup">;

/**
 * Reads a container's resource usage now. Controllers that are absent (no pids hierarchy, memory not enabled in
 * the v2 parent) leave their section or field out.
 * @throws LibctError "not-found" when the cgroup exists in none of the hierarchies; "invalid" for a bad path;
 *   CgroupParseError ("internal") when the kernel prints something unexpected.
 */
export async function readStats(host: CgroupHost, cgroupsPath: string): Promise<ContainerStats> {
  const rel = cgroupRelPath(cgroupsPath);
  const readAt = new Date();
  const { mode, root } = host.cgroup;
  const files = mode === "v2" ? await readV2Files(root, rel) : await readV1Files(root, rel);
  if (!files) throw notFound(host, cgroupsPath);
  return mode === "v2" ? statsFromV2(files, readAt) : statsFromV1(files, readAt);
}

/**
 * Every existing directory of the cgroup: on v1 and hybrid hosts one per hierarchy (controllers, the named
 * "systemd" hierarchy and the hybrid "unified" cgroup2 mount), on v2 the single one. Sorted by hierarchy;
 * [] when the cgroup does not exist.
 */
/**
 * The cgroup's OOM-kill counter alone (v1 memory.oom_control, v2 memory.events): one file read, for
 * the hot path after every exit. Undefined when the cgroup or the memory controller is absent.
 */
export function readOomKills(host: CgroupHost, cgroupsPath: string): bigint | undefined {
  const rel = cgroupRelPath(cgroupsPath);
  const { mode, root } = host.cgroup;
  const file = mode === "v2" ? join(root, rel, "memory.events") : join(root, "memory", rel, "memory.oom_control");
  // A cgroup file is generated in memory and never waits on a disk: read directly (system/read.ts).
  const text = readSmallFile(file, undefined);
  if (text === undefined) return undefined;
  return parseFlatKeyed(file, text).get("oom_kill") ?? 0n;
}

export function cgroupDirs(host: CgroupHost, cgroupsPath: string): string[] {
  const rel = cgroupRelPath(cgroupsPath);
  const { mode, root } = host.cgroup;
  return mode === "v2" ? v2Dirs(root, rel) : v1Dirs(root, rel);
}

/** True if the cgroup exists in at least one hierarchy. */
export function cgroupExists(host: CgroupHost, cgroupsPath: string): boolean {
  return cgroupDirs(host, cgroupsPath).length > 0;
}

/**
 * The files that hand a cgroup over to another owner, as cgroup v2's delegation model (and LXC on v1) defines it:
 * moving processes in and creating child cgroups. The resource files (memory.limit_in_bytes, pids.max, ...) stay
 * root's, so a container cannot raise its own limits.
 */
export const DELEGATION_FILES = ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "tasks"] as const;

/**
 * Delegates the cgroup to `uid`:`gid` (the container's mapped root, e.g. 100000:100000): chowns its directory in
 * every hierarchy and the delegation files in it ({@link DELEGATION_FILES}). Needed between `runc create` and
 * `runc start` for unprivileged systemd containers, whose PID 1 creates its own child cgroups.
 * @throws LibctError "not-found" when the cgroup does not exist; "internal" when a chown fails.
 */
export async function chownCgroup(host: CgroupHost, cgroupsPath: string, uid: number, gid: number): Promise<void> {
  const dirs = cgroupDirs(host, cgroupsPath);
  if (dirs.length === 0) throw notFound(host, cgroupsPath);
  const delegated = new Set<string>(DELEGATION_FILES);
  for (const dir of dirs) {
    const present = (await readdir(dir)).filter((name) => delegated.has(name));
    for (const path of [dir, ...present.map((name) => join(dir, name))]) {
      try {
        await chown(path, uid, gid);
      } catch (err) {
        if (GONE.has(errno(err) ?? "")) continue;
        throw new LibctError("internal", `cannot chown ${path} to ${uid}:${gid}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
}

/**
 * Removes the cgroup in every hierarchy, child cgroups first (a systemd container leaves init.scope and slices
 * behind). Kills nothing: a cgroup that still has processes is reported, not emptied. Directories that are already
 * gone are fine, so removing twice succeeds.
 * @throws LibctError "precondition" naming the cgroup and the busy directories when processes remain in it.
 */
export async function removeCgroup(host: CgroupHost, cgroupsPath: string): Promise<void> {
  const busy: string[] = [];
  let failure: NodeJS.ErrnoException | undefined;
  // The hierarchies are independent (a dozen on v1): in parallel. Most cgroups have no children, so each is
  // first removed as it is, and walked leaf-first only when that fails.
  await Promise.all(
    cgroupDirs(host, cgroupsPath).map(async (dir) => {
      const quick = await rmdir(dir).then(
        () => true,
        (err) => errno(err) === "ENOENT",
      );
      if (quick) return;
      for (const sub of await subtreeLeafFirst(dir)) {
        if (busy.some((b) => b.startsWith(`${sub}/`))) continue; // its busy child keeps it busy too
        const err = await rmdirCgroup(sub);
        if (!err) continue;
        if (err.code === "EBUSY" || err.code === "ENOTEMPTY") busy.push(sub);
        else failure ??= err;
      }
    }),
  );
  if (busy.length > 0) {
    throw new LibctError(
      "precondition",
      `cgroup ${cgroupsPath} still has processes (busy: ${busy.sort().join(", ")}); stop the container first`,
    );
  }
  if (failure) {
    throw new LibctError("internal", `cannot remove cgroup ${cgroupsPath}: ${failure.message}`, { cause: failure });
  }
}

function notFound(host: CgroupHost, cgroupsPath: string): LibctError {
  return new LibctError("not-found", `cgroup ${cgroupsPath} not found under ${host.cgroup.root} (${host.cgroup.mode})`);
}
