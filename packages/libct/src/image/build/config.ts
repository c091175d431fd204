/**
 * What metadata instructions do to an image's config (the OCI/Docker `config` object), and the history
 * line each one leaves. Pure: every call returns a new object and leaves its input alone.
 *
 * ```ts
 * let config: ImageRunConfig = baseImage.config;
 * for (const i of stage.instructions) config = applyToConfig(config, i);
 * ```
 */
import { formatGoDuration } from "./duration.js";
import type { Command, HealthConfig, Instruction } from "./instructions.js";

/** The `config` object of an OCI image configuration, with Docker's field names. */
export interface ImageRunConfig {
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly Volumes?: Readonly<Record<string, Record<string, never>>>;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
  readonly Healthcheck?: HealthConfig;
  readonly Shell?: readonly string[];
  readonly OnBuild?: readonly string[];
}

/** One `history` entry of an image config. */
export interface HistoryEntry {
  readonly created_by: string;
  readonly empty_layer?: boolean;
}

export const DEFAULT_SHELL: readonly string[] = ["/bin/sh", "-c"];

/** The label MAINTAINER sets (Docker sets the deprecated `author` field instead). */
export const AUTHORS_LABEL = "org.opencontainers.image.authors";

/** The argv of an exec- or shell-form command; shell form runs under `shell` (the config's Shell). */
export function commandArgv(command: Command, shell: readonly string[] = DEFAULT_SHELL): string[] {
  return command.form === "exec" ? [...command.argv] : [...shell, command.command];
}

/** Returns `config` changed as the metadata instruction `i` says; RUN, COPY, ADD, FROM and ARG leave it as it is. */
export function applyToConfig(config: ImageRunConfig, i: Instruction): ImageRunConfig {
  const shell = config.Shell ?? DEFAULT_SHELL;
  switch (i.kind) {
    case "env": {
      const env = [...(config.Env ?? [])];
      for (const { key, value } of i.env) {
        const at = env.findIndex((e) => e === key || e.startsWith(`${key}=`));
        if (at >= 0) env[at] = `${key}=${value}`;
        else env.push(`${key}=${value}`);
      }
      return { ...config, Env: env };
    }
    case "workdir":
      return { ...config, WorkingDir: resolveWorkdir(config.WorkingDir, i.path) };
    case "user":
      return { ...config, User: i.user };
    case "cmd":
      return { ...config, Cmd: commandArgv(i.command, shell) };
    case "entrypoint": {
      const { Cmd: _cmd, ...rest } = config;
      return { ...(i.resetsCmd ? rest : config), Entrypoint: commandArgv(i.command, shell) };
    }
    case "expose": {
      const ports: Record<string, Record<string, never>> = { ...config.ExposedPorts };
      for (const p of i.ports) for (let n = p.port; n <= (p.endPort ?? p.port); n++) ports[`${n}/${p.protocol}`] = {};
      return { ...config, ExposedPorts: ports };
    }
    case "label": {
      const labels = { ...config.Labels };
      for (const { key, value } of i.labels) labels[key] = value;
      return { ...config, Labels: labels };
    }
    case "maintainer":
      return { ...config, Labels: { ...config.Labels, [AUTHORS_LABEL]: i.maintainer } };
    case "volume": {
      const volumes: Record<string, Record<string, never>> = { ...config.Volumes };
      for (const p of i.paths) volumes[p] = {};
      return { ...config, Volumes: volumes };
    }
    case "stopsignal":
      return { ...config, StopSignal: i.signal };
    case "healthcheck":
      return { ...config, Healthcheck: i.health };
    case "shell":
      return { ...config, Shell: [...i.shell] };
    case "onbuild":
      return { ...config, OnBuild: [...(config.OnBuild ?? []), i.trigger] };
    default:
      return config;
  }
}

/** The history entry Docker's builder writes for `i`; `config` is the config before the step. FROM leaves none. */
export function historyEntry(i: Instruction, config: ImageRunConfig = {}): HistoryEntry | undefined {
  const shell = config.Shell ?? DEFAULT_SHELL;
  const nop = (text: string): HistoryEntry => ({ created_by: `/bin/sh -c #(nop)  ${text}`, empty_layer: true });
  switch (i.kind) {
    case "from":
      return undefined;
    case "run": {
      const command =
        i.command.form === "shell"
          ? { ...i.command, command: i.command.command + i.heredocs.map((h) => `\n${h.content}${h.name}`).join("") }
          : i.command;
      const args = i.args.length ? `|${i.args.length} ${i.args.map((a) => `${a.key}=${a.value}`).join(" ")} ` : "";
      return { created_by: args + commandArgv(command, shell).join(" ") };
    }
    case "copy":
    case "add": {
      const sources = i.sources.map((s) => (s.kind === "path" ? s.path : `<<${s.heredoc.name}`)).join(" ");
      return { created_by: `/bin/sh -c #(nop) ${i.kind.toUpperCase()} ${sources} in ${i.dest} ` };
    }
    case "cmd":
      return nop(`CMD ${goStrings(commandArgv(i.command, shell))}`);
    case "entrypoint":
      return nop(`ENTRYPOINT ${goStrings(commandArgv(i.command, shell))}`);
    case "env":
      return nop(`ENV ${i.env.map((e) => `${e.key}=${e.value}`).join(" ")}`);
    case "label":
      return nop(`LABEL ${i.labels.map((e) => `${e.key}=${e.value}`).join(" ")}`);
    case "arg":
      return nop(`ARG ${i.args.map((a) => (a.default !== undefined ? `${a.name}=${a.default}` : a.name)).join(" ")}`);
    case "workdir":
      return nop(`WORKDIR ${resolveWorkdir(config.WorkingDir, i.path)}`);
    case "user":
      return nop(`USER ${i.user}`);
    case "expose":
      return nop(`EXPOSE ${Object.keys(applyToConfig({}, i).ExposedPorts ?? {}).join(" ")}`);
    case "volume":
      return nop(`VOLUME [${i.paths.join(" ")}]`);
    case "stopsignal":
      return nop(`STOPSIGNAL ${i.signal}`);
    case "shell":
      return nop(`SHELL [${i.shell.join(" ")}]`);
    case "healthcheck": {
      const h = i.health;
      const d = (ns?: number) => `"${formatGoDuration(ns ?? 0)}"`;
      const retries = `'\\x${(h.Retries ?? 0).toString(16).padStart(2, "0")}'`;
      return nop(
        `HEALTHCHECK &{${goStrings(h.Test)} ${d(h.Interval)} ${d(h.Timeout)} ${d(h.StartPeriod)} ${d(h.StartInterval)} ${retries}}`,
      );
    }
    case "onbuild":
      return nop(`ONBUILD ${i.trigger}`);
    case "maintainer":
      return nop(`MAINTAINER ${i.maintainer}`);
  }
}

/** A string slice as Go's %q prints it: `["/bin/sh" "-c" "echo hi"]`. */
const goStrings = (list: readonly string[]): string => `[${list.map((s) => JSON.stringify(s)).join(" ")}]`;

/** WORKDIR semantics: an absolute path replaces, a relative one joins the current directory; the result is cleaned. */
export function resolveWorkdir(current: string | undefined, path: string): string {
  return cleanPath(path.startsWith("/") ? path : `${current || "/"}/${path}`);
}

/** POSIX path.Clean for absolute paths: collapses "//", ".", and "..". */
export function cleanPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}
