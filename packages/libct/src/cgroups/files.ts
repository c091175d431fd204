/** Small fs helpers shared by the v1 and v2 readers and the housekeeping functions. */
import { type Dirent, statSync } from "node:fs";
import { readdir, readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { LibctError } from "../errors.js";

export const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/** Codes that mean "this file or cgroup is not there (any more)": the controller is absent or the cgroup went away. */
export const GONE = new Set(["ENOENT", "ENOTDIR", "ENODEV"]);

/** True if `path` is an existing directory (following symlinks, so v1's "cpu" → "cpu,cpuacct" works). */
export function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Reads a cgroup file; undefined when it does not exist. Other failures become LibctError "internal". */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (GONE.has(errno(err) ?? "")) return undefined;
    throw new LibctError("internal", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads `names` from `dir` into a map, leaving out the files that do not exist. */
export async function readFiles(dir: string, names: readonly string[]): Promise<Map<string, string>> {
  const texts = await Promise.all(names.map((name) => readOptional(join(dir, name))));
  const out = new Map<string, string>();
  names.forEach((name, i) => {
    const text = texts[i];
    if (text !== undefined) out.set(name, text);
  });
  return out;
}

/** Every directory below `dir`, children before their parents (the order rmdir needs); `dir` itself last. */
export async function subtreeLeafFirst(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (GONE.has(errno(err) ?? "")) return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) if (e.isDirectory()) out.push(...(await subtreeLeafFirst(join(dir, e.name))));
  out.push(dir);
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * rmdir with runc's patience: a cgroup whose last task has just exited can report EBUSY for a few milliseconds,
 * so EBUSY is retried (about 300 ms in all). Returns the error code that stopped it, or undefined on success or
 * if the directory is already gone.
 */
export async function rmdirCgroup(dir: string): Promise<NodeJS.ErrnoException | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return undefined;
    } catch (err) {
      const code = errno(err);
      if (code === "ENOENT") return undefined;
      if (code !== "EBUSY" || attempt >= 5) return err as NodeJS.ErrnoException;
      await sleep(10 * 2 ** attempt);
    }
  }
}
