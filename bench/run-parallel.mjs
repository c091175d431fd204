// run-parallel: wall time of 50 `berth run -d --network none busybox sleep 600` spawned at once (50 CLI
// processes against one private berthd), against 50 `podman run -d --network=none localhost/busybox sleep 600`
// at once, in the same run. Every container is force-removed after each run, outside the timing, and
// both clean-ups wait for the host to go quiet (berthd's background removal, podman's cleanup processes).
// Slow (each run starts 100 containers), so its own default is 7 timed runs and 1 warm-up; --runs overrides.
// Target: ratio <= 0.5.
import { berthMissing, startBerthd } from "./lib/daemon.mjs";
import { startPodman } from "./lib/podman.mjs";
import { hostQuiet } from "./lib/procs.mjs";

export const name = "run-parallel";
export const anchor = "50x podman run -d";
export const target = { maxRatio: 0.5 };
export const defaultRuns = 7;
export const defaultWarmup = 1;
const N = 50;

export async function setup(ctx) {
  if (process.getuid?.() !== 0) throw new Error("run-parallel needs root (berthd and podman run containers)");
  ctx.state.p = await startPodman();
  const missing = berthMissing();
  if (missing) return ctx.skipSubject(missing);
  ctx.state.d = await startBerthd();
  await ctx.state.d.bootstrapBusybox();
}

export async function subject(ctx) {
  const { d } = ctx.state;
  await Promise.all(
    Array.from({ length: N }, () => d.cli(["run", "-d", "--network", "none", "busybox", "sleep", "600"])),
  );
  return async () => {
    const ids = await d.ids();
    if (ids.length !== N) throw new Error(`berth: ${ids.length} containers after ${N} run -d`);
    await d.removeAll();
    await hostQuiet(); // the removed containers' directories are still being emptied in the background
  };
}

export async function anchorRun(ctx) {
  const { p } = ctx.state;
  await Promise.all(
    Array.from({ length: N }, () =>
      p.run(["run", "-d", "--network=none", "localhost/busybox", "sleep", "600"], { stdout: true }),
    ),
  );
  return async () => {
    await p.run(["rm", "-af", "-t", "0"]);
    await hostQuiet(); // conmon's `podman container cleanup` processes
  };
}

export async function teardown(ctx) {
  await Promise.allSettled([ctx.state.d?.stop(), ctx.state.p?.stop()]);
}
