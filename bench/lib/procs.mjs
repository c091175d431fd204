// Process and mount helpers shared by the daemon-level benchmarks: spawning quietly, finding processes by
// their command line, summing PSS, unmounting what a tool left under a temp dir.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Resolves a binary on PATH once, so timed runs do not pay for the lookup. */
export function which(bin) {
  const res = spawnSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" });
  return res.status === 0 ? res.stdout.trim() : null;
}

/** Spawns and waits; resolves with stdout; rejects on a non-zero exit with stderr in the message. */
export function run(file, args, { env, input, stdout = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [input === undefined ? "ignore" : "pipe", stdout ? "pipe" : "ignore", "pipe"],
      ...(env ? { env } : {}),
    });
    let out = "";
    let err = "";
    child.stdout?.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (err += b));
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${file} ${args.join(" ")}: exit ${code ?? signal}: ${err.slice(-2000)}`)),
    );
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** All live processes as { pid, ppid, cmdline }. */
export function processes() {
  const list = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmdline = readFileSync(`/proc/${d}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      list.push({ pid: Number(d), ppid, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return list;
}

/** Processes whose command line mentions `needle`, plus all their descendants. */
export function processTree(needle) {
  const all = processes();
  const children = new Map();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const seen = new Map();
  const stack = all.filter((p) => p.pid !== process.pid && p.cmdline.includes(needle));
  while (stack.length > 0) {
    const p = stack.pop();
    if (seen.has(p.pid)) continue;
    seen.set(p.pid, p);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return [...seen.values()];
}

/** Proportional set size of a process in KiB (smaps_rollup), 0 when it is gone. */
export function pssKiB(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Sum of PSS (KiB) over processes. */
export const totalPssKiB = (procs) => procs.reduce((sum, p) => sum + pssKiB(p.pid), 0);

/** Mount points under `dir` (deepest first). */
export function mountsUnder(dir) {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => (l.split(" ")[4] ?? "").replaceAll("\\040", " "))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything under `dir`, so removing it cannot reach into a mounted filesystem. */
export function unmountUnder(dir) {
  for (const mp of mountsUnder(dir)) spawnSync("umount", ["-l", mp], { stdio: "ignore" });
}

/** SIGKILLs every process whose command line mentions `needle`, and their descendants (leftovers of a failed
 * run), by pid. */
export function killMentioning(needle) {
  for (const p of processTree(needle)) {
    if (p.pid === process.pid) continue;
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * Resolves once the host's CPUs have been nearly idle (under `busyShare` of their time) for `quietMs`, or after
 * `maxMs`. A clean-up that is outside the timing waits for it: berthd empties a removed container's directories
 * in the background, and podman's conmons run `podman container cleanup` after their containers exit, and that
 * work must not land in the next timed run (of either side).
 */
export async function hostQuiet({ quietMs = 300, busyShare = 0.1, maxMs = 10_000 } = {}) {
  const sample = () => {
    const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { total, idle: f[3] + f[4] }; // idle + iowait
  };
  const deadline = Date.now() + maxMs;
  let last = sample();
  for (let quiet = 0; quiet < quietMs && Date.now() < deadline; ) {
    await sleep(100);
    const now = sample();
    const total = now.total - last.total;
    const busy = total - (now.idle - last.idle);
    quiet = total > 0 && busy / total < busyShare ? quiet + 100 : 0;
    last = now;
  }
}
