/**
 * Container use cases on top of libct: every multi-step operation pushes its undo, so a failure leaves
 * nothing behind (no row, no snapshot, no mount). Operations on one container are serialized; different
 * containers proceed in parallel. Rows in SQLite are the daemon's record; libct (conmon's exit files) is
 * the truth about processes, and `reconcile` brings the two together when berthd starts.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { mkdir, open, readdir, readFile, rm, stat } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import type {
  BerthEvent,
  Container,
  ContainerCreate,
  ContainerMount,
  ContainerPut,
  ContainerState,
  ContainerStatus,
  ExecCreate,
  ExecResult,
  ExecStarted,
  LogLine,
} from "@berth/api";
import { NAME_PATTERN } from "@berth/api/schemas";
import {
  type CommandRunner,
  cgroupDirs,
  isMountPoint,
  KeyedLock,
  type Libct,
  LibctError,
  type ContainerState as LibctState,
  type MountSpec,
  mountAll,
  type Networks,
  parseDetachKeys,
  parseK8sLog,
  type StorageDriver,
  Trash,
  UndoStack,
  unmount,
  ValidationError,
  validateDescription,
  volatileOverlays,
} from "@berth/libct";
import { mapLimit } from "@berth/libct/image/registry/retry";
import type { Logger } from "../log.js";
import type { ContainerRepo, ContainerRow } from "../store/containers.js";
import {
  describe,
  effectiveConfig,
  type ImageRunConfig,
  limitsOf,
  ociResourcesOf,
  resolveUser,
  toApiIssues,
} from "./describe.js";
import { writeEtcFiles } from "./etc-files.js";
import { type ImageHealthcheck, mergeHealthcheck } from "./health.js";
import type { ImageService } from "./images.js";
import { generateName, suggest } from "./names.js";
import { initBinary, withInit } from "./supervisor.js";
import {
  checkTraversable,
  IdRangeAllocator,
  SYSTEM_STOP_TIMEOUT_SECONDS,
  shiftRootfs,
  systemInitArgs,
} from "./system.js";

export interface ContainerDeps {
  readonly libct: Libct;
  readonly storage: StorageDriver;
  /** The host's networks: `attach` on create, `detach` on remove. */
  readonly networks: Networks;
  readonly images: ImageService;
  readonly repo: ContainerRepo;
  readonly cmd: CommandRunner;
  readonly root: string;
  /** berthd's run root (a tmpfs): an app container's /etc/hostname, hosts and resolv.conf live there. */
  readonly runRoot: string;
  readonly publish: (e: BerthEvent) => void;
  readonly log: Logger;
}

/**
 * Observers of container lifecycles (restart policies, health checks, log rotation), attached in main.ts.
 * Hooks must not throw and must not wait on the container's lock.
 */
export interface ContainerHooks {
  /** The container runs: started by a user or a restart policy, or found running by reconcile. */
  running?(row: ContainerRow): void;
  /** Its exit was recorded (once). */
  exited?(row: ContainerRow): void;
  /** A user started or stopped it (restart policies remember a stop). */
  userAction?(id: string, action: "start" | "stop"): void;
  removed?(id: string): void;
  health?(id: string): ContainerState["health"] | undefined;
  /** Before libct deletes a stopped container's bundle (and its log) to create it again. */
  archive?(row: ContainerRow): Promise<void>;
  /** Rotated log text, oldest first, shown before the live log. */
  rotatedText?(id: string): Promise<string>;
}

export interface ListOptions {
  all?: boolean;
  filters?: readonly string[];
}

export interface LogOptions {
  follow?: boolean;
  tail?: number;
  /** Lines at or after this time (ISO). */
  since?: string;
  /** Lines at or before this time (ISO); a follower stops once the clock passes it (Docker's --until). */
  until?: string;
  signal?: AbortSignal;
}

/**
 * A log or API time as nanoseconds since the epoch. conmon writes local time with its offset and nine
 * fractional digits (`2026-11-24T08:58:45.560984212+01:00`), clients send UTC (`...Z`): they compare only
 * as instants, never as strings.
 */
export function timeNs(t: string): bigint | undefined {
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) return undefined;
  const frac = /^[^.]*T[^.]*\.(\d+)/.exec(t)?.[1] ?? "";
  return BigInt(ms) * 1_000_000n + BigInt((frac.slice(3, 9) || "0").padEnd(6, "0"));
}

const nameRe = new RegExp(NAME_PATTERN);
const STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];
const HEALTH = ["starting", "healthy", "unhealthy", "none"];
/** ps filters and what each accepts: undefined when the value is fine, else what is wrong with it. */
const LIST_FILTERS: Record<string, (v: string) => string | undefined> = {
  name: () => undefined,
  id: () => undefined,
  label: () => undefined,
  status: (v) => (STATUSES.includes(v) ? undefined : `status is one of ${STATUSES.join(", ")}`),
  kind: (v) => (v === "app" || v === "system" ? undefined : "kind is app or system"),
  exited: (v) => (/^\d{1,3}$/.test(v) ? undefined : "exited takes an exit code, e.g. exited=0"),
  ancestor: () => undefined,
  health: (v) => (HEALTH.includes(v) ? undefined : `health is one of ${HEALTH.join(", ")}`),
  before: () => undefined,
  since: () => undefined,
};
/** An image id, or a prefix of at least 4 hex digits of it, with or without "sha256:". */
const sameImageId = (id: string | undefined, v: string) => {
  const hex = v.replace(/^sha256:/, "");
  return id !== undefined && /^[0-9a-f]{4,64}$/.test(hex) && id.replace(/^sha256:/, "").startsWith(hex);
};
/** Image references as Docker compares them for ancestor=: a missing tag is :latest. */
const sameImage = (a: string, b: string) => {
  const norm = (r: string) => (/:[^/]+$/.test(r) || r.includes("@") ? r : `${r}:latest`);
  return norm(a) === norm(b);
};
/** How long an auto-removed container's exit result stays readable through `wait` (see `autoRemoved`). */
const AUTO_REMOVED_KEEP_MS = 60_000;
const now = () => new Date().toISOString();
const isNotFound = (err: unknown) => err instanceof LibctError && err.kind === "not-found";

export class ContainerService {
  private readonly locks = new KeyedLock();
  private readonly reservedNames = new Set<string>();
  /** The running containers followed until they exit (watch): how to stop following each. */
  private readonly watchers = new Map<string, () => void>();
  private closed = false;
  private readonly idRanges: IdRangeAllocator;
  private readonly hooks: ContainerHooks[] = [];

  attach(...hooks: ContainerHooks[]): void {
    this.hooks.push(...hooks);
  }

  private notify(fn: (h: ContainerHooks) => void): void {
    for (const h of this.hooks) {
      try {
        fn(h);
      } catch (err) {
        this.d.log.warn("container hook failed", { err });
      }
    }
  }

  /** Removed containers' directories (rotated logs, the rootfs mount point) go here, removed in the background. */
  private readonly trash: Trash;

  constructor(private readonly d: ContainerDeps) {
    this.idRanges = new IdRangeAllocator(d.libct, d.repo);
    // A removed container's directory and rootfs mount point are kept, emptied, for the next (libct's Trash)
    this.trash = new Trash(join(d.root, "trash"), { shape: { mode: 0o711, dirs: { rootfs: 0o755 } } });
  }

  // ---- paths ----

  private dir(id: string): string {
    return join(this.d.root, "containers", id);
  }
  private rootfs(id: string): string {
    return join(this.dir(id), "rootfs");
  }
  /**
   * The container's files in the run root: Docker's /etc/hostname, hosts and resolv.conf (etc-files.ts). They
   * are made from the container's settings, so they live on the run root's tmpfs as Podman keeps them: on the
   * disk, each container made three inodes and each removal freed them, and on an ext4 without a journal every
   * new inode is found by walking past those freed in the last minutes (bench run-parallel).
   */
  private runDir(id: string): string {
    return join(this.d.runRoot, "containers", id);
  }
  /** The container's root filesystem on the host, mounted (cp, exec sessions); see services/archive.ts. */
  async mountedRootfs(ref: string): Promise<{ row: ContainerRow; rootfs: string }> {
    const row = this.find(ref);
    await this.ensureRootfs(row.id);
    return { row, rootfs: this.rootfs(row.id) };
  }
  private snapshotKey(id: string): string {
    return `container/${id}`;
  }

  // ---- lookup ----

  /** By id, unique id prefix or name; not found names the closest name ("did you mean 'web'?"). */
  find(ref: string): ContainerRow {
    const { repo } = this.d;
    const row = repo.get(ref) ?? repo.byName(ref);
    if (row) return row;
    if (/^[0-9a-f]{1,63}$/.test(ref)) {
      const hits = repo.byPrefix(ref);
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1)
        throw new LibctError("invalid", `id prefix '${ref}' matches several containers; give more characters`);
    }
    const guess = suggest(ref, repo.names());
    throw new LibctError("not-found", `no such container '${ref}'${guess ? `; did you mean '${guess}'?` : ""}`);
  }

  /** pidMode `container:NAME`: the container whose PID namespace to join, by id (libct checks that it runs). */
  private joinsOf(req: ContainerCreate): { pid?: string } {
    if (!req.pidMode?.startsWith("container:")) return {};
    const ref = req.pidMode.slice("container:".length);
    try {
      return { pid: this.find(ref).id };
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new ValidationError([
        { field: "pidMode", message: `${(err as Error).message}: there is no container to share the PID namespace of` },
      ]);
    }
  }

  private event(
    type: Exclude<
      BerthEvent["type"],
      "container.exited" | "container.health" | `image.${string}` | "operation.progress"
    >,
    row: ContainerRow,
  ): void {
    this.d.publish({ type, id: row.id, name: row.name, at: now() } as BerthEvent);
  }

  toWire(row: ContainerRow): Container {
    const { labels, restartPolicy, resources, autostart } = row;
    const health = this.hooks.map((h) => h.health?.(row.id)).find((x) => x !== undefined);
    return {
      id: row.id,
      name: row.name,
      image: row.image,
      ...(row.imageId ? { imageId: row.imageId } : {}),
      kind: row.kind,
      createdAt: row.createdAt,
      state: {
        status: row.status,
        running: row.status === "running" || row.status === "paused",
        paused: row.status === "paused",
        ...(row.pid !== undefined && (row.status === "running" || row.status === "paused") ? { pid: row.pid } : {}),
        ...(row.exitCode !== undefined ? { exitCode: row.exitCode } : {}),
        oomKilled: row.oomKilled,
        ...(row.startedAt ? { startedAt: row.startedAt } : {}),
        ...(row.finishedAt ? { finishedAt: row.finishedAt } : {}),
        restartCount: row.restartCount,
        ...(health ? { health } : {}),
      },
      config: row.config,
      labels,
      restartPolicy,
      resources,
      autostart,
      ...(row.network
        ? {
            network: {
              name: row.network.network,
              driver: row.network.driver,
              interfaces: row.network.interfaces.map((i) => ({ ...i, addresses: [...i.addresses] })),
            },
          }
        : {}),
      mounts: wireMounts(row, (name) => this.d.libct.volumeDir(name)),
    };
  }

  // ---- list / inspect ----

  /**
   * `ps` with Docker's filters: values of one key are alternatives (status=exited --filter status=created
   * lists both), different keys must all match, and every label filter must match.
   */
  list(opts: ListOptions = {}): Container[] {
    const byKey = new Map<string, string[]>();
    for (const f of opts.filters ?? []) {
      const eq = f.indexOf("=");
      const key = eq < 0 ? f : f.slice(0, eq);
      const value = eq < 0 ? "" : f.slice(eq + 1);
      const check = LIST_FILTERS[key];
      if (!check) {
        throw new ValidationError([
          { field: "filter", message: `unknown filter '${key}'; use ${Object.keys(LIST_FILTERS).join(", ")}` },
        ]);
      }
      if (key !== "label" && value === "")
        throw new ValidationError([{ field: "filter", message: `filter '${f}' needs a value: ${key}=VALUE` }]);
      const bad = check(value);
      if (bad) throw new ValidationError([{ field: "filter", message: `filter '${f}': ${bad}` }]);
      byKey.set(key, [...(byKey.get(key) ?? []), value]);
    }
    // before/since name a container: its creation time is the bound (Docker's, exclusive).
    const createdOf = (ref: string) => this.find(ref).createdAt;
    const before = byKey.get("before")?.map(createdOf);
    const since = byKey.get("since")?.map(createdOf);
    const rows = this.d.repo.list();
    const shown = opts.all || byKey.has("status") || byKey.has("exited");
    const out: Container[] = [];
    for (const row of rows) {
      if (!shown && row.status !== "running" && row.status !== "paused" && row.status !== "restarting") continue;
      const any = (key: string, test: (v: string) => boolean) => !byKey.has(key) || byKey.get(key)!.some(test);
      const ok =
        any("name", (v) => row.name.includes(v)) &&
        any("id", (v) => row.id.startsWith(v)) &&
        any("status", (v) => row.status === v) &&
        any("kind", (v) => row.kind === v) &&
        any("exited", (v) => row.status === "exited" && row.exitCode === Number(v)) &&
        any("ancestor", (v) => sameImage(row.image, v) || sameImageId(row.imageId, v)) &&
        (byKey.get("label") ?? []).every((v) => {
          const eq = v.indexOf("=");
          return eq < 0 ? v in row.labels : row.labels[v.slice(0, eq)] === v.slice(eq + 1);
        }) &&
        (before ?? []).every((t) => row.createdAt < t) &&
        (since ?? []).every((t) => row.createdAt > t);
      if (!ok) continue;
      const c = this.toWire(row);
      if (!any("health", (v) => (c.state.health?.status ?? "none") === v)) continue;
      out.push(c);
    }
    return out;
  }

  inspect(ref: string): Container {
    return this.toWire(this.find(ref));
  }

  /**
   * Docker's sizes (`ps -s`, `inspect -s`): sizeRw, the bytes the container wrote (its writable layer), and
   * sizeRootFs, those plus its image's. A walk of every writable layer (du), so only on request, and at
   * most 8 at a time: a list of 1,000 containers must not start 1,000 processes at once.
   */
  async withSizes(list: readonly Container[]): Promise<Container[]> {
    const images = new Map(
      ((await this.d.images.usage().catch(() => undefined))?.images ?? []).map((u) => [u.digest, u.size]),
    );
    return mapLimit(list, 8, async (c) => {
      const rw = await this.d.storage.usage(this.snapshotKey(c.id)).catch(() => undefined);
      if (rw === undefined) return c;
      const sizeRw = Number(rw);
      return { ...c, sizeRw, sizeRootFs: sizeRw + (c.imageId ? (images.get(c.imageId) ?? 0) : 0) };
    });
  }

  // ---- create ----

  async create(req: ContainerCreate): Promise<Container> {
    const { repo, libct, storage, images, cmd } = this.d;
    if (req.name !== undefined && !nameRe.test(req.name)) {
      throw new ValidationError([
        {
          field: "name",
          message: `'${req.name}' is not a valid name; use letters, digits, '_', '.' or '-', starting with a letter or digit`,
        },
      ]);
    }
    const name = req.name ?? generateName((n) => this.reservedNames.has(n) || repo.byName(n) !== undefined);
    const holder = repo.byName(name);
    if (holder || this.reservedNames.has(name)) {
      throw new LibctError(
        "conflict",
        `the name '${name}' is already in use${holder ? ` by container ${holder.id.slice(0, 12)}` : ""}; pick another name or remove that container first`,
      );
    }
    if (req.restartPolicy && req.restartPolicy.name !== "on-failure" && req.restartPolicy.maximumRetryCount) {
      throw new ValidationError([
        { field: "restartPolicy.maximumRetryCount", message: "only the on-failure policy takes a maximum retry count" },
      ]);
    }
    if (req.detachKeys !== undefined) parseDetachKeys(req.detachKeys); // refuses a bad sequence, saying why
    const healthTest = req.healthcheck?.test ?? [];
    if (healthTest.length > 0 && !["CMD", "CMD-SHELL", "NONE"].includes(healthTest[0]!)) {
      throw new ValidationError([
        { field: "healthcheck.test", message: 'the test starts with "CMD", "CMD-SHELL" or "NONE"' },
      ]);
    }
    if (req.autoRemove && req.restartPolicy && req.restartPolicy.name !== "no") {
      throw new ValidationError([
        { field: "restartPolicy", message: "a restart policy and autoRemove (--rm) conflict; choose one" },
      ]);
    }
    const initPath = req.init ? initBinary() : undefined;
    if (req.init && !initPath) {
      throw new ValidationError([
        { field: "init", message: "no init binary on this host; install catatonit (apt install catatonit)" },
      ]);
    }
    for (const [i, m] of (req.mounts ?? []).entries()) {
      if (m.type === "bind" && m.source?.startsWith("/") && !(await stat(m.source).catch(() => undefined))) {
        throw new ValidationError([
          {
            field: `mounts[${i}].source`,
            message: `${m.source} does not exist on the host; create it first or fix the path`,
          },
        ]);
      }
    }
    const joins = this.joinsOf(req);
    const id = randomBytes(32).toString("hex");
    this.reservedNames.add(name);
    try {
      await using undo = new UndoStack((err) => this.d.log.warn("undo step failed", { id, err }));
      const dir = this.dir(id);
      const rootfs = this.rootfs(id);
      undo.push(() => rm(dir, { recursive: true, force: true })); // the id is new: nothing else is there
      // conmon starts now and waits while the image, snapshot and mount are prepared (describe() gives a
      // system container and a -t one a terminal).
      const monitor = libct.holdMonitor(id, {
        terminal: req.tty === true || req.kind === "system",
        stdin: req.openStdin === true,
      });
      undo.push(() => monitor?.cancel());
      // Local metadata (directories, small files) synchronously on this path: microseconds each, where a
      // trip through the thread pool costs 100-200 us (bench api-run).
      if (!this.trash.reuse(dir)) {
        mkdirSync(dir, { recursive: true, mode: 0o711 });
        mkdirSync(rootfs);
      }
      const image = await images.resolve(req.image, req.pullAuth ? { auth: req.pullAuth } : {});
      const mounts = await storage.prepare(this.snapshotKey(id), image.topSnapshot, { "berth.container": id });
      undo.push(() => storage.remove(this.snapshotKey(id)));
      const imgCfg = (image.config.config ?? {}) as ImageRunConfig;
      // A --rm container's root goes with it: nothing to sync, on the way or at the unmount.
      await mountAll(cmd, req.autoRemove ? volatileOverlays(mounts, libct.host.kernel) : mounts, rootfs);
      undo.push(() => unmount(cmd, rootfs));
      const passwd = readImageEtc(rootfs, "passwd");
      const group = readImageEtc(rootfs, "group");
      // System containers: an id range of their own and a rootfs shifted into it (system.ts).
      const system = req.kind === "system" && !req.privileged;
      const range = system ? await this.idRanges.reserve() : undefined;
      if (range) undo.push(() => this.idRanges.release(range.base));
      const systemInit = req.kind === "system" ? systemInitArgs(imgCfg.Labels, libct.host) : undefined;
      const network = await this.d.networks.attach({
        containerId: id,
        network: req.network ?? "none",
        ...(req.hostname ? { hostname: req.hostname } : {}),
      });
      undo.push(() => this.d.networks.detach(network));
      // An app container's /etc/hostname, hosts and resolv.conf, as Docker makes them (etc-files.ts).
      const app = req.kind !== "system";
      const hostname = app
        ? (req.hostname ?? (network.namespace === "host" || req.utsMode === "host" ? osHostname() : id.slice(0, 12)))
        : undefined;
      let etcMounts: MountSpec[] | undefined;
      if (hostname !== undefined) {
        const runDir = this.runDir(id);
        mkdirSync(runDir, { recursive: true, mode: 0o711 });
        undo.push(() => rm(runDir, { recursive: true, force: true }));
        etcMounts = writeEtcFiles(runDir, hostname, network);
      }
      const described = describe({
        id,
        req,
        image: imgCfg,
        rootfs,
        passwd,
        group,
        ...(systemInit ? { name, systemInit } : {}),
        ...(range ? { idMap: range.idMap } : {}),
        joins,
        network,
        ...(hostname !== undefined ? { defaultHostname: hostname } : {}),
        ...(etcMounts ? { etcMounts } : {}),
        newVolumeName: () => randomBytes(32).toString("hex"),
      });
      const description = initPath ? withInit(described, initPath) : described;
      // Its anonymous volumes (-v /path, the image's VOLUMEs) are new: a create that fails takes them along.
      const anonymous = (description.mounts ?? []).flatMap((m) => (m.type === "volume" && m.anonymous ? [m.name] : []));
      if (anonymous.length > 0) undo.push(() => Promise.all(anonymous.map((n) => libct.removeVolume(n))));
      const healthcheck = mergeHealthcheck(req.healthcheck, (imgCfg as { Healthcheck?: ImageHealthcheck }).Healthcheck);
      if (req.healthcheck && !healthcheck) {
        throw new ValidationError([
          {
            field: "healthcheck.test",
            message: `the image ${req.image} has no HEALTHCHECK whose timings these could change; give the test too (berth run --health-cmd 'CMD')`,
          },
        ]);
      }
      const issues = validateDescription(description, libct.host);
      if (issues.length) throw new ValidationError(toApiIssues(issues));
      if (range) {
        await checkTraversable(rootfs);
        await shiftRootfs(rootfs, dir, description, this.d.log);
      }
      await libct.create({
        id,
        description,
        ...(req.openStdin ? { stdin: true } : {}),
        ...(monitor ? { monitor } : {}),
        ...(req.start ? { start: true } : {}),
      });
      undo.push(() => libct.delete(id, { force: true }));
      // pullAuth was for the pull: it is not part of the container and never stored.
      const {
        labels: _l,
        restartPolicy: _r,
        resources: _res,
        autostart: _a,
        name: _n,
        start: _s,
        pullAuth: _p,
        ...given
      } = req;
      // Docker's Config: the request merged with the image (the command, env, workdir that really apply).
      const config = {
        ...given,
        ...effectiveConfig(req, imgCfg, described, systemInit),
        ...(healthcheck ? { healthcheck } : {}),
      };
      const row: ContainerRow = {
        id,
        name,
        image: req.image,
        imageId: image.digest,
        kind: req.kind ?? "app",
        config,
        description,
        labels: req.labels ?? {},
        restartPolicy: req.restartPolicy ?? { name: "no" },
        resources: req.resources ?? {},
        autostart: req.autostart ?? false,
        createdAt: now(),
        status: "created",
        oomKilled: false,
        restartCount: 0,
        network,
      };
      // Create with start: libct.create armed the start, so the process usually runs already; otherwise it is
      // let go now, and the row is written while the start goes through the event loop. No one else knows
      // this id yet, so nothing can race the start; if berthd dies before the row is in, the next start-up
      // removes the orphan.
      const launching = req.start ? libct.start(id) : undefined;
      launching?.catch(() => {}); // awaited by start below; a failed insert's undo waits for it in libct
      repo.insert(row);
      undo.release();
      if (range) this.idRanges.release(range.base);
      this.d.log.info("container created", { id, name, image: req.image });
      this.event("container.created", row);
      if (req.start) {
        // One request, one outcome: a container that cannot start goes again, so that the error the client
        // gets leaves nothing behind that it was never told the id of.
        await this.start(id, { created: true, ...(launching ? { launching } : {}) }).catch(async (err: unknown) => {
          await this.remove(id, { force: true, volumes: true }).catch((e) =>
            this.d.log.warn("removing a container that failed to start failed", { id, err: e }),
          );
          throw err;
        });
      }
      return this.toWire(repo.get(id) ?? row);
    } catch (err) {
      if (err instanceof ValidationError) throw new ValidationError(toApiIssues(err.issues));
      throw err;
    } finally {
      this.reservedNames.delete(name);
    }
  }

  // ---- lifecycle ----

  private async libctState(id: string): Promise<LibctState | undefined> {
    return this.d.libct.state(id).catch((err) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
  }

  /** Mounts the container's rootfs if it is not (after a host reboot). */
  private async ensureRootfs(id: string): Promise<void> {
    const rootfs = this.rootfs(id);
    if (await isMountPoint(rootfs)) return;
    await mkdir(rootfs, { recursive: true });
    await mountAll(this.d.cmd, await this.d.storage.mounts(this.snapshotKey(id)), rootfs);
  }

  /**
   * An app container's /etc files are in the run root: after a reboot (or once berthd released an idle run
   * root's tmpfs) they are made again, as create made them, from the container's hostname and network.
   */
  private ensureEtcFiles(row: ContainerRow): void {
    const dir = this.runDir(row.id);
    const ours = (row.description.mounts ?? []).flatMap((m) =>
      m.type === "bind" && m.source.startsWith(`${dir}/`) ? [m.source] : [],
    );
    if (ours.every((source) => existsSync(source))) return;
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    writeEtcFiles(
      dir,
      row.description.hostname ?? osHostname(),
      row.network ?? { namespace: "private", interfaces: [] },
    );
  }

  /**
   * Starts a created or stopped container (a stopped one is created again from its description first); a
   * running one is left as it is. `restart`: started by a restart policy (keeps restartCount and a user's
   * stop). `created`: the caller has just created it (create with start), so its state and rootfs mount need
   * not be checked. `beforeStart` runs once the container is created and before its process starts, under
   * the container's lock: `start -a` attaches there, so that no output is missed.
   */
  async start(
    ref: string,
    opts: {
      restart?: boolean;
      created?: boolean;
      beforeStart?: (id: string) => Promise<void>;
      /** create's own libct.start, already under way (create with start). */
      launching?: Promise<{ pid?: number }>;
    } = {},
  ): Promise<void> {
    const row = this.find(ref);
    await this.locks.run(row.id, () => this.startHeld(row, opts));
  }

  /** start, with the container's lock held. */
  private async startHeld(
    row: ContainerRow,
    opts: {
      restart?: boolean;
      created?: boolean;
      beforeStart?: (id: string) => Promise<void>;
      launching?: Promise<{ pid?: number }>;
    },
  ): Promise<void> {
    const { libct } = this.d;
    if (!opts.restart) this.notify((h) => h.userAction?.(row.id, "start"));
    if (opts.launching) return this.started(row, await opts.launching, opts);
    const st = opts.created ? ({ status: "created" } as const) : await this.libctState(row.id);
    if (st?.status === "running") return; // already running: nothing to do (Docker answers 304)
    if (st?.status === "paused") {
      throw new LibctError("precondition", `container '${row.name}' is paused; unpause it instead of starting it`);
    }
    // A created container's init waits in its rootfs, so that rootfs is mounted: no mount table read then.
    if (!opts.created && st?.status !== "created") {
      await this.ensureRootfs(row.id);
      this.ensureEtcFiles(row);
    }
    if (st?.status !== "created") {
      // A container that ran before: libct starts only created containers, so create it again from its description.
      this.unwatch(row.id);
      if (st) {
        for (const h of this.hooks)
          await h.archive?.(row).catch((err) => this.d.log.warn("log archive failed", { err }));
        await libct.delete(row.id, { force: true });
      }
      await libct.create({
        id: row.id,
        description: row.description,
        ...(row.config.openStdin ? { stdin: true } : {}),
      });
    }
    await opts.beforeStart?.(row.id);
    await this.started(row, await libct.start(row.id), opts);
  }

  /** Records a start libct has done: the row, the event, the exit watch. */
  private async started(row: ContainerRow, launched: { pid?: number }, opts: { restart?: boolean }): Promise<void> {
    const { repo } = this.d;
    const after = launched.pid ? launched : await this.libctState(row.id);
    repo.setState(row.id, {
      status: "running",
      pid: after?.pid ?? null,
      startedAt: now(),
      finishedAt: null,
      exitCode: null,
      oomKilled: false,
      ...(opts.restart ? {} : { restartCount: 0 }),
    });
    this.event("container.started", row);
    this.watch(row.id);
    const started = repo.get(row.id);
    if (started) this.notify((h) => h.running?.(started));
  }

  /** Follows a running container until it exits, then records the exit once. */
  private watch(id: string): void {
    if (this.closed) return;
    this.unwatch(id);
    const stop = this.d.libct.followExit(id, (res) => {
      if (this.watchers.get(id) === stop) this.watchers.delete(id);
      try {
        this.recordExit(id, res.exitCode, res.oomKilled);
      } catch (err) {
        this.d.log.warn("recording an exit failed", { id, err });
      }
    });
    this.watchers.set(id, stop);
  }

  /** Stops following the container (a start that recreates it, a removal): its exit is not recorded. */
  private unwatch(id: string): void {
    this.watchers.get(id)?.();
    this.watchers.delete(id);
  }

  private readonly stateWaiters = new Map<string, Set<() => void>>();
  /**
   * Exit results of containers auto-removed in the last AUTO_REMOVED_KEEP_MS, by full id: a `run --rm`
   * client whose wait arrives after the removal (a container that exits at once) still gets the exit code.
   */
  private readonly autoRemoved = new Map<string, { exitCode: number; oomKilled: boolean; at: number }>();

  private autoRemovedExit(id: string): { exitCode: number; oomKilled: boolean } | undefined {
    const gone = this.autoRemoved.get(id);
    return gone && { exitCode: gone.exitCode, oomKilled: gone.oomKilled };
  }

  /** Resolves when the container's recorded state changes (exit, removal) or after `ms`. */
  private stateChange(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.stateWaiters.get(id) ?? new Set<() => void>();
      this.stateWaiters.set(id, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.stateWaiters.get(id) === waiters) this.stateWaiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
    });
  }

  private stateChanged(id: string): void {
    for (const done of [...(this.stateWaiters.get(id) ?? [])]) done();
  }

  /** running/paused → exited, once; emits container.exited and applies autoRemove. */
  private recordExit(id: string, rawExitCode: number, oomKilled: boolean): void {
    // A system container's init that shuts down calls reboot(2), which in a PID namespace ends it "killed"
    // by SIGINT (halt/poweroff) or SIGHUP (reboot): that is a clean shutdown, reported as 0.
    const exitCode =
      (rawExitCode === 129 || rawExitCode === 130) && this.d.repo.get(id)?.kind === "system" ? 0 : rawExitCode;
    const changed = this.d.repo.setState(id, { status: "exited", exitCode, oomKilled, finishedAt: now(), pid: null }, [
      "running",
      "paused",
      "restarting",
      "created",
    ]);
    if (!changed) return;
    this.stateChanged(id);
    const row = this.d.repo.get(id);
    if (!row) return;
    this.d.log.info("container exited", { id, name: row.name, exitCode, oomKilled });
    this.d.publish({ type: "container.exited", id, name: row.name, at: now(), exitCode, oomKilled });
    this.notify((h) => h.exited?.(row));
    if (row.config.autoRemove && !this.closed) {
      const at = Date.now();
      for (const [k, v] of this.autoRemoved) if (at - v.at > AUTO_REMOVED_KEEP_MS) this.autoRemoved.delete(k);
      this.autoRemoved.set(id, { exitCode, oomKilled, at });
      // Docker's --rm takes the container's anonymous volumes with it.
      this.remove(id, { force: true, volumes: true }).catch((err) =>
        this.d.log.warn("auto-remove failed", { id, err }),
      );
    }
  }

  async stop(ref: string, opts: { timeoutSeconds?: number } = {}): Promise<void> {
    const row = this.find(ref);
    await this.locks.run(row.id, () => this.stopHeld(row, opts));
  }

  /** stop, with the container's lock held. */
  private async stopHeld(row: ContainerRow, opts: { timeoutSeconds?: number }): Promise<void> {
    this.notify((h) => h.userAction?.(row.id, "stop"));
    this.d.repo.setState(row.id, { status: "exited" }, ["restarting"]);
    const st = await this.libctState(row.id);
    if (!st || st.status === "stopped") return;
    const t =
      opts.timeoutSeconds ??
      row.config.stopTimeoutSeconds ??
      (row.kind === "system" ? SYSTEM_STOP_TIMEOUT_SECONDS : 10);
    const res = await this.d.libct.stop(row.id, { timeoutMs: t * 1000 });
    if (res) this.recordExit(row.id, res.exitCode, res.oomKilled);
    this.event("container.stopped", row);
  }

  /** stop then start under one hold of the lock, so that no other operation on the container comes between. */
  async restart(ref: string, opts: { timeoutSeconds?: number } = {}): Promise<void> {
    const row = this.find(ref);
    await this.locks.run(row.id, async () => {
      await this.stopHeld(row, opts);
      await this.startHeld(row, {});
    });
  }

  async kill(ref: string, signal = "SIGKILL"): Promise<void> {
    const row = this.find(ref);
    await this.locks.run(row.id, async () => {
      const sig = /^\d+$/.test(signal) ? Number(signal) : signal.toUpperCase();
      const name = typeof sig === "string" && !sig.startsWith("SIG") ? `SIG${sig}` : sig;
      if (name === "SIGKILL" || name === 9 || name === (row.description.stopSignal ?? "SIGTERM")) {
        this.notify((h) => h.userAction?.(row.id, "stop")); // Docker: a kill is a user's stop too
      }
      await this.d.libct.kill(row.id, sig);
    });
  }

  async pause(ref: string): Promise<void> {
    const row = this.find(ref);
    await this.locks.run(row.id, async () => {
      await this.d.libct.pause(row.id);
      this.d.repo.setState(row.id, { status: "paused" });
      this.event("container.paused", row);
    });
  }

  async unpause(ref: string): Promise<void> {
    const row = this.find(ref);
    await this.locks.run(row.id, async () => {
      await this.d.libct.resume(row.id);
      this.d.repo.setState(row.id, { status: "running" });
      this.event("container.resumed", row);
    });
  }

  /**
   * Docker's wait conditions: `not-running` returns the exit of a container that is not running (at once when
   * it has exited), `next-exit` only an exit after this call, `removed` the exit once the container is also
   * removed (by autoRemove or by someone else): what `run --rm` waits for.
   */
  async wait(
    ref: string,
    signal?: AbortSignal,
    condition: "not-running" | "next-exit" | "removed" = "not-running",
  ): Promise<{ exitCode: number; oomKilled: boolean }> {
    let row: ContainerRow;
    try {
      row = this.find(ref);
    } catch (err) {
      const gone = condition === "next-exit" ? undefined : this.autoRemovedExit(ref);
      if (gone) return gone;
      throw err;
    }
    const id = row.id;
    const aborted = () => new LibctError("unavailable", "the wait was cancelled");
    let res: { exitCode: number; oomKilled: boolean } | undefined;
    if (condition === "next-exit") {
      const before = row.finishedAt;
      for (;;) {
        if (signal?.aborted) throw aborted();
        const cur = this.d.repo.get(id);
        if (!cur) throw new LibctError("not-found", `container '${row.name}' was removed before it exited again`);
        if (cur.status === "exited" && cur.finishedAt !== before && cur.exitCode !== undefined) {
          res = { exitCode: cur.exitCode, oomKilled: cur.oomKilled };
          break;
        }
        await this.stateChange(id, 1000);
      }
    } else if (row.status === "exited" && row.exitCode !== undefined) {
      res = { exitCode: row.exitCode, oomKilled: row.oomKilled };
    } else if (row.status === "created" && condition === "removed") {
      // Never started: nothing to wait for but its removal.
    } else {
      res = await this.d.libct.wait(id, signal ? { signal } : {});
      this.recordExit(id, res.exitCode, res.oomKilled);
    }
    if (condition === "removed") {
      // A container still to be started (the client waits before it starts, as Docker's does) reports the
      // exit it has on its way out.
      for (let cur = this.d.repo.get(id); cur; cur = this.d.repo.get(id)) {
        if (cur.status === "exited" && cur.exitCode !== undefined)
          res = { exitCode: cur.exitCode, oomKilled: cur.oomKilled };
        if (signal?.aborted) throw aborted();
        await this.stateChange(id, 1000);
      }
      res ??= this.autoRemovedExit(id);
    }
    return res ?? { exitCode: 0, oomKilled: false };
  }

  async rename(ref: string, name: string | null): Promise<void> {
    const row = this.find(ref);
    if (!name || !nameRe.test(name)) {
      throw new ValidationError([
        {
          field: "name",
          message: `'${name ?? ""}' is not a valid name; use letters, digits, '_', '.' or '-', starting with a letter or digit`,
        },
      ]);
    }
    await this.locks.run(row.id, async () => {
      const holder = this.d.repo.byName(name);
      if (holder && holder.id !== row.id) {
        throw new LibctError(
          "conflict",
          `the name '${name}' is already in use by container ${holder.id.slice(0, 12)}; pick another name`,
        );
      }
      if (this.reservedNames.has(name))
        throw new LibctError(
          "conflict",
          `the name '${name}' is being taken by a container being created; pick another name`,
        );
      this.d.repo.rename(row.id, name);
      this.event("container.renamed", { ...row, name });
    });
  }

  async update(ref: string, put: ContainerPut): Promise<Container> {
    const row = this.find(ref);
    return this.locks.run(row.id, async () => {
      const fresh = this.d.repo.get(row.id) ?? row;
      const resources = put.resources ? { ...fresh.resources, ...put.resources } : fresh.resources;
      const limits = limitsOf(resources);
      const { limits: _old, ...restDesc } = fresh.description;
      const description = { ...restDesc, ...(limits ? { limits } : {}) };
      const issues = validateDescription(description, this.d.libct.host);
      if (issues.length) throw new ValidationError(toApiIssues(issues));
      if (put.restartPolicy && put.restartPolicy.name !== "on-failure" && put.restartPolicy.maximumRetryCount) {
        throw new ValidationError([
          {
            field: "restartPolicy.maximumRetryCount",
            message: "only the on-failure policy takes a maximum retry count",
          },
        ]);
      }
      const next: ContainerRow = {
        ...fresh,
        labels: put.labels ?? fresh.labels,
        restartPolicy: put.restartPolicy ?? fresh.restartPolicy,
        resources,
        autostart: put.autostart ?? fresh.autostart,
        description,
      };
      if (put.resources) {
        const st = await this.libctState(row.id);
        if (st && (st.status === "running" || st.status === "paused" || st.status === "created")) {
          await this.d.libct.update(row.id, ociResourcesOf(limits, fresh.description.limits, this.d.libct.host.cpuset));
        }
      }
      this.d.repo.put(next);
      this.event("container.updated", next);
      return this.toWire(next);
    });
  }

  private async removeAnonymousVolumes(gone: ContainerRow): Promise<void> {
    const mine = (gone.description.mounts ?? []).flatMap((m) => (m.type === "volume" && m.anonymous ? [m.name] : []));
    if (mine.length === 0) return;
    const used = new Set(
      this.d.repo
        .list()
        .filter((r) => r.id !== gone.id)
        .flatMap((r) => (r.description.mounts ?? []).flatMap((m) => (m.type === "volume" ? [m.name] : []))),
    );
    for (const name of mine) {
      if (used.has(name)) continue; // Docker keeps a volume another container mounts (--volumes-from)
      await this.d.libct
        .removeVolume(name)
        .catch((err) => this.d.log.warn("removing an anonymous volume failed", { id: gone.id, volume: name, err }));
    }
  }

  /** Removes a container; `volumes`: its anonymous volumes too, those no other container uses (rm -v). */
  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const row = this.find(ref);
    await this.locks.run(row.id, async () => {
      const { libct, storage, cmd, repo } = this.d;
      const cur = repo.get(row.id);
      if (!cur) return; // removed while we waited for the lock
      // An exit berthd recorded (under this lock nothing restarts it) needs no runtime state read.
      const st = cur.status === "exited" ? ({ status: "stopped" } as const) : await this.libctState(row.id);
      if (st && (st.status === "running" || st.status === "paused") && !opts.force) {
        throw new LibctError(
          "precondition",
          `container '${row.name}' is ${st.status}; stop it first or remove it with force (berth rm -f ${row.name})`,
        );
      }
      this.unwatch(row.id);
      const dropRootfs = async () => {
        await unmount(cmd, this.rootfs(row.id));
        await storage.remove(this.snapshotKey(row.id)).catch((err) => {
          if (!isNotFound(err)) throw err;
        });
      };
      if (st?.status === "stopped") {
        // Nothing runs in it any more: the runtime's leftovers and the rootfs go in parallel.
        const gone = (err: unknown) => {
          if (!isNotFound(err)) throw err;
        };
        await Promise.all([libct.delete(row.id, { force: true }).catch(gone), dropRootfs()]);
      } else {
        if (st) await libct.delete(row.id, { force: true });
        await dropRootfs();
      }
      if (cur.network) await this.d.networks.detach(cur.network);
      await this.trash.discard(this.dir(row.id));
      rmSync(this.runDir(row.id), { recursive: true, force: true }); // a tmpfs: memory only
      // Its volumes before its row: once the row is gone a `wait` for the removal (run --rm) answers at once.
      if (opts.volumes) await this.removeAnonymousVolumes(cur);
      repo.delete(row.id);
      this.stateChanged(row.id);
      this.notify((h) => h.removed?.(row.id));
      this.d.log.info("container removed", { id: row.id, name: row.name });
      this.event("container.removed", row);
    });
  }

  // ---- inspection of a live container ----

  async logs(ref: string, opts: LogOptions = {}): Promise<AsyncGenerator<LogLine>> {
    const row = this.find(ref);
    const path = this.d.libct.logPath(row.id);
    const from = opts.since === undefined ? undefined : timeNs(opts.since);
    const to = opts.until === undefined ? undefined : timeNs(opts.until);
    const filter = (l: LogLine) => {
      if (from === undefined && to === undefined) return true;
      const t = timeNs(l.time);
      return t === undefined || ((from === undefined || t >= from) && (to === undefined || t <= to));
    };
    const untilMs = opts.until === undefined ? undefined : Date.parse(opts.until);
    const self = this;
    // A follower opens the log before it is answered and keeps it open: the rest of the output stays readable
    // after an exit even when the container is removed at once (run --rm); a rotation shows as a new file.
    let fh = opts.follow ? await open(path, "r").catch(() => undefined) : undefined;
    async function* gen(): AsyncGenerator<LogLine> {
      try {
        let text = fh ? await fh.readFile("utf8") : await readFile(path, "utf8").catch(() => "");
        let offset = Buffer.byteLength(text);
        for (const h of self.hooks) if (h.rotatedText) text = (await h.rotatedText(row.id)) + text;
        const complete = text.lastIndexOf("\n") + 1;
        let pending = text.slice(complete);
        text = text.slice(0, complete);
        let lines = (parseK8sLog(text) as LogLine[]).filter(filter);
        if (opts.tail !== undefined) lines = opts.tail === 0 ? [] : lines.slice(-opts.tail);
        for (const l of lines) yield l;
        if (!opts.follow) return;
        for (;;) {
          if (opts.signal?.aborted) return;
          if (untilMs !== undefined && Date.now() > untilMs) return; // --until: nothing later is wanted
          const st = self.d.repo.get(row.id);
          if (!fh) {
            fh = await open(path, "r").catch(() => undefined);
            offset = 0;
          }
          let grew = false;
          if (fh) {
            const { size, ino } = await fh.stat();
            if (size > offset) {
              const buf = Buffer.alloc(size - offset);
              await fh.read(buf, 0, buf.length, offset);
              offset = size;
              grew = true;
              const chunk = pending + buf.toString("utf8");
              const end = chunk.lastIndexOf("\n") + 1;
              pending = chunk.slice(end);
              for (const l of parseK8sLog(chunk.slice(0, end)) as LogLine[]) if (filter(l)) yield l;
            } else if (st) {
              // Drained: if the path now names another file (rotated) or was truncated, continue with that.
              const now = await stat(path).catch(() => undefined);
              if (now && (now.ino !== ino || size < offset)) {
                await fh.close();
                fh = undefined;
                continue;
              }
            }
          }
          if (!grew && (!st || (st.status !== "running" && st.status !== "paused" && st.status !== "created"))) return;
          // Poll for growth; an exit wakes the loop at once, so a follower ends right after the container.
          if (!grew) await self.stateChange(row.id, 200);
        }
      } finally {
        await fh?.close();
      }
    }
    return gen();
  }

  async stats(ref: string): Promise<Record<string, unknown>> {
    const row = this.find(ref);
    const s = await this.d.libct.stats(row.id);
    const str = (v: bigint | undefined) => (v === undefined ? undefined : v.toString());
    const clean = (o: Record<string, string | undefined>) =>
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Record<string, string>;
    return {
      id: row.id,
      readAt: s.readAt,
      ...(s.cpu
        ? { cpu: clean({ totalNs: str(s.cpu.totalNs), userNs: str(s.cpu.userNs), systemNs: str(s.cpu.systemNs) }) }
        : {}),
      ...(s.memory
        ? {
            memory: clean({
              usageBytes: str(s.memory.usageBytes),
              limitBytes: str(s.memory.limitBytes),
              peakBytes: str(s.memory.peakBytes),
              cacheBytes: str(s.memory.cacheBytes),
            }),
          }
        : {}),
      ...(s.pids ? { pids: clean({ current: str(s.pids.current), limit: str(s.pids.limit) }) } : {}),
      blockIO: s.blockIO.map((b) => ({
        device: b.device,
        readBytes: b.readBytes.toString(),
        writeBytes: b.writeBytes.toString(),
        readOps: b.readOps.toString(),
        writeOps: b.writeOps.toString(),
      })),
    };
  }

  /** A command run to completion (its output and exit code), or with `detach` started and left running. */
  async exec(ref: string, req: ExecCreate): Promise<ExecResult | ExecStarted> {
    const row = this.find(ref);
    if (!req.detach && (req.tty || req.attachStdin)) {
      throw new ValidationError([
        {
          field: req.tty ? "tty" : "attachStdin",
          message:
            "interactive exec is a stream: send this request with 'Connection: Upgrade' and 'Upgrade: tcp' (berth exec -it)",
        },
      ]);
    }
    const st = await this.libctState(row.id);
    if (st?.status !== "running") {
      throw new LibctError(
        "precondition",
        st?.status === "paused"
          ? `container '${row.name}' is paused; unpause it (berth unpause ${row.name}) before exec`
          : `container '${row.name}' is not running (${st?.status ?? "gone"}); start it with berth start ${row.name}`,
      );
    }
    let user: { uid: number; gid: number } | undefined;
    if (req.user) {
      const rootfs = this.rootfs(row.id);
      const passwd = readImageEtc(rootfs, "passwd");
      const group = readImageEtc(rootfs, "group");
      user = resolveUser(req.user, passwd, group);
    }
    const proc = {
      args: req.cmd,
      ...(req.env ? { env: req.env } : {}),
      ...(req.workingDir ? { cwd: req.workingDir } : {}),
      ...(user ? { user } : {}),
      ...(req.privileged ? { privileged: true } : {}),
    };
    if (req.detach) {
      // Under its own conmon, like exec -it, with nobody attached: the output goes to the session's log.
      // `exec -dit` as Docker takes it: a pty and an open stdin, with nobody attached to them.
      const s = await this.d.libct.execDetached(row.id, {
        ...proc,
        ...(req.tty ? { terminal: true } : {}),
        ...(req.attachStdin ? { stdin: true } : {}),
      });
      return { session: s.sessionId };
    }
    // At most EXEC_OUTPUT_CAP (16 MiB) of each stream is kept: the rest is dropped and the reply says so.
    const res = await this.d.libct.exec(row.id, proc);
    return {
      exitCode: res.exitCode,
      stdout: res.stdout,
      stderr: res.stderr,
      ...(res.stdoutTruncated ? { stdoutTruncated: true } : {}),
      ...(res.stderrTruncated ? { stderrTruncated: true } : {}),
    };
  }

  /**
   * The container's processes: read from /proc, or, with `psArgs` (Docker's `top CONTAINER [ps OPTIONS]`),
   * the host's ps run with those options and cut down to the container's rows, as Docker does.
   */
  async top(ref: string, psArgs?: string): Promise<{ titles: string[]; processes: string[][] }> {
    const row = this.find(ref);
    const st = await this.libctState(row.id);
    if (!st || (st.status !== "running" && st.status !== "paused")) {
      throw new LibctError("precondition", `container '${row.name}' is not running; start it to see its processes`);
    }
    const pids = new Set<number>();
    for (const dir of cgroupDirs(this.d.libct.host, `/berth/${row.id}`)) {
      const text = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "");
      for (const p of text.split("\n")) if (/^\d+$/.test(p)) pids.add(Number(p));
      if (pids.size) break;
    }
    if (psArgs !== undefined) return psTop(this.d.cmd, psArgs, pids);
    const ticks = 100;
    const processes: string[][] = [];
    for (const pid of [...pids].sort((a, b) => a - b)) {
      const [statText, status, cmdline] = await Promise.all([
        readFile(`/proc/${pid}/stat`, "utf8").catch(() => ""),
        readFile(`/proc/${pid}/status`, "utf8").catch(() => ""),
        readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => ""),
      ]);
      if (!statText) continue;
      const close = statText.lastIndexOf(")");
      const comm = statText.slice(statText.indexOf("(") + 1, close);
      const f = statText.slice(close + 2).split(" ");
      const cpu = Math.floor((Number(f[11] ?? 0) + Number(f[12] ?? 0)) / ticks);
      const time = `${String(Math.floor(cpu / 3600)).padStart(2, "0")}:${String(Math.floor(cpu / 60) % 60).padStart(2, "0")}:${String(cpu % 60).padStart(2, "0")}`;
      const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? "?";
      const cmd = cmdline.split("\0").filter(Boolean).join(" ") || `[${comm}]`;
      processes.push([uid, String(pid), f[1] ?? "?", f[0] ?? "?", time, cmd]);
    }
    return { titles: ["UID", "PID", "PPID", "STAT", "TIME", "CMD"], processes };
  }

  // ---- start-up and shut-down ----

  /** Brings rows in line with what really runs: exits that happened while berthd was down are recorded. */
  async reconcile(): Promise<{ running: number; exited: number }> {
    await this.trash.open();
    let running = 0;
    let exited = 0;
    for (const row of this.d.repo.list()) {
      try {
        const st = await this.libctState(row.id);
        if (!st) {
          if (row.status !== "exited") {
            this.recordExit(row.id, 255, false);
            exited++;
          }
          continue;
        }
        if (st.status === "stopped") {
          if (row.status !== "exited" && row.status !== "created") {
            this.recordExit(row.id, st.exitCode ?? 255, st.oomKilled ?? false);
            exited++;
          }
          continue;
        }
        const status: ContainerStatus =
          st.status === "paused" ? "paused" : st.status === "running" ? "running" : "created";
        if (status !== row.status || (st.pid !== undefined && st.pid !== row.pid)) {
          this.d.repo.setState(row.id, { status, pid: st.pid ?? null });
        }
        if (status !== "created") {
          running++;
          this.watch(row.id);
          const live = this.d.repo.get(row.id);
          if (live) this.notify((h) => h.running?.(live));
        }
      } catch (err) {
        this.d.log.warn("reconcile failed for a container", { id: row.id, err });
      }
    }
    await this.sweepOrphans().catch((err) => this.d.log.warn("sweeping what crashed creates left failed", { err }));
    return { running, exited };
  }

  /**
   * What a create cut short by the end of berthd (kill -9, a crash) left before the row that records it: a
   * libct container (conmon and runc's init waiting in it), the rootfs snapshot and its mount, the container's
   * directory. berthd creates nothing while it reconciles, so whatever has no row is such a leftover.
   */
  private async sweepOrphans(): Promise<void> {
    const { libct, storage, cmd, repo, log } = this.d;
    const known = new Set(repo.list().map((r) => r.id));
    const orphan = (id: string | undefined): id is string => id !== undefined && !known.has(id);
    for (const st of await libct.list()) {
      if (!orphan(st.id)) continue;
      log.warn("removing a container an interrupted create left", { id: st.id, status: st.status });
      await libct.delete(st.id, { force: true }).catch((err) => log.warn("orphan delete failed", { id: st.id, err }));
    }
    const dirs = (await containerDirs(this.d.root)).filter(orphan);
    for (const id of dirs) {
      if (await isMountPoint(this.rootfs(id))) await unmount(cmd, this.rootfs(id));
    }
    for (const snap of await storage.list()) {
      const id = snap.labels["berth.container"];
      if (orphan(id) && snap.key === this.snapshotKey(id)) await storage.remove(snap.key);
    }
    for (const id of dirs) await this.trash.discard(this.dir(id));
    const runDirs = await readdir(join(this.d.runRoot, "containers")).catch(() => [] as string[]);
    for (const id of runDirs.filter(orphan)) await rm(this.runDir(id), { recursive: true, force: true });
  }

  /** Stops following containers; the containers themselves keep running. */
  close(): void {
    this.closed = true;
    for (const stop of this.watchers.values()) stop();
    this.watchers.clear();
  }
}

/**
 * The text of the image's /etc/passwd or /etc/group (`name`) under a rootfs, "" when there is none. Only a
 * real /etc directory and a regular file count: a symlink (which the host would resolve against its own
 * root, e.g. to the host's /etc/shadow), a FIFO (which would block) or a file over 4 MiB is not read.
 * Synchronous: a few microseconds from the page cache, where a thread-pool readFile costs about 160 us on
 * every create (bench api-run).
 */
export function readImageEtc(rootfs: string, name: "passwd" | "group"): string {
  let fd: number | undefined;
  try {
    if (!lstatSync(join(rootfs, "etc")).isDirectory()) return "";
    fd = openSync(join(rootfs, "etc", name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 4 * 1024 * 1024) return "";
    return readFileSync(fd, "utf8");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Docker's top with ps options: the host's `ps ARGS` (split on blanks, no shell), its header as titles and
 * the rows whose PID is one of `pids`; the last column keeps its spaces (the command line).
 */
export async function psTop(
  cmd: CommandRunner,
  psArgs: string,
  pids: ReadonlySet<number>,
): Promise<{ titles: string[]; processes: string[][] }> {
  const args = psArgs.split(/\s+/).filter(Boolean);
  let stdout: string;
  try {
    ({ stdout } = await cmd.run("ps", args));
  } catch (err) {
    if (err instanceof LibctError) throw err; // ps is not installed (procps): "unavailable", with the fix
    const why = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split("\n")[0];
    throw new ValidationError([
      { field: "psArgs", message: `ps ${args.join(" ")} failed: ${why}; give options ps takes, e.g. aux or -ef` },
    ]);
  }
  const [header = "", ...lines] = stdout.split("\n").filter((l) => l.trim() !== "");
  const titles = header.trim().split(/\s+/);
  const pidCol = titles.indexOf("PID");
  if (pidCol < 0) {
    throw new ValidationError([
      {
        field: "psArgs",
        message: `ps ${args.join(" ")} prints no PID column, so its rows cannot be matched to the container; add pid (e.g. -o pid,comm)`,
      },
    ]);
  }
  const processes: string[][] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    const row = [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(" ")];
    if (pids.has(Number(row[pidCol]))) processes.push(row);
  }
  return { titles, processes };
}

/** Directory names under <root>/containers, for leak checks in tests. */
export const containerDirs = (root: string) => readdir(join(root, "containers")).catch(() => [] as string[]);

/**
 * A container's mounts as Docker's inspect lists them (`Mounts`), from its description: every volume (the
 * image's VOLUMEs and `-v /path` ones under their generated names), and the binds and tmpfs mounts the request
 * asked for. What berthd adds itself (the /etc files, the --shm-size /dev/shm) is left out.
 */
export function wireMounts(row: ContainerRow, volumeDir: (name: string) => string): ContainerMount[] {
  const asked = new Set((row.config.mounts ?? []).map((m) => m.target));
  const out: ContainerMount[] = [];
  for (const m of row.description.mounts ?? []) {
    const rw = m.readonly !== true;
    if (m.type === "volume") {
      out.push({ type: "volume", name: m.name, source: volumeDir(m.name), destination: m.destination, rw });
    } else if (asked.has(m.destination)) {
      out.push(
        m.type === "bind"
          ? { type: "bind", source: m.source, destination: m.destination, rw, propagation: m.propagation ?? "rprivate" }
          : { type: "tmpfs", source: "", destination: m.destination, rw },
      );
    }
  }
  return out;
}
