/** run, create (Docker) and launch (Incus): the same POST /1.0/containers with different defaults. */
import { existsSync, writeFileSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import type { ContainerCreate } from "@berth/api";
import { namesRegistry } from "@berth/api/refs";
import { type Context, defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError, EXIT_CLI } from "../framework/errors.js";
import { applyConfig } from "./config-keys.js";
import { containerFlags, toCreate } from "./container-flags.js";

export const run = defineCommand({
  name: "run",
  summary: "Create and run a new container from an image",
  usage: "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
  description:
    "Create and start a container. In the foreground, berth prints its output as it comes (its stdout to stdout,\nits stderr to stderr) and exits with the container's exit code; with -d it prints the container's id.",
  examples: [
    "berth run --rm busybox echo hello",
    "berth run -d --name web --memory 256m --restart on-failure:3 busybox httpd -f",
    "berth run --rm -e GREETING=hi -v /srv/data:/data:ro busybox sh -c 'echo $GREETING; ls /data'",
    "berth run -d --health-cmd 'wget -q -O- localhost' --health-interval 5s --name api myimage",
  ],
  interspersed: false,
  errorExitCode: EXIT_CLI,
  args: { min: 1, complete: "image" },
  flags: {
    detach: { type: "boolean", short: "d", description: "Run container in background and print container ID" },
    rm: { type: "boolean", description: "Automatically remove the container when it exits" },
    ...containerFlags,
    format: {
      type: "string",
      placeholder: "string",
      description: "With -d, print the new container as 'json' or through a template such as '{{.ID}}'",
    },
  },
  async run({ args, flags }, ctx) {
    const [image, ...cmd] = args as [string, ...string[]];
    if (flags.format !== undefined && !flags.detach)
      throw new CliError("--format prints the new container, which run does with -d only", {
        hint: "add -d (berth run -d --format json ...), or leave out --format to see the container's output",
      });
    const body = await withPullAuth(toCreate({ image, cmd, flags, env: ctx.env, cwd: process.cwd() }), ctx);
    const created = cidFile(flags.cidfile);
    if (flags.detach) {
      const c = await ctx.api.createContainer({
        body: { ...body, start: true, ...(flags.rm ? { autoRemove: true } : {}) },
      });
      created(c.id);
      if (ctx.out.format) await ctx.out.records([c as unknown as Record<string, unknown>]);
      else ctx.out.stdout(`${c.id}\n`);
      return 0;
    }
    return runAttached(ctx, body, flags.rm, flags.interactive === true, created);
  },
});

/**
 * --cidfile: refused up front when the file exists, as Docker does (another container may own it), and
 * written once the container exists. Returns what to call with the new id.
 */
export function cidFile(path: string | undefined): (id: string) => void {
  if (path === undefined) return () => {};
  if (existsSync(path))
    throw new CliError(`container ID file found, make sure the other container isn't running or delete ${path}`);
  const dir = dirname(resolvePath(path));
  if (!existsSync(dir))
    throw new CliError(`cannot write the container ID file ${path}: ${dir} does not exist`, {
      hint: "create the directory first or give another --cidfile path",
    });
  return (id) => writeFileSync(path, id, { flag: "wx" });
}

/**
 * run in the foreground, as Docker's: create (tty, openStdin with -i), then attach and have berthd start it (so
 * the first output is seen), and pump stdio until the container's stream ends: its stdout and stderr come back
 * apart (byte for byte, to ours), or as one terminal with -t. The exit code is the container's. --rm is
 * berthd's autoRemove, as with Docker: the container goes when it exits, even after the detach keys (-i: its
 * own --detach-keys, or ctrl-p ctrl-q) left it running or this CLI was killed.
 */
async function runAttached(
  ctx: Context,
  body: ContainerCreate,
  remove: boolean,
  stdin: boolean,
  created: (id: string) => void = () => {},
): Promise<number> {
  if (body.tty && stdin && !process.stdin.isTTY)
    throw new CliError("the input device is not a TTY", {
      hint: "leave out -t when stdin is piped (berth run -i ...)",
    });
  // The terminal's size goes with the create, as Docker's ConsoleSize: runc sizes the pty before the command
  // runs, so its first output is laid out for it (the resize after attaching comes later).
  const size =
    body.tty && process.stdout.isTTY && process.stdout.rows > 0 && process.stdout.columns > 0
      ? { consoleSize: { height: process.stdout.rows, width: process.stdout.columns } }
      : {};
  const c = await ctx.api.createContainer({
    body: {
      ...body,
      ...size,
      ...(stdin ? { openStdin: true } : {}),
      start: false,
      ...(remove ? { autoRemove: true } : {}),
    },
  });
  created(c.id);
  const { attachAndStart } = await import("./lifecycle.js");
  let started = false;
  try {
    return await attachAndStart(
      ctx,
      { id: c.id, tty: body.tty === true, stdin },
      {
        removed: remove,
        created: true,
        ...(body.detachKeys ? { detachKeys: body.detachKeys } : {}),
        onStarted: () => {
          started = true;
        },
      },
    );
  } finally {
    // A container that never started is never auto-removed: --rm takes it away here.
    if (remove && !started)
      await ctx.api.deleteContainer({ params: { id: c.id }, query: { force: true } }).catch(() => undefined);
  }
}

/** The create body with the user's credentials for the image's registry, for berthd to pull it if missing. */
async function withPullAuth(body: ContainerCreate, ctx: Context): Promise<ContainerCreate> {
  if (!namesRegistry(body.image)) return body; // nothing to pull from, nothing to read
  const { pullAuthFor } = await import("./image-progress.js");
  const auth = await pullAuthFor(body.image, ctx.env);
  return auth ? { ...body, pullAuth: auth } : body;
}

export const create = defineCommand({
  name: "create",
  summary: "Create a new container",
  usage: "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
  examples: ["berth create --name web busybox httpd -f", "berth start web"],
  interspersed: false,
  errorExitCode: EXIT_CLI,
  args: { min: 1, complete: "image" },
  flags: { ...containerFlags, ...formatLongFlag },
  async run({ args, flags }, ctx) {
    const [image, ...cmd] = args as [string, ...string[]];
    const body = await withPullAuth(toCreate({ image, cmd, flags, env: ctx.env, cwd: process.cwd() }), ctx);
    const created = cidFile(flags.cidfile);
    const c = await ctx.api.createContainer({ body });
    created(c.id);
    if (ctx.out.format) await ctx.out.records([c as unknown as Record<string, unknown>]);
    else ctx.out.stdout(`${c.id}\n`);
    return 0;
  },
});

export const launch = defineCommand({
  name: "launch",
  summary: "Create and start a system container (its init boots as PID 1)",
  usage: "launch [OPTIONS] IMAGE [NAME]",
  description: "Incus's launch: a system container with its own hostname, persistent root and init.",
  examples: [
    "berth launch debian-systemd c1",
    "berth launch busybox-system box -c limits.memory=256MiB -c limits.cpu=2",
    "berth launch debian-systemd c2 -c boot.autostart=true",
  ],
  errorExitCode: 1,
  args: { min: 1, max: 2, complete: "image" },
  flags: {
    config: {
      type: "string",
      short: "c",
      repeatable: true,
      placeholder: "KEY=VALUE",
      description: "Config key/value to apply to the new instance",
    },
    ephemeral: { type: "boolean", short: "e", description: "Ephemeral instance: removed when it stops" },
    network: { type: "string", short: "n", choices: ["none", "host"], description: "Network mode" },
    quiet: { type: "boolean", short: "q", description: "Don't show progress information" },
    ...formatLongFlag,
  },
  async run({ args, flags }, ctx) {
    const { api, out } = ctx;
    const [image, name] = args as [string, string?];
    const body = applyConfig<ContainerCreate>({ image, kind: "system", start: true }, flags.config);
    if (name) body.name = name;
    if (flags.ephemeral) body.autoRemove = true;
    if (flags.network) body.network = flags.network as "none" | "host";
    const quiet = flags.quiet || out.format !== undefined;
    if (!quiet) out.stdout(`Launching ${name ?? "a new instance"}\n`);
    const c = await api.createContainer({ body: await withPullAuth(body, ctx) });
    if (out.format) await out.records([c as unknown as Record<string, unknown>]);
    if (!quiet && !name) out.stdout(`The instance you are starting doesn't have any name: it is ${c.name}\n`);
    return 0;
  },
});
