/**
 * posix_spawn(3) for the monitor processes berthd starts, through koffi. Node's child_process forks the whole
 * daemon (libuv 1.46 uses fork(2)), which copies its page tables: 1.5–3.5 ms of event-loop time per container at
 * berthd's size. glibc's posix_spawn uses clone(CLONE_VM|CLONE_VFORK) and costs a fraction of that. The call
 * itself runs on a worker thread (koffi's async call): the caller waits while the vforked child runs up to its
 * exec, which on a busy host means waiting for a CPU: 3-6 ms per container under `bench run-parallel`, and
 * 0.6-0.8 ms off each `bench api-run` cycle once it overlaps with the rest of the create.
 *
 * The child gets: stdin and stdout on /dev/null, stderr and fd 3 on pipes read here (net.Socket on the read
 * ends), its own session (setsid), every signal at its default disposition and none blocked (Node ignores
 * SIGPIPE; a container must not inherit that), and `cwd`. The child that exits is reaped here by pid (waitpid
 * with WNOHANG), since libuv reaps only its own children. `spawnDetached` returns null when koffi or a libc
 * symbol is unavailable; callers then use child_process.
 */
import { Socket } from "node:net";
import { koffiLibc } from "./syscall.js";

type Fn = ((...args: unknown[]) => number) & { async(...args: unknown[]): void };

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_CLOEXEC = 0x80000;
const WNOHANG = 1;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
/** glibc's sizes on 64-bit Linux are 80 (file actions), 336 (attributes) and 128 (sigset_t); room to spare. */
const FILE_ACTIONS_SIZE = 256;
const ATTR_SIZE = 512;
const SIGSET_SIZE = 128;

let libc:
  | {
      spawn: Fn;
      faInit: Fn;
      faDup2: Fn;
      faOpen: Fn;
      faChdir: Fn;
      faDestroy: Fn;
      attrInit: Fn;
      attrFlags: Fn;
      attrSigdefault: Fn;
      attrSigmask: Fn;
      attrDestroy: Fn;
      sigemptyset: Fn;
      pipe2: Fn;
      close: Fn;
      waitpid: Fn;
    }
  | null
  | undefined;

function load() {
  if (libc !== undefined) return libc;
  const k = koffiLibc();
  if (!k) {
    libc = null;
    return libc;
  }
  const lib = { func: (sig: string) => k.lib.func(sig) as Fn };
  try {
    libc = {
      spawn: lib.func(
        "int posix_spawn(_Out_ int *pid, const char *path, void *fa, void *attr, const char **argv, const char **envp)",
      ),
      faInit: lib.func("int posix_spawn_file_actions_init(void *fa)"),
      faDup2: lib.func("int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)"),
      faOpen: lib.func("int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, int mode)"),
      faChdir: lib.func("int posix_spawn_file_actions_addchdir_np(void *fa, const char *path)"),
      faDestroy: lib.func("int posix_spawn_file_actions_destroy(void *fa)"),
      attrInit: lib.func("int posix_spawnattr_init(void *attr)"),
      attrFlags: lib.func("int posix_spawnattr_setflags(void *attr, short flags)"),
      attrSigdefault: lib.func("int posix_spawnattr_setsigdefault(void *attr, const void *set)"),
      attrSigmask: lib.func("int posix_spawnattr_setsigmask(void *attr, const void *set)"),
      attrDestroy: lib.func("int posix_spawnattr_destroy(void *attr)"),
      sigemptyset: lib.func("int sigemptyset(void *set)"),
      pipe2: lib.func("int pipe2(_Out_ int *fds, int flags)"),
      close: lib.func("int close(int fd)"),
      waitpid: lib.func("int waitpid(int pid, _Out_ int *status, int options)"),
    };
    koffiErrno = () => k.koffi.errno();
  } catch {
    libc = null;
  }
  return libc;
}
let koffiErrno: () => number = () => 0;

export interface DetachedChild {
  /**
   * The child's pid once posix_spawn has returned; rejects with an Error with `code` (ENOENT, EACCES, ...) when
   * the program cannot be started. Until it settles, the child's ends of the pipes stay open here, so the
   * streams below see no end of file early.
   */
  readonly pid: Promise<number>;
  /** The child's stderr. */
  readonly stderr: Socket;
  /** The child's fd 3. */
  readonly fd3: Socket;
  /**
   * With `startPipe`: the write end of a pipe that is the child's fd 4 (close-on-exec here). The caller owns
   * it and closes it, whether the child started or not.
   */
  readonly startFd?: number;
  /** With `attachPipe`: the child's fd 5, a pipe read here (conmon's `_OCI_ATTACHPIPE`). */
  readonly fd5?: Socket;
}

/**
 * Starts `file` with `args`, `env` and `cwd` as described above; `startPipe` also gives it a pipe to read on
 * fd 4 (conmon's `_OCI_STARTPIPE`), `attachPipe` one to write on fd 5 (`_OCI_ATTACHPIPE`). Returns at once;
 * `pid` rejects with an Error with `code` (ENOENT, EACCES, ...) when the program cannot be started. Throws when
 * the pipes cannot be made; returns null when posix_spawn is unavailable here.
 */
export function spawnDetached(
  file: string,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  opts: { startPipe?: boolean; attachPipe?: boolean } = {},
): DetachedChild | null {
  const c = load();
  if (!c) return null;
  const errPipe = new Int32Array(2);
  const syncPipe = new Int32Array(2);
  const startPipe = new Int32Array([-1, -1]);
  const attachPipe = new Int32Array([-1, -1]);
  const closeAll = (fds: Int32Array[]) => {
    for (const p of fds) for (const fd of p) if (fd >= 0) c.close(fd);
  };
  const opened: Int32Array[] = [];
  for (const [pipe, wanted] of [
    [errPipe, true],
    [syncPipe, true],
    [startPipe, opts.startPipe === true],
    [attachPipe, opts.attachPipe === true],
  ] as const) {
    if (!wanted) continue;
    if (c.pipe2(pipe, O_CLOEXEC) !== 0) {
      const e = koffiErrno();
      closeAll(opened);
      throw errnoError("pipe2", e);
    }
    opened.push(pipe);
  }
  const closeChildEnds = () => {
    c.close(errPipe[1]);
    c.close(syncPipe[1]);
    if (opts.startPipe) c.close(startPipe[0]);
    if (opts.attachPipe) c.close(attachPipe[1]);
  };
  const fa = Buffer.alloc(FILE_ACTIONS_SIZE);
  const attr = Buffer.alloc(ATTR_SIZE);
  const all = Buffer.alloc(SIGSET_SIZE);
  const none = Buffer.alloc(SIGSET_SIZE);
  const pid = new Int32Array(1);
  c.faInit(fa);
  c.attrInit(attr);
  const destroyActions = () => {
    c.faDestroy(fa);
    c.attrDestroy(attr);
  };
  let argv: (string | null)[];
  let envp: (string | null)[];
  try {
    c.faOpen(fa, 0, "/dev/null", O_RDONLY, 0);
    c.faOpen(fa, 1, "/dev/null", O_WRONLY, 0);
    c.faDup2(fa, errPipe[1], 2); // dup2 clears O_CLOEXEC on the copy: the child keeps fds 2 to 5 only
    c.faDup2(fa, syncPipe[1], 3);
    if (opts.startPipe) c.faDup2(fa, startPipe[0], 4);
    if (opts.attachPipe) c.faDup2(fa, attachPipe[1], 5);
    c.faChdir(fa, cwd);
    // Every signal, glibc's internal ones (32, 33) too: sigfillset leaves those out, and glibc 2.36's spawn
    // then sets them to SIG_IGN in the child, which conmon, runc and the container would inherit.
    all.fill(0xff);
    c.sigemptyset(none);
    c.attrSigdefault(attr, all);
    c.attrSigmask(attr, none);
    c.attrFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
    argv = [file, ...args, null];
    envp = [
      ...Object.entries(env)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${v}`),
      null,
    ];
  } catch (err) {
    destroyActions();
    closeAll(opened);
    throw err;
  }
  const child = {
    stderr: new Socket({ fd: errPipe[0] as number, readable: true, writable: false }),
    fd3: new Socket({ fd: syncPipe[0] as number, readable: true, writable: false }),
    ...(opts.startPipe ? { startFd: startPipe[1] as number } : {}),
    ...(opts.attachPipe ? { fd5: new Socket({ fd: attachPipe[0] as number, readable: true, writable: false }) } : {}),
  };
  const started = new Promise<number>((resolve, reject) => {
    // The buffers and strings stay referenced here until the worker thread is done with them.
    c.spawn.async(pid, file, fa, attr, argv, envp, (err: Error | null, rc: number) => {
      destroyActions();
      closeChildEnds();
      if (err || rc !== 0) {
        // Our read ends go with their streams; the start pipe's write end is the caller's.
        child.stderr.destroy();
        child.fd3.destroy();
        child.fd5?.destroy();
        reject(err ?? errnoError(`posix_spawn ${file}`, rc));
        return;
      }
      const p = pid[0] as number;
      reap(p);
      resolve(p);
    });
  });
  started.catch(() => {}); // a caller that never asks is not an unhandled rejection
  return { ...child, pid: started };
}

/** Collects the child's exit status once it exits (it is ours to reap), without blocking the event loop. */
function reap(pid: number, delayMs = 5): void {
  const c = load();
  if (!c) return;
  const status = new Int32Array(1);
  const r = c.waitpid(pid, status, WNOHANG);
  if (r !== 0) return; // reaped, or not our child any more
  setTimeout(() => reap(pid, Math.min(delayMs * 2, 1000)), delayMs).unref();
}

function errnoError(what: string, errno: number): Error {
  const names: Record<number, string> = { 2: "ENOENT", 13: "EACCES", 8: "ENOEXEC", 24: "EMFILE", 12: "ENOMEM" };
  const code = names[errno] ?? `errno ${errno}`;
  return Object.assign(new Error(`${what}: ${code}`), { code, errno });
}
