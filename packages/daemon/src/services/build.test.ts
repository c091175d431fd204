/** `build` and `commit` through a real berthd (root): Containerfiles run, cache, multi-stage, ignore files. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTar } from "@berth/libct/image/unpack/tartest";
import { startTestDaemon, type TestDaemon } from "../testing/daemon.js";
import { globMatch } from "./build-files.js";

describe("COPY source wildcards: Go filepath.Match", () => {
  it("matches like Go", () => {
    const cases: [string, string, boolean][] = [
      ["*.sh", "a.sh", true],
      ["*.sh", ".x.sh", true],
      ["*.sh", "a.txt", false],
      ["*", "a/b", false],
      ["a*/b", "abc/b", true],
      ["a?c", "abc", true],
      ["a?c", "a/c", false],
      ["[a-c]x", "bx", true],
      ["[^a-c]x", "bx", false],
      ["[!a]x", "!x", true],
      ["\\*", "*", true],
      ["\\*", "a", false],
      ["a*b*c", "axxbyyc", true],
      ["a*b", "axxbyyc", false],
    ];
    for (const [p, n, want] of cases) assert.equal(globMatch(p, n), want, `${p} ~ ${n}`);
    assert.throws(() => globMatch("[", "a"));
    assert.throws(() => globMatch("a[", "a"));
  });
});

const skip =
  process.getuid?.() !== 0
    ? "needs root (berthd runs containers)"
    : !existsSync("/bin/busybox")
      ? "needs busybox-static"
      : false;

describe("build and commit through berthd", { skip, timeout: 180_000 }, () => {
  let d: TestDaemon;
  let tmp: string;

  const context = async (name: string, files: Record<string, string>): Promise<Buffer> => {
    const dir = join(tmp, name);
    for (const [p, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, p)), { recursive: true });
      await writeFile(join(dir, p), text, { mode: p.endsWith(".sh") ? 0o755 : 0o644 });
    }
    const r = spawnSync("tar", ["-c", "-C", dir, "."], { maxBuffer: 1 << 26 });
    assert.equal(r.status, 0);
    return r.stdout;
  };
  const build = async (tar: Buffer, tag: string) => {
    const r = await d.request("POST", `/1.0/images/build?t=${encodeURIComponent(tag)}`, undefined, {
      raw: tar,
      headers: { "content-type": "application/x-tar" },
    });
    const lines = r.text
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return { status: l };
        }
      });
    return { status: r.status, lines, text: r.text, json: r.json };
  };
  const runOut = async (image: string, cmd?: string[]): Promise<string> => {
    const c = await d.request("POST", "/1.0/containers", { image, network: "none", ...(cmd ? { cmd } : {}) });
    assert.equal(c.status, 201, c.text);
    const s = await d.request("POST", `/1.0/containers/${c.json.id}/start`);
    assert.equal(s.status, 204, s.text);
    await d.request("POST", `/1.0/containers/${c.json.id}/wait`);
    const raw = (await d.request("GET", `/1.0/containers/${c.json.id}/logs`)).text;
    const logs = raw
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        try {
          return (JSON.parse(l) as { text: string }).text;
        } catch {
          return `${l}\n`;
        }
      })
      .join("");
    await d.request("DELETE", `/1.0/containers/${c.json.id}?force=true`);
    return logs;
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "bbuild-"));
    d = await startTestDaemon();
    const r = await d.request("POST", "/1.0/images/bootstrap", { kind: "busybox" });
    assert.equal(r.status, 200, r.text);
  });
  after(async () => {
    const leaks = await d?.cleanup();
    await rm(tmp, { recursive: true, force: true });
    assert.deepEqual(leaks ?? [], []);
  });

  it("COPY a script, CMD: the image's container prints its output; RUN runs in a container", async () => {
    const tar = await context("app", {
      Containerfile: 'FROM busybox\nCOPY hello.sh /app/\nRUN echo built > /app/stamp\nCMD ["/app/hello.sh"]\n',
      "hello.sh": "#!/bin/sh\necho hello from the script; cat /app/stamp\n",
    });
    const r = await build(tar, "app:1");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.lines.at(-1).status, "done", r.text);
    const out = await runOut("app:1");
    assert.match(out, /hello from the script/);
    assert.match(out, /built/);
  });

  it("an unchanged rebuild is all cache (and quick); a changed file busts from its step", async () => {
    const files = {
      Containerfile:
        'FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nCMD ["cat", "/b.txt"]\n',
      "a.txt": "first\n",
    };
    const first = await build(await context("cache", files), "cache:1");
    assert.equal(first.status, 200, first.text);
    const tar = await context("cache", files);
    const t0 = performance.now();
    const again = await build(tar, "cache:1");
    const ms = performance.now() - t0;
    assert.equal(again.status, 200, again.text);
    assert.equal(again.lines.filter((l) => l.status === "---> Using cache").length, 4, again.text);
    // Every step from the cache is what proves it; the bound only catches a rebuild that did the work anyway
    // (the first build runs three containers), with room for a loaded machine.
    assert.ok(ms < 5000, `warm rebuild took ${ms} ms`);
    const changed = await build(await context("cache", { ...files, "a.txt": "second\n" }), "cache:2");
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.lines.filter((l) => l.status === "---> Using cache").length, 1, changed.text);
    assert.equal((await runOut("cache:2")).trim(), "second");
  });

  it("multi-stage: COPY --from an earlier stage", async () => {
    const tar = await context("multi", {
      Containerfile:
        'FROM busybox AS builder\nRUN mkdir /out && echo artefact > /out/file\nFROM busybox\nCOPY --from=builder /out/file /final\nCMD ["cat", "/final"]\n',
    });
    const r = await build(tar, "multi:1");
    assert.equal(r.status, 200, r.text);
    assert.equal((await runOut("multi:1")).trim(), "artefact");
  });

  it("an unknown instruction: 400 naming the line, and no image", async () => {
    const r = await build(await context("bad", { Containerfile: "FROM busybox\nRUNN echo x\n" }), "bad:1");
    assert.equal(r.status, 400, r.text);
    assert.match(r.text, /line 2/);
    assert.equal((await d.request("GET", "/1.0/images/bad:1")).status, 404);
  });

  it(".containerignore leaves files out of the context", async () => {
    const tar = await context("ign", {
      Containerfile: 'FROM busybox\nCOPY . /ctx/\nCMD ["ls", "/ctx"]\n',
      ".containerignore": "secret.txt\n",
      "secret.txt": "s\n",
      "kept.txt": "k\n",
    });
    const r = await build(tar, "ign:1");
    assert.equal(r.status, 200, r.text);
    const out = await runOut("ign:1");
    assert.match(out, /kept\.txt/);
    assert.doesNotMatch(out, /secret\.txt/);
  });

  it("COPY wildcards, --chown names, ADD of tar archives; bad inputs name their line", async () => {
    const ctxDir = join(tmp, "wild");
    await mkdir(join(ctxDir, "arch", "sub"), { recursive: true });
    await writeFile(join(ctxDir, "arch", "sub", "in.txt"), "from the tar\n");
    for (const [name, flag] of [
      ["a.tar", ""],
      ["a.tar.gz", "-z"],
      ["a.tar.zst", "--zstd"],
      ["a.tar.xz", "-J"],
    ] as const)
      assert.equal(
        spawnSync("tar", ["-c", ...(flag ? [flag] : []), "-f", join(ctxDir, name), "-C", join(ctxDir, "arch"), "."])
          .status,
        0,
      );
    await rm(join(ctxDir, "arch"), { recursive: true });
    const tar = await context("wild", {
      Containerfile: [
        "FROM busybox",
        "COPY --chown=nobody:nogroup *.sh /bin/",
        "COPY docs/*.txt /dst/",
        "COPY --chown=7:8 docs/a.txt /num.txt",
        "ADD a.tar /t0",
        "ADD a.tar.gz /t1/",
        "ADD a.tar.zst /t2",
        "ADD a.tar.xz /t3",
        "COPY a.tar.gz /kept.tar.gz",
        'CMD ["sh", "-c", "one.sh; two.sh; cat /dst/*; stat -c %u:%g /bin/one.sh /num.txt; cat /t0/sub/in.txt /t1/sub/in.txt /t2/sub/in.txt /t3/sub/in.txt; ls /dst /kept.tar.gz"]',
        "",
      ].join("\n"),
      "one.sh": "#!/bin/sh\necho one\n",
      "two.sh": "#!/bin/sh\necho two\n",
      "docs/a.txt": "A\n",
      "docs/b.txt": "B\n",
      "docs/c.md": "C\n",
    });
    const r = await build(tar, "wild:1");
    assert.equal(r.status, 200, r.text);
    const out = await runOut("wild:1");
    const text = out.replace(/\s+/g, ""); // log lines come without their newlines
    assert.match(text, /^onetwoAB65534:655347:8(fromthetar){4}/, out);
    assert.match(text, /kept\.tar\.gz/, out);
    assert.match(text, /a\.txtb\.txt/, out);
    assert.doesNotMatch(text, /c\.md/, out);

    const bad = async (name: string, line: string, re: RegExp) => {
      const b = await build(
        await context(name, { Containerfile: `FROM busybox\n${line}\n`, "x.sh": "x\n" }),
        `${name}:1`,
      );
      assert.ok(b.status !== 200 || b.lines.at(-1)?.error, b.text); // a 400, or an error line once streaming
      assert.match(b.text, re);
      assert.match(b.text, /line 2/);
      assert.equal((await d.request("GET", `/1.0/images/${name}:1`)).status, 404);
    };
    await bad("nomatch", "COPY *.txt /x/", /no file in the build context matches '\*\.txt'/);
    await bad("nouser", "COPY --chown=nosuch x.sh /x", /no user 'nosuch'/);
    await bad("nogrp", "COPY --chown=nobody:nosuch x.sh /x", /no group 'nosuch'/);
    await bad("url", "ADD https://example.com/f.tar.gz /x/", /not supported offline yet/);

    const evil = join(tmp, "evil");
    await mkdir(evil, { recursive: true });
    await writeFile(
      join(evil, "evil.tar"),
      await makeTar([
        { name: "ok.txt", body: "fine" },
        { name: "../../../escape.txt", body: "out" },
      ]),
    );
    const e = await build(await context("evil", { Containerfile: "FROM busybox\nADD evil.tar /x/\n" }), "evil:1");
    assert.ok(e.status !== 200 || e.lines.at(-1)?.error, e.text);
    assert.match(e.text, /line 2/);
    assert.match(e.text, /cannot extract the archive/);
    for (const p of [d.base, d.root, join(d.root, "tmp")]) assert.equal(existsSync(join(p, "escape.txt")), false, p);
    assert.deepEqual(
      (await readdir(join(d.root, "tmp"))).filter((n) => n.startsWith("add-")),
      [],
    );
  });

  it("commit: a running container's written file is in the new image", async () => {
    const c = await d.request("POST", "/1.0/containers", {
      image: "busybox",
      network: "none",
      cmd: ["sh", "-c", "echo committed > /note; sleep 60"],
    });
    assert.equal(c.status, 201, c.text);
    await d.request("POST", `/1.0/containers/${c.json.id}/start`);
    for (let i = 0; i < 50; i++) {
      const e = await d.request("POST", `/1.0/containers/${c.json.id}/exec`, { cmd: ["cat", "/note"] });
      if (e.status === 200 && /committed/.test(e.text)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await d.request("POST", `/1.0/containers/${c.json.id}/commit?ref=snap:1`);
    assert.equal(r.status, 201, r.text);
    await d.request("DELETE", `/1.0/containers/${c.json.id}?force=true`);
    assert.equal((await runOut("snap:1", ["cat", "/note"])).trim(), "committed");
  });
  it("health timings without a test keep the image's HEALTHCHECK test; with no HEALTHCHECK they are refused", async () => {
    const tar = await context("hc", {
      Containerfile: "FROM busybox\nHEALTHCHECK --interval=30s --retries=5 CMD test -f /tmp/ok\n",
    });
    assert.equal((await build(tar, "hc:1")).status, 200);
    const c = await d.request("POST", "/1.0/containers", {
      image: "hc:1",
      network: "none",
      cmd: ["sleep", "30"],
      healthcheck: { intervalMs: 500 },
    });
    assert.equal(c.status, 201, c.text);
    const got = await d.request("GET", `/1.0/containers/${c.json.id}`);
    assert.deepEqual(got.json.config.healthcheck, {
      test: ["CMD-SHELL", "test -f /tmp/ok"],
      intervalMs: 500,
      retries: 5,
    });
    await d.request("DELETE", `/1.0/containers/${c.json.id}?force=true`);
    const before = (await d.request("GET", "/1.0/containers?all=true")).json.length;
    const bad = await d.request("POST", "/1.0/containers", {
      image: "busybox",
      network: "none",
      healthcheck: { intervalMs: 500 },
    });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /no HEALTHCHECK.*--health-cmd/);
    assert.equal((await d.request("GET", "/1.0/containers?all=true")).json.length, before, "nothing left behind");
  });

  it("an image's VOLUME gets an anonymous volume filled with the image's files (Docker's copy-up), gone with rm -v", async () => {
    const tar = await context("vol", {
      Containerfile: [
        "FROM busybox",
        "RUN mkdir -p /data/sub && echo seed > /data/f && echo deep > /data/sub/g && chown 1000:1000 /data/f",
        "RUN ln -s /etc /data/link",
        "VOLUME /data",
        "",
      ].join("\n"),
    });
    assert.equal((await build(tar, "vol:1")).status, 200);
    const vols = join(d.root, "libct", "volumes");
    const list = () => (existsSync(vols) ? readdirSync(vols).sort() : []);
    const before = list();
    const sh =
      "grep ' /data ' /proc/self/mountinfo >/dev/null && echo mounted; cat /data/f /data/sub/g; stat -c %u /data/f; readlink /data/link; echo new > /data/w";
    const c = await d.request("POST", "/1.0/containers", { image: "vol:1", network: "none", cmd: ["sh", "-c", sh] });
    assert.equal(c.status, 201, c.text);
    const made = list().filter((v) => !before.includes(v));
    assert.equal(made.length, 1, `one volume for /data: ${made.join(", ")}`);
    assert.equal((await d.request("POST", `/1.0/containers/${c.json.id}/start`)).status, 204);
    assert.equal((await d.request("POST", `/1.0/containers/${c.json.id}/wait`)).json.exitCode, 0);
    const logs = (await d.request("GET", `/1.0/containers/${c.json.id}/logs`)).text;
    const out = logs
      .split("\n")
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { text: string }).text.replace(/\n$/, ""));
    assert.deepEqual(out, ["mounted", "seed", "deep", "1000", "/etc"]);
    const data = join(vols, made[0]!, "_data");
    assert.equal(readFileSync(join(data, "w"), "utf8"), "new\n", "the write went to the volume");
    // Listed as Docker's inspect lists it; the /etc files berthd binds are not.
    assert.deepEqual((await d.request("GET", `/1.0/containers/${c.json.id}`)).json.mounts, [
      { type: "volume", name: made[0], source: data, destination: "/data", rw: true },
    ]);
    assert.equal(readFileSync(join(data, "f"), "utf8"), "seed\n");
    // A mount of the request at the same path wins: no volume of the image's there.
    const own = await d.request("POST", "/1.0/containers", {
      image: "vol:1",
      network: "none",
      cmd: ["true"],
      mounts: [{ type: "tmpfs", target: "/data" }],
    });
    assert.equal(own.status, 201, own.text);
    assert.equal(list().filter((v) => !before.includes(v)).length, 1, "a tmpfs at /data: no second volume");
    assert.deepEqual(own.json.mounts, [{ type: "tmpfs", source: "", destination: "/data", rw: true }]);
    assert.equal((await d.request("DELETE", `/1.0/containers/${own.json.id}?force=true`)).status, 204);
    assert.equal((await d.request("DELETE", `/1.0/containers/${c.json.id}?volumes=true`)).status, 204);
    assert.deepEqual(list(), before, "rm -v removed the image's volume");
  });
});
