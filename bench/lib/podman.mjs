// A private podman for one benchmark: its own --root, --runroot and --tmpdir under a temp dir, this machine's
// settings (/work/shared/anchors/podman-containers.conf through CONTAINERS_CONF: runc, cgroupfs, file events,
// reachable rlimits), and the cached busybox rootfs imported as localhost/busybox. Nothing global changes.
//
//   const p = await startPodman();
//   await p.run(["run", "--rm", "--network=none", "localhost/busybox", "true"]);
//   await p.stop();   // rm -af, unmount what containers/storage left, remove the dir
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { busyboxImage } from "./berth.mjs";
import { killMentioning, run, unmountUnder, which } from "./procs.mjs";

const CONF = process.env.BERTH_BENCH_PODMAN_CONF ?? "/work/shared/anchors/podman-containers.conf";

export function podmanMissing() {
  if (!which("podman")) return "podman is not installed";
  if (!existsSync(CONF)) return `${CONF} is missing (podman needs it on this machine kind)`;
  return null;
}

export async function startPodman() {
  const missing = podmanMissing();
  if (missing) throw new Error(missing);
  const podman = which("podman");
  const base = await mkdtemp("/tmp/bp-");
  await mkdir(join(base, "tmp"));
  const env = { ...process.env, CONTAINERS_CONF: CONF };
  const global = ["--root", join(base, "root"), "--runroot", join(base, "run"), "--tmpdir", join(base, "tmp")];
  const p = {
    base,
    env,
    run: (args, opts = {}) => run(podman, [...global, ...args], { env, ...opts }),
    async stop() {
      try {
        await p.run(["rm", "-af", "-t", "0"]);
      } finally {
        killMentioning(base);
        unmountUnder(base);
        await rm(base, { recursive: true, force: true });
      }
    },
  };
  try {
    const image = await busyboxImage();
    const tar = await new Promise((resolve, reject) => {
      const c = spawn("tar", ["-C", image.rootfs, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
      const chunks = [];
      c.stdout.on("data", (b) => chunks.push(b));
      c.on("error", reject);
      c.on("exit", (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`tar exit ${code}`))));
    });
    await p.run(["import", "-", "localhost/busybox"], { input: tar });
  } catch (err) {
    await p.stop().catch(() => {});
    throw err;
  }
  return p;
}
