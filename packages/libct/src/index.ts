export * from "./errors.js";
export type * from "./model/host.js";
