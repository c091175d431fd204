/**
 * GET /1.0/info: the host and what berthd runs on it, as `docker info` and `incus info` show. Everything
 * comes from libct's host facts (probed once at start), /proc and /etc/os-release, and two counts (a
 * GROUP BY over the container rows, the image index): cheap enough to answer every time, so nothing is
 * cached that could go stale.
 */
import { readFile } from "node:fs/promises";
import { availableParallelism, hostname, machine, totalmem } from "node:os";
import type { HostInfo } from "@berth/api";
import type { Libct } from "@berth/libct";
import type { ContainerRepo } from "../store/containers.js";
import type { ImageService } from "./images.js";
import { initBinary } from "./supervisor.js";

export interface HostInfoDeps {
  readonly libct: Libct;
  readonly repo: ContainerRepo;
  readonly images: ImageService;
  readonly version: string;
  readonly root: string;
  readonly runRoot: string;
  /** /etc/os-release (tests point it elsewhere). */
  readonly osRelease?: string;
}

/** PRETTY_NAME from an os-release file's text (quoted or not), or undefined. */
export function prettyName(osRelease: string): string | undefined {
  const m = /^PRETTY_NAME=(.*)$/m.exec(osRelease);
  if (!m) return undefined;
  const v = m[1]!.trim();
  return (/^(["'])(.*)\1$/.exec(v)?.[2] ?? v) || undefined;
}

export async function hostInfo(d: HostInfoDeps): Promise<HostInfo> {
  const { host, runtime } = d.libct;
  const byStatus = d.repo.countByStatus();
  const running = byStatus.running ?? 0;
  const paused = byStatus.paused ?? 0;
  const total = Object.values(byStatus).reduce((a, n) => a + (n ?? 0), 0);
  const [osRelease, images] = await Promise.all([
    readFile(d.osRelease ?? "/etc/os-release", "utf8").catch(() => ""),
    d.images.count(),
  ]);
  const operatingSystem = prettyName(osRelease);
  const init = initBinary();
  const security = [
    ...(host.seccomp ? ["seccomp"] : []),
    ...(host.apparmor ? ["apparmor"] : []),
    ...(host.selinux ? ["selinux"] : []),
    ...(host.userNamespaces ? ["userns"] : []),
  ];
  return {
    name: hostname(),
    serverVersion: d.version,
    ...(operatingSystem ? { operatingSystem } : {}),
    osType: "linux",
    architecture: machine(),
    kernelVersion: host.kernel.release,
    cpus: availableParallelism(),
    memTotal: totalmem(),
    containers: { total, running, paused, stopped: total - running - paused },
    images,
    storageDriver: "overlay",
    loggingDriver: "k8s-file",
    cgroupDriver: "cgroupfs",
    cgroupVersion: host.cgroup.mode === "v2" ? "2" : "1",
    cgroupMode: host.cgroup.mode,
    defaultRuntime: runtime.name,
    runtimes: host.runtimes.filter((r) => !r.unusableReason).map((r) => r.name),
    ...(init ? { initBinary: init } : {}),
    securityOptions: security,
    ...(host.criu ? { criu: host.criu.version } : {}),
    rootDir: d.root,
    runRoot: d.runRoot,
  };
}
