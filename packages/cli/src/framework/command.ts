/**
 * A command is data plus one `run`: it declares its flags, calls the API (usually once), and prints
 * a report (podman's shape). The framework parses flags, renders --help and completions from the same table.
 *
 * ```ts
 * export const stop = defineCommand({
 *   name: "stop", summary: "Stop one or more running containers", usage: "stop [OPTIONS] CONTAINER [CONTAINER...]",
 *   flags: { time: { type: "int", short: "t", description: "Seconds to wait before killing it" } },
 *   args: { min: 1, complete: "container" },
 *   async run({ args, flags }, { api, out }) {
 *     return out.report(args, (id) => api.stopContainer({ params: { id }, query: { t: flags.time } }));
 *   },
 * });
 * ```
 */
import type { Client } from "@berth/api/client";
import type { CompleteKind, FlagSpecs, FlagValues } from "./flags.js";

export interface Output {
  /** Writes text as is (add "\n" yourself). */
  stdout(text: string): void;
  stderr(text: string): void;
  /** Writes bytes as they are (a container's output); a promise when the caller should wait to write more. */
  write(stream: "stdout" | "stderr", data: Uint8Array): Promise<void> | undefined;
  readonly isTTY: boolean;
  /**
   * Runs `each` for every item, printing the item (or what `each` returns) on success and
   * `Error: ...` on failure; returns 0 if all succeeded, 1 otherwise (podman's per-item report).
   */
  report<T>(
    items: readonly string[],
    each: (item: string) => Promise<T>,
    show?: (item: string, r: T) => string,
    record?: (item: string, r: T) => Record<string, unknown>,
  ): Promise<number>;
  /**
   * The command's --format, when it declares one and it was given. `report` honours it: the items that
   * succeeded are printed as records (`record`, or `{name}`) in that format, errors still go to stderr.
   */
  readonly format?: string | undefined;
  /** Prints records in the --format given (json, a template, table): for commands that print nothing else. */
  records(records: readonly Record<string, unknown>[]): Promise<void>;
}

export interface Context {
  /** The API client; connecting happens on the first call. */
  readonly api: Client;
  readonly out: Output;
  /** BERTH_HOST as given (or the default), for messages. */
  readonly host: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Turns an API error into a CLI message with a hint (e.g. "did you mean 'web'?"). */
  explain(err: unknown, pool?: "container" | "image", ref?: string): Promise<{ message: string; hint?: string }>;
}

export interface ArgsSpec {
  readonly min?: number;
  readonly max?: number;
  readonly complete?: CompleteKind;
}

export interface CommandDef<F extends FlagSpecs = FlagSpecs> {
  /** "run", or "image ls" for a sub-command. */
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly summary: string;
  /** After "berth ": "run [OPTIONS] IMAGE [COMMAND] [ARG...]". */
  readonly usage: string;
  readonly description?: string;
  readonly examples?: readonly string[];
  readonly flags: F;
  readonly args?: ArgsSpec;
  /** false: flags end at the first positional (run, exec). */
  readonly interspersed?: boolean;
  /** Exit code for failures of the daemon (docker: 125 for run/create/exec, 1 elsewhere). */
  readonly errorExitCode?: number;
  /** Hidden from `berth help` (still runs). */
  readonly hidden?: boolean;
  run(
    input: { args: string[]; flags: FlagValues<F>; set: ReadonlySet<string> },
    ctx: Context,
  ): Promise<number | undefined>;
}

export type AnyCommand = CommandDef<FlagSpecs>;

export function defineCommand<const F extends FlagSpecs>(def: CommandDef<F>): CommandDef<F> {
  return def;
}

/** `--format`, shared by every command that prints objects. */
export const formatFlag = {
  format: {
    type: "string",
    short: "f",
    placeholder: "string",
    description: "Format output: 'json', a Go template such as '{{.Name}} {{.State.Status}}', or 'table {{...}}'",
  },
} as const satisfies FlagSpecs;

/** --format without the -f shorthand (for commands where -f means force or follow). */
export const formatLongFlag = {
  format: { ...formatFlag.format, short: undefined },
} as const satisfies FlagSpecs;

const pad = (s: string, n: number) => s + " ".repeat(Math.max(1, n - s.length));

/** The --help text: usage, description, flags in a column, examples. */
export function renderHelp(cmd: AnyCommand): string {
  const lines = [`Usage:  berth ${cmd.usage}`, "", cmd.description ?? cmd.summary];
  if (cmd.aliases?.length) lines.push("", "Aliases:", `  ${[cmd.name, ...cmd.aliases].join(", ")}`);
  const flagRows = Object.entries(cmd.flags)
    .filter(([, s]) => !s.hidden)
    .map(([name, s]) => {
      const head = `${s.short ? `-${s.short}, ` : "    "}--${name}${s.type === "boolean" ? "" : ` ${s.placeholder ?? s.type}`}`;
      const extra = s.repeatable ? " (repeatable)" : "";
      const choices = s.choices ? ` (${s.choices.join("|")})` : "";
      return [head, s.description + choices + extra] as const;
    });
  flagRows.push(["    --help", "Print usage"]);
  const width = Math.min(40, Math.max(...flagRows.map(([h]) => h.length)) + 3);
  lines.push("", "Options:", ...flagRows.map(([h, d]) => `  ${pad(h, width)}${d}`));
  if (cmd.examples?.length) lines.push("", "Examples:", ...cmd.examples.map((e) => `  ${e}`));
  return `${lines.join("\n")}\n`;
}
