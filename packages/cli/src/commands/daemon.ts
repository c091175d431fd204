/** daemon start: berthd in the background, then wait until its socket answers. */
import { spawn } from "node:child_process";
import { existsSync, openSync, realpathSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

export const daemonStart = defineCommand({
  name: "daemon start",
  summary: "Start berthd in the background",
  usage: "daemon start [OPTIONS]",
  examples: ["berth daemon start", "berth daemon start --root /tmp/berth --log /tmp/berthd.log"],
  args: { max: 0 },
  flags: {
    root: {
      type: "string",
      placeholder: "path",
      complete: "directory",
      description: "State directory (default /var/lib/berth)",
    },
    "run-root": {
      type: "string",
      placeholder: "path",
      complete: "directory",
      description: "Runtime directory (default /run/berth)",
    },
    log: {
      type: "string",
      placeholder: "path",
      complete: "file",
      description: "Where berthd's log goes (default /var/log/berthd.log)",
    },
    timeout: {
      type: "duration",
      placeholder: "duration",
      description: "How long to wait for the socket (default 15s)",
    },
    ...formatLongFlag,
  },
  async run({ flags }, { api, out, host }) {
    const already = await api.serverInfo().then(
      () => true,
      () => false,
    );
    if (already) {
      if (out.format) await out.records([{ host, started: false, running: true }]);
      else out.stdout(`berthd is already running at ${host}\n`);
      return 0;
    }
    const onPath = (process.env.PATH ?? "")
      .split(delimiter)
      .map((d) => join(d, "berthd"))
      .find((p) => existsSync(p));
    // In a checkout: packages/cli/dist/berth.mjs (or dist/commands/daemon.js) → packages/daemon/dist/main.js
    const here = process.argv[1] ? dirname(realpathSync(process.argv[1])) : process.cwd();
    const sibling =
      [join(here, "../../daemon/dist/main.js"), join(here, "../../../daemon/dist/main.js")].find((p) =>
        existsSync(p),
      ) ?? "";
    const [file, pre] = onPath
      ? [onPath, []]
      : existsSync(sibling)
        ? [process.execPath, ["--max-semi-space-size=1", "--no-sparkplug", sibling]] // as berthd's shebang line
        : [undefined, []];
    if (!file)
      throw new CliError("cannot find berthd", { hint: "install berth (scripts/setup.sh) or put berthd on PATH" });
    const args = [...pre];
    if (flags.root) args.push("--root", flags.root);
    if (flags["run-root"]) args.push("--run-root", flags["run-root"]);
    if (host.startsWith("unix://")) args.push("--socket", host.slice(7));
    const log = openSync(flags.log ?? "/var/log/berthd.log", "a");
    const child = spawn(file, args, {
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, MALLOC_ARENA_MAX: "1" }, // as berthd's shebang line
    });
    child.unref();
    const deadline = Date.now() + (flags.timeout ?? 15_000);
    while (Date.now() < deadline) {
      await new Promise((ok) => setTimeout(ok, 100));
      if (child.exitCode !== null)
        throw new CliError(`berthd exited with code ${child.exitCode}`, {
          hint: `see ${flags.log ?? "/var/log/berthd.log"}`,
        });
      if (
        await api.serverInfo().then(
          () => true,
          () => false,
        )
      ) {
        if (out.format) await out.records([{ host, started: true, running: true, pid: child.pid }]);
        else out.stdout(`berthd started (pid ${child.pid}) at ${host}\n`);
        return 0;
      }
    }
    throw new CliError(`berthd did not answer on ${host} in time`, {
      hint: `see ${flags.log ?? "/var/log/berthd.log"}`,
    });
  },
});
