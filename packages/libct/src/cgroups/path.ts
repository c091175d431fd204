/** Pure helpers for cgroup paths (no node: imports). */
import { LibctError } from "../errors.js";

/**
 * Normalises a runc `linux.cgroupsPath` in cgroupfs style ("/berth/abc") to its segments below a hierarchy's
 * root ("berth/abc"). Rejects empty paths, "." and ".." segments, and systemd-style "slice:prefix:name" paths,
 * which berth does not use: the result is always a directory strictly below the hierarchy root.
 * @example cgroupRelPath("/berth/web-1") === "berth/web-1"
 */
export function cgroupRelPath(cgroupsPath: string): string {
  const segments = cgroupsPath.split("/").filter((s) => s !== "");
  const bad = (why: string) => new LibctError("invalid", `cgroups path ${JSON.stringify(cgroupsPath)}: ${why}`);
  if (segments.length === 0) throw bad("names the root cgroup; a container needs its own");
  if (segments.some((s) => s === "." || s === "..")) throw bad('"." and ".." are not allowed');
  if (cgroupsPath.includes(":"))
    throw bad('systemd-style "slice:prefix:name" paths are not supported; use /berth/<id>');
  if (cgroupsPath.includes("\0")) throw bad("contains a NUL byte");
  return segments.join("/");
}
