/** Test helpers: tars built in memory with tar-stream's pack, and a scratch area with a canary outside the target. */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Header, pack } from "tar-stream";

export type TarEntry = Partial<Header> & { name: string; body?: string | Buffer };

const EPOCH = new Date("2001-02-03T04:05:06Z");

/** A tar of `entries` (defaults: file, mode 0644, 0:0, mtime 2001-02-03T04:05:06Z). */
export async function makeTar(entries: readonly TarEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const { body, ...h } of entries) {
    const data = body === undefined ? undefined : Buffer.from(body);
    const header: Header = {
      type: "file",
      mode: h.type === "directory" ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      mtime: EPOCH,
      size: data?.length ?? 0,
      linkname: "",
      uname: "",
      gname: "",
      devmajor: 0,
      devminor: 0,
      ...h,
    } as Header;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data) p.entry(header, data, cb);
      else p.entry(header, cb).end(undefined);
    });
  }
  p.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A scratch dir holding `target/` and, beside it, `outside/canary`: nothing a layer does may touch `outside`. */
export async function scratch(): Promise<{
  dir: string;
  target: string;
  outside: string;
  canary: string;
  outsideListing: () => Promise<string[]>;
  cleanup: () => Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), "berth-unpack-"));
  const target = join(dir, "target");
  const outside = join(dir, "outside");
  await mkdir(target);
  await mkdir(outside);
  const canary = join(outside, "canary");
  await writeFile(canary, "canary\n");
  const listing = async () => (await readdir(dir, { recursive: true })).filter((p) => !p.startsWith("target")).sort();
  return {
    dir,
    target,
    outside,
    canary,
    outsideListing: listing,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export const EPOCH_MS = EPOCH.getTime();
