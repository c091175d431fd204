/**
 * A Libct on a fresh temp root for one integration test, with leak checks on the way out:
 *
 *   it("runs", needsRoot, async (t) => {
 *     const env = await openTestLibct(t);        // t.after() force-deletes and checks for leaks
 *     const id = env.id("echo");                  // unique per run, tracked for the leak check
 *     await env.lib.create({ id, description: env.app({ process: { args: ["/bin/true"] } }) });
 *   });
 *
 * After the test, every container in the root is force-deleted, then the test fails if anything of any id it
 * handed out (or any container found in the root) is left: a cgroup `/sys/fs/cgroup/<hierarchy>/berth/<id>`, a
 * conmon or runc process whose command line names the temp root, or runc state under `<runRoot>/runc`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { type BusyboxImage, defaultBusyboxCacheDir, ensureBusyboxImage } from "../image/busybox.js";
import { Libct } from "../lifecycle/libct.js";
import type { ContainerDescription } from "../model/description.js";
import type { HostFacts } from "../model/host.js";
import { drainRemovals } from "../system/trash.js";

export interface TestLibct {
  readonly lib: Libct;
  readonly root: string;
  readonly runRoot: string;
  readonly image: BusyboxImage;
  /** A fresh container id `<prefix>-<random>`, remembered for the leak check. */
  id(prefix: string): string;
  /** An app description on the shared busybox rootfs (read-only: the rootfs is shared), merged with `over`. */
  app(over?: Partial<ContainerDescription>): ContainerDescription;
  /** Everything this test leaked, as readable lines; [] when clean. Used by the after hook, and by tests mid-way. */
  leaks(ids?: readonly string[]): Promise<string[]>;
}

let hostFacts: HostFacts | undefined;
let busybox: Promise<BusyboxImage> | undefined;

/** Opens a Libct on a temp dir; pass the test context so cleanup and the leak check run in its `after`. */
export async function openTestLibct(t: TestContext): Promise<TestLibct> {
  // Short paths: conmon's attach socket path must fit in 107 bytes.
  const base = await mkdtemp(join(tmpdir(), "bt-"));
  const root = join(base, "r");
  const runRoot = join(base, "x");
  busybox ??= ensureBusyboxImage(defaultBusyboxCacheDir());
  const image = await busybox;
  const lib = await Libct.open({ root, runRoot, ...(hostFacts ? { host: hostFacts } : {}) });
  hostFacts = lib.host;
  const handedOut = new Set<string>();

  const env: TestLibct = {
    lib,
    root,
    runRoot,
    image,
    id(prefix) {
      const id = `${prefix}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 7)}`;
      handedOut.add(id);
      return id;
    },
    app(over = {}) {
      return {
        kind: "app",
        rootfs: { path: image.rootfs, readonly: true },
        process: { args: ["/bin/true"] },
        ...over,
      };
    },
    leaks: (ids) => findLeaks(base, runRoot, ids ?? [...handedOut]),
  };

  t.after(async () => {
    const stored = await readdir(join(root, "containers")).catch(() => [] as string[]);
    const problems: string[] = [];
    for (const id of stored) {
      handedOut.add(id);
      await lib.delete(id, { force: true }).catch((err: Error) => problems.push(`delete ${id}: ${err.message}`));
    }
    // A monitor whose container has exited ends on its own a moment after the delete: give stragglers 5 s
    // (on a loaded machine conmon can still be writing the exit file); what is left after that leaked.
    let leaks = await findLeaks(base, runRoot, [...handedOut]);
    for (const deadline = Date.now() + 5000; leaks.length > 0 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      leaks = await findLeaks(base, runRoot, [...handedOut]);
    }
    problems.push(...leaks);
    await drainRemovals(); // deleted containers' directories are still being recycled in the trash
    await rm(base, { recursive: true, force: true });
    if (problems.length) throw new Error(`leaked after the test:\n  ${problems.join("\n  ")}`);
  });
  return env;
}

/** Cgroups, conmon/runc processes, runc state and container dirs left behind by the containers `ids` of one test root. */
async function findLeaks(base: string, runRoot: string, ids: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) out.push(...leftoverCgroups(id).map((d) => `cgroup ${d}`));
  for (const p of processesMentioning(base)) {
    if (ids.some((id) => p.cmdline.includes(id))) out.push(`process ${p.pid}: ${p.cmdline}`);
  }
  const runcRoot = join(runRoot, "runc");
  if (existsSync(runcRoot)) {
    const list = runcList(runcRoot).filter((id) => ids.includes(id));
    if (list.length) out.push(`runc state: ${list.join(", ")}`);
  }
  const containers = await readdir(join(base, "r", "containers")).catch(() => [] as string[]);
  for (const id of containers.filter((c) => ids.includes(c))) out.push(`container dir ${id}`);
  return out;
}

/** `/sys/fs/cgroup/<hierarchy>/berth/<id>` (v1, hybrid) and `/sys/fs/cgroup/berth/<id>` (v2) that exist. */
export function leftoverCgroups(id: string): string[] {
  const out: string[] = [];
  const v2 = join("/sys/fs/cgroup/berth", id);
  if (existsSync(v2)) out.push(v2);
  for (const h of readdirSync("/sys/fs/cgroup")) {
    const dir = join("/sys/fs/cgroup", h, "berth", id);
    if (existsSync(dir)) out.push(dir);
  }
  return out;
}

/** conmon / runc / container processes whose command line names `needle` (the test's temp dir). */
export function processesMentioning(needle: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(join("/proc", name, "cmdline"), "utf8")
        .replaceAll("\0", " ")
        .trim();
    } catch {
      continue;
    }
    if (cmdline.includes(needle)) out.push({ pid: Number(name), cmdline });
  }
  return out;
}

/** Ids runc knows under `runcRoot`. */
export function runcList(runcRoot: string): string[] {
  const text = execFileSync("runc", ["--root", runcRoot, "list", "-q"], { encoding: "utf8" });
  return text.split("\n").filter(Boolean);
}

/** The host PID of `id`'s init, failing when it has none. */
export async function initPid(lib: Libct, id: string): Promise<number> {
  const st = await lib.state(id);
  if (!st.pid) throw new Error(`container ${id} is ${st.status} and has no pid`);
  return st.pid;
}

/** Polls `check` every `intervalMs` until it returns a truthy value or `timeoutMs` passes (then throws). */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 5000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
