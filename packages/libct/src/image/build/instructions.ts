/**
 * The parsed form of a Containerfile: plain data, with variables already substituted where Docker
 * substitutes them. `parse.ts` produces it, `plan.ts` orders it and `config.ts` applies it to an image config.
 */
import type { ContainerfileWarning } from "./errors.js";

export interface Directives {
  /** `# syntax=...`: recorded, not acted on (berth has one built-in frontend). */
  readonly syntax?: string;
  /** `# escape=`: the escape and line-continuation character, `\` by default. */
  readonly escape: "\\" | "`";
  /** `# check=...`: recorded, not acted on. */
  readonly check?: string;
}

/** A heredoc body (`<<EOF` ... `EOF`) attached to RUN, COPY or ADD. */
export interface Heredoc {
  /** The delimiter word, unquoted (`EOF`). COPY uses it as the file name. */
  readonly name: string;
  /** The lines between the marker and the delimiter, each ending in "\n"; tabs stripped for `<<-`. */
  readonly content: string;
  /** False when the delimiter was quoted (`<<"EOF"`): no variable expansion in the body. */
  readonly expand: boolean;
  /** True for `<<-EOF`. */
  readonly chomp: boolean;
  /** The file descriptor in `3<<EOF`, when given. */
  readonly fd?: number;
}

/** RUN, CMD, ENTRYPOINT and HEALTHCHECK CMD come in exec (JSON array) or shell form. */
export type Command =
  | { readonly form: "exec"; readonly argv: readonly string[] }
  | { readonly form: "shell"; readonly command: string };

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export interface PortSpec {
  readonly port: number;
  /** Set for a range such as `8000-8010`. */
  readonly endPort?: number;
  readonly protocol: "tcp" | "udp" | "sctp";
}

/** Docker's Healthcheck object; durations are nanoseconds and absent when not given. */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", arg...]` or `["CMD-SHELL", command]`. */
  readonly Test: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
  readonly Retries?: number;
}

interface Base {
  /** 1-based line of the instruction's first line. */
  readonly line: number;
  /** The instruction as written, continuation lines joined. */
  readonly source: string;
}

export interface FromInstruction extends Base {
  readonly kind: "from";
  /** Image reference after substitution, `scratch`, or the name of an earlier stage. */
  readonly image: string;
  readonly platform?: string;
  /** The `AS` name, lower-cased. */
  readonly name?: string;
}

export interface RunInstruction extends Base {
  readonly kind: "run";
  readonly command: Command;
  readonly heredocs: readonly Heredoc[];
  readonly network?: "default" | "none" | "host";
  readonly security?: "sandbox" | "insecure";
  /**
   * ARG values in scope (and not shadowed by ENV) at this RUN: set in its environment and part of its
   * cache key, as Docker does (`RUN |1 VERSION=2 /bin/sh -c ...`).
   */
  readonly args: readonly KeyValue[];
  /** Predefined proxy build args (HTTP_PROXY, ...): in the environment, not in the cache key or history. */
  readonly proxyEnv: readonly KeyValue[];
}

export type CopySource =
  | { readonly kind: "path"; readonly path: string }
  | { readonly kind: "heredoc"; readonly heredoc: Heredoc };

export interface CopyInstruction extends Base {
  readonly kind: "copy" | "add";
  readonly sources: readonly CopySource[];
  readonly dest: string;
  /** `--from` when it names an image (not a stage). */
  readonly fromImage?: string;
  /** `--from` when it names an earlier stage (by name or index): that stage's index. */
  readonly fromStage?: number;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  readonly parents: boolean;
  readonly exclude: readonly string[];
  /** ADD only. */
  readonly checksum?: string;
  /** ADD only. */
  readonly keepGitDir?: boolean;
}

export interface CmdInstruction extends Base {
  readonly kind: "cmd";
  readonly command: Command;
}

export interface EntrypointInstruction extends Base {
  readonly kind: "entrypoint";
  readonly command: Command;
  /** True unless CMD was set earlier in the same stage: ENTRYPOINT resets an inherited CMD. */
  readonly resetsCmd: boolean;
}

export interface ShellInstruction extends Base {
  readonly kind: "shell";
  readonly shell: readonly string[];
}

export interface EnvInstruction extends Base {
  readonly kind: "env";
  readonly env: readonly KeyValue[];
}

export interface ArgDeclaration {
  readonly name: string;
  /** The default written in the Containerfile, after substitution. */
  readonly default?: string;
  /** The value in effect: a build arg, else the default (or the global value); undefined if none. */
  readonly value?: string;
}

export interface ArgInstruction extends Base {
  readonly kind: "arg";
  readonly args: readonly ArgDeclaration[];
}

export interface WorkdirInstruction extends Base {
  readonly kind: "workdir";
  /** As written (after substitution); relative paths resolve against the previous WORKDIR. */
  readonly path: string;
}

export interface UserInstruction extends Base {
  readonly kind: "user";
  readonly user: string;
}

export interface ExposeInstruction extends Base {
  readonly kind: "expose";
  readonly ports: readonly PortSpec[];
}

export interface LabelInstruction extends Base {
  readonly kind: "label";
  readonly labels: readonly KeyValue[];
}

export interface VolumeInstruction extends Base {
  readonly kind: "volume";
  readonly paths: readonly string[];
}

export interface StopSignalInstruction extends Base {
  readonly kind: "stopsignal";
  readonly signal: string;
}

export interface HealthcheckInstruction extends Base {
  readonly kind: "healthcheck";
  readonly health: HealthConfig;
}

export interface OnbuildInstruction extends Base {
  readonly kind: "onbuild";
  /** The trigger as written (`RUN make`); it runs, with substitution, in builds that use this image. */
  readonly trigger: string;
}

export interface MaintainerInstruction extends Base {
  readonly kind: "maintainer";
  readonly maintainer: string;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CopyInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | EnvInstruction
  | ArgInstruction
  | WorkdirInstruction
  | UserInstruction
  | ExposeInstruction
  | LabelInstruction
  | VolumeInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

export type StageBase =
  | { readonly kind: "scratch" }
  | { readonly kind: "image"; readonly ref: string }
  | { readonly kind: "stage"; readonly index: number };

export interface Stage {
  readonly index: number;
  /** The `AS` name, lower-cased. */
  readonly name?: string;
  readonly from: FromInstruction;
  readonly base: StageBase;
  /** The instructions after FROM, in order. */
  readonly instructions: readonly Instruction[];
  /**
   * Variables referenced in this stage that had no value. For a stage built on an image, parse again
   * with `baseEnv` once the image is pulled: its ENV may define them (as `$GOPATH` in golang images).
   */
  readonly unresolvedVars: readonly string[];
}

export interface Containerfile {
  readonly directives: Directives;
  /** ARG instructions before the first FROM: usable in FROM lines, and by stages that redeclare them. */
  readonly globalArgs: readonly ArgInstruction[];
  readonly stages: readonly Stage[];
  readonly warnings: readonly ContainerfileWarning[];
}
