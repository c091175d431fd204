/** inspect (Docker: JSON array or a template per object) and info (Incus: a readable summary). */
import type { Container } from "@berth/api";
import { ApiError } from "@berth/api/client";
import { defineCommand, formatFlag } from "../framework/command.js";
import { formatBinarySize } from "../framework/units.js";
import { commandOf, inspectContext } from "../output/containers.js";
import { formatObject } from "../output/format.js";

export const inspect = defineCommand({
  name: "inspect",
  summary: "Return low-level information on containers or images",
  usage: "inspect [OPTIONS] NAME|ID [NAME|ID...]",
  examples: [
    "berth inspect web",
    "berth inspect --format '{{.State.Status}}' web",
    "berth inspect -f '{{json .Config}}' web",
    "berth inspect --type image busybox",
  ],
  args: { min: 1, complete: "container" },
  flags: {
    ...formatFlag,
    type: {
      type: "string",
      choices: ["container", "image"],
      placeholder: "string",
      description: "Only inspect objects of the given type",
    },
    size: { type: "boolean", short: "s", description: "Display total file sizes (SizeRw, SizeRootFs)" },
  },
  async run({ args, flags }, { api, out, explain }) {
    const found: unknown[] = [];
    let failed = 0;
    for (const ref of args) {
      try {
        if (flags.type === "image") found.push(await api.getImage({ params: { ref } }));
        else {
          try {
            found.push(
              inspectContext(
                await api.getContainer({ params: { id: ref }, ...(flags.size ? { query: { size: true } } : {}) }),
              ),
            );
          } catch (err) {
            if (flags.type === undefined && err instanceof ApiError && err.kind === "not-found") {
              found.push(await api.getImage({ params: { ref } }).catch(() => Promise.reject(err)));
            } else throw err;
          }
        }
      } catch (err) {
        failed++;
        const { message, hint } = await explain(err, flags.type === "image" ? "image" : "container", ref);
        out.stderr(`Error: ${message}\n${hint ? `${hint}\n` : ""}`);
      }
    }
    if (flags.format === undefined || flags.format === "json") out.stdout(`${JSON.stringify(found, null, 4)}\n`);
    else for (const item of found) out.stdout(formatObject(item, flags.format));
    return failed ? 1 : 0;
  },
});

const line = (k: string, v: unknown) => (v === undefined || v === "" ? "" : `${k}: ${v}\n`);

/** The Incus-like `info` text of one container. */
export function infoText(
  c: Container,
  stats?: {
    memory?: { usageBytes: string; peakBytes?: string };
    cpu?: { totalNs: string };
    pids?: { current: string };
  },
): string {
  let s = "";
  s += line("Name", c.name);
  s += line("ID", c.id);
  s += line("Status", c.state.status.toUpperCase());
  s += line("Type", c.kind === "system" ? "container (system)" : "container (app)");
  s += line("Image", c.image);
  s += line("Command", commandOf(c));
  s += line("Created", c.createdAt);
  s += line("Started", c.state.startedAt);
  s += line("Finished", c.state.running ? undefined : c.state.finishedAt);
  s += line("Exit code", c.state.running ? undefined : c.state.exitCode);
  s += line("PID", c.state.pid);
  s += line("Restarts", c.state.restartCount || undefined);
  s += line("Health", c.state.health && c.state.health.status !== "none" ? c.state.health.status : undefined);
  s += line(
    "Restart policy",
    c.restartPolicy?.name && c.restartPolicy.name !== "no" ? c.restartPolicy.name : undefined,
  );
  s += line("Autostart", c.autostart ? "true" : undefined);
  const r = c.resources ?? {};
  const limits = [
    r.memory ? `memory=${formatBinarySize(r.memory)}` : "",
    r.cpus ? `cpus=${r.cpus}` : "",
    r.cpusetCpus ? `cpuset=${r.cpusetCpus}` : "",
    r.pidsLimit ? `pids=${r.pidsLimit}` : "",
  ].filter(Boolean);
  s += line("Limits", limits.join(" "));
  if (stats) {
    s += "\nResources:\n";
    if (stats.pids) s += `  Processes: ${stats.pids.current}\n`;
    if (stats.cpu) s += `  CPU usage (in seconds): ${Math.round(Number(stats.cpu.totalNs) / 1e9)}\n`;
    if (stats.memory) {
      s += `  Memory usage: ${formatBinarySize(Number(stats.memory.usageBytes))}\n`;
      if (stats.memory.peakBytes) s += `  Memory usage (peak): ${formatBinarySize(Number(stats.memory.peakBytes))}\n`;
    }
  }
  const labels = Object.entries(c.labels ?? {});
  if (labels.length) s += `\nLabels:\n${labels.map(([k, v]) => `  ${k}: ${v}\n`).join("")}`;
  return s;
}

export const info = defineCommand({
  name: "info",
  summary: "Show a container's state, limits and resource usage (Incus style); without a name, the host's",
  usage: "info [OPTIONS] [NAME]",
  examples: [
    "berth info c1",
    "berth info c1 --format json",
    "berth info",
    "berth info --format '{{.ServerVersion}} {{.NCPU}}'",
  ],
  args: { max: 1, complete: "container" },
  flags: { ...formatFlag },
  async run({ args, flags }, ctx) {
    const { api, out } = ctx;
    // No name: the host, as `docker info` and `incus info` show it.
    if (args.length === 0) return (await import("./host-info.js")).showHostInfo(ctx, flags.format);
    const id = args[0]!;
    const c = await api.getContainer({ params: { id } });
    if (flags.format !== undefined) {
      out.stdout(formatObject(c, flags.format));
      return 0;
    }
    const stats = c.state.running ? await api.containerStats({ params: { id } }).catch(() => undefined) : undefined;
    out.stdout(infoText(c, stats));
    return 0;
  },
});
