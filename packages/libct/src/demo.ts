/**
 * `npm run demo`: starts a limited app container and an unprivileged system container through libct
 * and shows, from inside, what isolation and limits they got. Leaves nothing behind unless --keep.
 */
import { defaultBusyboxCacheDir, ensureBusyboxImage } from "./image/busybox.js";
import { Libct } from "./lifecycle/libct.js";

const keep = process.argv.includes("--keep");
const say = (s: string) => process.stdout.write(`${s}\n`);
const indent = (s: string) => s.trimEnd().replace(/^/gm, "    ");

async function main(): Promise<void> {
  const image = await ensureBusyboxImage(defaultBusyboxCacheDir());
  const lib = await Libct.open();
  const h = lib.host;
  say(
    `host: kernel ${h.kernel.release}, cgroup ${h.cgroup.mode}, runtime ${lib.runtime.name} ${h.runtimes.find((r) => r.name === lib.runtime.name)?.version}, conmon ${h.conmon?.version}, criu ${h.criu?.version ?? "absent"}`,
  );

  for (const id of ["berth-demo-app", "berth-demo-sys"]) await lib.delete(id, { force: true }).catch(() => {});

  say(
    "\n== app container 'berth-demo-app': 128 MiB memory, 0.5 CPU, 64 pids, read-only root, Docker's seccomp profile",
  );
  await lib.create({
    id: "berth-demo-app",
    description: {
      kind: "app",
      rootfs: { path: image.rootfs, readonly: true },
      hostname: "demo-app",
      process: { args: ["/bin/sh", "-c", "echo started as PID $$; exec sleep 3600"], env: ["GREETING=hello"] },
      mounts: [{ type: "tmpfs", destination: "/tmp", sizeBytes: 16 << 20 }],
      limits: { memory: { limitBytes: 128 << 20 }, cpu: { cpus: 0.5 }, pids: { limit: 64 } },
      capabilities: { drop: ["NET_RAW"] },
    },
  });
  await lib.start("berth-demo-app");
  const probes: [string, string][] = [
    ["hostname and PID 1", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo"],
    [
      "memory limit (bytes)",
      "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ],
    ["pids limit", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"],
    ["write to the read-only root", "touch /x 2>&1; echo exit=$?"],
    ["write to /tmp (tmpfs)", "touch /tmp/x && echo ok"],
    ["seccomp: mount(2) is refused", "mount -t tmpfs none /mnt 2>&1; echo exit=$?"],
    ["processes", "ps -o pid,user,args"],
  ];
  for (const [title, cmd] of probes) {
    const r = await lib.exec("berth-demo-app", { args: ["/bin/sh", "-c", cmd] });
    say(`  ${title}:\n${indent(r.stdout + r.stderr)}`);
  }
  const st = await lib.stats("berth-demo-app");
  say(
    `  stats: memory ${st.memory?.usageBytes} B of ${st.memory?.limitBytes}, pids ${st.pids?.current}/${st.pids?.limit}, cpu ${st.cpu?.totalNs} ns`,
  );
  say(`  log: ${(await lib.logs("berth-demo-app")).map((e) => `[${e.stream}] ${e.text}`).join(" | ")}`);

  say("\n== system container 'berth-demo-sys': its own user namespace, root inside is unprivileged outside");
  await lib.create({
    id: "berth-demo-sys",
    description: {
      kind: "system",
      rootfs: { path: image.rootfs },
      hostname: "demo-sys",
      process: { args: ["/bin/sleep", "3600"] },
    },
  });
  await lib.start("berth-demo-sys");
  const sys = await lib.state("berth-demo-sys");
  const inside = await lib.exec("berth-demo-sys", {
    args: ["/bin/sh", "-c", "echo uid inside: $(id -u); echo uid_map: $(cat /proc/self/uid_map)"],
  });
  say(indent(inside.stdout));
  const hostUid = sys.pid
    ? /^Uid:\s+(\d+)/m.exec(
        await import("node:fs/promises").then((fs) => fs.readFile(`/proc/${sys.pid}/status`, "utf8")),
      )?.[1]
    : "?";
  say(`    uid of its PID 1 on the host: ${hostUid}`);

  if (keep) {
    say("\n--keep: both containers stay running; they outlive this process (conmon holds them).");
    return;
  }
  for (const id of ["berth-demo-app", "berth-demo-sys"]) {
    const t = performance.now();
    const exit = await lib.stop(id, { timeoutMs: 1000 });
    await lib.delete(id);
    say(`\nstopped and deleted ${id} (exit ${exit?.exitCode}) in ${(performance.now() - t).toFixed(0)} ms`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.message}\n`);
  process.exit(1);
});
