/**
 * berthd end to end: a real daemon process on temp roots, spoken to over its unix socket.
 * Root only (real runc, conmon, overlay mounts).
 */
import { strict as assert } from "node:assert";
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { availableParallelism, hostname, machine, release, totalmem } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FrameDecoder, MULTIPLEXED_STREAM, RAW_STREAM, routes } from "@berth/api";
import { Libct, mountAll, ProcessRunner, storageDrivers } from "@berth/libct";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv } from "ajv";
import { startTestDaemon, type TestDaemon } from "./testing/daemon.js";

const needsRoot = { skip: process.getuid?.() === 0 ? false : "needs root (integration test)" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The keys of the overlay store's snapshots, from each one's snapshot.json (libct's overlay driver). */
const snapshotKeys = (root: string) => {
  const dir = join(root, "storage/overlay/snapshots");
  return readdirSync(dir)
    .filter((n) => existsSync(join(dir, n, "snapshot.json")))
    .map((n) => (JSON.parse(readFileSync(join(dir, n, "snapshot.json"), "utf8")) as { key: string }).key)
    .sort();
};

describe("berthd", needsRoot, () => {
  let d: TestDaemon;

  before(async () => {
    d = await startTestDaemon();
  });
  after(async () => {
    if (!d) return;
    const problems = await d.cleanup();
    assert.deepEqual(problems, [], `leaked after the tests (log: ${d.logFile})`);
  });

  const create = async (body: Record<string, unknown>) => {
    const r = await d.request("POST", "/1.0/containers", body);
    assert.equal(r.status, 201, r.text);
    return r.json as { id: string; name: string; state: { status: string; pid?: number }; network?: unknown };
  };

  /** POSTs `path` as an upgrade and reads the stream to its end: the answer's status and headers, every byte. */
  const upgrade = (path: string, body?: unknown) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; data: Buffer }>((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = httpRequest({
        socketPath: d.socket,
        method: "POST",
        path,
        headers: {
          connection: "Upgrade",
          upgrade: "tcp",
          ...(payload ? { "content-type": "application/json", "content-length": String(payload.length) } : {}),
        },
      });
      req.on("upgrade", (res, socket, head) => {
        const chunks: Buffer[] = [head];
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("end", () => resolve({ status: 101, headers: res.headers, data: Buffer.concat(chunks) }));
        socket.on("error", reject);
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, data: Buffer.concat(chunks) }),
        );
      });
      req.on("error", reject);
      req.end(payload);
    });
  /** Splits a multiplexed stream into its two streams (FrameDecoder throws on a malformed one). */
  const demux = (data: Buffer) => {
    const out = { stdout: "", stderr: "" };
    const dec = new FrameDecoder();
    dec.push(data, (stream, bytes) => {
      out[stream] += Buffer.from(bytes).toString("utf8");
    });
    dec.end();
    return out;
  };

  it("bootstraps busybox:latest into the image store", async () => {
    const r = await d.request("POST", "/1.0/images/bootstrap", { kind: "busybox" });
    assert.equal(r.status, 200, r.text);
    assert.match(String(r.headers["content-type"]), /ndjson/);
    const lines = r.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(lines.at(-1).status, "done");
    assert.equal(lines.at(-1).ref, "busybox:latest");
    const images = await d.request("GET", "/1.0/images");
    assert.deepEqual(
      images.json.map((i: { ref: string }) => i.ref),
      ["busybox:latest"],
    );
  });

  it("runs a container: create+start, inspect, logs, exec, top, stats, events, stop, delete", async () => {
    const events = await d.stream("/1.0/events");
    const c = await create({
      name: "web",
      image: "busybox",
      cmd: ["sh", "-c", "echo hi; sleep 30"],
      start: true,
      labels: { app: "web" },
    });
    assert.match(c.id, /^[0-9a-f]{64}$/);
    assert.equal(c.state.status, "running");

    const seen: string[] = [];
    for await (const line of events.lines) {
      const e = JSON.parse(line.replace(/^data:\s*/, ""));
      if (e.id === c.id) seen.push(e.type);
      if (seen.includes("container.started")) break;
    }
    events.close();
    assert.deepEqual(seen, ["container.created", "container.started"]);

    for (const ref of ["web", c.id, c.id.slice(0, 12)]) {
      const r = await d.request("GET", `/1.0/containers/${ref}`);
      assert.equal(r.status, 200);
      assert.equal(r.json.name, "web");
      assert.equal(r.json.state.running, true);
    }
    let logs = "";
    for (let i = 0; i < 50 && !logs.includes('"hi"'); i++) {
      logs = (await d.request("GET", "/1.0/containers/web/logs")).text;
      if (!logs.includes('"hi"')) await sleep(50);
    }
    const line = JSON.parse(logs.trim().split("\n")[0]!);
    assert.deepEqual([line.stream, line.text], ["stdout", "hi"]);

    const ex = await d.request("POST", "/1.0/containers/web/exec", {
      cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"],
    });
    assert.equal(ex.status, 200, ex.text);
    assert.deepEqual(ex.json, { exitCode: 3, stdout: "out\n", stderr: "err\n" });

    // exec detach: 202 with the session at once, the command still running; its exit code comes later.
    // The command runs 5 s: the answer well before that, and the check that it is still running, have seconds to
    // spare on a loaded machine.
    const t0 = Date.now();
    const dx = await d.request("POST", "/1.0/containers/web/exec", {
      cmd: ["sh", "-c", "sleep 5; echo late > /tmp/detached; exit 6"],
      detach: true,
    });
    assert.equal(dx.status, 202, dx.text);
    assert.ok(Date.now() - t0 < 4000, `detached exec answered after ${Date.now() - t0} ms`);
    assert.match(dx.json.session, /-exec-/);
    assert.equal(
      (await d.request("POST", "/1.0/containers/web/exec", { cmd: ["cat", "/tmp/detached"] })).json.exitCode,
      1,
    );
    const done = await d.request("GET", `/1.0/containers/web/exec/${dx.json.session}`);
    assert.deepEqual(done.json, { exitCode: 6 });
    assert.equal(
      (await d.request("POST", "/1.0/containers/web/exec", { cmd: ["cat", "/tmp/detached"] })).json.stdout,
      "late\n",
    );

    // exec privileged: the default set is Docker's 14 capabilities; privileged adds all the host allows.
    const capEff = async (privileged: boolean) => {
      const r = await d.request("POST", "/1.0/containers/web/exec", {
        cmd: ["grep", "CapEff", "/proc/self/status"],
        ...(privileged ? { privileged: true } : {}),
      });
      return BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(r.json.stdout)![1]}`);
    };
    const [plain, full] = [await capEff(false), await capEff(true)];
    const bits = (n: bigint) => n.toString(2).replace(/0/g, "").length;
    assert.equal(bits(plain), 14);
    assert.ok(bits(full) > 30 && (full & plain) === plain, `privileged CapEff ${full.toString(16)}`);
    assert.ok((full >> 21n) & 1n, "CAP_SYS_ADMIN with privileged");

    const top = await d.request("GET", "/1.0/containers/web/top");
    assert.ok(
      top.json.processes.some((p: string[]) => p.at(-1) === "sleep 30"),
      top.text,
    );
    const stats = await d.request("GET", "/1.0/containers/web/stats");
    assert.equal(stats.status, 200, stats.text);
    assert.match(stats.json.memory.usageBytes, /^\d+$/);

    const listed = await d.request("GET", "/1.0/containers?filter=label=app=web");
    assert.deepEqual(
      listed.json.map((x: { name: string }) => x.name),
      ["web"],
    );

    const stop = await d.request("POST", "/1.0/containers/web/stop?t=1");
    assert.equal(stop.status, 204, stop.text);
    const stopped = await d.request("GET", "/1.0/containers/web");
    assert.equal(stopped.json.state.status, "exited");
    assert.equal(stopped.json.state.exitCode, 137); // sh as PID 1 ignores SIGTERM: killed after 1 s
    assert.equal((await d.request("GET", "/1.0/containers")).json.length, 0, "ps without all hides exited");

    // restart of an exited container runs it again
    assert.equal((await d.request("POST", "/1.0/containers/web/start")).status, 204);
    assert.equal((await d.request("GET", "/1.0/containers/web")).json.state.status, "running");

    const del = await d.request("DELETE", "/1.0/containers/web?force=true");
    assert.equal(del.status, 204, del.text);
    assert.equal((await d.request("GET", "/1.0/containers/web")).status, 404);
    assert.deepEqual(d.mounts(), []);
  });

  it("list filters as Docker's: one key's values are alternatives, keys and labels must all match", async () => {
    const a = await create({
      name: "f-a",
      image: "busybox",
      cmd: ["sh", "-c", "exit 3"],
      labels: { tier: "web", team: "x" },
      start: true,
    });
    await d.request("POST", `/1.0/containers/${a.id}/wait`);
    await sleep(5); // creation times are compared to the millisecond
    const b = await create({
      name: "f-b",
      image: "busybox:latest",
      cmd: ["true"],
      labels: { tier: "db" },
      start: true,
    });
    await d.request("POST", `/1.0/containers/${b.id}/wait`);
    await sleep(5);
    const c = await create({ name: "f-c", image: "busybox", cmd: ["true"], labels: { tier: "web" } });
    const names = async (...filters: string[]) => {
      const q = filters.map((f) => `filter=${encodeURIComponent(f)}`).join("&");
      const r = await d.request("GET", `/1.0/containers?all=true&${q}`);
      assert.equal(r.status, 200, r.text);
      return (r.json as { name: string }[])
        .map((x) => x.name)
        .filter((n) => n.startsWith("f-"))
        .sort();
    };
    assert.deepEqual(await names("status=exited", "status=created"), ["f-a", "f-b", "f-c"]);
    assert.deepEqual(await names("status=created"), ["f-c"]);
    assert.deepEqual(await names("exited=3"), ["f-a"]);
    assert.deepEqual(await names("exited=0", "exited=3"), ["f-a", "f-b"]);
    assert.deepEqual(await names("label=tier=web"), ["f-a", "f-c"]);
    assert.deepEqual(await names("label=tier=web", "label=team=x"), ["f-a"]);
    assert.deepEqual(await names("label=tier=web", "status=created"), ["f-c"]);
    assert.deepEqual(await names("ancestor=busybox"), ["f-a", "f-b", "f-c"]);
    assert.deepEqual(await names("ancestor=busybox:latest", "name=f-b"), ["f-b"]);
    assert.deepEqual(await names("ancestor=alpine"), []);
    assert.deepEqual(await names("before=f-c"), ["f-a", "f-b"]);
    assert.deepEqual(await names("since=f-a"), ["f-b", "f-c"]);
    assert.deepEqual(await names("since=f-a", "before=f-c"), ["f-b"]);
    assert.deepEqual(await names("health=none", "name=f-"), ["f-a", "f-b", "f-c"]);
    assert.deepEqual(await names("health=healthy"), []);
    // without all=true, a status filter still shows stopped containers (Docker's)
    const noAll = await d.request("GET", `/1.0/containers?filter=exited%3D3`);
    assert.deepEqual(
      (noAll.json as { name: string }[]).map((x) => x.name),
      ["f-a"],
    );
    for (const [f, msg] of [
      ["status=sleeping", /status is one of created, restarting, running/],
      ["exited=x", /exited takes an exit code/],
      ["health=ok", /health is one of starting, healthy, unhealthy, none/],
      ["since=nosuch", /no such container 'nosuch'/],
    ] as const) {
      const r = await d.request("GET", `/1.0/containers?all=true&filter=${encodeURIComponent(f)}`);
      assert.ok(r.status === 400 || r.status === 404, `${f}: ${r.status}`);
      assert.match(r.json.detail, msg);
    }
    for (const x of [a, b, c])
      assert.equal((await d.request("DELETE", `/1.0/containers/${x.id}?force=true`)).status, 204);
  });

  it("attaches the none and host networks through their drivers: inspect shows them, the process runs in them", async () => {
    const hostNet = readlinkSync("/proc/self/ns/net");
    for (const network of ["none", "host"] as const) {
      const c = await create({ name: `net-${network}`, image: "busybox", cmd: ["sleep", "30"], network, start: true });
      assert.deepEqual(
        c.network,
        network === "none"
          ? { name: "none", driver: "none", interfaces: [{ name: "lo", addresses: ["127.0.0.1/8", "::1/128"] }] }
          : { name: "host", driver: "host", interfaces: [] },
      );
      const ns = await d.request("POST", `/1.0/containers/net-${network}/exec`, {
        cmd: ["readlink", "/proc/self/ns/net"],
      });
      assert.equal(ns.status, 200, ns.text);
      if (network === "host") assert.equal(ns.json.stdout.trim(), hostNet);
      else assert.notEqual(ns.json.stdout.trim(), hostNet);
      // Docker's /etc files: the host's name, hosts and DNS with the host's network; else its own.
      const etc = await d.request("POST", `/1.0/containers/net-${network}/exec`, {
        cmd: ["sh", "-c", "hostname; cat /etc/hostname; cat /etc/hosts"],
      });
      const [name, fileName, ...hosts] = etc.json.stdout.trim().split("\n");
      assert.equal(fileName, name);
      if (network === "host") {
        assert.equal(name, hostname());
        assert.equal(`${hosts.join("\n")}\n`, readFileSync("/etc/hosts", "utf8").replace(/\n*$/, "\n"));
      } else {
        assert.equal(name, c.id.slice(0, 12));
        assert.equal(hosts[0], "127.0.0.1\tlocalhost");
      }
      assert.deepEqual((await d.request("GET", `/1.0/containers/net-${network}`)).json.network, c.network);
      assert.equal((await d.request("DELETE", `/1.0/containers/net-${network}?force=true`)).status, 204);
    }
  });

  it("anonymous volumes (-v /data) get a name of their own and go with rm -v or --rm; named ones stay", async () => {
    const vols = join(d.root, "libct", "volumes");
    const list = () => (existsSync(vols) ? readdirSync(vols).sort() : []);
    const before = list();
    const mounts = [
      { type: "volume", target: "/data" },
      { type: "volume", source: "keepme", target: "/named" },
    ];
    const cmd = ["sh", "-c", "echo a > /data/f && echo n > /named/f"];
    const c = await create({ name: "anon", image: "busybox", cmd, mounts, start: true });
    assert.equal((await d.request("POST", `/1.0/containers/${c.id}/wait`)).json.exitCode, 0);
    const made = list().filter((v) => !before.includes(v));
    const anon = made.filter((v) => /^[0-9a-f]{64}$/.test(v));
    assert.equal(anon.length, 1, `one anonymous volume: ${made.join(", ")}`);
    assert.equal(readFileSync(join(vols, anon[0]!, "_data", "f"), "utf8"), "a\n");
    // Without volumes=true both stay (Docker's rm without -v).
    await create({ name: "anon2", image: "busybox", cmd: ["true"], mounts });
    assert.equal((await d.request("DELETE", "/1.0/containers/anon2")).status, 204);
    assert.equal(list().filter((v) => !before.includes(v)).length, 3, "anon2's anonymous volume stays without -v");
    assert.equal((await d.request("DELETE", "/1.0/containers/anon?volumes=true")).status, 204);
    assert.ok(!list().includes(anon[0]!), "rm -v took the anonymous volume");
    assert.ok(list().includes("keepme"), "and left the named one");
    // --rm (autoRemove) takes its anonymous volume with it.
    const before2 = list();
    const r = await create({ name: "anon3", image: "busybox", cmd: ["true"], mounts, autoRemove: true, start: true });
    // The wait for the removal (run --rm) answers once everything is gone, volumes included: no polling.
    await d.request("POST", `/1.0/containers/${r.id}/wait?condition=removed`);
    assert.equal((await d.request("GET", "/1.0/containers/anon3")).status, 404);
    assert.deepEqual(list(), before2, "nothing new is left after --rm");
  });

  it("security options reach the process: a seccomp profile of the user's, no-new-privileges on and off", async () => {
    const profile = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
    };
    const run = async (name: string, securityOpt: string[]) => {
      const cmd = [
        "sh",
        "-c",
        // One stream (mkdir's error on stdout too): conmon reads stdout and stderr apart, so their order could differ.
        "grep NoNewPrivs /proc/self/status; mkdir /tmp/d 2>&1 && echo made; touch /tmp/f && echo touched",
      ];
      const c = await create({ name, image: "busybox", cmd, securityOpt, start: true });
      await d.request("POST", `/1.0/containers/${c.id}/wait`);
      const logs = (await d.request("GET", `/1.0/containers/${c.id}/logs`)).text;
      assert.equal((await d.request("DELETE", `/1.0/containers/${c.id}?force=true`)).status, 204);
      return logs
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { text: string }).text.replace(/\s+/g, " "));
    };
    const custom = await run("sec-custom", [`seccomp=${JSON.stringify(profile)}`, "no-new-privileges"]);
    assert.deepEqual(custom, [
      "NoNewPrivs: 1",
      "mkdir: can't create directory '/tmp/d': Operation not permitted",
      "touched",
    ]);
    const plain = await run("sec-plain", ["no-new-privileges:false"]);
    assert.deepEqual(plain, ["NoNewPrivs: 0", "made", "touched"]);
    const bad = await d.request("POST", "/1.0/containers", {
      image: "busybox",
      securityOpt: ["seccomp=/etc/profile.json"],
    });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /give the profile's JSON, not a path/);
  });

  it("wait returns the exit code; rename and update change the row", async () => {
    const c = await create({ name: "quick", image: "busybox", cmd: ["sh", "-c", "exit 5"], start: true });
    const w = await d.request("POST", `/1.0/containers/${c.id}/wait`);
    assert.deepEqual(w.json, { exitCode: 5, oomKilled: false });
    assert.equal((await d.request("POST", "/1.0/containers/quick/rename?name=quick2")).status, 204);
    const up = await d.request("PUT", "/1.0/containers/quick2", {
      labels: { a: "b" },
      resources: { memory: 64 << 20 },
    });
    assert.equal(up.status, 200, up.text);
    assert.deepEqual(up.json.labels, { a: "b" });
    assert.equal(up.json.resources.memory, 64 << 20);
    assert.equal((await d.request("DELETE", "/1.0/containers/quick2")).status, 204);
  });

  it("an attached client that stops reading is detached once 16 MiB wait for it; the container and berthd go on", async () => {
    const c = await create({
      name: "flood",
      image: "busybox",
      cmd: ["sh", "-c", "sleep 1; dd if=/dev/zero bs=1048576 count=40 2>/dev/null; exec sleep 300"],
      start: true,
    });
    const socket = connect(d.socket);
    let got = 0;
    let ended = false;
    const upgraded = new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.once("data", (b: Buffer) => {
        assert.match(b.toString("latin1"), /^HTTP\/1\.1 101 /);
        socket.pause(); // and read nothing more for now
        resolve();
      });
    });
    socket.write(
      `POST /1.0/containers/${c.id}/attach HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`,
    );
    await upgraded;
    // The container writes its 40 MiB (its log gets them all) while the client reads none.
    const log = join(d.root, "libct", "containers", c.id, "ctr.log");
    for (const deadline = Date.now() + 30_000; ; ) {
      if (existsSync(log) && statSync(log).size > 40 * 1024 * 1024) break;
      assert.ok(Date.now() < deadline, "the container wrote its 40 MiB within 30 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    const closed = new Promise<void>((resolve) => {
      socket.on("data", (b: Buffer) => {
        got += b.length;
      });
      socket.on("close", () => {
        ended = true;
        resolve();
      });
      socket.on("error", () => {}); // berthd reset it, with bytes unread: "close" follows
    });
    socket.resume();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
    socket.destroy();
    assert.ok(ended, `berthd closed the connection (${got} bytes were read after the pause)`);
    assert.ok(got < 32 * 1024 * 1024, `what waited was bounded: ${got} bytes`);
    const st = (await d.request("GET", `/1.0/containers/${c.id}`)).json.state;
    assert.equal(st.status, "running", "the container goes on");
    assert.equal((await d.request("DELETE", `/1.0/containers/${c.id}?force=true`)).status, 204);
  });

  it("upgrades without a TTY frame stdout and stderr (stdcopy), with one stay raw; exec attaches before the command runs", async () => {
    const c = await create({ name: "frames", image: "busybox", cmd: ["sleep", "300"], start: true });
    try {
      const ex = await upgrade(`/1.0/containers/${c.id}/exec`, {
        cmd: ["sh", "-c", "echo out1; echo err1 >&2; printf out2; echo err2 >&2; exit 3"],
      });
      assert.equal(ex.status, 101, ex.data.toString());
      assert.equal(ex.headers["content-type"], MULTIPLEXED_STREAM);
      assert.deepEqual(demux(ex.data), { stdout: "out1\nout2", stderr: "err1\nerr2\n" });
      const session = String(ex.headers["x-berth-exec-session"]);
      assert.deepEqual((await d.request("GET", `/1.0/containers/${c.id}/exec/${session}`)).json, { exitCode: 3 });
      // The session is attached before the command runs (conmon's --exec-attach): a command that writes and
      // exits at once loses nothing, every time.
      for (let i = 0; i < 5; i++) {
        const quick = await upgrade(`/1.0/containers/${c.id}/exec`, { cmd: ["echo", `quick${i}`] });
        assert.deepEqual(demux(quick.data), { stdout: `quick${i}\n`, stderr: "" });
      }
      // Their output went to the client alone: an exec session keeps no log on disk (conmon's none driver).
      const execDir = join(d.root, "libct", "containers", c.id, "exec");
      const sessions = readdirSync(execDir);
      assert.ok(sessions.length >= 5, `the quick sessions' bundles are there to look at: ${sessions.join(", ")}`);
      const logs = sessions.flatMap((s) => readdirSync(join(execDir, s)).filter((f) => f.endsWith(".log")));
      assert.deepEqual(logs, [], "no exec output written to disk");
      // A TTY: one raw stream, as the pty gives it.
      const tty = await upgrade(`/1.0/containers/${c.id}/exec`, { cmd: ["sh", "-c", "echo on-a-tty >&2"], tty: true });
      assert.equal(tty.headers["content-type"], RAW_STREAM);
      assert.equal(tty.data.toString(), "on-a-tty\r\n");
      // With the terminal's size from the start (Docker's ConsoleSize): the first thing the command sees.
      const sized = await upgrade(`/1.0/containers/${c.id}/exec`, {
        cmd: ["stty", "size"],
        tty: true,
        consoleSize: { height: 33, width: 101 },
      });
      assert.equal(sized.data.toString(), "33 101\r\n");
      const bad = await d.request("POST", `/1.0/containers/${c.id}/exec`, {
        cmd: ["true"],
        tty: true,
        consoleSize: { height: 0, width: 80 },
      });
      assert.equal(bad.status, 400, bad.text);
      assert.match(bad.text, /consoleSize/);
      // A container's own terminal, sized at create (Docker's HostConfig.ConsoleSize): before anything attaches.
      const boxed = await create({
        name: "sized-tty",
        image: "busybox",
        cmd: ["stty", "size"],
        tty: true,
        consoleSize: { height: 31, width: 97 },
        start: true,
      });
      assert.equal((await d.request("POST", `/1.0/containers/${boxed.id}/wait`)).json.exitCode, 0);
      const boxedLog = (await d.request("GET", `/1.0/containers/${boxed.id}/logs`)).text;
      assert.deepEqual(
        boxedLog
          .split("\n")
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as { text: string }).text.trim()),
        ["31 97"],
      );
      assert.equal((await d.request("DELETE", `/1.0/containers/${boxed.id}`)).status, 204);
      const countBefore = (await d.request("GET", "/1.0/containers?all=true")).json.length;
      const badBox = await d.request("POST", "/1.0/containers", {
        image: "busybox",
        tty: true,
        consoleSize: { height: 24, width: 70000 },
      });
      assert.equal(badBox.status, 400, badBox.text);
      assert.match(badBox.text, /consoleSize/);
      assert.equal((await d.request("GET", "/1.0/containers?all=true")).json.length, countBefore, "nothing created");
      // A command that cannot run: an error before any 101, and nothing left running.
      const missing = await upgrade(`/1.0/containers/${c.id}/exec`, { cmd: ["no-such-command"] });
      assert.equal(missing.status, 400, missing.data.toString());
      assert.match(missing.data.toString(), /the command cannot be run: exec: .*no-such-command.*not found/);

      // attach?start=true to a container without a TTY: its output framed from the first byte, the exit its own.
      const job = await create({
        name: "framed-job",
        image: "busybox",
        cmd: ["sh", "-c", "echo o1; echo e1 >&2; echo o2; exit 2"],
      });
      const at = await upgrade(`/1.0/containers/${job.id}/attach?start=true`);
      assert.equal(at.headers["content-type"], MULTIPLEXED_STREAM);
      assert.deepEqual(demux(at.data), { stdout: "o1\no2\n", stderr: "e1\n" });
      assert.equal((await d.request("POST", `/1.0/containers/${job.id}/wait`)).json.exitCode, 2);
      assert.equal((await d.request("DELETE", `/1.0/containers/${job.id}`)).status, 204);
    } finally {
      await d.request("DELETE", `/1.0/containers/${c.id}?force=true`);
    }
  });

  it("a plain POST exec keeps the first 16 MiB of each stream and says it cut the rest; the command runs to its end", async () => {
    const c = await create({ name: "chatty", image: "busybox", cmd: ["sleep", "300"], start: true });
    try {
      const r = await d.request("POST", `/1.0/containers/${c.id}/exec`, {
        cmd: ["sh", "-c", "head -c 17000000 /dev/zero | tr '\\0' a; echo tail-err >&2; exit 4"],
      });
      assert.equal(r.status, 200, r.text.slice(0, 200));
      assert.equal(r.json.exitCode, 4);
      assert.equal(r.json.stdout.length, 16 * 1024 * 1024);
      assert.ok(/^a+$/.test(r.json.stdout), "the beginning of the output, as written");
      assert.equal(r.json.stdoutTruncated, true);
      assert.equal(r.json.stderr, "tail-err\n");
      assert.equal(r.json.stderrTruncated, undefined);
      // Below the cap: nothing flagged.
      const small = await d.request("POST", `/1.0/containers/${c.id}/exec`, { cmd: ["echo", "small"] });
      assert.deepEqual(small.json, { exitCode: 0, stdout: "small\n", stderr: "" });
    } finally {
      await d.request("DELETE", `/1.0/containers/${c.id}?force=true`);
    }
  });

  it("update lifts limits live: 0 (Docker's 'no limit') reaches the cgroup, not only the row", async () => {
    const c = await create({
      name: "lifted",
      image: "busybox",
      cmd: ["sleep", "300"],
      start: true,
      resources: { memory: 64 << 20, memorySwap: 128 << 20, cpus: 0.5, pidsLimit: 20, cpusetCpus: "0" },
    });
    try {
      const cg = async () => {
        const r = await d.request("POST", `/1.0/containers/${c.id}/exec`, {
          cmd: [
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
            "/sys/fs/cgroup/pids/pids.max",
            "/sys/fs/cgroup/cpuset/cpuset.cpus",
          ],
        });
        assert.equal(r.json.exitCode, 0, r.text);
        return (r.json.stdout as string).trim().split("\n");
      };
      const v1 = existsSync("/sys/fs/cgroup/memory/memory.limit_in_bytes");
      if (v1) assert.deepEqual(await cg(), [String(64 << 20), "50000", "20", "0"]);
      const up = await d.request("PUT", `/1.0/containers/${c.id}`, {
        resources: { memory: 0, memorySwap: 0, cpus: 0, pidsLimit: 0, cpusetCpus: "" },
      });
      assert.equal(up.status, 200, up.text);
      const st = (await d.request("GET", `/1.0/containers/${c.id}/stats`)).json;
      assert.equal(st.pids.limit, undefined, `pids unlimited: ${JSON.stringify(st.pids)}`);
      assert.ok(!st.memory.limitBytes || Number(st.memory.limitBytes) > 2 ** 60, JSON.stringify(st.memory));
      if (v1) {
        const [mem, quota, pids, cpus] = await cg();
        assert.ok(Number(mem) > 2 ** 60, `memory limit lifted: ${mem}`);
        assert.deepEqual([quota, pids], ["-1", "max"]);
        assert.equal(cpus, readFileSync("/sys/devices/system/cpu/online", "utf8").trim(), "every online CPU again");
      }
    } finally {
      assert.equal((await d.request("DELETE", `/1.0/containers/${c.id}?force=true`)).status, 204);
    }
  });

  it("mounts the root of a --rm container volatile (no sync at its unmount), and no other", async () => {
    const rootOptions = (id: string) =>
      readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .find((l) => l.includes(`/containers/${id}/rootfs `) && l.includes(" - overlay "))
        ?.split(" - overlay ")[1];
    const rm = await create({ image: "busybox", cmd: ["sleep", "30"], autoRemove: true });
    const kept = await create({ image: "busybox", cmd: ["sleep", "30"] });
    try {
      // Linux 6.14+ shows the option as fsync=volatile.
      assert.match(rootOptions(rm.id) ?? "", /,(fsync=)?volatile(,|$)/, "the --rm container's root");
      assert.ok(rootOptions(kept.id), "the other container's root is mounted");
      assert.doesNotMatch(rootOptions(kept.id) ?? "", /volatile/, "a container that is kept syncs as usual");
    } finally {
      for (const c of [rm, kept]) await d.request("DELETE", `/1.0/containers/${c.id}?force=true`);
    }
    assert.equal(rootOptions(rm.id), undefined, "unmounted with its container");
  });

  it("wait conditions: removed (with autoRemove) returns after the removal; next-exit waits for a new exit", async () => {
    // A follower opened before the start gets every line, although autoRemove takes the log away at the exit.
    const c = await create({ image: "busybox", cmd: ["sh", "-c", "seq 1 3000; exit 4"], autoRemove: true });
    const logs = d.request("GET", `/1.0/containers/${c.id}/logs?follow=true`);
    await sleep(50);
    assert.equal((await d.request("POST", `/1.0/containers/${c.id}/start`)).status, 204);
    const w = await d.request("POST", `/1.0/containers/${c.id}/wait?condition=removed`);
    assert.deepEqual(w.json, { exitCode: 4, oomKilled: false });
    assert.equal((await d.request("GET", `/1.0/containers/${c.id}`)).status, 404, "removed when the wait returns");
    const lines = (await logs).text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).text);
    assert.equal(lines.length, 3000);
    assert.equal(lines.at(-1), "3000");

    // A wait sent before the start (as Docker's CLI does) gets the code of the run it waited through.
    const early = await create({ image: "busybox", cmd: ["sh", "-c", "sleep 0.2; exit 8"], autoRemove: true });
    const w2 = d.request("POST", `/1.0/containers/${early.id}/wait?condition=removed`);
    await sleep(100);
    assert.equal((await d.request("POST", `/1.0/containers/${early.id}/start`)).status, 204);
    assert.deepEqual((await w2).json, { exitCode: 8, oomKilled: false });
    // A wait that comes after the auto-removal (a container that exits at once) still gets its code, by id;
    // by name it is just gone.
    const quick = await create({ image: "busybox", cmd: ["sh", "-c", "exit 7"], autoRemove: true, name: "quick" });
    assert.equal((await d.request("POST", `/1.0/containers/${quick.id}/start`)).status, 204);
    for (let i = 0; i < 100 && (await d.request("GET", `/1.0/containers/${quick.id}`)).status !== 404; i++)
      await sleep(20);
    const late = await d.request("POST", `/1.0/containers/${quick.id}/wait?condition=removed`);
    assert.deepEqual(late.json, { exitCode: 7, oomKilled: false });
    assert.equal((await d.request("POST", "/1.0/containers/quick/wait")).status, 404);
    assert.equal((await d.request("POST", `/1.0/containers/${quick.id}/wait?condition=next-exit`)).status, 404);

    const k = await create({ image: "busybox", cmd: ["sh", "-c", "exit 6"], start: true });
    assert.deepEqual((await d.request("POST", `/1.0/containers/${k.id}/wait`)).json, { exitCode: 6, oomKilled: false });
    // Already exited: not-running answers at once, next-exit waits for the next run's exit.
    const next = d.request("POST", `/1.0/containers/${k.id}/wait?condition=next-exit`);
    await sleep(100);
    assert.equal((await d.request("POST", `/1.0/containers/${k.id}/start`)).status, 204);
    assert.deepEqual((await next).json, { exitCode: 6, oomKilled: false });
    const bad = await d.request("POST", `/1.0/containers/${k.id}/wait?condition=gone`);
    assert.equal(bad.status, 400);
    assert.match(bad.json.detail, /not-running, next-exit, removed/);
    // removed without autoRemove: answered when someone else removes it.
    const gone = d.request("POST", `/1.0/containers/${k.id}/wait?condition=removed`);
    await sleep(100);
    assert.equal((await d.request("DELETE", `/1.0/containers/${k.id}`)).status, 204);
    assert.deepEqual((await gone).json, { exitCode: 6, oomKilled: false });
  });

  it("kill -9 of berthd leaves 3 containers running; a restarted berthd lists them and records an exit that happened meanwhile", async () => {
    const names = ["k1", "k2", "k3"];
    const t0 = new Date().toISOString();
    const pids: number[] = [];
    for (const name of names) {
      const c = await create({ name, image: "busybox", cmd: ["sleep", "300"], start: true });
      pids.push(c.state.pid!);
    }
    await create({ name: "quitter", image: "busybox", cmd: ["sh", "-c", "sleep 1; exit 7"], start: true });
    await d.kill9();
    for (const pid of pids) process.kill(pid, 0); // still alive
    await sleep(1500); // quitter exits while berthd is down
    await d.restart();
    const list = await d.request("GET", "/1.0/containers");
    assert.deepEqual(list.json.map((c: { name: string }) => c.name).sort(), names);
    for (const c of list.json) assert.equal(c.state.status, "running");
    const q = await d.request("GET", "/1.0/containers/quitter");
    assert.equal(q.json.state.status, "exited");
    assert.equal(q.json.state.exitCode, 7);
    const replay = await d.stream(`/1.0/events?since=${encodeURIComponent(t0)}`);
    const first = await replay.lines.next();
    replay.close();
    const e = JSON.parse(String(first.value).replace(/^data:\s*/, ""));
    assert.deepEqual([e.type, e.name], ["container.created", "k1"], "events before the kill -9 are replayed");
    // until: the replay up to it, then the stream ends by itself (at once when it is past, on time when ahead)
    const until = new Date().toISOString();
    const bounded = await d.stream(`/1.0/events?since=${encodeURIComponent(t0)}&until=${encodeURIComponent(until)}`);
    const got: { at: string; name: string }[] = [];
    for await (const line of bounded.lines) got.push(JSON.parse(line.replace(/^data:\s*/, "")));
    assert.equal(got[0]?.name, "k1");
    assert.ok(got.length > names.length && got.every((ev) => ev.at > t0 && ev.at <= until), JSON.stringify(got));
    const t1 = Date.now();
    const ahead = await d.stream(`/1.0/events?until=${encodeURIComponent(new Date(t1 + 1000).toISOString())}`);
    for await (const _ of ahead.lines); // the held events, then nothing new: it ends when the time comes
    assert.ok(Date.now() - t1 >= 950, "not before until");
    const bad = await d.request(
      "GET",
      `/1.0/events?since=${encodeURIComponent(until)}&until=${encodeURIComponent(t0)}`,
    );
    assert.equal(bad.status, 400);
    assert.match(bad.text, /until/);
    const ex = await d.request("POST", "/1.0/containers/k2/exec", { cmd: ["echo", "still here"] });
    assert.equal(ex.json.stdout, "still here\n");
    for (const name of [...names, "quitter"]) {
      assert.equal((await d.request("DELETE", `/1.0/containers/${name}?force=true`)).status, 204);
    }
  });

  it("a create cut short by kill -9 leaves nothing once berthd is back: container, snapshot, mount, directory", async () => {
    await d.kill9();
    // What berthd had done of a create when it died, before the row that records it: the rootfs snapshot
    // mounted at containers/<id>/rootfs, and the libct container (conmon, runc's init) created in it.
    const id = "0".repeat(63) + "f";
    const storage = await storageDrivers.overlay(join(d.root, "storage", "overlay"), new ProcessRunner());
    const layer = (await storage.list()).find((s) => s.kind === "committed" && s.key.startsWith("layer/"));
    assert.ok(layer, "the busybox layer is unpacked");
    const mounts = await storage.prepare(`container/${id}`, layer.key, { "berth.container": id });
    const rootfs = join(d.root, "containers", id, "rootfs");
    await mkdir(rootfs, { recursive: true });
    await mountAll(new ProcessRunner(), mounts, rootfs);
    const libct = await Libct.open({ root: join(d.root, "libct"), runRoot: join(d.runRoot, "libct") });
    await libct.create({
      id,
      description: { kind: "app", rootfs: { path: rootfs }, process: { args: ["/bin/sleep", "300"] } },
    });
    const conmonPid = Number(readFileSync(join(d.runRoot, "libct/containers", id, "conmon.pid"), "utf8"));
    process.kill(conmonPid, 0);
    // and the container's /etc files in the run root
    const etc = join(d.runRoot, "containers", id);
    await mkdir(etc, { recursive: true });
    writeFileSync(join(etc, "hosts"), "127.0.0.1\tlocalhost\n");
    await d.restart();
    assert.deepEqual(
      (await libct.list()).map((c) => c.id),
      [],
    );
    // conmon exits (and is reaped) a moment after its container is killed
    const alive = () => {
      try {
        return !/\) [ZX] /.test(readFileSync(`/proc/${conmonPid}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await sleep(100);
    assert.equal(alive(), false, "conmon is gone with its container");
    assert.ok(!d.mounts().some((m) => m.includes(id)), "the rootfs is unmounted");
    assert.ok(!snapshotKeys(d.root).includes(`container/${id}`), "the snapshot is removed");
    assert.ok(!readdirSync(join(d.root, "containers")).includes(id), "the container directory is removed");
    assert.ok(!existsSync(etc), "its /etc files in the run root are removed");
    const listed = (await d.request("GET", "/1.0/containers?all=true")).json as { id: string }[];
    assert.ok(!listed.some((c) => c.id === id));
  });

  it("rejects bad requests with problem+json, an actionable message, and changes nothing", async () => {
    const taken = await create({ name: "taken", image: "busybox", cmd: ["sleep", "300"], start: true });
    const idle = await create({ name: "idle", image: "busybox", cmd: ["true"] });
    const snapshot = () => ({
      list: JSON.stringify(readdirSync(join(d.root, "containers")).sort()),
      mounts: d.mounts(),
      snapshots: snapshotKeys(d.root),
      libct: readdirSync(join(d.root, "libct/containers")).sort(),
      // conmons of this daemon (their command lines name its root): a create holds one from the start.
      conmons: readdirSync("/proc").filter((p) => {
        if (!/^\d+$/.test(p)) return false;
        try {
          const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8");
          return /(^|\/)conmon$/.test(cmd.split("\0")[0] ?? "") && cmd.includes(d.root);
        } catch {
          return false;
        }
      }).length,
    });
    const listNow = async () => JSON.stringify((await d.request("GET", "/1.0/containers?all=true")).json);
    const beforeList = await listNow();
    const beforeFs = snapshot();

    const C = "/1.0/containers";
    const base = { image: "busybox", cmd: ["true"] };
    type Case = [
      name: string,
      method: string,
      path: string,
      body: unknown,
      status: number,
      detail: RegExp,
      raw?: string,
    ];
    const cases: Case[] = [
      ["malformed JSON", "POST", C, undefined, 400, /not valid JSON/, '{"image": "busybox",'],
      ["empty body", "POST", C, undefined, 400, /body is empty/, ""],
      [
        "a command the image lacks",
        "POST",
        C,
        { image: "busybox", cmd: ["/no/such/program"], start: true },
        400,
        /command cannot be run.*no\/such\/program.*check the command/,
      ],
      [
        "a command that is not executable",
        "POST",
        C,
        { image: "busybox", cmd: ["/etc/passwd"] },
        400,
        /command cannot be run.*permission denied/,
      ],
      [
        "oversized body",
        "POST",
        C,
        undefined,
        413,
        /limit .*1 MiB/,
        JSON.stringify({ image: "busybox", env: ["X=" + "x".repeat(1100 * 1024)] }),
      ],
      ["unknown field", "POST", C, { ...base, bogus: 1 }, 400, /unknown field 'bogus'/],
      ["missing image field", "POST", C, { cmd: ["true"] }, 400, /'image' is required/],
      ["cmd not an array", "POST", C, { image: "busybox", cmd: "true" }, 400, /cmd: must be array/],
      ["negative memory", "POST", C, { ...base, resources: { memory: -1 } }, 400, /resources\.memory: must be >= 0/],
      ["absurd memory", "POST", C, { ...base, resources: { memory: 2 ** 60 } }, 400, /resources\.memory: must be <=/],
      [
        "memory below the kernel's minimum",
        "POST",
        C,
        { ...base, resources: { memory: 1024 } },
        400,
        /resources\.memory/,
      ],
      [
        "bad name",
        "POST",
        C,
        { ...base, name: "-bad name" },
        400,
        /name: may hold only letters.*\(got '-bad name'\); e\.g\. web-1/,
      ],
      ["duplicate name", "POST", C, { ...base, name: "taken" }, 409, /'taken' is already in use/],
      [
        "missing image",
        "POST",
        C,
        { ...base, image: "nosuch:1" },
        404,
        /no such image 'nosuch:1'.*'berth image bootstrap busybox'/,
      ],
      [
        "unknown restart policy",
        "POST",
        C,
        { ...base, restartPolicy: { name: "sometimes" } },
        400,
        /restartPolicy\.name: must be one of/,
      ],
      [
        "bind of a missing host path",
        "POST",
        C,
        { ...base, mounts: [{ type: "bind", source: "/nonexistent/berth-x", target: "/x" }] },
        400,
        /does not exist on the host/,
      ],
      ["unknown capability", "POST", C, { ...base, capAdd: ["NET_ADMINN"] }, 400, /capAdd/],
      ["unknown security option", "POST", C, { ...base, securityOpt: ["seccomp=maybe"] }, 400, /securityOpt\[0\]/],
      [
        "relative working dir",
        "POST",
        C,
        { ...base, workingDir: "tmp" },
        400,
        /workingDir: must be an absolute path \(got 'tmp'\); e\.g\. \/app/,
      ],
      ["unknown user", "POST", C, { ...base, user: "nobodyhere" }, 400, /user 'nobodyhere' is not in the image/],
      ["bad list filter", "GET", `${C}?filter=colour=red`, undefined, 400, /unknown filter 'colour'/],
      ["stop with a bad timeout", "POST", `${C}/taken/stop?t=soon`, undefined, 400, /whole seconds/],
      ["exec without a command", "POST", `${C}/taken/exec`, { cmd: [] }, 400, /cmd/],
      ["exec detach not a boolean", "POST", `${C}/taken/exec`, { cmd: ["true"], detach: "yes" }, 400, /detach/],
      [
        "exec in a container never started",
        "POST",
        `${C}/idle/exec`,
        { cmd: ["true"], detach: true },
        409,
        /'idle' is not running \(created\); start it with berth start idle/,
      ],
      [
        "rename to an invalid name",
        "POST",
        `${C}/taken/rename?name=a%20b`,
        undefined,
        400,
        /'a b' is not a valid name/,
      ],
      [
        "remove a running container without force",
        "DELETE",
        `${C}/taken`,
        undefined,
        409,
        /running; stop it first or remove it with force/,
      ],
      [
        "unpause of a running container",
        "POST",
        `${C}/taken/unpause`,
        undefined,
        409,
        /only a paused container can be resumed/,
      ],
      [
        "an unknown ulimit",
        "POST",
        C,
        { ...base, ulimits: [{ name: "bogus", soft: 1, hard: 1 }] },
        400,
        /ulimits\[0\]\.name: is not a known rlimit/,
      ],
      [
        "a ulimit above the host's hard limit",
        "POST",
        C,
        { ...base, ulimits: [{ name: "nofile", soft: 1024, hard: 2 ** 40 }] },
        400,
        /ulimits\[0\]\.hard: exceeds the host's hard limit/,
      ],
      [
        "a soft ulimit above the hard one",
        "POST",
        C,
        { ...base, ulimits: [{ name: "nofile", soft: 20, hard: 10 }] },
        400,
        /must not exceed hard/,
      ],
      [
        "a host-wide sysctl",
        "POST",
        C,
        { ...base, sysctls: { "kernel.panic": "1" } },
        400,
        /kernel\.panic: is not namespaced/,
      ],
      [
        "a device the host lacks",
        "POST",
        C,
        { ...base, devices: [{ pathOnHost: "/dev/no-such-device" }] },
        400,
        /devices\[0\]\.pathOnHost: \/dev\/no-such-device is not a device node/,
      ],
      [
        "a device outside /dev",
        "POST",
        C,
        { ...base, devices: [{ pathOnHost: "/etc/passwd" }] },
        400,
        /devices\[0\]\.pathOnHost: must be a device node under \/dev/,
      ],
      [
        "a group the image lacks",
        "POST",
        C,
        { ...base, groupAdd: ["no-such-group"] },
        400,
        /groupAdd\[0\]: group 'no-such-group' is not in the image's \/etc\/group/,
      ],
      ["an absurd OOM score", "POST", C, { ...base, oomScoreAdj: 5000 }, 400, /oomScoreAdj/],
      [
        "joining a missing container's PIDs",
        "POST",
        C,
        { ...base, pidMode: "container:ghost" },
        400,
        /pidMode: no such container 'ghost'/,
      ],
      ["an unknown IPC mode", "POST", C, { ...base, ipcMode: "shareable" }, 400, /ipcMode/],
      [
        "a hostname with the host's UTS namespace",
        "POST",
        C,
        { ...base, utsMode: "host", hostname: "x" },
        400,
        /hostname: a host UTS namespace keeps the host's name/,
      ],
      [
        "a /dev/shm size with the host's IPC",
        "POST",
        C,
        { ...base, ipcMode: "host", shmSizeBytes: 1048576 },
        400,
        /shmSizeBytes: with ipcMode host/,
      ],
      ["unknown endpoint", "GET", "/1.0/nothing", undefined, 404, /no API endpoint/],
      ["wrong method", "PATCH", C, undefined, 405, /use GET or POST/],
      ["typo in a name", "GET", `${C}/takne`, undefined, 404, /no such container 'takne'; did you mean 'taken'\?/],
    ];
    const verbs: [string, string, unknown?][] = [
      ["GET", ""],
      ["PUT", "", { labels: {} }],
      ["DELETE", ""],
      ["POST", "/start"],
      ["POST", "/stop"],
      ["POST", "/restart"],
      ["POST", "/kill"],
      ["POST", "/pause"],
      ["POST", "/unpause"],
      ["POST", "/wait"],
      ["POST", "/rename?name=x"],
      ["GET", "/logs"],
      ["GET", "/stats"],
      ["GET", "/top"],
      ["POST", "/exec", { cmd: ["true"] }],
    ];
    for (const [method, suffix, body] of verbs) {
      const [path, q] = suffix.split("?");
      cases.push([
        `${method} ${path || "/"} on an unknown id`,
        method,
        `${C}/nope${path}${q ? `?${q}` : ""}`,
        body,
        404,
        /no such container 'nope'/,
      ]);
    }
    assert.ok(cases.length >= 30);
    for (const [name, method, path, body, status, detail, raw] of cases) {
      const r = await d.request(method, path, body, raw !== undefined ? { raw } : {});
      assert.equal(r.status, status, `${name}: ${r.status} ${r.text.slice(0, 300)}`);
      assert.equal(r.headers["content-type"], "application/problem+json", name);
      assert.equal(r.json.status, status, name);
      assert.match(r.json.detail, detail, `${name}: ${r.json.detail}`);
      assert.notEqual(r.json.kind, "internal", name);
    }
    assert.equal(await listNow(), beforeList, "the container list changed");
    assert.deepEqual(snapshot(), beforeFs, "mounts, snapshots or container dirs changed");
    assert.equal((await d.request("DELETE", `${C}/${taken.id}?force=true`)).status, 204);
    assert.equal((await d.request("DELETE", `${C}/${idle.id}`)).status, 204);
  });

  // The issue's figure is 100; the quick subset runs 20.
  const N = process.env.BERTH_QUICK ? 20 : 100;
  it(`runs ${N} concurrent run -d requests: all succeed, distinct generated names, no lost rows; follows logs`, async () => {
    const made = await Promise.all(
      Array.from({ length: N }, () => create({ image: "busybox", cmd: ["sleep", "300"], start: true })),
    );
    const names = new Set(made.map((c) => c.name));
    assert.equal(names.size, N);
    for (const n of names) assert.match(n, /^[a-z]+_[a-z]+\d*$/);
    assert.equal(new Set(made.map((c) => c.id)).size, N);
    const listed = (await d.request("GET", "/1.0/containers")).json as { name: string; state: { status: string } }[];
    assert.equal(listed.length, N);
    assert.deepEqual(new Set(listed.map((c) => c.name)), names);
    assert.deepEqual(new Set(listed.map((c) => c.state.status)), new Set(["running"]));

    const talker = await create({
      name: "talker",
      image: "busybox",
      cmd: ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done"],
      start: true,
    });
    const follow = await d.stream(`/1.0/containers/${talker.id}/logs?follow=true`);
    const texts: string[] = [];
    for await (const line of follow.lines) texts.push(JSON.parse(line).text);
    assert.deepEqual(texts, ["line1", "line2", "line3"]); // the stream ends when the container exits

    const gone = await Promise.all(
      [...made, talker].map((c) => d.request("DELETE", `/1.0/containers/${c.id}?force=true`)),
    );
    assert.deepEqual(new Set(gone.map((r) => r.status)), new Set([204]));
    assert.deepEqual(d.mounts(), []);
  });

  it("GET /1.0/info describes the host as docker info does, and counts containers and images", async () => {
    const info = async () => {
      const r = await d.request("GET", "/1.0/info");
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    const before = await info();
    const doc = (await d.request("GET", "/1.0/openapi.json")).json;
    const validate = new Ajv({ strict: false, validateFormats: false }).compile(doc.components.schemas.HostInfo);
    assert.ok(validate(structuredClone(before)), JSON.stringify(validate.errors));
    assert.equal(before.cpus, availableParallelism());
    assert.equal(before.kernelVersion, release());
    assert.equal(before.memTotal, totalmem());
    assert.equal(before.name, hostname());
    assert.equal(before.architecture, machine());
    assert.deepEqual([before.rootDir, before.runRoot], [d.root, d.runRoot]);
    // A unified (v2) host has cgroup.controllers at the top; a v1 or hybrid one does not.
    assert.equal(before.cgroupVersion, existsSync("/sys/fs/cgroup/cgroup.controllers") ? "2" : "1");
    assert.ok(before.images >= 1, "busybox is there");
    assert.ok(before.runtimes.includes(before.defaultRuntime));
    assert.ok(before.securityOptions.includes("seccomp"));
    const running = await create({ image: "busybox", cmd: ["sleep", "30"], start: true });
    const created = await create({ image: "busybox", cmd: ["true"] });
    try {
      const after = await info();
      assert.deepEqual(after.containers, {
        total: before.containers.total + 2,
        running: before.containers.running + 1,
        paused: before.containers.paused,
        stopped: before.containers.stopped + 1,
      });
    } finally {
      for (const c of [running, created]) await d.request("DELETE", `/1.0/containers/${c.id}?force=true`);
    }
    assert.equal((await info()).containers.total, before.containers.total);
  });

  it("serves an OpenAPI 3.0.3 document with every route, whose schemas compile", async () => {
    const r = await d.request("GET", "/1.0/openapi.json");
    assert.equal(r.status, 200);
    const doc = r.json;
    assert.equal(doc.openapi, "3.0.3");
    assert.equal(typeof doc.info.title, "string");
    const ids = new Set<string>();
    for (const [id, route] of Object.entries(routes)) {
      const op = doc.paths[route.path]?.[route.method.toLowerCase()];
      assert.ok(op, `${id}: ${route.method} ${route.path} missing`);
      assert.equal(op.operationId, id);
      assert.ok(op.responses[String(route.status)], `${id}: no ${route.status} response`);
      for (const p of route.path.matchAll(/\{(\w+)\}/g)) {
        assert.ok(
          op.parameters.some((x: { name: string; in: string }) => x.name === p[1] && x.in === "path"),
          `${id}: path param ${p[1]}`,
        );
      }
      ids.add(op.operationId);
    }
    assert.equal(ids.size, Object.keys(routes).length);
    // Every $ref resolves, and every component schema is a schema ajv accepts.
    const text = JSON.stringify(doc);
    for (const m of text.matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g))
      assert.ok(doc.components.schemas[m[1]!], `dangling $ref ${m[1]}`);
    const ajv = new Ajv({ strict: false, validateFormats: false });
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      assert.doesNotThrow(() => ajv.compile(schema as object), name);
      assert.equal(JSON.stringify(schema).includes('"const"'), false, `${name}: const is not OpenAPI 3.0`);
    }
  });

  it("the OpenAPI document validates against the official OpenAPI 3.0 JSON schema", async () => {
    // @seriousme/openapi-schema-validator: it carries the OpenAPI Initiative's own JSON schemas (3.0: the
    // 2021-09-28 schema.json of OAI/OpenAPI-Specification) and checks with ajv-draft-04, as that schema needs,
    // plus that every $ref resolves. Kept up to date (several releases a year, MIT), and it saves vendoring the
    // schema here and tracking its fixes by hand.
    const doc = (await d.request("GET", "/1.0/openapi.json")).json;
    const validator = new Validator();
    const res = await validator.validate(structuredClone(doc));
    assert.equal(validator.version, "3.0");
    assert.ok(res.valid, `invalid OpenAPI document: ${JSON.stringify(res.errors, null, 1)?.slice(0, 3000)}`);
    // It does check: a response without its required description is refused.
    const broken = structuredClone(doc);
    const someResponse = Object.values(Object.values(broken.paths as Record<string, Record<string, unknown>>)[0]!)
      .map((op) => (op as { responses: Record<string, { description?: string }> }).responses)
      .find(Boolean)!;
    delete Object.values(someResponse)[0]!.description;
    assert.equal((await new Validator().validate(broken)).valid, false);
  });

  it("SIGTERM closes the server and exits 0 without stopping containers", async () => {
    const c = await create({ name: "survivor", image: "busybox", cmd: ["sleep", "300"], start: true });
    assert.equal(await d.terminate(), 0);
    process.kill(c.state.pid!, 0);
    await d.restart();
    assert.equal((await d.request("GET", "/1.0/containers/survivor")).json.state.status, "running");
    assert.equal((await d.request("DELETE", "/1.0/containers/survivor?force=true")).status, 204);
  });
});
