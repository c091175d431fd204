/**
 * Deferred removal of directory trees, as containerd's snapshotters and Docker's layer store do: a tree is
 * renamed into the trash (one rename(2), atomic, on the same filesystem) and removed in the background, so a
 * container's removal does not wait for `rm -rf` of its bundle, log and upper directory. What a crash leaves
 * in the trash is removed by the next `sweep()` (on open). Nothing else may write into a trash directory.
 *
 * The background removal is one file system call at a time, for all trashes of the process together. Node's
 * `rm -r` issues a directory's entries at once, and a few trees in the trash then fill libuv's thread pool
 * (4 threads), so the next container's mkdirs and writes queue behind them (api-run's create, wait, delete
 * cycle showed it). Serial removal leaves three threads to the requests.
 *
 * A trash made with a `shape` recycles: a discarded tree is emptied down to that skeleton (its top directory
 * and the named subdirectories, all empty) and kept in a pool, and `reuse` renames one into the place of a new
 * tree instead of making its directories. Creating and removing directories costs inode allocations; on an
 * ext4 without a journal (`recently_deleted`) each allocation walks past every inode freed in the last 1-6
 * minutes, which made berthd's mkdirs the costliest system calls of a container's creation after a burst of
 * removals. A reused skeleton gets the owner and modes a new one would have; it never holds anything of the
 * tree it came from (files, other directories and what its kept directories held are removed first). The
 * pool lives in the trash, so a crash or a restart discards it with the rest.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, type Dirent, existsSync, renameSync, rmSync } from "node:fs";
import { lstat, mkdir, readdir, rename, rm, rmdir, unlink } from "node:fs/promises";
import { basename, join } from "node:path";

/** The process's one queue of background removals. */
let removals: Promise<void> = Promise.resolve();

function later(work: () => Promise<void>): Promise<void> {
  const run = removals.then(work);
  removals = run.catch(() => {});
  return run;
}

/**
 * Resolves once every background removal and recycling of every trash in this process is done, including
 * those queued meanwhile. A test must await it before removing a directory that holds a trash: a recycling
 * trash still makes a skeleton's kept directories, so a concurrent `rm -r` of the tree fails with ENOTEMPTY.
 */
export async function drainRemovals(): Promise<void> {
  for (let seen = removals; ; seen = removals) {
    await seen;
    if (seen === removals) return;
  }
}

const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT";

const removeLater = (path: string) => later(() => removeTree(path));

/**
 * rm -rf `path`, one call at a time; anything unusual (a busy mount, say) is left to rm's own handling. A
 * symbolic link is unlinked, never followed: its target is not part of the tree.
 */
async function removeTree(path: string): Promise<void> {
  let entries: Dirent[];
  try {
    if (!(await lstat(path)).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    entries = await readdir(path, { withFileTypes: true });
  } catch (err) {
    if (gone(err)) return;
    if ((err as NodeJS.ErrnoException).code !== "ENOTDIR") return rm(path, { recursive: true, force: true });
    await unlink(path).catch((e) => {
      if (!gone(e)) throw e;
    });
    return;
  }
  for (const e of entries) {
    const child = join(path, e.name);
    if (e.isDirectory()) await removeTree(child);
    else
      await unlink(child).catch((err) => {
        if (!gone(err)) return removeTree(child); // EISDIR: a directory the listing did not type
      });
  }
  await rmdir(path).catch((err) => {
    if (!gone(err)) return rm(path, { recursive: true, force: true });
  });
}

/** The skeleton a recycling trash keeps: the top directory's mode and its subdirectories' names and modes. */
export interface TrashShape {
  readonly mode: number;
  readonly dirs?: Readonly<Record<string, number>>;
}

export interface TrashOptions {
  /** Recycle discarded trees down to this skeleton (see the file's comment). */
  readonly shape?: TrashShape;
  /** At most this many skeletons are kept; the rest are removed. */
  readonly maxSpares?: number;
}

export class Trash {
  private readonly pending = new Set<Promise<void>>();
  /** Empty skeletons ready for `reuse`, in this process's pool directory. */
  private readonly spares: string[] = [];
  /** Skeletons being emptied: counted against maxSpares. */
  private recycling = 0;
  private pool: string | undefined;

  constructor(
    readonly dir: string,
    private readonly opts: TrashOptions = {},
  ) {}

  /**
   * Creates the trash directory and removes what an earlier process left in it (in the background), an
   * earlier pool of skeletons included: this process starts its own.
   */
  async open(): Promise<this> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) this.track(removeLater(join(this.dir, name)));
    if (this.opts.shape) {
      const pool = join(this.dir, `.spare-${process.pid}-${randomBytes(4).toString("hex")}`);
      await mkdir(pool, { mode: 0o700 });
      this.pool = pool;
    }
    return this;
  }

  /**
   * Takes `path` out of its place at once and removes it later (or, in a recycling trash, empties it into a
   * skeleton for `reuse`). A missing path is fine. When it cannot be renamed (another filesystem, say) it is
   * removed before this returns, as rm would. The rename is synchronous: one metadata call, cheaper than a
   * trip through the thread pool on every container removal.
   */
  async discard(path: string): Promise<void> {
    const dest = join(this.dir, `${basename(path)}.${randomBytes(6).toString("hex")}`);
    for (let attempt = 0; ; attempt++) {
      try {
        renameSync(path, dest);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" && attempt === 0 && existsSync(path)) {
          await mkdir(this.dir, { recursive: true, mode: 0o700 }); // the trash itself was missing
          continue;
        }
        if (code !== "ENOENT") await rm(path, { recursive: true, force: true });
        return;
      }
    }
    const { shape, maxSpares = 128 } = this.opts;
    if (shape && this.pool && this.spares.length + this.recycling < maxSpares) {
      this.recycling++;
      this.track(
        later(() => this.recycle(dest, shape)).finally(() => {
          this.recycling--;
        }),
      );
    } else this.track(removeLater(dest));
  }

  /**
   * Renames a recycled skeleton to `path` (which must not exist) and gives it, and its kept subdirectories,
   * this process's owner and the shape's modes. False when there is none (or `path` exists): the caller makes
   * the directories itself.
   */
  reuse(path: string): boolean {
    const shape = this.opts.shape;
    if (!shape || this.spares.length === 0 || existsSync(path)) return false;
    for (let spare = this.spares.pop(); spare !== undefined; spare = this.spares.pop()) {
      try {
        renameSync(spare, path);
      } catch {
        if (!existsSync(spare)) continue; // gone (a test's cleanup, a hand): the next one
        this.spares.push(spare); // the target's parent is missing, say: the caller's mkdir says what is wrong
        return false;
      }
      try {
        const uid = process.getuid?.() ?? 0;
        const gid = process.getgid?.() ?? 0;
        const reset = (p: string, mode: number) => {
          chownSync(p, uid, gid);
          chmodSync(p, mode);
        };
        reset(path, shape.mode);
        for (const [name, mode] of Object.entries(shape.dirs ?? {})) reset(join(path, name), mode);
        return true;
      } catch {
        rmSync(path, { recursive: true, force: true });
        return false;
      }
    }
    return false;
  }

  /** Empties a discarded tree down to the shape and adds it to the pool; what does not fit is removed. */
  private async recycle(path: string, shape: TrashShape): Promise<void> {
    const kept = shape.dirs ?? {};
    try {
      const top = await lstat(path);
      if (!top.isDirectory()) throw new Error("not a directory"); // never empty a link's target
      for (const e of await readdir(path, { withFileTypes: true })) {
        const child = join(path, e.name);
        if (e.isDirectory() && Object.hasOwn(kept, e.name)) {
          // a mount point still in use (an unmount that failed) is never handed to a new tree
          if ((await lstat(child)).dev !== top.dev) throw new Error("a mount point");
          for (const inner of await readdir(child)) await removeTree(join(child, inner));
        } else await removeTree(child);
      }
      for (const name of Object.keys(kept)) {
        await mkdir(join(path, name)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") throw err;
        });
      }
      if (!this.pool) throw new Error("no pool");
      const spare = join(this.pool, randomBytes(6).toString("hex"));
      await rename(path, spare);
      this.spares.push(spare);
    } catch {
      await removeTree(path);
    }
  }

  /** Resolves when every removal started so far is done (for tests and shutdown). */
  async drain(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private track(p: Promise<void>): void {
    const done = p.catch(() => {}).finally(() => this.pending.delete(done));
    this.pending.add(done);
  }
}
