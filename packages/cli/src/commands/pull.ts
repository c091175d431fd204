/** `berth pull` and `berth push`: through berthd, with the user's credentials sent per request. */
import { defineCommand } from "../framework/command.js";
import { followProgress, progressMode, registryAccess, registryFlags } from "./image-progress.js";

export const imagePull = defineCommand({
  name: "image pull",
  aliases: ["pull"],
  summary: "Download an image from a registry",
  usage: "image pull [OPTIONS] NAME[:TAG|@DIGEST]",
  examples: [
    "berth pull registry.example.com/team/app:1.0",
    "berth pull --tls-verify=false 127.0.0.1:5000/busybox",
    "berth pull --ca-file ca.pem --platform linux/arm64 registry.example.com/alpine",
    "berth pull --format json registry.example.com/app:1 | jq .",
  ],
  args: { min: 1, max: 1, complete: "image" },
  flags: {
    platform: { type: "string", placeholder: "os/arch", description: "Platform to pull from a multi-platform image" },
    quiet: { type: "boolean", short: "q", description: "Print only the image digest" },
    format: { type: "string", placeholder: "json", description: "json: progress as JSON lines" },
    ...registryFlags,
  },
  async run({ args, flags, set }, ctx) {
    const ref = args[0]!;
    const mode = progressMode(flags, ctx.out);
    const access = await registryAccess(ref, flags, set, ctx.env);
    const stream = await ctx.api.pullImage({
      body: { ref, ...(flags.platform ? { platform: flags.platform } : {}), ...access },
    });
    const last = await followProgress(stream, ctx, mode);
    if (flags.quiet) ctx.out.stdout(`${String(last?.digest ?? ref)}\n`);
    else if (mode !== "json") ctx.out.stdout(`Digest: ${String(last?.digest ?? "")}\n${String(last?.ref ?? ref)}\n`);
    return 0;
  },
});

export const imagePush = defineCommand({
  name: "image push",
  aliases: ["push"],
  summary: "Upload an image to a registry",
  usage: "image push [OPTIONS] NAME[:TAG] [DESTINATION]",
  examples: [
    "berth push registry.example.com/team/app:1.0",
    "berth push --tls-verify=false busybox 127.0.0.1:5000/busybox:latest",
  ],
  args: { min: 1, max: 2, complete: "image" },
  flags: {
    quiet: { type: "boolean", short: "q", description: "Print only the pushed digest" },
    format: { type: "string", placeholder: "json", description: "json: progress as JSON lines" },
    ...registryFlags,
  },
  async run({ args, flags, set }, ctx) {
    const mode = progressMode(flags, ctx.out);
    const dest = args[1] ?? args[0]!;
    const access = await registryAccess(dest, flags, set, ctx.env);
    const stream = await ctx.api.pushImage({
      body: { ref: args[0]!, ...(args[1] ? { destination: args[1] } : {}), ...access },
    });
    const last = await followProgress(stream, ctx, mode);
    if (flags.quiet) ctx.out.stdout(`${String(last?.digest ?? "")}\n`);
    else if (mode !== "json") ctx.out.stdout(`${String(last?.ref ?? dest)}: digest: ${String(last?.digest ?? "")}\n`);
    return 0;
  },
});
