import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { loadImageSpecValidator } from "../testing/oci-image-schema.js";
import { needsRoot } from "../testing/slow.js";
import { DEFAULT_BUSYBOX, makeBusyboxRootfs } from "./busybox.js";
import { MEDIA_TYPES, REF_NAME_ANNOTATION, writeOciLayout } from "./layout.js";

const loadValidator = loadImageSpecValidator;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Validates an OCI layout: every document against its schema, every blob's digest and size, diff_ids. */
async function validateLayout(layoutDir: string, tag: string): Promise<{ manifest: Descriptor }> {
  const check = await loadValidator();
  const readJson = async (path: string) => JSON.parse(await readFile(join(layoutDir, path), "utf8")) as unknown;
  check("layout", await readJson("oci-layout"), "oci-layout");
  const index = (await readJson("index.json")) as { manifests: Descriptor[]; mediaType: string };
  check("index", index, "index.json");
  assert.equal(index.mediaType, MEDIA_TYPES.index);

  // Every blob is named by its own digest; nothing else (no temp files) lies in blobs/sha256.
  const blobDir = join(layoutDir, "blobs", "sha256");
  for (const name of await readdir(blobDir)) {
    assert.match(name, /^[0-9a-f]{64}$/, `stray file blobs/sha256/${name}`);
    assert.equal(sha256(await readFile(join(blobDir, name))), `sha256:${name}`, `blob ${name} is corrupt`);
  }
  const blob = async (d: Descriptor) => {
    const data = await readFile(join(blobDir, d.digest.replace(/^sha256:/, "")));
    assert.equal(data.length, d.size, `size of ${d.digest}`);
    assert.equal(sha256(data), d.digest);
    return data;
  };

  const tagged = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
  assert.equal(tagged.length, 1, `index.json has exactly one manifest tagged ${tag}`);
  const desc = tagged[0]!;
  assert.equal(desc.mediaType, MEDIA_TYPES.manifest);
  const manifest = JSON.parse((await blob(desc)).toString("utf8")) as {
    mediaType: string;
    config: Descriptor;
    layers: Descriptor[];
  };
  check("manifest", manifest, "manifest");
  assert.equal(manifest.mediaType, MEDIA_TYPES.manifest);
  assert.equal(manifest.config.mediaType, MEDIA_TYPES.config);
  const config = JSON.parse((await blob(manifest.config)).toString("utf8")) as {
    rootfs: { diff_ids: string[] };
    created: string;
  };
  check("config", config, "config");
  assert.equal(config.created, "1970-01-01T00:00:00Z");
  assert.equal(config.rootfs.diff_ids.length, manifest.layers.length);
  for (const [i, layer] of manifest.layers.entries()) {
    assert.equal(layer.mediaType, MEDIA_TYPES.layerGzip);
    assert.equal(sha256(gunzipSync(await blob(layer))), config.rootfs.diff_ids[i], `diff_id of layer ${i}`);
  }
  return { manifest: desc };
}

/** A small tree with a file, an executable, a symlink, a sticky dir. */
async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, "bin"), { recursive: true });
  await mkdir(join(dir, "tmp"));
  await chmod(join(dir, "tmp"), 0o1777); // mkdir's mode is masked by the umask
  await writeFile(join(dir, "bin", "hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
  await writeFile(join(dir, "README"), "a test tree\n", { mode: 0o644 });
  await symlink("hello", join(dir, "bin", "hi"));
}

const tarEntries = (gz: Buffer) =>
  execFileSync("tar", ["-tvz", "--numeric-owner"], { input: gz }).toString("utf8").trim().split("\n");

describe("writeOciLayout", () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "berth-layout-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("writes a layout that validates against the OCI image spec 1.1.1 schemas", async () => {
    await makeTree(join(tmp, "tree"));
    const res = await writeOciLayout(
      join(tmp, "tree"),
      join(tmp, "oci"),
      { name: "test", tag: "v1" },
      { cmd: ["/bin/hello"], entrypoint: ["/bin/sh"], env: ["A=b"], labels: { x: "y" } },
    );
    const { manifest } = await validateLayout(join(tmp, "oci"), "v1");
    assert.equal(manifest.digest, res.manifestDigest);
    assert.match(res.layerDigest, /^sha256:[0-9a-f]{64}$/);
    const config = JSON.parse(
      await readFile(join(tmp, "oci", "blobs", "sha256", res.configDigest.slice(7)), "utf8"),
    ) as Record<string, Record<string, unknown>>;
    assert.deepEqual(config["config"], {
      Env: ["A=b"],
      Entrypoint: ["/bin/sh"],
      Cmd: ["/bin/hello"],
      Labels: { x: "y" },
    });

    const entries = tarEntries(await readFile(join(tmp, "oci", "blobs", "sha256", res.layerDigest.slice(7))));
    assert.ok(
      entries.some((e) => /^-rwxr-xr-x 0\/0 .* 1970-01-01 00:00 \.\/bin\/hello$/.test(e)),
      entries.join("\n"),
    );
    assert.ok(
      entries.some((e) => /^drwxrwxrwt 0\/0 .* \.\/tmp\/$/.test(e)),
      entries.join("\n"),
    );
    assert.ok(entries.some((e) => e.endsWith("./bin/hi -> hello")));
  });

  it("gives the same manifest digest for the same tree, and keeps other tags in the index", async () => {
    await makeTree(join(tmp, "a"));
    await makeTree(join(tmp, "b")); // a second copy made later: other mtimes, inode order, ctime
    const one = await writeOciLayout(join(tmp, "a"), join(tmp, "oci2"), { name: "t", tag: "one" });
    const two = await writeOciLayout(join(tmp, "b"), join(tmp, "oci2"), { name: "t", tag: "two" });
    assert.equal(one.manifestDigest, two.manifestDigest);
    assert.equal(one.layerDigest, two.layerDigest);
    const again = await writeOciLayout(join(tmp, "a"), join(tmp, "oci2"), { name: "t", tag: "one" });
    assert.equal(again.manifestDigest, one.manifestDigest);
    const index = JSON.parse(await readFile(join(tmp, "oci2", "index.json"), "utf8")) as { manifests: Descriptor[] };
    assert.deepEqual(index.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).sort(), ["one", "two"]);
    await validateLayout(join(tmp, "oci2"), "one");
    await validateLayout(join(tmp, "oci2"), "two");
  });

  it("has a validator that catches bad documents (so its passes mean something)", async () => {
    const check = await loadValidator();
    const config = { mediaType: MEDIA_TYPES.config, digest: `sha256:${"a".repeat(64)}`, size: 2 };
    const layers = [{ ...config, mediaType: MEDIA_TYPES.layerGzip }];
    check("manifest", { schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config, layers }, "good manifest");
    assert.throws(() => check("manifest", { schemaVersion: 2, config: { ...config, digest: "bad" }, layers }, "m"));
    assert.throws(() => check("manifest", { schemaVersion: 2, config: { ...config, size: "2" }, layers }, "m"));
    assert.throws(() => check("index", { schemaVersion: 2, manifests: [{ ...config, mediaType: "nope" }] }, "i"));
    assert.throws(() => check("config", { architecture: "amd64", os: "linux", created: "yesterday" }, "c"));
    assert.throws(() => check("layout", { imageLayoutVersion: "2.0.0" }, "l"));
  });

  it("rejects a missing rootfs and a bad tag", async () => {
    await assert.rejects(writeOciLayout(join(tmp, "nope"), join(tmp, "oci3"), { name: "t", tag: "x" }), {
      kind: "not-found",
    });
    await makeTree(join(tmp, "c"));
    await assert.rejects(writeOciLayout(join(tmp, "c"), join(tmp, "oci3"), { name: "t", tag: "bad/tag" }), {
      kind: "invalid",
    });
  });

  const umoci = ["/usr/bin/umoci", "/usr/sbin/umoci", "/usr/local/bin/umoci"].find((p) => existsSync(p));
  const umociSkip = needsRoot.skip || (umoci ? false : "umoci is not installed (scripts/setup.sh)");
  const busyboxSkip = existsSync(DEFAULT_BUSYBOX) ? false : "busybox-static is not installed (scripts/setup.sh)";
  it("unpacks with umoci into a rootfs holding bin/busybox", { skip: umociSkip || busyboxSkip }, async () => {
    await makeBusyboxRootfs(join(tmp, "bb"));
    const res = await writeOciLayout(join(tmp, "bb"), join(tmp, "bboci"), { name: "busybox", tag: "latest" });
    await validateLayout(join(tmp, "bboci"), "latest");
    execFileSync(umoci!, ["unpack", "--image", `${join(tmp, "bboci")}:latest`, join(tmp, "bundle")], {
      stdio: "pipe",
    });
    const bin = await stat(join(tmp, "bundle", "rootfs", "bin", "busybox"));
    assert.ok(bin.isFile() && (bin.mode & 0o111) !== 0);
    assert.equal((await stat(join(tmp, "bundle", "rootfs", "tmp"))).mode & 0o7777, 0o1777);
    const again = await writeOciLayout(join(tmp, "bb"), join(tmp, "bboci2"), { name: "busybox", tag: "latest" });
    assert.equal(again.manifestDigest, res.manifestDigest);
  });
});
