/** Containerfile parsing and build planning (pure); the executor lives elsewhere and performs the plan. */

export type { HistoryEntry, ImageRunConfig } from "./config.js";
export { AUTHORS_LABEL, applyToConfig, commandArgv, DEFAULT_SHELL, historyEntry, resolveWorkdir } from "./config.js";
export type { ContainerfileWarning } from "./errors.js";
export { ContainerfileError } from "./errors.js";
export type { IgnoreMatcher, IgnorePattern } from "./ignore.js";
export { goClean, makeIgnoreMatcher, parseIgnoreFile } from "./ignore.js";
export type * from "./instructions.js";
export type { ParseOptions, Platform } from "./parse.js";
export { INSTRUCTIONS, parseContainerfile } from "./parse.js";
export type { BuildPlan, CacheKeyInput, PlannedStage, PlanStep, StepEffect } from "./plan.js";
export { cacheKey, cacheKeyInput, instructionText, planBuild, stageCacheKeys } from "./plan.js";
export { sha256Hex } from "./sha256.js";
