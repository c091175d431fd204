/**
 * Deferred removal of directory trees, as containerd's snapshotters and Docker's layer store do: a tree is
 * renamed into the trash (one rename(2), atomic, on the same filesystem) and removed in the background, so a
 * container's removal does not wait for `rm -rf` of its bundle, log and upper directory. What a crash leaves
 * in the trash is removed by the next `sweep()` (on open). Nothing else may write into a trash directory.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";

export class Trash {
  private readonly pending = new Set<Promise<void>>();

  constructor(readonly dir: string) {}

  /** Creates the trash directory and removes what an earlier process left in it (in the background). */
  async open(): Promise<this> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) this.track(rm(join(this.dir, name), { recursive: true, force: true }));
    return this;
  }

  /**
   * Takes `path` out of its place at once and removes it later. A missing path is fine. When it cannot be
   * renamed (another filesystem, say) it is removed before this returns, as rm would.
   */
  async discard(path: string): Promise<void> {
    const dest = join(this.dir, `${basename(path)}.${randomBytes(6).toString("hex")}`);
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(path, dest);
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
    this.track(rm(dest, { recursive: true, force: true }));
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
