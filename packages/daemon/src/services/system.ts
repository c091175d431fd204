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
import { readFileSync } from "node:fs";
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

/** A run of host ids: [start, start + count). */
export interface IdSpan {
  readonly start: number;
  readonly count: number;
}

/** Incus's default when /etc/subuid or /etc/subgid gives root nothing: a billion ids from 1,000,000. */
export const DEFAULT_ID_SPANS: readonly IdSpan[] = [{ start: 1_000_000, count: 1_000_000_000 }];

/** root's spans in a subuid(5)/subgid(5) file ("root:100000:65536" or "0:100000:65536" lines). */
export function parseSubids(text: string): IdSpan[] {
  const out: IdSpan[] = [];
  for (const line of text.split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if (owner !== "root" && owner !== "0") continue;
    const a = Number(start);
    const n = Number(count);
    if (Number.isSafeInteger(a) && Number.isSafeInteger(n) && a >= 0 && n > 0) out.push({ start: a, count: n });
  }
  return out;
}

/** The ids that both lists give (a container's range maps uids and gids alike), in ascending order. */
export function intersectSpans(a: readonly IdSpan[], b: readonly IdSpan[]): IdSpan[] {
  const out: IdSpan[] = [];
  for (const x of a)
    for (const y of b) {
      const lo = Math.max(x.start, y.start);
      const hi = Math.min(x.start + x.count, y.start + y.count);
      if (hi > lo) out.push({ start: lo, count: hi - lo });
    }
  return out.sort((p, q) => p.start - q.start);
}

/**
 * The id spans system containers take their ranges from: root's entries in /etc/subuid and /etc/subgid
 * (what scripts/setup.sh writes and what Incus reads), or DEFAULT_ID_SPANS when either file names no root.
 */
export function readIdSpans(files = { uid: "/etc/subuid", gid: "/etc/subgid" }): {
  spans: IdSpan[];
  from: string;
} {
  const read = (f: string) => {
    try {
      return parseSubids(readFileSync(f, "utf8"));
    } catch {
      return [];
    }
  };
  const [uids, gids] = [read(files.uid), read(files.gid)];
  if (uids.length === 0 || gids.length === 0) return { spans: [...DEFAULT_ID_SPANS], from: "the default" };
  return { spans: intersectSpans(uids, gids), from: `root's entries in ${files.uid} and ${files.gid}` };
}

/** The first `size`-long range inside `spans` whose first id is not in `used`, or undefined. */
export function pickRange(spans: readonly IdSpan[], size: number, used: ReadonlySet<number>): number | undefined {
  for (const span of spans)
    for (let base = span.start; base + size <= span.start + span.count; base += size) if (!used.has(base)) return base;
  return undefined;
}

/** Hands out id ranges: never one held by a container of libct or of the daemon's rows, nor one being created. */
export class IdRangeAllocator {
  private readonly pending = new Set<number>();
  constructor(
    private readonly libct: Libct,
    private readonly repo: ContainerRepo,
    private readonly spans: { spans: readonly IdSpan[]; from: string } = readIdSpans(),
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
    const base = pickRange(this.spans.spans, this.size, used);
    if (base === undefined) {
      const total = this.spans.spans.reduce((n, s) => n + Math.floor(s.count / this.size), 0);
      throw new LibctError(
        "precondition",
        `no free range of ${this.size} uids/gids for another system container: ${this.spans.from} hold ` +
          `${total} such ranges and all are taken; give root more ids in both files ` +
          `(e.g. "root:1000000:1000000000"), or remove a system container`,
      );
    }
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
