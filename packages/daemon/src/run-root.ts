/**
 * berthd's run root (--run-root, /run/berth by default) holds what lives exactly as long as the containers'
 * processes: the API socket, the runtime's state, conmon's attach sockets, fifos and pid files, the exit files.
 * It belongs on a volatile filesystem, as /run is on a systemd host: after a reboot none of it is true any more.
 *
 * Where it is on a persistent filesystem instead (a /run on the root's disk, as on this project's CI machines, or
 * a --run-root under /tmp), berthd mounts a tmpfs on it (source `berth-run`):
 * - what an earlier boot left there cannot pass for this boot's runtime state;
 * - every container creates a dozen of these files and every removal frees them. On tmpfs that is memory only; on
 *   ext4 without a journal each new inode is found by walking past every one freed in the last 30 s
 *   (`recently_deleted`), which made 50 parallel `run -d` after a removal 5-7 % slower (bench run-parallel).
 *
 * It mounts only over a run root where nothing runs: no container's runtime state, or only another boot's (the
 * `boot-id` marker says whose). What it finds there of its own (exit files of deleted containers, a stale socket)
 * it removes first. A run root in use (containers run from it, an older berthd's say) is left as it is, and marked,
 * so that after the next reboot it is replaced; so is one holding files berthd does not know. At shutdown the tmpfs goes when no container is left
 * to need it (`release`), so a berthd that is stopped with nothing defined leaves no mount behind.
 */
import { readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CommandRunner, mountAll, mountAt, unmount } from "@berth/libct";
import type { Logger } from "./log.js";

/** The mount's source in /proc/self/mountinfo: what tells berthd's own tmpfs from one an administrator made. */
export const RUN_ROOT_SOURCE = "berth-run";
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;
const MARKER = "boot-id";

export type RunRootState =
  /** berthd mounted its tmpfs now. */
  | "mounted"
  /** Already on tmpfs or ramfs (a systemd /run, or berthd's tmpfs from before a restart). */
  | "volatile"
  /** On a persistent filesystem, and holding this boot's files: left as it is. */
  | "in-use";

function bootId(): string {
  return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
}

function isVolatile(dir: string): boolean {
  const type = Number(statfsSync(dir).type);
  return type === TMPFS_MAGIC || type === RAMFS_MAGIC;
}

/**
 * Makes `dir` (which exists) volatile where it can; see the module comment. Runs before anything opens files
 * under it (libct, the socket). `ours`: the names berthd puts in the run root (its libct run root, the socket),
 * the only ones it removes; a run root holding anything else is left as it is. `inUse`: whether a container's
 * runtime state lives there (libct's answer for its run root).
 */
export async function prepareRunRoot(
  dir: string,
  cmd: CommandRunner,
  log: Logger,
  opts: { readonly ours: readonly string[]; readonly inUse: () => boolean },
): Promise<RunRootState> {
  if (isVolatile(dir)) return "volatile";
  const entries = readdirSync(dir);
  const ours = new Set([...opts.ours, MARKER]);
  const foreign = entries.filter((e) => !ours.has(e));
  const marked = entries.includes(MARKER) ? readFileSync(join(dir, MARKER), "utf8").trim() : undefined;
  const now = bootId();
  // Runtime state from another boot is no process's now, whatever it says.
  const live = (marked === undefined || marked === now) && opts.inUse();
  if (foreign.length > 0 || live) {
    if (marked !== now) writeFileSync(join(dir, MARKER), `${now}\n`);
    log.info(
      foreign.length > 0
        ? "the run root holds files berthd did not put there; leaving it on its persistent filesystem"
        : "the run root is on a persistent filesystem and containers run from it; leaving it there",
      { runRoot: dir, ...(foreign.length > 0 ? { foreign: foreign.slice(0, 5) } : {}) },
    );
    return "in-use";
  }
  if (marked !== undefined && marked !== now)
    log.info("removing what an earlier boot left in the run root", { runRoot: dir });
  for (const e of entries) rmSync(join(dir, e), { recursive: true, force: true });
  await mountAll(cmd, [{ type: "tmpfs", source: RUN_ROOT_SOURCE, options: ["nosuid", "nodev", "mode=0711"] }], dir);
  log.info("mounted a tmpfs on the run root (it was on a persistent filesystem)", { runRoot: dir });
  return "mounted";
}

/**
 * At shutdown: unmounts berthd's tmpfs from `dir` when `inUse()` (as for `prepareRunRoot`) says no container's
 * runtime files live there. A tmpfs someone else mounted, or one with containers, stays.
 */
export async function releaseRunRoot(
  dir: string,
  cmd: CommandRunner,
  inUse: () => boolean,
  log: Logger,
): Promise<boolean> {
  const m = mountAt(dir);
  if (m?.type !== "tmpfs" || m.source !== RUN_ROOT_SOURCE) return false;
  if (inUse()) return false;
  await unmount(cmd, dir);
  log.info("unmounted the run root's tmpfs (no container left)", { runRoot: dir });
  return true;
}
