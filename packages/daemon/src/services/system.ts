/**
 * System containers (Incus's kind): an isolated uid/gid range per container, a rootfs shifted into it,
 * the image's init as PID 1, a graceful stop with the init's signal, and autostart when berthd starts.
 *
 * Rootfs: runc 1.1 cannot idmap a mount, so the container's root must be owned by its mapped ids. berth
 * shifts the container's own overlay snapshot in place (a copy-up of every entry into the snapshot's upper
 * dir, then chown + offset). A shared per-range base snapshot (`<chainId>@<uidBase>`) would save the
 * copy only when two containers share a range, which never happens here (each container gets its own),
 * so copy-up is the simpler choice with the same cost; it is persistent because the snapshot is the
 * container's, and `rm` removes it with the container. The marker lives in the container's directory,
 * outside the rootfs, so a restart never shifts twice.
 */
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ContainerDescription, HostFacts, IdMapSpec, Libct } from "@berth/libct";
import { defaultSystemIdMap, LibctError, mappedRoot } from "@berth/libct";
import { shiftOwnership } from "@berth/libct/storage/shift";
import type { Logger } from "../log.js";
import type { ContainerRepo } from "../store/containers.js";

/** Default stop timeout of a system container (systemd powers off in a few seconds; Incus waits longer). */
export const SYSTEM_STOP_TIMEOUT_SECONDS = 30;
export const IMAGE_INIT_LABEL = "org.berth.image.init";
export const IMAGE_STOP_SIGNAL_LABEL = "org.berth.image.stop-signal";
/** systemd reads its argv as its kernel command line in a container: legacy cgroups on v1/hybrid hosts. */
export const SYSTEMD_LEGACY_CGROUP_ARGS = [
  "systemd.unified_cgroup_hierarchy=0",
  "systemd.legacy_systemd_cgroup_controller=1",
] as const;

/** The init command of a system container booting `labels`' init on `host`. */
export function systemInitArgs(labels: Record<string, string> | null | undefined, host: HostFacts): string[] {
  const init = labels?.[IMAGE_INIT_LABEL];
  if (init === "systemd" && host.cgroup.mode !== "v2") return ["/sbin/init", ...SYSTEMD_LEGACY_CGROUP_ARGS];
  return ["/sbin/init"];
}

/** Hands out id ranges: never one held by a container of libct or of the daemon's rows, nor one being created. */
export class IdRangeAllocator {
  private readonly pending = new Set<number>();
  constructor(
    private readonly libct: Libct,
    private readonly repo: ContainerRepo,
    private readonly base = 1_000_000,
    private readonly size = 65_536,
  ) {}

  /** Reserves a range; call `release(base)` once the container's row exists (or creation failed). */
  async reserve(): Promise<{ idMap: IdMapSpec; base: number }> {
    const held = await this.libct.list().catch(() => []);
    // From here to `pending.add` nothing awaits, so two concurrent reservations cannot pick one range.
    const used = new Set<number>(this.pending);
    for (const st of held) {
      const r = mappedRoot(st.description);
      if (r) used.add(r.uid);
    }
    for (const row of this.repo.list()) {
      const r = mappedRoot(row.description);
      if (r) used.add(r.uid);
    }
    let base = this.base;
    while (used.has(base)) base += this.size;
    this.pending.add(base);
    return { idMap: defaultSystemIdMap(base, this.size), base };
  }

  release(base: number): void {
    this.pending.delete(base);
  }
}

/** Shifts a mounted system rootfs to the description's mapped root; a no-op when already shifted. */
export async function shiftRootfs(
  rootfs: string,
  containerDir: string,
  description: ContainerDescription,
  log: Logger,
): Promise<void> {
  const owner = mappedRoot(description);
  if (!owner) return;
  const t0 = Date.now();
  const res = await shiftOwnership(rootfs, owner.uid, owner.gid, { markerFile: join(containerDir, "shifted") });
  if (res.shifted) log.info("rootfs shifted", { rootfs, uid: owner.uid, entries: res.entries, ms: Date.now() - t0 });
}

/** Starts every container with boot.autostart that is not running; failures are logged, not fatal. */
export async function autostartContainers(
  repo: ContainerRepo,
  start: (id: string) => Promise<void>,
  log: Logger,
): Promise<number> {
  let n = 0;
  for (const row of repo.list()) {
    if (!row.autostart || row.status === "running" || row.status === "paused") continue;
    try {
      await start(row.id);
      n++;
      log.info("autostarted", { id: row.id, name: row.name });
    } catch (err) {
      log.warn("autostart failed", { id: row.id, name: row.name, err });
    }
  }
  return n;
}

/**
 * The container's root (host uid N, not root) must traverse every directory above its rootfs for runc to
 * bind it; a 0700 directory on the way (mkdtemp's default) fails with a bare "permission denied".
 */
export async function checkTraversable(rootfs: string): Promise<void> {
  for (let d = dirname(rootfs); ; d = dirname(d)) {
    const st = await stat(d).catch(() => undefined);
    if (st && (st.mode & 0o001) === 0) {
      throw new LibctError(
        "precondition",
        `${d} is not searchable by others (mode ${(st.mode & 0o777).toString(8)}), so a system container's ` +
          `unprivileged root cannot reach its rootfs; chmod o+x ${d} or run berthd with a --root below searchable directories`,
      );
    }
    if (d === dirname(d)) return;
  }
}
