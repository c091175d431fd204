import type { ImageSummary } from "@berth/api/client";
import { defineCommand, formatFlag, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";
import { formatSize, humanDuration } from "../framework/units.js";
import { formatList, formatObject } from "../output/format.js";

/** "registry/busybox:1.36" → ["registry/busybox", "1.36"]; digests are "<none>". */
export function splitRef(ref: string | undefined): [string, string] {
  if (!ref) return ["<none>", "<none>"];
  const at = ref.indexOf("@");
  const base = at >= 0 ? ref.slice(0, at) : ref;
  const colon = base.lastIndexOf(":");
  if (colon > base.lastIndexOf("/")) return [base.slice(0, colon), base.slice(colon + 1)];
  return [base, at >= 0 ? "<none>" : "latest"];
}

interface ImageRow {
  Repository: string;
  Tag: string;
  ID: string;
  CreatedSince: string;
  CreatedAt: string;
  Size: string;
  Digest: string;
}

export function imageRows(images: readonly ImageSummary[], noTrunc = false, now = Date.now()): ImageRow[] {
  return images.flatMap((img) => {
    const refs = img.tags?.length ? img.tags : [img.ref];
    const digest = String(img.digest ?? img.id ?? "");
    const id = noTrunc
      ? String(img.id ?? digest)
      : String(img.id ?? digest)
          .replace(/^sha256:/, "")
          .slice(0, 12);
    const created = typeof img.createdAt === "string" ? img.createdAt : "";
    return refs.map((ref) => {
      // Docker's familiar form: docker.io/library/x → x, docker.io/u/x → u/x
      const [Repository, Tag] = splitRef(ref?.replace(/^docker\.io\/(library\/)?/, ""));
      return {
        Repository,
        Tag,
        ID: id,
        CreatedAt: created,
        CreatedSince: created ? `${humanDuration(Math.max(0, now - Date.parse(created)))} ago` : "",
        Size: typeof img.size === "number" ? formatSize(img.size) : "",
        Digest: digest,
      };
    });
  });
}

export const imageLs = defineCommand({
  name: "image ls",
  aliases: ["images", "image list"],
  summary: "List images",
  usage: "image ls [OPTIONS]",
  examples: ["berth images", "berth image ls -q", "berth images --format '{{.Repository}}:{{.Tag}}'"],
  args: { max: 1 },
  flags: {
    quiet: { type: "boolean", short: "q", description: "Only show image IDs" },
    "no-trunc": { type: "boolean", description: "Don't truncate output" },
    digests: { type: "boolean", description: "Show digests" },
    all: { type: "boolean", short: "a", description: "Show all images (accepted for compatibility)" },
    ...formatLongFlag,
  },
  async run({ args, flags }, { api, out }) {
    let rows = imageRows(await api.listImages(), flags["no-trunc"]);
    if (args[0]) rows = rows.filter((r) => r.Repository === args[0] || `${r.Repository}:${r.Tag}` === args[0]);
    if (flags.quiet) {
      out.stdout([...new Set(rows.map((r) => r.ID))].map((id) => `${id}\n`).join(""));
      return 0;
    }
    const headers = ["REPOSITORY", "TAG", ...(flags.digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"];
    out.stdout(
      formatList(rows, flags.format, {
        headers,
        row: (r) => [r.Repository, r.Tag, ...(flags.digests ? [r.Digest] : []), r.ID, r.CreatedSince, r.Size],
        fieldHeaders: { ID: "IMAGE ID", CreatedSince: "CREATED" },
      }),
    );
    return 0;
  },
});

export const imageRm = defineCommand({
  name: "image rm",
  aliases: ["rmi"],
  summary: "Remove one or more images",
  usage: "image rm [OPTIONS] IMAGE [IMAGE...]",
  examples: ["berth rmi busybox", "berth image rm -f myimage:old"],
  args: { min: 1, complete: "image" },
  flags: { force: { type: "boolean", short: "f", description: "Force removal of the image" }, ...formatLongFlag },
  async run({ args, flags }, { api, out }) {
    return out.report(
      args,
      (ref) => api.deleteImage({ params: { ref }, query: flags.force ? { force: true } : {} }),
      (ref) => `Untagged: ${ref}`,
      (ref) => ({ untagged: ref }),
    );
  },
});

export const imageInspect = defineCommand({
  name: "image inspect",
  summary: "Display detailed information on one or more images",
  usage: "image inspect [OPTIONS] IMAGE [IMAGE...]",
  examples: ["berth image inspect busybox"],
  args: { min: 1, complete: "image" },
  flags: { ...formatFlag },
  async run({ args, flags }, { api, out }) {
    const found = await Promise.all(args.map((ref) => api.getImage({ params: { ref } })));
    if (flags.format === undefined || flags.format === "json") out.stdout(`${JSON.stringify(found, null, 4)}\n`);
    else for (const i of found) out.stdout(formatObject(i, flags.format));
    return 0;
  },
});

export const imageTag = defineCommand({
  name: "image tag",
  aliases: ["tag"],
  summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
  usage: "image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
  examples: ["berth tag busybox mybox:1"],
  args: { min: 2, max: 2, complete: "image" },
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    await api.tagImage({ params: { ref: args[0]! }, query: { tag: args[1]! } });
    if (out.format) await out.records([{ source: args[0]!, target: args[1]! }]);
    return 0;
  },
});

export const imagePrune = defineCommand({
  name: "image prune",
  summary: "Remove unused image content",
  usage: "image prune [OPTIONS]",
  examples: ["berth image prune -f"],
  args: { max: 0 },
  flags: {
    force: { type: "boolean", short: "f", description: "Do not prompt for confirmation" },
    all: { type: "boolean", short: "a", description: "Accepted for compatibility" },
    ...formatLongFlag,
  },
  async run(_, { api, out }) {
    const r = await api.pruneImages();
    if (out.format) {
      await out.records([r as unknown as Record<string, unknown>]);
      return 0;
    }
    for (const x of r.removed ?? []) out.stdout(`deleted: ${x}\n`);
    for (const x of (r.removedLayers as string[] | undefined) ?? []) out.stdout(`deleted layer: ${x}\n`);
    out.stdout(`Total reclaimed space: ${formatSize(Number(r.reclaimedBytes ?? 0))}\n`);
    return 0;
  },
});

export const imageBootstrap = defineCommand({
  name: "image bootstrap",
  summary: "Build a base image offline (busybox from the host's busybox-static, or Debian with debootstrap)",
  usage: "image bootstrap [OPTIONS] busybox|debian[:SUITE]",
  examples: [
    "berth image bootstrap busybox",
    "berth image bootstrap debian:bookworm",
    "berth image bootstrap debian:bookworm --variant systemd",
  ],
  args: { min: 1, max: 1 },
  flags: {
    tag: {
      type: "string",
      short: "t",
      placeholder: "NAME:TAG",
      description: "Reference to store it under (default: busybox:latest, debian:SUITE, debian:SUITE-systemd)",
    },
    variant: {
      type: "string",
      placeholder: "string",
      choices: ["minbase", "systemd"],
      description: "Debian: minbase (default) or systemd (the base of system containers)",
    },
    mirror: { type: "string", placeholder: "url", description: "Debian mirror (default: the host's apt mirror)" },
    quiet: { type: "boolean", short: "q", description: "Suppress the progress output" },
    format: { type: "string", placeholder: "json", description: "json: progress as JSON lines" },
  },
  async run({ args, flags }, ctx) {
    const [kind, suite] = args[0]!.split(":") as [string, string | undefined];
    if (!["busybox", "debian"].includes(kind)) {
      throw new CliError(`unknown bootstrap kind '${kind}'`, {
        hint: "use busybox or debian:SUITE (e.g. debian:bookworm)",
      });
    }
    if (kind === "busybox" && (suite || flags.variant || flags.mirror))
      throw new CliError("busybox takes no suite, --variant or --mirror");
    const { followProgress, progressMode } = await import("./image-progress.js");
    const mode = progressMode(flags, ctx.out);
    const stream = await ctx.api.bootstrapImage({
      body: {
        kind,
        ...(flags.tag ? { ref: flags.tag } : {}),
        ...(flags.variant ? { variant: flags.variant } : {}),
        ...(suite ? { suite } : {}),
        ...(flags.mirror ? { mirror: flags.mirror } : {}),
      },
    });
    const last = await followProgress(stream, ctx, mode === "tty" ? "plain" : mode);
    const ref = last?.ref ?? flags.tag;
    if (ref && mode !== "json") ctx.out.stdout(`${String(ref)}\n`);
    return 0;
  },
});

export const systemDf = defineCommand({
  name: "system df",
  summary: "Show disk use of images: each image's own and shared bytes, and the store's total",
  usage: "system df [OPTIONS]",
  examples: ["berth system df", "berth system df --format json"],
  args: { max: 0 },
  flags: { ...formatFlag },
  async run({ flags }, { api, out }) {
    const u = await api.imageUsage();
    if (flags.format === "json") {
      out.stdout(`${JSON.stringify(u)}\n`);
      return 0;
    }
    out.stdout("IMAGE                                              SIZE       SHARED\n");
    for (const i of u.images)
      out.stdout(`${i.ref.padEnd(50)} ${formatSize(i.size).padEnd(10)} ${formatSize(i.sharedSize)}\n`);
    out.stdout(
      `\nTotal: ${formatSize(u.totalBytes)} (unreferenced ${formatSize(u.unreferencedBytes)}, partial downloads ${formatSize(u.ingestBytes)})\n`,
    );
    return 0;
  },
});
