/** sha256 digests and OCI references: validated before any of them becomes a path component. */
import { createHash } from "node:crypto";
import { LibctError } from "../../errors.js";

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** True for `sha256:` followed by 64 lowercase hex digits, the only digests the store accepts. */
export const isDigest = (s: unknown): s is string => typeof s === "string" && DIGEST_RE.test(s);

/** Returns the 64 hex digits of `digest`; rejects anything else with "invalid" (never a path from user input). */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) {
    throw new LibctError("invalid", `${JSON.stringify(digest)} is not a sha256 digest (sha256: and 64 lowercase hex)`);
  }
  return digest.slice("sha256:".length);
}

export const sha256Of = (data: Uint8Array | string): string =>
  `sha256:${createHash("sha256").update(data).digest("hex")}`;

/**
 * The OCI image-layout grammar for `org.opencontainers.image.ref.name`: components of alphanumerics joined by
 * `-._:@+` or `--`, separated by `/`. A full reference such as `docker.io/library/busybox:latest` matches.
 */
const COMPONENT = "[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*";
const REF_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

export function checkRef(ref: string): string {
  if (typeof ref !== "string" || ref.length > 512 || !REF_RE.test(ref)) {
    throw new LibctError(
      "invalid",
      `${JSON.stringify(ref)} is not a valid image reference (expected e.g. docker.io/library/busybox:latest)`,
    );
  }
  return ref;
}

/**
 * Canonical JSON bytes: object keys sorted, no insignificant whitespace, UTF-8. The same object always gives
 * the same digest. (Go's encoder also escapes <, > and & as \u003c...; we do not, which only changes digests
 * of documents holding those characters, and both forms are valid JSON.)
 */
export function canonicalJson(value: unknown): Buffer {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v === null || typeof v !== "object") return v;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) {
      const item = (v as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = sort(item);
    }
    return out;
  };
  return Buffer.from(JSON.stringify(sort(value)), "utf8");
}
