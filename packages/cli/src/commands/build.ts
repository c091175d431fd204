/**
 * `berth build -t NAME:TAG [-f Containerfile] [--build-arg K=V] DIR`: tars the context and streams it to
 * berthd, which applies `.containerignore`/`.dockerignore` (Docker's rules, in libct) and runs the build.
 */
import { spawn } from "node:child_process";
import { access } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { defineCommand } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

export const imageBuild = defineCommand({
  name: "image build",
  aliases: ["build"],
  summary: "Build an image from a Containerfile",
  usage: "image build [OPTIONS] PATH",
  examples: ["berth build -t app:1 .", "berth build -f Containerfile.dev --build-arg VERSION=2 -t app:dev ."],
  args: { min: 1, max: 1, complete: "directory" },
  flags: {
    tag: {
      type: "string",
      short: "t",
      repeatable: true,
      placeholder: "list",
      description: "Name and optionally a tag (name:tag)",
    },
    file: {
      type: "string",
      short: "f",
      placeholder: "string",
      complete: "file",
      description: "The Containerfile (default: PATH/Containerfile or Dockerfile)",
    },
    "build-arg": { type: "string", repeatable: true, placeholder: "list", description: "Set build-time variables" },
    quiet: { type: "boolean", short: "q", description: "Suppress the build output and print image ID on success" },
    format: { type: "string", placeholder: "json", description: "json: progress as JSON lines" },
  },
  async run({ args, flags }, ctx) {
    const { followProgress, progressMode } = await import("./image-progress.js");
    const mode = progressMode(flags, ctx.out); // a bad --format fails before anything is sent
    const dir = resolve(args[0]!);
    await access(dir).catch(() =>
      Promise.reject(new CliError(`cannot read the build context ${args[0]}: no such directory`)),
    );
    let file: string | undefined;
    if (flags.file) {
      const abs = resolve(flags.file);
      file = relative(dir, abs);
      if (file.startsWith("..") || isAbsolute(file))
        throw new CliError(`-f ${flags.file}: the Containerfile must be inside the build context ${args[0]}`);
    }
    const tar = spawn("tar", ["-c", "-C", dir, "."], { stdio: ["ignore", "pipe", "inherit"] });
    const stream = await ctx.api.buildImage({
      query: {
        ...(flags.tag.length ? { t: flags.tag } : {}),
        ...(file ? { f: file } : {}),
        ...(flags["build-arg"].length ? { buildarg: flags["build-arg"] } : {}),
      },
      body: tar.stdout,
    });
    const last = await followProgress(stream, ctx, mode === "tty" ? "plain" : mode);
    if (flags.quiet && last?.id) ctx.out.stdout(`${String(last.id)}\n`);
    return 0;
  },
});
