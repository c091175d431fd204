/** exec: POST /1.0/containers/{id}/exec; without a tty the reply carries the output and the exit code. */
import { readFileSync } from "node:fs";
import type { ExecCreate } from "@berth/api";
import { defineCommand } from "../framework/command.js";
import { CliError, EXIT_CLI } from "../framework/errors.js";
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
      description: "Keep STDIN open even if not attached (not implemented yet)",
    },
    tty: { type: "boolean", short: "t", description: "Allocate a pseudo-TTY (not implemented yet)" },
    detach: {
      type: "boolean",
      short: "d",
      description: "Detached mode: run command in the background (not implemented yet)",
    },
    privileged: { type: "boolean", description: "Give extended privileges to the command (ignored)" },
    "detach-keys": { type: "string", placeholder: "string", description: "Override the key sequence for detaching" },
  },
  async run({ args, flags }, { api, out, env }) {
    const [id, ...rest] = args as [string, ...string[]];
    const cmd = rest[0] === "--" ? rest.slice(1) : rest;
    if (cmd.length === 0)
      throw new CliError(`"berth exec" requires a command to run in ${id}`, { hint: "e.g. berth exec web ls /" });
    if (flags.interactive || flags.tty || flags.detach) {
      throw new CliError("exec -i/-t/-d is not implemented yet: it needs the attach route", {
        hint: "leave out -i/-t to run the command and get its output and exit code",
      });
    }
    const envs = [
      ...flags["env-file"].flatMap((p) => parseEnvLines(readFileSync(p, "utf8").split(/\r?\n/), env)),
      ...parseEnvLines(flags.env, env),
    ];
    const body: ExecCreate = { cmd };
    if (envs.length) body.env = envs;
    if (flags.user !== undefined) body.user = flags.user;
    if (flags.workdir !== undefined) body.workingDir = flags.workdir;
    const r = await api.execContainer({ params: { id }, body });
    if (r.stdout) out.stdout(r.stdout);
    if (r.stderr) out.stderr(r.stderr);
    return r.exitCode;
  },
});
