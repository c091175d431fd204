/**
 * Image references as client and daemon both read them. A reference names a registry when its first
 * component is a host (a dot or a port in it, or `localhost`): `127.0.0.1:5000/app:1`, `registry.example/x`,
 * but not `busybox` or `library/debian`. Only those are pulled on create when missing (Docker's behaviour
 * for a host it can reach), and only for those does the client send its credentials along.
 */
export function namesRegistry(ref: string): boolean {
  const slash = ref.indexOf("/");
  if (slash < 0) return false;
  const first = ref.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost";
}
