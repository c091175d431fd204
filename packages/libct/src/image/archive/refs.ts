/** How archive names map onto store references: always the full, normalized form (docker.io/library/x:tag). */
import { LibctError } from "../../errors.js";
import { formatReference, parseReference } from "../registry/reference.js";
import type { ContentStore } from "../store/content-store.js";
import type { Descriptor } from "../store/media-types.js";

/** `busybox` → `docker.io/library/busybox:latest`. Refuses digests: a tag is what an archive can carry. */
export function normalizeTag(name: string, what: string): string {
  let ref: ReturnType<typeof parseReference>;
  try {
    ref = parseReference(name);
  } catch (err) {
    throw new LibctError("invalid", `${what}: ${(err as Error).message}`, { cause: err });
  }
  if (ref.digest !== undefined)
    throw new LibctError("invalid", `${what} ${JSON.stringify(name)} names a digest, not a tag`);
  return formatReference(ref);
}

/** The store entry for `ref`, tried as given and then in its normalized form. */
export async function resolveStoreRef(
  store: ContentStore,
  ref: string,
): Promise<{ ref: string; descriptor: Descriptor }> {
  try {
    return { ref, descriptor: await store.resolve(ref) };
  } catch (err) {
    if (!(err instanceof LibctError) || (err.kind !== "not-found" && err.kind !== "invalid")) throw err;
    let full: string;
    try {
      full = formatReference(parseReference(ref));
    } catch {
      throw err;
    }
    if (full === ref) throw err;
    return { ref: full, descriptor: await store.resolve(full) };
  }
}
