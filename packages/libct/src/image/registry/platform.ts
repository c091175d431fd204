/** Choosing one manifest of an index by platform. Pure: the host platform is passed in. */
import { LibctError } from "../../errors.js";
import type { Descriptor, ImageIndex, Platform } from "./types.js";

/** Go's GOARCH name of a Node `process.arch`, and the variant Docker assumes for it. */
export function hostPlatform(arch: string = process.arch): Platform {
  const names: Record<string, Platform> = {
    x64: { os: "linux", architecture: "amd64" },
    arm64: { os: "linux", architecture: "arm64", variant: "v8" },
    arm: { os: "linux", architecture: "arm", variant: "v7" },
    ia32: { os: "linux", architecture: "386" },
    ppc64: { os: "linux", architecture: "ppc64le" },
    s390x: { os: "linux", architecture: "s390x" },
    riscv64: { os: "linux", architecture: "riscv64" },
  };
  return names[arch] ?? { os: "linux", architecture: arch };
}

const formatPlatform = (p: Platform) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;

/**
 * The index entry for `want`: os and architecture must match; a wanted variant must match too, except that
 * arm64 entries without a variant count as v8. Entries without a platform, or attestations
 * (`unknown/unknown`), are never chosen.
 */
export function choosePlatform(index: ImageIndex, want: Platform, what: string): Descriptor {
  const variantOf = (p: Platform) => p.variant ?? (p.architecture === "arm64" ? "v8" : undefined);
  const candidates = index.manifests.filter(
    (m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture,
  );
  const exact = candidates.find((m) => variantOf(m.platform!) === variantOf(want));
  const chosen = exact ?? (want.variant === undefined ? candidates[0] : undefined);
  if (chosen) return chosen;
  const available = index.manifests
    .filter((m) => m.platform && m.platform.os !== "unknown")
    .map((m) => formatPlatform(m.platform!));
  throw new LibctError(
    "not-found",
    `${what} has no image for ${formatPlatform(want)}; it has ${available.join(", ") || "no platform-specific images"}`,
  );
}
