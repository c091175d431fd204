export * from "./content-store.js";
export { canonicalJson, checkRef, digestHex, isDigest, sha256Of } from "./digest.js";
export * from "./media-types.js";
