/** `berth import`: a root filesystem tar (.tar, .tar.gz, .tar.zst) as a one-layer image. */
import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

export const importImage = defineCommand({
  name: "image import",
  aliases: ["import"],
  summary: "Import the contents from a tarball to create a filesystem image",
  usage: "image import [OPTIONS] FILE|- NAME[:TAG]",
  examples: ["berth import rootfs.tar.gz myos:1", "zstd -dc rootfs.tar.zst | berth import - myos:1"],
  args: { min: 2, max: 2, complete: "file" },
  flags: { quiet: { type: "boolean", short: "q", description: "Print nothing" }, ...formatLongFlag },
  async run({ args, flags }, { api, out }) {
    const [file, ref] = args as [string, string];
    if (file !== "-") await access(file).catch(() => Promise.reject(new CliError(`cannot read ${file}: no such file`)));
    const body = file === "-" ? process.stdin : createReadStream(file);
    const img = await api.importImage({ query: { ref }, body });
    if (out.format) await out.records([img as unknown as Record<string, unknown>]);
    else if (!flags.quiet) out.stdout(`${String(img.digest ?? img.id)}\n`);
    return 0;
  },
});
