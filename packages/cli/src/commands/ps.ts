/** ps (Docker) and list (Incus): GET /1.0/containers. */
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { listView, psView, shortId } from "../output/containers.js";
import { formatList } from "../output/format.js";

export const ps = defineCommand({
  name: "ps",
  aliases: ["container ls"],
  summary: "List containers",
  usage: "ps [OPTIONS]",
  examples: [
    "berth ps",
    "berth ps -a --filter status=exited",
    "berth ps -a -f status=exited -f status=created",
    "berth ps -q",
    "berth ps --format '{{.Names}} {{.State}} {{.Label \"tier\"}}'",
    "berth ps --format 'table {{.ID}}\\t{{.Names}}\\t{{.Status}}'",
    "berth ps --format json",
  ],
  args: { max: 0 },
  flags: {
    all: { type: "boolean", short: "a", description: "Show all containers (default shows just running)" },
    quiet: { type: "boolean", short: "q", description: "Only display container IDs" },
    filter: {
      type: "string",
      short: "f",
      repeatable: true,
      placeholder: "filter",
      description:
        "Filter output based on conditions provided (name=, id=, label=, status=, exited=, ancestor=, health=, before=, since=, kind=)",
    },
    "no-trunc": { type: "boolean", description: "Don't truncate output" },
    size: { type: "boolean", short: "s", description: "Display total file sizes" },
    last: {
      type: "int",
      short: "n",
      placeholder: "int",
      description: "Show n last created containers (includes all states)",
    },
    latest: { type: "boolean", short: "l", description: "Show the latest created container (includes all states)" },
    format: {
      ...formatLongFlag.format,
      description:
        "Format output: 'json', a Go template such as '{{.Names}} {{.State}} {{.Label \"tier\"}}', or 'table {{...}}'",
    },
  },
  async run({ flags }, { api, out }) {
    const last = flags.latest ? 1 : flags.last;
    let list = await api.listContainers({
      query: {
        ...(flags.all || last !== undefined ? { all: true } : {}),
        ...(flags.filter.length ? { filter: flags.filter } : {}),
        // A template that shows .Size needs them too, as Docker's ps does.
        ...(flags.size || /\.Size\b/.test(flags.format ?? "") ? { size: true } : {}),
      },
    });
    list = [...list].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    if (last !== undefined && last >= 0) list = list.slice(0, last);
    if (flags.quiet) {
      out.stdout(list.map((c) => `${shortId(c.id, flags["no-trunc"])}\n`).join(""));
      return 0;
    }
    out.stdout(formatList(list, flags.format, psView(flags["no-trunc"], flags.size)));
    return 0;
  },
});

export const list = defineCommand({
  name: "list",
  summary: "List instances (Incus style: all kinds, all states)",
  usage: "list [OPTIONS] [FILTER...]",
  examples: ["berth list", "berth list --format json", "berth list web"],
  flags: { ...formatLongFlag },
  async run({ args, flags }, { api, out }) {
    const all = await api.listContainers({ query: { all: true } });
    const shown = args.length ? all.filter((c) => args.some((a) => c.name.startsWith(a) || c.id.startsWith(a))) : all;
    shown.sort((a, b) => a.name.localeCompare(b.name));
    out.stdout(formatList(shown, flags.format, listView));
    return 0;
  },
});
