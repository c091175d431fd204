export * from "./refs.js";
export * from "./routes.js";
export * from "./stdcopy.js";
export * from "./time.js";
export type * from "./types.js";
export const version = "0.1.0";
