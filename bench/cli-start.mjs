// cli-start: `berth version` (the spawned CLI bundle, with a private berthd answering, so it is the client's
// start-up plus one GET /1.0 round trip) against `node -e 0`, the floor of any Node CLI. Target: ratio <= 1.3.
import { berthMissing, startBerthd } from "./lib/daemon.mjs";
import { run } from "./lib/procs.mjs";

export const name = "cli-start";
export const anchor = "node -e 0";
export const target = { maxRatio: 1.3 };

export async function setup(ctx) {
  const missing = berthMissing();
  if (missing) return ctx.skipSubject(missing);
  ctx.state.d = await startBerthd();
}

export async function subject(ctx) {
  const out = await ctx.state.d.cli(["version"], { stdout: true });
  if (!out.includes("Server: berthd")) throw new Error(`berth version did not reach berthd: ${out}`);
}

export const anchorRun = () => run(process.execPath, ["-e", "0"]);

export const teardown = (ctx) => ctx.state.d?.stop();
