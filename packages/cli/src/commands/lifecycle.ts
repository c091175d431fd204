/** start, stop, restart, kill, pause, unpause, rm, wait, rename: one API call per container, a report per item. */
import { defineCommand } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

const many = { min: 1, complete: "container" } as const;

export const start = defineCommand({
  name: "start",
  summary: "Start one or more stopped containers",
  usage: "start [OPTIONS] CONTAINER [CONTAINER...]",
  examples: ["berth start web", "berth start web db"],
  args: many,
  flags: {
    attach: {
      type: "boolean",
      short: "a",
      description: "Attach STDOUT/STDERR and forward signals (not implemented yet)",
    },
    interactive: { type: "boolean", short: "i", description: "Attach container's STDIN (not implemented yet)" },
  },
  async run({ args, flags }, { api, out }) {
    if (flags.attach || flags.interactive) {
      throw new CliError("start --attach/--interactive is not implemented yet: it needs the attach route", {
        hint: "start it, then follow its output with `berth logs -f`",
      });
    }
    return out.report(args, (id) => api.startContainer({ params: { id } }));
  },
});

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
  flags: timeFlag,
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
  flags: timeFlag,
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
  flags: {},
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
  flags: {},
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
  },
  async run({ args, flags }, { api, out }) {
    return out.report(args, (id) => api.deleteContainer({ params: { id }, query: flags.force ? { force: true } : {} }));
  },
});

export const wait = defineCommand({
  name: "wait",
  summary: "Block until one or more containers stop, then print their exit codes",
  usage: "wait CONTAINER [CONTAINER...]",
  examples: ["berth wait web"],
  args: many,
  flags: {},
  async run({ args }, { api, out }) {
    return out.report(
      args,
      (id) => api.waitContainer({ params: { id } }),
      (_, r) => String(r.exitCode),
    );
  },
});

export const rename = defineCommand({
  name: "rename",
  summary: "Rename a container",
  usage: "rename CONTAINER NEW_NAME",
  examples: ["berth rename web web-old"],
  args: { min: 2, max: 2, complete: "container" },
  flags: {},
  async run({ args }, { api }) {
    const [id, name] = args as [string, string];
    await api.renameContainer({ params: { id }, query: { name } });
    return 0;
  },
});
