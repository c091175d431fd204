/** cgroup v2 layout: one hierarchy at the cgroup root. */
import { join } from "node:path";
import { isDir, readFiles } from "../files.js";
import { type CgroupFiles, V2_STAT_FILES } from "../stats.js";

/** The directory of cgroup `rel` ("berth/abc") as a one-element list, or [] when it does not exist. */
export function v2Dirs(root: string, rel: string): string[] {
  const dir = join(root, rel);
  return isDir(dir) ? [dir] : [];
}

/** Reads the stat files of cgroup `rel`; files of controllers not enabled for it are simply absent. */
export async function readV2Files(root: string, rel: string): Promise<CgroupFiles | undefined> {
  const dir = join(root, rel);
  if (!isDir(dir)) return undefined;
  return readFiles(dir, V2_STAT_FILES);
}
