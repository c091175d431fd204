/**
 * Test images without internet: a minimal busybox rootfs built from the host's static busybox,
 * and an OCI image layout of it, cached once per checkout.
 *
 * ```ts
 * const img = await ensureBusyboxImage(defaultBusyboxCacheDir());
 * // img.rootfs: a rootfs directory (do not write into it; it is shared)
 * // img.layout + img.ref: an OCI layout usable as `umoci unpack --image ${img.layout}:${img.ref.tag}`
 * ```
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import {
  access,
  chmod,
  copyFile,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LibctError } from "../errors.js";
import { type CommandRunner, ProcessRunner } from "../system/command.js";
import { writeOciLayout } from "./layout.js";

/** Where Debian's busybox-static installs the binary. */
export const DEFAULT_BUSYBOX = "/bin/busybox";

const SETUP_HINT = "install busybox-static: scripts/setup.sh";

export interface BusyboxOptions {
  /** The busybox binary to copy; must be statically linked. Default /bin/busybox (Debian's busybox-static). */
  readonly busybox?: string;
  /** Runs `busybox --list-full`; injectable for tests. Default: a ProcessRunner. */
  readonly runner?: CommandRunner;
}

/**
 * The ELF interpreter (PT_INTERP) of an executable, or null when it is statically linked.
 * Rejects with "invalid" when the file is not an ELF executable.
 */
export async function elfInterpreter(path: string): Promise<string | null> {
  const fh = await open(path, "r");
  try {
    const ident = Buffer.alloc(64);
    const { bytesRead } = await fh.read(ident, 0, 64, 0);
    if (bytesRead < 52 || ident.readUInt32BE(0) !== 0x7f454c46) {
      throw new LibctError("invalid", `${path} is not an ELF executable`);
    }
    const is64 = ident[4] === 2;
    const le = ident[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u64 = (b: Buffer, o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
    const phoff = is64 ? u64(ident, 0x20) : u32(ident, 0x1c);
    const phentsize = u16(ident, is64 ? 0x36 : 0x2a);
    const phnum = u16(ident, is64 ? 0x38 : 0x2c);
    if (phnum === 0 || phentsize < (is64 ? 56 : 32)) return null;
    const table = Buffer.alloc(phentsize * phnum);
    await fh.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const ph = table.subarray(i * phentsize, (i + 1) * phentsize);
      if (u32(ph, 0) !== 3 /* PT_INTERP */) continue;
      const offset = is64 ? u64(ph, 0x08) : u32(ph, 0x04);
      const size = is64 ? u64(ph, 0x20) : u32(ph, 0x10);
      const name = Buffer.alloc(Math.min(size, 4096));
      await fh.read(name, 0, name.length, offset);
      return name.toString("latin1").replace(/\0.*$/s, "");
    }
    return null;
  } finally {
    await fh.close();
  }
}

/** Rejects with "unavailable" when `busybox` is missing and "invalid" when it is not a static ELF binary. */
async function checkBusybox(busybox: string): Promise<void> {
  try {
    await access(busybox, constants.X_OK);
  } catch (err) {
    throw new LibctError("unavailable", `busybox not found or not executable at ${busybox}; ${SETUP_HINT}`, {
      cause: err,
    });
  }
  const interp = await elfInterpreter(busybox).catch((err: unknown) => {
    throw err instanceof LibctError
      ? new LibctError("invalid", `${err.message}; ${SETUP_HINT}`, { cause: err })
      : new LibctError("unavailable", `cannot read ${busybox}; ${SETUP_HINT}`, { cause: err });
  });
  if (interp !== null) {
    throw new LibctError(
      "invalid",
      `${busybox} is dynamically linked (interpreter ${interp}) and would not run inside a bare rootfs; ${SETUP_HINT}`,
    );
  }
}

const PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP = "root:x:0:\nnogroup:x:65534:\n";
const HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
const PROFILE = 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1="\\h:\\w\\$ "\n';

/**
 * busybox init as PID 1 of a system container. The runtime already mounts /proc, /sys, /dev, /dev/pts,
 * /dev/shm and sets the hostname, so sysinit mounts nothing and leaves the hostname alone.
 * SIGTERM (runc kill) runs the shutdown actions, then init kills the rest and calls reboot(2),
 * which in a PID namespace ends the container; busybox init's own pauses make that take about 3 s.
 */
const INITTAB = `# busybox init for a berth system container: the runtime provides /proc, /sys, /dev and the hostname.
# The root may be read-only: create what is missing where it can, quietly.
::sysinit:/bin/sh -c 'mkdir -p /run/lock /var/log 2>/dev/null; true'
# A login shell on the console; init respawns it when it exits. Without a console (terminal: false)
# init skips this entry instead of spinning.
console::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::restart:/sbin/init
::shutdown:/bin/echo "busybox init: shutting down"
::shutdown:/bin/sync
`;

interface Entry {
  readonly path: string;
  readonly mode: number;
}

/** Directories and their mode bits (set with chmod, so the umask does not matter). */
const DIRS: readonly Entry[] = [
  { path: "bin", mode: 0o755 },
  { path: "sbin", mode: 0o755 },
  { path: "usr", mode: 0o755 },
  { path: "usr/bin", mode: 0o755 },
  { path: "usr/sbin", mode: 0o755 },
  { path: "usr/local", mode: 0o755 },
  { path: "usr/local/bin", mode: 0o755 },
  { path: "etc", mode: 0o755 },
  { path: "dev", mode: 0o755 },
  { path: "proc", mode: 0o555 },
  { path: "sys", mode: 0o555 },
  { path: "run", mode: 0o755 },
  { path: "tmp", mode: 0o1777 },
  { path: "root", mode: 0o700 },
  { path: "home", mode: 0o755 },
  { path: "mnt", mode: 0o755 },
  { path: "var", mode: 0o755 },
  { path: "var/log", mode: 0o755 },
  { path: "var/tmp", mode: 0o1777 },
  { path: "var/spool", mode: 0o755 },
];

const FILES: readonly (Entry & { readonly text: string })[] = [
  { path: "etc/passwd", mode: 0o644, text: PASSWD },
  { path: "etc/group", mode: 0o644, text: GROUP },
  { path: "etc/hostname", mode: 0o644, text: "busybox\n" },
  { path: "etc/hosts", mode: 0o644, text: HOSTS },
  { path: "etc/resolv.conf", mode: 0o644, text: "" },
  { path: "etc/inittab", mode: 0o644, text: INITTAB },
  { path: "etc/profile", mode: 0o644, text: PROFILE },
  { path: "etc/shells", mode: 0o644, text: "/bin/sh\n/bin/ash\n" },
];

/** Applet names from `busybox --list-full` (e.g. "sbin/init", "usr/bin/env"): all go to /bin, sbin ones also to /sbin. */
async function applets(busybox: string, runner: CommandRunner): Promise<{ bin: string[]; sbin: string[] }> {
  const { stdout } = await runner.run(busybox, ["--list-full"]);
  const bin = new Set<string>();
  const sbin = new Set<string>();
  for (const line of stdout.split("\n")) {
    const full = line.trim();
    const name = full.split("/").pop();
    if (!name || name === "busybox" || name === "." || name === "..") continue;
    bin.add(name);
    if (full.startsWith("sbin/") || full.startsWith("usr/sbin/")) sbin.add(name);
  }
  if (bin.size === 0) throw new LibctError("invalid", `${busybox} --list-full listed no applets; ${SETUP_HINT}`);
  return { bin: [...bin].sort(), sbin: [...sbin].sort() };
}

/**
 * Writes a minimal rootfs into `dir` (created if missing; must be empty): /bin/busybox with a symlink per
 * applet, /sbin links for init, halt, poweroff, reboot..., /etc (passwd with root and nobody 65534, group,
 * hostname, hosts, empty resolv.conf, an inittab for busybox init as a system container), /tmp 1777 and
 * the usual empty mount points.
 *
 * Rejects with "unavailable" when busybox is missing, "invalid" when it is not statically linked (a dynamic
 * busybox would not run inside the rootfs), "conflict" when `dir` is not empty.
 */
export async function makeBusyboxRootfs(dir: string, opts: BusyboxOptions = {}): Promise<void> {
  const busybox = opts.busybox ?? DEFAULT_BUSYBOX;
  await checkBusybox(busybox);
  const list = await applets(busybox, opts.runner ?? new ProcessRunner());

  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) {
    throw new LibctError("conflict", `cannot make a busybox rootfs in ${dir}: the directory is not empty`);
  }
  await chmod(dir, 0o755);
  for (const d of DIRS) {
    await mkdir(join(dir, d.path), { recursive: true });
    await chmod(join(dir, d.path), d.mode);
  }
  await copyFile(busybox, join(dir, "bin/busybox"));
  await chmod(join(dir, "bin/busybox"), 0o755);
  for (const name of list.bin) await symlink("busybox", join(dir, "bin", name));
  for (const name of list.sbin) await symlink("../bin/busybox", join(dir, "sbin", name));
  await symlink("../../bin/busybox", join(dir, "usr/bin/env"));
  await symlink("../run", join(dir, "var/run"));
  for (const f of FILES) {
    await writeFile(join(dir, f.path), f.text);
    await chmod(join(dir, f.path), f.mode);
  }
}

/** The cached busybox image: a rootfs directory and an OCI layout holding the same tree. */
export interface BusyboxImage {
  /** A rootfs directory; shared between callers, so mount it read-only or use it as an overlay lower. */
  readonly rootfs: string;
  /** An OCI image layout directory. */
  readonly layout: string;
  readonly ref: { readonly name: string; readonly tag: string };
  readonly manifestDigest: string;
  readonly layerDigest: string;
}

/** `<repo>/.cache/busybox`, derived from this file's location (dist/image/busybox.js or src/image/busybox.ts). */
export function defaultBusyboxCacheDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "../../../../.cache/busybox");
}

/** Bumped whenever the rootfs or layout recipe changes, so old caches are rebuilt. */
const RECIPE_VERSION = 2;
const REF = { name: "busybox", tag: "latest" } as const;

interface ReadyFile {
  readonly recipe: number;
  readonly busybox: { readonly path: string; readonly size: number; readonly mtimeMs: number };
  readonly manifestDigest: string;
  readonly layerDigest: string;
}

async function readReady(cacheDir: string): Promise<ReadyFile | undefined> {
  try {
    return JSON.parse(await readFile(join(cacheDir, "ready.json"), "utf8")) as ReadyFile;
  } catch {
    return undefined;
  }
}

const isCode = (err: unknown, ...codes: string[]) => codes.includes((err as NodeJS.ErrnoException).code ?? "");

/**
 * Builds the busybox rootfs and its OCI layout (`busybox:latest`) once into `<cacheDir>/{rootfs,oci}` and
 * reuses them afterwards; rebuilds when the recipe or the host busybox changes. Safe when several processes
 * call it at once: each builds in a sibling temp dir and renames it onto `cacheDir` atomically; losers
 * discard their copy and use the winner's.
 */
export async function ensureBusyboxImage(cacheDir: string, opts: BusyboxOptions = {}): Promise<BusyboxImage> {
  const busybox = opts.busybox ?? DEFAULT_BUSYBOX;
  const image = (r: ReadyFile): BusyboxImage => ({
    rootfs: join(cacheDir, "rootfs"),
    layout: join(cacheDir, "oci"),
    ref: REF,
    manifestDigest: r.manifestDigest,
    layerDigest: r.layerDigest,
  });
  await checkBusybox(busybox);
  const st = await stat(busybox);
  const wanted = { path: busybox, size: st.size, mtimeMs: st.mtimeMs };
  const fresh = (r: ReadyFile | undefined): r is ReadyFile =>
    r !== undefined &&
    r.recipe === RECIPE_VERSION &&
    r.busybox.path === wanted.path &&
    r.busybox.size === wanted.size &&
    r.busybox.mtimeMs === wanted.mtimeMs;

  const existing = await readReady(cacheDir);
  if (fresh(existing)) return image(existing);

  const suffix = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const tmp = `${cacheDir}.tmp-${suffix}`;
  await mkdir(dirname(cacheDir), { recursive: true });
  try {
    await makeBusyboxRootfs(join(tmp, "rootfs"), opts);
    const digests = await writeOciLayout(join(tmp, "rootfs"), join(tmp, "oci"), REF, {
      cmd: ["/bin/sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    });
    const ready: ReadyFile = { recipe: RECIPE_VERSION, busybox: wanted, ...digests };
    await writeFile(join(tmp, "ready.json"), `${JSON.stringify(ready, null, 2)}\n`);

    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await rename(tmp, cacheDir);
        return image(ready);
      } catch (err) {
        if (!isCode(err, "ENOTEMPTY", "EEXIST")) throw err;
      }
      const current = await readReady(cacheDir);
      if (fresh(current)) return image(current); // another process won the race
      // A stale or incomplete cache: move it aside (atomic), then retry the rename.
      const old = `${cacheDir}.old-${suffix}-${attempt}`;
      try {
        await rename(cacheDir, old);
      } catch (err) {
        if (!isCode(err, "ENOENT")) throw err;
      }
      await rm(old, { recursive: true, force: true });
    }
    throw new LibctError("conflict", `cannot install the busybox image cache at ${cacheDir}: it keeps changing`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
