/**
 * version: the client's, and the server's when berthd answers. As `docker version`, it exits 1 when the server
 * cannot be reached, after printing what it knows (scripts wait for a daemon with `until berth version`).
 */
import type { VersionInfo } from "@berth/api";
import { defineCommand, formatFlag } from "../framework/command.js";
import { DaemonUnreachableError } from "../framework/errors.js";
import { version as clientVersion } from "../index.js";
import { formatObject } from "../output/format.js";

export const version = defineCommand({
  name: "version",
  summary: "Show the berth version information",
  usage: "version [OPTIONS]",
  examples: ["berth version", "berth version --format '{{.Server.Version}}'", "berth version --format json"],
  args: { max: 0 },
  flags: { ...formatFlag },
  async run({ flags }, { api, out, host }) {
    const client = {
      Version: clientVersion,
      ApiVersion: "1.0",
      NodeVersion: process.version,
      Os: process.platform,
      Arch: process.arch,
    };
    let server: VersionInfo | undefined;
    let unreachable: string | undefined;
    try {
      server = await api.serverInfo();
    } catch (err) {
      if (!(err instanceof DaemonUnreachableError)) throw err;
      unreachable = err.message;
    }
    if (flags.format !== undefined) {
      out.stdout(formatObject({ Client: client, Server: server ?? null }, flags.format));
      if (unreachable) out.stderr(`Server: ${unreachable}\n`);
      return unreachable ? 1 : 0;
    }
    let s = `Client:\n Version:      ${client.Version}\n API version:  ${client.ApiVersion}\n Node.js:      ${client.NodeVersion}\n OS/Arch:      ${client.Os}/${client.Arch}\n`;
    if (server) {
      s += `\nServer: berthd\n Version:      ${server.version}\n API version:  ${server.apiVersion}\n OS/Arch:      ${server.os}/${server.arch}\n Kernel:       ${server.kernel}\n Runtime:      ${server.runtime}\n Cgroup:       ${server.cgroup}\n Host:         ${host}\n`;
    }
    out.stdout(s);
    if (unreachable) out.stderr(`\nServer: ${unreachable}\n`);
    return unreachable ? 1 : 0;
  },
});
