/**
 * One fs.watch of a directory shared by every listener: one inotify watch, not one per container. libct follows
 * conmon's exit files with it (`<run root>/exits/<id>`), the runc driver runc's state directories as creates
 * make them (`<state root>/<id>`).
 */
import { existsSync, type FSWatcher, watch } from "node:fs";
import { join } from "node:path";

export class DirWatch {
  private watcher: FSWatcher | undefined;
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(private readonly dir: string) {}

  /**
   * Calls `fn` each time an entry `name` is created, renamed in or changed in the directory, until the returned
   * function is called. Throws (and keeps nothing) when the directory cannot be watched: missing, or no inotify
   * watch left. The watch is unref'd: it keeps no process alive by itself.
   */
  on(name: string, fn: () => void): () => void {
    const set = this.listeners.get(name) ?? new Set<() => void>();
    this.listeners.set(name, set);
    set.add(fn);
    const off = () => {
      set.delete(fn);
      if (set.size === 0 && this.listeners.get(name) === set) this.listeners.delete(name);
      if (this.listeners.size === 0) {
        this.watcher?.close();
        this.watcher = undefined;
      }
    };
    try {
      this.watcher ??= watch(this.dir, (_event, file) => {
        if (file) for (const l of [...(this.listeners.get(file.toString()) ?? [])]) l();
      })
        .on("error", () => {
          this.watcher = undefined;
        })
        .unref();
    } catch (err) {
      off();
      throw err;
    }
    return off;
  }

  /** Resolves at the first event for `name`, when it exists already, after `ms`, or on abort. */
  wait(name: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let off = () => {};
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        off();
        resolve();
      };
      const timer = setTimeout(done, ms);
      try {
        off = this.on(name, done);
      } catch {} // no watch: the timer and the check below
      signal?.addEventListener("abort", done);
      // Registered before this check, so an exit between the caller's read and here is not missed.
      if (existsSync(join(this.dir, name))) done();
    });
  }
}
