/** `berth save`: images as a docker-archive or oci-archive tar, streamed from berthd. */
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { defineCommand } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

export const save = defineCommand({
  name: "image save",
  aliases: ["save"],
  summary: "Save one or more images to a tar archive (streamed to STDOUT by default)",
  usage: "image save [OPTIONS] IMAGE [IMAGE...]",
  examples: ["berth save -o busybox.tar busybox", "berth save --format oci-archive busybox app:1 > images.tar"],
  args: { min: 1, complete: "image" },
  flags: {
    output: {
      type: "string",
      short: "o",
      placeholder: "string",
      complete: "file",
      description: "Write to a file, instead of STDOUT",
    },
    format: {
      type: "string",
      placeholder: "string",
      choices: ["docker-archive", "oci-archive"],
      description: "docker-archive (default) or oci-archive",
    },
  },
  async run({ args, flags }, { api }) {
    if (!flags.output && process.stdout.isTTY)
      throw new CliError("cowardly refusing to save to a terminal", { hint: "use -o FILE or redirect stdout" });
    const stream = await api.saveImage({
      params: { ref: args[0]! },
      query: { format: flags.format ?? "docker-archive", ...(args.length > 1 ? { ref: args.slice(1) } : {}) } as {
        format: string;
      },
    });
    const target = flags.output ? `${flags.output}.part-${process.pid}` : undefined;
    const out: NodeJS.WritableStream & { destroy(): void } = target ? createWriteStream(target) : process.stdout;
    try {
      for await (const chunk of stream) {
        if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
      }
    } catch (err) {
      if (target) {
        out.destroy();
        await rm(target, { force: true });
      }
      throw new CliError(
        `saving failed: the daemon cut the archive short (${(err as Error).message}); see berthd's log`,
      );
    }
    if (target) {
      await new Promise<void>((resolve) => out.end(() => resolve()));
      await rename(target, flags.output!);
    }
    return 0;
  },
});
