/** Pure parts of berthd: request → description merge, names, flags, validation messages, the store. */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it, describe as suite } from "node:test";
import { parseDockerTime } from "@berth/api/time";
import { ValidationError } from "@berth/libct";
import { parseArgs } from "./config.js";
import { toProblem } from "./http/problem.js";
import { route } from "./http/router.js";
import { validateBody } from "./http/validate.js";
import { readImageEtc, timeNs, wireMounts } from "./services/containers.js";
import { commandOf, describe, effectiveConfig, limitsOf, mergeEnv, resolveUser } from "./services/describe.js";
import { prettyName } from "./services/host-info.js";
import { chainIds, refCandidates } from "./services/images.js";
import { damerau, generateName, suggest } from "./services/names.js";
import { DEFAULT_ID_SPANS, parseSubids, pickRange, readIdSpans } from "./services/system.js";
import { ContainerRepo, type ContainerRow } from "./store/containers.js";
import { migrations, openDb } from "./store/db.js";

suite("describe: request + image config, merged as Docker does", () => {
  const image = { Entrypoint: ["/entry"], Cmd: ["serve"], Env: ["PATH=/bin", "A=1"], WorkingDir: "/srv", User: "app" };
  it("keeps the image's entrypoint and replaces its cmd", () => {
    assert.deepEqual(commandOf({ image: "x", cmd: ["run"] }, image), ["/entry", "run"]);
    assert.deepEqual(commandOf({ image: "x" }, image), ["/entry", "serve"]);
  });
  it("a request entrypoint drops the image's cmd", () => {
    assert.deepEqual(commandOf({ image: "x", entrypoint: ["/bin/sh"] }, image), ["/bin/sh"]);
  });
  it("system containers without a command boot /sbin/init", () => {
    assert.deepEqual(commandOf({ image: "x", kind: "system" }, {}), ["/sbin/init"]);
  });
  it("the stored config is Docker's: the request merged with the image, and merging it again changes nothing", () => {
    const passwd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const inputs = { id: "c".repeat(64), image, rootfs: "/r", passwd, group: "" };
    const req = { image: "x", env: ["A=2"] };
    const eff = effectiveConfig(req, image, describe({ ...inputs, req }));
    assert.deepEqual(eff, {
      entrypoint: ["/entry"],
      cmd: ["serve"],
      env: ["PATH=/bin", "A=2"],
      workingDir: "/srv",
      user: "app",
    });
    const again = { ...req, ...eff };
    assert.deepEqual(effectiveConfig(again, image, describe({ ...inputs, req: again })), eff);
    assert.deepEqual(describe({ ...inputs, req: again }).process, describe({ ...inputs, req }).process);
    const ep = { image: "x", entrypoint: ["/bin/sh"] };
    assert.equal(effectiveConfig(ep, image, describe({ ...inputs, req: ep })).cmd, undefined, "no image Cmd");
    const sys = { image: "x", kind: "system" as const };
    assert.deepEqual(
      effectiveConfig(sys, {}, describe({ ...inputs, req: sys, systemInit: ["/sbin/init"] }), ["/sbin/init"]).cmd,
      ["/sbin/init"],
    );
  });
  it("an image's VOLUMEs become anonymous volumes (app containers), a request's mount there wins, parents first", () => {
    let n = 0;
    const inputs = { id: "c".repeat(64), rootfs: "/r", newVolumeName: () => `v${++n}` };
    const img = { Cmd: ["true"], Volumes: { "/data": {}, "/srv/cache/": {}, relative: {}, "/": {} } };
    const mounts = describe({
      ...inputs,
      image: img,
      req: { image: "x", mounts: [{ type: "bind", source: "/tmp", target: "/data/in" }] },
    }).mounts;
    assert.deepEqual(
      mounts?.map((m) => [m.destination, m.type === "volume" ? `${m.name}${m.anonymous ? " anonymous" : ""}` : m.type]),
      [
        ["/data", "v1 anonymous"],
        ["/data/in", "bind"],
        ["/srv/cache", "v2 anonymous"],
      ],
    );
    const own = describe({
      ...inputs,
      image: img,
      req: { image: "x", mounts: [{ type: "volume", source: "mine", target: "/data" }] },
    }).mounts;
    assert.deepEqual(
      own?.map((m) => [m.destination, m.type === "volume" ? m.name : m.type]),
      [
        ["/data", "mine"],
        ["/srv/cache", "v3"],
      ],
    );
    const sys = describe({ ...inputs, image: img, req: { image: "x", kind: "system", cmd: ["/sbin/init"] } });
    assert.equal(sys.mounts, undefined, "a system container's root persists: no volumes of the image's");
  });
  it("lists mounts as Docker's inspect does: volumes under their names, the request's binds and tmpfs, not berthd's own", () => {
    let n = 0;
    const req = {
      image: "x",
      shmSizeBytes: 1 << 20,
      mounts: [
        { type: "bind" as const, source: "/srv/www", target: "/www", readOnly: true },
        { type: "volume" as const, target: "/scratch" },
        { type: "tmpfs" as const, target: "/tmp" },
      ],
    };
    const description = describe({
      id: "c".repeat(64),
      rootfs: "/r",
      newVolumeName: () => `v${++n}`,
      image: { Cmd: ["true"], Volumes: { "/data": {} } },
      req,
      etcMounts: [{ type: "bind", source: "/run/berth/containers/c/hosts", destination: "/etc/hosts" }],
    });
    assert.ok(
      description.mounts?.some((m) => m.destination === "/etc/hosts"),
      "the /etc file is mounted",
    );
    assert.ok(
      description.mounts?.some((m) => m.destination === "/dev/shm"),
      "so is the --shm-size /dev/shm",
    );
    const row = { config: req, description } as unknown as ContainerRow;
    assert.deepEqual(
      wireMounts(row, (name) => `/var/lib/berth/volumes/${name}/_data`),
      [
        { type: "bind", source: "/srv/www", destination: "/www", rw: false, propagation: "rprivate" },
        { type: "volume", name: "v1", source: "/var/lib/berth/volumes/v1/_data", destination: "/scratch", rw: true },
        { type: "tmpfs", source: "", destination: "/tmp", rw: true },
        { type: "volume", name: "v2", source: "/var/lib/berth/volumes/v2/_data", destination: "/data", rw: true },
      ],
    );
  });
  it("env overrides by key, in image order", () => {
    assert.deepEqual(mergeEnv(["PATH=/bin", "A=1"], ["A=2", "B=3"]), ["PATH=/bin", "A=2", "B=3"]);
  });
  it("resolves users by name and number", () => {
    const passwd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const group = "root:x:0:\nstaff:x:50:\n";
    assert.deepEqual(resolveUser("app", passwd, group), { uid: 1000, gid: 1001 });
    assert.deepEqual(resolveUser("1000", passwd, group), { uid: 1000, gid: 1001 });
    assert.deepEqual(resolveUser("app:staff", passwd, group), { uid: 1000, gid: 50 });
    assert.deepEqual(resolveUser("42", passwd, group), { uid: 42, gid: 42 });
    assert.throws(() => resolveUser("ghost", passwd, group), /user 'ghost' is not in the image's \/etc\/passwd/);
  });
  it("builds a description with cwd, user, limits and host network", () => {
    const d = describe({
      id: "a".repeat(64),
      req: { image: "x", network: "host", resources: { memory: 64 << 20, pidsLimit: 10 }, readOnly: true },
      image,
      rootfs: "/r",
      passwd: "app:x:7:7::/:/bin/sh\n",
    });
    assert.equal(d.process.cwd, "/srv");
    assert.deepEqual(d.process.user, { uid: 7, gid: 7 });
    assert.deepEqual(d.limits, { memory: { limitBytes: 64 << 20 }, pids: { limit: 10 } });
    assert.deepEqual(d.namespaces, { network: "host" });
    assert.equal(d.hostname, "aaaaaaaaaaaa");
    assert.deepEqual(d.rootfs, { path: "/r", readonly: true });
  });
  it("0 means no limit", () => {
    assert.equal(limitsOf({ memory: 0, cpus: 0, pidsLimit: 0 }), undefined);
  });
  it("refuses unknown security options by index", () => {
    assert.throws(
      () =>
        describe({
          id: "b".repeat(64),
          req: { image: "x", cmd: ["a"], securityOpt: ["label=disable"] },
          image: {},
          rootfs: "/r",
        }),
      (e: unknown) => e instanceof ValidationError && e.issues[0]?.field === "securityOpt[0]",
    );
  });
});

suite("names", () => {
  it("suggests the closest name for a typo", () => {
    assert.equal(suggest("wbe", ["web", "db"]), "web");
    assert.equal(suggest("zzzzzz", ["web", "db"]), undefined);
    assert.equal(damerau("wbe", "web"), 1);
  });
  it("generates names not taken", () => {
    const taken = new Set<string>();
    for (let i = 0; i < 200; i++) taken.add(generateName((n) => taken.has(n)));
    assert.equal(taken.size, 200);
  });
});

suite("images", () => {
  it("chain ids follow the OCI definition", () => {
    const [a, b] = chainIds(["sha256:aa", "sha256:bb"]);
    assert.equal(a, "sha256:aa");
    assert.match(b!, /^sha256:[0-9a-f]{64}$/);
  });
  it("short refs mean :latest and docker.io/library", () => {
    assert.deepEqual(refCandidates("busybox"), ["busybox", "busybox:latest", "docker.io/library/busybox:latest"]);
  });
});

suite("flags", () => {
  it("derives the socket from --run-root", () => {
    assert.deepEqual(parseArgs(["--root", "/a", "--run-root=/b"]), {
      root: "/a",
      runRoot: "/b",
      socket: "/b/berth.sock",
      logLevel: "info",
    });
  });
  it("parses --tcp and rejects unknown flags", () => {
    assert.deepEqual((parseArgs(["--tcp", "127.0.0.1:8443"]) as { tcp: unknown }).tcp, {
      host: "127.0.0.1",
      port: 8443,
    });
    assert.throws(() => parseArgs(["--rooot", "/a"]), /unknown flag '--rooot'/);
    assert.throws(() => parseArgs(["--tcp", "nope"]), /HOST:PORT/);
    assert.throws(() => parseArgs(["--log-level", "loud"]), /--log-level/);
  });
});

suite("http", () => {
  it("routes literal paths before templates, and says which methods a path takes", () => {
    assert.equal(route("POST", "/1.0/images/prune").id, "pruneImages");
    assert.deepEqual(route("GET", "/1.0/containers/web/logs").params, { id: "web" });
    assert.throws(() => route("PATCH", "/1.0/containers"), /use GET or POST/);
  });
  it("validation names the field and what to do", () => {
    assert.throws(
      () => validateBody("ContainerCreate", { image: "x", resources: { memory: -5 }, colour: "red" }),
      (e: unknown) => {
        const issues = (e as ValidationError).issues;
        return (
          issues.some((i) => i.field === "colour" && /unknown field 'colour'; remove it/.test(i.message)) &&
          issues.some((i) => i.field === "resources.memory" && /must be >= 0/.test(i.message))
        );
      },
    );
  });
  it("toProblem hides internal errors and keeps field issues", () => {
    const p = toProblem(new Error("secret path /etc/x"));
    assert.deepEqual([p.status, p.kind, p.detail], [500, "internal", "internal error (see daemon log)"]);
    const v = toProblem(new ValidationError([{ field: "name", message: "bad" }]));
    assert.deepEqual([v.status, v.issues], [400, [{ field: "name", message: "bad" }]]);
  });
});

suite("store", () => {
  it("migrates to the latest version in WAL mode and keeps names unique", () => {
    const dir = mkdtempSync(join(tmpdir(), "bdb-"));
    try {
      const db = openDb(join(dir, "t.db"));
      assert.equal(db.pragma("user_version", { simple: true }), migrations.length);
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      const repo = new ContainerRepo(db);
      const row = {
        id: "c".repeat(64),
        name: "web",
        image: "busybox",
        kind: "app" as const,
        config: { image: "busybox" },
        description: { kind: "app" as const, rootfs: { path: "/r" }, process: { args: ["true"] } },
        labels: {},
        restartPolicy: { name: "no" as const },
        resources: {},
        autostart: false,
        createdAt: new Date().toISOString(),
        status: "running" as const,
        oomKilled: false,
        restartCount: 0,
      };
      repo.insert(row);
      assert.throws(() => repo.insert({ ...row, id: "d".repeat(64) }), /UNIQUE/);
      assert.equal(repo.setState(row.id, { status: "exited", exitCode: 3 }, ["running"]), true);
      assert.equal(
        repo.setState(row.id, { status: "exited", exitCode: 4 }, ["running"]),
        false,
        "a guarded transition happens once",
      );
      assert.equal(repo.byPrefix("ccc")[0]?.exitCode, 3);
      db.close();
      assert.equal(openDb(join(dir, "t.db")).pragma("user_version", { simple: true }), migrations.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

suite("system containers' id ranges: root's /etc/subuid and /etc/subgid entries", () => {
  it("reads root's entries (by name or uid 0), skipping other users and junk", () => {
    const text = "alice:100000:65536\nroot:1000000:1000000000\n0:5000:10\nroot:x:1\nroot:7:0\n\n";
    assert.deepEqual(parseSubids(text), [
      { start: 1_000_000, count: 1_000_000_000 },
      { start: 5000, count: 10 },
    ]);
  });

  it("uses the ids both files give, and the default when either names no root", () => {
    const dir = mkdtempSync(join(tmpdir(), "bsub-"));
    try {
      const uid = join(dir, "subuid");
      const gid = join(dir, "subgid");
      writeFileSync(uid, "root:100000:262144\n");
      writeFileSync(gid, "root:165536:262144\n");
      assert.deepEqual(readIdSpans({ uid, gid }).spans, [{ start: 165_536, count: 196_608 }]);
      writeFileSync(gid, "alice:100000:65536\n");
      assert.deepEqual(readIdSpans({ uid, gid }).spans, DEFAULT_ID_SPANS);
      assert.deepEqual(readIdSpans({ uid: join(dir, "missing"), gid: uid }).spans, DEFAULT_ID_SPANS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("picks whole ranges inside the spans, skipping taken ones, and none when all are taken", () => {
    const spans = [
      { start: 100_000, count: 65_536 * 2 + 10 },
      { start: 1_000_000, count: 65_536 },
    ];
    assert.equal(pickRange(spans, 65_536, new Set()), 100_000);
    assert.equal(pickRange(spans, 65_536, new Set([100_000])), 165_536);
    assert.equal(pickRange(spans, 65_536, new Set([100_000, 165_536])), 1_000_000);
    assert.equal(pickRange(spans, 65_536, new Set([100_000, 165_536, 1_000_000])), undefined);
    assert.equal(pickRange([{ start: 0, count: 65_535 }], 65_536, new Set()), undefined, "a span too short");
  });
});

suite("Docker's --since/--until times", () => {
  it("takes RFC 3339, Unix seconds and Go durations back from now, and nothing else", () => {
    const now = Date.parse("2026-01-02T03:04:05Z");
    assert.equal(parseDockerTime("2026-01-02T03:04:05Z", now), now);
    assert.equal(parseDockerTime("1767323045.5", now), 1_767_323_045_500);
    assert.equal(parseDockerTime("10m", now), now - 600_000);
    assert.equal(parseDockerTime("1h30m", now), now - 5_400_000);
    assert.equal(parseDockerTime("1.5h", now), now - 5_400_000);
    assert.equal(parseDockerTime("500ms", now), now - 500);
    assert.equal(parseDockerTime("0s", now), now);
    for (const bad of ["yesterday", "10 m", "-5m", "1d", ""]) assert.equal(parseDockerTime(bad, now), undefined, bad);
  });
});

suite("prettyName (info's Operating System)", () => {
  it("reads PRETTY_NAME quoted or not, and nothing else", () => {
    assert.equal(
      prettyName('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'),
      "Debian GNU/Linux 12 (bookworm)",
    );
    assert.equal(prettyName("PRETTY_NAME='Alpine Linux v3.20'"), "Alpine Linux v3.20");
    assert.equal(prettyName("ID=arch\nPRETTY_NAME=Arch Linux\n"), "Arch Linux");
    assert.equal(prettyName('NAME="x"\n'), undefined);
    assert.equal(prettyName('PRETTY_NAME=""'), undefined);
  });
});

suite("timeNs (logs --since/--until)", () => {
  it("compares conmon's local times with offsets and clients' UTC times as instants, to the nanosecond", () => {
    const utc = timeNs("2026-11-24T07:58:45.560984212Z")!;
    assert.equal(timeNs("2026-11-24T08:58:45.560984212+01:00"), utc, "same instant, another offset");
    assert.equal(timeNs("2026-11-24T07:58:45.560984212+00:00"), utc);
    assert.equal(utc - timeNs("2026-11-24T07:58:45.560Z")!, 984212n, "below the millisecond");
    assert.ok(timeNs("2026-11-24T08:58:45.561+01:00")! > utc);
    assert.equal(timeNs("2026-11-24T07:58:45Z"), 1795507125000000000n);
    assert.equal(timeNs("yesterday"), undefined);
  });
});

suite("readImageEtc: the image's /etc/passwd and /etc/group, never the host's", () => {
  it("reads regular files; a symlink, a FIFO, a symlinked /etc or a missing file give nothing", () => {
    const root = mkdtempSync(join(tmpdir(), "berth-etc-"));
    try {
      mkdirSync(join(root, "etc"));
      writeFileSync(join(root, "etc/passwd"), "app:x:1000:1000::/home/app:/bin/sh\n");
      assert.equal(readImageEtc(root, "passwd"), "app:x:1000:1000::/home/app:/bin/sh\n");
      assert.equal(readImageEtc(root, "group"), "", "missing");
      // An absolute symlink resolves against the host's root: the host's file is not read.
      symlinkSync("/etc/passwd", join(root, "etc/group"));
      assert.equal(readImageEtc(root, "group"), "");
      rmSync(join(root, "etc/group"));
      // A FIFO would block a read (and the daemon with it): not opened for reading.
      execFileSync("mkfifo", [join(root, "etc/group")]);
      assert.equal(readImageEtc(root, "group"), "");
      // /etc itself a symlink to the host's /etc.
      const other = mkdtempSync(join(tmpdir(), "berth-etc2-"));
      symlinkSync("/etc", join(other, "etc"));
      assert.equal(readImageEtc(other, "passwd"), "");
      rmSync(other, { recursive: true });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
