import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { Container } from "@berth/api";
import { encodeFrames, MULTIPLEXED_STREAM, type StdStream } from "@berth/api/stdcopy";
import { main } from "./cli.js";
import { entries } from "./registry.js";
import { type FakeHandler, fakeDaemon, problem, recordingIo } from "./testing.js";

// one clock reading for every fixture: `ps` orders by createdAt, and two Date.now() calls a
// millisecond apart would reorder the list
const now = Date.now();
const container = (name: string, over: Partial<Container> = {}): Container => ({
  id: `${name}0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab`.slice(0, 64),
  name,
  image: "busybox",
  kind: "app",
  createdAt: new Date(now - 120_000).toISOString(),
  state: {
    status: "running",
    running: true,
    paused: false,
    oomKilled: false,
    restartCount: 0,
    startedAt: new Date(now - 60_000).toISOString(),
    pid: 42,
  },
  config: { image: "busybox", cmd: ["sleep", "30"] },
  labels: {},
  restartPolicy: { name: "no" },
  resources: {},
  autostart: false,
  ...over,
});

const frames = (stream: StdStream, text: string) => encodeFrames(stream, new TextEncoder().encode(text));
const concat = (parts: Uint8Array[]) => Buffer.concat(parts);

const notFound: FakeHandler = ({ params }) => problem(404, "not-found", `no such container '${params.id}'`);

async function berth(argv: string[], handlers: Parameters<typeof fakeDaemon>[0] = {}) {
  const daemon = fakeDaemon(handlers);
  const io = recordingIo(daemon);
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err, calls: daemon.calls };
}

describe("berth (in process, fake daemon)", () => {
  it("--version and version without a daemon", async () => {
    assert.match((await berth(["--version"])).out, /^berth version \d+\.\d+\.\d+\n$/);
    // As `docker version`: what the client knows, then 1 (scripts wait for a daemon with `until berth version`).
    const io = recordingIo(undefined, { BERTH_HOST: "unix:///nonexistent/berth.sock" });
    assert.equal(await main(["version"], io), 1);
    assert.match(io.out, /Client:\n Version: +\d/);
    assert.match(
      io.err,
      /cannot reach berthd at \/nonexistent\/berth.sock: is it running\? start it with `berth daemon start` or `berthd`/,
    );
    const fmt = recordingIo(undefined, { BERTH_HOST: "unix:///nonexistent/berth.sock" });
    assert.equal(await main(["version", "--format", "{{.Client.Version}}"], fmt), 1);
    assert.match(fmt.out, /^\d+\.\d+\.\d+\n$/);
    assert.match(fmt.err, /cannot reach berthd/);
  });
  it("a daemon that is not running: Error + hint, non-zero", async () => {
    const io = recordingIo(undefined, { BERTH_HOST: "unix:///nonexistent/berth.sock" });
    assert.equal(await main(["ps"], io), 1);
    assert.match(io.err, /^Error: cannot reach berthd/);
    const io2 = recordingIo(undefined, { BERTH_HOST: "unix:///nonexistent/berth.sock" });
    assert.equal(await main(["run", "busybox"], io2), 125);
  });
  it("help, command help with examples, unknown command", async () => {
    const overview = (await berth(["help"])).out;
    assert.match(overview, /Application containers[\s\S]*launch/);
    // every command is in the overview (a new one must be placed in a section)
    for (const { name } of entries)
      assert.match(overview, new RegExp(`^  ${name} +\\S`, "m"), `${name} is not in berth help`);
    const h = await berth(["run", "--help"]);
    assert.equal(h.code, 0);
    assert.match(h.out, /Usage: {2}berth run \[OPTIONS\] IMAGE/);
    assert.match(h.out, /Examples:\n {2}berth run/);
    assert.match((await berth(["help", "ps"])).out, /--no-trunc/);
    // Docker's management-command forms reach the same commands
    assert.match((await berth(["container", "rm", "--help"])).out, /Usage: {2}berth rm /);
    assert.match((await berth(["container", "inspect", "--help"])).out, /Usage: {2}berth inspect /);
    const group = (await berth(["container", "--help"])).out;
    assert.match(group, /^ {2}ls +List containers$/m);
    assert.match(group, /^ {2}rm +Remove one or more containers$/m);
    assert.doesNotMatch((await berth(["image", "--help"])).out, /^ {2}list /m, "aliases are not listed twice");
    const u = await berth(["rnu", "busybox"]);
    assert.equal(u.code, 125);
    assert.match(u.err, /'rnu' is not a berth command\ndid you mean 'berth run'\?/);
    const g = await berth(["image", "lss"]);
    assert.match(g.err, /did you mean 'berth image ls'\?/);
  });
  it("unknown flag: exit 125 with a suggestion, and no API call", async () => {
    const r = await berth(["run", "--memroy", "256m", "busybox"]);
    assert.equal(r.code, 125);
    assert.equal(r.err, "Error: unknown flag: --memroy\ndid you mean --memory? See 'berth run --help'.\n");
    assert.equal(r.calls.length, 0);
  });
  it("argument counts", async () => {
    const r = await berth(["rename", "web"]);
    assert.equal(r.code, 125);
    assert.match(r.err, /"berth rename" requires exactly 2 arguments/);
  });
  it("ps: table, -q, --format template and json, filters passed through", async () => {
    const list = () => ({
      body: [
        container("web"),
        container("db", {
          state: {
            status: "exited",
            running: false,
            paused: false,
            oomKilled: false,
            restartCount: 0,
            exitCode: 3,
            finishedAt: new Date().toISOString(),
          },
        }),
      ],
    });
    const t = await berth(["ps", "-a", "--filter", "label=x=y"], { listContainers: list });
    assert.equal(t.code, 0);
    const lines = t.out.trimEnd().split("\n");
    assert.match(lines[0]!, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$/);
    assert.match(t.out, /web012345678 +busybox +"sleep 30" +2 minutes ago +Up About a minute +web/);
    assert.match(t.out, /Exited \(3\) Less than a second ago/);
    assert.equal(t.calls[0]!.query, "?all=true&filter=label%3Dx%3Dy");
    assert.deepEqual((await berth(["ps", "-q"], { listContainers: list })).out.split("\n").sort(), [
      "",
      "db0123456789",
      "web012345678",
    ]);
    assert.equal(
      (await berth(["ps", "--format", "{{.Names}} {{.State}}"], { listContainers: list })).out,
      "web running\ndb exited\n",
    );
    const j = (await berth(["ps", "--format", "json"], { listContainers: list })).out.trim().split("\n");
    assert.equal(JSON.parse(j[0]!).Names, "web");
    assert.equal(JSON.parse(j[1]!).State, "exited");
    // docker's ps context: .State is the status word, .Label is a method, .CreatedAt is Go's time format
    const labelled = () => ({ body: [container("web", { labels: { tier: "front" } })] });
    assert.equal(
      (
        await berth(["ps", "--format", '{{.Names}} {{.State}} {{.Label "tier"}}|{{.Label "none"}}|{{.Networks}}'], {
          listContainers: labelled,
        })
      ).out,
      "web running front||none\n",
    );
    assert.match(
      (await berth(["ps", "--format", "{{.CreatedAt}}"], { listContainers: list })).out,
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/m,
    );
  });
  it("stop/rm: one call per container, a line per success, Error per failure with did-you-mean, exit 1", async () => {
    const r = await berth(["rm", "-f", "web", "wbe"], {
      deleteContainer: ({ params }) =>
        params.id === "web" ? {} : notFound({ params, query: new URLSearchParams(), body: undefined }),
      listContainers: () => ({ body: [container("web"), container("db")] }),
    });
    assert.equal(r.code, 1);
    assert.equal(r.out, "web\n");
    assert.equal(r.err, "Error: no such container 'wbe'; did you mean 'web'?\n");
    assert.deepEqual(
      r.calls.filter((c) => c.id === "deleteContainer").map((c) => [c.params.id, c.query]),
      [
        ["web", "?force=true"],
        ["wbe", "?force=true"],
      ],
    );
    const v = await berth(["rm", "-v", "web"], { deleteContainer: () => ({}) });
    assert.equal(v.calls[0]!.query, "?volumes=true", "rm -v asks for the anonymous volumes too");
    const s = await berth(["stop", "-t", "3", "web"], { stopContainer: () => ({}) });
    assert.equal(s.calls[0]!.query, "?t=3");
  });
  it("inspect: not found suggests a name", async () => {
    const r = await berth(["inspect", "wbe"], {
      getContainer: notFound,
      getImage: ({ params }) => problem(404, "not-found", `no such image '${params.ref}'`),
      listContainers: () => ({ body: [container("web")] }),
    });
    assert.equal(r.code, 1);
    assert.match(r.err, /no such container 'wbe'; did you mean 'web'\?/);
    assert.equal(r.out, "[]\n");
  });
  it("run -d sends one create with start, the translated flags, and prints the id", async () => {
    const r = await berth(["run", "-d", "--rm", "--name", "web", "-m", "64m", "-e", "A=1", "busybox", "sleep", "30"], {
      createContainer: () => ({ status: 201, body: container("web") }),
    });
    assert.equal(r.code, 0);
    assert.equal(r.out, `${container("web").id}\n`);
    assert.equal(r.calls.length, 1);
    assert.deepEqual(r.calls[0]!.body, {
      image: "busybox",
      name: "web",
      cmd: ["sleep", "30"],
      env: ["A=1"],
      resources: { memory: 64 * 1024 ** 2 },
      start: true,
      autoRemove: true,
    });
  });
  it("foreground run --rm: create with autoRemove, wait until removed (sent with the start), attach and start; stdout and stderr apart, byte for byte", async () => {
    const r = await berth(["run", "--rm", "busybox", "sh", "-c", "printf hi; echo oops >&2; exit 3"], {
      createContainer: () => ({ status: 201, body: container("x") }),
      waitContainer: () => ({ body: { exitCode: 3 } }),
      attachContainer: () => ({
        upgrade: {
          headers: { "content-type": MULTIPLEXED_STREAM },
          // A frame split across pieces, and two in one piece.
          output: [
            ...frames("stdout", "h"),
            concat([...frames("stdout", "i"), ...frames("stderr", "oops\n")]).subarray(0, 12),
            concat([...frames("stdout", "i"), ...frames("stderr", "oops\n")]).subarray(12),
          ],
        },
      }),
    });
    assert.equal(r.code, 3);
    assert.equal(r.out, "hi", "no newline added");
    assert.equal(r.err, "oops\n");
    assert.deepEqual(
      r.calls.map((c) => c.id),
      ["createContainer", "waitContainer", "attachContainer"],
    );
    assert.equal((r.calls[0]!.body as { autoRemove?: boolean; start?: boolean }).autoRemove, true);
    assert.equal((r.calls[0]!.body as { start?: boolean }).start, false);
    assert.equal(r.calls[1]!.query, "?condition=removed");
    assert.equal(r.calls[2]!.query, "?start=true");
    assert.deepEqual(r.calls[2]!.input, { text: "", ended: false }, "no stdin without -i");
  });
  it("foreground run without --rm waits for the exit only and keeps the container", async () => {
    const r = await berth(["run", "busybox", "true"], {
      createContainer: () => ({ status: 201, body: container("x") }),
      waitContainer: () => ({ body: { exitCode: 0 } }),
      attachContainer: () => ({ upgrade: { headers: { "content-type": MULTIPLEXED_STREAM }, output: [] } }),
    });
    assert.equal(r.code, 0);
    assert.equal((r.calls[0]!.body as { autoRemove?: boolean }).autoRemove, undefined);
    assert.equal(r.calls[1]!.id, "waitContainer");
    assert.equal(r.calls[1]!.query, "");
  });
  it("foreground run: a malformed stream is an error (125), not garbage on stdout", async () => {
    const r = await berth(["run", "busybox", "true"], {
      createContainer: () => ({ status: 201, body: container("x") }),
      waitContainer: () => ({ body: { exitCode: 0 } }),
      attachContainer: () => ({
        upgrade: {
          headers: { "content-type": MULTIPLEXED_STREAM },
          output: [...frames("stdout", "fine\n"), "plain text, no frames\n"],
        },
      }),
    });
    assert.equal(r.code, 125);
    assert.equal(r.out, "fine\n");
    assert.match(
      r.err,
      /^Error: cannot read the output stream: malformed multiplexed stream: bad frame header at byte 13/,
    );
  });
  it("foreground run --rm: a start that fails removes the container it made", async () => {
    const r = await berth(["run", "--rm", "busybox", "/nope"], {
      createContainer: () => ({ status: 201, body: container("x") }),
      attachContainer: () => problem(400, "invalid", "the container's command cannot be run: exec: /nope"),
      waitContainer: () => ({ body: { exitCode: 0 } }),
      deleteContainer: () => ({}),
    });
    assert.equal(r.code, 127);
    assert.match(r.err, /cannot be run/);
    assert.deepEqual(
      r.calls.map((c) => c.id),
      ["createContainer", "waitContainer", "attachContainer", "deleteContainer"],
    );
  });
  it("create --detach-keys is kept with the container (for attach and start -a)", async () => {
    const r = await berth(["create", "--detach-keys", "ctrl-x,x", "busybox"], {
      createContainer: () => ({ status: 201, body: container("x") }),
    });
    assert.equal(r.code, 0, r.err);
    assert.equal((r.calls[0]!.body as { detachKeys?: string }).detachKeys, "ctrl-x,x");
  });
  it("run: a missing image is exit 125 with the daemon's message", async () => {
    const r = await berth(["run", "busybx"], {
      createContainer: () => problem(404, "not-found", "no such image 'busybx'"),
      listImages: () => ({ body: [{ id: "sha256:1", ref: "busybox:latest" }] }),
    });
    assert.equal(r.code, 125);
    assert.equal(r.err, "Error: no such image 'busybx'; did you mean 'busybox'?\n");
  });
  it("exec streams the command's output (stdout and stderr apart) and returns its exit code", async () => {
    const r = await berth(["exec", "-e", "A=1", "-u", "1000", "-w", "/tmp", "web", "sh", "-c", "exit 4"], {
      execContainer: () => ({
        upgrade: {
          headers: { "content-type": MULTIPLEXED_STREAM, "x-berth-exec-session": "web-exec-1" },
          output: [...frames("stdout", "out\n"), ...frames("stderr", "err\n")],
        },
      }),
      execSession: ({ params }) => ({ body: { exitCode: params.session === "web-exec-1" ? 4 : 99 } }),
    });
    assert.equal(r.code, 4);
    assert.equal(r.out, "out\n");
    assert.equal(r.err, "err\n");
    assert.deepEqual(r.calls[0]!.body, { cmd: ["sh", "-c", "exit 4"], env: ["A=1"], user: "1000", workingDir: "/tmp" });
    assert.deepEqual(
      r.calls.map((c) => c.id),
      ["execContainer", "execSession"],
    );
    const incus = await berth(["exec", "c1", "--", "ls", "-l"], {
      execContainer: () => ({ upgrade: { headers: { "x-berth-exec-session": "c1-exec-1" }, output: [] } }),
      execSession: () => ({ body: { exitCode: 0 } }),
    });
    assert.deepEqual(incus.calls[0]!.body, { cmd: ["ls", "-l"] });
    // A command the container lacks: runc's reason on stderr, 127 (126: cannot execute), as before.
    const missing = await berth(["exec", "web", "nope"], {
      execContainer: () =>
        problem(400, "invalid", 'the command cannot be run: exec: "nope": executable file not found in $PATH'),
    });
    assert.deepEqual([missing.code, missing.err], [127, 'exec: "nope": executable file not found in $PATH\n']);
  });
  it("exec --format json collects the result with a plain POST (16 MiB per stream at most, flagged past that)", async () => {
    const r = await berth(["exec", "--format", "json", "web", "yes"], {
      execContainer: () => ({ body: { exitCode: 0, stdout: "y\ny\n", stderr: "", stdoutTruncated: true } }),
    });
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.out), { exitCode: 0, stdout: "y\ny\n", stderr: "", stdoutTruncated: true });
    assert.equal(r.calls.length, 1);
  });
  it("a command group's --help lists its sub-commands with their summaries", async () => {
    for (const group of ["token", "image", "system"]) {
      const r = await berth([group, "--help"]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`Usage:  berth ${group} COMMAND`));
    }
    assert.match((await berth(["token", "-h"])).out, /create +Create a bearer token/);
  });
  it("a route the daemon lacks: not implemented, exit 125", async () => {
    const r = await berth(["image", "pull", "alpine"]);
    assert.equal(r.code, 125);
    assert.match(r.err, /^Error: not implemented yet: pullImage/);
  });
  it("port: nothing published without bridge networking; asking for a port says so; a bad port is a CLI error", async () => {
    const api = { getContainer: () => ({ body: container("web") }) };
    const all = await berth(["port", "web"], api);
    assert.equal(all.code, 0, all.err);
    assert.equal(all.out, "");
    const one = await berth(["port", "web", "80/tcp"], api);
    assert.equal(one.code, 125);
    assert.match(one.err, /no public port '80\/tcp' published for web/);
    const bad = await berth(["port", "web", "http"], api);
    assert.equal(bad.code, 125);
    assert.match(bad.err, /invalid port 'http'/);
    const cp = await berth(["cp", "-a", "./a", "./b"]);
    assert.notEqual(cp.code, 0);
    assert.match(cp.err, /must specify at least one container source/);
    assert.match((await berth(["attach", "--detach-kyes", "x", "web"])).err, /did you mean --detach-keys\?/);
  });
  it("validation issues from the daemon print as a hint", async () => {
    const invalid = (detail: string, field: string, message: string) => ({
      getContainer: () => ({ body: container("web") }),
      updateContainer: () => {
        const p = problem(400, "invalid", detail);
        return { ...p, body: { ...(p.body as object), issues: [{ field, message }] } };
      },
    });
    const r = await berth(
      ["update", "--memory", "1g", "web"],
      invalid("invalid ContainerPut", "resources.memory", "too large"),
    );
    assert.equal(r.code, 1);
    assert.equal(r.err, "Error: invalid ContainerPut\n  resources.memory: too large\n");
    // an issue the detail already states is not printed twice
    const detail = "resources.cpus: is below the kernel's minimum";
    const once = await berth(
      ["update", "--cpus", "0.001", "web"],
      invalid(detail, "resources.cpus", "is below the kernel's minimum"),
    );
    assert.equal(once.err, `Error: ${detail}\n`);
  });
  it("launch: a system container with Incus config keys", async () => {
    const r = await berth(["launch", "debian", "c1", "-c", "limits.memory=256MiB", "-c", "boot.autostart=true"], {
      createContainer: () => ({ status: 201, body: container("c1", { kind: "system" }) }),
    });
    assert.equal(r.code, 0);
    assert.deepEqual(r.calls[0]!.body, {
      image: "debian",
      kind: "system",
      start: true,
      resources: { memory: 256 * 1024 ** 2 },
      autostart: true,
      name: "c1",
    });
  });
  it("image bootstrap streams progress and prints the ref", async () => {
    const r = await berth(["image", "bootstrap", "busybox"], {
      bootstrapImage: () => ({
        lines: [{ status: "building" }, { status: "done", ref: "busybox:latest", digest: "sha256:1" }],
      }),
    });
    assert.equal(r.code, 0);
    assert.equal(r.out, "building\ndone\nbusybox:latest\n");
    assert.deepEqual(r.calls[0]!.body, { kind: "busybox" });
  });
  it("completion bash|zsh, and a suggestion for a typo", async () => {
    assert.match((await berth(["completion", "bash"])).out, /complete -F _berth berth/);
    assert.match((await berth(["completion", "zsh"])).out, /^#compdef berth/);
    assert.match((await berth(["completion", "bsh"])).err, /did you mean bash\?/);
  });
});
