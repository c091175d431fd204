/** A syntax check for image references (distribution's reference grammar), for FROM and COPY --from. */

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DOMAIN =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:]+\])(?::\d+)?$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** What is wrong with `ref` as an image reference, or undefined when it is well formed. */
export function imageRefProblem(ref: string): string | undefined {
  if (ref === "") return "the image name is empty";
  let rest = ref;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const digest = rest.slice(at + 1);
    if (!DIGEST.test(digest)) return `"${digest}" is not a valid digest (expected sha256:<64 hex digits>)`;
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > slash) {
    const tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) return `"${tag}" is not a valid tag (letters, digits, _, . and -, at most 128)`;
    rest = rest.slice(0, colon);
  }
  const parts = rest.split("/");
  if (parts.length > 1 && (/[.:[]/.test(parts[0]!) || parts[0] === "localhost")) {
    const domain = parts.shift()!;
    if (!DOMAIN.test(domain)) return `"${domain}" is not a valid registry host`;
  }
  for (const part of parts) {
    if (/[A-Z]/.test(part)) return `repository name "${rest}" must be lowercase`;
    if (!COMPONENT.test(part)) return `"${part}" is not a valid repository name component`;
  }
  return undefined;
}
