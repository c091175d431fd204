/**
 * A Docker-compatible (pflag) flag parser driven by a declarative flag table.
 *
 * - long `--name value`, `--name=value`; booleans `--rm`, `--rm=false`
 * - short `-e X`, `-eX`, `-e=X`, combined booleans `-it`, `-dit`, and `-de X` (the last one takes a value)
 * - repeatable flags collect arrays (`-e A -e B`); others keep the last value, as pflag does
 * - `--` ends the flags; with `interspersed: false` (run, exec) the first positional ends them too,
 *   so the container's own arguments pass through untouched
 * - typed values: number, int, size ("256m" → bytes), duration ("1m30s" → ms), choices
 * - unknown flags fail with exit 125 and "did you mean --memory?"
 */
import { CliError } from "./errors.js";
import { closest } from "./suggest.js";
import { parseDuration, parseSize, UnitError } from "./units.js";

export type FlagType = "boolean" | "string" | "number" | "int" | "size" | "duration";

/** What shells complete for a flag's value or a command's arguments. */
export type CompleteKind = "container" | "image" | "file" | "directory" | "signal" | "command" | "none";

export interface FlagSpec {
  readonly type: FlagType;
  readonly short?: string;
  readonly description: string;
  /** Collect every occurrence into an array. */
  readonly repeatable?: boolean;
  /** Name of the value in help: `--memory bytes`. */
  readonly placeholder?: string;
  readonly choices?: readonly string[];
  /** size flags: accept "-1" (unlimited). */
  readonly allowMinusOne?: boolean;
  readonly hidden?: boolean;
  readonly complete?: CompleteKind;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type Scalar<S extends FlagSpec> = S["type"] extends "boolean" ? boolean : S["type"] extends "string" ? string : number;

/** The parsed values: booleans default to false, repeatables to [], the rest to undefined. */
export type FlagValues<F extends FlagSpecs> = {
  -readonly [K in keyof F]: F[K] extends { repeatable: true }
    ? Scalar<F[K]>[]
    : F[K]["type"] extends "boolean"
      ? boolean
      : Scalar<F[K]> | undefined;
};

export interface ParseOptions {
  /** false: flags stop at the first positional (run, exec). Default true. */
  readonly interspersed?: boolean;
  /** For messages: "berth run". */
  readonly commandPath?: string;
}

export interface ParseResult<F extends FlagSpecs> {
  flags: FlagValues<F>;
  args: string[];
  help: boolean;
  /** Flags given explicitly (long names), to tell "unset" from defaults. */
  set: Set<string>;
}

const helpTail = (path?: string) => (path ? `See '${path} --help'.` : "See 'berth --help'.");

function invalid(name: string, raw: string, why: string, hint?: string, path?: string): CliError {
  return new CliError(`invalid argument "${raw}" for "--${name}" flag: ${why}`, {
    hint: hint ?? helpTail(path),
  });
}

function convert(name: string, spec: FlagSpec, raw: string, path?: string): unknown {
  if (spec.choices && !spec.choices.includes(raw)) {
    throw invalid(name, raw, `must be one of ${spec.choices.join(", ")}`, undefined, path);
  }
  switch (spec.type) {
    case "boolean": {
      if (/^(true|1|t)$/i.test(raw)) return true;
      if (/^(false|0|f)$/i.test(raw)) return false;
      throw invalid(name, raw, "not a boolean (true or false)", undefined, path);
    }
    case "string":
      return raw;
    case "number":
    case "int": {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) throw invalid(name, raw, "not a number", undefined, path);
      if (spec.type === "int" && !Number.isInteger(n)) throw invalid(name, raw, "not an integer", undefined, path);
      return n;
    }
    case "size":
    case "duration":
      try {
        return spec.type === "size"
          ? parseSize(raw, { allowMinusOne: spec.allowMinusOne ?? false })
          : parseDuration(raw);
      } catch (err) {
        if (err instanceof UnitError) throw invalid(name, raw, err.message, err.hint, path);
        throw err;
      }
  }
}

export function parseFlags<F extends FlagSpecs>(
  specs: F,
  argv: readonly string[],
  options: ParseOptions = {},
): ParseResult<F> {
  const interspersed = options.interspersed ?? true;
  const path = options.commandPath;
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);
  const hasHelpShort = !byShort.has("h");

  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    values[name] = spec.repeatable ? [] : spec.type === "boolean" ? false : undefined;
  }
  const set = new Set<string>();
  const args: string[] = [];
  let help = false;

  const assign = (name: string, raw: string) => {
    const spec = specs[name]!;
    const value = convert(name, spec, raw, path);
    if (spec.repeatable) (values[name] as unknown[]).push(value);
    else values[name] = value;
    set.add(name);
  };
  const unknownLong = (name: string): CliError => {
    const guess = closest(name, [...Object.keys(specs).filter((n) => !specs[n]!.hidden), "help"]);
    return new CliError(`unknown flag: --${name}`, {
      hint: guess ? `did you mean --${guess}? ${helpTail(path)}` : helpTail(path),
    });
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      if (name === "help" && !specs.help) {
        help = true;
        continue;
      }
      const spec = specs[name];
      if (!spec) throw unknownLong(name);
      if (spec.type === "boolean") assign(name, inline ?? "true");
      else if (inline !== undefined) assign(name, inline);
      else {
        if (i + 1 >= argv.length) throw new CliError(`flag needs an argument: --${name}`, { hint: helpTail(path) });
        assign(name, argv[++i]!);
      }
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
      const asLong = arg.slice(1).split("=")[0]!;
      if (asLong.length >= 2 && specs[asLong] && !byShort.has(asLong[0]!)) {
        throw new CliError(`unknown shorthand flag: '${asLong[0]}' in ${arg}`, {
          hint: `did you mean --${asLong}? Long flags take two dashes. ${helpTail(path)}`,
        });
      }
      // a group of short flags: -it, -dit, -eFOO=1, -e=FOO, -de FOO
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j]!;
        const name = byShort.get(ch);
        if (!name) {
          if (ch === "h" && hasHelpShort) {
            help = true;
            continue;
          }
          const long = arg.length > 2 && j === 1 ? closest(arg.slice(1), Object.keys(specs)) : undefined;
          throw new CliError(`unknown shorthand flag: '${ch}' in ${arg}`, {
            hint: long ? `did you mean --${long}? ${helpTail(path)}` : helpTail(path),
          });
        }
        const spec = specs[name]!;
        const rest = arg.slice(j + 1);
        if (spec.type === "boolean") {
          if (rest.startsWith("=")) {
            assign(name, rest.slice(1));
            break;
          }
          assign(name, "true");
          continue;
        }
        if (rest) assign(name, rest.startsWith("=") ? rest.slice(1) : rest);
        else {
          if (i + 1 >= argv.length) {
            throw new CliError(`flag needs an argument: '${ch}' in -${ch}`, { hint: helpTail(path) });
          }
          assign(name, argv[++i]!);
        }
        break;
      }
      continue;
    }
    // a positional
    if (!interspersed) {
      args.push(...argv.slice(i));
      break;
    }
    args.push(arg);
  }
  return { flags: values as FlagValues<F>, args, help, set };
}
