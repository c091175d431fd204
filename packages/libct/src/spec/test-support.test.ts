/**
 * Test support (named *.test.ts so it may read files; it declares no tests): host fixtures, and a check of generated
 * specs against the OCI runtime-spec 1.3.0 JSON schemas copied into testdata/. The schemas are draft-04
 * and some $refs lack the slash ("#definitions/x"); they are fixed in memory, the files stay unchanged.
 */
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import AjvDraft04Module from "ajv-draft-04";
import { KNOWN_CAPABILITIES } from "../model/capabilities.js";
import type { ContainerDescription } from "../model/description.js";
import type { HostFacts } from "../model/host.js";
import { defaultSystemIdMap } from "../model/idmap.js";
import type { ResolvedInputs } from "./from-description.js";

/** packages/libct, found from dist/spec/this-file.js. */
export const packageRoot = fileURLToPath(new URL("../../", import.meta.url));
export const testdata = (rel: string): string => `${packageRoot}testdata/${rel}`;

const SCHEMA_DIR = testdata("oci-runtime-spec-1.3.0/");
const BASE = "https://berth.invalid/oci-runtime-spec/";

type Validate = ((data: unknown) => boolean) & { errors?: unknown[] | null };
let validate: Validate | undefined;

function fixRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(fixRefs);
  if (typeof node !== "object" || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === "$ref" && typeof v === "string" ? v.replace(/#definitions\//, "#/definitions/") : fixRefs(v);
  }
  return out;
}

function compile(): Validate {
  // ajv-draft-04 is CommonJS with `exports.default = Ajv`; under NodeNext the default import is module.exports.
  const mod = AjvDraft04Module as unknown as { default?: unknown };
  const Ajv = (mod.default ?? mod) as new (
    opts: object,
  ) => {
    addSchema(schema: object, key: string): void;
    getSchema(key: string): Validate | undefined;
  };
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".json"))) {
    const schema = fixRefs(JSON.parse(readFileSync(SCHEMA_DIR + file, "utf8"))) as Record<string, unknown>;
    ajv.addSchema({ ...schema, id: BASE + file }, BASE + file);
  }
  const v = ajv.getSchema(`${BASE}config-schema.json`);
  if (!v) throw new Error("config-schema.json did not compile");
  return v;
}

/** Fails the test with ajv's errors when `spec` does not conform to config-schema.json. */
export function assertValidOciSpec(spec: unknown): void {
  validate ??= compile();
  const ok = validate(JSON.parse(JSON.stringify(spec)));
  assert.ok(ok, `spec does not match the OCI runtime-spec schema:\n${JSON.stringify(validate.errors, null, 2)}`);
}

/** Returns ajv's errors (empty when valid), for tests that expect a spec to be rejected. */
export function ociSchemaErrors(spec: unknown): unknown[] {
  validate ??= compile();
  return validate(spec) ? [] : [...(validate.errors ?? [])];
}

/** Recursively freezes a value, so a test proves the code under test does not mutate it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const ALL_CAPS = KNOWN_CAPABILITIES;

/** Resembles the development machine: hybrid cgroups, root without CAP_SYS_RESOURCE, nofile hard 20000. */
export const hybridHost: HostFacts = {
  kernel: { release: "6.18.0-berth", major: 6, minor: 18 },
  arch: "amd64",
  cgroup: {
    mode: "hybrid",
    controllers: ["cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer"],
    root: "/sys/fs/cgroup",
  },
  rootless: false,
  userNamespaces: true,
  idmapMounts: true,
  seccomp: true,
  apparmor: false,
  selinux: false,
  capabilities: ALL_CAPS.filter((c) => c !== "CAP_SYS_RESOURCE"),
  hardRlimits: { RLIMIT_NOFILE: 20000, RLIMIT_NPROC: 63704 },
  runtimes: [{ name: "runc", path: "/usr/sbin/runc", version: "1.1.5" }],
};

/** A plain cgroup v2 host with every capability and AppArmor. */
export const v2Host: HostFacts = {
  ...hybridHost,
  kernel: { release: "6.8.0-generic", major: 6, minor: 8 },
  cgroup: { mode: "v2", controllers: ["cpuset", "cpu", "io", "memory", "pids"], root: "/sys/fs/cgroup" },
  apparmor: true,
  capabilities: ALL_CAPS,
  hardRlimits: { RLIMIT_NOFILE: 1048576 },
};

/** The golden-file cases (testdata/spec-golden/<name>.json), reused by the purity tests. */
export interface Case {
  name: string;
  host: HostFacts;
  desc: ContainerDescription;
  resolved: ResolvedInputs;
}

const rootfs = (id: string) => ({ path: `/var/lib/berth/storage/default/${id}/rootfs` });

export const goldenCases: Case[] = [
  {
    name: "app-limits",
    host: hybridHost,
    desc: {
      kind: "app",
      rootfs: rootfs("web"),
      process: { args: ["nginx", "-g", "daemon off;"], env: ["NGINX_VERSION=1.27"], user: { uid: 101, gid: 101 } },
      hostname: "web-1",
      limits: {
        memory: { limitBytes: 268435456, reservationBytes: 134217728, swapBytes: 536870912 },
        cpu: { cpus: 1.5, shares: 512, cpusetCpus: "0-1", cpusetMems: "0" },
        pids: { limit: 4096 },
        blockIO: { weight: 300, throttle: [{ device: "8:0", readBps: 10485760, writeIops: 500 }] },
      },
      stopSignal: "SIGQUIT",
      labels: { app: "web" },
    },
    resolved: { cgroupsPath: "/berth/web", annotations: { "berth.id": "web" } },
  },
  {
    name: "app-mounts-sysctls-caps",
    host: hybridHost,
    desc: {
      kind: "app",
      rootfs: rootfs("api"),
      process: {
        args: ["/usr/bin/api"],
        env: ["PATH=/app/bin:/usr/bin:/bin", "MODE=prod"],
        cwd: "/app",
        terminal: true,
        consoleSize: { height: 50, width: 160 },
        noNewPrivileges: true,
        oomScoreAdj: 200,
        rlimits: [{ type: "RLIMIT_NPROC", soft: 1024, hard: 2048 }],
      },
      mounts: [
        { type: "bind", source: "/srv/config", destination: "/etc/api", readonly: true },
        { type: "bind", source: "/srv/shared", destination: "/shared", propagation: "rshared", recursive: false },
        { type: "tmpfs", destination: "/cache", sizeBytes: 104857600, mode: 0o1777 },
        { type: "volume", name: "apidata", destination: "/var/lib/api" },
      ],
      namespaces: { network: { container: "proxy" } },
      sysctls: { "kernel.shm_rmid_forced": "1", "kernel.msgmax": "65536" },
      capabilities: { add: ["NET_ADMIN", "CAP_SYS_PTRACE"], drop: ["MKNOD", "net_raw"] },
      devices: [{ path: "/dev/fuse", permissions: "rw" }],
    },
    resolved: {
      cgroupsPath: "/berth/api",
      namespacePaths: { network: "/proc/4242/ns/net" },
      volumeSources: { apidata: "/var/lib/berth/volumes/apidata/_data" },
      devices: [{ path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }],
    },
  },
  {
    name: "app-readonly",
    host: hybridHost,
    desc: {
      kind: "app",
      rootfs: { ...rootfs("ro"), readonly: true },
      process: { args: ["/bin/sleep", "infinity"] },
      mounts: [{ type: "tmpfs", destination: "/tmp" }],
      capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
      seccomp: "default",
    },
    resolved: { cgroupsPath: "/berth/ro" },
  },
  {
    name: "system-hybrid",
    host: hybridHost,
    desc: {
      kind: "system",
      rootfs: rootfs("deb"),
      process: {
        args: ["/sbin/init", "systemd.unified_cgroup_hierarchy=0", "systemd.legacy_systemd_cgroup_controller=1"],
      },
      hostname: "deb",
      idMap: defaultSystemIdMap(100000),
      limits: { memory: { limitBytes: 1073741824 }, pids: { limit: 2048 } },
    },
    resolved: { cgroupsPath: "/berth/deb" },
  },
  {
    name: "app-v2-host",
    host: v2Host,
    desc: {
      kind: "app",
      rootfs: rootfs("v2"),
      process: { args: ["/bin/sh"], rlimits: [{ type: "RLIMIT_NOFILE", soft: 4096, hard: 8192 }] },
      limits: { memory: { limitBytes: 536870912, swapBytes: -1 }, cpu: { cpus: 0.5, weight: 200 } },
      apparmorProfile: "berth-default",
      sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" },
      idMap: {
        uidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }],
        gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }],
      },
    },
    resolved: { cgroupsPath: "/berth/v2" },
  },
  {
    name: "system-privileged-v2",
    host: v2Host,
    desc: {
      kind: "system",
      privileged: true,
      rootfs: rootfs("priv"),
      process: { args: ["/sbin/init"], terminal: true },
      stopSignal: "SIGPWR",
    },
    resolved: { cgroupsPath: "/berth/priv" },
  },
];
