/**
 * `berth info` with no name, and `berth system info`: the host summary, as `docker info` (and `incus info`
 * without a name) print it. `--format json` prints GET /1.0/info as it is; a template also finds Docker's
 * field names (`{{.ServerVersion}}`, `{{.ContainersRunning}}`, `{{.NCPU}}`, `{{.CgroupVersion}}`, ...), so
 * scripts written for `docker info --format` keep working.
 */
import type { HostInfo } from "@berth/api";
import { type Context, defineCommand, formatFlag } from "../framework/command.js";
import { formatBinarySize } from "../framework/units.js";
import { version as clientVersion } from "../index.js";
import { formatObject } from "../output/format.js";

/** berth's fields with Docker's `docker info` names beside them, for templates. */
export function hostInfoContext(i: HostInfo): Record<string, unknown> {
  return {
    ...i,
    ID: i.name,
    Name: i.name,
    ServerVersion: i.serverVersion,
    Containers: i.containers.total,
    ContainersRunning: i.containers.running,
    ContainersPaused: i.containers.paused,
    ContainersStopped: i.containers.stopped,
    Images: i.images,
    Driver: i.storageDriver,
    LoggingDriver: i.loggingDriver,
    CgroupDriver: i.cgroupDriver,
    CgroupVersion: i.cgroupVersion,
    KernelVersion: i.kernelVersion,
    OperatingSystem: i.operatingSystem ?? "",
    OSType: i.osType,
    Architecture: i.architecture,
    NCPU: i.cpus,
    MemTotal: i.memTotal,
    DockerRootDir: i.rootDir,
    DefaultRuntime: i.defaultRuntime,
    Runtimes: Object.fromEntries(i.runtimes.map((r) => [r, { path: r }])),
    InitBinary: i.initBinary ?? "",
    SecurityOptions: i.securityOptions.map((s) => `name=${s}`),
  };
}

/** The readable summary, in `docker info`'s order and wording. */
export function hostInfoText(i: HostInfo, host: string): string {
  const lines = [
    "Client:",
    ` Version:    ${clientVersion}`,
    ` Host:       ${host}`,
    "",
    "Server:",
    ` Containers: ${i.containers.total}`,
    `  Running: ${i.containers.running}`,
    `  Paused: ${i.containers.paused}`,
    `  Stopped: ${i.containers.stopped}`,
    ` Images: ${i.images}`,
    ` Server Version: ${i.serverVersion}`,
    ` Storage Driver: ${i.storageDriver}`,
    ` Logging Driver: ${i.loggingDriver}`,
    ` Cgroup Driver: ${i.cgroupDriver}`,
    ` Cgroup Version: ${i.cgroupVersion}${i.cgroupMode === "hybrid" ? " (hybrid: v1 controllers, a cgroup2 mount beside them)" : ""}`,
    ` Runtimes: ${i.runtimes.join(" ")}`,
    ` Default Runtime: ${i.defaultRuntime}`,
    ` Init Binary: ${i.initBinary ?? "(none: apt install catatonit for --init)"}`,
    " Security Options:",
    ...i.securityOptions.map((s) => `  ${s}`),
    ` Checkpoint/Restore: ${i.criu ? `CRIU ${i.criu}` : "unavailable: CRIU is not installed (scripts/setup.sh installs it)"}`,
    ` Kernel Version: ${i.kernelVersion}`,
    ...(i.operatingSystem ? [` Operating System: ${i.operatingSystem}`] : []),
    ` OSType: ${i.osType}`,
    ` Architecture: ${i.architecture}`,
    ` CPUs: ${i.cpus}`,
    ` Total Memory: ${formatBinarySize(i.memTotal)}`,
    ` Name: ${i.name}`,
    ` Root Dir: ${i.rootDir}`,
    ` Run Root: ${i.runRoot}`,
  ];
  return `${lines.join("\n")}\n`;
}

export async function showHostInfo(ctx: Context, format: string | undefined): Promise<number> {
  const i = await ctx.api.hostInfo();
  if (format === undefined) ctx.out.stdout(hostInfoText(i, ctx.host));
  else ctx.out.stdout(formatObject(format === "json" ? i : hostInfoContext(i), format));
  return 0;
}

export const systemInfo = defineCommand({
  name: "system info",
  summary: "Display system-wide information",
  usage: "system info [OPTIONS]",
  examples: [
    "berth system info",
    "berth info",
    "berth info --format '{{.ServerVersion}} {{.ContainersRunning}}'",
    "berth info --format json",
  ],
  args: { max: 0 },
  flags: { ...formatFlag },
  async run({ flags }, ctx) {
    return showHostInfo(ctx, flags.format);
  },
});
