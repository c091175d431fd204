/**
 * The REST API as data (incus APIEndpoint tables): the daemon binds handlers to these operation ids,
 * the OpenAPI document is generated from them, and the typed client calls them by id.
 */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RouteSpec {
  readonly method: HttpMethod;
  /** Path template with {params}. */
  readonly path: string;
  readonly summary: string;
  /** Name of the request body schema in schemas.ts, if any. */
  readonly body?: string;
  /** Query parameters the route accepts (name → description). */
  readonly query?: Readonly<Record<string, string>>;
  /** Success status. */
  readonly status: 200 | 201 | 202 | 204;
  /** Response schema name, or "stream" for SSE / chunked bodies, or "upgrade" for a raw stream. */
  readonly response?: string;
  /** A second success reply the route gives when the request asks for it (`when`). */
  readonly also?: { readonly status: 202; readonly response: string; readonly when: string };
}

export const routes = {
  serverInfo: {
    method: "GET",
    path: "/1.0",
    summary: "Server and host information",
    status: 200,
    response: "VersionInfo",
  },
  hostInfo: {
    method: "GET",
    path: "/1.0/info",
    summary: "The host: OS, kernel, CPUs, memory, drivers, and how many containers and images",
    status: 200,
    response: "HostInfo",
  },
  openapi: { method: "GET", path: "/1.0/openapi.json", summary: "This API as an OpenAPI 3 document", status: 200 },
  events: {
    method: "GET",
    path: "/1.0/events",
    summary: "Server-sent events for every state change",
    status: 200,
    response: "stream",
    query: {
      since: "ISO time or duration: replay the events berthd holds after it",
      until: "ISO time or duration: the stream ends there (at once, after the replay, when it is past)",
    },
  },

  listContainers: {
    method: "GET",
    path: "/1.0/containers",
    summary: "List containers",
    status: 200,
    response: "ContainerList",
    query: {
      all: "include stopped containers (true|false)",
      filter: "key=value filters, repeatable (name, label, status, id, kind)",
      size: "add sizeRw and sizeRootFs (true|false; walks every writable layer)",
    },
  },
  createContainer: {
    method: "POST",
    path: "/1.0/containers",
    summary: "Create (and with start=true, start) a container",
    body: "ContainerCreate",
    status: 201,
    response: "Container",
  },
  getContainer: {
    method: "GET",
    path: "/1.0/containers/{id}",
    summary: "Inspect a container (id, id prefix or name)",
    status: 200,
    response: "Container",
    query: { size: "add sizeRw and sizeRootFs (true|false)" },
  },
  updateContainer: {
    method: "PUT",
    path: "/1.0/containers/{id}",
    summary: "Change labels, restart policy, limits (live where the kernel allows)",
    body: "ContainerPut",
    status: 200,
    response: "Container",
  },
  deleteContainer: {
    method: "DELETE",
    path: "/1.0/containers/{id}",
    summary: "Remove a container",
    status: 204,
    query: {
      force: "kill it first if running",
      volumes: "remove its anonymous volumes too (rm -v); named volumes stay",
    },
  },
  startContainer: { method: "POST", path: "/1.0/containers/{id}/start", summary: "Start", status: 204 },
  stopContainer: {
    method: "POST",
    path: "/1.0/containers/{id}/stop",
    summary: "Stop: stop signal, then SIGKILL after t seconds",
    status: 204,
    query: { t: "seconds before SIGKILL" },
  },
  restartContainer: {
    method: "POST",
    path: "/1.0/containers/{id}/restart",
    summary: "Restart",
    status: 204,
    query: { t: "seconds before SIGKILL" },
  },
  killContainer: {
    method: "POST",
    path: "/1.0/containers/{id}/kill",
    summary: "Send a signal",
    status: 204,
    query: { signal: "name or number, default SIGKILL" },
  },
  pauseContainer: { method: "POST", path: "/1.0/containers/{id}/pause", summary: "Freeze", status: 204 },
  unpauseContainer: { method: "POST", path: "/1.0/containers/{id}/unpause", summary: "Thaw", status: 204 },
  waitContainer: {
    method: "POST",
    path: "/1.0/containers/{id}/wait",
    summary: "Wait for exit",
    status: 200,
    response: "WaitResult",
    query: { condition: "not-running (default), next-exit or removed, as Docker's" },
  },
  renameContainer: {
    method: "POST",
    path: "/1.0/containers/{id}/rename",
    summary: "Rename",
    status: 204,
    query: { name: "new name" },
  },
  containerLogs: {
    method: "GET",
    path: "/1.0/containers/{id}/logs",
    summary: "Logs (NDJSON of LogLine; follow streams)",
    status: 200,
    response: "stream",
    query: {
      follow: "true|false",
      since: "time or duration",
      until: "time or duration: lines up to it; a follower stops there",
      tail: "lines from the end, or all",
      timestamps: "true|false",
    },
  },
  containerStats: {
    method: "GET",
    path: "/1.0/containers/{id}/stats",
    summary: "Resource usage",
    status: 200,
    response: "ContainerStats",
    query: { stream: "true|false (NDJSON, one per second)" },
  },
  containerTop: {
    method: "GET",
    path: "/1.0/containers/{id}/top",
    summary: "Processes in the container",
    status: 200,
    response: "TopResult",
    query: { psArgs: "options for the host's ps (e.g. aux or -eo pid,comm): its columns, the container's rows" },
  },
  execContainer: {
    method: "POST",
    path: "/1.0/containers/{id}/exec",
    summary:
      "Run a command. With 'Connection: Upgrade, Upgrade: tcp' (berth exec, exec -i, exec -it) it answers 101 with " +
      "X-Berth-Exec-Session and the stream is the session's stdio, attached before the command runs: with tty, raw " +
      "bytes (Content-Type application/vnd.docker.raw-stream); without, output in Docker's stdcopy frames " +
      "(application/vnd.docker.multiplexed-stream: an 8-byte header [1 stdout | 2 stderr, 0, 0, 0, size uint32 " +
      "big-endian] then the payload); what the client sends is the command's stdin, raw. GET /exec/{session} then " +
      "gives the exit code. Without the upgrade (no tty, no stdin) the command runs to completion and the reply " +
      "carries its exit code and output, at most 16 MiB of each stream (cut there, flagged stdoutTruncated/" +
      "stderrTruncated). detach=true answers 202 with the session at once",
    body: "ExecCreate",
    status: 200,
    response: "ExecResult",
    also: { status: 202, response: "ExecStarted", when: "detach: true in the body (berth exec -d)" },
  },
  attachContainer: {
    method: "POST",
    path: "/1.0/containers/{id}/attach",
    summary:
      "Attach stdio (HTTP upgrade, 'Connection: Upgrade, Upgrade: tcp'). For a container with a tty the stream is " +
      "raw both ways (Content-Type application/vnd.docker.raw-stream); without one its output comes in Docker's " +
      "stdcopy frames (application/vnd.docker.multiplexed-stream: an 8-byte header [1 stdout | 2 stderr, 0, 0, 0, " +
      "size uint32 big-endian] then the payload) and what the client sends is its stdin, raw. start=true starts " +
      "the container once attached (start -a), with the terminal size h, w set first; closeStdin=true closes its " +
      "stdin when the client half-closes",
    status: 200,
    response: "upgrade",
    query: {
      start: "true|false",
      closeStdin: "true|false",
      h: "rows (with start=true)",
      w: "columns (with start=true)",
    },
  },
  resizeContainer: {
    method: "POST",
    path: "/1.0/containers/{id}/resize",
    summary: "Resize the container's tty",
    status: 204,
    query: { h: "rows", w: "columns" },
  },
  execSession: {
    method: "GET",
    path: "/1.0/containers/{id}/exec/{session}",
    summary: "Wait for an interactive exec session (the upgrade of POST /exec) and give its exit code",
    status: 200,
    response: "WaitResult",
  },
  resizeExec: {
    method: "POST",
    path: "/1.0/containers/{id}/exec/{session}/resize",
    summary: "Resize an interactive exec session's tty",
    status: 204,
    query: { h: "rows", w: "columns" },
  },
  getArchive: {
    method: "GET",
    path: "/1.0/containers/{id}/archive",
    summary:
      "A tar of a path in the container (cp out); paths and symlinks are resolved inside the container's root, " +
      "anything climbing out of it is refused with 400",
    status: 200,
    response: "stream",
    query: { path: "absolute path in the container" },
  },
  putArchive: {
    method: "PUT",
    path: "/1.0/containers/{id}/archive",
    summary:
      "Extract a tar into a path in the container (cp in): into an existing directory, or as a new name " +
      "(the tar's single top entry renamed) when the path does not exist; owned by the container's root",
    status: 204,
    query: { path: "absolute path in the container" },
  },

  listImages: { method: "GET", path: "/1.0/images", summary: "List images", status: 200, response: "ImageList" },
  pullImage: {
    method: "POST",
    path: "/1.0/images/pull",
    summary: "Pull from a registry (progress as NDJSON)",
    body: "ImagePull",
    status: 200,
    response: "stream",
  },
  pushImage: {
    method: "POST",
    path: "/1.0/images/push",
    summary: "Push to a registry (progress as NDJSON)",
    body: "ImagePush",
    status: 200,
    response: "stream",
  },
  getImage: { method: "GET", path: "/1.0/images/{ref}", summary: "Inspect an image", status: 200, response: "Image" },
  deleteImage: {
    method: "DELETE",
    path: "/1.0/images/{ref}",
    summary: "Remove an image tag (and its content when unreferenced)",
    status: 204,
    query: { force: "true|false" },
  },
  tagImage: {
    method: "POST",
    path: "/1.0/images/{ref}/tag",
    summary: "Add a tag",
    status: 204,
    query: { tag: "new reference" },
  },
  imageUsage: {
    method: "GET",
    path: "/1.0/images/usage",
    summary: "Disk use of the image store: per image (own and shared bytes) and in total",
    status: 200,
    response: "ImageUsage",
  },
  pruneImages: {
    method: "POST",
    path: "/1.0/images/prune",
    summary: "Remove unreferenced blobs and layers",
    status: 200,
    response: "PruneResult",
  },
  buildImage: {
    method: "POST",
    path: "/1.0/images/build",
    summary: "Build from a tar of a context (progress as NDJSON)",
    status: 200,
    response: "stream",
    query: { t: "tag, repeatable", f: "Containerfile path in the context", buildarg: "K=V, repeatable" },
  },
  importImage: {
    method: "POST",
    path: "/1.0/images/import",
    summary: "A root filesystem tar (.gz/.zst) as a one-layer image",
    status: 201,
    response: "Image",
    query: { ref: "NAME:TAG" },
  },
  loadImage: {
    method: "POST",
    path: "/1.0/images/load",
    summary: "Load a docker-archive or oci-archive tar",
    status: 200,
    response: "ImageList",
  },
  saveImage: {
    method: "GET",
    path: "/1.0/images/{ref}/save",
    summary: "Save as a tar",
    status: 200,
    response: "stream",
    query: { format: "docker-archive|oci-archive" },
  },
  bootstrapImage: {
    method: "POST",
    path: "/1.0/images/bootstrap",
    summary: "Build a base image offline (debootstrap or busybox-static)",
    body: "ImageBootstrap",
    status: 200,
    response: "stream",
  },
  commitContainer: {
    method: "POST",
    path: "/1.0/containers/{id}/commit",
    summary: "Turn a container into an image",
    status: 201,
    response: "Image",
    query: { ref: "NAME:TAG" },
  },

  createToken: {
    method: "POST",
    path: "/1.0/tokens",
    summary: "Create a bearer token for the TCP API (over the unix socket only)",
    body: "TokenCreate",
    status: 201,
    response: "Token",
  },
  listTokens: {
    method: "GET",
    path: "/1.0/tokens",
    summary: "List bearer tokens (without their secrets)",
    status: 200,
    response: "TokenList",
  },
  deleteToken: {
    method: "DELETE",
    path: "/1.0/tokens/{id}",
    summary: "Revoke a bearer token (by id or name; over the unix socket only)",
    status: 204,
  },
} as const satisfies Record<string, RouteSpec>;

export type OperationId = keyof typeof routes;

/** Fills a path template: fillPath("/1.0/containers/{id}", { id: "web" }). Values are URI-encoded. */
export function fillPath(template: string, params: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`missing path parameter ${name} for ${template}`);
    return encodeURIComponent(v);
  });
}

/** Matches a concrete path against a template; returns the params or undefined. */
export function matchPath(template: string, path: string): Record<string, string> | undefined {
  const names: string[] = [];
  const re = new RegExp(
    `^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{(\w+)\\?\}/g, (_, n: string) => {
      names.push(n);
      return "([^/]+)";
    })}$`,
  );
  const m = re.exec(path);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  names.forEach((n, i) => {
    out[n] = decodeURIComponent(m[i + 1] ?? "");
  });
  return out;
}
