/**
 * The overlay storage driver: each snapshot is a directory `snapshots/<n>/fs` (plus `work` for an
 * active one); an active snapshot on top of a chain of committed ones is an overlay mount whose
 * lowerdirs are the parents' `fs` directories. Metadata lives in one JSON file replaced atomically, and in
 * memory between changes (this process is its only writer). A removed snapshot's directory goes to the trash.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { LibctError } from "../../errors.js";
import type { CommandRunner } from "../../system/command.js";
import { bindMount, type Mount, overlayMount } from "../../system/mount.js";
import { Trash } from "../../system/trash.js";
import type { SnapshotInfo, StorageDriver } from "../driver.js";

interface Meta {
  next: number;
  snapshots: Record<string, SnapshotInfo & { id: number }>;
}

export class OverlayDriver implements StorageDriver {
  readonly name = "overlay";
  private queue: Promise<unknown> = Promise.resolve();
  /** meta.json as last read or written. */
  private meta: Meta | undefined;

  private constructor(
    readonly root: string,
    private readonly cmd: CommandRunner,
    private readonly trash: Trash,
  ) {}

  static async open(root: string, cmd: CommandRunner): Promise<OverlayDriver> {
    await mkdir(join(root, "snapshots"), { recursive: true, mode: 0o700 });
    return new OverlayDriver(root, cmd, await new Trash(join(root, "trash")).open());
  }

  /**
   * Metadata changes are serialized in this process; berthd is the only writer of a root. `fn` gets a working
   * copy whose `snapshots` map is its own (entries are replaced, never changed in place), so a change that fails
   * before `save` leaves the loaded metadata as it was.
   */
  private exclusive<T>(fn: (meta: Meta) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const cur = await this.load();
      return fn({ next: cur.next, snapshots: { ...cur.snapshots } });
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** The loaded metadata, shared: readers must not change it (they copy what they hand out). */
  private async load(): Promise<Meta> {
    if (this.meta) return this.meta;
    try {
      this.meta = JSON.parse(await readFile(join(this.root, "meta.json"), "utf8")) as Meta;
      return this.meta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { next: 1, snapshots: {} };
      throw new LibctError("internal", `overlay metadata ${join(this.root, "meta.json")} is unreadable`, {
        cause: err,
      });
    }
  }

  /**
   * Writes and renames synchronously, as the directories of prepare are made: metadata operations on the
   * local disk take microseconds, where each trip through the thread pool costs about 100 us (and every
   * container create and remove passes here).
   */
  private async save(meta: Meta): Promise<void> {
    const tmp = join(this.root, `meta.json.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(meta));
    renameSync(tmp, join(this.root, "meta.json"));
    this.meta = meta;
  }

  private dir(id: number): string {
    return join(this.root, "snapshots", String(id));
  }

  private get(meta: Meta, key: string) {
    const s = meta.snapshots[key];
    if (!s) throw new LibctError("not-found", `no snapshot '${key}' in the overlay store`);
    return s;
  }

  /** `fs` directories of the committed chain starting at `key`, nearest first (overlay lowerdir order). */
  private chain(meta: Meta, key: string | undefined): string[] {
    const out: string[] = [];
    for (let k = key; k !== undefined; k = meta.snapshots[k]?.parent)
      out.push(join(this.dir(this.get(meta, k).id), "fs"));
    return out;
  }

  private mountsOf(meta: Meta, key: string): Mount[] {
    const s = this.get(meta, key);
    const fs = join(this.dir(s.id), "fs");
    const lowers = this.chain(meta, s.parent);
    if (s.kind === "committed") {
      // A read-only view: overlay with only lowerdirs (at least two), or a read-only bind of one layer.
      if (lowers.length === 0) return [bindMount(fs, true)];
      return [{ type: "overlay", source: "overlay", options: [`lowerdir=${[fs, ...lowers].join(":")}`] }];
    }
    if (lowers.length === 0) return [bindMount(fs)];
    return [overlayMount(lowers, fs, join(this.dir(s.id), "work"), ["index=off"])];
  }

  prepare(key: string, parent?: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.exclusive(async (meta) => {
      if (meta.snapshots[key]) throw new LibctError("conflict", `snapshot '${key}' already exists`);
      if (parent !== undefined) {
        const p = this.get(meta, parent);
        if (p.kind !== "committed")
          throw new LibctError("precondition", `parent '${parent}' is not committed; commit it first`);
      }
      const id = meta.next++;
      const dir = this.dir(id);
      // A directory under a number meta.json has not handed out yet is what a crash left: start afresh.
      try {
        mkdirSync(dir, { mode: 0o755 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        await rm(dir, { recursive: true, force: true });
        mkdirSync(dir, { mode: 0o755 });
      }
      try {
        mkdirSync(join(dir, "fs"), { mode: 0o755 });
        mkdirSync(join(dir, "work"), { mode: 0o700 });
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      meta.snapshots[key] = {
        id,
        key,
        kind: "active",
        ...(parent ? { parent } : {}),
        createdAt: new Date().toISOString(),
        labels,
      };
      await this.save(meta);
      return this.mountsOf(meta, key);
    });
  }

  mounts(key: string): Promise<Mount[]> {
    return this.load().then((meta) => this.mountsOf(meta, key));
  }

  commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    return this.exclusive(async (meta) => {
      const s = this.get(meta, key);
      if (s.kind !== "active") throw new LibctError("precondition", `snapshot '${key}' is already committed`);
      if (meta.snapshots[name]) throw new LibctError("conflict", `snapshot '${name}' already exists`);
      delete meta.snapshots[key];
      meta.snapshots[name] = { ...s, key: name, kind: "committed", labels: labels ?? s.labels };
      await rm(join(this.dir(s.id), "work"), { recursive: true, force: true });
      await this.save(meta);
    });
  }

  remove(key: string): Promise<void> {
    return this.exclusive(async (meta) => {
      const s = this.get(meta, key);
      const child = Object.values(meta.snapshots).find((c) => c.parent === key);
      if (child)
        throw new LibctError("precondition", `snapshot '${key}' is the parent of '${child.key}'; remove that first`);
      delete meta.snapshots[key];
      await this.save(meta);
      await this.trash.discard(this.dir(s.id));
    });
  }

  async stat(key: string): Promise<SnapshotInfo> {
    const { id: _id, ...info } = this.get(await this.load(), key);
    return structuredClone(info);
  }

  async list(): Promise<SnapshotInfo[]> {
    return Object.values((await this.load()).snapshots).map(({ id: _id, ...info }) => structuredClone(info));
  }

  async usage(key: string): Promise<bigint> {
    const s = this.get(await this.load(), key);
    const { stdout } = await this.cmd.run("du", ["-sb", join(this.dir(s.id), "fs")]);
    return BigInt(stdout.split(/\s/)[0] ?? "0");
  }

  async writableDir(key: string): Promise<string> {
    const s = this.get(await this.load(), key);
    if (s.kind !== "active") throw new LibctError("precondition", `snapshot '${key}' is committed and read-only`);
    return join(this.dir(s.id), "fs");
  }
}
