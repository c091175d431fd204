/**
 * A real berthd process on temp roots and a temp socket, for integration tests:
 *
 *   const d = await startTestDaemon();           // spawns dist/main.js, waits until the socket answers
 *   const r = await d.request("POST", "/1.0/containers", { image: "busybox", cmd: ["true"] });
 *   d.kill9(); await d.restart();                // same roots, new process
 *   await d.cleanup();                           // force-removes every container, stops berthd, checks for leaks
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isMountPoint } from "@berth/libct";
import { leftoverCgroups, processesMentioning } from "@berth/libct/testing/libct-env";

const MAIN = fileURLToPath(new URL("../main.js", import.meta.url));

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read replies field by field
  readonly json: any;
}

export interface TestDaemon {
  readonly base: string;
  readonly root: string;
  readonly runRoot: string;
  readonly socket: string;
  readonly logFile: string;
  readonly proc: () => ChildProcess;
  request(
    method: string,
    path: string,
    body?: unknown,
    opts?: { raw?: string | Buffer; headers?: Record<string, string> },
  ): Promise<Reply>;
  /** Opens a streaming request; `lines` yields each non-empty line until the caller stops. */
  stream(path: string): Promise<{ lines: AsyncGenerator<string>; close(): void }>;
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  terminate(): Promise<number | null>;
  restart(): Promise<void>;
  /** Mount points under the temp base (the container rootfs mounts); not the run root's own tmpfs (run-root.ts). */
  mounts(): string[];
  cleanup(): Promise<string[]>;
}

/**
 * `args`: extra berthd flags, e.g. ["--tcp", "127.0.0.1:PORT"]. `runRoot`: a run root of the test's own (the
 * socket goes in it), instead of one under the temp base.
 */
export async function startTestDaemon(opts: { args?: readonly string[]; runRoot?: string } = {}): Promise<TestDaemon> {
  // Short paths: conmon's attach socket path (run-root/libct/s/<64-hex id>/attach) must fit in 107 bytes.
  const base = await mkdtemp(join(tmpdir(), "bd-"));
  const root = join(base, "r");
  const runRoot = opts.runRoot ?? join(base, "x");
  const socket = join(runRoot, "berth.sock");
  const logFile = join(base, "berthd.log");
  let child: ChildProcess | undefined;

  const launch = async () => {
    const log = await open(logFile, "a");
    child = spawn(
      process.execPath,
      [MAIN, "--root", root, "--run-root", runRoot, "--log-level", "debug", ...(opts.args ?? [])],
      {
        stdio: ["ignore", "ignore", log.fd],
      },
    );
    await log.close();
    const exited = new Promise<never>((_, reject) =>
      child!.once("exit", (code) =>
        reject(new Error(`berthd exited with ${code}:\n${readFileSync(logFile, "utf8").slice(-3000)}`)),
      ),
    );
    exited.catch(() => {});
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await Promise.race([
        d.request("GET", "/1.0").then(
          (r) => r.status === 200,
          () => false,
        ),
        exited,
      ]);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`berthd did not answer on ${socket} within 15 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const d: TestDaemon = {
    base,
    root,
    runRoot,
    socket,
    logFile,
    proc: () => child!,
    request(method, path, body, opts = {}) {
      return new Promise((resolve, reject) => {
        const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
        const req = httpRequest(
          {
            socketPath: socket,
            method,
            path,
            headers: {
              ...(payload !== undefined
                ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
                : {}),
              ...opts.headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              let json: unknown;
              try {
                json = text ? JSON.parse(text) : undefined;
              } catch {
                json = undefined;
              }
              resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
            });
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        if (payload !== undefined) req.write(payload);
        req.end();
      });
    },
    stream(path) {
      return new Promise((resolve, reject) => {
        const req = httpRequest({ socketPath: socket, method: "GET", path }, (res) => {
          async function* lines(): AsyncGenerator<string> {
            let buf = "";
            for await (const chunk of res as AsyncIterable<Buffer>) {
              buf += chunk.toString("utf8");
              let nl = buf.indexOf("\n");
              while (nl >= 0) {
                const line = buf.slice(0, nl).trim();
                buf = buf.slice(nl + 1);
                if (line) yield line;
                nl = buf.indexOf("\n");
              }
            }
          }
          resolve({ lines: lines(), close: () => req.destroy() });
        });
        req.on("error", reject);
        req.end();
      });
    },
    async kill9() {
      const c = child!;
      const gone = new Promise((r) => c.once("exit", r));
      c.kill("SIGKILL");
      await gone;
    },
    async terminate() {
      const c = child!;
      if (c.exitCode !== null) return c.exitCode;
      const gone = new Promise<number | null>((r) => c.once("exit", (code) => r(code)));
      c.kill("SIGTERM");
      return gone;
    },
    restart: launch,
    mounts() {
      return readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((l) => l.split(" ")[4] ?? "")
        .filter((mp) => mp.startsWith(`${base}/`) && mp !== runRoot)
        .sort();
    },
    async cleanup() {
      const problems: string[] = [];
      const ids: string[] = [];
      if (child && child.exitCode === null && child.signalCode === null) {
        const list = await d.request("GET", "/1.0/containers?all=true");
        for (const c of (list.json ?? []) as { id: string; name: string }[]) {
          ids.push(c.id);
          const r = await d.request("DELETE", `/1.0/containers/${c.id}?force=true`);
          if (r.status !== 204) problems.push(`delete ${c.name}: ${r.status} ${r.text}`);
        }
        await d.terminate();
      }
      for (const mp of d.mounts()) problems.push(`mount ${mp}`);
      // Stopped with no container left, berthd unmounts the tmpfs it put on its run root.
      if (await isMountPoint(runRoot)) problems.push(`mount ${runRoot} (the run root's tmpfs)`);
      for (const p of processesMentioning(base)) problems.push(`process ${p.pid}: ${p.cmdline}`);
      for (const id of ids) for (const cg of leftoverCgroups(id)) problems.push(`cgroup ${cg}`);
      if (problems.length === 0) await rm(base, { recursive: true, force: true });
      return problems;
    },
  };
  await launch();
  return d;
}
