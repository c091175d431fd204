/**
 * Small state files (pid, exit, runtime state, cgroup and /proc files) read synchronously: from the page
 * cache, tmpfs or the kernel they take microseconds, where fs.promises.readFile takes four or five trips
 * through the thread pool (about 160 us here) on every create, start, wait and delete (bench api-run).
 */
import { readFileSync } from "node:fs";

/** The file's text, or `fallback` when it cannot be read (missing, gone, a cgroup removed meanwhile). */
export function readSmallFile<T>(path: string, fallback: T): string | T {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}
