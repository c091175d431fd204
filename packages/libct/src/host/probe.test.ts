import { strict as assert } from "node:assert";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import type { HostFacts, RuntimeInfo } from "../model/host.js";
import { RecordingRunner } from "../system/command.js";
import { needsRoot } from "../testing/slow.js";
import { cgroupModeOf, chooseRuntime, parseCapabilityMask, parseHardLimits, probeHost } from "./probe.js";

/** /proc/self/limits as captured on the development host (Linux 5.x, hard NOFILE 20000). */
const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max data size             unlimited            unlimited            bytes     
Max stack size            8388608              unlimited            bytes     
Max core file size        0                    unlimited            bytes     
Max resident set          unlimited            unlimited            bytes     
Max processes             96365                96365                processes 
Max open files            20000                20000                files     
Max locked memory         8388608              8388608              bytes     
Max address space         unlimited            unlimited            bytes     
Max file locks            unlimited            unlimited            locks     
Max pending signals       96365                96365                signals   
Max msgqueue size         819200               819200               bytes     
Max nice priority         0                    0                    
Max realtime priority     0                    0                    
Max realtime timeout      unlimited            unlimited            us        
`;

describe("parseCapabilityMask", () => {
  it("reads a bounding set without CAP_SYS_RESOURCE (bit 24)", () => {
    const caps = parseCapabilityMask("000001fffeffffff");
    assert.ok(caps.includes("CAP_SYS_ADMIN"));
    assert.ok(!caps.includes("CAP_SYS_RESOURCE"));
    assert.ok(caps.includes("CAP_SYS_TIME"), "bit 25");
    assert.ok(caps.includes("CAP_CHECKPOINT_RESTORE"), "bit 40");
    assert.equal(caps.length, 40);
  });

  it("maps single bits to their names", () => {
    assert.deepEqual(parseCapabilityMask("0000000000000001"), ["CAP_CHOWN"]);
    assert.deepEqual(parseCapabilityMask("0000000000200000"), ["CAP_SYS_ADMIN"]);
    assert.deepEqual(parseCapabilityMask("0\n"), []);
    assert.equal(parseCapabilityMask("000001ffffffffff").length, 41);
  });
});

describe("parseHardLimits", () => {
  it("takes the hard column, with unlimited as MAX_SAFE_INTEGER", () => {
    const l = parseHardLimits(LIMITS);
    assert.equal(l.RLIMIT_NOFILE, 20000);
    assert.equal(l.RLIMIT_NPROC, 96365);
    assert.equal(l.RLIMIT_MEMLOCK, 8388608);
    assert.equal(l.RLIMIT_STACK, Number.MAX_SAFE_INTEGER);
    assert.equal(l.RLIMIT_CORE, Number.MAX_SAFE_INTEGER);
    assert.equal(l.RLIMIT_NICE, 0, "a line without units");
    assert.equal(l.RLIMIT_RTPRIO, 0);
    assert.equal(l.RLIMIT_RTTIME, Number.MAX_SAFE_INTEGER);
    assert.equal(Object.keys(l).length, 16);
  });

  it("ignores the header and unknown lines", () => {
    assert.deepEqual(parseHardLimits("Limit  Soft Limit  Hard Limit  Units\nMax bogus  1  2  x\n"), {});
  });
});

describe("cgroupModeOf", () => {
  it("tells v2, hybrid and v1 apart", () => {
    assert.equal(cgroupModeOf(true, []), "v2");
    assert.equal(cgroupModeOf(false, ["cpu", "memory", "pids", "systemd", "unified"]), "hybrid");
    assert.equal(cgroupModeOf(false, ["cpu", "memory", "pids", "systemd"]), "v1");
  });
});

describe("chooseRuntime", () => {
  const runc: RuntimeInfo = { name: "runc", path: "/usr/sbin/runc", version: "1.1.5" };
  const crun: RuntimeInfo = { name: "crun", path: "/usr/bin/crun", version: "1.8.1" };
  const crunHybrid: RuntimeInfo = { ...crun, unusableReason: "hybrid cgroups" };
  const host = (mode: HostFacts["cgroup"]["mode"], runtimes: RuntimeInfo[]) =>
    ({ cgroup: { mode, controllers: [], root: "/sys/fs/cgroup" }, runtimes }) as unknown as HostFacts;

  const table: [string, HostFacts, ("runc" | "crun")?, string?][] = [
    ["v2 prefers crun", host("v2", [runc, crun]), undefined, "crun"],
    ["v2 without crun takes runc", host("v2", [runc]), undefined, "runc"],
    ["v2 with an unusable crun takes runc", host("v2", [runc, crunHybrid]), undefined, "runc"],
    ["hybrid takes runc", host("hybrid", [runc, crunHybrid]), undefined, "runc"],
    ["v1 takes runc even with a usable crun", host("v1", [crun, runc]), undefined, "runc"],
    ["v1 with only crun takes crun", host("v1", [crun]), undefined, "crun"],
    ["override wins on v2", host("v2", [runc, crun]), "runc", "runc"],
    ["override wins over a preference", host("v1", [runc, crun]), "crun", "crun"],
    ["nothing installed", host("v2", []), undefined, undefined],
    ["override of a missing runtime", host("v2", [runc]), "crun", undefined],
  ];
  for (const [name, facts, override, want] of table) {
    it(name, () => assert.equal(chooseRuntime(facts, override)?.name, want));
  }

  it("an override returns an unusable runtime with its reason, for the caller to report", () => {
    assert.equal(chooseRuntime(host("hybrid", [runc, crunHybrid]), "crun")?.unusableReason, "hybrid cgroups");
  });
});

describe("probeHost with a recording runner", () => {
  it("asks each tool for its version and does not run criu check unless asked", async () => {
    const cmd = new RecordingRunner((file) => ({
      stdout: file.endsWith("criu") ? "Version: 4.1.1\n" : `${file} version 9.8.7\n`,
      stderr: "",
    }));
    const facts = await probeHost({ runner: cmd });
    assert.ok(cmd.calls.every(([, args]) => args.length === 1 && args[0] === "--version"));
    for (const r of facts.runtimes) assert.equal(r.version, "9.8.7");
    if (facts.criu) {
      assert.equal(facts.criu.version, "4.1.1");
      assert.equal(facts.criu.checkOk, false);
      assert.equal(facts.criu.checkOutput, "not run");
    }
  });
});

describe("probeHost on this host", () => {
  it("reports the facts berth relies on", { skip: needsRoot.skip }, async () => {
    const facts = await probeHost({ criuCheck: true });
    assert.ok(facts.kernel.major >= 5, facts.kernel.release);
    assert.equal(facts.rootless, false);

    assert.equal(facts.cgroup.mode, "hybrid");
    assert.equal(facts.cgroup.root, "/sys/fs/cgroup");
    for (const c of ["memory", "pids", "cpu", "freezer"]) assert.ok(facts.cgroup.controllers.includes(c), c);
    assert.ok(!facts.cgroup.controllers.includes("unified") && !facts.cgroup.controllers.includes("systemd"));

    const runc = facts.runtimes.find((r) => r.name === "runc");
    assert.ok(runc, "runc present");
    assert.equal(runc.unusableReason, undefined);
    assert.match(runc.version, /^1\.1\./);
    const crun = facts.runtimes.find((r) => r.name === "crun");
    assert.ok(crun, "crun present");
    assert.match(crun.unusableReason ?? "", /hybrid/);
    assert.equal(chooseRuntime(facts)?.name, "runc");

    assert.ok(facts.conmon, "conmon present");
    assert.match(facts.conmon.version, /^2\./);

    assert.ok(facts.criu, "criu present");
    assert.ok(Number.parseInt(facts.criu.version, 10) >= 4, facts.criu.version);
    assert.equal(facts.criu.checkOk, true, facts.criu.checkOutput);

    assert.ok(!facts.capabilities.includes("CAP_SYS_RESOURCE"));
    assert.ok(facts.capabilities.includes("CAP_SYS_ADMIN"));

    const mine = parseHardLimits(await readFile("/proc/self/limits", "utf8"));
    assert.deepEqual(facts.hardRlimits, mine);

    // The x32 probe agrees with the kernel's own configuration where it is published.
    const config = await readFile("/proc/config.gz")
      .then((gz) => gunzipSync(gz).toString("utf8"))
      .catch(() => undefined);
    if (config !== undefined && process.arch === "x64")
      assert.equal(facts.x32Syscalls, /^CONFIG_X86_X32_ABI=y$/m.test(config), "x32Syscalls against /proc/config.gz");
    const nofile = /^Max open files\s+\S+\s+(\d+)/m.exec(await readFile("/proc/self/limits", "utf8"))?.[1];
    if (nofile === "20000") assert.equal(facts.hardRlimits.RLIMIT_NOFILE, 20000);
    else assert.equal(facts.hardRlimits.RLIMIT_NOFILE, Number(nofile ?? Number.MAX_SAFE_INTEGER));
  });
});
