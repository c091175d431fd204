/** run, create (Docker) and launch (Incus): the same POST /1.0/containers with different defaults. */
import { existsSync, writeFileSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import type { ContainerCreate, LogLine } from "@berth/api";
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
    "Create and start a container. In the foreground, berth prints its output as it comes and exits with the\ncontainer's exit code; with -d it prints the container's id.",
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
    if (flags.interactive || flags.tty) return runInteractive(ctx, body, flags.rm, flags.interactive === true, created);
    return runForeground(ctx, body, flags.rm, created);
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
 * run -i / -it: create (tty, openStdin), then attach and have berthd start it (so the first output is seen)
 * and pump stdio until the container's stream ends; the exit code is the container's. --rm is berthd's
 * autoRemove, as with Docker: the container goes when it exits, even after ctrl-p ctrl-q detached from it
 * or this CLI was killed.
 */
async function runInteractive(
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
  const c = await ctx.api.createContainer({
    body: { ...body, ...(stdin ? { openStdin: true } : {}), start: false, ...(remove ? { autoRemove: true } : {}) },
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

/**
 * Starts the container, streams its logs until it exits, returns its exit code. --rm is berthd's autoRemove, as
 * Docker's: the daemon removes the container as soon as it exits (even when this CLI is killed), and the CLI
 * waits for `removed`, so the name is free again when it returns.
 */
async function runForeground(
  ctx: Context,
  body: ContainerCreate,
  remove: boolean,
  created: (id: string) => void = () => {},
): Promise<number> {
  const { api, out } = ctx;
  const c = await api.createContainer({ body: { ...body, start: false, ...(remove ? { autoRemove: true } : {}) } });
  const id = c.id;
  created(id);
  const forward = (signal: NodeJS.Signals) => () => {
    void api.killContainer({ params: { id }, query: { signal } }).catch(() => undefined);
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    // Follow before start: berthd opens the log for this stream before it answers, and keeps it open, so every
    // line arrives even when the container is gone (removed) a moment after it starts.
    const logs = await api.containerLogs({ params: { id }, query: { follow: true } });
    // The wait goes out with the start, as Docker's CLI waits before it starts: berthd answers a wait on a
    // created container with its coming exit (or removal), and the exit is not a round trip later.
    const result = api.waitContainer({ params: { id }, query: remove ? { condition: "removed" } : {} });
    result.catch(() => undefined); // awaited below, after the output
    try {
      await api.startContainer({ params: { id } });
    } catch (err) {
      logs.cancel();
      if (remove) await api.deleteContainer({ params: { id }, query: { force: true } }).catch(() => undefined);
      throw err;
    }
    for await (const line of logs) printLine(line, out);
    return (await result).exitCode;
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

/** The create body with the user's credentials for the image's registry, for berthd to pull it if missing. */
async function withPullAuth(body: ContainerCreate, ctx: Context): Promise<ContainerCreate> {
  if (!namesRegistry(body.image)) return body; // nothing to pull from, nothing to read
  const { pullAuthFor } = await import("./image-progress.js");
  const auth = await pullAuthFor(body.image, ctx.env);
  return auth ? { ...body, pullAuth: auth } : body;
}

function printLine(line: LogLine, out: Context["out"]): void {
  const text = line.text.endsWith("\n") ? line.text : `${line.text}\n`;
  if (line.stream === "stderr") out.stderr(text);
  else out.stdout(text);
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
