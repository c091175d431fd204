/**
 * The one conformance suite every OciRuntime driver runs (STYLE.md convention 11). Needs root, cgroups and
 * the busybox rootfs; a driver that cannot run on this host passes `skip` with the reason.
 *
 * @example
 * runtimeSuite("runc", async (stateRoot) => new RuncRuntime({ binary: "/usr/sbin/runc", stateRoot, cmd }));
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cgroupDirs, removeCgroup } from "../cgroups/index.js";
import { isLibctError } from "../errors.js";
import { probeHost } from "../host/probe.js";
import { defaultBusyboxCacheDir, ensureBusyboxImage } from "../image/busybox.js";
import type { HostFacts } from "../model/host.js";
import { type OciSpec, specFromDescription } from "../spec/index.js";
import { sleep, until } from "../testing/wait.js";
import type { OciRuntime, RuntimeState } from "./runtime.js";

/** The parent cgroup of every conformance container: `/berth-conf/<id>`. */
export const CONFORMANCE_CGROUP_PARENT = "/berth-conf";

/** Init that exits 0 on SIGTERM: a plain `sleep` as PID 1 would ignore it (no handler, pid namespace init). */
const TERMINABLE = ["/bin/sh", "-c", 'trap "exit 0" TERM; while :; do sleep 0.1; done'];

/** Runs `binary argv` and collects its output (for execArgs, whose caller owns the stdio). */
function spawnCollect(
  binary: string,
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export const runtimeSuite = (name: string, open: (stateRoot: string) => Promise<OciRuntime>, skip?: string) =>
  describe(`${name} satisfies OciRuntime`, { skip: skip ?? false, timeout: 120_000 }, () => {
    let host: HostFacts;
    let rootfs: string;
    let dir: string;
    let runtime: OciRuntime;
    const ids: string[] = [];
    const tag = `${name}-${process.pid}`;
    let seq = 0;

    before(async () => {
      host = await probeHost();
      rootfs = (await ensureBusyboxImage(defaultBusyboxCacheDir())).rootfs;
      dir = await mkdtemp(join(tmpdir(), `berth-conf-${name}-`));
      runtime = await open(join(dir, "state"));
    });

    after(async () => {
      for (const id of ids) {
        await runtime?.delete(id, { force: true }).catch(() => {});
        const cg = `${CONFORMANCE_CGROUP_PARENT}/${id}`;
        await removeCgroup(host, cg).catch(async () => {
          await sleep(200);
          await removeCgroup(host, cg).catch(() => {});
        });
      }
      // Shared with other runs; removing fails harmlessly while another run still has containers there.
      if (host) await removeCgroup(host, CONFORMANCE_CGROUP_PARENT).catch(() => {});
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    /** Writes a bundle for a fresh id and returns both; the spec is Berth's own, from a busybox app description. */
    const bundle = async (args: string[] = TERMINABLE): Promise<{ id: string; path: string; spec: OciSpec }> => {
      const id = `conf-${tag}-${++seq}`;
      ids.push(id);
      const path = join(dir, "bundles", id);
      await mkdir(path, { recursive: true });
      const spec = specFromDescription(
        host,
        { kind: "app", rootfs: { path: rootfs, readonly: true }, process: { args } },
        { cgroupsPath: `${CONFORMANCE_CGROUP_PARENT}/${id}` },
      );
      await writeFile(join(path, "config.json"), JSON.stringify(spec));
      return { id, path, spec };
    };

    const created = async (args?: string[]) => {
      const b = await bundle(args);
      await runtime.create(b.id, b.path);
      return b;
    };
    const running = async (args?: string[]) => {
      const b = await created(args);
      await runtime.start(b.id);
      return b;
    };
    const status = async (id: string) => (await runtime.state(id))?.status;

    it("create leaves the container created, with an init pid", async () => {
      const { id, path } = await created();
      const st = await runtime.state(id);
      assert.ok(st);
      assert.equal(st.id, id);
      assert.equal(st.status, "created");
      assert.ok(st.pid > 0, `pid ${st.pid}`);
      assert.equal(st.bundle, path);
      assert.ok(existsSync(`/proc/${st.pid}`), "init process exists on the host");
    });

    it("start runs it", async () => {
      const { id } = await running();
      assert.equal(await status(id), "running");
    });

    it("pause freezes it and resume thaws it", async () => {
      const { id } = await running();
      await runtime.pause(id);
      assert.equal(await status(id), "paused");
      await runtime.resume(id);
      assert.equal(await status(id), "running");
    });

    it("kill SIGTERM stops an init that handles it", async () => {
      const { id } = await running();
      // start returns once init has exec'd the shell, possibly before the shell has set its trap; PID 1
      // ignores signals it has no handler for, so repeat SIGTERM until the trap has caught one.
      await until(
        "stopped by SIGTERM",
        async () => {
          if ((await status(id)) === "stopped") return true;
          await runtime.kill(id, "SIGTERM").catch(() => {});
          await sleep(200);
          return undefined;
        },
        10_000,
      );
    });

    it("delete forgets a stopped container", async () => {
      const { id } = await running();
      await runtime.kill(id, "KILL");
      await until("stopped", async () => ((await status(id)) === "stopped" ? true : undefined));
      await runtime.delete(id);
      assert.equal(await runtime.state(id), undefined);
      assert.ok(!(await runtime.list()).some((s) => s.id === id));
    });

    it("start runs the user process, twice in a row is refused", async () => {
      const { id } = await running(["/bin/sh", "-c", "echo started > /dev/null; exec sleep 100"]);
      const st = await runtime.state(id);
      assert.equal(st?.status, "running");
      // start returns once init has closed the exec fifo, which execve does as it begins: /proc shows an empty
      // cmdline until the new program is in place.
      await until("init exec'd the user process", async () =>
        /sleep/.test(await readFile(`/proc/${st?.pid}/cmdline`, "utf8")) ? true : undefined,
      );
      await assert.rejects(runtime.start(id), (err: Error) => /running|created|not/i.test(err.message));
    });

    it("forgetExited drops an exited container's record without the runtime; a created one is refused", async () => {
      const { id } = await running(["/bin/true"]);
      await until("stopped", async () => ((await status(id)) === "stopped" ? true : undefined));
      assert.equal(await runtime.forgetExited(id), true);
      assert.equal(await runtime.state(id), undefined);
      const c = await created();
      assert.equal(await runtime.forgetExited(c.id), false, "a created container still has an init waiting");
      assert.equal(await status(c.id), "created");
    });

    it("delete --force removes a running container", async () => {
      const { id } = await running();
      const pid = (await runtime.state(id))?.pid ?? 0;
      await runtime.delete(id, { force: true });
      assert.equal(await runtime.state(id), undefined);
      await until("init gone", async () => (existsSync(`/proc/${pid}/ns`) ? undefined : true));
    });

    it("state of an unknown id is undefined", async () => {
      assert.equal(await runtime.state(`nope-${tag}`), undefined);
    });

    it("kill, start, pause and delete of an unknown id reject with not-found", async () => {
      const id = `nope-${tag}`;
      const notFound = (err: unknown) => isLibctError(err, "not-found") && err.message.includes(id);
      await assert.rejects(runtime.kill(id, "SIGTERM"), notFound);
      await assert.rejects(runtime.start(id), notFound);
      await assert.rejects(runtime.pause(id), notFound);
      await assert.rejects(runtime.delete(id), notFound);
    });

    it("create of an existing id rejects with conflict", async () => {
      const { id, path } = await created();
      await assert.rejects(runtime.create(id, path), (err: unknown) => isLibctError(err, "conflict"));
      assert.equal(await status(id), "created");
    });

    it("list shows created containers", async () => {
      const a = await created();
      const b = await created();
      const listed = new Map((await runtime.list()).map((s: RuntimeState) => [s.id, s]));
      for (const { id } of [a, b]) {
        assert.equal(listed.get(id)?.status, "created", `${id} in ${[...listed.keys()].join(", ")}`);
        assert.ok((listed.get(id)?.pid ?? 0) > 0);
      }
    });

    it("update changes the pids limit in the cgroup", async () => {
      const { id } = await running();
      await runtime.update(id, { pids: { limit: 42 } });
      const dirs = cgroupDirs(host, `${CONFORMANCE_CGROUP_PARENT}/${id}`).filter((d) =>
        existsSync(join(d, "pids.max")),
      );
      assert.ok(dirs.length > 0, "the container has a pids cgroup");
      for (const d of dirs) assert.equal((await readFile(join(d, "pids.max"), "utf8")).trim(), "42");
    });

    it("update of an unknown id rejects with not-found", async () => {
      await assert.rejects(runtime.update(`nope-${tag}`, { pids: { limit: 42 } }), (err: unknown) =>
        isLibctError(err, "not-found"),
      );
    });

    it("execArgs runs a process in the container", async () => {
      const { id, path, spec } = await running();
      const processFile = join(path, "exec-process.json");
      await writeFile(
        processFile,
        JSON.stringify({
          ...spec.process,
          terminal: false,
          args: ["/bin/sh", "-c", "echo out-$((6*7)); echo err >&2"],
        }),
      );
      const res = await spawnCollect(runtime.binary, runtime.execArgs(id, { processFile }));
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, "out-42\n");
      assert.equal(res.stderr, "err\n");
    });

    it("execArgs reports the process's exit code", async () => {
      const { id, path, spec } = await running();
      const processFile = join(path, "exec-process.json");
      await writeFile(
        processFile,
        JSON.stringify({ ...spec.process, terminal: false, args: ["/bin/sh", "-c", "exit 7"] }),
      );
      const res = await spawnCollect(runtime.binary, runtime.execArgs(id, { processFile }));
      assert.equal(res.code, 7, res.stderr);
    });
  });
