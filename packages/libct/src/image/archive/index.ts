export type { ArchiveFormat, DockerArchiveItem } from "./formats.js";
export { type ImportOptions, type ImportResult, importRootfs } from "./import.js";
export { type LoadedImage, type LoadOptions, type LoadResult, loadImages } from "./load.js";
export { type SavedImage, type SaveResult, saveImages } from "./save.js";
