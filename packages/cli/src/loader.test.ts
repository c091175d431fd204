/**
 * The `berth` executable's loader (dist/berth.cjs, written by scripts/bundle.mjs): it compiles the bundle with
 * V8's code cache: each command's own, written by its first successful run, and a shared one until then. A copy
 * of the built loader and bundle in a temp dir, against a real berthd.
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BUNDLE, cliSkipReason, type Result, TestBerthd } from "./testing/berthd.js";

describe("the berth loader's code caches", { skip: cliSkipReason(), timeout: 120_000 }, () => {
  let d: TestBerthd;
  let dir: string;
  /** The cache files there are: berth-main.cjs.<stamp>[.<command>].v8cache, by command ("" for the shared one). */
  const caches = () => {
    const found = new Map<string, string>();
    for (const f of readdirSync(dir)) {
      const m = /^berth-main\.cjs\.[0-9a-z]+-[0-9a-z]+-[0-9a-z]+(?:\.([a-z]+))?\.v8cache$/.exec(f);
      if (m) found.set(m[1] ?? "", join(dir, f));
      else assert.ok(!f.includes("v8cache"), `unexpected cache file ${f}`);
    }
    return found;
  };
  const cache = (command = "") => caches().get(command) ?? join(dir, "(none)");
  const stamp = (file: string) => {
    const s = statSync(file);
    return `${s.ino}:${s.mtimeMs}`;
  };
  const berth = (...args: string[]) =>
    new Promise<Result>((resolve) => {
      execFile(
        process.execPath,
        [join(dir, "berth.cjs"), ...args],
        { env: { ...process.env, BERTH_HOST: `unix://${d.socket}` }, timeout: 60_000 },
        (err, out, errOut) =>
          resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out, err: errOut }),
      );
    });

  before(async () => {
    d = await TestBerthd.start("bl-");
    assert.equal((await d.berth("image", "bootstrap", "busybox")).code, 0);
    dir = mkdtempSync(join(tmpdir(), "berth-loader-"));
    for (const f of ["berth.cjs", "berth-main.cjs"]) copyFileSync(join(dirname(BUNDLE), f), join(dir, f));
  });

  after(async () => {
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("writes a command's own cache after its first successful run only, and uses it as it is afterwards", async () => {
    // Help and failures compile only part of a command's path: they write the shared cache (missing so far).
    const help = await berth("run", "--help");
    assert.equal(help.code, 0, help.err);
    assert.equal(existsSync(cache("run")), false, "run --help wrote run's cache");
    assert.ok(existsSync(cache()), "run --help did not write the missing shared cache");
    const shared = stamp(cache());
    const psHelp = await berth("ps", "-h");
    assert.equal(psHelp.code, 0, psHelp.err);
    assert.equal(existsSync(cache("ps")), false, "ps -h wrote ps's cache");
    const bad = await berth("run", "--no-such-flag", "busybox", "true");
    assert.notEqual(bad.code, 0);
    assert.equal(existsSync(cache("run")), false, "a failed run wrote run's cache");

    const ok = await berth("run", "--rm", "--network", "none", "busybox", "echo", "cached");
    assert.deepEqual([ok.code, ok.out], [0, "cached\n"], ok.err);
    assert.ok(statSync(cache("run")).size > 10_000, "run's cache is missing or empty");

    // Accepted by V8 from now on: a cache that is missing or rejected is written again at exit.
    const before = stamp(cache("run"));
    const again = await berth("run", "--rm", "--network", "none", "busybox", "echo", "again");
    assert.deepEqual([again.code, again.out], [0, "again\n"], again.err);
    assert.equal(stamp(cache("run")), before, "run's cache was rejected and written again");

    const v = await berth("version", "--format", "{{.Client.Version}}");
    assert.deepEqual([v.code, v.out], [0, "0.1.0\n"], v.err);
    const version = stamp(cache("version"));
    assert.equal((await berth("version")).code, 0);
    assert.equal(stamp(cache("version")), version, "version's cache was rejected and written again");
    assert.equal(stamp(cache()), shared, "a command with a cache of its own wrote the shared one");
  });

  it("gives what is not a command the shared cache, and writes none for it", async () => {
    const before = [...caches().values()].map(stamp);
    const r = await berth("--no-such-global-flag");
    assert.notEqual(r.code, 0);
    const bare = await berth();
    assert.equal(bare.code, 0, bare.err);
    assert.deepEqual([...caches().values()].map(stamp), before);
  });

  it("never runs code cached from a bundle that was replaced, even by one of the same length", async () => {
    assert.equal((await berth("version", "--format", "{{.Client.Version}}")).out.trim(), "0.1.0");
    assert.ok(caches().has("version"));
    // V8 checks a cache against the length of its source only: an upgrade of the same length.
    const main = join(dir, "berth-main.cjs");
    const old = readFileSync(main, "utf8");
    const upgraded = old.replace('version="0.1.0"', 'version="9.9.9"');
    assert.notEqual(upgraded, old, 'the bundle no longer holds version="0.1.0": update this test');
    assert.equal(upgraded.length, old.length);
    writeFileSync(main, upgraded);
    const v = await berth("version", "--format", "{{.Client.Version}}");
    assert.deepEqual([v.code, v.out.trim()], [0, "9.9.9"], v.err);
    // The old bundle's caches went when the new one's was written.
    assert.deepEqual([...caches().keys()], ["version"]);
    const ok = await berth("run", "--rm", "--network", "none", "busybox", "true");
    assert.equal(ok.code, 0, ok.err);
    assert.deepEqual([...caches().keys()].sort(), ["run", "version"]);
  });
});
