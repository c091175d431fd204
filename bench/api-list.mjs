// api-list: `GET /1.0/containers?all=true` from a warm client with 1,000 containers defined (created, not
// started). No peer does the same job here, so there is no anchor: only berth's median is judged.
// Target: median < 50 ms.
import { berthMissing, startBerthd } from "./lib/daemon.mjs";
import { mapLimit } from "./lib/procs.mjs";

export const name = "api-list";
export const anchor = "none";
export const target = { maxMedianMs: 50 };
const N = 1000;

export async function setup(ctx) {
  const missing = berthMissing();
  if (missing) throw new Error(missing);
  const d = await startBerthd();
  ctx.state.d = d;
  await d.bootstrapBusybox();
  const t0 = Date.now();
  await mapLimit(
    Array.from({ length: N }, (_, i) => i),
    16,
    (i) =>
      d.expect(201, "POST", "/1.0/containers", { image: "busybox", name: `list-${i}`, cmd: ["true"], network: "none" }),
  );
  ctx.log(`created ${N} containers in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

export async function subject(ctx) {
  const r = await ctx.state.d.request("GET", "/1.0/containers?all=true");
  if (r.status !== 200 || r.json.length !== N) throw new Error(`list: ${r.status}, ${r.json?.length} containers`);
}

export const teardown = (ctx) => ctx.state.d?.stop();
