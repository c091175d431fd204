/** stats (GET .../stats per container) and top (GET .../top). */
import type { Container, ContainerStats } from "@berth/api";
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { formatBinarySize, formatSize } from "../framework/units.js";
import { shortId } from "../output/containers.js";
import { formatList } from "../output/format.js";
import { renderTable } from "../output/table.js";

interface Row {
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  BlockIO: string;
  PIDs: string;
}

/** The gap between the two samples the first CPU % is taken from. */
const FIRST_SAMPLE_GAP_MS = 500;

const pct = (x: number) => `${Number.isFinite(x) ? x.toFixed(2) : "0.00"}%`;

/** One row of `stats`: CPU % from two samples (or since start), memory, block I/O, pids. */
export function statsRow(
  c: Pick<Container, "id" | "name">,
  s: ContainerStats,
  prev?: ContainerStats,
  startedAt?: string,
): Row {
  let cpu = Number.NaN;
  if (s.cpu) {
    const now = Number(s.cpu.totalNs);
    if (prev?.cpu) {
      const dt = (Date.parse(s.readAt) - Date.parse(prev.readAt)) * 1e6;
      cpu = dt > 0 ? ((now - Number(prev.cpu.totalNs)) / dt) * 100 : 0;
    } else if (startedAt) {
      const dt = (Date.parse(s.readAt) - Date.parse(startedAt)) * 1e6;
      cpu = dt > 0 ? (now / dt) * 100 : 0;
    }
  }
  const used = Number(s.memory?.usageBytes ?? 0) - Number(s.memory?.cacheBytes ?? 0);
  const limit = s.memory?.limitBytes ? Number(s.memory.limitBytes) : undefined;
  const read = s.blockIO.reduce((a, b) => a + Number(b.readBytes), 0);
  const write = s.blockIO.reduce((a, b) => a + Number(b.writeBytes), 0);
  return {
    ID: shortId(c.id),
    Name: c.name,
    CPUPerc: Number.isNaN(cpu) ? "--" : pct(cpu),
    MemUsage: `${formatBinarySize(Math.max(0, used))} / ${limit && limit < 2 ** 60 ? formatBinarySize(limit) : "unlimited"}`,
    MemPerc: limit && limit < 2 ** 60 ? pct((used / limit) * 100) : "--",
    BlockIO: `${formatSize(read)} / ${formatSize(write)}`,
    PIDs: s.pids?.current ?? "--",
  };
}

const view = {
  headers: ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "BLOCK I/O", "PIDS"],
  row: (r: Row) => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.BlockIO, r.PIDs],
};

export const stats = defineCommand({
  name: "stats",
  summary: "Display a live stream of container(s) resource usage statistics",
  usage: "stats [OPTIONS] [CONTAINER...]",
  examples: [
    "berth stats --no-stream",
    "berth stats web db",
    "berth stats --no-stream --format '{{.Name}} {{.MemUsage}}'",
  ],
  args: { complete: "container" },
  flags: {
    all: { type: "boolean", short: "a", description: "Show all containers (default shows just running)" },
    "no-stream": { type: "boolean", description: "Disable streaming stats and only pull the first result" },
    ...formatLongFlag,
  },
  async run({ args, flags }, { api, out }) {
    const listed = await api.listContainers({ query: flags.all ? { all: true } : {} });
    const targets = args.length
      ? args.map((a) => listed.find((c) => c.name === a || c.id.startsWith(a)) ?? ({ id: a, name: a } as Container))
      : listed;
    const prev = new Map<string, ContainerStats>();
    const sample = (c: Pick<Container, "id">) => api.containerStats({ params: { id: c.id } });
    // CPU % is a rate: like Docker, the first figures come from two samples a moment apart, not from the
    // average since the start (which counts the runtime's own set-up as the container's work).
    if (targets.length) {
      const first = await Promise.allSettled(targets.map(sample));
      first.forEach((r, i) => {
        if (r.status === "fulfilled") prev.set(targets[i]!.id, r.value);
      });
      await new Promise((ok) => setTimeout(ok, FIRST_SAMPLE_GAP_MS));
    }
    for (;;) {
      const rows: Row[] = [];
      let failed = 0;
      const samples = await Promise.allSettled(targets.map(sample));
      samples.forEach((r, i) => {
        const c = targets[i]!;
        if (r.status === "fulfilled") {
          rows.push(statsRow(c, r.value, prev.get(c.id), c.state?.startedAt));
          prev.set(c.id, r.value);
        } else if (args.length) {
          failed++;
          out.stderr(`Error: ${(r.reason as Error).message}\n`);
        }
      });
      const text = flags.format ? formatList(rows, flags.format, view) : renderTable(view.headers, rows.map(view.row));
      if (flags["no-stream"]) {
        out.stdout(text);
        return failed ? 1 : 0;
      }
      out.stdout(`${out.isTTY ? "\x1b[2J\x1b[H" : ""}${text}`);
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  },
});

export const top = defineCommand({
  name: "top",
  summary: "Display the running processes of a container",
  usage: "top CONTAINER [ps OPTIONS]",
  examples: [
    "berth top web",
    "berth top web aux",
    "berth top web -eo pid,user,rss,args",
    "berth top --format '{{.PID}} {{.CMD}}' web",
  ],
  // Everything after the container is for ps (aux, -eo pid,comm), not berth's flags.
  interspersed: false,
  args: { min: 1, complete: "container" },
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    const [id, ...ps] = args as [string, ...string[]];
    const r = await api.containerTop({ params: { id }, ...(ps.length ? { query: { psArgs: ps.join(" ") } } : {}) });
    // --format: one record per process, keyed by the column titles (PID, USER, TIME, CMD ...)
    if (out.format) await out.records(r.processes.map((p) => Object.fromEntries(r.titles.map((t, i) => [t, p[i]]))));
    else out.stdout(renderTable(r.titles, r.processes));
    return 0;
  },
});
