import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ValidationError } from "../errors.js";
import { normalizeCapability, suggestCapability } from "./capabilities.js";
import type { ContainerDescription } from "./description.js";
import type { HostFacts } from "./host.js";
import { defaultSystemIdMap, mappedRoot } from "./idmap.js";
import { signalNumber } from "./signals.js";
import { parseDescription, validateDescription } from "./validate.js";

const host: HostFacts = {
  kernel: { release: "6.18.0", major: 6, minor: 18 },
  arch: "amd64",
  cgroup: { mode: "hybrid", controllers: ["memory", "cpu", "pids"], root: "/sys/fs/cgroup" },
  rootless: false,
  userNamespaces: true,
  idmapMounts: true,
  seccomp: true,
  apparmor: false,
  selinux: false,
  capabilities: ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"],
  hardRlimits: { RLIMIT_NOFILE: 20000 },
  runtimes: [],
};

const app: ContainerDescription = {
  kind: "app",
  rootfs: { path: "/var/lib/berth/c1/rootfs" },
  process: { args: ["/bin/sh"] },
};
const system: ContainerDescription = {
  kind: "system",
  rootfs: { path: "/var/lib/berth/c2/rootfs" },
  process: { args: ["/sbin/init"] },
  idMap: defaultSystemIdMap(100000),
};
const idMap = (uid: object[], gid: object[] = [{ containerID: 0, hostID: 100000, size: 65536 }]) => ({
  uidMappings: uid,
  gidMappings: gid,
});

/** A fix hint: the message says what to use, set, remove or change. */
const FIX = /use |did you mean|set |remove|add |lower|extend|move|give |write |quote|pick|send|keep |find it|e\.g\./i;

type Bad = [label: string, input: unknown, field: string, contains?: RegExp, host?: HostFacts];
const bad: Bad[] = [
  ["not an object", "hello", "(description)"],
  ["unknown kind", { ...app, kind: "vm" }, "kind"],
  ["unknown top-level field", { ...app, hostnme: "x" }, "hostnme", /did you mean hostname/],
  ["relative rootfs", { ...app, rootfs: { path: "rootfs" } }, "rootfs.path", /absolute/],
  ["empty rootfs", { ...app, rootfs: { path: "" } }, "rootfs.path"],
  ["rootfs with ..", { ...app, rootfs: { path: "/var/../etc" } }, "rootfs.path", /\.\./],
  ["empty args", { ...app, process: { args: [] } }, "process.args"],
  ["args not strings", { ...app, process: { args: ["/bin/sh", 3] } }, "process.args[1]"],
  ["env without =", { ...app, process: { args: ["x"], env: ["FOO"] } }, "process.env[0]", /KEY=VALUE/],
  ["relative cwd", { ...app, process: { args: ["x"], cwd: "app" } }, "process.cwd"],
  ["negative uid", { ...app, process: { args: ["x"], user: { uid: -1, gid: 0 } } }, "process.user.uid"],
  ["oomScoreAdj out of range", { ...app, process: { args: ["x"], oomScoreAdj: 2000 } }, "process.oomScoreAdj"],
  [
    "consoleSize of zero columns",
    { ...app, process: { args: ["x"], terminal: true, consoleSize: { height: 24, width: 0 } } },
    "process.consoleSize",
  ],
  [
    "consoleSize not an object",
    { ...app, process: { args: ["x"], terminal: true, consoleSize: "80x24" } },
    "process.consoleSize",
  ],
  [
    "unknown rlimit",
    { ...app, process: { args: ["x"], rlimits: [{ type: "RLIMIT_NOFILES", soft: 1, hard: 1 }] } },
    "process.rlimits[0].type",
    /did you mean RLIMIT_NOFILE/,
  ],
  [
    "rlimit soft > hard",
    { ...app, process: { args: ["x"], rlimits: [{ type: "RLIMIT_NOFILE", soft: 10, hard: 5 }] } },
    "process.rlimits[0].soft",
  ],
  [
    "rlimit above the host's hard limit",
    { ...app, process: { args: ["x"], rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 1048576 }] } },
    "process.rlimits[0].hard",
    /hard limit is 20000.*lacks CAP_SYS_RESOURCE so it cannot be raised/,
    host,
  ],
  ["hostname with underscore", { ...app, hostname: "web_1" }, "hostname", /RFC 1123/],
  ["hostname too long", { ...app, hostname: "a".repeat(70) }, "hostname"],
  ["hostname with host uts", { ...app, hostname: "web", namespaces: { uts: "host" } }, "hostname", /uts/],
  [
    "relative mount destination",
    { ...app, mounts: [{ type: "tmpfs", destination: "tmp" }] },
    "mounts[0].destination",
    /absolute/,
  ],
  [
    "mount destination with ..",
    { ...app, mounts: [{ type: "tmpfs", destination: "/a/../etc" }] },
    "mounts[0].destination",
  ],
  [
    "relative bind source",
    { ...app, mounts: [{ type: "bind", source: "data", destination: "/d" }] },
    "mounts[0].source",
  ],
  [
    "unknown propagation",
    { ...app, mounts: [{ type: "bind", source: "/d", destination: "/d", propagation: "rshard" }] },
    "mounts[0].propagation",
    /rshared/,
  ],
  ["unknown mount type", { ...app, mounts: [{ type: "nfs", destination: "/d" }] }, "mounts[0].type"],
  [
    "duplicate destination",
    {
      ...app,
      mounts: [
        { type: "tmpfs", destination: "/d" },
        { type: "tmpfs", destination: "/d" },
      ],
    },
    "mounts[1].destination",
  ],
  ["bad tmpfs size", { ...app, mounts: [{ type: "tmpfs", destination: "/d", sizeBytes: -1 }] }, "mounts[0].sizeBytes"],
  ["bad volume name", { ...app, mounts: [{ type: "volume", name: "../x", destination: "/d" }] }, "mounts[0].name"],
  ["unknown namespace", { ...app, namespaces: { net: "host" } }, "namespaces.net", /did you mean network/],
  ["join uts", { ...app, namespaces: { uts: { container: "other" } } }, "namespaces.uts", /network, ipc, pid/],
  ["uts by path", { ...app, namespaces: { uts: { path: "/run/netns/x" } } }, "namespaces.uts", /network, ipc, pid/],
  [
    "relative netns path",
    { ...app, namespaces: { network: { path: "run/netns/x" } } },
    "namespaces.network.path",
    /absolute path/,
  ],
  [
    "netns path with ..",
    { ...app, namespaces: { network: { path: "/run/netns/../../etc" } } },
    "namespaces.network.path",
    /without '\.\.'/,
  ],
  ["join mount", { ...app, namespaces: { mount: { container: "other" } } }, "namespaces.mount"],
  ["join user", { ...app, namespaces: { user: { container: "other" } } }, "namespaces.user"],
  ["host mount ns", { ...app, namespaces: { mount: "host" } }, "namespaces.mount"],
  ["bad namespace mode", { ...app, namespaces: { pid: "shared" } }, "namespaces.pid"],
  ["system without id map", { ...system, idMap: undefined }, "idMap", /defaultSystemIdMap/],
  [
    "id map size 0",
    { ...system, idMap: idMap([{ containerID: 0, hostID: 100000, size: 0 }]) },
    "idMap.uidMappings[0].size",
  ],
  [
    "overlapping container ranges",
    {
      ...system,
      idMap: idMap([
        { containerID: 0, hostID: 100000, size: 1000 },
        { containerID: 500, hostID: 300000, size: 1000 },
      ]),
    },
    "idMap.uidMappings[1].containerID",
    /overlaps/,
  ],
  [
    "overlapping host ranges",
    {
      ...system,
      idMap: idMap([
        { containerID: 0, hostID: 100000, size: 1000 },
        { containerID: 1000, hostID: 100500, size: 1000 },
      ]),
    },
    "idMap.uidMappings[1].hostID",
    /overlaps/,
  ],
  [
    "uid not covered by the map",
    { ...system, process: { args: ["/sbin/init"], user: { uid: 70000, gid: 0 } } },
    "process.user.uid",
    /not mapped/,
  ],
  ["empty uid map", { ...system, idMap: idMap([]) }, "idMap.uidMappings"],
  ["negative memory", { ...app, limits: { memory: { limitBytes: -5 } } }, "limits.memory.limitBytes", /268435456/],
  [
    "memory under 6 MiB",
    { ...app, limits: { memory: { limitBytes: 4 * 1024 * 1024 } } },
    "limits.memory.limitBytes",
    /6 MiB/,
  ],
  [
    "absurd memory",
    { ...app, limits: { memory: { limitBytes: 2 ** 52 } } },
    "limits.memory.limitBytes",
    /unit mistake/,
  ],
  [
    "reservation above limit",
    { ...app, limits: { memory: { limitBytes: 1 << 28, reservationBytes: 1 << 29 } } },
    "limits.memory.reservationBytes",
  ],
  [
    "swap below memory",
    { ...app, limits: { memory: { limitBytes: 1 << 28, swapBytes: 1 << 27 } } },
    "limits.memory.swapBytes",
  ],
  ["swap without memory", { ...app, limits: { memory: { swapBytes: 1 << 28 } } }, "limits.memory.swapBytes"],
  ["zero cpus", { ...app, limits: { cpu: { cpus: 0 } } }, "limits.cpu.cpus", /0\.5/],
  ["too many cpus", { ...app, limits: { cpu: { cpus: 2048 } } }, "limits.cpu.cpus"],
  ["cpu shares out of range", { ...app, limits: { cpu: { shares: 1 } } }, "limits.cpu.shares"],
  ["invalid cpuset", { ...app, limits: { cpu: { cpusetCpus: "0-" } } }, "limits.cpu.cpusetCpus"],
  ["descending cpuset", { ...app, limits: { cpu: { cpusetMems: "3-1" } } }, "limits.cpu.cpusetMems"],
  [
    "CPUs the host lacks",
    { ...app, limits: { cpu: { cpusetCpus: "1,99" } } },
    "limits.cpu.cpusetCpus",
    /does not have \(99\); use some of 0-1/,
    { ...host, cpuset: { cpus: "0-1", mems: "0" } },
  ],
  [
    "memory nodes the host lacks",
    { ...app, limits: { cpu: { cpusetMems: "0-1" } } },
    "limits.cpu.cpusetMems",
    /memory nodes this host does not have \(1\)/,
    { ...host, cpuset: { cpus: "0-1", mems: "0" } },
  ],
  ["pids 0", { ...app, limits: { pids: { limit: 0 } } }, "limits.pids.limit"],
  ["blkio weight", { ...app, limits: { blockIO: { weight: 5 } } }, "limits.blockIO.weight"],
  [
    "bad device major:minor",
    { ...app, limits: { blockIO: { throttle: [{ device: "sda", readBps: 1 }] } } },
    "limits.blockIO.throttle[0].device",
    /8:0/,
  ],
  ["bad sysctl name", { ...app, sysctls: { "net/ipv4/ip_forward": "1" } }, "sysctls.net/ipv4/ip_forward"],
  ["non-namespaced sysctl", { ...app, sysctls: { "vm.swappiness": "10" } }, "sysctls.vm.swappiness", /host/],
  [
    "net sysctl with host network",
    { ...app, namespaces: { network: "host" }, sysctls: { "net.ipv4.ip_forward": "1" } },
    "sysctls.net.ipv4.ip_forward",
  ],
  ["sysctl value not a string", { ...app, sysctls: { "net.ipv4.ip_forward": 1 } }, "sysctls.net.ipv4.ip_forward"],
  [
    "unknown capability",
    { ...app, capabilities: { add: ["NET_ADMN"] } },
    "capabilities.add[0]",
    /did you mean CAP_NET_ADMIN\?/,
  ],
  ["capability not a list", { ...app, capabilities: { drop: "ALL" } }, "capabilities.drop"],
  [
    "seccomp custom without defaultAction",
    { ...app, seccomp: { custom: { syscalls: [] } } },
    "seccomp.custom.defaultAction",
  ],
  ["seccomp unknown string", { ...app, seccomp: "strict" }, "seccomp"],
  ["apparmor without apparmor", { ...app, apparmorProfile: "docker-default" }, "apparmorProfile", /AppArmor/, host],
  [
    "selinux without selinux",
    { ...app, selinuxLabel: "system_u:system_r:container_t:s0" },
    "selinuxLabel",
    /SELinux/,
    host,
  ],
  ["device outside /dev", { ...app, devices: [{ path: "/etc/passwd" }] }, "devices[0].path"],
  ["device permissions", { ...app, devices: [{ path: "/dev/fuse", permissions: "rwx" }] }, "devices[0].permissions"],
  ["unknown stop signal", { ...app, stopSignal: "SIGFOO" }, "stopSignal"],
  ["label not a string", { ...app, labels: { a: 1 } }, "labels.a"],
  ["userns unsupported", { ...system }, "namespaces.user", /user namespaces/, { ...host, userNamespaces: false }],
];

describe("validateDescription: bad descriptions", () => {
  it(`has a table of at least 25 cases (${bad.length})`, () => assert.ok(bad.length >= 25));
  for (const [label, input, field, contains, h] of bad) {
    it(`${label} -> ${field}`, () => {
      const issues = validateDescription(input, h);
      const hit = issues.find((i) => i.field === field);
      assert.ok(hit, `expected an issue on ${field}, got ${JSON.stringify(issues)}`);
      assert.match(hit.message, FIX, `message should say how to fix it: ${hit.message}`);
      if (contains) assert.match(hit.message, contains);
    });
  }
});

describe("validateDescription: good descriptions", () => {
  const good: [string, ContainerDescription, HostFacts?][] = [
    ["minimal app", app],
    ["minimal system", system],
    ["privileged system without id map", { ...system, idMap: undefined, privileged: true }],
    [
      "app with everything",
      {
        ...app,
        hostname: "web-1.example",
        process: {
          args: ["/bin/sh"],
          env: ["A=1", "B="],
          cwd: "/srv",
          user: { uid: 1000, gid: 1000, additionalGids: [10] },
          terminal: true,
          noNewPrivileges: true,
          oomScoreAdj: -500,
          rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 20000 }],
        },
        mounts: [
          { type: "bind", source: "/srv", destination: "/srv", propagation: "rslave", readonly: true },
          { type: "tmpfs", destination: "/tmp", sizeBytes: 1 << 26, mode: 0o1777 },
          { type: "volume", name: "data-1", destination: "/data" },
        ],
        namespaces: { network: { container: "proxy" }, pid: "host", ipc: "private" },
        limits: {
          memory: { limitBytes: 1 << 28, reservationBytes: 1 << 27, swapBytes: -1 },
          cpu: { cpus: 0.5, shares: 512, cpusetCpus: "0-3,6", cpusetMems: "0" },
          pids: { limit: -1 },
          blockIO: { weight: 500, throttle: [{ device: "8:0", readBps: 1 << 20 }] },
        },
        sysctls: { "kernel.shm_rmid_forced": "1" },
        capabilities: { add: ["net_admin", "CAP_SYS_PTRACE"], drop: ["ALL"] },
        seccomp: {
          custom: { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["ptrace"], action: "SCMP_ACT_ERRNO" }] },
        },
        devices: [{ path: "/dev/fuse", permissions: "rw" }],
        stopSignal: "SIGRTMIN+3",
        labels: { app: "web" },
      },
      host,
    ],
  ];
  for (const [label, desc, h] of good) {
    it(label, () => assert.deepEqual(validateDescription(desc, h), []));
  }

  it("parseDescription returns a copy and throws ValidationError listing every issue", () => {
    const parsed = parseDescription(app);
    assert.deepEqual(parsed, app);
    assert.notEqual(parsed, app);
    assert.throws(
      () => parseDescription({ ...app, kind: "vm", limits: { cpu: { cpus: -1 } } }),
      (e) =>
        e instanceof ValidationError &&
        e.kind === "invalid" &&
        e.issues.length === 2 &&
        /limits\.cpu\.cpus/.test(e.message),
    );
  });
});

describe("model helpers", () => {
  it("normalizeCapability and suggestions", () => {
    assert.equal(normalizeCapability("net_admin"), "CAP_NET_ADMIN");
    assert.equal(normalizeCapability("CAP_SYS_ADMIN"), "CAP_SYS_ADMIN");
    assert.equal(normalizeCapability("all"), "ALL");
    assert.equal(suggestCapability("SYS_ADMN"), "CAP_SYS_ADMIN");
  });

  it("defaultSystemIdMap and mappedRoot", () => {
    assert.deepEqual(defaultSystemIdMap(100000), {
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    });
    assert.deepEqual(mappedRoot(system), { uid: 100000, gid: 100000 });
    assert.equal(mappedRoot(app), undefined);
    assert.equal(mappedRoot({ ...system, privileged: true }), undefined);
    const shifted = {
      ...system,
      idMap: {
        uidMappings: [{ containerID: 0, hostID: 5000, size: 1 }],
        gidMappings: [{ containerID: 0, hostID: 6000, size: 1 }],
      },
    };
    assert.deepEqual(mappedRoot(shifted), { uid: 5000, gid: 6000 });
  });

  it("signalNumber", () => {
    assert.equal(signalNumber("SIGRTMIN+3"), 37);
    assert.equal(signalNumber("TERM"), 15);
    assert.equal(signalNumber("9"), 9);
    assert.equal(signalNumber("SIGRTMAX"), 64);
    assert.equal(signalNumber("SIGNOPE"), undefined);
  });
});
