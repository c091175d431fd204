/** The two archive formats and the Docker `manifest.json` shape (what `docker save` writes and `docker load` reads). */
export type ArchiveFormat = "docker-archive" | "oci-archive";

/** One image of a docker-archive's manifest.json; paths are members of the archive. */
export interface DockerArchiveItem {
  readonly Config: string;
  readonly RepoTags: readonly string[] | null;
  readonly Layers: readonly string[];
}

/** Archive members berth reads into memory rather than the store, and their size limit. */
export const METADATA_LIMIT = 4 * 1024 * 1024;
