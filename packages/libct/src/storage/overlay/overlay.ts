/**
 * The overlay storage driver: each snapshot is a directory `snapshots/<n>/fs` (plus `work` for an
 * active one); an active snapshot on top of a chain of committed ones is an overlay mount whose
 * lowerdirs are the parents' `fs` directories. Each snapshot's metadata is `snapshots/<n>/snapshot.json`, and
 * in memory between changes (this process is its only writer). A removed snapshot's directory goes to the
 * trash, which is its removal.
 *
 * One small file per snapshot, written once by prepare (and again by commit), keeps a container's create and
 * remove O(1): the single meta.json of earlier versions was rewritten whole on every create and remove, and
 * each rewrite (a new temporary file renamed over the old one) made ext4 write the new file's data out at
 * once (auto_da_alloc), 0.5-0.8 ms of berthd's main thread per container here. A store in that layout is
 * converted when opened.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { LibctError } from "../../errors.js";
import type { CommandRunner } from "../../system/command.js";
import { bindMount, type Mount, overlayMount } from "../../system/mount.js";
import { spreadSubtrees } from "../../system/syscall.js";
import { Trash } from "../../system/trash.js";
import type { SnapshotInfo, StorageDriver } from "../driver.js";

type Entry = SnapshotInfo & { id: number };

interface Meta {
  /** The number the next prepare takes: above every directory seen, never handed out twice by this process. */
  next: number;
  snapshots: Record<string, Entry>;
}

const INFO = "snapshot.json";

export class OverlayDriver implements StorageDriver {
  readonly name = "overlay";
  private queue: Promise<unknown> = Promise.resolve();
  /** The store as loaded (and changed since) by this process. */
  private meta: Promise<Meta> | undefined;

  private constructor(
    readonly root: string,
    private readonly cmd: CommandRunner,
    private readonly trash: Trash,
  ) {}

  static async open(root: string, cmd: CommandRunner): Promise<OverlayDriver> {
    await mkdir(join(root, "snapshots"), { recursive: true, mode: 0o700 });
    spreadSubtrees(join(root, "snapshots")); // one tree per snapshot (system/syscall.ts)
    // A removed snapshot's directory and work directory are kept, emptied, for the next prepare (system/trash.ts);
    // its fs directory, which the container could change (owner, mode, xattrs), is never reused.
    const trash = new Trash(join(root, "trash"), { shape: { mode: 0o755, dirs: { work: 0o700 } } });
    return new OverlayDriver(root, cmd, await trash.open());
  }

  /**
   * Metadata changes are serialized in this process; berthd is the only writer of a root. `fn` gets a working
   * copy whose `snapshots` map is its own (entries are replaced, never changed in place), which becomes the
   * store's once `fn` succeeds; a change that fails leaves the loaded metadata as it was.
   */
  private exclusive<T>(fn: (meta: Meta) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const cur = await this.load();
      const work = { next: cur.next, snapshots: { ...cur.snapshots } };
      try {
        const out = await fn(work);
        this.meta = Promise.resolve(work);
        return out;
      } catch (err) {
        cur.next = work.next; // a number taken is not handed out again, even by a change that failed
        throw err;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** The loaded metadata, shared: readers must not change it (they copy what they hand out). */
  private load(): Promise<Meta> {
    this.meta ??= this.scan().catch((err) => {
      this.meta = undefined;
      throw err;
    });
    return this.meta;
  }

  /**
   * Reads every snapshot's snapshot.json. A directory without one is what a crash left between prepare's
   * mkdir and its write: it goes to the trash. A snapshot.json that does not parse (it is written atomically,
   * so only damage does that) stops the store from opening rather than lose the snapshot.
   */
  private async scan(): Promise<Meta> {
    const legacy = this.readLegacy();
    const meta: Meta = { next: legacy?.next ?? 1, snapshots: {} };
    const byId = new Map(Object.values(legacy?.snapshots ?? {}).map((s) => [s.id, s]));
    for (const name of readdirSync(join(this.root, "snapshots"))) {
      if (!/^[1-9]\d{0,15}$/.test(name)) continue;
      const id = Number(name);
      meta.next = Math.max(meta.next, id + 1);
      const info = legacy ? byId.get(id) : this.readInfo(id);
      if (!info) {
        await this.trash.discard(this.dir(id));
        continue;
      }
      const { id: _id, ...rest } = info as Entry;
      if (legacy) this.writeInfo(id, rest);
      meta.snapshots[rest.key] = { ...rest, id };
    }
    if (legacy) unlinkSync(join(this.root, "meta.json")); // converted: every snapshot has its snapshot.json
    return meta;
  }

  /** The single meta.json of a store written before snapshot.json, if there is one. */
  private readLegacy(): Meta | undefined {
    const path = join(this.root, "meta.json");
    try {
      return JSON.parse(readFileSync(path, "utf8")) as Meta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new LibctError("internal", `overlay metadata ${path} is unreadable`, { cause: err });
    }
  }

  private readInfo(id: number): SnapshotInfo | undefined {
    const path = join(this.dir(id), INFO);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new LibctError("internal", `overlay metadata ${path} is unreadable`, { cause: err });
    }
    try {
      const info = JSON.parse(text) as SnapshotInfo;
      if (typeof info.key !== "string" || (info.kind !== "active" && info.kind !== "committed"))
        throw new Error("bad shape");
      return info;
    } catch (err) {
      throw new LibctError(
        "internal",
        `overlay metadata ${path} is damaged; move snapshot directory ${this.dir(id)} aside to open the store without it`,
        { cause: err },
      );
    }
  }

  /**
   * Writes snapshot.json by a rename (atomic), synchronously: a metadata call on the local disk takes
   * microseconds, where each trip through the thread pool costs about 100 us. In a new snapshot's directory
   * the rename replaces nothing, so ext4 does not write the data out at once.
   */
  private writeInfo(id: number, info: SnapshotInfo): void {
    const tmp = join(this.dir(id), `${INFO}.tmp`);
    writeFileSync(tmp, JSON.stringify(info));
    renameSync(tmp, join(this.dir(id), INFO));
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
      // A directory under a number not handed out yet is what a crash left (or a stray): start afresh.
      if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
      const info: SnapshotInfo = {
        key,
        kind: "active",
        ...(parent ? { parent } : {}),
        createdAt: new Date().toISOString(),
        labels,
      };
      try {
        if (!this.trash.reuse(dir)) {
          mkdirSync(dir, { mode: 0o755 });
          mkdirSync(join(dir, "work"), { mode: 0o700 });
        }
        mkdirSync(join(dir, "fs"), { mode: 0o755 });
        this.writeInfo(id, info);
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      meta.snapshots[key] = { ...info, id };
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
      const { id, ...info } = s;
      const committed: SnapshotInfo = { ...info, key: name, kind: "committed", labels: labels ?? s.labels };
      await rm(join(this.dir(id), "work"), { recursive: true, force: true });
      this.writeInfo(id, committed);
      delete meta.snapshots[key];
      meta.snapshots[name] = { ...committed, id };
    });
  }

  remove(key: string): Promise<void> {
    return this.exclusive(async (meta) => {
      const s = this.get(meta, key);
      const child = Object.values(meta.snapshots).find((c) => c.parent === key);
      if (child)
        throw new LibctError("precondition", `snapshot '${key}' is the parent of '${child.key}'; remove that first`);
      await this.trash.discard(this.dir(s.id)); // one rename: the snapshot is gone, snapshot.json with it
      delete meta.snapshots[key];
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
