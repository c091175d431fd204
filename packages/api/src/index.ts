export * from "./refs.js";
export * from "./routes.js";
export type * from "./types.js";
export const version = "0.1.0";
