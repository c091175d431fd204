// rebuild: `POST /1.0/images/build` of an unchanged context with a warm layer cache (the context tarred
// each run, as the CLI does). No peer does the same job here, so there is no anchor: only berth's median
// is judged. Target: median < 1 s.
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { berthMissing, startBerthd } from "./lib/daemon.mjs";

export const name = "rebuild";
export const anchor = "none";
export const target = { maxMedianMs: 1000 };

const CONTAINERFILE = `FROM busybox
ARG VERSION=1
ENV APP_VERSION=$VERSION
WORKDIR /app
COPY app/ /app/
RUN echo built > /app/stamp && ls /app > /app/listing
COPY run.sh /usr/local/bin/run.sh
EXPOSE 8080
LABEL org.opencontainers.image.title=rebuild-bench
CMD ["/usr/local/bin/run.sh"]
`;

function build(socket, tar) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        socketPath: socket,
        method: "POST",
        path: "/1.0/images/build?t=bench%2Frebuild%3A1",
        headers: { "content-type": "application/x-tar", "content-length": tar.length },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(tar);
  });
}

const tarContext = (dir) => {
  const r = spawnSync("tar", ["-c", "-C", dir, "."], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  return r.stdout;
};

export async function setup(ctx) {
  const missing = berthMissing();
  if (missing) throw new Error(missing);
  const d = await startBerthd();
  ctx.state.d = d;
  await d.bootstrapBusybox();
  const dir = join(d.base, "ctx");
  await mkdir(join(dir, "app"), { recursive: true });
  await writeFile(join(dir, "Containerfile"), CONTAINERFILE);
  await writeFile(join(dir, "run.sh"), "#!/bin/sh\ncat /app/stamp\n", { mode: 0o755 });
  for (let i = 0; i < 200; i++) await writeFile(join(dir, "app", `f${i}.txt`), `file ${i}\n`.repeat(50));
  ctx.state.dir = dir;
  const t0 = Date.now();
  const r = await build(d.socket, tarContext(dir));
  if (r.status !== 200 || !r.text.includes('"done"')) throw new Error(`cold build: ${r.status} ${r.text.slice(-500)}`);
  ctx.log(`cold build in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

export async function subject(ctx) {
  const r = await build(ctx.state.d.socket, tarContext(ctx.state.dir));
  if (r.status !== 200 || !r.text.includes('"done"')) throw new Error(`rebuild: ${r.status} ${r.text.slice(-500)}`);
  const cached = r.text.split("\n").filter((l) => l.includes("Using cache")).length;
  if (cached !== 9) throw new Error(`rebuild: ${cached} of 9 steps cached:\n${r.text}`);
}

export const teardown = (ctx) => ctx.state.d?.stop();
