/**
 * console (Incus): attach the local terminal to a system container's console through
 * `POST /1.0/containers/{id}/attach` (an HTTP upgrade to a raw stream). The TTY goes raw, window size
 * changes are forwarded (POST /resize), and the detach keys (ctrl-a q, Incus's, or --detach-keys) leave
 * the console running.
 */
import { defineCommand } from "../framework/command.js";
import { DetachMatcher, parseDetachKeys, pump } from "../tty.js";

export { DetachMatcher, parseDetachKeys };

export const DEFAULT_CONSOLE_DETACH_KEYS = "ctrl-a,q";

export const consoleCommand = defineCommand({
  name: "console",
  summary: "Attach to a system container's console (Incus style)",
  usage: "console [OPTIONS] NAME",
  description: "Type ctrl-a q to detach (the console keeps running); --detach-keys changes the sequence.",
  examples: ["berth console c1", "berth console --detach-keys ctrl-p,ctrl-q c1", "berth console --show-log c1"],
  args: { min: 1, max: 1, complete: "container" },
  flags: {
    "show-log": { type: "boolean", description: "Print the container's console log instead of attaching" },
    "detach-keys": {
      type: "string",
      placeholder: "KEYS",
      description: `Key sequence to detach (default "${DEFAULT_CONSOLE_DETACH_KEYS}")`,
    },
  },
  async run({ args, flags }, ctx) {
    const name = args[0]!;
    if (flags["show-log"]) {
      const stream = await ctx.api.containerLogs({ params: { id: name }, query: {} });
      for await (const line of stream) ctx.out.stdout(line.text.endsWith("\n") ? line.text : `${line.text}\n`);
      return 0;
    }
    const keys = parseDetachKeys(flags["detach-keys"] ?? DEFAULT_CONSOLE_DETACH_KEYS);
    const up = await ctx.api.upgrade("attachContainer", { params: { id: name } });
    if (!process.stdout.isTTY && process.stdin.isTTY !== true) {
      ctx.out.stderr(`To detach from the console, press: ${flags["detach-keys"] ?? "<ctrl>+a q"}\n`);
    }
    // Piped input: keep showing output a moment after the last line, then detach.
    const how = await pump(ctx, up, {
      detachKeys: keys,
      stdin: true,
      closeOnEof: false,
      detachOnEofMs: 500,
      resize: (h, w) => ctx.api.resizeContainer({ params: { id: name }, query: { h, w } }),
    });
    return how === "failed" ? 1 : 0;
  },
});

export { consoleCommand as console };
