/**
 * The CLI's run loop: global flags, command lookup, flag parsing, the command's run, and the one place
 * that turns errors into `Error: <message>` + hint and an exit code.
 */
import { writeSync } from "node:fs";
import { ApiError, type Client, createClient, type Transport } from "@berth/api/client";
import type { AnyCommand, Context, Output } from "./framework/command.js";
import { renderHelp } from "./framework/command.js";
import { CliError, cannotRunExitCode, DaemonUnreachableError, EXIT_CLI } from "./framework/errors.js";
import { parseFlags } from "./framework/flags.js";
import { closest } from "./framework/suggest.js";
import { isatty } from "./handles.js";
import { version } from "./index.js";
import { entries, groupMembers, groups, resolve } from "./registry.js";
import { DEFAULT_HOST } from "./transport.js";

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /**
   * Writes bytes as they are (a container's output); a promise when the caller should wait before writing
   * more. Without it, bytes are decoded as UTF-8 and go to stdout/stderr (tests).
   */
  write?(stream: "stdout" | "stderr", data: Uint8Array): Promise<void> | undefined;
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Injected in tests; the default is createTransport (transport.ts) on BERTH_HOST. */
  transport?: (host: string, token: string | undefined) => Promise<Transport>;
}

/**
 * Writes with writeSync while the fd takes it, which spares building process.stdout (~2 ms at start-up);
 * a full pipe (EAGAIN) hands the rest, and everything after, to the stream so order is kept.
 */
function fdWriter(fd: 1 | 2): (data: string | Uint8Array) => Promise<void> | undefined {
  let stream: NodeJS.WriteStream | undefined;
  const wait = (ok: boolean) => (ok ? undefined : new Promise<void>((drained) => stream!.once("drain", drained)));
  return (data) => {
    if (stream) return wait(stream.write(data));
    const buf = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.length);
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(fd, buf, off);
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EPIPE") process.exit(0);
      if (code !== "EAGAIN") throw err;
      stream = fd === 1 ? process.stdout : process.stderr;
      stream.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "EPIPE") process.exit(0);
      });
      return wait(stream.write(buf.subarray(off)));
    }
  };
}

const processIo = (): Io => {
  const out = fdWriter(1);
  const err = fdWriter(2);
  return {
    stdout: out,
    stderr: err,
    write: (stream, data) => (stream === "stdout" ? out : err)(data),
    isTTY: isatty(1),
    env: process.env,
  };
};

const globalUsage = `Usage:  berth [OPTIONS] COMMAND

A container engine for application and system containers: Docker's verbs for apps, Incus's for system containers.

Options:
  -H, --host string   Daemon socket (unix:///run/berth/berth.sock) or tcp://HOST:PORT (env BERTH_HOST)
  -v, --version       Print version information and quit
  -h, --help          Print usage

Run 'berth help' for the list of commands, 'berth COMMAND --help' for more on a command.
`;

/** Runs one invocation; returns the exit code. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  let host = io.env.BERTH_HOST || DEFAULT_HOST;
  let i = 0;
  // global flags before the command
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-H" || a === "--host") {
      const v = argv[++i];
      if (!v) return fail(io, new CliError("flag needs an argument: --host"));
      host = v;
    } else if (a.startsWith("--host=")) host = a.slice(7);
    else if (a === "-v" || a === "--version") {
      io.stdout(`berth version ${version}\n`);
      return 0;
    } else if (a === "-h" || a === "--help") {
      io.stdout(globalUsage);
      return 0;
    } else if (a === "-D" || a === "--debug") {
      // accepted for docker compatibility
    } else if (a.startsWith("-")) {
      const guess = closest(a.replace(/^-+/, ""), ["host", "version", "help", "debug"]);
      return fail(
        io,
        new CliError(`unknown flag: ${a}`, { hint: guess ? `did you mean --${guess}?` : "See 'berth --help'." }),
      );
    } else break;
  }
  const words = argv.slice(i);
  if (words.length === 0) {
    io.stdout(globalUsage);
    return 0;
  }
  const found = resolve(words);
  if (!found) {
    const [w, sub] = words;
    if (groups.has(w!)) {
      const members = groupMembers(w!);
      const subs = members.map(([s]) => s);
      if (sub === "--help" || sub === "-h" || sub === "help") {
        // `berth image --help`: the group's commands with their summaries, as Docker's management commands.
        // one line per command: `image ls`, not its alias `image list` too
        const shown = members.filter(([, x], n) => members.findIndex(([, y]) => y === x) === n);
        const cmds = await Promise.all(shown.map(([, x]) => x.load()));
        const width = Math.max(...shown.map(([s]) => s.length)) + 3;
        io.stdout(
          `\nUsage:  berth ${w} COMMAND\n\nCommands:\n${cmds
            .map((c, n) => `  ${shown[n]![0].padEnd(width)}${c.summary}\n`)
            .join("")}\nRun 'berth ${w} COMMAND --help' for more information on a command.\n`,
        );
        return 0;
      }
      const guess = sub ? closest(sub, subs) : undefined;
      return fail(
        io,
        new CliError(sub ? `'${w} ${sub}' is not a berth command` : `'${w}' needs a sub-command: ${subs.join(", ")}`, {
          hint: guess ? `did you mean 'berth ${w} ${guess}'?` : `See 'berth ${w} --help'.`,
        }),
      );
    }
    const names = entries.flatMap((x) => [x.name.split(" ")[0]!, ...(x.aliases ?? [])]);
    const guess = closest(w!, names);
    return fail(
      io,
      new CliError(`'${w}' is not a berth command`, {
        hint: guess ? `did you mean 'berth ${guess}'? See 'berth help'.` : "See 'berth help'.",
      }),
    );
  }
  const cmd = await found.entry.load();
  return runCommand(cmd, words.slice(found.used), host, io);
}

export async function runCommand(cmd: AnyCommand, argv: readonly string[], host: string, io: Io): Promise<number> {
  let transport: Promise<Transport> | undefined;
  const openTransport = () => {
    transport ??= io.transport
      ? io.transport(host, io.env.BERTH_TOKEN)
      : import("./transport.js").then((m) => m.createTransport(host, io.env.BERTH_TOKEN, io.env));
    return transport;
  };
  const api = createClient({
    request: async (req) => (await openTransport()).request(req),
    upgrade: async (req) => {
      const t = await openTransport();
      if (!t.upgrade) throw new CliError(`cannot open a stream to berthd at ${host}: this transport has no upgrades`);
      return t.upgrade(req);
    },
  });
  const ctx = makeContext(api, io, host);
  try {
    const parsed = parseFlags(cmd.flags, argv, {
      interspersed: cmd.interspersed ?? true,
      commandPath: `berth ${cmd.name}`,
    });
    if (parsed.help) {
      io.stdout(renderHelp(cmd));
      return 0;
    }
    const format = (parsed.flags as { format?: unknown }).format;
    if ("format" in cmd.flags && typeof format === "string" && format !== "")
      (ctx.out as { format?: string }).format = format;
    const { min = 0, max = Number.POSITIVE_INFINITY } = cmd.args ?? {};
    if (parsed.args.length < min || parsed.args.length > max) {
      const what =
        min === max
          ? `exactly ${min} argument${min === 1 ? "" : "s"}`
          : parsed.args.length < min
            ? `at least ${min} argument${min === 1 ? "" : "s"}`
            : `at most ${max} argument${max === 1 ? "" : "s"}`;
      throw new CliError(`"berth ${cmd.name}" requires ${what}`, {
        hint: `See 'berth ${cmd.name} --help'.\n\nUsage:  berth ${cmd.usage}`,
      });
    }
    return (await cmd.run({ args: parsed.args, flags: parsed.flags, set: parsed.set }, ctx)) ?? 0;
  } catch (err) {
    if (err instanceof CliError) return fail(io, err);
    if (err instanceof ApiError && err.status === 501) {
      return fail(
        io,
        new CliError(`not implemented yet: ${err.message}`, { hint: "upgrade berthd, or see `berth version`" }),
      );
    }
    const { message, hint } = await ctx.explain(err, suggestionPool(cmd));
    io.stderr(`Error: ${message}\n${hint ? `${hint}\n` : ""}`);
    // As Docker: `run` (or `exec`) of a command the image lacks exits 127, of one that cannot execute 126.
    const detail = err instanceof ApiError ? (err.problem.detail ?? "") : "";
    const cannotRun = cmd.name === "run" || cmd.name === "exec" ? cannotRunExitCode(detail) : undefined;
    return cannotRun ?? cmd.errorExitCode ?? 1;
  } finally {
    if (transport) (await transport.catch(() => undefined))?.close?.();
  }
}

const suggestionPool = (cmd: AnyCommand) => (cmd.args?.complete === "image" ? "image" : "container");

function fail(io: Io, err: CliError): number {
  io.stderr(`Error: ${err.message}\n${err.hint ? `${err.hint}\n` : ""}`);
  return err.exitCode;
}

const quotedRef = /'([^']+)'/;

function makeContext(
  api: Client,
  io: Io,
  host: string,
): Context & {
  explain(err: unknown, pool?: "container" | "image", ref?: string): Promise<{ message: string; hint?: string }>;
} {
  let names: Promise<string[]> | undefined;
  let images: Promise<string[]> | undefined;
  const explain = async (err: unknown, pool: "container" | "image" = "container", ref?: string) => {
    if (err instanceof DaemonUnreachableError) return { message: err.message };
    if (err instanceof ApiError) {
      const p = err.problem;
      let message = p.detail || p.title;
      // Issues the detail already says are not repeated under it.
      const issues = p.issues
        ?.filter((x) => !message.includes(x.message))
        .map((x) => `  ${x.field}: ${x.message}`)
        .join("\n");
      let hint = issues || undefined;
      if (p.kind === "not-found" && !/did you mean/i.test(message)) {
        const wanted = ref ?? quotedRef.exec(message)?.[1];
        if (wanted) {
          const pick = /image/i.test(message) ? "image" : pool;
          if (pick === "image") {
            images ??= api.listImages().then(
              (xs) =>
                xs
                  .flatMap((x) => [x.ref, ...(x.tags ?? [])])
                  .filter((s): s is string => !!s)
                  .flatMap((r) => (r.endsWith(":latest") ? [r.slice(0, -7), r] : [r])),
              () => [],
            );
          } else {
            names ??= api.listContainers({ query: { all: true } }).then(
              (xs) => xs.map((c) => c.name),
              () => [],
            );
          }
          const list = pick === "image" ? images! : names!;
          const guess = closest(wanted, await list);
          if (guess && guess !== wanted) message += `; did you mean '${guess}'?`;
        }
      }
      if (p.kind === "unavailable" && !hint)
        hint = "berthd cannot do this right now: see its log (journalctl -u berthd)";
      return hint ? { message, hint } : { message };
    }
    if (err instanceof Error) return { message: err.message };
    return { message: String(err) };
  };
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  const out: Output = {
    stdout: io.stdout,
    stderr: io.stderr,
    write:
      io.write ??
      ((stream, data) => {
        (stream === "stdout" ? io.stdout : io.stderr)(decoders[stream].decode(data, { stream: true }));
        return undefined;
      }),
    isTTY: io.isTTY,
    async report(items, each, show, record) {
      let failed = 0;
      const records: Record<string, unknown>[] = [];
      for (const item of items) {
        try {
          const r = await each(item);
          if (out.format) records.push(record ? record(item, r) : { name: item });
          else io.stdout(`${show ? show(item, r) : item}\n`);
        } catch (err) {
          if (err instanceof DaemonUnreachableError || err instanceof CliError) throw err;
          failed++;
          const { message, hint } = await explain(err, "container", item);
          io.stderr(`Error: ${message}\n${hint ? `${hint}\n` : ""}`);
        }
      }
      if (out.format) await out.records(records);
      return failed ? 1 : 0;
    },
    async records(records) {
      const { formatRecords } = await import("./output/format.js");
      io.stdout(formatRecords(records, out.format ?? "json"));
    },
  };
  return { api, out, host, env: io.env, explain };
}

export { EXIT_CLI };
