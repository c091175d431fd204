import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { LibctError, ValidationError } from "../errors.js";
import type { ContainerDescription } from "../model/description.js";
import { defaultSystemIdMap } from "../model/idmap.js";
import { buildSpec, withCapabilities, withHostname, withRlimits } from "./build.js";
import { effectiveCapabilities, type ResolvedInputs, specFromDescription } from "./from-description.js";
import type { OciSpec } from "./oci.js";
import { resolveDockerSeccomp, seccompAction, systemContainerSeccomp } from "./seccomp.js";
import { dockerDefaultSeccompProfile } from "./seccomp-default.js";
import {
  assertValidOciSpec,
  deepFreeze,
  goldenCases,
  hybridHost,
  ociSchemaErrors,
  v2Host,
} from "./test-support.test.js";

const app: ContainerDescription = { kind: "app", rootfs: { path: "/r" }, process: { args: ["/bin/sh"] } };
const system: ContainerDescription = {
  kind: "system",
  rootfs: { path: "/r" },
  process: { args: ["/sbin/init"] },
  idMap: defaultSystemIdMap(100000),
};
const resolved: ResolvedInputs = { cgroupsPath: "/berth/t" };
const build = (d: ContainerDescription, r: ResolvedInputs = resolved, host = hybridHost): OciSpec => {
  const spec = specFromDescription(host, d, r);
  assertValidOciSpec(spec);
  return spec;
};
const allowed = (spec: OciSpec, name: string) => seccompAction(spec.linux.seccomp!, name).action === "SCMP_ACT_ALLOW";

describe("schema check", () => {
  it("rejects a spec that breaks the schema (so the helper can fail)", () => {
    const spec = build(app) as unknown as Record<string, unknown>;
    assert.notDeepEqual(ociSchemaErrors({ ...spec, ociVersion: 3 }), []);
    assert.notDeepEqual(ociSchemaErrors({ ...spec, mounts: [{ type: "bind" }] }), []);
  });
});

describe("buildSpec", () => {
  it("starts from a fresh draft each call", () => {
    const a = buildSpec(hybridHost, withHostname("a"));
    const b = buildSpec(hybridHost);
    assert.equal(a.hostname, "a");
    assert.equal(b.hostname, undefined);
    a.mounts.push({ destination: "/x" });
    assert.equal(buildSpec(hybridHost).mounts.length, 0);
  });

  it("clamps rlimits to the host's hard limits", () => {
    const spec = buildSpec(hybridHost, withRlimits([{ type: "RLIMIT_NOFILE", soft: 1 << 20, hard: 1 << 20 }]));
    assert.deepEqual(spec.process.rlimits, [{ type: "RLIMIT_NOFILE", soft: 20000, hard: 20000 }]);
  });

  it("never grants a capability the host lacks, and notes it", () => {
    const spec = buildSpec(hybridHost, withCapabilities(["CAP_SYS_RESOURCE", "CAP_KILL"]));
    assert.deepEqual(spec.process.capabilities?.bounding, ["CAP_KILL"]);
    assert.equal(spec.annotations?.["berth.capabilities.unavailable"], "CAP_SYS_RESOURCE");
  });
});

describe("specFromDescription: app containers", () => {
  it("gets Docker's defaults", () => {
    const spec = build(app);
    assert.deepEqual(spec.process.capabilities?.bounding?.length, 14);
    assert.ok(spec.process.env?.some((e) => e.startsWith("PATH=")));
    assert.deepEqual(spec.process.rlimits, [{ type: "RLIMIT_NOFILE", soft: 20000, hard: 20000 }]);
    assert.ok(spec.linux.maskedPaths?.includes("/proc/kcore"));
    assert.ok(spec.linux.readonlyPaths?.includes("/proc/sys"));
    assert.deepEqual(spec.linux.resources?.devices?.[0], { allow: false, access: "rwm" });
    assert.deepEqual(
      spec.linux.namespaces.map((n) => n.type),
      ["pid", "network", "ipc", "uts", "mount"],
      "no cgroup namespace on a v1/hybrid host (Docker's default), no user namespace without an id map",
    );
    const dests = spec.mounts.map((m) => m.destination);
    for (const d of ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"])
      assert.ok(dests.includes(d), d);
    assert.ok(spec.mounts.find((m) => m.destination === "/sys/fs/cgroup")?.options?.includes("ro"));
  });

  it("uses a cgroup namespace on v2 hosts and the default nofile of 1048576", () => {
    const spec = build(app, resolved, v2Host);
    assert.ok(spec.linux.namespaces.some((n) => n.type === "cgroup"));
    assert.deepEqual(spec.process.rlimits, [{ type: "RLIMIT_NOFILE", soft: 1048576, hard: 1048576 }]);
  });

  it("does not pass a protected daemon's OOM score on to its containers", () => {
    // berthd's systemd unit gives it -500; conmon and the containers would inherit it.
    const daemonProtected = { ...hybridHost, oomScoreAdj: -500 };
    assert.equal(build(app, resolved, daemonProtected).process.oomScoreAdj, 0);
    assert.equal(
      build({ ...app, process: { ...app.process, oomScoreAdj: 300 } }, resolved, daemonProtected).process.oomScoreAdj,
      300,
    );
    // Lowering a positive score needs CAP_SYS_RESOURCE, so runc could fail: inherited as it is.
    assert.equal(build(app, resolved, { ...hybridHost, oomScoreAdj: 200 }).process.oomScoreAdj, undefined);
    assert.equal(build(app).process.oomScoreAdj, undefined);
  });

  it("with the host's IPC namespace: the host's /dev/shm, a fresh mqueue (hosts without /dev/mqueue work)", () => {
    const spec = build({ ...app, namespaces: { ipc: "host" } });
    const at = (d: string) => spec.mounts.find((m) => m.destination === d);
    assert.deepEqual([at("/dev/shm")?.type, at("/dev/shm")?.source], ["bind", "/dev/shm"]);
    assert.deepEqual([at("/dev/mqueue")?.type, at("/dev/mqueue")?.source], ["mqueue", "mqueue"]);
    assert.equal(build(app).mounts.find((m) => m.destination === "/dev/shm")?.type, "tmpfs");
  });

  it("puts a device where the description says, with the host node's numbers", () => {
    const spec = build(
      { ...app, devices: [{ path: "/dev/null", containerPath: "/dev/mynull", permissions: "rw" }] },
      { ...resolved, devices: [{ path: "/dev/null", type: "c", major: 1, minor: 3 }] },
    );
    assert.deepEqual(
      spec.linux.devices?.map((d) => [d.path, d.type, d.major, d.minor]),
      [["/dev/mynull", "c", 1, 3]],
    );
    assert.ok(
      spec.linux.resources?.devices?.some((r) => r.allow && r.major === 1 && r.minor === 3 && r.access === "rw"),
    );
  });

  it("handles ALL in add and drop as Docker does", () => {
    assert.equal(effectiveCapabilities({ ...app, capabilities: { add: ["ALL"], drop: ["SYS_ADMIN"] } }).length, 40);
    assert.deepEqual(effectiveCapabilities({ ...app, capabilities: { drop: ["ALL"], add: ["chown"] } }), ["CAP_CHOWN"]);
    const spec = build({ ...app, capabilities: { add: ["ALL"] } });
    assert.ok(!spec.process.capabilities?.bounding?.includes("CAP_SYS_RESOURCE"));
  });

  it("joins namespaces by path and refuses unresolved joins, volumes and devices", () => {
    const joined = { ...app, namespaces: { network: { container: "db" }, pid: "host" as const } };
    const spec = build(joined, { ...resolved, namespacePaths: { network: "/proc/7/ns/net" } });
    assert.deepEqual(
      spec.linux.namespaces.find((n) => n.type === "network"),
      { type: "network", path: "/proc/7/ns/net" },
    );
    assert.ok(!spec.linux.namespaces.some((n) => n.type === "pid"));
    // A namespace given by path (a NetworkDriver's netns) needs no resolving.
    const byPath = build({ ...app, namespaces: { network: { path: "/run/netns/web" } } });
    assert.deepEqual(
      byPath.linux.namespaces.find((n) => n.type === "network"),
      { type: "network", path: "/run/netns/web" },
    );
    assert.throws(
      () => specFromDescription(hybridHost, joined, resolved),
      (e) => e instanceof LibctError && e.kind === "invalid",
    );
    const vol = { ...app, mounts: [{ type: "volume" as const, name: "v", destination: "/v" }] };
    assert.throws(() => specFromDescription(hybridHost, vol, resolved), /volumeSources/);
    const devd = { ...app, devices: [{ path: "/dev/kvm" }] };
    assert.throws(() => specFromDescription(hybridHost, devd, resolved), /resolved.devices/);
  });

  it("throws ValidationError for an invalid description, with host-dependent checks", () => {
    const tooMany = {
      ...app,
      process: { args: ["x"], rlimits: [{ type: "RLIMIT_NOFILE", soft: 30000, hard: 30000 }] },
    };
    assert.throws(
      () => specFromDescription(hybridHost, tooMany, resolved),
      (e) => e instanceof ValidationError && /CAP_SYS_RESOURCE/.test(e.message),
    );
    assert.throws(() => specFromDescription(hybridHost, { ...app, apparmorProfile: "x" }, resolved), ValidationError);
  });

  it("binds /sys in a user namespace without a private network namespace", () => {
    const d = { ...app, idMap: defaultSystemIdMap(100000), namespaces: { network: "host" as const } };
    assert.equal(build(d).mounts.find((m) => m.destination === "/sys")?.type, "bind");
    assert.equal(build({ ...d, namespaces: {} }).mounts.find((m) => m.destination === "/sys")?.type, "sysfs");
  });

  it("lets a user mount replace a default one", () => {
    const spec = build({ ...app, mounts: [{ type: "tmpfs", destination: "/dev/shm", sizeBytes: 1 << 30 }] });
    const shm = spec.mounts.filter((m) => m.destination === "/dev/shm");
    assert.equal(shm.length, 1);
    assert.ok(shm[0]!.options?.includes(`size=${1 << 30}`));
  });

  it("privileged apps get every host capability, all devices, no seccomp or masked paths", () => {
    const spec = build({ ...app, privileged: true });
    assert.equal(spec.process.capabilities?.bounding?.length, 40);
    assert.deepEqual(spec.linux.resources?.devices, [{ allow: true, access: "rwm" }]);
    assert.equal(spec.linux.seccomp, undefined);
    assert.equal(spec.linux.maskedPaths, undefined);
  });
});

describe("specFromDescription: system containers", () => {
  it("matches the recipe that booted systemd on this host", () => {
    const spec = build(system);
    assert.deepEqual(spec.linux.namespaces.map((n) => n.type).sort(), [
      "cgroup",
      "ipc",
      "mount",
      "network",
      "pid",
      "user",
      "uts",
    ]);
    assert.deepEqual(spec.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
    assert.ok(spec.process.env?.includes("container=oci"));
    assert.equal(spec.root.readonly, false);
    const caps = spec.process.capabilities?.bounding ?? [];
    assert.equal(caps.length, 40);
    assert.ok(!caps.includes("CAP_SYS_RESOURCE") && caps.includes("CAP_SYS_ADMIN"));
    assert.ok(spec.mounts.find((m) => m.destination === "/sys/fs/cgroup")?.options?.includes("rw"));
    for (const d of ["/run", "/run/lock", "/tmp"])
      assert.equal(spec.mounts.find((m) => m.destination === d)?.type, "tmpfs", d);
    assert.deepEqual(spec.process.rlimits, [{ type: "RLIMIT_NOFILE", soft: 20000, hard: 20000 }]);
    assert.equal(spec.annotations?.["berth.stop-signal"], "SIGRTMIN+3");
    assert.equal(spec.linux.seccomp?.defaultAction, "SCMP_ACT_ALLOW");
    assert.ok(!allowed(spec, "kexec_load") && allowed(spec, "mount") && allowed(spec, "keyctl"));
  });

  it("requires an id map unless privileged", () => {
    assert.throws(() => specFromDescription(hybridHost, { ...system, idMap: undefined }, resolved), /idMap/);
    const priv = build({ ...system, idMap: undefined, privileged: true });
    assert.ok(!priv.linux.namespaces.some((n) => n.type === "user"));
  });

  it("omits gid=5 on devpts when gid 5 is not mapped", () => {
    const idMap = {
      uidMappings: [{ containerID: 0, hostID: 100000, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 1 }],
    };
    const spec = build({ ...system, idMap });
    assert.ok(!spec.mounts.find((m) => m.destination === "/dev/pts")?.options?.includes("gid=5"));
  });
});

describe("seccomp", () => {
  const appSpec = build(app);

  it("the default app profile denies unshare, mount, keyctl, reboot and allows read, openat; clone3 gets ENOSYS", () => {
    for (const s of ["unshare", "mount", "keyctl", "reboot", "kexec_load", "bpf"]) assert.ok(!allowed(appSpec, s), s);
    for (const s of ["read", "openat", "arch_prctl", "ptrace", "chroot"]) assert.ok(allowed(appSpec, s), s);
    assert.deepEqual(seccompAction(appSpec.linux.seccomp!, "clone3"), { action: "SCMP_ACT_ERRNO", errnoRet: 38 });
    assert.deepEqual(appSpec.linux.seccomp?.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    assert.equal(appSpec.linux.seccomp?.defaultAction, "SCMP_ACT_ERRNO");
  });

  it("CAP_SYS_ADMIN admits mount and a real clone3", () => {
    const spec = build({ ...app, capabilities: { add: ["SYS_ADMIN"] } });
    assert.ok(allowed(spec, "mount") && allowed(spec, "unshare") && allowed(spec, "clone3"));
    assert.ok(!allowed(spec, "reboot"));
  });

  it("resolves arch and kernel conditions", () => {
    const arm = resolveDockerSeccomp({ arch: "arm64", kernel: { release: "6.1", major: 6, minor: 1 } }, []);
    assert.ok(!arm.syscalls!.some((r) => r.names.includes("arch_prctl")));
    assert.ok(arm.syscalls!.some((r) => r.names.includes("arm_fadvise64_64")));
    assert.deepEqual(arm.architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    const kernel = { release: "6.1", major: 6, minor: 1 };
    assert.deepEqual(resolveDockerSeccomp({ arch: "amd64", kernel, x32Syscalls: false }, []).architectures, [
      "SCMP_ARCH_X86_64",
      "SCMP_ARCH_X86",
    ]);
    assert.deepEqual(resolveDockerSeccomp({ arch: "amd64", kernel, x32Syscalls: true }, []).architectures, [
      "SCMP_ARCH_X86_64",
      "SCMP_ARCH_X86",
      "SCMP_ARCH_X32",
    ]);
    assert.deepEqual(systemContainerSeccomp({ arch: "amd64", x32Syscalls: false }).architectures, [
      "SCMP_ARCH_X86_64",
      "SCMP_ARCH_X86",
    ]);
    const old = resolveDockerSeccomp({ arch: "amd64", kernel: { release: "4.4", major: 4, minor: 4 } }, []);
    assert.ok(!old.syscalls!.some((r) => r.names.includes("ptrace")));
    assert.ok(dockerDefaultSeccompProfile.syscalls.length > 20);
  });

  it("unconfined and custom profiles pass through; a host without seccomp gets none", () => {
    assert.equal(build({ ...app, seccomp: "unconfined" }).linux.seccomp, undefined);
    const custom = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["ptrace"], action: "SCMP_ACT_ERRNO" }] };
    assert.deepEqual(build({ ...app, seccomp: { custom } }).linux.seccomp, custom);
    // Docker's format: archMap, conditions on capabilities, the old single `name`.
    const docker = {
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 1,
      archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"] }],
      syscalls: [
        { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
        { name: "mount", action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
        { names: ["ptrace"], action: "SCMP_ACT_ALLOW", excludes: { caps: ["CAP_SYS_ADMIN"] } },
      ],
    };
    const plain = build({ ...app, seccomp: { custom: docker } }).linux.seccomp!;
    assert.deepEqual(plain.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
    assert.deepEqual(plain.defaultErrnoRet, 1);
    assert.deepEqual(
      plain.syscalls!.map((r) => r.names),
      [["read", "write"], ["ptrace"]],
    );
    const admin = build({ ...app, capabilities: { add: ["SYS_ADMIN"] }, seccomp: { custom: docker } }).linux.seccomp!;
    assert.deepEqual(
      admin.syscalls!.map((r) => r.names),
      [["read", "write"], ["mount"]],
    );
    assert.equal(build(app, resolved, { ...hybridHost, seccomp: false }).linux.seccomp, undefined);
    assert.ok(systemContainerSeccomp(hybridHost).syscalls!.length > 0);
  });
});

describe("purity", () => {
  it("never mutates its inputs (deep-frozen host, description and resolved inputs)", () => {
    for (const c of goldenCases) {
      const host = deepFreeze(structuredClone(c.host));
      const desc = deepFreeze(structuredClone(c.desc));
      const res = deepFreeze(structuredClone(c.resolved));
      const a = specFromDescription(host, desc, res);
      assert.deepEqual(specFromDescription(host, desc, res), a, `${c.name}: same inputs, same spec`);
      assert.deepEqual(desc, c.desc);
    }
  });

  it("returns specs that share no objects with its inputs or each other", () => {
    const c = goldenCases[1]!;
    const a = specFromDescription(c.host, c.desc, c.resolved);
    a.process.args.push("mutated");
    a.mounts[0]!.options?.push("mutated");
    a.linux.resources!.devices!.push({ allow: true });
    const b = specFromDescription(c.host, c.desc, c.resolved);
    assert.ok(!b.process.args.includes("mutated") && !c.desc.process.args.includes("mutated"));
    assert.ok(!b.mounts[0]!.options?.includes("mutated"));
  });
});
