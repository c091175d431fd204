/** Image routes: pull, push, tag, remove, prune, import, load, save, bootstrap (registered in handlers.ts). */
import { LibctError, ValidationError } from "@berth/libct";
import { BuildService } from "../services/build.js";
import { commitContainer } from "../services/commit.js";
import type { ContainerService } from "../services/containers.js";
import type { ImageBootstrapRequest, ImagePullRequest, ImagePushRequest, ImageService } from "../services/images.js";
import { type HandlerTable, reply } from "./router.js";

interface ImageServices {
  readonly containers: ContainerService;
  readonly images: ImageService;
}

function force(q: URLSearchParams): boolean {
  const v = q.get("force");
  if (v === null || v === "false" || v === "0") return false;
  if (v === "" || v === "true" || v === "1") return true;
  throw new ValidationError([{ field: "force", message: `must be true or false, not '${v}'` }]);
}

const builders = new WeakMap<object, BuildService>();
/** The build and commit services reach the image service's store and storage (bracket access to its private fields). */
const internals = (s: ImageServices) => ({
  store: s.images["store"],
  storage: s.images["storage"],
  root: s.images["root"],
  libct: s.containers["d"].libct,
});
function builder(s: ImageServices): BuildService {
  let b = builders.get(s.images);
  if (!b) {
    const i = internals(s);
    b = new BuildService({
      images: s.images,
      containers: s.containers,
      store: i.store,
      storage: i.storage,
      root: i.root,
    });
    builders.set(s.images, b);
  }
  return b;
}

function needStream<T>(s: T | undefined, what: string): T {
  if (!s) throw new LibctError("invalid", `send the ${what} as the request body`);
  return s;
}

export const imageHandlers: HandlerTable<ImageServices> = {
  listImages: async (_req, s) => reply.json(await s.images.list()),
  getImage: async ({ params }, s) => reply.json(await s.images.inspect(params.ref!)),
  bootstrapImage: async ({ body }, s) => reply.ndjson(s.images.bootstrap(body as ImageBootstrapRequest)),
  pullImage: async ({ body }, s) => reply.ndjson(s.images.pull(body as ImagePullRequest)),
  pushImage: async ({ body }, s) => reply.ndjson(s.images.push(body as ImagePushRequest)),
  tagImage: async ({ params, query }, s) => {
    const tag = query.get("tag");
    if (!tag) throw new ValidationError([{ field: "tag", message: "say the new reference: ?tag=NAME:TAG" }]);
    await s.images.tag(params.ref!, tag);
    return reply.noContent();
  },
  deleteImage: async ({ params, query }, s) => {
    await s.images.remove(params.ref!, {
      force: force(query),
      users: (digest, refs) =>
        s.containers
          .list({ all: true, filters: [] })
          .filter((c) => c.imageId === digest || refs.includes(c.image))
          .map((c) => ({ id: c.id, name: c.name })),
    });
    return reply.noContent();
  },
  pruneImages: async (_req, s) => reply.json(await s.images.prune()),
  imageUsage: async (_req, s) => reply.json(await s.images.usage()),
  importImage: async ({ query, stream }, s) =>
    reply.json(await s.images.import(needStream(stream, "root filesystem tar"), query.get("ref") ?? ""), 201),
  loadImage: async ({ stream }, s) => reply.json(await s.images.load(needStream(stream, "image archive"))),
  buildImage: async ({ query, stream }, s) =>
    reply.ndjson(await builder(s).build(needStream(stream, "build context tar"), query)),
  commitContainer: async ({ params, query }, s) => {
    const ref = query.get("ref");
    if (!ref) throw new ValidationError([{ field: "ref", message: "say what to call the image: ?ref=NAME:TAG" }]);
    return reply.json(await commitContainer({ ...s, ...internals(s) }, params.id!, ref), 201);
  },
  saveImage: async ({ params, query }, s) => {
    const format = query.get("format") || "docker-archive";
    const refs = [params.ref!, ...query.getAll("ref")];
    return reply.bytes(await s.images.save(refs, format), "application/x-tar");
  },
};
