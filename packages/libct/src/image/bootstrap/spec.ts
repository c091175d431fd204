/**
 * What a base image is made of, written down as data: the checked spec, the image reference it is tagged
 * as, the debootstrap command line and the image config. Nothing here touches the host.
 *
 * ```ts
 * const spec = checkBootstrapSpec({ distro: "debian", suite: "bookworm", variant: "systemd" });
 * imageRef(spec);                     // "debian:bookworm-systemd"
 * debootstrapArgs(spec, { rootfs: "/w/rootfs", mirror: "http://mirror/debian", arch: "amd64" });
 * // ["--variant=minbase", "--include=systemd,systemd-sysv,dbus", "--arch=amd64", "bookworm", "/w/rootfs", "http://mirror/debian"]
 * ```
 */
import { ValidationError, type ValidationIssue } from "../../errors.js";

export type DebianVariant = "minbase" | "systemd";

export interface DebianSpec {
  readonly distro: "debian";
  /** A Debian codename (bookworm, trixie...) or an alias debootstrap knows (stable, testing, unstable). */
  readonly suite: string;
  readonly variant: DebianVariant;
  /** The archive URL; default: the host's apt mirror (see readHostDebianMirror). */
  readonly mirror?: string;
  /** A Debian architecture name (amd64, arm64...); default: the host's. */
  readonly arch?: string;
}

export interface BusyboxSpec {
  readonly distro: "busybox";
}

export type BootstrapSpec = DebianSpec | BusyboxSpec;

/** The labels that tell berth how to run an image. */
export const IMAGE_LABEL = {
  /** "system" (boots an init as PID 1) or "application". */
  kind: "org.berth.image.kind",
  /** The init a system image boots: "systemd" or "busybox-init". */
  init: "org.berth.image.init",
  /** The signal that makes the init shut down cleanly (systemd: SIGRTMIN+3). */
  stopSignal: "org.berth.image.stop-signal",
} as const;

/** OCI media type of a zstd-compressed layer (image-spec 1.1). */
export const LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

/** Suites debootstrap 1.0.128 has scripts for and Debian still archives. */
export const DEBIAN_SUITES = [
  "buster",
  "bullseye",
  "bookworm",
  "trixie",
  "forky",
  "sid",
  "oldoldstable",
  "oldstable",
  "stable",
  "testing",
  "unstable",
] as const;

export const DEBIAN_VARIANTS: readonly DebianVariant[] = ["minbase", "systemd"];

/** Packages added to minbase for the systemd variant: kept small, the manual trial's recipe. */
export const SYSTEMD_PACKAGES = ["systemd", "systemd-sysv", "dbus"] as const;

/** Debian architecture names and their OCI (GOARCH) counterparts. */
const DEBIAN_TO_OCI: Readonly<Record<string, { architecture: string; variant?: string }>> = {
  amd64: { architecture: "amd64" },
  arm64: { architecture: "arm64", variant: "v8" },
  armhf: { architecture: "arm", variant: "v7" },
  armel: { architecture: "arm", variant: "v5" },
  i386: { architecture: "386" },
  ppc64el: { architecture: "ppc64le" },
  s390x: { architecture: "s390x" },
  riscv64: { architecture: "riscv64" },
  mips64el: { architecture: "mips64le" },
};

/** The Debian architecture of a Node `process.arch`. */
export function debianArch(nodeArch: string): string {
  const map: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "armhf", ia32: "i386", ppc64: "ppc64el" };
  return map[nodeArch] ?? nodeArch;
}

/** The OCI platform fields for a Debian architecture. */
export function ociPlatform(debArch: string): { architecture: string; os: "linux"; variant?: string } {
  const p = DEBIAN_TO_OCI[debArch] ?? { architecture: debArch };
  return { ...p, os: "linux" };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/**
 * Checks a spec from an API body or the CLI and returns it typed. Rejects with a ValidationError ("invalid")
 * that lists every problem: an unknown distro, suite, variant or architecture, or a mirror that is not an
 * http(s) or file URL.
 */
export function checkBootstrapSpec(input: unknown): BootstrapSpec {
  const issues: ValidationIssue[] = [];
  if (!isRecord(input)) throw new ValidationError([{ field: "spec", message: "must be an object" }]);
  if (input["distro"] === "busybox") return { distro: "busybox" };
  if (input["distro"] !== "debian") {
    throw new ValidationError([
      { field: "distro", message: `${JSON.stringify(input["distro"])} is not supported; use "debian" or "busybox"` },
    ]);
  }
  const { suite, variant, mirror, arch } = input;
  if (typeof suite !== "string" || !(DEBIAN_SUITES as readonly string[]).includes(suite)) {
    issues.push({
      field: "suite",
      message: `${JSON.stringify(suite)} is not a Debian suite (${DEBIAN_SUITES.join(", ")})`,
    });
  }
  if (typeof variant !== "string" || !(DEBIAN_VARIANTS as readonly string[]).includes(variant)) {
    issues.push({ field: "variant", message: `${JSON.stringify(variant)} is not a variant (minbase or systemd)` });
  }
  if (mirror !== undefined && (typeof mirror !== "string" || !isMirrorUrl(mirror))) {
    issues.push({ field: "mirror", message: `${JSON.stringify(mirror)} is not an http://, https:// or file:// URL` });
  }
  if (arch !== undefined && (typeof arch !== "string" || !(arch in DEBIAN_TO_OCI))) {
    issues.push({
      field: "arch",
      message: `${JSON.stringify(arch)} is not a Debian architecture (${Object.keys(DEBIAN_TO_OCI).join(", ")})`,
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return {
    distro: "debian",
    suite: suite as string,
    variant: variant as DebianVariant,
    ...(mirror === undefined ? {} : { mirror: mirror as string }),
    ...(arch === undefined ? {} : { arch: arch as string }),
  };
}

/** True for an absolute http(s) or file URL with no whitespace (debootstrap takes it as one argument). */
export function isMirrorUrl(s: string): boolean {
  if (/\s/.test(s)) return false;
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:" || u.protocol === "file:") && s.includes("://");
  } catch {
    return false;
  }
}

/** The reference the image is tagged as: busybox:latest, debian:<suite>, debian:<suite>-systemd. */
export function imageRef(spec: BootstrapSpec): string {
  if (spec.distro === "busybox") return "busybox:latest";
  return spec.variant === "systemd" ? `debian:${spec.suite}-systemd` : `debian:${spec.suite}`;
}

/** The debootstrap command line (without the binary) for `spec`; `cacheDir` must be absolute. */
export function debootstrapArgs(
  spec: DebianSpec,
  where: { rootfs: string; mirror: string; arch: string; cacheDir?: string },
): string[] {
  const args = ["--variant=minbase"];
  if (spec.variant === "systemd") args.push(`--include=${SYSTEMD_PACKAGES.join(",")}`);
  args.push(`--arch=${where.arch}`);
  if (where.cacheDir !== undefined) args.push(`--cache-dir=${where.cacheDir}`);
  args.push(spec.suite, where.rootfs, where.mirror);
  return args;
}

const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The OCI image config's `config` section: how to run the image. */
export interface RunConfig {
  readonly Env: string[];
  readonly Cmd: string[];
  readonly Labels: Record<string, string>;
  readonly StopSignal?: string;
}

/**
 * How the image runs. System images boot plain `/sbin/init` with `container=oci`; the cgroup mode is the
 * host's business, so the daemon adds systemd's legacy-cgroup arguments itself on hybrid hosts.
 */
export function runConfig(spec: BootstrapSpec): RunConfig {
  if (spec.distro === "busybox") {
    return {
      Env: [PATH_ENV, "container=oci"],
      Cmd: ["/sbin/init"],
      Labels: { [IMAGE_LABEL.kind]: "system", [IMAGE_LABEL.init]: "busybox-init", [IMAGE_LABEL.stopSignal]: "SIGTERM" },
    };
  }
  if (spec.variant === "systemd") {
    return {
      Env: [PATH_ENV, "container=oci"],
      Cmd: ["/sbin/init"],
      Labels: { [IMAGE_LABEL.kind]: "system", [IMAGE_LABEL.init]: "systemd", [IMAGE_LABEL.stopSignal]: "SIGRTMIN+3" },
      StopSignal: "SIGRTMIN+3",
    };
  }
  return { Env: [PATH_ENV], Cmd: ["/bin/bash"], Labels: { [IMAGE_LABEL.kind]: "application" } };
}

/** The full OCI image config document for a one-layer image. */
export function imageConfig(
  spec: BootstrapSpec,
  layer: { diffId: string; created: string; arch: string; createdBy: string },
): Record<string, unknown> {
  return {
    created: layer.created,
    ...ociPlatform(layer.arch),
    config: runConfig(spec),
    rootfs: { type: "layers", diff_ids: [layer.diffId] },
    history: [{ created: layer.created, created_by: layer.createdBy }],
  };
}
