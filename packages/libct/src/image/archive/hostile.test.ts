import { strict as assert } from "node:assert";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { ContentStore } from "../store/content-store.js";
import { makeTar, type TarEntry } from "../unpack/tartest.js";
import { type ArchiveFormat, type DockerArchiveItem, loadImages, saveImages } from "./index.js";
import { busyboxStore, type ReadMember, tarMembers, tempRoot } from "./testutil.js";

const hex = (d: string) => d.slice("sha256:".length);

let tmp: Awaited<ReturnType<typeof tempRoot>>;
let n = 0;
/** busybox saved in both formats, as buffers and as member lists to tamper with. */
const saved = {} as Record<ArchiveFormat, { bytes: Buffer; members: Map<string, ReadMember> }>;

before(async () => {
  tmp = await tempRoot("berth-archive-hostile-");
  const { store, ref } = await busyboxStore(tmp.path("source"));
  for (const format of ["docker-archive", "oci-archive"] as const) {
    const file = tmp.path(`busybox-${format}.tar`);
    await saveImages(store, [ref], createWriteStream(file), format);
    saved[format] = { bytes: await readFile(file), members: await tarMembers(file) };
  }
});
after(() => tmp.cleanup());

/** The members of a saved archive as makeTar entries, with `edit` applied (return undefined to drop one). */
function rebuild(
  format: ArchiveFormat,
  edit: (name: string, body: Buffer) => Buffer | undefined = (_n, b) => b,
  extra: TarEntry[] = [],
): Promise<Buffer> {
  const entries: TarEntry[] = [];
  for (const [name, { header, body }] of saved[format].members) {
    if (header.type === "directory") {
      entries.push({ name, type: "directory" });
      continue;
    }
    const out = edit(name, body);
    if (out !== undefined) entries.push({ name, body: out });
  }
  return makeTar([...entries, ...extra]);
}

/** Loads `archive` into a store that may already hold busybox; expects "invalid" matching `why` and no new tag. */
async function rejects(archive: Buffer, why: RegExp, withBusybox = false): Promise<ContentStore> {
  const { store } = await busyboxStore(tmp.path(`store-${n++}`));
  if (!withBusybox) await store.untag("busybox:latest");
  const before = await store.listImages();
  await assert.rejects(loadImages(store, Readable.from([archive])), (err: Error & { kind?: string }) => {
    assert.equal(err.kind, "invalid", err.message);
    assert.match(err.message, why);
    return true;
  });
  assert.deepEqual(await store.listImages(), before, "nothing tagged");
  return store;
}

describe("loadImages rejects corrupt and hostile archives", () => {
  it("accepts the untampered rebuilds (the harness itself is sound)", async () => {
    for (const format of ["docker-archive", "oci-archive"] as const) {
      const { store } = await busyboxStore(tmp.path(`store-${n++}`));
      await store.untag("busybox:latest");
      await loadImages(store, Readable.from([await rebuild(format)]));
      assert.deepEqual(
        (await store.listImages()).map((i) => i.ref),
        ["docker.io/library/busybox:latest"],
      );
    }
  });

  it("oci-archive: a blob whose bytes do not match its name, even when the store has that digest", async () => {
    const flip = (name: string, body: Buffer) => {
      if (!name.startsWith("blobs/sha256/") || body.length < 10_000) return body;
      const copy = Buffer.from(body);
      copy[5000] = copy[5000]! ^ 0xff;
      return copy;
    };
    await rejects(await rebuild("oci-archive", flip), /digest mismatch|has digest/);
    await rejects(await rebuild("oci-archive", flip), /has digest/, true);
  });

  it("docker-archive: a layer whose diffID differs from the config", async () => {
    const tamper = (name: string, body: Buffer) => {
      if (!name.endsWith("layer.tar")) return body;
      return Buffer.concat([body, Buffer.alloc(512)]); // still a tar, other bytes
    };
    await rejects(await rebuild("docker-archive", tamper), /diffID .* but the config says/);
  });

  it("truncated archives", async () => {
    for (const format of ["docker-archive", "oci-archive"] as const) {
      const bytes = saved[format].bytes;
      await rejects(bytes.subarray(0, Math.floor(bytes.length / 2)), /truncated/);
      await rejects(bytes.subarray(0, Math.floor(bytes.length / 2) + 100), /truncated/);
    }
  });

  it("missing members", async () => {
    const docker = saved["docker-archive"].members;
    const items = JSON.parse(docker.get("manifest.json")!.body.toString()) as DockerArchiveItem[];
    await rejects(
      await rebuild("docker-archive", (name, b) => (name === items[0]!.Layers[0] ? undefined : b)),
      /lacks layer 1/,
    );
    await rejects(
      await rebuild("docker-archive", (name, b) => (name === items[0]!.Config ? undefined : b)),
      /lacks config/,
    );

    const index = JSON.parse(saved["oci-archive"].members.get("index.json")!.body.toString()) as {
      manifests: { digest: string }[];
    };
    const manifestName = `blobs/sha256/${hex(index.manifests[0]!.digest)}`;
    const manifest = JSON.parse(saved["oci-archive"].members.get(manifestName)!.body.toString()) as {
      layers: { digest: string }[];
    };
    const layerName = `blobs/sha256/${hex(manifest.layers[0]!.digest)}`;
    await rejects(await rebuild("oci-archive", (name, b) => (name === manifestName ? undefined : b)), /lacks blob/);
    await rejects(
      await rebuild("oci-archive", (name, b) => (name === layerName ? undefined : b)),
      /lacks blob .*layer 1/,
    );
    await rejects(await rebuild("oci-archive", (name, b) => (name === "oci-layout" ? undefined : b)), /no oci-layout/);
    await rejects(await makeTar([{ name: "hello", body: "x" }]), /neither manifest.json .* nor index.json/);
  });

  it("path traversal and absolute member names", async () => {
    for (const name of ["../evil", "blobs/../../evil", "/etc/evil"]) {
      await rejects(await rebuild("oci-archive", undefined, [{ name, body: "x" }]), /'\.\.' component|absolute/);
    }
    await rejects(
      await rebuild("docker-archive", (name, b) => {
        if (name !== "manifest.json") return b;
        const items = JSON.parse(b.toString()) as DockerArchiveItem[];
        return Buffer.from(JSON.stringify([{ ...items[0], Config: "../../etc/passwd" }]));
      }),
      /'\.\.' component/,
    );
    await rejects(
      await rebuild("docker-archive", undefined, [{ name: "escape", type: "symlink", linkname: "../../etc" }]),
      /'\.\.' component/,
    );
    await rejects(
      await rebuild("oci-archive", undefined, [{ name: "dev", type: "character-device" }]),
      /character-device/,
    );
  });

  it("an index entry of an unknown media type, and a descriptor with the wrong size", async () => {
    const editIndex = (f: (m: Record<string, unknown>) => Record<string, unknown>) => (name: string, b: Buffer) => {
      if (name !== "index.json") return b;
      const index = JSON.parse(b.toString()) as { manifests: Record<string, unknown>[] };
      return Buffer.from(JSON.stringify({ ...index, manifests: index.manifests.map(f) }));
    };
    await rejects(
      await rebuild(
        "oci-archive",
        editIndex((m) => ({ ...m, mediaType: "application/vnd.example+json" })),
      ),
      /media type application\/vnd.example\+json/,
    );
    await rejects(
      await rebuild(
        "oci-archive",
        editIndex((m) => ({ ...m, size: 3 })),
      ),
      /descriptor says 3 bytes/,
    );
  });

  it("duplicate members and an oversized manifest.json", async () => {
    await rejects(await rebuild("oci-archive", undefined, [{ name: "oci-layout", body: "{}" }]), /twice/);
    await rejects(await makeTar([{ name: "manifest.json", body: Buffer.alloc(5 * 1024 * 1024, 0x20) }]), /larger than/);
  });

  it("leaves the blobs it wrote before the failure for prune", async () => {
    const store = await ContentStore.open(tmp.path(`store-${n++}`));
    const broken = await rebuild("oci-archive", (name, body) => (name === "index.json" ? Buffer.from("{not") : body));
    await assert.rejects(loadImages(store, Readable.from([broken])), { kind: "invalid", message: /not JSON/ });
    assert.deepEqual(await store.listImages(), []);
    const blobs = [...saved["oci-archive"].members.keys()].filter((k) => /^blobs\/sha256\/./.test(k));
    const pruned = await store.prune();
    assert.deepEqual(pruned.removedBlobs.sort(), blobs.map((b) => `sha256:${b.slice(13)}`).sort());
  });
});
