/**
 * cp (Docker): copy between a container and the local filesystem through GET/PUT /1.0/containers/{id}/archive
 * (tar). The local side uses the system tar: out of the container, files belong to the invoking user
 * (--no-same-owner); into it, berthd gives them to the container's root. berthd resolves container paths
 * inside the container's root and refuses any that climb out of it.
 */
import { spawn } from "node:child_process";
import { lstat, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError, EXIT_CLI } from "../framework/errors.js";

/** "NAME:PATH" → container and path; a local path (absolute, ./ or no colon before a slash) → undefined. */
function splitRef(arg: string): { container: string; path: string } | undefined {
  if (arg.startsWith("/") || arg.startsWith(".")) return undefined;
  const i = arg.indexOf(":");
  if (i <= 0 || arg.slice(0, i).includes("/")) return undefined;
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

function tar(args: string[], input?: AsyncIterable<Uint8Array>): { done: Promise<void>; stdout: Readable } {
  const child = spawn("tar", args, { stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (b: Buffer) => {
    err += b.toString();
  });
  const done = new Promise<void>((ok, fail) => {
    child.on("error", (e) => fail(new CliError(`cannot run tar: ${e.message}`, { hint: "install GNU tar" })));
    child.on("close", (code) =>
      code === 0 ? ok() : fail(new CliError(`tar ${args[0]} failed: ${err.trim() || `exit ${code}`}`)),
    );
  });
  if (input && child.stdin) {
    const sink = child.stdin;
    sink.on("error", () => {});
    void (async () => {
      try {
        for await (const chunk of input) if (!sink.write(chunk)) await new Promise((r) => sink.once("drain", r));
      } finally {
        sink.end();
      }
    })().catch(() => child.kill());
  }
  return { done, stdout: child.stdout! };
}

export const cp = defineCommand({
  name: "cp",
  summary: "Copy files/folders between a container and the local filesystem",
  usage: "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n        berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
  description:
    "Copies a file or a directory (recursively). A tar stream on stdin (SRC -) or stdout (DEST -) is taken as is.\n" +
    "Container paths are absolute; paths or symlinks that lead out of the container are refused.",
  examples: [
    "berth cp web:/etc/hostname .",
    "berth cp ./config.json web:/etc/app/",
    "berth cp web:/var/log ./logs",
    "berth cp web:/etc - | tar -t",
  ],
  errorExitCode: EXIT_CLI,
  args: { min: 2, max: 2, complete: "file" },
  flags: {
    archive: { type: "boolean", short: "a", description: "Archive mode (copy all uid/gid information)" },
    "follow-link": { type: "boolean", short: "L", description: "Always follow symbol link in SRC_PATH" },
    quiet: { type: "boolean", short: "q", description: "Suppress progress output" },
    ...formatLongFlag,
  },
  async run({ args, flags }, { api, out }) {
    const [a, b] = args as [string, string];
    if (out.format !== undefined && (a === "-" || b === "-"))
      throw new CliError("--format prints a record of the copy; it cannot share stdin or stdout with a tar stream", {
        hint: "leave out --format when copying from or to -",
      });
    const copied = async () => {
      if (out.format !== undefined) await out.records([{ source: a, destination: b }]);
      return 0;
    };
    const from = splitRef(a);
    const to = splitRef(b);
    if (from && to)
      throw new CliError("copying between containers is not supported", { hint: "copy through a local directory" });
    if (!from && !to)
      throw new CliError("must specify at least one container source", { hint: "e.g. berth cp web:/etc/hostname ." });
    if (from) {
      if (!from.path.startsWith("/"))
        throw new CliError(`'${from.path}' is not an absolute path in the container`, {
          hint: `e.g. ${from.container}:/etc/hostname`,
        });
      const body = await api.getArchive({ params: { id: from.container }, query: { path: from.path } });
      if (b === "-") {
        for await (const chunk of body)
          if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once("drain", r));
        return 0;
      }
      const dest = resolve(b);
      const owner = flags.archive ? ["--same-owner", "--numeric-owner"] : ["--no-same-owner"];
      const st = await stat(dest).catch(() => undefined);
      if (st?.isDirectory()) {
        await tar(["-x", "-f", "-", "-C", dest, ...owner], body).done;
        return copied();
      }
      const parent = dirname(dest);
      if (!(await stat(parent).catch(() => undefined))?.isDirectory())
        throw new CliError(`no such directory: ${parent}`, {
          hint: "create it first, or copy into an existing directory",
        });
      const tmp = await mkdtemp(join(parent, `.berth-cp-${basename(dest)}-`));
      try {
        await tar(["-x", "-f", "-", "-C", tmp, ...owner], body).done;
        const [top] = await readdir(tmp);
        if (!top) throw new CliError(`'${from.path}' in ${from.container} had nothing to copy`);
        if (st) await rm(dest, { recursive: true, force: true });
        await rename(join(tmp, top), dest);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return copied();
    }
    const target = to!;
    if (!target.path.startsWith("/"))
      throw new CliError(`'${target.path}' is not an absolute path in the container`, {
        hint: `e.g. ${target.container}:/tmp/`,
      });
    let body: AsyncIterable<Uint8Array>;
    let done: Promise<void> = Promise.resolve();
    if (a === "-") body = process.stdin;
    else {
      const src = resolve(a);
      const st = await (flags["follow-link"] ? stat(src) : lstat(src)).catch(() => undefined);
      if (!st) throw new CliError(`no such file or directory: ${a}`);
      const t = tar(["-c", "-f", "-", ...(flags["follow-link"] ? ["-h"] : []), "-C", dirname(src), basename(src)]);
      body = t.stdout;
      done = t.done;
    }
    await api.putArchive({ params: { id: target.container }, query: { path: target.path }, body });
    await done;
    if (!flags.quiet && out.format === undefined && a !== "-" && process.stderr.isTTY)
      out.stderr(`Successfully copied to ${b}\n`);
    return copied();
  },
});
