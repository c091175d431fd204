/**
 * `port`: the container's published ports. Until bridge networking lands no container publishes any
 * (--network none has no outside; --network host uses the host's ports), so it prints nothing, as Docker
 * does for such a container, and asking for one port fails saying why.
 */
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";
import { formatList } from "../output/format.js";

/** A published port, as the networking issue will report it on a container (`ports`). */
interface PortMapping {
  privatePort: number;
  protocol?: string;
  hostIp?: string;
  hostPort: number;
}

export const port = defineCommand({
  name: "port",
  summary: "List port mappings or a specific mapping for the container",
  usage: "port CONTAINER [PRIVATE_PORT[/PROTO]]",
  examples: ["berth port web", "berth port web 80/tcp", "berth port web --format json"],
  args: { min: 1, max: 2, complete: "container" },
  flags: { ...formatLongFlag },
  async run({ args, flags }, { api, out }) {
    const [ref, want] = args as [string, string | undefined];
    let wantPort: number | undefined;
    let wantProto = "tcp";
    if (want !== undefined) {
      const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(want);
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535)
        throw new CliError(`invalid port '${want}'`, { hint: "give PORT or PORT/PROTO, e.g. 80 or 53/udp" });
      wantPort = Number(m[1]);
      wantProto = m[2] ?? "tcp";
    }
    const c = await api.getContainer({ params: { id: ref } });
    // --network none and host publish nothing: none has no outside, host shares the host's ports directly.
    const all = ((c as { ports?: PortMapping[] }).ports ?? []).map((p) => ({
      ...p,
      protocol: p.protocol ?? "tcp",
      hostIp: p.hostIp ?? "0.0.0.0",
    }));
    const hits =
      wantPort === undefined ? all : all.filter((p) => p.privatePort === wantPort && p.protocol === wantProto);
    if (wantPort !== undefined && hits.length === 0) {
      throw new CliError(`no public port '${wantPort}/${wantProto}' published for ${c.name}`, {
        hint: "publishing ports (-p) comes with bridge networking; with --network host the container uses the host's ports directly",
      });
    }
    if (flags.format) {
      out.stdout(formatList(hits, flags.format, { headers: [], row: () => [] }));
      return 0;
    }
    out.stdout(
      hits
        .map((p) =>
          wantPort === undefined
            ? `${p.privatePort}/${p.protocol} -> ${p.hostIp}:${p.hostPort}\n`
            : `${p.hostIp}:${p.hostPort}\n`,
        )
        .join(""),
    );
    return 0;
  },
});
