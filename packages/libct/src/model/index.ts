/** The pure container model: descriptions, validation and id/capability helpers. No I/O. */
export * from "./capabilities.js";
export * from "./description.js";
export type * from "./host.js";
export * from "./idmap.js";
export * from "./signals.js";
export * from "./validate.js";
