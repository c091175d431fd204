/**
 * `berth build`: extracts the context tar, parses and plans the Containerfile (a syntax error is a 400
 * before any work), then runs each step: FROM, RUN in a real berth container (network none), COPY/ADD
 * as a layer made from the context or an earlier stage, metadata via applyToConfig. Every step's result
 * is an image in the content store; a JSON index maps each step's cache key to it, so an unchanged
 * rebuild does no work.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import type { Readable } from "node:stream";
import { type ContentStore, type Descriptor, type ImageConfig, LibctError, type StorageDriver } from "@berth/libct";
import { normalizeTag } from "@berth/libct/image/archive/refs";
import {
  applyToConfig,
  type CopyInstruction,
  cacheKey,
  commandArgv,
  historyEntry,
  type ImageRunConfig,
  makeIgnoreMatcher,
  type PlannedStage,
  type PlanStep,
  parseContainerfile,
  planBuild,
  resolveWorkdir,
} from "@berth/libct/image/build/index";
import { type LayerEntry, storeLayer, upperDirEntries } from "@berth/libct/image/diff/index";
import { MT } from "@berth/libct/image/store/media-types";
import {
  archiveKind,
  chownNeedsNames,
  expandSource,
  extractArchive,
  isUrl,
  resolveChown,
  type SourceMatch,
} from "./build-files.js";
import type { ContainerService } from "./containers.js";
import type { ImageService, ProgressLine } from "./images.js";
import { streamWork } from "./images-transfer.js";

interface State {
  manifest?: Descriptor;
  layers: Descriptor[];
  config: ImageConfig;
  key: string;
}

export interface BuildDeps {
  readonly images: ImageService;
  readonly containers: ContainerService;
  readonly store: ContentStore;
  readonly storage: StorageDriver;
  readonly root: string;
}

const arch = () => ({ x64: "amd64", arm64: "arm64" })[process.arch as "x64"] ?? process.arch;

export class BuildService {
  constructor(private readonly d: BuildDeps) {}

  private get cachePath(): string {
    return join(this.d.root, "build", "cache.json");
  }

  private async readCache(): Promise<Record<string, string>> {
    return JSON.parse(await readFile(this.cachePath, "utf8").catch(() => "{}")) as Record<string, string>;
  }

  private async writeCache(c: Record<string, string>): Promise<void> {
    await mkdir(join(this.d.root, "build"), { recursive: true });
    const tmp = `${this.cachePath}.${process.pid}.${Date.now()}`;
    await writeFile(tmp, JSON.stringify(c));
    await rename(tmp, this.cachePath);
  }

  /** Validates and parses before returning: errors here are 400s with no work done. */
  async build(context: Readable, q: URLSearchParams): Promise<AsyncGenerator<ProgressLine>> {
    const tags = q.getAll("t").map((t) => normalizeTag(t, "tag"));
    const buildArgs: Record<string, string> = {};
    for (const a of q.getAll("buildarg")) {
      const at = a.indexOf("=");
      if (at <= 0) throw new LibctError("invalid", `build arg '${a}' is not KEY=VALUE`);
      buildArgs[a.slice(0, at)] = a.slice(at + 1);
    }
    await mkdir(join(this.d.root, "tmp"), { recursive: true });
    const dir = await mkdtemp(join(this.d.root, "tmp", "build-"));
    try {
      await extract(context, dir);
      const fileName = q.get("f") || (await firstExisting(dir, ["Containerfile", "Dockerfile"])) || "Containerfile";
      if (fileName.includes("..")) throw new LibctError("invalid", `-f ${fileName}: must be inside the context`);
      const text = await readFile(join(dir, fileName), "utf8").catch(() => {
        throw new LibctError("invalid", `no ${fileName} in the build context; add one or name it with -f`);
      });
      const ignoreName = await firstExisting(dir, [".containerignore", ".dockerignore"]);
      if (ignoreName)
        await applyIgnore(dir, makeIgnoreMatcher(await readFile(join(dir, ignoreName), "utf8"), ignoreName));
      const file = parseContainerfile(text, { buildArgs, fileName });
      const plan = planBuild(file);
      for (const stage of plan.stages)
        for (const step of stage.steps) {
          const i = step.instruction;
          if (i.kind !== "copy" && i.kind !== "add") continue;
          for (const src of i.sources)
            if (src.kind === "path" && isUrl(src.path))
              throw new LibctError(
                "invalid",
                i.kind === "add"
                  ? `ADD ${src.path} (line ${i.line}): ADD of a URL is not supported offline yet; download the file into the build context and ADD or COPY it from there`
                  : `COPY ${src.path} (line ${i.line}): COPY takes no URL; use a path in the build context`,
              );
        }
      return streamWork(async (push) => {
        try {
          return await this.run(plan.stages, dir, tags, push);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private async run(
    stages: readonly PlannedStage[],
    ctx: string,
    tags: string[],
    push: (l: ProgressLine) => void,
  ): Promise<ProgressLine[]> {
    const cache = await this.readCache();
    const done = new Map<number, State>();
    const total = stages.reduce((n, s) => n + s.steps.length, 0);
    let n = 0;
    let state!: State;
    for (const stage of stages) {
      for (const step of stage.steps) {
        n++;
        push({ status: `STEP ${n}/${total}: ${step.instruction.source}` });
        if (step.effect === "from") {
          state = await this.from(stage, done);
          state.key = cacheKey("", step, state.key);
          continue;
        }
        const content = step.needsContent
          ? await this.contentDigest(step.instruction as CopyInstruction, ctx, done)
          : undefined;
        const key = cacheKey(state.key, step, content);
        const hit = cache[key];
        if (hit && (await this.d.store.hasBlob(hit))) {
          const loaded = await this.load(hit);
          if (loaded) {
            push({ status: "---> Using cache", id: hit });
            state = { ...loaded, key };
            continue;
          }
        }
        state = { ...(await this.execute(step, state, ctx, done, push)), key };
        cache[key] = state.manifest!.digest;
        await this.writeCache(cache);
        push({ status: `---> ${state.manifest!.digest.slice(7, 19)}`, id: state.manifest!.digest });
      }
      done.set(stage.index, state);
    }
    if (!state.manifest) state = { ...state, manifest: await this.writeImage(state) };
    for (const t of tags) await this.d.store.tag(t, state.manifest!);
    for (const t of tags) push({ status: `Successfully tagged ${t}` });
    return [
      {
        status: "done",
        id: state.manifest!.digest,
        digest: state.manifest!.digest,
        ...(tags[0] ? { ref: tags[0] } : {}),
      },
    ];
  }

  private async from(stage: PlannedStage, done: Map<number, State>): Promise<State> {
    if (stage.base.kind === "stage") return { ...done.get(stage.base.index)! };
    if (stage.base.kind === "scratch")
      return {
        layers: [],
        key: "scratch",
        config: {
          architecture: arch(),
          os: "linux",
          config: {},
          rootfs: { type: "layers", diff_ids: [] },
          history: [],
        },
      };
    const img = await this.d.images.resolve(stage.base.ref);
    const { descriptor, manifest } = await this.d.store.getManifest(img.digest);
    return { manifest: descriptor, layers: [...manifest.layers], config: img.config, key: img.digest };
  }

  private async load(digest: string): Promise<Omit<State, "key"> | undefined> {
    try {
      const { descriptor, manifest } = await this.d.store.getManifest(digest);
      return { manifest: descriptor, layers: [...manifest.layers], config: await this.d.store.imageConfig(manifest) };
    } catch {
      return undefined;
    }
  }

  private async writeImage(s: Omit<State, "key" | "manifest">): Promise<Descriptor> {
    const config = await this.d.store.putJson(s.config, MT.ociConfig);
    return this.d.store.putJson(
      { schemaVersion: 2, mediaType: MT.ociManifest, config, layers: s.layers },
      MT.ociManifest,
    );
  }

  private async execute(
    step: PlanStep,
    s: State,
    ctx: string,
    done: Map<number, State>,
    push: (l: ProgressLine) => void,
  ): Promise<Omit<State, "key">> {
    const i = step.instruction;
    const run = (s.config.config ?? {}) as ImageRunConfig;
    const created = new Date().toISOString();
    const hist = historyEntry(i, run);
    let next: Omit<State, "key" | "manifest"> = { layers: s.layers, config: s.config };
    const addLayer = (layer: Descriptor, diffId: string) => {
      next = {
        layers: [...s.layers, layer],
        config: {
          ...next.config,
          rootfs: { type: "layers", diff_ids: [...(s.config.rootfs?.diff_ids ?? []), diffId] },
        },
      };
    };
    if (i.kind === "run") {
      const { layer, diffId } = await this.runStep(s, commandArgv(i.command, run.Shell), i.args, push);
      addLayer(layer, diffId);
    } else if (i.kind === "copy" || i.kind === "add") {
      const entries = await this.copyEntries(i, run, ctx, done, s);
      try {
        const { layer, diffId } = await storeLayer(this.d.store, entries.list);
        addLayer(layer, diffId);
      } finally {
        await entries.cleanup();
      }
    } else if (i.kind === "workdir") {
      const wd = resolveWorkdir(run.WorkingDir, i.path).slice(1);
      if (wd) {
        const { layer, diffId } = await storeLayer(this.d.store, dirsFor(wd, true));
        addLayer(layer, diffId);
      }
    }
    const config = applyToConfig(run, i);
    next = {
      ...next,
      config: {
        ...next.config,
        created,
        config: config as ImageConfig["config"],
        history: [
          ...(next.config.history ?? []),
          ...(hist
            ? [{ created, ...hist, ...(next.layers.length === s.layers.length ? { empty_layer: true } : {}) }]
            : []),
        ],
      },
    };
    return { ...next, manifest: await this.writeImage(next) };
  }

  /** A temporary tag for a state, so that a container can be created from it. */
  private async withContainer<T>(s: State, req: Record<string, unknown>, fn: (id: string) => Promise<T>): Promise<T> {
    const manifest = s.manifest ?? (await this.writeImage(s));
    const tmpRef = `localhost/berth-build-tmp:${manifest.digest.slice(7, 27)}${Date.now().toString(36)}`;
    await this.d.store.tag(tmpRef, manifest);
    let id: string | undefined;
    try {
      const c = await this.d.containers.create({ image: tmpRef, network: "none", ...req } as never);
      id = c.id;
      await this.d.store.untag(tmpRef).catch(() => {});
      return await fn(id);
    } finally {
      await this.d.store.untag(tmpRef).catch(() => {});
      if (id) await this.d.containers.remove(id, { force: true }).catch(() => {});
    }
  }

  private async runStep(
    s: State,
    argv: string[],
    args: readonly { key: string; value: string }[],
    push: (l: ProgressLine) => void,
  ): Promise<{ layer: Descriptor; diffId: string }> {
    if (s.layers.length === 0)
      throw new LibctError("invalid", "RUN needs a base image with a shell; FROM scratch has no files to run");
    const env = args.map((a) => `${a.key}=${a.value}`);
    return this.withContainer(s, { entrypoint: argv, ...(env.length ? { env } : {}) }, async (id) => {
      await this.d.containers.start(id);
      for await (const line of await this.d.containers.logs(id, { follow: true }))
        push({ status: line.text.replace(/\n$/, ""), stream: line.stream });
      const { exitCode } = await this.d.containers.wait(id);
      if (exitCode !== 0)
        throw new LibctError("invalid", `RUN ${argv.slice(-1)[0]}: exited with code ${exitCode}; the build stops here`);
      const upper = await this.d.storage.writableDir!(`container/${id}`);
      return storeLayer(this.d.store, await upperDirEntries(upper));
    });
  }

  private async copyEntries(
    i: CopyInstruction,
    run: ImageRunConfig,
    ctx: string,
    done: Map<number, State>,
    s: State,
  ): Promise<{ list: LayerEntry[]; cleanup: () => Promise<void> }> {
    const what = `${i.kind.toUpperCase()} (line ${i.line})`;
    let owner: { uid: number; gid: number } | undefined;
    if (i.chown) {
      const spec = i.chown;
      owner =
        chownNeedsNames(spec) && s.layers.length > 0
          ? await this.withContainer(s, { cmd: ["true"] }, (id) =>
              resolveChown(spec, join(this.d.root, "containers", id, "rootfs"), what),
            )
          : await resolveChown(spec, undefined, what);
    }
    const scratch: string[] = [];
    const make = async (root: string): Promise<LayerEntry[]> => {
      const dest0 = i.dest.startsWith("/") ? i.dest : `${run.WorkingDir || "/"}/${i.dest}`;
      const matches = await this.sources(i, root, root === ctx ? "build context" : "stage");
      let destIsDir = dest0.endsWith("/") || matches.length > 1;
      const dest = posix.normalize(dest0).replace(/^\/+|\/+$/g, "");
      const list: LayerEntry[] = [];
      for (const { abs, st, rel } of matches) {
        const kind = i.kind === "add" && st.isFile() ? await archiveKind(abs) : undefined;
        if (kind) {
          await mkdir(join(this.d.root, "tmp"), { recursive: true });
          const dir = await mkdtemp(join(this.d.root, "tmp", "add-"));
          scratch.push(dir);
          await extractArchive(abs, kind, dir, `ADD ${rel} (line ${i.line})`);
          list.push(...(await walkFiles(dir, dest, owner, true)));
          destIsDir = true;
        } else if (st.isDirectory()) list.push(...(await walkFiles(abs, dest, owner)));
        else {
          const name = destIsDir ? posix.join(dest, posix.basename(rel)) : dest;
          list.push(fileEntry(abs, name, st, owner));
        }
      }
      return [...dirsFor(dest, destIsDir || list.length !== 1 || list[0]!.name !== dest), ...list];
    };
    const clean = async () => {
      for (const d of scratch) await rm(d, { recursive: true, force: true });
    };
    if (i.fromStage !== undefined) {
      const stage = done.get(i.fromStage)!;
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let list!: LayerEntry[];
      const ready = new Promise<void>((resolve, reject) => {
        this.withContainer(stage, { cmd: ["true"] }, async (id) => {
          list = await make(join(this.d.root, "containers", id, "rootfs"));
          resolve();
          await held;
        }).catch(reject);
      });
      await ready.catch(async (err) => {
        await clean();
        throw err;
      });
      return {
        list,
        cleanup: async () => {
          release();
          await clean();
        },
      };
    }
    try {
      return { list: await make(ctx), cleanup: clean };
    } catch (err) {
      await clean();
      throw err;
    }
  }

  /** Every file the instruction's path sources name under `root`, wildcards expanded. */
  private async sources(i: CopyInstruction, root: string, where: string): Promise<SourceMatch[]> {
    const out: SourceMatch[] = [];
    for (const src of i.sources)
      if (src.kind === "path")
        out.push(
          ...(await expandSource(root, src.path, `${i.kind.toUpperCase()} ${src.path} (line ${i.line})`, where)),
        );
    return out;
  }

  private async contentDigest(i: CopyInstruction, ctx: string, done: Map<number, State>): Promise<string> {
    const h = createHash("sha256");
    h.update(JSON.stringify([i.chown ?? "", i.dest]));
    if (i.fromStage !== undefined) {
      h.update(`stage:${done.get(i.fromStage)?.key}`);
      return `sha256:${h.digest("hex")}`;
    }
    for (const s of i.sources) if (s.kind !== "path") h.update(`heredoc:${s.heredoc.name}:${s.heredoc.content}`);
    for (const { abs, st, rel } of await this.sources(i, ctx, "build context")) {
      h.update(`source:${rel}\0`);
      const files = st.isDirectory() ? await walkFiles(abs, "", undefined) : [fileEntry(abs, rel, st, undefined)];
      for (const f of files) {
        h.update(`${f.name}\0${f.type}\0${f.mode}\0${f.linkname ?? ""}\0`);
        if (f.source) for await (const c of createReadStream(f.source)) h.update(c as Buffer);
      }
    }
    return `sha256:${h.digest("hex")}`;
  }
}

function fileEntry(
  abs: string,
  name: string,
  st: import("node:fs").Stats,
  owner?: { uid: number; gid: number },
): LayerEntry {
  const base = { name, mode: st.mode & 0o7777, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0, mtime: st.mtime };
  return st.isSymbolicLink()
    ? { ...base, type: "symlink", linkname: "" }
    : { ...base, type: "file", source: abs, size: st.size };
}

/** Entries for everything under `dir`; owned by `owner`, else by root, or as on disk when `keepOwner`. */
async function walkFiles(
  dir: string,
  prefix: string,
  owner?: { uid: number; gid: number },
  keepOwner = false,
): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  for (const n of (await readdir(dir)).sort()) {
    const abs = join(dir, n);
    const name = prefix ? `${prefix}/${n}` : n;
    const st = await lstat(abs);
    const ids = owner ?? (keepOwner ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
    if (st.isDirectory()) {
      out.push({ name, type: "directory", mode: st.mode & 0o7777, ...ids, mtime: st.mtime });
      out.push(...(await walkFiles(abs, name, owner, keepOwner)));
    } else if (st.isSymbolicLink())
      out.push({ name, type: "symlink", linkname: await readlink(abs), mode: 0o777, ...ids, mtime: st.mtime });
    else if (st.isFile()) out.push(fileEntry(abs, name, st, ids));
  }
  return out;
}

/** Directory entries for `path`'s parents (and `path` itself when `self`). */
function dirsFor(path: string, self: boolean): LayerEntry[] {
  const parts = path.split("/").filter(Boolean);
  if (!self) parts.pop();
  const out: LayerEntry[] = [];
  for (let k = 1; k <= parts.length; k++)
    out.push({ name: parts.slice(0, k).join("/"), type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: new Date(0) });
  return out;
}

async function firstExisting(dir: string, names: string[]): Promise<string | undefined> {
  for (const n of names) if (await lstat(join(dir, n)).catch(() => undefined)) return n;
  return undefined;
}

async function applyIgnore(root: string, ignored: (p: string, isDir: boolean) => boolean): Promise<void> {
  const walk = async (rel: string): Promise<void> => {
    for (const n of await readdir(join(root, rel))) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await lstat(join(root, r));
      if (ignored(r, st.isDirectory())) {
        if (!st.isDirectory()) await rm(join(root, r), { force: true });
        else await rm(join(root, r), { recursive: true, force: true });
      } else if (st.isDirectory()) await walk(r);
    }
  };
  await walk("");
}

function extract(source: Readable, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn("tar", ["-x", "--no-same-owner", "-C", dir], { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    tar.stderr.on("data", (c) => {
      err += String(c);
    });
    source.on("error", reject);
    source.pipe(tar.stdin);
    tar.on("error", reject);
    tar.on("close", (code) =>
      code === 0 ? resolve() : reject(new LibctError("invalid", `the build context is not a tar: ${err.trim()}`)),
    );
  });
}
