/** start, stop, restart, kill, pause, unpause, rm, wait, rename: one API call per container, a report per item. */
import { type Context, defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

const many = { min: 1, complete: "container" } as const;

export const start = defineCommand({
  name: "start",
  summary: "Start one or more stopped containers",
  usage: "start [OPTIONS] CONTAINER [CONTAINER...]",
  description:
    "With -a, berth stays attached to the container's output (and with -i its input) from its first byte, and\nexits with the container's exit code; ctrl-p ctrl-q detaches and leaves it running.",
  examples: ["berth start web", "berth start web db", "berth start -a job", "berth start -ai shell"],
  args: many,
  flags: {
    attach: { type: "boolean", short: "a", description: "Attach STDOUT/STDERR and forward signals" },
    interactive: { type: "boolean", short: "i", description: "Attach container's STDIN" },
    "detach-keys": {
      type: "string",
      placeholder: "string",
      description: 'Override the key sequence for detaching a container (default "ctrl-p,ctrl-q")',
    },
    ...formatLongFlag,
  },
  async run({ args, flags }, ctx) {
    if (flags.attach || flags.interactive) {
      if (flags.format !== undefined)
        throw new CliError("--format is for the report of start; with -a the output is the container's own", {
          hint: `leave out --format, or -a: berth start --format json ${args[0]}`,
        });
      if (args.length > 1) {
        throw new CliError("you cannot start and attach multiple containers at once", {
          hint: `start them without -a, then attach to one: berth attach ${args[0]}`,
        });
      }
      return startAttached(ctx, args[0]!, flags.interactive === true, flags["detach-keys"]);
    }
    return ctx.out.report(args, (id) => ctx.api.startContainer({ params: { id } }));
  },
});

/**
 * start -a / -ai (Docker): berthd attaches, then starts the container itself (`attach?start=true`), so even a
 * stopped container, whose monitor comes back only when it is created again, loses none of its first output.
 * The local stdio is pumped as by `attach`; the exit code is the container's.
 */
async function startAttached(ctx: Context, ref: string, interactive: boolean, detachKeys?: string): Promise<number> {
  const c = await ctx.api.getContainer({ params: { id: ref } });
  const tty = c.config.tty === true;
  const stdin = interactive && c.config.openStdin === true;
  const keys = detachKeys ?? c.config.detachKeys; // the flag, else the container's own (create --detach-keys)
  return attachAndStart(ctx, { id: c.id, tty, stdin }, { ...(keys ? { detachKeys: keys } : {}) });
}

/**
 * Attaches to a container and has berthd start it (`attach?start=true`), pumps the local stdio (raw TTY and
 * resizes with a tty, signals forwarded without one; without a tty its stdout and stderr come back apart, to
 * ours) and returns the container's exit code, or 0 when the detach keys (with stdin) leave it running.
 * `removed`: the container is berthd's autoRemove (run --rm), so the exit code is read with
 * wait?condition=removed, which also returns once it is gone. `created`: the caller has just created it.
 */
export async function attachAndStart(
  ctx: Context,
  c: { id: string; tty: boolean; stdin: boolean },
  opts: { detachKeys?: string; removed?: boolean; created?: boolean; onStarted?: () => void } = {},
): Promise<number> {
  const { pump, parseDetachKeys, DEFAULT_DETACH_KEYS } = await import("../tty.js");
  const { id, tty, stdin } = c;
  const keys = parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS);
  if (tty && stdin && !process.stdin.isTTY)
    throw new CliError("the input device is not a TTY", {
      hint: "leave out -i when stdin is piped, or create the container without -t",
    });
  const query: { start: true; closeStdin?: true; h?: number; w?: number } = { start: true };
  if (stdin) query.closeStdin = true;
  if (tty && process.stdout.isTTY && process.stdout.rows > 0) {
    // The terminal's size before the process starts, so its first screen fits.
    query.h = process.stdout.rows;
    query.w = process.stdout.columns;
  }
  const forward = (signal: NodeJS.Signals) => () => {
    void ctx.api.killContainer({ params: { id }, query: { signal } }).catch(() => undefined);
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  if (!tty) {
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  }
  const waitFor = () => ctx.api.waitContainer({ params: { id }, query: opts.removed ? { condition: "removed" } : {} });
  // A container run has just created: the wait goes out with the start (as Docker's CLI waits before it starts),
  // so the exit is not a round trip later. (A stopped one would answer at once with its last exit: not then.)
  const early = opts.created ? waitFor() : undefined;
  early?.catch(() => undefined); // awaited below, after the output
  try {
    const up = await ctx.api.upgrade("attachContainer", { params: { id }, query });
    opts.onStarted?.(); // the 101 comes once berthd has started it
    const how = await pump(ctx, up, {
      stdin,
      closeOnEof: stdin,
      ...(stdin ? { detachKeys: keys } : {}),
      ...(tty ? { resize: (h, w) => ctx.api.resizeContainer({ params: { id }, query: { h, w } }) } : {}),
    });
    if (how === "detached") return 0;
    return (await (early ?? waitFor())).exitCode;
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

const timeFlag = {
  time: { type: "int", short: "t", placeholder: "int", description: "Seconds to wait before killing the container" },
  timeout: { type: "int", hidden: true, description: "Alias of --time" },
} as const;

export const stop = defineCommand({
  name: "stop",
  summary: "Stop one or more running containers",
  usage: "stop [OPTIONS] CONTAINER [CONTAINER...]",
  description: "Sends the stop signal (SIGTERM, or the image's), then SIGKILL after the grace period.",
  examples: ["berth stop web", "berth stop -t 2 web db"],
  args: many,
  flags: { ...timeFlag, ...formatLongFlag },
  async run({ args, flags }, { api, out }) {
    const t = flags.time ?? flags.timeout;
    return out.report(args, (id) => api.stopContainer({ params: { id }, query: t === undefined ? {} : { t } }));
  },
});

export const restart = defineCommand({
  name: "restart",
  summary: "Restart one or more containers",
  usage: "restart [OPTIONS] CONTAINER [CONTAINER...]",
  examples: ["berth restart web", "berth restart -t 0 web"],
  args: many,
  flags: { ...timeFlag, ...formatLongFlag },
  async run({ args, flags }, { api, out }) {
    const t = flags.time ?? flags.timeout;
    return out.report(args, (id) => api.restartContainer({ params: { id }, query: t === undefined ? {} : { t } }));
  },
});

export const kill = defineCommand({
  name: "kill",
  summary: "Kill one or more running containers",
  usage: "kill [OPTIONS] CONTAINER [CONTAINER...]",
  examples: ["berth kill web", "berth kill -s HUP web", "berth kill --signal=SIGUSR1 web"],
  args: many,
  flags: {
    signal: {
      type: "string",
      short: "s",
      placeholder: "string",
      complete: "signal",
      description: "Signal to send to the container (default KILL)",
    },
    ...formatLongFlag,
  },
  async run({ args, flags }, { api, out }) {
    const signal = flags.signal;
    return out.report(args, (id) => api.killContainer({ params: { id }, query: signal ? { signal } : {} }));
  },
});

export const pause = defineCommand({
  name: "pause",
  summary: "Pause all processes within one or more containers",
  usage: "pause CONTAINER [CONTAINER...]",
  examples: ["berth pause web"],
  args: many,
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    return out.report(args, (id) => api.pauseContainer({ params: { id } }));
  },
});

export const unpause = defineCommand({
  name: "unpause",
  summary: "Unpause all processes within one or more containers",
  usage: "unpause CONTAINER [CONTAINER...]",
  examples: ["berth unpause web"],
  args: many,
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    return out.report(args, (id) => api.unpauseContainer({ params: { id } }));
  },
});

export const rm = defineCommand({
  name: "rm",
  aliases: ["delete"],
  summary: "Remove one or more containers",
  usage: "rm [OPTIONS] CONTAINER [CONTAINER...]",
  examples: ["berth rm web", "berth rm -f web db", "berth rm $(berth ps -aq --filter status=exited)"],
  args: many,
  flags: {
    force: { type: "boolean", short: "f", description: "Force the removal of a running container (uses SIGKILL)" },
    volumes: { type: "boolean", short: "v", description: "Remove anonymous volumes associated with the container" },
    ...formatLongFlag,
  },
  async run({ args, flags }, { api, out }) {
    const query = { ...(flags.force ? { force: true } : {}), ...(flags.volumes ? { volumes: true } : {}) };
    return out.report(args, (id) => api.deleteContainer({ params: { id }, query }));
  },
});

export const wait = defineCommand({
  name: "wait",
  summary: "Block until one or more containers stop, then print their exit codes",
  usage: "wait CONTAINER [CONTAINER...]",
  examples: ["berth wait web", "berth wait --format '{{.Name}} {{.ExitCode}}' web db"],
  args: many,
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    return out.report(
      args,
      (id) => api.waitContainer({ params: { id } }),
      (_, r) => String(r.exitCode),
      (name, r) => ({ name, ...r }),
    );
  },
});

export const rename = defineCommand({
  name: "rename",
  summary: "Rename a container",
  usage: "rename CONTAINER NEW_NAME",
  examples: ["berth rename web web-old"],
  args: { min: 2, max: 2, complete: "container" },
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    const [id, name] = args as [string, string];
    await api.renameContainer({ params: { id }, query: { name } });
    if (out.format) {
      const c = await api.getContainer({ params: { id: name } });
      await out.records([{ id: c.id, name, previousName: id }]);
    }
    return 0;
  },
});
