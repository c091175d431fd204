// density: extra host memory per idle running container, with 200 `busybox sleep 600` containers (no network)
// running under a private berthd, against 200 under a private podman, in the same run (one side after the
// other, each removed before the next starts). Not a timing: one measurement.
//
// Memory is PSS (/proc/PID/smaps_rollup), so pages shared between processes (the busybox binary, conmon's
// libraries) are split between them rather than counted in full each time:
//   berth  = (PSS of berthd + every conmon + every container process, at 200) - (PSS of idle berthd before)
//   podman =  PSS of every conmon + every container process, at 200 (podman has no daemon)
// each divided by 200. The processes are those whose command line names the side's temp dir (berthd, conmon)
// and all their descendants (the containers). Target: ratio <= 1.0.
import { setTimeout as sleep } from "node:timers/promises";
import { berthMissing, startBerthd } from "./lib/daemon.mjs";
import { startPodman } from "./lib/podman.mjs";
import { mapLimit, processTree, totalPssKiB } from "./lib/procs.mjs";

export const name = "density";
export const anchor = "podman run -d";
export const target = { maxRatio: 1.0 };
const N = Number(process.env.BERTH_BENCH_DENSITY_N ?? 200);
/** Time for the containers and their monitors to go idle (lazy frees, berthd's GC) before measuring. */
const SETTLE_MS = 3000;

const mib = (kib) => Math.round((kib / 1024) * 1000) / 1000;

/** After SETTLE_MS, the processes under `needle` (command line naming it, and descendants) and their PSS. */
async function measureTree(needle) {
  await sleep(SETTLE_MS);
  const procs = processTree(needle);
  const kind = (p) =>
    /conmon/.test(p.cmdline.split(" ")[0]) ? "conmon" : p.cmdline.includes("main.js") ? "berthd" : "ctr";
  const part = (k) => totalPssKiB(procs.filter((p) => kind(p) === k));
  const parts = { berthd: part("berthd"), conmon: part("conmon"), containers: part("ctr") };
  return { procs: procs.length, kib: parts.berthd + parts.conmon + parts.containers, parts };
}

export async function setup() {
  if (process.getuid?.() !== 0) throw new Error("density needs root (berthd and podman run containers)");
  const missing = berthMissing();
  if (missing) throw new Error(missing);
}

export async function measure(ctx) {
  const ids = Array.from({ length: N }, (_, i) => i);

  // berth
  const d = await startBerthd();
  ctx.state.d = d;
  await d.bootstrapBusybox();
  const idle = await measureTree(d.base);
  let t0 = Date.now();
  await mapLimit(ids, 16, () =>
    d.expect(201, "POST", "/1.0/containers", { image: "busybox", cmd: ["sleep", "600"], network: "none", start: true }),
  );
  ctx.log(`berth: ${N} containers started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const full = await measureTree(d.base);
  const berthKiB = (full.kib - idle.kib) / N;
  ctx.log(
    `berth: idle berthd ${mib(idle.kib)} MiB; at ${N}: ${full.procs} processes, ${mib(full.kib)} MiB`,
    full.parts,
  );
  await d.stop();
  ctx.state.d = undefined;

  // podman
  const p = await startPodman();
  ctx.state.p = p;
  const before = await measureTree(p.base);
  t0 = Date.now();
  await mapLimit(ids, 8, () =>
    p.run(["run", "-d", "--network=none", "localhost/busybox", "sleep", "600"], { stdout: true }),
  );
  ctx.log(`podman: ${N} containers started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const pfull = await measureTree(p.base);
  const podmanKiB = (pfull.kib - before.kib) / N;
  ctx.log(`podman: at ${N}: ${pfull.procs} processes, ${mib(pfull.kib)} MiB`, pfull.parts);
  await p.stop();
  ctx.state.p = undefined;

  return {
    berth_mib_per_container: mib(berthKiB),
    anchor_mib_per_container: mib(podmanKiB),
    ratio: Math.round((berthKiB / podmanKiB) * 1000) / 1000,
    containers: N,
    berthd_idle_mib: mib(idle.kib),
    berth_total_mib: mib(full.kib),
    anchor_total_mib: mib(pfull.kib),
    // per container, MiB: berthd's growth, the conmons', the container processes'
    berth_parts_mib: {
      berthd: mib((full.parts.berthd - idle.kib) / N),
      conmon: mib(full.parts.conmon / N),
      containers: mib(full.parts.containers / N),
    },
    anchor_parts_mib: { conmon: mib(pfull.parts.conmon / N), containers: mib(pfull.parts.containers / N) },
  };
}

export async function teardown(ctx) {
  await Promise.allSettled([ctx.state.d?.stop(), ctx.state.p?.stop()]);
}
