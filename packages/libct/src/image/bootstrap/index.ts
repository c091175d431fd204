export { type BootstrapOptions, type BootstrapResult, bootstrapImage, releaseDate } from "./bootstrap.js";
export { commitImage, packLayer, tarArgs } from "./layer.js";
export {
  type AptSource,
  parseDeb822Sources,
  parseOneLineSources,
  pickDebianMirror,
  readHostDebianMirror,
} from "./mirror.js";
export { MASKED_UNITS, prepareDebianRootfs, SANDBOX_DROPIN, SANDBOXED_UNITS } from "./rootfs.js";
export * from "./spec.js";
