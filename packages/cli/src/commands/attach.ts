/**
 * attach (Docker): connect the local stdio to a running container's (POST /attach, an HTTP upgrade). With a
 * TTY the terminal goes raw and follows resizes; without one the container's stdout and stderr come back
 * apart, to ours. ctrl-p,ctrl-q (or --detach-keys, or the container's own) detaches and leaves the container
 * running; when the container ends, attach exits with its exit code.
 */
import { defineCommand } from "../framework/command.js";

export const attach = defineCommand({
  name: "attach",
  summary: "Attach local standard input, output, and error streams to a running container",
  usage: "attach [OPTIONS] CONTAINER",
  description:
    "Type ctrl-p ctrl-q to detach (the container keeps running); --detach-keys, or the container's own\n(create/run --detach-keys), changes the sequence.",
  examples: ["berth attach web", "berth attach --detach-keys ctrl-x web", "berth attach --no-stdin web"],
  args: { min: 1, max: 1, complete: "container" },
  flags: {
    "detach-keys": {
      type: "string",
      placeholder: "string",
      description: 'Override the key sequence for detaching a container (default "ctrl-p,ctrl-q")',
    },
    "no-stdin": { type: "boolean", description: "Do not attach STDIN" },
    "sig-proxy": { type: "boolean", description: "Proxy all received signals to the process (ignored)" },
  },
  async run({ args, flags }, ctx) {
    const { pump, parseDetachKeys, DEFAULT_DETACH_KEYS } = await import("../tty.js");
    const name = args[0]!;
    const c = await ctx.api.getContainer({ params: { id: name } });
    // The flag, else the container's own (create/run --detach-keys), else Docker's ctrl-p,ctrl-q.
    const keys = parseDetachKeys(flags["detach-keys"] ?? c.config.detachKeys ?? DEFAULT_DETACH_KEYS);
    const tty = c.config.tty === true;
    const stdin = !flags["no-stdin"] && c.config.openStdin === true;
    const up = await ctx.api.upgrade("attachContainer", { params: { id: c.id } });
    const how = await pump(ctx, up, {
      stdin,
      closeOnEof: false,
      detachKeys: keys,
      ...(tty ? { resize: (h, w) => ctx.api.resizeContainer({ params: { id: c.id }, query: { h, w } }) } : {}),
    });
    if (how === "detached") return 0;
    return (await ctx.api.waitContainer({ params: { id: c.id } })).exitCode;
  },
});
