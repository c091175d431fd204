/**
 * Turns a debootstrapped tree into a container rootfs: no host identity (hostname, machine-id, resolv.conf
 * copied from the host), no apt caches, an empty /dev (the runtime provides one), and for the systemd variant
 * the container-friendly unit setup from shared/SYSTEM-CONTAINERS.md (what CRIU needs to dump it).
 *
 * Every write goes through `safePath`, which refuses a path whose parent is a symlink, so nothing is written
 * outside the rootfs whatever the tree holds.
 */
import { lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { LibctError } from "../../errors.js";
import type { DebianVariant } from "./spec.js";

/** Units that sandbox themselves in ways CRIU cannot dump (nested UTS namespace, BPF programs). */
export const SANDBOXED_UNITS = [
  "systemd-hostnamed.service",
  "systemd-journald.service",
  "systemd-localed.service",
  "systemd-logind.service",
  "systemd-timedated.service",
] as const;

/** The drop-in each sandboxed unit gets, at etc/systemd/system/<unit>.d/berth-container.conf. */
export const SANDBOX_DROPIN = `# berth: system containers are checkpointed with CRIU, which cannot dump a nested UTS namespace
# or BPF program fds held by PID 1.
[Service]
ProtectHostname=no
IPAddressDeny=
RestrictFileSystems=
`;
export const DROPIN_NAME = "berth-container.conf";

/**
 * Units masked (linked to /dev/null): special mounts CRIU cannot dump, and gettys for virtual terminals a
 * container has none of. console-getty.service stays: systemd's getty generator starts it in containers.
 */
export const MASKED_UNITS = [
  "dev-hugepages.mount",
  "sys-kernel-debug.mount",
  "sys-kernel-tracing.mount",
  "sys-fs-fuse-connections.mount",
  "sys-kernel-config.mount",
  "proc-sys-fs-binfmt_misc.automount",
  "dev-mqueue.mount",
  "getty@tty1.service",
  "getty-static.service",
] as const;

export const HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/**
 * `root/rel` when every component of `rel` is a real directory (not a symlink). A missing component is created
 * (mode 0755) when `create` is set, else the result is undefined. Rejects with "invalid" for a symlink or a
 * non-directory, so nothing written below the result can land outside `root`.
 */
async function realDir(root: string, rel: string, create: boolean): Promise<string | undefined> {
  let dir = root;
  for (const part of rel.split("/").filter((p) => p !== "" && p !== ".")) {
    if (part === "..") throw new LibctError("invalid", `bad path ${rel}`);
    dir = join(dir, part);
    const st = await lstat(dir).catch(() => undefined);
    if (st === undefined) {
      if (!create) return undefined;
      await mkdir(dir, { mode: 0o755 });
    } else if (!st.isDirectory()) {
      throw new LibctError("invalid", `cannot prepare the rootfs: ${dir} is a symlink or not a directory`);
    }
  }
  return dir;
}

/** `root/rel` after `realDir` checked (and with `create`, made) its parent; undefined when the parent is missing. */
async function safePath(root: string, rel: string, create: boolean): Promise<string | undefined> {
  const parent = await realDir(root, dirname(rel), create);
  return parent === undefined ? undefined : join(parent, basename(rel));
}

/** Replaces `rel` (whatever it was: a file, a symlink) with a regular file holding `text`. */
async function replaceFile(root: string, rel: string, text: string, mode = 0o644): Promise<void> {
  const path = (await safePath(root, rel, true))!;
  await rm(path, { force: true });
  await writeFile(path, text, { mode, flag: "wx" });
}

/** Replaces `rel` with a symlink to `target`. */
async function replaceLink(root: string, rel: string, target: string): Promise<void> {
  const path = (await safePath(root, rel, true))!;
  await rm(path, { force: true });
  await symlink(target, path);
}

/** Removes `rel` if it exists (recursively). */
async function remove(root: string, rel: string): Promise<void> {
  const path = await safePath(root, rel, false);
  if (path !== undefined) await rm(path, { recursive: true, force: true });
}

/** Removes the entries of directory `rel` that `keep` rejects; the directory itself stays. */
async function emptyDir(root: string, rel: string, keep: (name: string) => boolean = () => false): Promise<void> {
  const dir = await realDir(root, rel, false);
  if (dir === undefined) return;
  for (const name of await readdir(dir)) {
    if (!keep(name)) await rm(join(dir, name), { recursive: true, force: true });
  }
}

/** Container-friendly systemd: drop-ins for sandboxed units, masks, no getty on tty1. */
export async function prepareSystemd(root: string): Promise<void> {
  for (const unit of SANDBOXED_UNITS) {
    await replaceFile(root, `etc/systemd/system/${unit}.d/${DROPIN_NAME}`, SANDBOX_DROPIN);
  }
  for (const unit of MASKED_UNITS) await replaceLink(root, `etc/systemd/system/${unit}`, "/dev/null");
  // A masked unit that is still wanted makes systemctl warn; drop the wants link debian enables.
  await remove(root, "etc/systemd/system/getty.target.wants/getty@tty1.service");
}

/** Logs and caches that record when the build ran (as debuerreotype-fixup removes them). */
const BUILD_TIME_FILES = [
  "var/log/bootstrap.log",
  "var/log/dpkg.log",
  "var/log/alternatives.log",
  "var/log/apt/history.log",
  "var/log/apt/term.log",
  "var/log/apt/eipp.log.xz",
  "var/cache/ldconfig/aux-cache",
  "var/lib/dpkg/status-old",
  "var/lib/dpkg/diversions-old",
  "var/lib/dpkg/statoverride-old",
  "var/cache/debconf/config.dat-old",
  "var/cache/debconf/templates.dat-old",
] as const;

/**
 * Sets the "last password change" field (days since the epoch) of every account in a shadow file to `days`,
 * in place, so the file keeps its owner and mode.
 */
async function pinShadowDates(root: string, rel: string, days: number): Promise<void> {
  const path = await safePath(root, rel, false);
  const st = path === undefined ? undefined : await lstat(path).catch(() => undefined);
  if (path === undefined || !st?.isFile()) return;
  const text = await readFile(path, "utf8");
  await writeFile(path, text.replace(/^([^:\n]*:[^:\n]*:)\d+:/gm, `$1${days}:`));
}

/**
 * Post-processes a debootstrapped `root` in place for use as a container image (see the file comment).
 * Rejects with "invalid" when the tree has symlinks where directories belong on the paths it writes.
 */
export async function prepareDebianRootfs(
  root: string,
  variant: DebianVariant,
  build: { readonly created: string },
): Promise<void> {
  await replaceFile(root, "etc/hostname", "");
  await replaceFile(root, "etc/hosts", HOSTS);
  await replaceFile(root, "etc/resolv.conf", ""); // debootstrap copies the host's; the runtime provides one
  await replaceFile(root, "etc/machine-id", "", 0o444); // empty: systemd makes a fresh id at boot
  await remove(root, "var/lib/dbus/machine-id"); // dbus then reads /etc/machine-id
  await emptyDir(root, "var/lib/apt/lists", (name) => name === "partial" || name === "lock");
  await emptyDir(root, "var/cache/apt/archives", (name) => !name.endsWith(".deb"));
  for (const name of ["pkgcache.bin", "srcpkgcache.bin"]) {
    await remove(root, `var/cache/apt/${name}`);
  }
  for (const rel of BUILD_TIME_FILES) await remove(root, rel);
  const days = Math.floor(Date.parse(build.created) / 86_400_000);
  for (const rel of ["etc/shadow", "etc/shadow-"]) await pinShadowDates(root, rel, days);
  await remove(root, "debootstrap"); // debootstrap's own work dir; absent after a successful run
  await emptyDir(root, "dev"); // device nodes: the runtime mounts its own /dev
  if (variant === "systemd") await prepareSystemd(root);
}
