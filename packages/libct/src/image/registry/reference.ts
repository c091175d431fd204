/**
 * Image references parsed the way Docker does (distribution/reference "normalized named"):
 *
 * ```ts
 * parseReference("busybox");                 // docker.io/library/busybox:latest
 * parseReference("127.0.0.1:5000/a/b:tag");  // registry 127.0.0.1:5000, repository a/b, tag "tag"
 * parseReference("alpine@sha256:<64 hex>");  // a digest pins the manifest; the tag, if any, is kept for display
 * ```
 * Pure: no I/O.
 */
import { LibctError } from "../../errors.js";

export const DEFAULT_REGISTRY = "docker.io";
export const DEFAULT_TAG = "latest";

export interface Reference {
  /** `docker.io`, `quay.io`, `127.0.0.1:5000`: the host (and port) of the registry. */
  readonly registry: string;
  /** The repository path inside the registry: `library/busybox`, `a/b`. */
  readonly repository: string;
  /** Absent only when a digest is given without a tag. */
  readonly tag?: string;
  readonly digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

const invalid = (input: string, why: string) =>
  new LibctError("invalid", `invalid image reference ${JSON.stringify(input)}: ${why}`);

/** Parses and normalizes a reference; every rejection says what to change. */
export function parseReference(input: string): Reference {
  if (typeof input !== "string" || input.length === 0) throw invalid(String(input), "it is empty (try busybox:latest)");
  if (input !== input.trim()) throw invalid(input, "remove the surrounding spaces");
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw invalid(input, "a digest is written @sha256: followed by 64 lowercase hex digits");
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(
        input,
        "a tag has at most 128 letters, digits, '_', '.' or '-', and does not start with '.' or '-'",
      );
    }
  }
  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost" || /[A-Z]/.test(first))) {
    if (!HOST.test(first)) throw invalid(input, `${JSON.stringify(first)} is not a valid registry host[:port]`);
    registry = first === "index.docker.io" ? DEFAULT_REGISTRY : first;
    path = rest.slice(slash + 1);
  }
  if (path.length === 0) throw invalid(input, "the repository name is missing (e.g. registry.example.com/team/app)");
  if (/[A-Z]/.test(path)) throw invalid(input, "repository names must be lowercase");
  for (const component of path.split("/")) {
    if (!COMPONENT.test(component)) {
      throw invalid(
        input,
        `path component ${JSON.stringify(component)} must be lowercase letters and digits, separated by '.', '_', '__' or '-'`,
      );
    }
  }
  if (registry === DEFAULT_REGISTRY && !path.includes("/")) path = `library/${path}`;
  if (registry.length + 1 + path.length > 255) throw invalid(input, "the name is longer than 255 characters");
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { registry, repository: path, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The full form: `docker.io/library/busybox:latest`, `host/repo@sha256:...`, `host/repo:tag@sha256:...`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** What a manifest request names: the digest when pinned, else the tag. */
export const manifestReference = (ref: Reference): string => ref.digest ?? ref.tag ?? DEFAULT_TAG;

/** The host to talk to: Docker Hub's API lives at registry-1.docker.io. */
export const registryHost = (registry: string): string =>
  registry === DEFAULT_REGISTRY ? "registry-1.docker.io" : registry;
