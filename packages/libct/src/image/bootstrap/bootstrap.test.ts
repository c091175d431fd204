import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CommandFailedError, type CommandRunner, ProcessRunner, type RunOptions } from "../../system/command.js";
import { loadImageSpecValidator } from "../../testing/oci-image-schema.js";
import { ContentStore, MT } from "../store/index.js";
import { unpackLayers } from "../unpack/index.js";
import { bootstrapImage, releaseDate } from "./bootstrap.js";
import { tarArgs } from "./layer.js";
import { parseDeb822Sources, parseOneLineSources, pickDebianMirror, readHostDebianMirror } from "./mirror.js";
import { DROPIN_NAME, MASKED_UNITS, SANDBOX_DROPIN, SANDBOXED_UNITS } from "./rootfs.js";
import { checkBootstrapSpec, debootstrapArgs, IMAGE_LABEL, imageRef, LAYER_ZSTD, runConfig } from "./spec.js";

const noBusybox = existsSync("/bin/busybox") ? false : "busybox-static is not installed (scripts/setup.sh)";
const asRoot = process.getuid?.() === 0 ? false : "needs root (chroot, ownership)";

type Check = Awaited<ReturnType<typeof loadImageSpecValidator>>;

/** Reads an image back from the store: manifest, config, and (unpacked) the layer tree. */
async function readImage(store: ContentStore, ref: string, check: Check, unpackTo?: string) {
  const { descriptor, manifest } = await store.getManifest(ref);
  const config = await store.imageConfig(manifest);
  check("manifest", manifest, `${ref} manifest`);
  check("config", config, `${ref} config`);
  check("index", JSON.parse(await readFile(join(store.root, "index.json"), "utf8")), "store index.json");
  assert.equal(manifest.layers.length, 1);
  assert.equal(manifest.layers[0]!.mediaType, LAYER_ZSTD);
  if (unpackTo) {
    await unpackLayers(
      [
        {
          open: () => store.openBlob(manifest.layers[0]!.digest),
          compression: "zstd",
          diffId: config.rootfs.diff_ids[0]!,
        },
      ],
      unpackTo,
    );
  }
  return { descriptor, manifest, config, run: config.config as Record<string, unknown> };
}

describe("bootstrap spec (pure)", () => {
  it("accepts the documented specs and names their images", () => {
    assert.equal(imageRef(checkBootstrapSpec({ distro: "busybox" })), "busybox:latest");
    assert.equal(
      imageRef(checkBootstrapSpec({ distro: "debian", suite: "bookworm", variant: "minbase" })),
      "debian:bookworm",
    );
    assert.equal(
      imageRef(checkBootstrapSpec({ distro: "debian", suite: "trixie", variant: "systemd" })),
      "debian:trixie-systemd",
    );
  });

  it("rejects a bad distro, suite, variant, mirror or arch as invalid, naming every problem", () => {
    assert.throws(() => checkBootstrapSpec({ distro: "alpine" }), { kind: "invalid", message: /distro/ });
    assert.throws(
      () => checkBootstrapSpec({ distro: "debian", suite: "../etc", variant: "full", mirror: "ftp://x", arch: "vax" }),
      (err: Error & { kind?: string; issues?: { field: string }[] }) => {
        assert.equal(err.kind, "invalid");
        assert.deepEqual(
          err.issues?.map((i) => i.field),
          ["suite", "variant", "mirror", "arch"],
        );
        return true;
      },
    );
    assert.throws(() => checkBootstrapSpec({ distro: "debian", suite: "bookworm" }), { kind: "invalid" });
  });

  it("builds the debootstrap command line: minbase, systemd packages only for the systemd variant", () => {
    const where = { rootfs: "/w/rootfs", mirror: "http://mirror.example/debian", arch: "amd64", cacheDir: "/c" };
    assert.deepEqual(debootstrapArgs({ distro: "debian", suite: "bookworm", variant: "minbase" }, where), [
      "--variant=minbase",
      "--arch=amd64",
      "--cache-dir=/c",
      "bookworm",
      "/w/rootfs",
      "http://mirror.example/debian",
    ]);
    const sd = debootstrapArgs(
      { distro: "debian", suite: "trixie", variant: "systemd" },
      { ...where, cacheDir: undefined! },
    );
    assert.ok(sd.includes("--include=systemd,systemd-sysv,dbus"));
    assert.ok(!sd.some((a) => a.startsWith("--cache-dir")));
  });

  it("labels system images with their init and boots plain /sbin/init", () => {
    const sd = runConfig({ distro: "debian", suite: "bookworm", variant: "systemd" });
    assert.deepEqual(sd.Cmd, ["/sbin/init"]);
    assert.ok(sd.Env.includes("container=oci"));
    assert.equal(sd.Labels[IMAGE_LABEL.kind], "system");
    assert.equal(sd.Labels[IMAGE_LABEL.init], "systemd");
    assert.equal(sd.Labels[IMAGE_LABEL.stopSignal], "SIGRTMIN+3");
    const bb = runConfig({ distro: "busybox" });
    assert.equal(bb.Labels[IMAGE_LABEL.init], "busybox-init");
    assert.deepEqual(bb.Cmd, ["/sbin/init"]);
    assert.equal(
      runConfig({ distro: "debian", suite: "bookworm", variant: "minbase" }).Labels[IMAGE_LABEL.kind],
      "application",
    );
  });

  it("packs with GNU tar reproducibly: sorted, numeric owners, xattrs, clamped mtimes, no atime/ctime", () => {
    const args = tarArgs("/r", "/w/l.tar", 1700000000);
    for (const a of ["--sort=name", "--numeric-owner", "--xattrs", "--mtime=@1700000000", "--clamp-mtime"]) {
      assert.ok(args.includes(a), a);
    }
    assert.ok(args.some((a) => a.includes("delete=atime,delete=ctime")));
  });
});

describe("host apt mirror (parse, then read)", () => {
  const deb822 = `Types: deb
# a comment
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

  it("picks the main archive, not security or updates, from deb822 and one-line files", () => {
    assert.equal(pickDebianMirror(parseDeb822Sources(deb822)), "http://mirror.example/debian");
    const list =
      "# deb http://old.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] https://m.example/debian/ trixie main\n";
    assert.equal(pickDebianMirror(parseOneLineSources(list)), "https://m.example/debian/");
    const disabled = parseDeb822Sources("Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n");
    assert.equal(pickDebianMirror(disabled), undefined);
    assert.equal(pickDebianMirror(parseOneLineSources("deb-src http://src.example/debian bookworm main\n")), undefined);
  });

  it("reads /etc/apt-like trees, and says what to do when none is configured", async () => {
    const etc = await mkdtemp(join(tmpdir(), "berth-apt-"));
    try {
      await assert.rejects(readHostDebianMirror(etc), { kind: "precondition", message: /sources\.list\.d/ });
      await mkdir(join(etc, "sources.list.d"));
      await writeFile(join(etc, "sources.list.d", "debian.sources"), deb822);
      assert.equal(await readHostDebianMirror(etc), "http://mirror.example/debian");
    } finally {
      await rm(etc, { recursive: true, force: true });
    }
  });

  it("finds a mirror on this host", { skip: existsSync("/etc/apt") ? false : "no /etc/apt" }, async () => {
    assert.match(await readHostDebianMirror(), /^(https?|file):\/\//);
  });

  it("takes the Release date (never later than now) as the image's creation time", async () => {
    const root = await mkdtemp(join(tmpdir(), "berth-rel-"));
    try {
      await mkdir(join(root, "var/lib/apt/lists"), { recursive: true });
      await writeFile(
        join(root, "var/lib/apt/lists/m_debian_dists_bookworm_Release"),
        "Origin: Debian\nDate: Sat, 10 May 2025 09:01:02 UTC\n",
      );
      assert.equal(await releaseDate(root, Date.parse("2026-01-01T00:00:00Z")), "2025-05-10T09:01:02Z");
      assert.equal(await releaseDate(root, Date.parse("2024-01-01T00:00:00Z")), "2024-01-01T00:00:00Z");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

/**
 * Stands in for debootstrap: writes a tiny tree like the one debootstrap leaves (host hostname, host
 * resolv.conf, a machine-id, apt lists, the tty1 getty wants link), and runs tar/zstd/busybox for real.
 */
class FakeDebootstrap implements CommandRunner {
  readonly calls: [string, string[]][] = [];
  readonly real = new ProcessRunner();
  constructor(private readonly make: (rootfs: string) => void = fakeDebianTree) {}
  async run(file: string, args: readonly string[], opts?: RunOptions) {
    this.calls.push([file, [...args]]);
    if (file !== "debootstrap") return this.real.run(file, args, opts);
    this.make(args.at(-2)!);
    return { stdout: "I: Base system installed successfully.\n", stderr: "" };
  }
}

function fakeDebianTree(rootfs: string): void {
  const put = (rel: string, text: string) => {
    mkdirSync(dirname(join(rootfs, rel)), { recursive: true });
    writeFileSync(join(rootfs, rel), text);
  };
  put("etc/debian_version", "12.11\n");
  put("etc/hostname", "buildhost\n");
  put("etc/resolv.conf", "nameserver 10.0.0.53\n");
  put("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  put("var/lib/dbus/machine-id", "0123456789abcdef0123456789abcdef\n");
  put("var/lib/apt/lists/m_debian_dists_bookworm_Release", "Date: Sat, 10 May 2025 09:01:02 UTC\n");
  put("var/lib/apt/lists/m_debian_dists_bookworm_main_binary-amd64_Packages", "Package: x\n");
  put("var/cache/apt/archives/bash_5.2_amd64.deb", "deb");
  put("var/log/bootstrap.log", "log");
  put("var/log/dpkg.log", "2026-11-23 22:25:01 startup archives install\n");
  put("etc/shadow", "root:*:20415:0:99999:7:::\nnobody:*:20415:0:99999:7:::\n");
  mkdirSync(join(rootfs, "var/lib/apt/lists/partial"));
  mkdirSync(join(rootfs, "etc/systemd/system/getty.target.wants"), { recursive: true });
  symlinkSync(
    "/lib/systemd/system/getty@.service",
    join(rootfs, "etc/systemd/system/getty.target.wants/getty@tty1.service"),
  );
  mkdirSync(join(rootfs, "dev"));
  symlinkSync("/proc/self/fd", join(rootfs, "dev/fd"));
}

describe("bootstrapImage", () => {
  let tmp: string;
  let store: ContentStore;
  let check: Check;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "berth-bootstrap-"));
    store = await ContentStore.open(join(tmp, "store"));
    check = await loadImageSpecValidator();
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("builds busybox:latest as a one-layer zstd system image that runs, reproducibly", {
    skip: noBusybox || asRoot,
  }, async () => {
    const work = join(tmp, "work-bb");
    const steps: string[] = [];
    const t0 = Date.now();
    const result = await bootstrapImage(
      store,
      { distro: "busybox" },
      { workDir: work, onProgress: (m) => steps.push(m) },
    );
    const ms = Date.now() - t0;
    assert.equal(result.ref, "busybox:latest");
    assert.equal((await store.resolve("busybox:latest")).digest, result.manifestDigest);
    const img = await readImage(store, "busybox:latest", check, join(tmp, "bb-rootfs"));
    assert.equal(img.manifest.mediaType, MT.ociManifest);
    assert.equal(img.manifest.config.mediaType, MT.ociConfig);
    assert.deepEqual(img.run["Cmd"], ["/sbin/init"]);
    assert.deepEqual(img.run["Labels"], {
      [IMAGE_LABEL.kind]: "system",
      [IMAGE_LABEL.init]: "busybox-init",
      [IMAGE_LABEL.stopSignal]: "SIGTERM",
    });
    execFileSync("chroot", [join(tmp, "bb-rootfs"), "/bin/busybox", "true"]);
    assert.equal(
      execFileSync("chroot", [join(tmp, "bb-rootfs"), "/bin/sh", "-c", "echo ok"], { encoding: "utf8" }),
      "ok\n",
    );
    assert.deepEqual(await readdir(work), [], "the work dir is cleaned up");
    assert.ok(
      steps.some((s) => s.startsWith("tagged busybox:latest")),
      steps.join("\n"),
    );
    // Same host busybox, same recipe: the same manifest digest.
    const again = await bootstrapImage(store, { distro: "busybox" }, { workDir: work });
    assert.equal(again.manifestDigest, result.manifestDigest);
    console.log(`# busybox bootstrap: ${ms} ms`);
  });

  it("debian systemd: debootstrap's tree becomes a container-friendly system image", { skip: asRoot }, async () => {
    const runner = new FakeDebootstrap();
    const spec = {
      distro: "debian",
      suite: "bookworm",
      variant: "systemd",
      mirror: "http://mirror.example/debian",
    } as const;
    const cacheDir = join(tmp, "debs");
    const result = await bootstrapImage(store, spec, { workDir: join(tmp, "work-sd"), runner, cacheDir });
    assert.equal(result.ref, "debian:bookworm-systemd");

    const [file, args] = runner.calls.find(([f]) => f === "debootstrap")!;
    assert.equal(file, "debootstrap");
    assert.ok(args.includes("--variant=minbase") && args.includes("--include=systemd,systemd-sysv,dbus"));
    assert.ok(args.includes(`--cache-dir=${cacheDir}`));
    assert.equal(args.at(-1), "http://mirror.example/debian");

    const root = join(tmp, "sd-rootfs");
    const img = await readImage(store, result.ref, check, root);
    assert.equal(img.config.created, "2025-05-10T09:01:02Z");
    assert.deepEqual(img.run["Cmd"], ["/sbin/init"]);
    assert.equal(img.run["StopSignal"], "SIGRTMIN+3");
    assert.ok((img.run["Env"] as string[]).includes("container=oci"));
    assert.equal((img.run["Labels"] as Record<string, string>)[IMAGE_LABEL.init], "systemd");

    assert.equal(await readFile(join(root, "etc/debian_version"), "utf8"), "12.11\n");
    assert.equal(await readFile(join(root, "etc/hostname"), "utf8"), "");
    assert.equal(await readFile(join(root, "etc/machine-id"), "utf8"), "");
    assert.equal(await readFile(join(root, "etc/resolv.conf"), "utf8"), "");
    assert.match(await readFile(join(root, "etc/hosts"), "utf8"), /^127\.0\.0\.1\tlocalhost$/m);
    assert.equal(existsSync(join(root, "var/lib/dbus/machine-id")), false);
    assert.deepEqual(await readdir(join(root, "var/lib/apt/lists")), ["partial"]);
    assert.deepEqual(await readdir(join(root, "var/cache/apt/archives")), []);
    assert.deepEqual(await readdir(join(root, "dev")), []);
    assert.equal(existsSync(join(root, "var/log/bootstrap.log")), false);
    assert.equal(existsSync(join(root, "var/log/dpkg.log")), false);
    const days = Math.floor(Date.parse("2025-05-10T09:01:02Z") / 86_400_000);
    assert.equal(
      await readFile(join(root, "etc/shadow"), "utf8"),
      `root:*:${days}:0:99999:7:::\nnobody:*:${days}:0:99999:7:::\n`,
    );
    for (const unit of SANDBOXED_UNITS) {
      assert.equal(await readFile(join(root, "etc/systemd/system", `${unit}.d`, DROPIN_NAME), "utf8"), SANDBOX_DROPIN);
    }
    for (const unit of MASKED_UNITS) assert.equal(await readlink(join(root, "etc/systemd/system", unit)), "/dev/null");
    assert.equal(existsSync(join(root, "etc/systemd/system/console-getty.service")), false, "console-getty stays");
    assert.deepEqual(await readdir(join(root, "etc/systemd/system/getty.target.wants")), []);
    // mtimes of files written during the build are clamped to the Release date
    assert.equal((await stat(join(root, "etc/hostname"))).mtimeMs, Date.parse("2025-05-10T09:01:02Z"));
    assert.deepEqual(await readdir(join(tmp, "work-sd")), []);
  });

  it("debian minbase: an application image with bash, no systemd units touched", { skip: asRoot }, async () => {
    const runner = new FakeDebootstrap();
    const spec = {
      distro: "debian",
      suite: "bookworm",
      variant: "minbase",
      mirror: "http://mirror.example/debian",
    } as const;
    const result = await bootstrapImage(store, spec, { workDir: join(tmp, "work-mb"), runner });
    assert.equal(result.ref, "debian:bookworm");
    const args = runner.calls.find(([f]) => f === "debootstrap")![1];
    assert.ok(!args.some((a) => a.startsWith("--include") || a.startsWith("--cache-dir")));
    const img = await readImage(store, result.ref, check, join(tmp, "mb-rootfs"));
    assert.deepEqual(img.run["Cmd"], ["/bin/bash"]);
    assert.deepEqual(img.run["Labels"], { [IMAGE_LABEL.kind]: "application" });
    assert.equal(existsSync(join(tmp, "mb-rootfs/etc/systemd/system/dev-hugepages.mount")), false);
  });

  it("surfaces debootstrap's log tail as unavailable with a hint, and cleans up", async () => {
    const runner: CommandRunner = {
      async run(file, args) {
        const rootfs = args.at(-2)!;
        mkdirSync(join(rootfs, "debootstrap"), { recursive: true });
        const log = Array.from({ length: 30 }, (_, i) => `line ${i}`).join("\n");
        writeFileSync(
          join(rootfs, "debootstrap/debootstrap.log"),
          `${log}\nE: Failed getting release file http://mirror.example/debian/dists/bookworm/Release\n`,
        );
        throw new CommandFailedError(file, args, 1, "E: Failed getting release file\n");
      },
    };
    const work = join(tmp, "work-fail");
    const before = await store.listImages();
    await assert.rejects(
      bootstrapImage(
        store,
        { distro: "debian", suite: "bookworm", variant: "minbase", mirror: "http://mirror.example/debian" },
        { workDir: work, runner },
      ),
      (err: Error & { kind?: string }) => {
        assert.equal(err.kind, "unavailable");
        assert.match(err.message, /Failed getting release file http:\/\/mirror\.example/);
        assert.match(err.message, /line 29/);
        assert.doesNotMatch(err.message, /line 1\n/);
        assert.match(err.message, /is the Debian mirror reachable\? check \/etc\/apt\/sources\.list\.d/);
        return true;
      },
    );
    assert.deepEqual(await readdir(work), []);
    assert.deepEqual(await store.listImages(), before, "nothing tagged");
  });

  it("rejects a bad suite or variant as invalid before running anything", async () => {
    const runner = new FakeDebootstrap();
    const bad = { distro: "debian", suite: "bookwurm", variant: "minbase" } as const;
    await assert.rejects(bootstrapImage(store, bad, { workDir: join(tmp, "work-bad"), runner }), { kind: "invalid" });
    const badVariant = { distro: "debian", suite: "bookworm", variant: "full" } as unknown as Parameters<
      typeof bootstrapImage
    >[1];
    await assert.rejects(bootstrapImage(store, badVariant, { workDir: join(tmp, "work-bad"), runner }), {
      kind: "invalid",
    });
    assert.deepEqual(runner.calls, []);
  });

  it("refuses to write through a symlink in the debootstrapped tree, leaving the outside alone", {
    skip: asRoot,
  }, async () => {
    const outside = join(tmp, "outside");
    await mkdir(outside);
    const runner = new FakeDebootstrap((rootfs) => {
      fakeDebianTree(rootfs);
      symlinkSync(outside, join(rootfs, "etc/systemd/system/sysinit.target.wants"));
      // etc/systemd/system itself replaced by a link out
      execFileSync("rm", ["-rf", join(rootfs, "etc/systemd/system")]);
      symlinkSync(outside, join(rootfs, "etc/systemd/system"));
    });
    const spec = {
      distro: "debian",
      suite: "bookworm",
      variant: "systemd",
      mirror: "http://mirror.example/debian",
    } as const;
    await assert.rejects(bootstrapImage(store, spec, { workDir: join(tmp, "work-evil"), runner }), { kind: "invalid" });
    assert.deepEqual(await readdir(outside), []);
    assert.ok((await lstat(join(tmp, "work-evil"))).isDirectory());
    assert.deepEqual(await readdir(join(tmp, "work-evil")), []);
  });
});
