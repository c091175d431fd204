// lifecycle: create + start + wait + delete of `busybox true` through libct, against a raw `runc run` of
// the same rootfs (runc run = create + start + wait + delete in one process). Target: berth adds at most
// 15 ms to the median.
import { spawn, spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
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

const description = (rootfs) => ({
  kind: "app",
  rootfs: { path: rootfs, readonly: true },
  process: { args: ["/bin/true"] },
});

export async function setup(ctx) {
  if (process.getuid?.() !== 0) throw new Error("lifecycle needs root (runc creates namespaces and cgroups)");
  const runc = which("runc");
  if (!runc) throw new Error("runc is not installed: scripts/setup.sh");
  const image = await busyboxImage();
  ctx.state.runc = runc;
  ctx.state.rootfs = image.rootfs;

  const { Libct, reason } = await loadLibct();
  if (!Libct) throw new Error(reason);
  ctx.state.lib = await Libct.open({ root: join(ctx.tmp, "libct"), runRoot: join(ctx.tmp, "run") });

  // The anchor runs the very config.json libct generates (Docker's seccomp profile, masked paths, the
  // same mounts), so the difference is only what libct adds: spec building, conmon, bookkeeping.
  // (Docker's seccomp profile alone costs runc about 12 ms here against `runc spec`'s bare default.)
  const probeId = ctx.uniqueId("bench-spec");
  await ctx.state.lib.create({ id: probeId, description: description(image.rootfs) });
  const config = await ctx.state.lib.spec(probeId);
  await ctx.state.lib.delete(probeId, { force: true });
  const bundle = join(ctx.tmp, "bundle");
  await mkdir(bundle);
  config.linux.cgroupsPath = "/berth-bench-anchor";
  await writeFile(join(bundle, "config.json"), JSON.stringify(config, null, 2));
  ctx.state.bundle = bundle;
  ctx.state.runcRoot = join(ctx.tmp, "runc-state");
}

export async function subject(ctx) {
  const { lib, rootfs } = ctx.state;
  const id = ctx.uniqueId("bench-lc");
  const c = await lib.create({
    id,
    description: description(rootfs),
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
