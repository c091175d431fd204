/**
 * exec: POST /1.0/containers/{id}/exec as an upgrade, the command's output streamed as it comes (stdout and
 * stderr apart without -t), its exit code at the end; -d and --format make plain POSTs.
 */
import { readFileSync } from "node:fs";
import type { ExecCreate } from "@berth/api";
import { ApiError } from "@berth/api/client";
import { type Context, defineCommand } from "../framework/command.js";
import { CliError, cannotRunExitCode, EXIT_CLI } from "../framework/errors.js";
import { parseEnvLines } from "./container-flags.js";

export const exec = defineCommand({
  name: "exec",
  summary: "Execute a command in a running container",
  usage: "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
  description:
    "Runs a command in a running container and exits with its exit code.\nIncus's form `berth exec NAME -- CMD` works too.",
  examples: [
    "berth exec web ls /",
    "berth exec -e DEBUG=1 -w /tmp -u 1000 web env",
    "berth exec c1 -- systemctl is-system-running",
    "berth exec -d web sh -c 'sleep 60 > /tmp/done'",
  ],
  interspersed: false,
  errorExitCode: EXIT_CLI,
  args: { min: 2, complete: "container" },
  flags: {
    env: {
      type: "string",
      short: "e",
      repeatable: true,
      placeholder: "list",
      description: "Set environment variables",
    },
    "env-file": {
      type: "string",
      repeatable: true,
      placeholder: "list",
      complete: "file",
      description: "Read in a file of environment variables",
    },
    user: {
      type: "string",
      short: "u",
      placeholder: "string",
      description: "Username or UID (format: <name|uid>[:<group|gid>])",
    },
    workdir: {
      type: "string",
      short: "w",
      placeholder: "string",
      description: "Working directory inside the container",
    },
    interactive: {
      type: "boolean",
      short: "i",
      description: "Keep STDIN open even if not attached",
    },
    tty: { type: "boolean", short: "t", description: "Allocate a pseudo-TTY" },
    detach: {
      type: "boolean",
      short: "d",
      description: "Detached mode: run command in the background",
    },
    privileged: {
      type: "boolean",
      description: "Give extended privileges to the command (every capability the host allows)",
    },
    "detach-keys": { type: "string", placeholder: "string", description: "Override the key sequence for detaching" },
    format: {
      type: "string",
      placeholder: "string",
      description:
        "Print the result once the command ends instead of its output as it comes: 'json' (exitCode, stdout, stderr, " +
        "at most 16 MiB each, stdoutTruncated/stderrTruncated past that; session with -d) or a template",
    },
  },
  async run({ args, flags }, ctx) {
    const { api, out, env } = ctx;
    const [id, ...rest] = args as [string, ...string[]];
    const cmd = rest[0] === "--" ? rest.slice(1) : rest;
    if (cmd.length === 0)
      throw new CliError(`"berth exec" requires a command to run in ${id}`, { hint: "e.g. berth exec web ls /" });
    const envs = [
      ...flags["env-file"].flatMap((p) => parseEnvLines(readFileSync(p, "utf8").split(/\r?\n/), env)),
      ...parseEnvLines(flags.env, env),
    ];
    const body: ExecCreate = { cmd };
    if (envs.length) body.env = envs;
    if (flags.user !== undefined) body.user = flags.user;
    if (flags.workdir !== undefined) body.workingDir = flags.workdir;
    if (flags.privileged) body.privileged = true;
    if (flags.format !== undefined && !flags.detach && (flags.interactive || flags.tty))
      throw new CliError("--format prints the result of a command run to completion; leave out -i and -t", {
        hint: "e.g. berth exec --format json web ls /",
      });
    if (flags.detach) {
      // As Docker: nothing printed, exit 0 once the command has started; its output goes nowhere.
      const started = await api.execContainer({
        params: { id },
        body: {
          ...body,
          detach: true,
          ...(flags.tty ? { tty: true } : {}),
          ...(flags.interactive ? { attachStdin: true } : {}),
        },
      });
      if (flags.format !== undefined) await out.records([started as unknown as Record<string, unknown>]);
      return 0;
    }
    if (flags.format !== undefined) {
      // The result as a record needs the whole output: berthd collects it (a plain POST, 16 MiB per stream at most).
      const r = await api.execContainer({ params: { id }, body });
      if (!("exitCode" in r)) throw new CliError("berthd started the command detached without being asked to");
      await out.records([r as unknown as Record<string, unknown>]);
      return r.exitCode;
    }
    try {
      return await execAttached(ctx, id, body, flags.interactive === true, flags);
    } catch (err) {
      // A command the container lacks (127) or cannot execute (126): runc's reason, as a command's own stderr.
      const cannotRun = err instanceof ApiError ? cannotRunExitCode(err.problem.detail ?? "") : undefined;
      if (cannotRun === undefined) throw err;
      out.stderr(`${(err as ApiError).message.replace(/^.*?cannot be run: /, "")}\n`);
      return cannotRun;
    }
  },
});

/**
 * exec, exec -i, exec -t: POST /exec as an upgrade starts a session (its id in X-Berth-Exec-Session), attached
 * before the command runs; the stream is its stdio (stdin only with -i: otherwise the command reads
 * /dev/null), resizes go to .../exec/SESSION/resize, and GET .../exec/SESSION gives the exit code at the end.
 */
async function execAttached(
  ctx: Context,
  id: string,
  body: ExecCreate,
  stdin: boolean,
  flags: { tty: boolean; "detach-keys"?: string | undefined },
): Promise<number> {
  const { pump, parseDetachKeys, DEFAULT_DETACH_KEYS } = await import("../tty.js");
  if (flags.tty && stdin && !process.stdin.isTTY)
    throw new CliError("the input device is not a TTY", {
      hint: "leave out -t when stdin is piped (berth exec -i ...)",
    });
  const up = await ctx.api.upgrade("execContainer", {
    params: { id },
    body: {
      ...body,
      ...(flags.tty ? { tty: true } : {}),
      // The terminal's size from the start, as Docker sends ConsoleSize: the first output is laid out for it.
      ...(flags.tty && process.stdout.isTTY && process.stdout.rows > 0 && process.stdout.columns > 0
        ? { consoleSize: { height: process.stdout.rows, width: process.stdout.columns } }
        : {}),
      ...(stdin ? { attachStdin: true } : {}),
    },
  });
  const session = String(up.headers["x-berth-exec-session"] ?? "");
  if (!session) {
    up.destroy();
    throw new CliError("berthd did not name the exec session (X-Berth-Exec-Session)");
  }
  const how = await pump(ctx, up, {
    stdin,
    closeOnEof: true,
    ...(flags.tty
      ? {
          detachKeys: parseDetachKeys(flags["detach-keys"] ?? DEFAULT_DETACH_KEYS),
          resize: (h, w) => ctx.api.resizeExec({ params: { id, session }, query: { h, w } }),
        }
      : {}),
  });
  if (how === "detached") return 0;
  return (await ctx.api.execSession({ params: { id, session } })).exitCode;
}
