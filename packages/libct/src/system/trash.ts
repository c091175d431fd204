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
 */
import { randomBytes } from "node:crypto";
import { type Dirent, existsSync, renameSync } from "node:fs";
import { mkdir, readdir, rm, rmdir, unlink } from "node:fs/promises";
import { basename, join } from "node:path";

/** The process's one queue of background removals. */
let removals: Promise<void> = Promise.resolve();

function removeLater(path: string): Promise<void> {
  const run = removals.then(() => removeTree(path));
  removals = run.catch(() => {});
  return run;
}

const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT";

/** rm -rf `path`, one call at a time; anything unusual (a busy mount, say) is left to rm's own handling. */
async function removeTree(path: string): Promise<void> {
  let entries: Dirent[];
  try {
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

export class Trash {
  private readonly pending = new Set<Promise<void>>();

  constructor(readonly dir: string) {}

  /** Creates the trash directory and removes what an earlier process left in it (in the background). */
  async open(): Promise<this> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) this.track(removeLater(join(this.dir, name)));
    return this;
  }

  /**
   * Takes `path` out of its place at once and removes it later. A missing path is fine. When it cannot be
   * renamed (another filesystem, say) it is removed before this returns, as rm would. The rename is
   * synchronous: one metadata call, cheaper than a trip through the thread pool on every container removal.
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
    this.track(removeLater(dest));
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
