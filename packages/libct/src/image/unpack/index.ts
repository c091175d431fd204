export { type ApplyOptions, type ApplyResult, applyLayer, type EntryType, type LayerEntry } from "./apply.js";
export type { LayerCompression, LayerSource } from "./decompress.js";
export { type LayerInput, type UnpackOptions, unpackLayers } from "./layers.js";
export { getXattr, setXattrs, type XattrOp } from "./xattr.js";
