/** Test helpers for archives: read a tar into memory, a busybox store, temp dirs. */
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { Header } from "tar-stream";
import { defaultBusyboxCacheDir, ensureBusyboxImage } from "../busybox.js";
import { ContentStore } from "../store/content-store.js";
import { readTar } from "./tar.js";

export interface ReadMember {
  readonly header: Header;
  readonly body: Buffer;
}

/** Every member of a tar file or buffer, in order, bodies in memory (small test archives only). */
export async function tarMembers(source: string | Buffer): Promise<Map<string, ReadMember>> {
  const out = new Map<string, ReadMember>();
  const input = typeof source === "string" ? createReadStream(source) : Readable.from([source]);
  await readTar(input, "test archive", async (header, body) => {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    out.set(header.name, { header, body: Buffer.concat(chunks) });
  });
  return out;
}

export const json = <T>(m: ReadMember | undefined): T => JSON.parse(m!.body.toString("utf8")) as T;

/** A temp dir root for one test file, removed by `cleanup`. */
export async function tempRoot(
  prefix: string,
): Promise<{ path: (name: string) => string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { path: (name) => join(dir, name), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A store at `root` holding busybox:latest (from the cached busybox layout). */
export async function busyboxStore(root: string): Promise<{ store: ContentStore; ref: string; layout: string }> {
  const img = await ensureBusyboxImage(defaultBusyboxCacheDir());
  const store = await ContentStore.open(root);
  await store.importLayout(img.layout);
  return { store, ref: "busybox:latest", layout: img.layout };
}

export const blobCount = async (store: ContentStore) => (await readdir(join(store.root, "blobs", "sha256"))).length;
