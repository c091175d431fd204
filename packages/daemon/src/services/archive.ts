/**
 * `berth cp`: GET/PUT /1.0/containers/{id}/archive read and write the container's mounted rootfs as tar.
 *
 * Safety: a container path is resolved one component at a time under the rootfs (securejoin-style), with
 * symlinks read, never followed by the kernel, and absolute targets taken from the container's root. A path
 * or a symlink that climbs above the container's root ("../../etc/passwd", "x -> ../../../../etc") is
 * refused with 400 rather than clamped, so the user learns what was wrong. Reading walks with lstat and
 * opens files O_NOFOLLOW; writing goes through libct's `applyLayer`, which never writes outside its target.
 * (A running container could still swap a directory for a symlink between the check and the use; the
 * window is small, and the runtime's own cp in Docker has the same one.)
 *
 * Ownership: files going out carry the container's ids (a shifted system container's host ids are mapped
 * back); files coming in belong to the container's root, as Docker does (mapped to the host id of the
 * container's root for a shifted container).
 */
import { constants } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { LibctError, ValidationError } from "@berth/libct";
import { applyLayer } from "@berth/libct/image/unpack/index";
import { extract as tarExtract, pack as tarPack } from "tar-stream";
import type { ContainerRow } from "../store/containers.js";
import type { ContainerService } from "./containers.js";

const MAX_LINKS = 40;

const escapes = (path: string, why: string) =>
  new ValidationError([{ field: "path", message: `'${path}' ${why}; cp stays inside the container's filesystem` }]);

/** A path in the container, resolved under `root`; `exists` false when only the last component is missing. */
export interface Resolved {
  readonly host: string;
  /** The resolved path inside the container ("/etc/passwd"). */
  readonly inside: string;
  readonly exists: boolean;
}

/**
 * Resolves `path` (absolute in the container) under `root`, following symlinks by hand except a final one
 * when `followLast` is false. Throws ValidationError (400) for anything that climbs above the root.
 */
export async function resolveInRoot(root: string, path: string, followLast: boolean): Promise<Resolved> {
  if (!path.startsWith("/")) throw escapes(path, "is not an absolute path");
  if (path.includes("\0")) throw escapes(path, "contains a NUL byte");
  const stack: string[] = [];
  let todo = path.split("/").filter((c) => c !== "" && c !== ".");
  // A lexical ".." above the root is refused (the kernel would clamp it; a user asking for it made a mistake).
  let depth = 0;
  for (const c of todo) {
    depth += c === ".." ? -1 : 1;
    if (depth < 0) throw escapes(path, "climbs above the container's root with '..'");
  }
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === "." || c === "") continue;
    if (c === "..") {
      if (stack.length === 0) throw escapes(path, "climbs above the container's root with '..'");
      stack.pop();
      continue;
    }
    const host = join(root, ...stack, c);
    const st = await lstat(host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (!st) {
      if (todo.length > 0)
        throw new LibctError("not-found", `no such directory '/${[...stack, c].join("/")}' in the container`);
      stack.push(c);
      return { host: join(root, ...stack), inside: `/${stack.join("/")}`, exists: false };
    }
    if (st.isSymbolicLink() && (todo.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw escapes(path, "has too many levels of symbolic links");
      const target = await readlink(host);
      const inside = `/${[...stack, c].join("/")}`;
      if (target.startsWith("/")) stack.length = 0;
      const parts = target.split("/").filter((p) => p !== "" && p !== ".");
      // A relative target that climbs above the root points out of the container.
      let d = stack.length;
      for (const p of parts) {
        d += p === ".." ? -1 : 1;
        if (d < 0)
          throw escapes(path, `goes through the symlink ${inside} -> ${target}, which points outside the container`);
      }
      todo = [...parts, ...todo];
      continue;
    }
    if (todo.length > 0 && !st.isDirectory())
      throw new LibctError("invalid", `'/${[...stack, c].join("/")}' in the container is not a directory`);
    stack.push(c);
  }
  return { host: join(root, ...stack), inside: `/${stack.join("/")}`, exists: true };
}

/** Host id of the container's root (0 unless the rootfs is shifted), and the size of its range. */
function idBase(row: ContainerRow): { uid: number; gid: number; size: number } {
  const m = row.description.idMap;
  const u = m?.uidMappings.find((x) => x.containerID === 0);
  const g = m?.gidMappings.find((x) => x.containerID === 0);
  return { uid: u?.hostID ?? 0, gid: g?.hostID ?? 0, size: u?.size ?? 2 ** 32 };
}

function queryPath(q: string | null): string {
  if (!q) throw new ValidationError([{ field: "path", message: "say which path: ?path=/absolute/path" }]);
  return q;
}

/** GET archive: a tar of the path (a file, or a directory and everything under it, symlinks as symlinks). */
export async function getArchive(containers: ContainerService, ref: string, path: string | null): Promise<Readable> {
  const p = queryPath(path);
  const { row, rootfs } = await containers.mountedRootfs(ref);
  const r = await resolveInRoot(rootfs, p, p.endsWith("/"));
  if (!r.exists) throw new LibctError("not-found", `no such file or directory '${p}' in container '${row.name}'`);
  const base = idBase(row);
  const mapId = (id: number, b: number) => (id >= b && id - b < base.size ? id - b : 65534);
  const tar = tarPack();
  const top = r.inside === "/" ? "." : basename(r.host);
  const walk = async (host: string, name: string): Promise<void> => {
    const st = await lstat(host);
    const header = {
      name,
      mode: st.mode & 0o7777,
      uid: mapId(st.uid, base.uid),
      gid: mapId(st.gid, base.gid),
      mtime: st.mtime,
    };
    if (st.isDirectory()) {
      tar.entry({ ...header, type: "directory" });
      for (const child of (await readdir(host)).sort()) await walk(join(host, child), posix.join(name, child));
    } else if (st.isSymbolicLink()) {
      tar.entry({ ...header, type: "symlink", linkname: await readlink(host) });
    } else if (st.isFile()) {
      const entry = tar.entry({ ...header, type: "file", size: st.size });
      const fh = await open(host, constants.O_RDONLY | constants.O_NOFOLLOW);
      await pipeline(fh.createReadStream(), entry);
    }
    // devices, fifos and sockets are not copied out
  };
  const out = new PassThrough();
  tar.pipe(out);
  walk(r.host, top).then(
    () => tar.finalize(),
    (err: Error) => out.destroy(err),
  );
  return out;
}

/**
 * PUT archive: extracts the tar at `path`. An existing directory receives the tar's entries; a path that
 * does not exist yet (its parent does) names the tar's single top-level entry, as `cp FILE c:/dir/newname`.
 */
export async function putArchive(
  containers: ContainerService,
  ref: string,
  path: string | null,
  body: Readable,
): Promise<void> {
  const p = queryPath(path);
  const { row, rootfs } = await containers.mountedRootfs(ref);
  const r = await resolveInRoot(rootfs, p, true);
  let target = r.host;
  let rename: string | undefined;
  if (r.exists) {
    if (!(await lstat(r.host)).isDirectory())
      throw new LibctError("invalid", `'${p}' in container '${row.name}' is not a directory; copy into its parent`);
  } else {
    target = join(r.host, "..");
    rename = basename(r.host);
  }
  const base = idBase(row);
  // Re-pack on the fly: owners become the container's root, names are checked (and renamed).
  const extract = tarExtract();
  const repack = tarPack();
  const tops = new Set<string>();
  extract.on("entry", (header, stream, next) => {
    let name = header.name.replace(/^\.\//, "").replace(/\/+$/, "");
    const parts = name.split("/");
    if (name === "" || name === ".") {
      stream.resume();
      stream.on("end", next);
      return;
    }
    if (parts.some((x) => x === "..") || name.startsWith("/") || parts.some((x) => x.startsWith(".wh.")))
      return extract.destroy(escapes(header.name, "is not a plain relative name in the archive"));
    tops.add(parts[0]!);
    if (rename !== undefined) {
      if (tops.size > 1)
        return extract.destroy(
          new ValidationError([
            { field: "path", message: `'${p}' does not exist; copying several entries needs an existing directory` },
          ]),
        );
      name = [rename, ...parts.slice(1)].join("/");
    }
    const h = { ...header, name, uid: 0, gid: 0, uname: "", gname: "" };
    if (h.type === "link" && h.linkname) {
      const lp = h.linkname.replace(/^\.\//, "").split("/");
      if (lp.includes("..")) return extract.destroy(escapes(h.linkname, "is a hard link outside the archive"));
      if (rename !== undefined) h.linkname = [rename, ...lp.slice(1)].join("/");
    }
    const entry = repack.entry(h, (err) => (err ? extract.destroy(err) : next()));
    stream.pipe(entry);
  });
  extract.on("finish", () => repack.finalize());
  const failed = new Promise<never>((_, reject) => {
    extract.on("error", reject);
    body.on("error", reject);
  });
  body.pipe(extract);
  await Promise.race([
    failed,
    applyLayer(target, repack as unknown as AsyncIterable<Uint8Array>, {
      compression: "none",
      devices: "reject",
      ...(base.uid || base.gid ? { idMap: { uidOffset: base.uid, gidOffset: base.gid } } : {}),
    }),
  ]);
}
