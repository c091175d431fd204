/**
 * Orders a parsed Containerfile into the stages a target needs, and describes each step's cache key.
 * Pure: the executor supplies what only it can know (the base image digest, the digest of copied files).
 *
 * ```ts
 * const plan = planBuild(parseContainerfile(text), "app");
 * for (const stage of plan.stages) {
 *   const keys = stageCacheKeys(stage, baseDigest, (step) => digestOfCopiedFiles(step));
 *   // keys[i] is the cache key of stage.steps[i]; a hit means that step does no work
 * }
 * ```
 */
import { LibctError } from "../../errors.js";
import type { Command, Containerfile, Instruction, StageBase } from "./instructions.js";
import { sha256Hex } from "./sha256.js";

/** What a step does: start from a base, change only the image config, run a command, copy files, or WORKDIR (mkdir). */
export type StepEffect = "from" | "config" | "run" | "copy" | "workdir";

export interface PlanStep {
  readonly stage: number;
  readonly line: number;
  /** The FROM instruction for the first step of a stage, then the stage's instructions in order. */
  readonly instruction: Instruction;
  /** The normalized instruction (after substitution): the `instruction` input of the cache key. */
  readonly text: string;
  readonly effect: StepEffect;
  /** COPY and ADD: the executor must supply a digest of the copied content for the cache key. */
  readonly needsContent: boolean;
}

export interface PlannedStage {
  readonly index: number;
  readonly name?: string;
  readonly base: StageBase;
  /** Earlier stages this one needs: its FROM stage and every COPY --from stage. */
  readonly dependsOn: readonly number[];
  readonly steps: readonly PlanStep[];
}

export interface BuildPlan {
  /** Index of the target stage; it is the last of `stages`. */
  readonly target: number;
  /** The stages the target needs, in build order (dependencies first). */
  readonly stages: readonly PlannedStage[];
}

/** The inputs of one step's cache key. */
export interface CacheKeyInput {
  /** The previous step's key; "" for a FROM step. */
  readonly parentKey: string;
  readonly instruction: string;
  /**
   * COPY/ADD: a digest of the copied files' content and metadata. FROM: the base image's manifest
   * digest, the base stage's last key, or "scratch".
   */
  readonly contentDigest?: string;
}

/**
 * Plans the build of `target` (a stage name or index; default the last stage): the stages it needs in
 * order, each with its steps. Stages the target does not need are left out.
 */
export function planBuild(file: Containerfile, target?: string): BuildPlan {
  const { stages } = file;
  let targetIndex = stages.length - 1;
  if (target !== undefined) {
    const lower = target.toLowerCase();
    const found = /^\d+$/.test(target)
      ? stages.find((s) => s.index === Number(target))
      : stages.find((s) => s.name === lower);
    if (!found) {
      const names = stages.map((s) => s.name ?? String(s.index)).join(", ");
      throw new LibctError(
        "invalid",
        `build target "${target}" is not a stage of this Containerfile; stages: ${names}`,
      );
    }
    targetIndex = found.index;
  }
  const deps = stages.map((s) => {
    const d = new Set<number>();
    if (s.base.kind === "stage") d.add(s.base.index);
    for (const i of s.instructions)
      if ((i.kind === "copy" || i.kind === "add") && i.fromStage !== undefined) d.add(i.fromStage);
    return [...d].sort((a, b) => a - b);
  });
  const needed = new Set<number>();
  const visit = (i: number): void => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of deps[i]!) visit(d);
  };
  visit(targetIndex);
  const planned = [...needed]
    .sort((a, b) => a - b)
    .map((index): PlannedStage => {
      const stage = stages[index]!;
      const steps = [stage.from, ...stage.instructions].map(
        (instruction): PlanStep => ({
          stage: index,
          line: instruction.line,
          instruction,
          text: instructionText(instruction, stage.base),
          effect: effectOf(instruction),
          needsContent: instruction.kind === "copy" || instruction.kind === "add",
        }),
      );
      return { index, ...(stage.name ? { name: stage.name } : {}), base: stage.base, dependsOn: deps[index]!, steps };
    });
  return { target: targetIndex, stages: planned };
}

export function cacheKeyInput(parent: string, step: Pick<PlanStep, "text">, inputsDigest?: string): CacheKeyInput {
  return {
    parentKey: parent,
    instruction: step.text,
    ...(inputsDigest !== undefined ? { contentDigest: inputsDigest } : {}),
  };
}

/** The cache key (sha256 hex) of a step on top of `parent`; equal inputs give equal keys. */
export function cacheKey(parent: string, step: Pick<PlanStep, "text">, inputsDigest?: string): string {
  const input = cacheKeyInput(parent, step, inputsDigest);
  return sha256Hex(
    JSON.stringify(["berth.build.cache.v1", input.parentKey, input.instruction, input.contentDigest ?? null]),
  );
}

/**
 * The cache keys of a stage's steps, in order. `base` identifies the FROM: the image's manifest digest,
 * the base stage's last key, or "scratch". Throws if a COPY/ADD step has no content digest.
 */
export function stageCacheKeys(
  stage: PlannedStage,
  base: string,
  contentDigest: (step: PlanStep) => string | undefined,
): string[] {
  const keys: string[] = [];
  let parent = "";
  for (const step of stage.steps) {
    let digest: string | undefined;
    if (step.effect === "from") digest = base;
    else if (step.needsContent) {
      digest = contentDigest(step);
      if (digest === undefined)
        throw new LibctError("internal", `no content digest for ${step.text.split(" ")[0]} at line ${step.line}`);
    }
    parent = cacheKey(parent, step, digest);
    keys.push(parent);
  }
  return keys;
}

function effectOf(i: Instruction): StepEffect {
  switch (i.kind) {
    case "from":
      return "from";
    case "run":
      return "run";
    case "copy":
    case "add":
      return "copy";
    case "workdir":
      return "workdir";
    default:
      return "config";
  }
}

/** Quotes a word when needed so that normalized text stays unambiguous. */
const q = (s: string): string => (s === "" || /[\s"'\\=]/.test(s) ? JSON.stringify(s) : s);
const json = (argv: readonly string[]): string => JSON.stringify(argv);
const commandText = (c: Command): string => (c.form === "exec" ? json(c.argv) : c.command);

/**
 * The normalized text of an instruction after substitution: keyword upper-cased, flags in a fixed order,
 * values quoted where needed, heredoc bodies appended. ARG lists names only: as in Docker, a changed
 * value busts the cache where it is used (RUN lists the args in scope, `RUN |1 V=2 ...`), not where it is declared.
 */
export function instructionText(i: Instruction, base?: StageBase): string {
  switch (i.kind) {
    case "from": {
      const platform = i.platform ? `--platform=${i.platform} ` : "";
      if (base?.kind === "stage") return `FROM ${platform}<stage>`;
      return `FROM ${platform}${base?.kind === "scratch" ? "scratch" : i.image}`;
    }
    case "run": {
      const flags = [i.network && `--network=${i.network}`, i.security && `--security=${i.security}`].filter(Boolean);
      const args = i.args.length ? [`|${i.args.length}`, ...i.args.map((a) => `${a.key}=${q(a.value)}`)] : [];
      const docs = i.heredocs.map((h) => `\n${h.content}${h.name}`).join("");
      return ["RUN", ...flags, ...args, commandText(i.command)].join(" ") + docs;
    }
    case "copy":
    case "add": {
      const flags = [
        i.fromStage !== undefined ? `--from=<stage ${i.fromStage}>` : i.fromImage && `--from=${i.fromImage}`,
        i.chown && `--chown=${q(i.chown)}`,
        i.chmod && `--chmod=${i.chmod}`,
        i.link && "--link",
        i.parents && "--parents",
        ...i.exclude.map((e) => `--exclude=${q(e)}`),
        i.checksum && `--checksum=${q(i.checksum)}`,
        i.keepGitDir && "--keep-git-dir",
      ].filter(Boolean);
      const sources = i.sources.map((s) => (s.kind === "path" ? q(s.path) : `<<${s.heredoc.name}`));
      const docs = i.sources
        .map((s) => (s.kind === "heredoc" ? `\n${s.heredoc.content}${s.heredoc.name}` : ""))
        .join("");
      return [i.kind.toUpperCase(), ...flags, ...sources, q(i.dest)].join(" ") + docs;
    }
    case "cmd":
      return `CMD ${commandText(i.command)}`;
    case "entrypoint":
      return `ENTRYPOINT ${commandText(i.command)}`;
    case "shell":
      return `SHELL ${json(i.shell)}`;
    case "env":
      return `ENV ${i.env.map((e) => `${e.key}=${q(e.value)}`).join(" ")}`;
    case "label":
      return `LABEL ${i.labels.map((e) => `${q(e.key)}=${q(e.value)}`).join(" ")}`;
    case "arg":
      return `ARG ${i.args.map((a) => a.name).join(" ")}`;
    case "workdir":
      return `WORKDIR ${i.path}`;
    case "user":
      return `USER ${i.user}`;
    case "expose":
      return `EXPOSE ${i.ports.map((p) => `${p.port}${p.endPort ? `-${p.endPort}` : ""}/${p.protocol}`).join(" ")}`;
    case "volume":
      return `VOLUME ${json(i.paths)}`;
    case "stopsignal":
      return `STOPSIGNAL ${i.signal}`;
    case "healthcheck":
      return `HEALTHCHECK ${JSON.stringify(i.health)}`;
    case "onbuild":
      return `ONBUILD ${i.trigger}`;
    case "maintainer":
      return `MAINTAINER ${i.maintainer}`;
  }
}
