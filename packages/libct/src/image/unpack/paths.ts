/**
 * Path discipline for layer extraction (the securejoin / umoci rule, without following):
 * every entry name is split into plain components (no "..", no absolute path, no NUL), and every
 * parent component is checked with lstat inside the target; a parent that is a symlink is refused,
 * so nothing is ever written through a symlink, wherever it points.
 */
import { lstat, mkdir } from "node:fs/promises";
import { join } from "node:path";

/** A reason an entry is refused; `applyLayer` turns it into a LibctError("invalid", ...) naming the entry. */
export class HostileEntry extends Error {}

/**
 * The components of a tar entry name relative to the target: leading "./" and empty or "." components
 * dropped. `[]` is the target's root itself. Refuses NUL, absolute paths and any ".." component.
 */
export function entryComponents(name: string, what = "path"): string[] {
  if (name.includes("\0")) throw new HostileEntry(`${what} contains a NUL byte`);
  if (name.startsWith("/")) throw new HostileEntry(`${what} is absolute`);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new HostileEntry(`${what} has a '..' component`);
  return parts;
}

const isCode = (err: unknown, code: string) => (err as NodeJS.ErrnoException).code === code;

/**
 * Resolves directories inside `root` component by component with lstat, never following a symlink.
 * Directories already checked are remembered until `forget` is called (after anything is removed or replaced).
 */
export class SafeDirs {
  private readonly known = new Set<string>([""]);

  constructor(
    readonly root: string,
    /** Called for each parent directory this resolver creates (for ownership). */
    private readonly onCreate: (abs: string) => Promise<void> = async () => {},
  ) {}

  /**
   * The absolute path of directory `parts` inside root. Missing directories are created (mode 0755)
   * when `create` is set, otherwise `undefined` is returned for a missing one.
   * Throws HostileEntry when a component is a symlink or not a directory.
   */
  async dir(parts: readonly string[], create: boolean): Promise<string | undefined> {
    let rel = "";
    for (const part of parts) {
      const next = rel === "" ? part : `${rel}/${part}`;
      if (!this.known.has(next)) {
        const abs = join(this.root, next);
        let st: Awaited<ReturnType<typeof lstat>> | undefined;
        try {
          st = await lstat(abs);
        } catch (err) {
          if (!isCode(err, "ENOENT")) throw err;
        }
        if (st === undefined) {
          if (!create) return undefined;
          await mkdir(abs, { mode: 0o755 });
          await this.onCreate(abs);
        } else if (st.isSymbolicLink()) {
          throw new HostileEntry(`parent '${next}' is a symlink and writing through it is not allowed`);
        } else if (!st.isDirectory()) {
          throw new HostileEntry(`parent '${next}' is not a directory`);
        }
        this.known.add(next);
      }
      rel = next;
    }
    return join(this.root, rel);
  }

  /** Marks `rel` (and, since it may have been a directory, everything below it) as unchecked. */
  forget(rel: string): void {
    if (rel === "") return;
    for (const k of this.known) if (k === rel || k.startsWith(`${rel}/`)) this.known.delete(k);
  }

  /** Records that `rel` is a directory this layer just made. */
  remember(rel: string): void {
    this.known.add(rel);
  }
}
