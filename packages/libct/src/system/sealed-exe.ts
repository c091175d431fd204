/**
 * runc from a sealed in-memory copy of its executable.
 *
 * Against CVE-2019-5736 (a container overwriting the host's runc through /proc/self/exe), `runc init` copies
 * the runc binary before it joins the container, on every container start and every exec. The runc 1.1 of
 * Debian 12 writes that copy to a file in its state directory (runc.XXXXXX): 8.7 MB written, mapped and freed
 * per container, and an inode made and deleted on the state directory's filesystem. runc skips the copy when
 * /proc/self/exe already is a memfd sealed against writes (F_SEAL_SEAL|SHRINK|GROW|WRITE, runc's
 * RUNC_MEMFD_SEALS; its own comment suggests an admin do this with a bind mount, which today's kernels refuse
 * for a memfd). So berthd makes that memfd once, with memfd_create(2) and fcntl(F_ADD_SEALS) through koffi,
 * and runs runc as `<run root>/bin/<berthd pid>/runc`, a symlink to /proc/<berthd pid>/fd/<memfd>: the process
 * is still called `runc` in ps, and every init maps the one shared, unwritable copy. The link is the process's
 * own, as the fd is: another process opening the same root (a test, a second libct) makes its own.
 *
 * The protection holds: the sealed copy cannot be written by anyone, as runc's own copy could not.
 * When the binary on disk changes (a runc upgrade), the next call makes a new copy. When koffi or memfd_create
 * is unavailable, callers use the binary's own path. A process killed with -9 leaves its link dangling (its
 * fds are gone); nothing uses it, and the next process to open the root removes it.
 */
import {
  closeSync,
  copyFileSync,
  fchmodSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { basename, join } from "node:path";
import { koffiLibc } from "./syscall.js";

const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;
/** F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE: what runc checks for. */
export const RUNC_MEMFD_SEALS = 0x1 | 0x2 | 0x4 | 0x8;

type MemfdCreate = (name: string, flags: number) => number;
type Fcntl = (fd: number, cmd: number, ...rest: unknown[]) => number;

let fns: { memfdCreate: MemfdCreate; fcntl: Fcntl } | null | undefined;

function load() {
  if (fns !== undefined) return fns;
  const k = koffiLibc();
  try {
    fns = k
      ? {
          memfdCreate: k.lib.func("int memfd_create(const char *name, unsigned int flags)") as MemfdCreate,
          fcntl: k.lib.func("int fcntl(int fd, int cmd, ...)") as Fcntl,
        }
      : null;
  } catch {
    fns = null;
  }
  return fns;
}

/** A sealed memfd holding `source`'s bytes, or undefined when it cannot be made here. */
export function sealedMemfd(source: string): number | undefined {
  const f = load();
  if (!f) return undefined;
  const fd = f.memfdCreate(`runc_cloned:${source}`, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return undefined;
  try {
    // Copied by the kernel (sendfile), not through a buffer here: freeing an 8.7 MB buffer would raise
    // glibc's mmap threshold, and berthd's heap would then keep more of what later requests free (bench density).
    copyFileSync(source, `/proc/self/fd/${fd}`);
    fchmodSync(fd, 0o755);
    if (f.fcntl(fd, F_ADD_SEALS, "int", RUNC_MEMFD_SEALS) !== 0) throw new Error("F_ADD_SEALS failed");
    if (f.fcntl(fd, F_GET_SEALS) !== RUNC_MEMFD_SEALS) throw new Error("seals not as set");
    return fd;
  } catch {
    closeSync(fd);
    return undefined;
  }
}

/** The on-disk identity of a file, to notice that it was replaced. */
function identity(path: string): string {
  const st = statSync(path);
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * One sealed copy per binary in this process, shared by every libct opened in it (tests open many). A copy
 * replaced by a newer one stays open: a runtime started just before may still be exec'ing it.
 */
const copies = new Map<string, { id: string; fd: number }>();

function sharedCopy(source: string): { id: string; fd: number } | undefined {
  const id = identity(source);
  const have = copies.get(source);
  if (have?.id === id) return have;
  const fd = sealedMemfd(source);
  if (fd === undefined) return undefined;
  const copy = { id, fd };
  copies.set(source, copy);
  return copy;
}

/** Removes the link directories of processes that are gone (a berthd killed with -9 leaves its own). */
function removeStaleLinkDirs(binRoot: string): void {
  let entries: string[];
  try {
    entries = readdirSync(binRoot);
  } catch {
    return;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    if (statSync(`/proc/${e}`, { throwIfNoEntry: false })) continue;
    rmSync(join(binRoot, e), { recursive: true, force: true });
  }
}

/**
 * `source` run from a sealed copy through the symlink `<binRoot>/<pid>/<name>`. `path` gives the link,
 * checking (at most once per `recheckMs`) that `source` is unchanged and copying it again when it is not; it
 * gives `source` itself when no copy could be made.
 */
export class SealedExecutable {
  private linked: { id: string; fd: number } | undefined;
  private checkedAt = 0;

  private constructor(
    readonly source: string,
    readonly link: string,
    private readonly recheckMs: number,
  ) {}

  /** Makes (or reuses) the copy and the link; undefined when no sealed copy can be made here. */
  static open(
    source: string,
    binRoot: string,
    opts: { name?: string; recheckMs?: number } = {},
  ): SealedExecutable | undefined {
    const dir = join(binRoot, String(process.pid));
    try {
      mkdirSync(dir, { recursive: true, mode: 0o711 });
      removeStaleLinkDirs(binRoot);
    } catch {
      return undefined;
    }
    const s = new SealedExecutable(source, join(dir, opts.name ?? basename(source)), opts.recheckMs ?? 2000);
    return s.refresh() ? s : undefined;
  }

  get path(): string {
    const now = Date.now();
    if (now - this.checkedAt >= this.recheckMs) {
      this.checkedAt = now;
      this.refresh();
    }
    return this.linked ? this.link : this.source;
  }

  /** Points the link at the current copy of `source`, making one when the binary changed. */
  private refresh(): boolean {
    let copy: { id: string; fd: number } | undefined;
    try {
      copy = sharedCopy(this.source);
    } catch {
      copy = undefined; // unreadable or gone: callers use (and report) the real path
    }
    if (!copy) {
      this.linked = undefined;
      return false;
    }
    if (copy === this.linked) return true;
    const tmp = `${this.link}.${process.pid}.tmp`;
    try {
      rmSync(tmp, { force: true });
      symlinkSync(`/proc/${process.pid}/fd/${copy.fd}`, tmp);
      renameSync(tmp, this.link);
    } catch {
      rmSync(tmp, { force: true });
      this.linked = undefined;
      return false;
    }
    this.linked = copy;
    return true;
  }
}
