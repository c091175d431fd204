/**
 * Parses a Containerfile (Dockerfile) into stages of instructions, following Docker's Dockerfile
 * reference: parser directives, comments, continuations, exec and shell forms, heredocs, and variable
 * substitution with ARG/ENV scoping per stage. Pure: no I/O; a base image's ENV comes in through options.
 *
 * ```ts
 * const file = parseContainerfile(text, { buildArgs: { VERSION: "1.2" } });
 * file.stages.at(-1)!.instructions; // [{ kind: "copy", sources: [...], dest: "/app/", line: 4, ... }, ...]
 * ```
 */
import { signalNumber } from "../../model/signals.js";
import { parseGoDuration } from "./duration.js";
import { ContainerfileError, type ContainerfileWarning } from "./errors.js";
import type {
  ArgDeclaration,
  ArgInstruction,
  Command,
  Containerfile,
  CopySource,
  FromInstruction,
  HealthConfig,
  Heredoc,
  Instruction,
  KeyValue,
  PortSpec,
  Stage,
  StageBase,
} from "./instructions.js";
import { heredocMarker, LexError, type LogicalLine, lexContainerfile, splitRawWords } from "./lexer.js";
import { imageRefProblem } from "./reference.js";
import { type Lookup, processWord, processWords, WordError, type WordOptions } from "./words.js";

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface ParseOptions {
  /** `--build-arg K=V` values; they override ARG defaults and are consumed only by declared ARGs. */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** Used in error messages; default "Containerfile". */
  readonly fileName?: string;
  /**
   * The `Env` ("K=V" strings) of base images, keyed by the reference as it reads in FROM after
   * substitution. Variables such as `$GOPATH` then resolve as in Docker; see Stage.unresolvedVars.
   */
  readonly baseEnv?: Readonly<Record<string, readonly string[]>>;
  /** Sets the automatic TARGETPLATFORM, TARGETOS, TARGETARCH and TARGETVARIANT args. */
  readonly targetPlatform?: Platform;
  /** Sets the automatic BUILDPLATFORM, BUILDOS, BUILDARCH and BUILDVARIANT args. */
  readonly buildPlatform?: Platform;
}

export const INSTRUCTIONS = [
  "FROM",
  "RUN",
  "CMD",
  "LABEL",
  "MAINTAINER",
  "EXPOSE",
  "ENV",
  "ADD",
  "COPY",
  "ENTRYPOINT",
  "VOLUME",
  "USER",
  "WORKDIR",
  "ARG",
  "ONBUILD",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
] as const;

/** Build args Docker predefines: usable by RUN without an ARG, and kept out of cache keys and history. */
const PROXY_ARGS = ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"].flatMap((n) => [
  n,
  n.toLowerCase(),
]);

export function parseContainerfile(text: string, opts: ParseOptions = {}): Containerfile {
  const fileName = opts.fileName ?? "Containerfile";
  let lexed: ReturnType<typeof lexContainerfile>;
  try {
    lexed = lexContainerfile(text);
  } catch (err) {
    if (err instanceof LexError) throw new ContainerfileError(err.line, err.message, fileName);
    throw err;
  }
  return new Parser(lexed, opts, fileName).parse();
}

interface Scope {
  readonly index: number;
  readonly name?: string;
  readonly from: FromInstruction;
  readonly base: StageBase;
  readonly env: Map<string, string>;
  readonly args: Map<string, string | undefined>;
  readonly instructions: Instruction[];
  readonly unresolved: Set<string>;
  cmdSet: boolean;
}

type FlagKind = "string" | "bool" | "list";
type FlagSpec = Readonly<Record<string, FlagKind>>;
type Flags = Map<string, string | boolean | string[]>;

const FLAGS: Readonly<Record<string, FlagSpec>> = {
  FROM: { platform: "string" },
  RUN: { mount: "list", network: "string", security: "string" },
  COPY: { from: "string", chown: "string", chmod: "string", link: "bool", parents: "bool", exclude: "list" },
  ADD: { chown: "string", chmod: "string", link: "bool", exclude: "list", checksum: "string", "keep-git-dir": "bool" },
  HEALTHCHECK: {
    interval: "string",
    timeout: "string",
    "start-period": "string",
    "start-interval": "string",
    retries: "string",
  },
};

class Parser {
  private readonly warnings: ContainerfileWarning[] = [];
  private readonly globalArgs = new Map<string, string | undefined>();
  private readonly globalArgInstructions: ArgInstruction[] = [];
  private readonly stages: Scope[] = [];
  private readonly consumed = new Set<string>();
  private readonly automatic = new Map<string, string>();
  /** Stage names from every FROM line, so that a reference to a later stage gets a precise error. */
  private readonly stageLines = new Map<string, { index: number; line: number }>();
  private readonly words: WordOptions;
  private scope: Scope | undefined;
  private line = 0;

  constructor(
    private readonly lexed: ReturnType<typeof lexContainerfile>,
    private readonly opts: ParseOptions,
    private readonly fileName: string,
  ) {
    this.words = { escape: lexed.directives.escape };
    for (const w of lexed.warnings) this.warnings.push(w);
    for (const [prefix, p] of [
      ["TARGET", opts.targetPlatform],
      ["BUILD", opts.buildPlatform],
    ] as const) {
      if (!p) continue;
      this.automatic.set(`${prefix}PLATFORM`, [p.os, p.architecture, p.variant].filter(Boolean).join("/"));
      this.automatic.set(`${prefix}OS`, p.os);
      this.automatic.set(`${prefix}ARCH`, p.architecture);
      this.automatic.set(`${prefix}VARIANT`, p.variant ?? "");
    }
    let index = 0;
    for (const l of lexed.lines) {
      if (keywordOf(l.text) !== "FROM") continue;
      const m = /\s[Aa][Ss]\s+(\S+)\s*$/.exec(l.text);
      if (m && !this.stageLines.has(m[1]!.toLowerCase()))
        this.stageLines.set(m[1]!.toLowerCase(), { index, line: l.line });
      index++;
    }
  }

  parse(): Containerfile {
    for (const l of this.lexed.lines) {
      this.line = l.line;
      try {
        this.dispatch(l);
      } catch (err) {
        if (err instanceof WordError) this.fail(`${keywordOf(l.text)}: ${err.message}`, err);
        throw err;
      }
    }
    if (this.stages.length === 0) {
      this.line = Math.max(1, this.lexed.lines.at(-1)?.line ?? 1);
      this.fail("no FROM instruction; a Containerfile must start with FROM image (only ARG may come before it)");
    }
    const buildArgs = Object.keys(this.opts.buildArgs ?? {});
    for (const name of buildArgs.filter((n) => !this.consumed.has(n)))
      this.warnings.push({ line: 0, message: `build arg ${name} was not consumed by any ARG instruction` });
    return {
      directives: this.lexed.directives,
      globalArgs: this.globalArgInstructions,
      stages: this.stages.map(
        (s): Stage => ({
          index: s.index,
          ...(s.name !== undefined ? { name: s.name } : {}),
          from: s.from,
          base: s.base,
          instructions: s.instructions,
          unresolvedVars: [...s.unresolved].sort(),
        }),
      ),
      warnings: this.warnings,
    };
  }

  private fail(problem: string, cause?: unknown): never {
    throw new ContainerfileError(this.line, problem, this.fileName, cause ? { cause } : undefined);
  }

  private warn(message: string): void {
    this.warnings.push({ line: this.line, message });
  }

  private dispatch(l: LogicalLine): void {
    const keyword = keywordOf(l.text);
    const rest = l.text.slice(keyword.length).trim();
    const upper = keyword.toUpperCase();
    if (!(INSTRUCTIONS as readonly string[]).includes(upper)) this.fail(unknownInstruction(keyword));
    if (upper === "FROM") {
      this.from(l, rest);
      return;
    }
    if (upper === "ARG" && !this.scope) {
      this.globalArg(l.text, rest);
      return;
    }
    const scope = this.scope;
    if (!scope)
      this.fail(`${upper} before FROM; a Containerfile must start with FROM image (only ARG may come before it)`);
    const instruction = this.instruction(upper, l, rest, scope);
    scope.instructions.push(instruction);
  }

  // ---- variables ----------------------------------------------------------------------------------

  private globalLookup: Lookup = (name) =>
    this.globalArgs.has(name) ? this.globalArgs.get(name) : this.automatic.get(name);

  private stageLookup(scope: Scope): Lookup {
    return (name) => {
      if (scope.env.has(name)) return scope.env.get(name);
      const v = scope.args.get(name);
      if (v !== undefined) return v;
      scope.unresolved.add(name);
      return undefined;
    };
  }

  private word(text: string, lookup: Lookup): string {
    return processWord(text, lookup, this.words);
  }

  private buildArg(name: string): string | undefined {
    const args = this.opts.buildArgs ?? {};
    return Object.hasOwn(args, name) ? args[name] : undefined;
  }

  /** One `NAME` or `NAME=default` word of an ARG line; records the ARG as consuming its build arg. */
  private argDeclaration(w: string, lookup: Lookup, inherit: (name: string) => string | undefined): ArgDeclaration {
    const eq = w.indexOf("=");
    const name = this.word(eq < 0 ? w : w.slice(0, eq), lookup);
    if (name === "" || /[\s$]/.test(name))
      this.fail(`ARG has an invalid name in "${w}"; write ARG NAME or ARG NAME=value`);
    const def = eq < 0 ? undefined : this.word(w.slice(eq + 1), lookup);
    this.consumed.add(name);
    const value = this.buildArg(name) ?? def ?? inherit(name);
    return { name, ...(def !== undefined ? { default: def } : {}), ...(value !== undefined ? { value } : {}) };
  }

  /** The declarations of an ARG line, applied one at a time: `ARG A=1 B=$A` sees A. */
  private argDeclarations(
    rest: string,
    lookup: Lookup,
    inherit: (name: string) => string | undefined,
    set: (d: ArgDeclaration) => void,
  ): ArgDeclaration[] {
    const raw = splitRawWords(rest, this.words.escape);
    if (raw.length === 0) this.fail("ARG needs a name, e.g. ARG VERSION or ARG VERSION=1.0");
    return raw.map((w) => {
      const decl = this.argDeclaration(w, lookup, inherit);
      set(decl);
      return decl;
    });
  }

  private globalArg(source: string, rest: string): void {
    const args = this.argDeclarations(
      rest,
      this.globalLookup,
      (n) => this.automatic.get(n),
      (d) => this.globalArgs.set(d.name, d.value),
    );
    this.globalArgInstructions.push({ kind: "arg", line: this.line, source, args });
  }

  // ---- FROM ---------------------------------------------------------------------------------------

  private from(l: LogicalLine, rest: string): void {
    const { flags, rest: args } = this.flags("FROM", rest, this.globalLookup);
    const words = splitRawWords(args, this.words.escape);
    if (words.length !== 1 && !(words.length === 3 && words[1]!.toUpperCase() === "AS"))
      this.fail(`FROM takes an image and an optional stage name: FROM [--platform=...] image [AS name]`);
    const image = this.word(words[0]!, this.globalLookup);
    if (image === "") {
      const vars = [...words[0]!.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
      this.fail(
        `FROM ${words[0]} is empty after substitution${vars.length ? `; ${vars.join(", ")} has no value` : ""} (declare ARG NAME=default before the first FROM, or pass --build-arg)`,
      );
    }
    const index = this.stages.length;
    let name: string | undefined;
    if (words.length === 3) {
      name = words[2]!.toLowerCase();
      if (!/^[a-z][a-z0-9._-]*$/.test(name))
        this.fail(`stage name "${words[2]}" is invalid; start with a letter, then letters, digits, ".", "_" or "-"`);
      if (name === "scratch") this.fail(`"scratch" is reserved and cannot name a stage; choose another name`);
      const dup = this.stages.find((s) => s.name === name);
      if (dup)
        this.fail(`stage name "${name}" is already used by the stage at line ${dup.from.line}; names must be unique`);
    }
    let base: StageBase;
    const lower = image.toLowerCase();
    const earlier = this.stages.find((s) => s.name === lower);
    if (lower === "scratch") base = { kind: "scratch" };
    else if (earlier) base = { kind: "stage", index: earlier.index };
    else {
      const later = this.stageLines.get(lower);
      if (later && later.index >= index)
        this.fail(
          `FROM ${image} names the stage defined at line ${later.line}, which is not before this one; move that stage above`,
        );
      const problem = imageRefProblem(image);
      if (problem) this.fail(`FROM ${image}: invalid image reference: ${problem}`);
      base = { kind: "image", ref: image };
    }
    const platform = flags.get("platform") as string | undefined;
    const from: FromInstruction = {
      kind: "from",
      line: l.line,
      source: l.text,
      image,
      ...(platform ? { platform } : {}),
      ...(name ? { name } : {}),
    };
    const env = new Map<string, string>();
    if (base.kind === "stage") for (const [k, v] of this.stages[base.index]!.env) env.set(k, v);
    if (base.kind === "image")
      for (const kv of this.opts.baseEnv?.[image] ?? []) {
        const eq = kv.indexOf("=");
        if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
      }
    const scope: Scope = {
      index,
      ...(name ? { name } : {}),
      from,
      base,
      env,
      args: new Map(),
      instructions: [],
      unresolved: new Set(),
      cmdSet: false,
    };
    this.stages.push(scope);
    this.scope = scope;
  }

  // ---- instructions in a stage --------------------------------------------------------------------

  private instruction(keyword: string, l: LogicalLine, rest: string, scope: Scope): Instruction {
    const lookup = this.stageLookup(scope);
    const base = { line: l.line, source: l.text };
    switch (keyword) {
      case "RUN":
        return this.run(base, rest, scope, lookup, l.heredocs);
      case "COPY":
      case "ADD":
        return this.copy(keyword, base, rest, scope, lookup, l.heredocs);
      case "CMD": {
        scope.cmdSet = true;
        return { kind: "cmd", ...base, command: this.command("CMD", rest, true) };
      }
      case "ENTRYPOINT":
        return {
          kind: "entrypoint",
          ...base,
          command: this.command("ENTRYPOINT", rest, true),
          resetsCmd: !scope.cmdSet,
        };
      case "SHELL": {
        const shell = this.json("SHELL", rest);
        if (!shell || shell.length === 0)
          this.fail(`SHELL needs a non-empty JSON array, e.g. SHELL ["/bin/bash", "-o", "pipefail", "-c"]`);
        return { kind: "shell", ...base, shell };
      }
      case "ENV": {
        const env = this.keyValues("ENV", rest, lookup);
        for (const { key, value } of env) scope.env.set(key, value);
        return { kind: "env", ...base, env };
      }
      case "LABEL":
        return { kind: "label", ...base, labels: this.keyValues("LABEL", rest, lookup) };
      case "ARG": {
        const args = this.argDeclarations(
          rest,
          lookup,
          (n) => this.globalArgs.get(n) ?? this.automatic.get(n),
          (d) => scope.args.set(d.name, d.value),
        );
        return { kind: "arg", ...base, args };
      }
      case "WORKDIR": {
        const path = this.word(rest, lookup);
        if (path === "") this.fail("WORKDIR needs a path, e.g. WORKDIR /app");
        return { kind: "workdir", ...base, path };
      }
      case "USER": {
        const words = processWords(rest, lookup, this.words);
        if (words.length !== 1 || words[0] === "")
          this.fail("USER takes exactly one argument: USER name[:group] or USER uid[:gid]");
        return { kind: "user", ...base, user: words[0]! };
      }
      case "EXPOSE": {
        const words = processWords(rest, lookup, this.words).filter((w) => w !== "");
        if (words.length === 0) this.fail("EXPOSE needs at least one port, e.g. EXPOSE 80 or EXPOSE 53/udp");
        return { kind: "expose", ...base, ports: words.map((w) => this.port(w)) };
      }
      case "VOLUME": {
        const json = this.json("VOLUME", rest);
        const paths = json ? json.map((p) => this.word(p, lookup)) : processWords(rest, lookup, this.words);
        if (paths.length === 0) this.fail('VOLUME needs at least one path, e.g. VOLUME /data or VOLUME ["/data"]');
        if (paths.some((p) => p.trim() === "")) this.fail("VOLUME paths cannot be empty");
        return { kind: "volume", ...base, paths };
      }
      case "STOPSIGNAL": {
        const words = processWords(rest, lookup, this.words);
        if (words.length !== 1) this.fail("STOPSIGNAL takes exactly one signal, e.g. STOPSIGNAL SIGTERM");
        if (signalNumber(words[0]!) === undefined)
          this.fail(
            `STOPSIGNAL: unknown signal "${words[0]}"; use a name such as SIGTERM or SIGRTMIN+3, or a number 1-64`,
          );
        return { kind: "stopsignal", ...base, signal: words[0]! };
      }
      case "HEALTHCHECK":
        return { kind: "healthcheck", ...base, health: this.healthcheck(rest, lookup) };
      case "ONBUILD": {
        const trigger = keywordOf(rest).toUpperCase();
        if (trigger === "") this.fail("ONBUILD needs an instruction, e.g. ONBUILD COPY . /app");
        if (!(INSTRUCTIONS as readonly string[]).includes(trigger))
          this.fail(`ONBUILD: ${unknownInstruction(keywordOf(rest))}`);
        if (trigger === "ONBUILD" || trigger === "FROM" || trigger === "MAINTAINER")
          this.fail(`ONBUILD ${trigger} is not allowed`);
        return { kind: "onbuild", ...base, trigger: rest };
      }
      case "MAINTAINER":
        if (rest === "") this.fail("MAINTAINER needs a name");
        this.warn("MAINTAINER is deprecated; use LABEL org.opencontainers.image.authors=... instead");
        return { kind: "maintainer", ...base, maintainer: rest };
      default:
        return this.fail(unknownInstruction(keyword));
    }
  }

  private run(
    base: { line: number; source: string },
    rest: string,
    scope: Scope,
    lookup: Lookup,
    heredocs: readonly Heredoc[],
  ): Instruction {
    const { flags, rest: args } = this.flags("RUN", rest, lookup);
    if (flags.has("mount"))
      this.fail(
        "RUN --mount is not supported yet; COPY the files you need into the stage instead (or COPY --from another stage)",
      );
    const network = flags.get("network") as string | undefined;
    if (network !== undefined && network !== "default" && network !== "none" && network !== "host")
      this.fail(`RUN --network=${network} is invalid; use default, none or host`);
    const security = flags.get("security") as string | undefined;
    if (security !== undefined && security !== "sandbox" && security !== "insecure")
      this.fail(`RUN --security=${security} is invalid; use sandbox or insecure`);
    const command = this.command("RUN", args, false);
    const runArgs: KeyValue[] = [];
    for (const [key, value] of scope.args)
      if (value !== undefined && !scope.env.has(key) && !PROXY_ARGS.includes(key)) runArgs.push({ key, value });
    const proxyEnv: KeyValue[] = [];
    for (const key of PROXY_ARGS) {
      const value = scope.args.get(key) ?? this.buildArg(key);
      if (value === undefined) continue;
      this.consumed.add(key);
      proxyEnv.push({ key, value });
    }
    return {
      kind: "run",
      ...base,
      command,
      heredocs: command.form === "shell" ? heredocs : [],
      ...(network ? { network: network as "default" | "none" | "host" } : {}),
      ...(security ? { security: security as "sandbox" | "insecure" } : {}),
      args: runArgs,
      proxyEnv,
    };
  }

  private copy(
    keyword: "COPY" | "ADD",
    base: { line: number; source: string },
    rest: string,
    scope: Scope,
    lookup: Lookup,
    heredocs: readonly Heredoc[],
  ): Instruction {
    const { flags, rest: args } = this.flags(keyword, rest, lookup);
    const json = this.json(keyword, args);
    const usage = `${keyword} needs at least one source and a destination: ${keyword} src... dest (or ${keyword} ["src", "dest"])`;
    let sources: CopySource[];
    let dest: string;
    if (json) {
      if (json.length < 2) this.fail(usage);
      const words = json.map((w) => this.word(w, lookup));
      dest = words.pop()!;
      sources = words.map((path) => ({ kind: "path", path }));
    } else {
      const raw = splitRawWords(args, this.words.escape);
      if (raw.length < 2) this.fail(usage);
      let next = 0;
      sources = [];
      const destRaw = raw.pop()!;
      if (heredocMarker(destRaw)) this.fail(`the destination of ${keyword} cannot be a heredoc; put it last`);
      for (const w of raw) {
        if (heredocMarker(w)) {
          const doc = heredocs[next++]!;
          const content = doc.expand
            ? processWord(doc.content, lookup, { ...this.words, variablesOnly: true })
            : doc.content;
          sources.push({ kind: "heredoc", heredoc: { ...doc, content } });
        } else sources.push({ kind: "path", path: this.word(w, lookup) });
      }
      dest = this.word(destRaw, lookup);
    }
    if (dest === "") this.fail(`${keyword} destination is empty`);
    if (sources.length > 1 && !dest.endsWith("/"))
      this.fail(
        `${keyword} with more than one source needs a directory destination ending in "/"; write ${dest}/ instead of ${dest}`,
      );
    const chmod = flags.get("chmod") as string | undefined;
    if (chmod !== undefined && !/^[0-7]{3,4}$/.test(chmod))
      this.fail(`${keyword} --chmod=${chmod} is invalid; use an octal mode such as 755 or 0644`);
    const chown = flags.get("chown") as string | undefined;
    if (chown === "") this.fail(`${keyword} --chown needs a user, e.g. --chown=app:app or --chown=1000:1000`);
    const from = flags.get("from") as string | undefined;
    let fromStage: number | undefined;
    let fromImage: string | undefined;
    if (from !== undefined) {
      if (from === "") this.fail("COPY --from needs a stage name, a stage index or an image");
      const lower = from.toLowerCase();
      const byName = this.stages.find((s) => s.name === lower && s.index < scope.index);
      if (/^\d+$/.test(from)) {
        fromStage = Number(from);
        if (fromStage >= scope.index)
          this.fail(
            `COPY --from=${from} refers to stage ${from}, but only stages 0 to ${scope.index - 1} come before this one (stages count from 0)`,
          );
      } else if (byName) fromStage = byName.index;
      else {
        const later = this.stageLines.get(lower);
        if (later)
          this.fail(
            `COPY --from=${from} names the stage defined at line ${later.line}, which is not before this one; move that stage above this one`,
          );
        const problem = imageRefProblem(from);
        if (problem)
          this.fail(`COPY --from=${from} is neither an earlier stage nor a valid image reference: ${problem}`);
        fromImage = from;
        const near = this.stages.map((s) => s.name).find((n) => n !== undefined && editDistance(n, lower) <= 2);
        if (near) this.warn(`COPY --from=${from} is not a stage, so it is pulled as an image; did you mean ${near}?`);
      }
    }
    const checksum = flags.get("checksum") as string | undefined;
    const keepGitDir = flags.get("keep-git-dir") as boolean | undefined;
    return {
      kind: keyword === "COPY" ? "copy" : "add",
      ...base,
      sources,
      dest,
      ...(fromImage !== undefined ? { fromImage } : {}),
      ...(fromStage !== undefined ? { fromStage } : {}),
      ...(chown !== undefined ? { chown } : {}),
      ...(chmod !== undefined ? { chmod } : {}),
      link: (flags.get("link") as boolean | undefined) ?? false,
      parents: (flags.get("parents") as boolean | undefined) ?? false,
      exclude: (flags.get("exclude") as string[] | undefined) ?? [],
      ...(checksum !== undefined ? { checksum } : {}),
      ...(keepGitDir !== undefined ? { keepGitDir } : {}),
    };
  }

  private healthcheck(rest: string, lookup: Lookup): HealthConfig {
    const { flags, rest: args } = this.flags("HEALTHCHECK", rest, lookup);
    const kind = keywordOf(args).toUpperCase();
    if (kind === "NONE") {
      if (args.trim().toUpperCase() !== "NONE") this.fail("HEALTHCHECK NONE takes no arguments");
      if (flags.size > 0)
        this.fail("HEALTHCHECK NONE takes no options; remove them or use HEALTHCHECK [options] CMD ...");
      return { Test: ["NONE"] };
    }
    if (kind !== "CMD") this.fail("HEALTHCHECK needs CMD or NONE: HEALTHCHECK [--interval=30s ...] CMD command");
    const command = this.command("HEALTHCHECK CMD", args.slice(3).trim(), false);
    const health: { -readonly [K in keyof HealthConfig]: HealthConfig[K] } = {
      Test: command.form === "exec" ? ["CMD", ...command.argv] : ["CMD-SHELL", command.command],
    };
    const durations = [
      ["interval", "Interval"],
      ["timeout", "Timeout"],
      ["start-period", "StartPeriod"],
      ["start-interval", "StartInterval"],
    ] as const;
    for (const [flag, field] of durations) {
      const text = flags.get(flag) as string | undefined;
      if (text === undefined) continue;
      const ns = parseGoDuration(text);
      if (ns === undefined)
        this.fail(
          `HEALTHCHECK --${flag}=${text} is not a duration; use a number with a unit, such as 30s, 1m30s or 500ms`,
        );
      if (ns < 0 || (ns > 0 && ns < 1e6))
        this.fail(`HEALTHCHECK --${flag}=${text} is too short; it must be at least 1ms`);
      if (ns > Number.MAX_SAFE_INTEGER) this.fail(`HEALTHCHECK --${flag}=${text} is too long`);
      if (ns > 0) health[field] = ns;
    }
    const retries = flags.get("retries") as string | undefined;
    if (retries !== undefined) {
      if (!/^-?\d+$/.test(retries)) this.fail(`HEALTHCHECK --retries=${retries} is not a whole number`);
      if (Number(retries) < 0) this.fail(`HEALTHCHECK --retries=${retries} cannot be negative`);
      if (Number(retries) > 0) health.Retries = Number(retries);
    }
    return health;
  }

  private port(word: string): PortSpec {
    if (word.includes(":"))
      this.fail(
        `EXPOSE ${word}: EXPOSE takes container ports only; publish host ports at run time (berth run -p 8080:80)`,
      );
    const m = /^(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(word);
    const bad = `EXPOSE ${word} is not a valid port; use PORT, PORT/tcp, PORT/udp or a range such as 8000-8010/tcp (ports 1-65535)`;
    if (!m) this.fail(bad);
    const port = Number(m[1]);
    const endPort = m[2] !== undefined ? Number(m[2]) : undefined;
    const protocol = (m[3] ?? "tcp").toLowerCase();
    if (port < 1 || port > 65535 || (endPort !== undefined && (endPort < port || endPort > 65535))) this.fail(bad);
    if (protocol !== "tcp" && protocol !== "udp" && protocol !== "sctp")
      this.fail(`EXPOSE ${word}: unknown protocol "${m[3]}"; use tcp, udp or sctp`);
    return { port, ...(endPort !== undefined && endPort !== port ? { endPort } : {}), protocol };
  }

  // ---- shared argument forms ----------------------------------------------------------------------

  /** ENV and LABEL: `K=V K2="v 2"`, or the legacy single pair `K some value`. Values see the env before the line. */
  private keyValues(keyword: "ENV" | "LABEL", rest: string, lookup: Lookup): KeyValue[] {
    const raw = splitRawWords(rest, this.words.escape);
    if (raw.length === 0) this.fail(`${keyword} needs at least one pair, e.g. ${keyword} NAME=value`);
    if (!raw[0]!.includes("=")) {
      const key = this.word(raw[0]!, lookup);
      if (raw.length === 1) this.fail(`${keyword} ${key} has no value; write ${keyword} ${key}=value`);
      this.warn(`"${keyword} ${key} value" is the legacy form; write ${keyword} ${key}=value`);
      return [{ key, value: this.word(rest.slice(raw[0]!.length).trim(), lookup) }];
    }
    return raw.map((w) => {
      const eq = w.indexOf("=");
      if (eq < 0)
        this.fail(`${keyword}: "${w}" is not of the form name=value; quote values that contain spaces (NAME="a b")`);
      const key = this.word(w.slice(0, eq), lookup);
      if (key === "") this.fail(`${keyword}: "${w}" has an empty name; write ${keyword} NAME=value`);
      return { key, value: this.word(w.slice(eq + 1), lookup) };
    });
  }

  /** A JSON array of strings, undefined for text that is not meant as one, or an error for a broken one. */
  private json(keyword: string, rest: string): string[] | undefined {
    const t = rest.trim();
    if (!t.startsWith("[")) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(t);
    } catch {
      // `RUN [ -f x ] && ...` is shell; `CMD ["a", 'b']` is a broken exec form.
      if (/^\[\s*(["']|\])/.test(t) || keyword === "SHELL")
        this.fail(
          `${keyword}: ${t} is not a valid JSON array; use double-quoted strings separated by commas, e.g. ["echo", "hi"], or drop the brackets for shell form`,
        );
      return undefined;
    }
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
      this.fail(`${keyword}: the JSON array must contain only strings, e.g. ["echo", "hi"]`);
    return value as string[];
  }

  private command(keyword: string, rest: string, allowEmptyExec: boolean): Command {
    const argv = this.json(keyword, rest);
    if (argv) {
      if (argv.length === 0 && !allowEmptyExec) this.fail(`${keyword} needs a command; the JSON array is empty`);
      return { form: "exec", argv };
    }
    if (rest.trim() === "") this.fail(`${keyword} needs a command, e.g. ${keyword} ["executable", "arg"]`);
    return { form: "shell", command: rest.trim() };
  }

  /** Splits leading `--name=value` flags off the arguments and checks them against the instruction's set. */
  private flags(keyword: string, rest: string, lookup: Lookup): { flags: Flags; rest: string } {
    const spec = FLAGS[keyword] ?? {};
    const flags: Flags = new Map();
    let text = rest.trimStart();
    while (text.startsWith("--")) {
      const raw = splitRawWords(text, this.words.escape)[0]!;
      text = text.slice(raw.length).trimStart();
      if (raw === "--") break;
      const eq = raw.indexOf("=");
      const name = raw.slice(2, eq < 0 ? undefined : eq);
      const kind = spec[name];
      if (!kind) {
        const known = Object.keys(spec).map((n) => `--${n}`);
        this.fail(
          `unknown flag --${name} for ${keyword}${known.length ? `; ${keyword} accepts ${known.join(", ")}` : ""}`,
        );
      }
      const value = eq < 0 ? undefined : this.word(raw.slice(eq + 1), lookup);
      if (kind === "bool") {
        if (value !== undefined && value !== "true" && value !== "false")
          this.fail(`${keyword} --${name}=${value}: expected true or false`);
        flags.set(name, value !== "false");
      } else if (value === undefined) this.fail(`${keyword} --${name} needs a value: --${name}=VALUE`);
      else if (kind === "list") flags.set(name, [...((flags.get(name) as string[] | undefined) ?? []), value]);
      else {
        if (flags.has(name)) this.fail(`${keyword} --${name} is given twice; keep one`);
        flags.set(name, value);
      }
    }
    return { flags, rest: text };
  }
}

const keywordOf = (text: string): string => /^\S*/.exec(text.trim())![0];

function unknownInstruction(keyword: string): string {
  const upper = keyword.toUpperCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of INSTRUCTIONS) {
    const d = editDistance(upper, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return `unknown instruction "${keyword}"${best ? `; did you mean ${best}?` : `; known instructions are ${INSTRUCTIONS.join(", ")}`}`;
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
