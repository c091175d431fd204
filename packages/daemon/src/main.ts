#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=1 --no-sparkplug
// --max-semi-space-size=1 (MiB): V8's young generation would otherwise grow to 16 MiB semi-spaces under a
// burst of requests and stay resident; held small, berthd's memory stays near its idle size with hundreds of
// containers (bench density), for slightly more frequent, cheap scavenges.
// --no-sparkplug: V8's baseline compiler turns every function that runs a few times into machine code that stays
// in the heap; a daemon's hot paths are I/O-bound and get optimized by TurboFan anyway. Without it berthd's growth
// at 200 containers went from 16-25 to 10-12 KiB per container and its idle size down by 1 MiB (bench density,
// 3 runs each), with no change in api-run's latency or berthd's CPU per container (A/B of two berthds, 150 each).
// MALLOC_ARENA_MAX=1: glibc gives each thread that mallocs (libuv's pool; V8's workers, whose compiler zones
// are malloc'd) an arena of its own, up to 8 per core, and keeps what they freed. One arena, which can give
// its top back, held berthd's growth at 200 containers to 18-20 KiB per container against 24-27 with two
// (a smaps diff of berthd under bench density's load, both with idle-gc.ts); nothing in berthd mallocs hard
// enough from several threads at once to contend for it.
// Whoever starts main.js with `node` directly does the same (the CLI's daemon start, bench/lib/daemon.mjs).
/**
 * berthd: the composition root. Opens the database, libct, storage and the image store under --root and
 * --run-root, reconciles with what really runs, and serves the API on the unix socket (and optionally TCP).
 * SIGTERM/SIGINT close the server and exit 0; containers keep running under their conmon.
 */
import { chmod, chown, mkdir, readFile, rm } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect, type Server } from "node:net";
import { arch, release } from "node:os";
import { basename, dirname, join } from "node:path";
import {
  ContentStore,
  Libct,
  LibctError,
  mallocTrim,
  Networks,
  ProcessRunner,
  spreadSubtrees,
  storageDrivers,
} from "@berth/libct";
import { type DaemonConfig, parseArgs, USAGE } from "./config.js";
import { EventBus } from "./events/bus.js";
import { installAttach } from "./http/attach.js";
import { requireBearer } from "./http/auth.js";
import { handlers, type Services } from "./http/handlers.js";
import { logRoutes } from "./http/route-log.js";
import { createApiServer } from "./http/server.js";
import { tlsIdentity } from "./http/tls.js";
import { IdleGc } from "./idle-gc.js";
import { createLogger, type Logger } from "./log.js";
import { prepareRunRoot, releaseRunRoot } from "./run-root.js";
import { ContainerService } from "./services/containers.js";
import { HealthMonitor } from "./services/health.js";
import { hostInfo } from "./services/host-info.js";
import { ImageService } from "./services/images.js";
import { LogRotator } from "./services/logrotate.js";
import { Supervisor } from "./services/supervisor.js";
import { autostartContainers } from "./services/system.js";
import { TokenService } from "./services/tokens.js";
import { ContainerRepo } from "./store/containers.js";
import { openDb } from "./store/db.js";
import { EventRepo } from "./store/events.js";
import { HealthRepo } from "./store/health.js";
import { TokenRepo } from "./store/tokens.js";

export const VERSION = "0.1.0";

/** Resolves when nothing answers on `path` (a stale socket file); rejects when a daemon is listening there. */
function checkSocketFree(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      reject(new LibctError("conflict", `another berthd is already serving ${path}; stop it or use --socket`));
    });
    s.once("error", () => resolve());
  });
}

async function berthGid(): Promise<number | undefined> {
  const text = await readFile("/etc/group", "utf8").catch(() => "");
  const line = text.split("\n").find((l) => l.startsWith("berth:"));
  const gid = line?.split(":")[2];
  return gid && /^\d+$/.test(gid) ? Number(gid) : undefined;
}

function listen(server: Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    (server.listen as (...a: unknown[]) => void)(...args, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

export async function runDaemon(cfg: DaemonConfig, log: Logger): Promise<() => Promise<void>> {
  const started = Date.now();
  await mkdir(cfg.root, { recursive: true, mode: 0o711 });
  await mkdir(cfg.runRoot, { recursive: true, mode: 0o711 });
  await mkdir(join(cfg.root, "containers"), { recursive: true, mode: 0o711 });
  spreadSubtrees(join(cfg.root, "containers")); // one tree per container (libct's system/syscall.ts)
  // Before anything touches the run root: a live daemon's socket there means it is not ours to prepare.
  await checkSocketFree(cfg.socket);
  const cmd = new ProcessRunner();
  const libctRunRoot = join(cfg.runRoot, "libct");
  await prepareRunRoot(cfg.runRoot, cmd, log, {
    ours: ["libct", "containers", ...(dirname(cfg.socket) === cfg.runRoot ? [basename(cfg.socket)] : [])],
    inUse: () => Libct.runRootInUse(libctRunRoot),
  });

  const db = openDb(join(cfg.root, "berth.db"));
  const eventLog = new EventRepo(db);
  const bus = new EventBus(1000, (e) => eventLog.append(e), eventLog.recent(1000));
  const libct = await Libct.open({ root: join(cfg.root, "libct"), runRoot: libctRunRoot, cmd });
  const storage = await storageDrivers.overlay(join(cfg.root, "storage", "overlay"), cmd);
  const store = await ContentStore.open(join(cfg.root, "images"));
  // Bursts of work (a hundred containers created at once) leave freed native memory in glibc's arenas;
  // a second after the last state change, hand it back to the kernel (density: berthd's share stays flat).
  let trimTimer: NodeJS.Timeout | undefined;
  const publish = (e: Parameters<typeof bus.publish>[0]) => {
    bus.publish(e);
    clearTimeout(trimTimer);
    trimTimer = setTimeout(() => mallocTrim(), 1000);
    trimTimer.unref();
  };
  const images = new ImageService(store, storage, cfg.root, publish, log);
  const repo = new ContainerRepo(db);
  const networks = new Networks();
  const containers = new ContainerService({
    libct,
    storage,
    networks,
    images,
    repo,
    cmd,
    root: cfg.root,
    runRoot: cfg.runRoot,
    publish,
    log,
  });
  // Restart policies, health checks and log rotation follow every container's lifecycle.
  const supervisor = new Supervisor({
    repo,
    root: cfg.root,
    log,
    start: (id) => containers.start(id, { restart: true }),
  });
  const health = new HealthMonitor({ libct, publish, log, store: new HealthRepo(db) });
  const logRotator = new LogRotator({ libct, root: cfg.root, log });
  containers.attach(supervisor, health, logRotator);

  const rec = await containers.reconcile();
  log.info("reconciled", rec);
  void supervisor.boot().then(
    (n) => n && log.info("restart policies brought containers back", { started: n }),
    (err) => log.warn("restart policies on boot failed", { err }),
  );
  // boot.autostart: bring system containers back (in the background: the API must not wait for boots).
  void autostartContainers(repo, (id) => containers.start(id), log).catch((err) =>
    log.warn("autostart failed", { err }),
  );

  const info = () => ({
    version: VERSION,
    apiVersion: "1.0",
    os: "linux",
    arch: libct.host.arch || arch(),
    kernel: libct.host.kernel.release || release(),
    runtime: libct.runtime.name,
    cgroup: libct.host.cgroup.mode,
  });
  const tokens = new TokenService(new TokenRepo(db));
  const services: Services = {
    containers,
    images,
    events: bus,
    tokens,
    info,
    hostInfo: () => hostInfo({ libct, repo, images, version: VERSION, root: cfg.root, runRoot: cfg.runRoot }),
    version: VERSION,
  };
  const servers: Server[] = [];
  // After a burst of requests and 1 s of quiet, one compacting GC hands the emptied heap pages back.
  const idleGc = new IdleGc({ idleMs: 1000, minRequests: 20, log });
  const noteRequest = (_req: IncomingMessage, res: ServerResponse) => {
    idleGc.noteRequest();
    res.once("close", () => idleGc.noteAnswered());
  };

  // TCP first: once the unix socket answers, every listener is up (clients and tests wait on the socket).
  if (cfg.tcp) {
    const tls = await tlsIdentity(cmd, cfg.root, cfg.tls);
    const tcpServer = createApiServer(handlers, services, log, { tls });
    tcpServer.on("request", noteRequest);
    installAttach(tcpServer, { containers, libct, log });
    requireBearer(tcpServer, (authorization) => tokens.verify(authorization), log);
    logRoutes(tcpServer);
    await listen(tcpServer, cfg.tcp.port, cfg.tcp.host);
    servers.push(tcpServer);
    log.info("serving the API on TCP with TLS and bearer tokens", {
      host: cfg.tcp.host,
      port: cfg.tcp.port,
      cert: tls.certFile,
      fingerprint: tls.fingerprint,
    });
  }
  await rm(cfg.socket, { force: true });
  const unixServer = createApiServer(handlers, services, log);
  unixServer.on("request", noteRequest);
  installAttach(unixServer, { containers, libct, log });
  logRoutes(unixServer);
  await listen(unixServer, cfg.socket);
  await chmod(cfg.socket, 0o660);
  const gid = await berthGid();
  if (gid !== undefined)
    await chown(cfg.socket, 0, gid).catch((err) => log.warn("cannot give the socket to group berth", { err }));
  servers.push(unixServer);

  idleGc.soon();
  log.info("berthd ready", {
    socket: cfg.socket,
    root: cfg.root,
    runRoot: cfg.runRoot,
    runtime: libct.runtime.name,
    ms: Date.now() - started,
  });

  return async () => {
    idleGc.close();
    supervisor.close();
    health.close();
    logRotator.close();
    containers.close();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      ),
    );
    db.close();
    // No container is left (a test's daemon, say): the tmpfs goes with berthd rather than stay mounted for
    // nobody. Every container has its bundle in the run root until it is deleted, so an empty run root says so
    // without asking the runtime about each one.
    await releaseRunRoot(cfg.runRoot, cmd, () => Libct.runRootInUse(libctRunRoot), log).catch((err) =>
      log.warn("cannot unmount the run root", { err }),
    );
  };
}

async function main(): Promise<void> {
  let cfg: DaemonConfig | "help";
  try {
    cfg = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`berthd: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (cfg === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const log = createLogger(cfg.logLevel);
  let shutdown: (() => Promise<void>) | undefined;
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down; containers keep running", { signal });
    const done = shutdown ? shutdown() : Promise.resolve();
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    done.then(
      () => process.exit(0),
      (err) => {
        log.error("shutdown failed", { err });
        process.exit(0);
      },
    );
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  try {
    shutdown = await runDaemon(cfg, log);
  } catch (err) {
    log.error("berthd cannot start", { err, detail: (err as Error).message });
    process.exit(1);
  }
}

if (process.argv[1] && /berthd$|main\.js$/.test(process.argv[1])) void main();
