/**
 * Real debootstrap runs against the host's apt mirror (slow: about 40-60 s cold, less with the .deb cache
 * under <repo>/.cache/debootstrap). One describe builds debian:bookworm, then debian:bookworm-systemd from
 * the debs the first run cached.
 */
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadImageSpecValidator } from "../../testing/oci-image-schema.js";
import { slow } from "../../testing/slow.js";
import { ContentStore } from "../store/index.js";
import { unpackLayers } from "../unpack/index.js";
import { bootstrapImage } from "./bootstrap.js";
import { DROPIN_NAME, MASKED_UNITS, SANDBOX_DROPIN, SANDBOXED_UNITS } from "./rootfs.js";
import { IMAGE_LABEL, LAYER_ZSTD } from "./spec.js";

/** `<repo>/.cache/debootstrap`, from dist/image/bootstrap/ (or src/image/bootstrap/). */
const CACHE = resolve(dirname(fileURLToPath(import.meta.url)), "../../../../../.cache/debootstrap");

const skip =
  slow.skip ||
  (process.getuid?.() !== 0 ? "needs root (debootstrap)" : false) ||
  (existsSync("/usr/sbin/debootstrap") ? false : "debootstrap is not installed (scripts/setup.sh)");

describe("bootstrapImage with debootstrap (bookworm)", { skip }, () => {
  let tmp: string;
  let store: ContentStore;
  let check: Awaited<ReturnType<typeof loadImageSpecValidator>>;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "berth-debootstrap-"));
    store = await ContentStore.open(join(tmp, "store"));
    check = await loadImageSpecValidator();
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** Builds `variant`, validates what the store holds, unpacks the layer; returns the rootfs and run config. */
  async function build(variant: "minbase" | "systemd") {
    const t0 = Date.now();
    const steps: string[] = [];
    const result = await bootstrapImage(
      store,
      { distro: "debian", suite: "bookworm", variant },
      { workDir: join(tmp, "work"), cacheDir: CACHE, onProgress: (m) => steps.push(m) },
    );
    const seconds = (Date.now() - t0) / 1000;
    const { manifest } = await store.getManifest(result.ref);
    const config = await store.imageConfig(manifest);
    check("manifest", manifest, `${result.ref} manifest`);
    check("config", config, `${result.ref} config`);
    assert.equal(manifest.layers[0]!.mediaType, LAYER_ZSTD);
    const root = join(tmp, `rootfs-${variant}`);
    await unpackLayers(
      [
        {
          open: () => store.openBlob(manifest.layers[0]!.digest),
          compression: "zstd",
          diffId: config.rootfs.diff_ids[0]!,
        },
      ],
      root,
    );
    assert.deepEqual(await readdir(join(tmp, "work")), [], "the work dir is cleaned up");
    const sizes = steps.find((s) => s.startsWith("layer ")) ?? "";
    console.log(`# ${result.ref}: ${seconds.toFixed(1)} s; ${sizes}`);
    return { result, root, run: config.config as Record<string, unknown> };
  }

  it("minbase: debian:bookworm with /etc/debian_version, no host identity, no apt lists", async () => {
    const { result, root, run } = await build("minbase");
    assert.equal(result.ref, "debian:bookworm");
    assert.match(await readFile(join(root, "etc/debian_version"), "utf8"), /^12\./);
    assert.equal(await readFile(join(root, "etc/hostname"), "utf8"), "");
    assert.equal(await readFile(join(root, "etc/machine-id"), "utf8").catch(() => ""), "");
    assert.deepEqual(
      (await readdir(join(root, "var/lib/apt/lists"))).filter((n) => n !== "partial" && n !== "lock"),
      [],
    );
    assert.deepEqual(run["Labels"], { [IMAGE_LABEL.kind]: "application" });
    assert.equal(execFileSync("chroot", [root, "/bin/bash", "-c", "echo ok"], { encoding: "utf8" }), "ok\n");
  });

  it("systemd: debian:bookworm-systemd with drop-ins, masks and the system-image labels", async () => {
    const { result, root, run } = await build("systemd");
    assert.equal(result.ref, "debian:bookworm-systemd");
    assert.deepEqual(run["Cmd"], ["/sbin/init"]);
    assert.equal((run["Labels"] as Record<string, string>)[IMAGE_LABEL.init], "systemd");
    assert.equal((run["Labels"] as Record<string, string>)[IMAGE_LABEL.stopSignal], "SIGRTMIN+3");
    assert.match(await readlink(join(root, "sbin/init")), /systemd$/);
    assert.equal(await readFile(join(root, "etc/machine-id"), "utf8"), "");
    for (const unit of SANDBOXED_UNITS) {
      assert.equal(await readFile(join(root, "etc/systemd/system", `${unit}.d`, DROPIN_NAME), "utf8"), SANDBOX_DROPIN);
    }
    // systemd itself, offline in the chroot, sees the masks and the drop-ins
    // (is-enabled exits 1 for masked units, so read its output whatever the status)
    const masked = spawnSync("chroot", [root, "systemctl", "is-enabled", ...MASKED_UNITS], { encoding: "utf8" }).stdout;
    assert.deepEqual(
      masked.trim().split("\n"),
      MASKED_UNITS.map(() => "masked"),
    );
    const delta = execFileSync("chroot", [root, "systemd-delta", "--no-pager", "--type=extended"], {
      encoding: "utf8",
    });
    for (const unit of SANDBOXED_UNITS) assert.match(delta, new RegExp(`${unit}\\.d/${DROPIN_NAME}`), delta);
    const consoleGetty = execFileSync(
      "chroot",
      [root, "sh", "-c", "systemctl is-enabled console-getty.service || true"],
      {
        encoding: "utf8",
      },
    );
    assert.notEqual(consoleGetty.trim(), "masked");
  });
});
