/**
 * The one place that performs mounts. Drivers describe mounts as data (`Mount`); this module turns
 * them into mount(2)/umount2(2) calls through koffi (syscall.ts), or mount(8)/umount(8) when an option
 * needs mount(8) itself (loop devices) or koffi cannot load.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { LibctError } from "../errors.js";
import type { CommandRunner } from "./command.js";
import { MNT_DETACH, MS, mountFlags, SyscallError, sysMount, sysUmount, sysUmountAsync } from "./syscall.js";

/** A mount(2) call written down as data: storage drivers emit these, `mountAll` performs them. */
export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

export const overlayMount = (
  lowers: readonly string[],
  upper: string,
  work: string,
  extra: readonly string[] = [],
): Mount => ({
  type: "overlay",
  source: "overlay",
  options: [`lowerdir=${lowers.join(":")}`, `upperdir=${upper}`, `workdir=${work}`, ...extra],
});

export const bindMount = (source: string, readonly = false): Mount => ({
  type: "bind",
  source,
  options: ["rbind", ...(readonly ? ["ro"] : ["rw"])],
});

/**
 * Overlay's `volatile` option (Linux 5.10+) for a root filesystem that is thrown away with its container
 * (`run --rm`), as Podman does for those: the kernel skips every sync of the upper filesystem, fsync in
 * the container included. What matters is the unmount: unmounting an overlay otherwise syncs the whole
 * filesystem under the upper dir (overlay's sync_fs), which waits for every dirty page on it, the host's
 * included: 28 ms with 64 MiB of someone else's writes pending here, against 0.25 ms volatile. The price
 * is no durability after a host crash, and such an upper dir cannot be mounted again (the kernel leaves
 * work/incompat/volatile): fine for a root filesystem nobody keeps. Other mounts are returned as they are.
 */
export function volatileOverlays(mounts: readonly Mount[], kernel: { major: number; minor: number }): Mount[] {
  if (kernel.major < 5 || (kernel.major === 5 && kernel.minor < 10)) return [...mounts];
  return mounts.map((m) =>
    m.type === "overlay" && !m.options.includes("volatile") ? { ...m, options: [...m.options, "volatile"] } : m,
  );
}

/**
 * Mounts `mounts` in order on `target` (all on the same target, as containerd's rootfs mounts). All or
 * nothing: when one fails, what was already mounted on `target` is unmounted before the error is thrown.
 */
export async function mountAll(cmd: CommandRunner, mounts: readonly Mount[], target: string): Promise<void> {
  let mounted = 0;
  try {
    for (const m of mounts) {
      await mountOne(cmd, m, target);
      mounted++;
    }
  } catch (err) {
    for (let i = 0; i < mounted; i++) await unmount(cmd, target).catch(() => {});
    throw err;
  }
}

/** One mount; a read-only bind whose remount fails is unmounted again, so it mounts fully or not at all. */
async function mountOne(cmd: CommandRunner, m: Mount, target: string): Promise<void> {
  const opts = m.options.join(",");
  if (opts.length > 4000) {
    throw new LibctError(
      "invalid",
      `mount options for ${target} are ${opts.length} bytes; the kernel takes at most one page (4096): use fewer layers`,
    );
  }
  const bind = m.type === "bind";
  const readonlyBind = bind && m.options.includes("ro");
  const direct = mountFlags(m.options);
  // A bind mount ignores MS_RDONLY on the first call: read-only takes a remount, as mount(8) does.
  const first = direct
    ? sysMount(
        m.source,
        target,
        bind ? null : m.type,
        bind ? (direct.flags | MS.BIND) & ~MS.RDONLY : direct.flags,
        bind ? "" : direct.data,
      )
    : false;
  if (!first) {
    await cmd.run("mount", bind ? ["--bind", m.source, target] : ["-t", m.type, "-o", opts, m.source, target]);
  }
  if (!readonlyBind) return;
  try {
    if (!sysMount("none", target, null, MS.REMOUNT | MS.BIND | MS.RDONLY, ""))
      await cmd.run("mount", ["-o", "remount,bind,ro", target]);
  } catch (err) {
    await unmount(cmd, target).catch(() => {});
    throw err;
  }
}

/** Unmounts `target` (lazily when busy); a target that is not mounted is fine. */
export async function unmount(cmd: CommandRunner, target: string): Promise<void> {
  try {
    const done = await sysUmountAsync(target);
    if (done) return;
  } catch (err) {
    if (err instanceof SyscallError && err.errno === 2) return; // ENOENT: no such target, nothing mounted
    if (err instanceof SyscallError && err.errno === 16) {
      sysUmount(target, MNT_DETACH); // EBUSY: detach lazily, as `umount -l`
      return;
    }
    throw err;
  }
  if (!(await isMountPoint(target))) return;
  try {
    await cmd.run("umount", [target]);
  } catch {
    await cmd.run("umount", ["-l", target]);
  }
}

/** True when `path` is a mount point, from /proc/self/mountinfo. */
export async function isMountPoint(path: string): Promise<boolean> {
  return topMountIn(await readFile("/proc/self/mountinfo", "utf8"), path) !== undefined;
}

/** The filesystem type and source of the mount on top at exactly `path`, or undefined where nothing is mounted. */
export function mountAt(path: string): { type: string; source: string } | undefined {
  return topMountIn(readFileSync("/proc/self/mountinfo", "utf8"), path);
}

/** Field 5 of a mountinfo line is the mount point (octal-escaped); after " - " come the type and the source. */
function topMountIn(info: string, path: string): { type: string; source: string } | undefined {
  const want = path.replace(/\/+$/, "");
  let found: { type: string; source: string } | undefined;
  for (const line of info.split("\n")) {
    const mp = line.split(" ")[4];
    if (!mp || mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))) !== want)
      continue;
    const [type = "", source = ""] = line.split(" - ")[1]?.split(" ") ?? [];
    found = { type, source }; // the last one listed is the one on top
  }
  return found;
}
