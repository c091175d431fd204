/**
 * attach (Docker): connect the local stdio to a running container's (POST /attach, an HTTP upgrade). With a
 * TTY the terminal goes raw and follows resizes. ctrl-p,ctrl-q (or --detach-keys) detaches and leaves the
 * container running; when the container ends, attach exits with its exit code.
 */
import { defineCommand } from "../framework/command.js";

export const attach = defineCommand({
  name: "attach",
  summary: "Attach local standard input, output, and error streams to a running container",
  usage: "attach [OPTIONS] CONTAINER",
  description: "Type ctrl-p ctrl-q to detach (the container keeps running); --detach-keys changes the sequence.",
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
    const { endpoint, openUpgrade, pump, parseDetachKeys, DEFAULT_DETACH_KEYS } = await import("../tty.js");
    const name = args[0]!;
    const keys = parseDetachKeys(flags["detach-keys"] ?? DEFAULT_DETACH_KEYS);
    const c = await ctx.api.getContainer({ params: { id: name } });
    const tty = c.config.tty === true;
    const stdin = !flags["no-stdin"] && c.config.openStdin === true;
    const ep = await endpoint(ctx);
    const path = `/1.0/containers/${encodeURIComponent(c.id)}`;
    const { socket, head } = await openUpgrade(ep, `${path}/attach`);
    const how = await pump(ep, socket, head, {
      stdin,
      closeOnEof: false,
      detachKeys: keys,
      ...(tty ? { resizePath: `${path}/resize` } : {}),
    });
    if (how === "detached") return 0;
    return (await ctx.api.waitContainer({ params: { id: c.id } })).exitCode;
  },
});
