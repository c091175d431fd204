/**
 * mount(2) and umount2(2) called directly through koffi (an FFI with prebuilt binaries for Node-API),
 * because spawning mount(8) costs 3–4 ms per call from a daemon-sized Node process and a container's
 * create and remove each need one. Everything else (loop devices, helpers such as mount.fuse) stays
 * with mount(8): `mountFlags` returns undefined for options it does not know, and callers fall back.
 */
import { closeSync, constants, openSync } from "node:fs";
import { createRequire } from "node:module";
import { LibctError } from "../errors.js";

type MountFn = (
  source: string | null,
  target: string,
  type: string | null,
  flags: number,
  data: string | null,
) => number;
type Umount2Fn = ((target: string, flags: number) => number) & {
  async(target: string, flags: number, cb: (err: unknown, res: number) => void): void;
};
type MallocTrimFn = (pad: number) => number;
type SyscallFn = (nr: number) => number;
type IoctlFn = (fd: number, request: number, arg: Buffer) => number;
interface Koffi {
  load(path: string): { func(signature: string): unknown };
  errno(): number;
}

let opened: { koffi: Koffi; lib: ReturnType<Koffi["load"]> } | null | undefined;

/** koffi and glibc, loaded once for every caller (this file, spawn.ts); null when koffi cannot load here. */
export function koffiLibc(): { koffi: Koffi; lib: ReturnType<Koffi["load"]> } | null {
  if (opened !== undefined) return opened;
  try {
    const koffi = createRequire(import.meta.url)("koffi") as Koffi;
    opened = { koffi, lib: koffi.load("libc.so.6") };
  } catch {
    opened = null;
  }
  return opened;
}

let loaded:
  | {
      mount: MountFn;
      umount2: Umount2Fn;
      mallocTrim: MallocTrimFn;
      syscall: SyscallFn;
      ioctl: IoctlFn;
      errno: () => number;
    }
  | null
  | undefined;

/** The libc functions, or null when koffi cannot load here (then callers spawn mount(8)). */
function libc() {
  if (loaded !== undefined) return loaded;
  const k = koffiLibc();
  if (!k) {
    loaded = null;
    return loaded;
  }
  const { koffi, lib } = k;
  try {
    loaded = {
      mount: lib.func("int mount(const char*, const char*, const char*, unsigned long, const char*)") as MountFn,
      umount2: lib.func("int umount2(const char*, int)") as Umount2Fn,
      mallocTrim: lib.func("int malloc_trim(size_t)") as MallocTrimFn,
      syscall: lib.func("long syscall(long, ...)") as SyscallFn,
      ioctl: lib.func("int ioctl(int, unsigned long, void *)") as IoctlFn,
      errno: () => koffi.errno(),
    };
  } catch {
    loaded = null;
  }
  return loaded;
}

export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  DIRSYNC: 0x80,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
} as const;

const FLAG_OPTIONS: Readonly<Record<string, number>> = {
  ro: MS.RDONLY,
  rw: 0,
  nosuid: MS.NOSUID,
  suid: 0,
  nodev: MS.NODEV,
  dev: 0,
  noexec: MS.NOEXEC,
  exec: 0,
  sync: MS.SYNCHRONOUS,
  async: 0,
  dirsync: MS.DIRSYNC,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  remount: MS.REMOUNT,
  bind: MS.BIND,
  rbind: MS.BIND | MS.REC,
  defaults: 0,
};

/** Options that only mount(8) understands (it sets up devices or runs helpers for them). */
const NEEDS_MOUNT8 = /^(loop|offset=|sizelimit=|x-|X-|user|users|owner|group|_netdev|nofail|auto|noauto)/;

/** Splits mount(8)-style options into mount(2) flags and the data string, or undefined when mount(8) is needed. */
export function mountFlags(options: readonly string[]): { flags: number; data: string } | undefined {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    if (NEEDS_MOUNT8.test(o)) return undefined;
    const f = FLAG_OPTIONS[o];
    if (f === undefined) data.push(o);
    else flags |= f;
  }
  return { flags, data: data.join(",") };
}

const errnoName: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  13: "EACCES",
  16: "EBUSY",
  19: "ENODEV",
  20: "ENOTDIR",
  22: "EINVAL",
  36: "ENAMETOOLONG",
};

export class SyscallError extends LibctError {
  constructor(
    readonly call: string,
    readonly errno: number,
    what: string,
  ) {
    super("internal", `${call} ${what}: ${errnoName[errno] ?? `errno ${errno}`}`);
  }
}

/** mount(2); false when koffi is unavailable (the caller spawns mount(8) instead). */
export function sysMount(source: string, target: string, type: string | null, flags: number, data: string): boolean {
  const c = libc();
  if (!c) return false;
  if (c.mount(source, target, type, flags, data || null) !== 0) {
    throw new SyscallError("mount", c.errno(), `${type ?? "bind"} ${source} on ${target}`);
  }
  return true;
}

export const MNT_DETACH = 2;

/** umount2(2); "not-mounted" for EINVAL (nothing mounted there), false when koffi is unavailable. */
export function sysUmount(target: string, flags = 0): boolean | "not-mounted" {
  const c = libc();
  if (!c) return false;
  if (c.umount2(target, flags) === 0) return true;
  const errno = c.errno();
  if (errno === 22) return "not-mounted";
  throw new SyscallError("umount", errno, target);
}

/**
 * umount2(2) on one of koffi's worker threads: unmounting an overlay waits for the kernel to sync it (about
 * 1 ms), which the event loop need not sit through. Same answers as sysUmount.
 */
export function sysUmountAsync(target: string, flags = 0): Promise<boolean | "not-mounted"> {
  const c = libc();
  if (!c) return Promise.resolve(false);
  return new Promise((resolve, reject) => {
    c.umount2.async(target, flags, (err, res) => {
      if (err) return reject(err);
      if (res === 0) return resolve(true);
      const errno = c.errno();
      if (errno === 22) return resolve("not-mounted");
      reject(new SyscallError("umount", errno, target));
    });
  });
}

/**
 * glibc's malloc_trim(0): gives freed heap pages in every malloc arena back to the kernel. A daemon that
 * spawns and reads files in bursts (libuv's thread pool has arenas of its own) otherwise keeps its peak
 * native memory resident long after the burst. Returns false when koffi is unavailable.
 */
export function mallocTrim(): boolean {
  const c = libc();
  if (!c) return false;
  c.mallocTrim(0);
  return true;
}

const X32_SYSCALL_BIT = 0x40000000;
const X32_NR_GETPID = 39;
const ENOSYS = 38;

/**
 * Whether this kernel runs x32 system calls (CONFIG_X86_X32_ABI, and not disabled at boot): getpid(2) through
 * the x32 ABI either answers or fails with ENOSYS. undefined off x86-64 or when koffi is unavailable.
 */
export function x32SyscallsWork(): boolean | undefined {
  const c = process.arch === "x64" ? libc() : null;
  if (!c) return undefined;
  if (c.syscall(X32_SYSCALL_BIT | X32_NR_GETPID) === process.pid) return true;
  return c.errno() === ENOSYS ? false : undefined;
}

const FS_IOC_GETFLAGS = 0x80086601;
const FS_IOC_SETFLAGS = 0x40086602;
/** ext2/3/4's "top of directory hierarchies" attribute (chattr +T). */
const FS_TOPDIR_FL = 0x00020000;

/**
 * Marks `dir` as the top of independent directory hierarchies (chattr +T): ext4's Orlov allocator then spreads
 * the directories made in it over the filesystem's block groups, as it does for those in the root, instead of
 * keeping them near `dir`. For the directories that hold one tree per container (their directories, rootfs
 * snapshots): each container's files are made and freed in a group of their own rather than all in one, and on
 * an ext4 without a journal, where a new inode is found by walking past every one its group freed in the last
 * minutes (`recently_deleted`), the walks stay short. True when the flag is set (or was); false where the
 * filesystem has no such flag (xfs, btrfs, tmpfs) or koffi is unavailable: only placement differs.
 */
export function spreadSubtrees(dir: string): boolean {
  const c = libc();
  if (!c) return false;
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return false;
  }
  try {
    const flags = Buffer.alloc(8);
    if (c.ioctl(fd, FS_IOC_GETFLAGS, flags) !== 0) return false;
    const now = flags.readInt32LE(0);
    if (now & FS_TOPDIR_FL) return true;
    flags.writeInt32LE(now | FS_TOPDIR_FL, 0);
    return c.ioctl(fd, FS_IOC_SETFLAGS, flags) === 0;
  } finally {
    closeSync(fd);
  }
}
