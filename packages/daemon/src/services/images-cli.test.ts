/**
 * The image verbs end to end: the CLI bundle (packages/cli/dist/berth.cjs) against a real berthd and real
 * docker-registry instances on 127.0.0.1 (plain, and htpasswd + TLS).
 */
import { strict as assert } from "node:assert";
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startRegistry, type TestRegistry } from "@berth/libct/testing/registry";
import { slow } from "@berth/libct/testing/slow";
import { startTestDaemon, type TestDaemon } from "../testing/daemon.js";

const CLI = fileURLToPath(new URL("../../../cli/dist/berth.cjs", import.meta.url));
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skip =
  process.getuid?.() !== 0
    ? "needs root (berthd runs containers)"
    : !existsSync(CLI)
      ? "the CLI bundle is not built (npm run build)"
      : !has("docker-registry")
        ? "needs docker-registry (scripts/setup.sh)"
        : !existsSync("/bin/busybox")
          ? "needs busybox-static"
          : false;

interface Result {
  code: number;
  out: string;
  err: string;
}

describe("image verbs through berthd and the CLI", { skip, timeout: 120_000 }, () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let secure: TestRegistry;
  let tmp: string;
  let authFile: string;

  const berth = (args: string[], input?: string): Promise<Result> =>
    new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [CLI, ...args],
        {
          env: { ...process.env, BERTH_HOST: `unix://${d.socket}`, BERTH_AUTH_FILE: authFile },
          timeout: 60_000,
          maxBuffer: 64 << 20,
        },
        (err, out, errOut) =>
          resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out, err: errOut }),
      );
      if (input !== undefined) child.stdin!.end(input);
      else child.stdin!.end();
    });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await berth(args, input);
    assert.equal(r.code, 0, `berth ${args.join(" ")} failed:\n${r.err}\n${r.out}`);
    return r.out;
  };
  const refs = async (): Promise<string[]> =>
    (await ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])).split("\n").filter(Boolean);

  /** A gzipped rootfs with busybox and /marker holding `marker`. */
  const rootfsTar = async (marker: string): Promise<string> => {
    const tarball = join(tmp, `${marker}.tar.gz`);
    const tar = spawnSync("sh", [
      "-c",
      `set -e; r=$(mktemp -d); mkdir -p $r/bin; cp /bin/busybox $r/bin/; ln -s busybox $r/bin/sh; echo ${marker} > $r/marker; tar -czf ${tarball} -C $r .; rm -rf $r`,
    ]);
    assert.equal(tar.status, 0, tar.stderr.toString());
    return tarball;
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "bimg-"));
    authFile = join(tmp, "auth", "config.json");
    [d, reg, secure] = await Promise.all([
      startTestDaemon(),
      startRegistry(),
      startRegistry({ auth: "htpasswd", tls: true }),
    ]);
    await ok(["image", "bootstrap", "busybox"]);
  });
  after(async () => {
    const leaks = await d?.cleanup();
    await Promise.all([reg?.stop(), secure?.stop()]);
    await rm(tmp, { recursive: true, force: true });
    assert.deepEqual(leaks ?? [], []);
  });

  it("system df reports each image's bytes and the store's total", async () => {
    const u = JSON.parse(await ok(["system", "df", "--format", "json"])) as {
      images: { ref: string; size: number; sharedSize: number }[];
      totalBytes: number;
    };
    const bb = u.images.find((i) => i.ref.endsWith("busybox:latest"));
    assert.ok(bb && bb.size > 500_000, `busybox size ${bb?.size}`);
    assert.ok(u.totalBytes >= bb.size, `total ${u.totalBytes} < image ${bb.size}`);
    assert.match(await ok(["system", "df"]), /Total: \d/);
  });

  it("push, rmi, pull back: same digest, and the image runs", async () => {
    const remote = `${reg.url}/test/busybox:1`;
    await ok(["tag", "busybox", remote]);
    const digest = JSON.parse(await ok(["image", "inspect", remote]))[0].digest as string;
    const pushed = await ok(["push", "--format", "json", remote]);
    const lines = pushed
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    assert.equal(lines.at(-1).status, "done");
    assert.equal(lines.at(-1).digest, digest);
    await ok(["rmi", remote]);
    assert.ok(!(await refs()).includes(remote));
    const pulled = await ok(["pull", remote]);
    assert.match(pulled, /done/);
    assert.equal(JSON.parse(await ok(["image", "inspect", remote]))[0].digest, digest);
    assert.equal(
      (await ok(["run", "--rm", "--network", "none", remote, "echo", "hello from the registry"])).trim(),
      "hello from the registry",
    );
    // -q prints the digest only
    assert.equal((await ok(["pull", "-q", remote])).trim(), digest);
  });

  it("a missing registry image is pulled on run (Docker's behaviour)", async () => {
    const remote = `${reg.url}/test/auto:1`;
    await ok(["tag", "busybox", remote]);
    await ok(["push", "-q", remote]);
    await ok(["rmi", remote]);
    assert.equal((await ok(["run", "--rm", "--network", "none", remote, "echo", "auto"])).trim(), "auto");
    assert.ok((await refs()).includes(remote));
  });

  it("rmi refuses an image a container uses, naming it, unless -f", async () => {
    await ok(["import", await rootfsTar("inuse"), "inuse:1"]);
    await ok(["tag", "inuse:1", "inuse:2"]);
    await ok(["create", "--name", "user-of-inuse", "--network", "none", "inuse:1", "/bin/sh", "-c", "true"]);
    // another tag of the same image remains: untagging one is fine (Docker's behaviour)
    await ok(["rmi", "inuse:2"]);
    const r = await berth(["rmi", "inuse:1"]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /used by container 'user-of-inuse'/);
    assert.ok((await refs()).includes("inuse:1"));
    await ok(["rmi", "-f", "inuse:1"]);
    assert.ok(!(await refs()).includes("inuse:1"));
    // the container still starts from its layers
    await ok(["start", "user-of-inuse"]);
    await ok(["rm", "-f", "user-of-inuse"]);
  });

  for (const format of ["docker-archive", "oci-archive"]) {
    it(`save and load round trip (${format})`, async () => {
      const file = join(tmp, `bb-${format}.tar`);
      await ok(["tag", "busybox", `saved-${format}:1`]);
      const [orig] = JSON.parse(await ok(["image", "inspect", `saved-${format}:1`]));
      await ok(["save", "-o", file, "--format", format, `saved-${format}:1`]);
      assert.ok((await stat(file)).size > 100_000);
      await ok(["rmi", `saved-${format}:1`]);
      const loaded = await ok(["load", "-i", file]);
      assert.match(loaded, new RegExp(`Loaded image: .*saved-${format}:1`));
      const back = (await refs()).find((r) => r.endsWith(`saved-${format}:1`))!;
      assert.ok(back, `not listed after load: ${await refs()}`);
      const [loadedImg] = JSON.parse(await ok(["image", "inspect", back]));
      // the image id (config digest) survives both formats; an oci-archive keeps the manifest digest too
      assert.equal(loadedImg.configDigest, orig.configDigest);
      if (format === "oci-archive") assert.equal(loadedImg.digest, orig.digest);
      assert.equal((await ok(["run", "--rm", "--network", "none", back, "echo", format])).trim(), format);
    });
  }

  it("import a rootfs tar and run it", async () => {
    const tarball = await rootfsTar("imported");
    const id = (await ok(["import", tarball, "imported:1"])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(
      (await ok(["run", "--rm", "--network", "none", "imported:1", "/bin/sh", "-c", "cat /marker"])).trim(),
      "imported",
    );
  });

  it("login against htpasswd + TLS, then pull with --ca-file; a wrong password fails", async () => {
    const remote = `${secure.url}/secure/busybox:1`;
    const bad = await berth(
      ["login", "-u", secure.username!, "--password-stdin", "--ca-file", secure.caFile!, secure.url],
      "wrong\n",
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /unauthorized|wrong username or password/);
    assert.ok(!existsSync(authFile) || !(await readFile(authFile, "utf8")).includes(secure.url));
    await ok(
      ["login", "-u", secure.username!, "--password-stdin", "--ca-file", secure.caFile!, secure.url],
      `${secure.password}\n`,
    );
    assert.equal((await stat(authFile)).mode & 0o777, 0o600);
    await ok(["tag", "busybox", remote]);
    // without the CA, TLS verification fails with a clear message (loopback is insecure by default, as in Docker)
    const noCa = await berth(["push", "--tls-verify=true", remote]);
    assert.notEqual(noCa.code, 0);
    assert.match(noCa.err, /certificate|TLS|self.signed/i);
    await ok(["push", "--ca-file", secure.caFile!, remote]);
    await ok(["rmi", remote]);
    await ok(["pull", "--ca-file", secure.caFile!, remote]);
    assert.ok((await refs()).includes(remote));
    // run of a missing image: the CLI sends the login's credentials along, berthd pulls with them
    await ok(["rmi", remote]);
    assert.equal((await ok(["run", "--rm", "--network", "none", remote, "echo", "authed"])).trim(), "authed");
    assert.ok((await refs()).includes(remote));
    for (const f of ["berth.db", "berth.db-wal"]) {
      const bytes = await readFile(join(d.root, f)).catch(() => Buffer.alloc(0));
      assert.ok(!bytes.includes(secure.password!), `the password is not stored (${f})`);
    }
    await ok(["logout", secure.url]);
    await ok(["rmi", remote]);
    const before = await ok(["ps", "-aq"]);
    const anonRun = await berth(["run", "--rm", "--network", "none", remote, "true"]);
    assert.notEqual(anonRun.code, 0);
    assert.match(anonRun.err, /unauthorized|authentication|credentials|login/i);
    assert.equal(await ok(["ps", "-aq"]), before, "no container left by the failed pull");
    const anon = await berth(["pull", "--ca-file", secure.caFile!, remote]);
    assert.notEqual(anon.code, 0);
    assert.ok(!(await refs()).includes(remote));
  });

  it("bad inputs: non-zero exit, a clear message, no image left", async () => {
    const before = await refs();
    const unknown = await berth(["pull", `${reg.url}/nope/missing:1`]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.err, /not found|unknown|no such|manifest/i);
    const badTar = join(tmp, "bad.tar");
    await writeFile(badTar, "this is not a tar archive at all".repeat(40));
    const imp = await berth(["import", badTar, "bad:1"]);
    assert.notEqual(imp.code, 0);
    assert.match(imp.err, /tar|archive|invalid/i);
    const load = await berth(["load", "-i", badTar]);
    assert.notEqual(load.code, 0);
    assert.match(load.err, /tar|archive|invalid/i);
    const rmi = await berth(["rmi", "no-such-image:1"]);
    assert.notEqual(rmi.code, 0);
    assert.match(rmi.err, /no such image/);
    const save = await berth(["save", "-o", join(tmp, "x.tar"), "no-such-image:1"]);
    assert.notEqual(save.code, 0);
    assert.ok(!existsSync(join(tmp, "x.tar")));
    assert.deepEqual(await refs(), before);
  });

  it("prune reports reclaimed bytes and drops unused layers", async () => {
    await ok(["rmi", "imported:1"]);
    const out = await ok(["image", "prune", "-f"]);
    assert.match(out, /Total reclaimed space: /);
    assert.match(out, /deleted layer: layer\/sha256:/);
    // busybox still runs after the prune
    assert.equal((await ok(["run", "--rm", "--network", "none", "busybox", "echo", "still"])).trim(), "still");
  });

  it("bootstrap debian:bookworm through the daemon", { ...slow, timeout: 900_000 }, async () => {
    await ok(["image", "bootstrap", "debian:bookworm"]);
    assert.ok((await refs()).some((r) => r.includes("debian:bookworm")));
    assert.equal(
      (await ok(["run", "--rm", "--network", "none", "debian:bookworm", "cat", "/etc/debian_version"])).trim().length >
        0,
      true,
    );
  });
});
