// api-run: create (start=true) + wait + delete of `busybox true` through berthd's REST API from a warm client
// (node:http keep-alive agent on the unix socket), against a raw `runc run` in the same run: the very anchor of
// `lifecycle` (runc on the config.json libct generates for busybox /bin/true, stdio to /dev/null). This is the
// engine's own overhead as an orchestrator sees it. Target: ratio <= 1.5.
import { berthMissing, startBerthd } from "./lib/daemon.mjs";
import * as lifecycle from "./lifecycle.mjs";

export const name = "api-run";
export const anchor = "runc run";
export const target = { maxRatio: 1.5 };
// A pair takes ~65 ms, and both sides vary by ±10 % from one run to the next on this machine kind: a median of
// 20 moved the ratio between 1.24 and 1.50 in one hour; 40 halves that spread at a cost of 1.5 s.
export const defaultRuns = 40;
export const defaultWarmup = 5;

export async function setup(ctx) {
  // lifecycle's setup builds the runc bundle (and opens libct, which it closes in its teardown).
  ctx.state.lc = { ...ctx, state: {} };
  await lifecycle.setup(ctx.state.lc);
  const missing = berthMissing();
  if (missing) return ctx.skipSubject(missing);
  ctx.state.d = await startBerthd();
  await ctx.state.d.bootstrapBusybox();
}

export async function subject(ctx) {
  const { d } = ctx.state;
  const c = await d.expect(201, "POST", "/1.0/containers", {
    image: "busybox",
    cmd: ["true"],
    network: "none",
    start: true,
  });
  const exit = await d.expect(200, "POST", `/1.0/containers/${c.id}/wait`);
  await d.expect(204, "DELETE", `/1.0/containers/${c.id}`);
  if (exit?.exitCode !== 0) throw new Error(`berth: true exited ${JSON.stringify(exit)}`);
}

export const anchorRun = (ctx) => lifecycle.anchorRun(ctx.state.lc);

export async function teardown(ctx) {
  try {
    await ctx.state.d?.stop();
  } finally {
    if (ctx.state.lc) await lifecycle.teardown(ctx.state.lc);
  }
}
