// lifecycle: create + start + wait + delete of `busybox true` through libct, against a raw `runc run` of
// the same rootfs (runc run = create + start + wait + delete in one process). Target: berth adds at most
// 15 ms to the median.
import { spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { busyboxImage, loadLibct } from "./lib/berth.mjs";

export const name = "lifecycle";
export const anchor = "runc run";
export const target = { maxOverheadMs: 15 };

/** Resolves a binary on PATH once, so each timed run does not pay for the lookup. */
function which(bin) {
  const res = spawnSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" });
  return res.status === 0 ? res.stdout.trim() : null;
}

/** Spawns and waits; rejects on a non-zero exit. stdio goes nowhere (runc's own output is not measured). */
function runQuiet(file, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: "ignore" });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${file} ${args.join(" ")}: exit ${code ?? signal}`)),
    );
  });
}

export async function setup(ctx) {
  if (process.getuid?.() !== 0) throw new Error("lifecycle needs root (runc creates namespaces and cgroups)");
  const runc = which("runc");
  if (!runc) throw new Error("runc is not installed: scripts/setup.sh");
  const image = await busyboxImage();
  ctx.state.runc = runc;
  ctx.state.rootfs = image.rootfs;

  // The anchor's bundle: `runc spec` edited for /bin/true, no terminal, the cached rootfs (read-only,
  // as runc spec sets it, so runs never write into the shared cache).
  const bundle = join(ctx.tmp, "bundle");
  await mkdir(bundle);
  await runQuiet(runc, ["spec", "--bundle", bundle]);
  const config = JSON.parse(await readFile(join(bundle, "config.json"), "utf8"));
  config.process.args = ["/bin/true"];
  config.process.terminal = false;
  config.root = { path: image.rootfs, readonly: true };
  await writeFile(join(bundle, "config.json"), JSON.stringify(config, null, 2));
  ctx.state.bundle = bundle;
  ctx.state.runcRoot = join(ctx.tmp, "runc-state");

  const { Libct, reason } = await loadLibct();
  if (!Libct) {
    ctx.skipSubject(reason);
    return;
  }
  ctx.state.lib = await Libct.open({ root: join(ctx.tmp, "libct") });
}

export async function subject(ctx) {
  const { lib, rootfs } = ctx.state;
  const id = ctx.uniqueId("bench-lc");
  const c = await lib.create({
    id,
    description: { kind: "app", rootfs: { path: rootfs }, process: { args: ["/bin/true"] } },
  });
  await (typeof c?.start === "function" ? c.start() : lib.start(id));
  const exit = await lib.wait(id);
  await lib.delete(id);
  if (exit?.exitCode !== 0) throw new Error(`berth: /bin/true exited ${JSON.stringify(exit)}`);
}

export async function anchorRun(ctx) {
  const { runc, runcRoot, bundle } = ctx.state;
  await runQuiet(runc, ["--root", runcRoot, "run", "--bundle", bundle, ctx.uniqueId("bench-runc")]);
}

export async function teardown(ctx) {
  const { lib, runc, runcRoot } = ctx.state;
  await (lib?.close ?? lib?.[Symbol.asyncDispose])?.call(lib);
  if (!runc || !runcRoot) return;
  // Anything a failed run left behind.
  const list = spawnSync(runc, ["--root", runcRoot, "list", "--quiet"], { encoding: "utf8" });
  for (const id of (list.stdout ?? "").split("\n").filter(Boolean)) {
    spawnSync(runc, ["--root", runcRoot, "delete", "--force", id], { stdio: "ignore" });
  }
}
