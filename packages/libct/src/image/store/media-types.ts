/** Media types the content store understands when it walks images (OCI and Docker schema2). */
export const MT = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

export const isIndexType = (mt: string | undefined): boolean => mt === MT.ociIndex || mt === MT.dockerList;
export const isManifestType = (mt: string | undefined): boolean => mt === MT.ociManifest || mt === MT.dockerManifest;

/** The annotation holding an image's reference inside index.json (the full reference in berth's store). */
export const REF_NAME = "org.opencontainers.image.ref.name";
/** containerd's annotation for the full image name, written by `ctr`/`nerdctl` and by berth's busybox layout. */
export const CONTAINERD_NAME = "io.containerd.image.name";

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly "os.version"?: string;
  readonly "os.features"?: readonly string[];
}

/** An OCI content descriptor. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
  readonly urls?: readonly string[];
  readonly artifactType?: string;
}

/** An image manifest (OCI or Docker schema2): a config and layers. */
export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** An image index (OCI) or manifest list (Docker). */
export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly manifests: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The parts of an OCI image config the store and callers look at; the rest is kept as-is. */
export interface ImageConfig {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly created?: string;
  readonly config?: Readonly<Record<string, unknown>>;
  readonly rootfs: { readonly type: "layers"; readonly diff_ids: readonly string[] };
  readonly history?: readonly Readonly<Record<string, unknown>>[];
  readonly [key: string]: unknown;
}
