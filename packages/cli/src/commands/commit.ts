/** `berth commit CONTAINER NAME:TAG`: the container's changes as a new image (a running container is paused meanwhile). */
import { defineCommand, formatLongFlag } from "../framework/command.js";

export const commit = defineCommand({
  name: "commit",
  aliases: ["container commit"],
  summary: "Create a new image from a container's changes",
  usage: "commit CONTAINER NAME[:TAG]",
  examples: ["berth commit web web:snapshot"],
  args: { min: 2, max: 2, complete: "container" },
  flags: { quiet: { type: "boolean", short: "q", description: "Print nothing" }, ...formatLongFlag },
  async run({ args, flags }, { api, out }) {
    const [id, ref] = args as [string, string];
    const img = await api.commitContainer({ params: { id }, query: { ref } });
    if (out.format) await out.records([img as unknown as Record<string, unknown>]);
    else if (!flags.quiet) out.stdout(`${String(img.digest ?? img.id)}\n`);
    return 0;
  },
});
