/** `berth load`: a docker-archive or oci-archive tar (optionally compressed) uploaded to berthd. */
import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

export const load = defineCommand({
  name: "image load",
  aliases: ["load"],
  summary: "Load images from a tar archive or STDIN",
  usage: "image load [OPTIONS]",
  examples: ["berth load -i busybox.tar", "berth load < images.tar"],
  args: { max: 0 },
  flags: {
    input: {
      type: "string",
      short: "i",
      placeholder: "string",
      complete: "file",
      description: "Read from tar archive file, instead of STDIN",
    },
    quiet: { type: "boolean", short: "q", description: "Suppress the load output" },
    ...formatLongFlag,
  },
  async run({ flags }, { api, out }) {
    if (flags.input)
      await access(flags.input).catch(() => Promise.reject(new CliError(`cannot read ${flags.input}: no such file`)));
    else if (process.stdin.isTTY)
      throw new CliError("requested load from stdin, but stdin is a terminal", {
        hint: "use -i FILE or redirect stdin",
      });
    const body = flags.input ? createReadStream(flags.input) : process.stdin;
    const loaded = await api.loadImage({ body });
    if (out.format) await out.records(loaded as unknown as Record<string, unknown>[]);
    else if (!flags.quiet)
      for (const img of loaded)
        out.stdout(
          img.ref && !img.ref.startsWith("sha256:") ? `Loaded image: ${img.ref}\n` : `Loaded image ID: ${img.digest}\n`,
        );
    return 0;
  },
});
