/**
 * JSON schemas of the wire types, in the subset both JSON Schema (ajv, which validates request bodies in
 * berthd) and OpenAPI 3.0.3 schema objects accept: one `type` per schema, no `const`, no `$schema`.
 * The daemon validates bodies against these; `openapi.ts` publishes them. Pure: no node: imports.
 *
 * Keep them in step with types.ts: a field missing here is rejected as unknown (additionalProperties: false).
 */

export type JsonSchema = { readonly [key: string]: unknown };

/** Container and image names: what Docker accepts. */
export const NAME_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$";

/** What a pattern means, in words (`x-pattern-rule`): berthd's 400 says this instead of the regular expression. */
const ABSOLUTE = "must be an absolute path; e.g. /app";
const NAME_RULE =
  "may hold only letters, digits, '_', '.' and '-', must start with a letter or digit, and be at most 128 characters; e.g. web-1";

const str = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: "string", description, ...extra });
const bool = (description: string): JsonSchema => ({ type: "boolean", description });
const int = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: "integer", description, ...extra });
const strings = (description: string, extra: JsonSchema = {}): JsonSchema => ({
  type: "array",
  items: { type: "string" },
  description,
  ...extra,
});
const object = (properties: Record<string, JsonSchema>, required: string[] = [], description?: string): JsonSchema => ({
  type: "object",
  ...(description ? { description } : {}),
  properties,
  ...(required.length ? { required } : {}),
  additionalProperties: false,
});
const stringMap = (description: string): JsonSchema => ({
  type: "object",
  description,
  additionalProperties: { type: "string" },
});

/** Absurd sizes are refused: 2^50 bytes (1 PiB) is far beyond any host. */
const MAX_BYTES = 2 ** 50;

export const RestartPolicy = object(
  {
    name: str("no | on-failure | always | unless-stopped", { enum: ["no", "on-failure", "always", "unless-stopped"] }),
    maximumRetryCount: int("on-failure only: give up after this many restarts (0 = no limit)", {
      minimum: 0,
      maximum: 1_000_000,
    }),
  },
  ["name"],
);

export const Resources = object({
  memory: int("bytes; 0 = unlimited (Docker's --memory)", { minimum: 0, maximum: MAX_BYTES }),
  memorySwap: int("memory + swap in bytes; -1 = unlimited swap", { minimum: -1, maximum: MAX_BYTES }),
  memoryReservation: int("soft limit in bytes", { minimum: 0, maximum: MAX_BYTES }),
  cpus: { type: "number", description: "CPUs as a decimal (Docker's --cpus)", minimum: 0, maximum: 4096 },
  cpuShares: int("relative weight (cgroup v1 shares)", { minimum: 0, maximum: 262144 }),
  cpusetCpus: str('CPUs allowed, e.g. "0-3,6"', {
    pattern: "^[0-9,-]*$",
    "x-pattern-rule": 'must be a list of CPU numbers and ranges; e.g. "0-3,6"',
  }),
  cpusetMems: str('memory nodes allowed, e.g. "0,1"', {
    pattern: "^[0-9,-]*$",
    "x-pattern-rule": 'must be a list of memory node numbers and ranges; e.g. "0"',
  }),
  pidsLimit: int("maximum number of tasks; -1 or 0 = unlimited", { minimum: -1, maximum: 4_194_304 }),
  blkioWeight: int("block IO weight, 10..1000 (0 = default)", { minimum: 0, maximum: 1000 }),
});

export const HealthcheckConfig = object(
  {
    test: strings(
      '["CMD", ...args] | ["CMD-SHELL", "cmd"] | ["NONE"]; left out (or []) keeps the image\'s HEALTHCHECK test, whose timings the fields given here override',
    ),
    intervalMs: int("time between checks", { minimum: 0 }),
    timeoutMs: int("time before a check counts as failed", { minimum: 0 }),
    startPeriodMs: int("grace period after start", { minimum: 0 }),
    retries: int("consecutive failures before unhealthy", { minimum: 0 }),
  },
  [],
);

/** A terminal's size from the start (Docker's ConsoleSize), so that the first output is laid out for it. */
const ConsoleSize = object(
  {
    height: int("rows", { minimum: 1, maximum: 65535 }),
    width: int("columns", { minimum: 1, maximum: 65535 }),
  },
  ["height", "width"],
  "with tty: the terminal's size from the start (Docker's ConsoleSize), so that the first output is laid out for it",
);

export const MountRequest = object(
  {
    type: str("bind | volume | tmpfs", { enum: ["bind", "volume", "tmpfs"] }),
    source: str("host path (bind) or volume name (volume)", { minLength: 1 }),
    target: str("absolute path in the container", { pattern: "^/", "x-pattern-rule": ABSOLUTE }),
    readOnly: bool("mount read-only"),
    tmpfsSize: int("tmpfs size in bytes", { minimum: 0, maximum: MAX_BYTES }),
    bindPropagation: str("bind propagation", {
      enum: ["private", "rprivate", "shared", "rshared", "slave", "rslave"],
    }),
  },
  ["type", "target"],
);

const putProperties = {
  labels: stringMap("free-form labels"),
  restartPolicy: RestartPolicy,
  resources: Resources,
  autostart: bool("system containers: start when berthd starts"),
};

export const ContainerPut = object(putProperties, [], "Fields a client may change on an existing container");

const registryAuth = object(
  {
    username: str("registry user", { minLength: 1 }),
    password: str("password or token", { minLength: 1 }),
  },
  ["username", "password"],
  "credentials for the registry of the reference (from the client's config.json)",
);

export const ContainerCreate = object(
  {
    ...putProperties,
    name: str("unique name; generated when absent", { pattern: NAME_PATTERN, "x-pattern-rule": NAME_RULE }),
    image: str("image reference, e.g. busybox or busybox:latest", { minLength: 1, maxLength: 512 }),
    kind: str("app (Docker-like) or system (boots an init)", { enum: ["app", "system"] }),
    cmd: strings("command (replaces the image's Cmd)"),
    entrypoint: strings("entrypoint (replaces the image's Entrypoint and clears its Cmd)"),
    env: strings("KEY=VALUE entries", {
      items: { type: "string", pattern: "^[^=]+=", "x-pattern-rule": "must be KEY=VALUE; e.g. MODE=prod" },
    }),
    workingDir: str("absolute working directory", { pattern: "^/", "x-pattern-rule": ABSOLUTE }),
    user: str('"uid[:gid]" or a user name of the image', { minLength: 1 }),
    hostname: str("hostname (RFC 1123)", {
      pattern: "^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$",
      "x-pattern-rule":
        "must be a hostname: letters, digits, '.' and '-', starting with a letter or digit, at most 63 characters; e.g. web-1",
    }),
    mounts: { type: "array", items: MountRequest, description: "bind mounts, volumes, tmpfs" },
    network: str("none (own namespace with loopback) or host", { enum: ["none", "host"] }),
    readOnly: bool("read-only root filesystem"),
    tty: bool("allocate a pseudo-terminal"),
    consoleSize: ConsoleSize,
    openStdin: bool("keep stdin open for attach"),
    detachKeys: str(
      'the key sequence that detaches a client from it (attach, start -a), Docker\'s format: e.g. "ctrl-p,ctrl-q" or "ctrl-x,x"',
      { minLength: 1, maxLength: 100 },
    ),
    init: bool("run an init as PID 1 that reaps zombies"),
    capAdd: strings("capabilities to add"),
    capDrop: strings("capabilities to drop"),
    securityOpt: strings('"no-new-privileges", "seccomp=unconfined", "apparmor=PROFILE"'),
    privileged: bool("all capabilities, no seccomp, all devices"),
    stopSignal: str("signal that stops the container gracefully", {
      pattern: "^(SIG)?[A-Z0-9+-]+$|^[0-9]+$",
      "x-pattern-rule": "must be a signal name or number; e.g. SIGTERM, SIGRTMIN+3 or 15",
    }),
    stopTimeoutSeconds: int("seconds between the stop signal and SIGKILL", { minimum: 0, maximum: 86400 }),
    ulimits: {
      type: "array",
      description: "resource limits of the process (Docker's --ulimit nofile=1024:2048)",
      maxItems: 16,
      items: object(
        {
          name: str("resource, as ulimit names it: nofile, nproc, core, memlock, stack, ...", {
            pattern: "^[a-z]+$",
            "x-pattern-rule": "must be a resource name in lowercase letters; e.g. nofile",
          }),
          soft: int("soft limit (-1: unlimited)", { minimum: -1 }),
          hard: int("hard limit, at least soft (-1: unlimited)", { minimum: -1 }),
        },
        ["name", "soft", "hard"],
      ),
    },
    sysctls: stringMap('namespaced kernel parameters (Docker\'s --sysctl), e.g. { "net.ipv4.ip_forward": "1" }'),
    devices: {
      type: "array",
      description: "host devices to expose (Docker's --device /dev/fuse[:/dev/fuse][:rwm])",
      maxItems: 64,
      items: object(
        {
          pathOnHost: str("the device node on the host", {
            pattern: "^/dev/",
            "x-pattern-rule": "must be a device node under /dev; e.g. /dev/fuse",
          }),
          pathInContainer: str("where it appears inside (default: the same path)", {
            pattern: "^/",
            "x-pattern-rule": ABSOLUTE,
          }),
          permissions: str("cgroup access: r, w and m, each at most once (default rwm)", {
            pattern: "^(?!.*(.).*\\1)[rwm]{1,3}$",
            "x-pattern-rule": "must combine r, w and m, each at most once; e.g. rwm or rw",
          }),
        },
        ["pathOnHost"],
      ),
    },
    groupAdd: strings("supplementary groups of the process: group names of the image or numeric ids", {
      items: { type: "string", minLength: 1 },
    }),
    oomScoreAdj: int("the process's OOM score adjustment (Docker's --oom-score-adj)", {
      minimum: -1000,
      maximum: 1000,
    }),
    shmSizeBytes: int("size of /dev/shm (Docker's --shm-size; default 64 MiB)", { minimum: 1, maximum: MAX_BYTES }),
    pidMode: str("process namespace: private (default), host, or container:NAME to join another container's", {
      pattern: "^(private|host|container:.+)$",
      "x-pattern-rule": "must be private, host or container:NAME; e.g. host",
    }),
    ipcMode: str("IPC namespace: private (default) or host (with the host's /dev/shm)", { enum: ["private", "host"] }),
    utsMode: str("UTS namespace (hostname): private (default) or host", { enum: ["private", "host"] }),
    healthcheck: HealthcheckConfig,
    logOptions: object({
      maxSizeBytes: int("rotate the log when it grows past this many bytes (Docker's max-size)", {
        minimum: 1024,
        maximum: MAX_BYTES,
      }),
      maxFiles: int("log files kept, the live one included (Docker's max-file)", { minimum: 1, maximum: 100 }),
    }),
    start: bool("start it right away (berth run)"),
    autoRemove: bool("remove it when it exits (berth run --rm)"),
    pullAuth: {
      ...registryAuth,
      description:
        "credentials for pulling the image when it is not here yet (the client's config.json entry for its " +
        "registry); used for that pull only, never stored",
    },
  },
  ["image"],
  "Everything fixed at creation",
);

export const ExecCreate = object(
  {
    cmd: strings("command and arguments", { minItems: 1 }),
    env: strings("KEY=VALUE entries", {
      items: { type: "string", pattern: "^[^=]+=", "x-pattern-rule": "must be KEY=VALUE; e.g. MODE=prod" },
    }),
    workingDir: str("absolute working directory", { pattern: "^/", "x-pattern-rule": ABSOLUTE }),
    user: str('"uid[:gid]" or a user name of the image', { minLength: 1 }),
    tty: bool("allocate a pseudo-terminal"),
    consoleSize: ConsoleSize,
    attachStdin: bool("attach stdin"),
    detach: bool(
      "start the command and answer 202 with its session at once, without its output (berth exec -d); " +
        "GET /exec/{session} gives its exit code",
    ),
    privileged: bool("give the command every capability the host allows (berth exec --privileged)"),
  },
  ["cmd"],
);

/**
 * Registry access a pull or push carries, so berthd never reads the user's credentials file. Like Docker's
 * X-Registry-Auth, but as a body field: the CLI reads ~/.config/berth/config.json (Docker's format, written
 * by `berth login`) and sends the registry's entry here; berthd uses it for this request only.
 */
const registryAccess = {
  auth: registryAuth,
  tlsVerify: bool(
    "false: accept any certificate and fall back to plain http (default true; loopback registries default false)",
  ),
  ca: str("PEM of the CA(s) that signed the registry's certificate (the client reads --ca-file / --cert-dir)", {
    maxLength: 262144,
  }),
};

export const ImagePull = object(
  {
    ref: str("image reference", { minLength: 1, maxLength: 512 }),
    platform: str("os/arch[/variant]", { pattern: "^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$" }),
    ...registryAccess,
  },
  ["ref"],
);

export const ImagePush = object(
  {
    ref: str("local image reference", { minLength: 1, maxLength: 512 }),
    destination: str("remote reference (default: ref)", { minLength: 1, maxLength: 512 }),
    ...registryAccess,
  },
  ["ref"],
);

export const ImageBootstrap = object({
  kind: str("busybox (from the host's busybox-static) or debian (debootstrap)", { enum: ["busybox", "debian"] }),
  name: str("alias of kind", { enum: ["busybox", "debian"] }),
  ref: str("tag to give the image (default: busybox:latest, debian:<suite>, debian:<suite>-systemd)", {
    minLength: 1,
    maxLength: 512,
  }),
  variant: str("debian only: minbase (default) or systemd (the base of system containers)", {
    enum: ["minbase", "systemd"],
  }),
  suite: str("debian suite, e.g. bookworm (default)", { minLength: 1, pattern: "^[a-z]+$" }),
  mirror: str("debian only: the archive URL (default: the host's apt mirror)", { pattern: "^(https?|file)://" }),
});

// ---- responses -------------------------------------------------------------------------------------------

const dateTime = (description: string): JsonSchema => str(description, { format: "date-time" });
const open = (properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({
  type: "object",
  properties,
  ...(required.length ? { required } : {}),
});

export const ContainerState = open(
  {
    status: str("state", { enum: ["created", "running", "paused", "restarting", "exited", "dead"] }),
    running: { type: "boolean" },
    paused: { type: "boolean" },
    pid: { type: "integer" },
    exitCode: { type: "integer" },
    oomKilled: { type: "boolean" },
    startedAt: dateTime("last start"),
    finishedAt: dateTime("last exit"),
    restartCount: { type: "integer" },
    health: open({ status: { type: "string" }, failingStreak: { type: "integer" }, log: { type: "array" } }),
  },
  ["status", "running", "paused", "oomKilled", "restartCount"],
);

export const Container = open(
  {
    id: str("64 hex digits"),
    name: str("unique name"),
    image: str("image reference as given"),
    imageId: str("manifest digest"),
    kind: str("app or system", { enum: ["app", "system"] }),
    createdAt: dateTime("creation time"),
    state: ContainerState,
    config: open({}),
    labels: { type: "object", additionalProperties: { type: "string" } },
    restartPolicy: RestartPolicy,
    resources: Resources,
    autostart: { type: "boolean" },
    network: open(
      {
        name: str("the network: none or host"),
        driver: str("the network driver that attached it"),
        interfaces: {
          type: "array",
          items: open(
            {
              name: str("interface name inside the container"),
              mac: str("MAC address"),
              addresses: strings("addresses in CIDR form"),
              gateway: str("default gateway"),
            },
            ["name", "addresses"],
          ),
        },
      },
      ["name", "driver", "interfaces"],
    ),
    mounts: {
      type: "array",
      description:
        "what is mounted into it, as Docker's inspect Mounts: binds, volumes (generated names included), tmpfs",
      items: open(
        {
          type: str("bind, volume or tmpfs", { enum: ["bind", "volume", "tmpfs"] }),
          name: str("volumes: the volume's name"),
          source: str("the host path (the volume's directory); empty for tmpfs"),
          destination: str("the path inside the container"),
          rw: { type: "boolean" },
          propagation: str("binds: the mount propagation"),
        },
        ["type", "source", "destination", "rw"],
      ),
    },
    sizeRw: int("with size=true: bytes the container wrote (its writable layer)"),
    sizeRootFs: int("with size=true: sizeRw plus the image's bytes"),
  },
  ["id", "name", "image", "kind", "createdAt", "state", "config", "labels", "restartPolicy", "resources", "autostart"],
);

export const ContainerList = { type: "array", items: Container } as const;

export const ContainerStats = open(
  {
    id: { type: "string" },
    readAt: dateTime("when the cgroup was read"),
    cpu: open({ totalNs: { type: "string" }, userNs: { type: "string" }, systemNs: { type: "string" } }),
    memory: open({
      usageBytes: { type: "string" },
      limitBytes: { type: "string" },
      peakBytes: { type: "string" },
      cacheBytes: { type: "string" },
    }),
    pids: open({ current: { type: "string" }, limit: { type: "string" } }),
    blockIO: { type: "array", items: open({ device: { type: "string" } }) },
  },
  ["id", "readAt", "blockIO"],
);

export const ExecResult = open(
  {
    exitCode: { type: "integer" },
    stdout: { type: "string" },
    stderr: { type: "string" },
    stdoutTruncated: bool("stdout was longer than 16 MiB: this is its beginning (the command ran to its end)"),
    stderrTruncated: bool("stderr was longer than 16 MiB: this is its beginning (the command ran to its end)"),
  },
  ["exitCode", "stdout", "stderr"],
);

/** The reply to a detached exec (202): the session to ask for the exit code (GET .../exec/{session}). */
export const ExecStarted = open({ session: str("exec session id") }, ["session"]);

export const WaitResult = open({ exitCode: { type: "integer" }, oomKilled: { type: "boolean" } }, ["exitCode"]);

export const TopResult = open(
  {
    titles: strings("column titles"),
    processes: { type: "array", items: strings("one row") },
  },
  ["titles", "processes"],
);

export const LogLine = open(
  {
    time: dateTime("when the line was written"),
    stream: str("stdout or stderr", { enum: ["stdout", "stderr"] }),
    text: { type: "string" },
  },
  ["time", "stream", "text"],
);

export const Image = open(
  {
    id: str("manifest digest"),
    digest: str("manifest digest"),
    ref: str("reference"),
    tags: strings("references pointing at it"),
    size: { type: "integer" },
    createdAt: dateTime("image creation time"),
  },
  ["id", "ref"],
);
export const ImageList = { type: "array", items: Image } as const;

export const PruneResult = open({ removed: strings("removed digests"), reclaimedBytes: { type: "integer" } });
export const TokenCreate = object({
  name: str("a name to recognise the token by (unique)", {
    pattern: "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$",
    "x-pattern-rule":
      "may hold only letters, digits, '_', '.' and '-', must start with a letter or digit, and be at most 63 characters; e.g. laptop",
  }),
  expiresInSeconds: int("lifetime in seconds; omit for a token that does not expire", {
    minimum: 60,
    maximum: 10 * 366 * 86400,
  }),
});
const tokenFields = {
  id: str("the token's id (12 hex digits)"),
  name: str("the token's name"),
  createdAt: dateTime("when it was made"),
  expiresAt: dateTime("when it stops working"),
  lastUsedAt: dateTime("last use, to the minute"),
};
export const Token = open({ ...tokenFields, token: str("the bearer token; shown only once, at creation") }, [
  "id",
  "name",
  "createdAt",
  "token",
]);
export const TokenInfo = open(tokenFields, ["id", "name", "createdAt"]);
export const TokenList = { type: "array", items: TokenInfo } as const;

export const Problem = open(
  {
    type: { type: "string" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: str("what went wrong and what to do about it"),
    kind: str("error kind", {
      enum: ["not-found", "conflict", "invalid", "precondition", "unavailable", "internal"],
    }),
    issues: { type: "array", items: open({ field: { type: "string" }, message: { type: "string" } }) },
  },
  ["type", "title", "status", "detail", "kind"],
);

export const Operation = open(
  {
    id: { type: "string" },
    kind: { type: "string" },
    status: str("state", { enum: ["running", "success", "failure"] }),
    createdAt: dateTime("start"),
    progress: open({}),
    error: Problem,
    resources: strings("affected resources"),
  },
  ["id", "kind", "status", "createdAt"],
);

export const VersionInfo = open(
  {
    version: { type: "string" },
    apiVersion: { type: "string" },
    os: { type: "string" },
    arch: { type: "string" },
    kernel: { type: "string" },
    runtime: { type: "string" },
    cgroup: { type: "string" },
  },
  ["version", "apiVersion", "os", "arch", "kernel", "runtime", "cgroup"],
);

/** GET /1.0/info: the host and what berthd runs on it (Docker's `docker info`, Incus's `incus info`). */
export const HostInfo = open(
  {
    name: str("host name"),
    serverVersion: str("berthd's version"),
    operatingSystem: str("the host's distribution (PRETTY_NAME of /etc/os-release)"),
    osType: str("always linux"),
    architecture: str("machine architecture as uname -m gives it, e.g. x86_64"),
    kernelVersion: str("the running kernel's release"),
    cpus: int("online CPUs"),
    memTotal: int("physical memory in bytes"),
    containers: object(
      {
        total: int("every container berthd has"),
        running: int("running"),
        paused: int("paused"),
        stopped: int("created or exited: not running and not paused"),
      },
      ["total", "running", "paused", "stopped"],
    ),
    images: int("local images (distinct image ids)"),
    storageDriver: str("the driver that holds container root filesystems"),
    loggingDriver: str("how container output is stored (conmon's k8s-file)"),
    cgroupDriver: str("who manages containers' cgroups: cgroupfs (berthd itself)"),
    cgroupVersion: str("1 (v1 or hybrid hierarchy) or 2 (unified)"),
    cgroupMode: str("v1, hybrid or v2"),
    defaultRuntime: str("the OCI runtime containers get"),
    runtimes: strings("OCI runtimes installed and usable on this host"),
    initBinary: str("the init --init runs as PID 1 (catatonit or tini), when one is installed"),
    securityOptions: strings("what confines containers here: seccomp, apparmor, selinux, userns"),
    criu: str("CRIU's version, when it is installed (checkpoint, restore, migration)"),
    rootDir: str("berthd's persistent state (--root)"),
    runRoot: str("berthd's runtime state (--run-root)"),
  },
  [
    "name",
    "serverVersion",
    "osType",
    "architecture",
    "kernelVersion",
    "cpus",
    "memTotal",
    "containers",
    "images",
    "storageDriver",
    "loggingDriver",
    "cgroupDriver",
    "cgroupVersion",
    "defaultRuntime",
    "runtimes",
    "securityOptions",
    "rootDir",
    "runRoot",
  ],
);

export const BerthEvent = open(
  {
    type: str("event type, e.g. container.started"),
    at: dateTime("when it happened"),
    id: { type: "string" },
    name: { type: "string" },
  },
  ["type", "at"],
);

export const ProgressLine = open({
  status: { type: "string" },
  message: { type: "string" },
  id: { type: "string" },
  done: { type: "integer" },
  total: { type: "integer" },
});

/** Every named schema: request bodies (RouteSpec.body) and responses (RouteSpec.response) refer to these names. */
export const schemas = {
  RestartPolicy,
  Resources,
  HealthcheckConfig,
  MountRequest,
  ContainerPut,
  ContainerCreate,
  ExecCreate,
  ImagePull,
  ImagePush,
  ImageBootstrap,
  TokenCreate,
  ContainerState,
  Container,
  ContainerList,
  ContainerStats,
  ExecResult,
  ExecStarted,
  WaitResult,
  TopResult,
  LogLine,
  Image,
  ImageList,
  PruneResult,
  Token,
  TokenInfo,
  TokenList,
  Problem,
  Operation,
  VersionInfo,
  HostInfo,
  BerthEvent,
  ProgressLine,
} as const satisfies Record<string, JsonSchema>;

export type SchemaName = keyof typeof schemas;
