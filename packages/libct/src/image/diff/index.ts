/**
 * Layer tars from directories: an overlay upper dir becomes an OCI layer (overlay whiteouts — 0:0 char
 * devices and opaque dirs — turn into `.wh.` files), and a list of host files becomes a layer (COPY).
 * Headers are deterministic: sorted names, no user/group names, no atime/ctime. The tar is gzipped into
 * the content store while its sha256 (the diffID) is computed.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";
import tarStream from "tar-stream";
import type { ContentStore, Lease } from "../store/content-store.js";
import { type Descriptor, MT } from "../store/media-types.js";

export interface LayerEntry {
  /** Path in the layer, relative, "/" separated, no leading "/". */
  readonly name: string;
  readonly type: "file" | "directory" | "symlink" | "link" | "whiteout" | "opaque";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: Date;
  /** Host file to read (file). */
  readonly source?: string;
  readonly size?: number;
  /** symlink target, or hard-link target (a layer path). */
  readonly linkname?: string;
}

const EPOCH = new Date(0);

/** Lists an overlay upper dir as layer entries, whiteouts converted. */
export async function upperDirEntries(upper: string): Promise<LayerEntry[]> {
  const opaque = await opaqueDirs(upper);
  const out: LayerEntry[] = [];
  const seen = new Map<string, string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const n of names) {
      const abs = join(dir, n);
      const name = rel ? `${rel}/${n}` : n;
      const st = await lstat(abs);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push({ ...base, name: rel ? `${rel}/.wh.${n}` : `.wh.${n}`, type: "whiteout", mtime: EPOCH });
      } else if (st.isDirectory()) {
        out.push({ ...base, name, type: "directory" });
        if (opaque.has(name)) out.push({ ...base, name: `${name}/.wh..wh..opq`, type: "opaque", mtime: EPOCH });
        await walk(abs, name);
      } else if (st.isSymbolicLink()) {
        out.push({ ...base, name, type: "symlink", linkname: await readlink(abs) });
      } else if (st.isFile()) {
        const ino = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? seen.get(ino) : undefined;
        if (first) out.push({ ...base, name, type: "link", linkname: first });
        else {
          if (st.nlink > 1) seen.set(ino, name);
          out.push({ ...base, name, type: "file", source: abs, size: st.size });
        }
      }
      // sockets, fifos and real devices in a build's upper dir are skipped
    }
  };
  await walk(upper, "");
  return out;
}

/** Directories (relative) carrying trusted.overlay.opaque=y (or user.overlay.opaque). */
async function opaqueDirs(upper: string): Promise<Set<string>> {
  const script = `
import os, sys
root = sys.argv[1]
for d, dirs, files in os.walk(root):
    for n in dirs:
        p = os.path.join(d, n)
        for a in ("trusted.overlay.opaque", "user.overlay.opaque"):
            try:
                if os.getxattr(p, a, follow_symlinks=False) == b"y":
                    print(os.path.relpath(p, root)); break
            except OSError:
                pass
`;
  try {
    const { stdout } = await promisify(execFile)("python3", ["-c", script, upper], { maxBuffer: 1 << 24 });
    return new Set(stdout.split("\n").filter(Boolean));
  } catch {
    return new Set();
  }
}

/** Packs `entries` (in the order given) as a gzip layer into the store; returns its descriptor and diffID. */
export async function storeLayer(
  store: ContentStore,
  entries: readonly LayerEntry[],
  opts: { lease?: Lease } = {},
): Promise<{ layer: Descriptor; diffId: string }> {
  const pack = tarStream.pack();
  const hash = createHash("sha256");
  const hashing = new PassThrough();
  hashing.on("data", (c: Buffer) => hash.update(c));
  const gzip = createGzip();
  const feeding = (async () => {
    for (const e of entries) {
      const header = {
        name: e.name,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        uname: "",
        gname: "",
        mtime: e.mtime,
      };
      if (e.type === "directory") {
        await entry(pack, { ...header, type: "directory" });
      } else if (e.type === "symlink" || e.type === "link") {
        await entry(pack, { ...header, type: e.type, linkname: e.linkname ?? "" });
      } else if (e.type === "whiteout" || e.type === "opaque") {
        await entry(pack, { ...header, type: "file", size: 0, mode: 0 });
      } else {
        const size = e.size ?? 0;
        if (!e.source || size === 0) await entry(pack, { ...header, type: "file", size: 0 });
        else
          await new Promise<void>((resolve, reject) => {
            const w = pack.entry({ ...header, type: "file", size }, (err) => (err ? reject(err) : resolve()));
            pipeline(createReadStream(e.source!), w).catch(reject);
          });
      }
    }
    pack.finalize();
  })();
  const piping = pipeline(pack, hashing, gzip);
  const writing = store.writeBlob(undefined, gzip, {
    mediaType: MT.ociLayerGzip,
    ...(opts.lease ? { lease: opts.lease } : {}),
  });
  const [, , layer] = await Promise.all([feeding, piping, writing]);
  return { layer, diffId: `sha256:${hash.digest("hex")}` };
}

function entry(pack: tarStream.Pack, header: Parameters<tarStream.Pack["entry"]>[0]): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
}
