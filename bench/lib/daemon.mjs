// A private berthd for one benchmark (temp roots, temp socket), a warm API client over its unix socket
// (node:http with a keep-alive agent), and the spawned `berth` CLI bundle pointed at it.
//
//   const d = await startBerthd();            // spawns packages/daemon/dist/main.js, waits for the socket
//   await d.bootstrapBusybox();               // POST /1.0/images/bootstrap {"kind":"busybox"}
//   const r = await d.request("POST", "/1.0/containers", { image: "busybox", cmd: ["true"], start: true });
//   await d.cli(["run", "--rm", "--network", "none", "busybox", "true"]);
//   await d.stop();                           // force-removes every container, SIGTERMs berthd, removes the dir
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request as httpRequest } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { killMentioning, mapLimit, run, unmountUnder } from "./procs.mjs";

const repo = new URL("../..", import.meta.url).pathname;
export const BERTHD = join(repo, "packages/daemon/dist/main.js");
export const BERTH_CLI = join(repo, "packages/cli/dist/berth.cjs");

/** Why berthd or the CLI cannot be benchmarked (not built), or null. */
export function berthMissing() {
  if (!existsSync(BERTHD)) return `${BERTHD} is not built (npm run build)`;
  if (!existsSync(BERTH_CLI)) return `${BERTH_CLI} is not built (npm run build)`;
  return null;
}

export async function startBerthd() {
  const missing = berthMissing();
  if (missing) throw new Error(missing);
  // A short base: conmon's attach socket path (run-root/libct/s/<64-hex id>/attach) must fit in 107 bytes.
  const base = await mkdtemp("/tmp/bb-");
  const socket = join(base, "b.sock");
  const logFile = join(base, "berthd.log");
  const log = openSync(logFile, "a");
  const child = spawn(
    process.execPath,
    // BERTHD_NODE_ARGS: extra node flags for the daemon, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a run.
    // --max-semi-space-size=1 --no-sparkplug (and MALLOC_ARENA_MAX=1 below): as berthd's own shebang line
    // (packages/daemon/src/main.ts) starts it.
    [
      "--max-semi-space-size=1",
      "--no-sparkplug",
      ...(process.env.BERTHD_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
      BERTHD,
      "--root",
      join(base, "r"),
      "--run-root",
      join(base, "x"),
      "--socket",
      socket,
      "--log-level",
      "warn",
    ],
    // MALLOC_ARENA_MAX=1: as the shebang line too.
    { stdio: ["ignore", "ignore", log], env: { ...process.env, MALLOC_ARENA_MAX: "1" } },
  );
  closeSync(log);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const env = { ...process.env, BERTH_HOST: `unix://${socket}` };

  const request = (method, path, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = httpRequest(
        {
          socketPath: socket,
          agent,
          method,
          path,
          headers:
            payload === undefined
              ? {}
              : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, text, json });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });

  /** Like request, but rejects unless the status is `want`. */
  const expect = async (want, method, path, body) => {
    const r = await request(method, path, body);
    if (r.status !== want) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 500)}`);
    return r.json;
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`berthd exited ${child.exitCode}: ${readFileSync(logFile, "utf8")}`);
    if (existsSync(socket)) {
      const ok = await request("GET", "/1.0").then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
    }
    if (Date.now() > deadline) throw new Error(`berthd did not answer on ${socket} within 20 s`);
    await sleep(50);
  }

  const d = {
    base,
    socket,
    pid: child.pid,
    env,
    request,
    expect,
    /**
     * The CLI bundle executed as the installed `berth` is (through its own shebang line, which is part of how it
     * starts); resolves with stdout, rejects on a non-zero exit.
     */
    cli: (args, opts = {}) => run(BERTH_CLI, args, { env, ...opts }),
    async bootstrapBusybox() {
      const r = await request("POST", "/1.0/images/bootstrap", { kind: "busybox" });
      if (r.status !== 200 || /"error"/.test(r.text)) throw new Error(`bootstrap busybox: ${r.status} ${r.text}`);
    },
    /** Ids of every container berthd knows. */
    async ids() {
      const list = await expect(200, "GET", "/1.0/containers?all=true");
      return list.map((c) => c.id);
    },
    /** Force-removes every container (`limit` at a time). */
    async removeAll(limit = 16) {
      await mapLimit(await d.ids(), limit, (id) => expect(204, "DELETE", `/1.0/containers/${id}?force=true`));
    },
    async stop() {
      try {
        if (child.exitCode === null) await d.removeAll();
      } finally {
        agent.destroy();
        if (child.exitCode === null) {
          const gone = new Promise((r) => child.once("exit", r));
          child.kill("SIGTERM");
          await Promise.race([gone, sleep(10_000)]);
          if (child.exitCode === null) child.kill("SIGKILL");
        }
        killMentioning(base); // conmons of a failed run
        unmountUnder(base);
        await rm(base, { recursive: true, force: true });
      }
    },
  };
  return d;
}
