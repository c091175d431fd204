/**
 * Shifting a root filesystem's ownership into a container's id range, for runtimes that cannot idmap a
 * rootfs (runc 1.1): every entry's uid/gid gets `+ offset`, as SYSTEM-CONTAINERS.md describes. chown clears
 * the setuid/setgid bits of regular files, so they are put back afterwards. Hard links are chowned once
 * (tracked by inode, and re-checked against the owner they should have: on overlayfs a copied-up link
 * and a not-yet-copied one may report the same inode number).
 *
 * A marker file records that a tree was shifted (and by how much), so a second call is a no-op; a tree
 * shifted by other offsets is refused rather than shifted twice.
 */
import { chmod, lchown, lstat, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LibctError } from "../errors.js";

export interface ShiftOptions {
  /** Where the "already shifted" marker lives. Default `<dir>/.berth-shifted`; keep it outside a rootfs when you can. */
  readonly markerFile?: string;
  /** Entries shifted in parallel within one directory. */
  readonly concurrency?: number;
}

export interface ShiftResult {
  /** False when the marker said the tree was already shifted by these offsets. */
  readonly shifted: boolean;
  /** Entries chowned. */
  readonly entries: number;
}

/** uid/gid ids above this are not valid (and a sign of a double shift). */
const MAX_ID = 0xfffffffe;

export async function shiftOwnership(
  dir: string,
  uidOffset: number,
  gidOffset: number,
  opts: ShiftOptions = {},
): Promise<ShiftResult> {
  for (const [name, v] of [
    ["uidOffset", uidOffset],
    ["gidOffset", gidOffset],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_ID)
      throw new LibctError("invalid", `${name} must be a non-negative integer id, got ${v}`);
  }
  const marker = opts.markerFile ?? join(dir, ".berth-shifted");
  const want = `${uidOffset}:${gidOffset}`;
  const seen = (await readFile(marker, "utf8").catch(() => "")).trim();
  if (seen === want) return { shifted: false, entries: 0 };
  if (seen !== "")
    throw new LibctError(
      "conflict",
      `${dir} is already shifted by ${seen} (uid:gid); it cannot be shifted again to ${want}. Start from an unshifted copy`,
    );
  if (uidOffset === 0 && gidOffset === 0) {
    await writeFile(marker, `${want}\n`);
    return { shifted: true, entries: 0 };
  }

  /** inode -> the owner it must end with. */
  const targets = new Map<string, { uid: number; gid: number }>();
  const limit = Math.max(1, opts.concurrency ?? 32);
  let entries = 0;

  const shiftOne = async (path: string): Promise<boolean> => {
    const st = await lstat(path);
    const key = `${st.dev}:${st.ino}`;
    const known = st.nlink > 1 && !st.isDirectory() ? targets.get(key) : undefined;
    if (known && st.uid === known.uid && st.gid === known.gid) return st.isDirectory();
    const uid = known ? known.uid : st.uid + uidOffset;
    const gid = known ? known.gid : st.gid + gidOffset;
    if (uid > MAX_ID || gid > MAX_ID)
      throw new LibctError("invalid", `${path}: owner ${st.uid}:${st.gid} + offset is not a valid id`);
    if (st.nlink > 1 && !st.isDirectory()) targets.set(key, { uid, gid });
    await lchown(path, uid, gid);
    entries++;
    // chown drops setuid/setgid (and file capabilities) of regular files: put the mode bits back.
    if (!st.isSymbolicLink() && st.mode & 0o6000) await chmod(path, st.mode & 0o7777);
    return st.isDirectory();
  };

  const walk = async (d: string): Promise<void> => {
    const names = await readdir(d);
    const subdirs: string[] = [];
    for (let i = 0; i < names.length; i += limit) {
      const batch = names.slice(i, i + limit).map((n) => join(d, n));
      const dirs = await Promise.all(batch.map(shiftOne));
      batch.forEach((p, k) => {
        if (dirs[k]) subdirs.push(p);
      });
    }
    for (const s of subdirs) await walk(s);
  };

  await shiftOne(dir);
  await walk(dir);
  await writeFile(marker, `${want}\n`);
  return { shifted: true, entries };
}
