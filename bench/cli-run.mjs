// cli-run: `berth run --rm --network none busybox true`, end to end (a spawned CLI bundle talking to a private
// berthd), against `podman run --rm --network=none localhost/busybox true` (private podman root, this machine's
// containers.conf) in the same run. Target: ratio <= 0.7.
import { berthMissing, startBerthd } from "./lib/daemon.mjs";
import { startPodman } from "./lib/podman.mjs";

export const name = "cli-run";
export const anchor = "podman run --rm";
export const target = { maxRatio: 0.7 };

export async function setup(ctx) {
  if (process.getuid?.() !== 0) throw new Error("cli-run needs root (berthd and podman run containers)");
  ctx.state.p = await startPodman();
  const missing = berthMissing();
  if (missing) return ctx.skipSubject(missing);
  ctx.state.d = await startBerthd();
  await ctx.state.d.bootstrapBusybox();
}

export const subject = (ctx) => ctx.state.d.cli(["run", "--rm", "--network", "none", "busybox", "true"]);

export const anchorRun = (ctx) => ctx.state.p.run(["run", "--rm", "--network=none", "localhost/busybox", "true"]);

export async function teardown(ctx) {
  await Promise.allSettled([ctx.state.d?.stop(), ctx.state.p?.stop()]);
}
