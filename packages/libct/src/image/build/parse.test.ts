// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Containerfile text is full of ${VAR} on purpose
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ContainerfileError } from "./errors.js";
import type { Containerfile, Instruction } from "./instructions.js";
import { type ParseOptions, parseContainerfile } from "./parse.js";

/** The instructions of the last stage. */
const last = (f: Containerfile): readonly Instruction[] => f.stages.at(-1)!.instructions;
const first = (f: Containerfile): Instruction => last(f)[0]!;
const ok = (text: string, opts?: ParseOptions) => parseContainerfile(text, opts);

interface Good {
  readonly name: string;
  readonly text: string;
  readonly opts?: ParseOptions;
  readonly check: (f: Containerfile) => void;
}

const good: Good[] = [
  {
    name: "minimal FROM + RUN shell form",
    text: "FROM alpine:3.19\nRUN echo hi\n",
    check: (f) => {
      assert.deepEqual(f.stages[0]!.base, { kind: "image", ref: "alpine:3.19" });
      assert.deepEqual((first(f) as { command: unknown }).command, { form: "shell", command: "echo hi" });
    },
  },
  {
    name: "RUN exec form",
    text: 'FROM alpine\nRUN ["echo", "a b"]',
    check: (f) => assert.deepEqual((first(f) as { command: unknown }).command, { form: "exec", argv: ["echo", "a b"] }),
  },
  {
    name: "RUN [ test ] stays shell form",
    text: "FROM alpine\nRUN [ -f /etc/os-release ] && echo yes",
    check: (f) =>
      assert.deepEqual((first(f) as { command: unknown }).command, {
        form: "shell",
        command: "[ -f /etc/os-release ] && echo yes",
      }),
  },
  {
    name: "lower-case keywords",
    text: "from alpine as Build\nrun true",
    check: (f) => {
      assert.equal(f.stages[0]!.name, "build");
      assert.equal(first(f).kind, "run");
    },
  },
  {
    name: "FROM scratch",
    text: "FROM scratch\nCOPY app /",
    check: (f) => assert.deepEqual(f.stages[0]!.base, { kind: "scratch" }),
  },
  {
    name: "FROM --platform",
    text: "FROM --platform=linux/arm64 debian:bookworm AS base",
    check: (f) => {
      assert.equal(f.stages[0]!.from.platform, "linux/arm64");
      assert.equal(f.stages[0]!.name, "base");
    },
  },
  {
    name: "FROM --platform=$BUILDPLATFORM uses the automatic arg",
    text: "FROM --platform=$BUILDPLATFORM golang AS build",
    opts: { buildPlatform: { os: "linux", architecture: "amd64" } },
    check: (f) => assert.equal(f.stages[0]!.from.platform, "linux/amd64"),
  },
  {
    name: "FROM with digest and registry port",
    text: `FROM localhost:5000/team/app@sha256:${"a".repeat(64)}`,
    check: (f) => assert.equal(f.stages[0]!.base.kind, "image"),
  },
  {
    name: "global ARG in FROM, default",
    text: "ARG VERSION=3.19\nFROM alpine:${VERSION}\n",
    check: (f) => {
      assert.equal(f.stages[0]!.from.image, "alpine:3.19");
      assert.equal(f.globalArgs[0]!.args[0]!.value, "3.19");
    },
  },
  {
    name: "global ARG in FROM, build arg wins",
    text: "ARG VERSION=3.19\nFROM alpine:$VERSION\n",
    opts: { buildArgs: { VERSION: "3.20" } },
    check: (f) => assert.equal(f.stages[0]!.from.image, "alpine:3.20"),
  },
  {
    name: "global ARG is not visible in a stage until redeclared",
    text: "ARG V=1\nFROM alpine\nENV A=$V\nARG V\nENV B=$V",
    check: (f) => {
      const env = last(f).flatMap((i) => (i.kind === "env" ? i.env : []));
      assert.deepEqual(env, [
        { key: "A", value: "" },
        { key: "B", value: "1" },
      ]);
      assert.deepEqual(f.stages[0]!.unresolvedVars, ["V"]);
    },
  },
  {
    name: "stage ARG default, overridden by a build arg",
    text: "FROM alpine\nARG A=x B=$A\nENV B=$B",
    opts: { buildArgs: { A: "y" } },
    check: (f) => {
      const env = last(f).find((i) => i.kind === "env")!;
      assert.deepEqual(env.kind === "env" && env.env, [{ key: "B", value: "y" }]);
    },
  },
  {
    name: "ENV overrides ARG of the same name",
    text: "FROM alpine\nARG X=arg\nENV X=env\nWORKDIR /$X",
    check: (f) => assert.equal((last(f)[2] as { path: string }).path, "/env"),
  },
  {
    name: "RUN records ARGs in scope for its env and cache key",
    text: "FROM alpine\nARG A=1\nARG B\nENV A=shadow\nARG C=3\nRUN make",
    opts: { buildArgs: { HTTP_PROXY: "http://proxy:3128" } },
    check: (f) => {
      const run = last(f).at(-1)!;
      assert.ok(run.kind === "run");
      assert.deepEqual(run.args, [{ key: "C", value: "3" }]);
      assert.deepEqual(run.proxyEnv, [{ key: "HTTP_PROXY", value: "http://proxy:3128" }]);
      assert.deepEqual(f.warnings, []);
    },
  },
  {
    name: "ENV K=V pairs see the environment before the line",
    text: "FROM alpine\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc",
    check: (f) => {
      const env = last(f).flatMap((i) => (i.kind === "env" ? i.env : []));
      assert.deepEqual(env.slice(1), [
        { key: "abc", value: "bye" },
        { key: "def", value: "hello" },
        { key: "ghi", value: "bye" },
      ]);
    },
  },
  {
    name: "ENV legacy form keeps spaces; warns",
    text: "FROM alpine\nENV MY_VAR my value here",
    check: (f) => {
      assert.deepEqual((first(f) as { env: unknown }).env, [{ key: "MY_VAR", value: "my value here" }]);
      assert.match(f.warnings[0]!.message, /legacy/);
    },
  },
  {
    name: "ENV quoting and escapes",
    text: `FROM alpine\nENV A="a b" B='$x' C=c\\ d D="q\\"q" E=\\$HOME`,
    check: (f) =>
      assert.deepEqual((first(f) as { env: unknown }).env, [
        { key: "A", value: "a b" },
        { key: "B", value: "$x" },
        { key: "C", value: "c d" },
        { key: "D", value: 'q"q' },
        { key: "E", value: "$HOME" },
      ]),
  },
  {
    name: "substitution modifiers",
    text: [
      "FROM alpine",
      "ENV SET=v EMPTY=",
      "LABEL a=${SET:-d} b=${UNSET:-d} c=${EMPTY:-d} d=${EMPTY-d} e=${SET:+alt} f=${UNSET:+alt} g=${SET}x h=$SET.x",
    ].join("\n"),
    check: (f) =>
      assert.deepEqual(
        Object.fromEntries(
          (last(f)[1] as unknown as { labels: { key: string; value: string }[] }).labels.map((l) => [l.key, l.value]),
        ),
        { a: "v", b: "d", c: "d", d: "", e: "alt", f: "", g: "vx", h: "v.x" },
      ),
  },
  {
    name: "substitution: nested default, prefix/suffix trim, lone $",
    text: "FROM alpine\nENV F=archive.tar.gz\nLABEL a=${U:-${F}} b=${F%.*} c=${F%%.*} d=${F#*.} e=cost$ f=$1x",
    check: (f) =>
      assert.deepEqual(
        Object.fromEntries(
          (last(f)[1] as unknown as { labels: { key: string; value: string }[] }).labels.map((l) => [l.key, l.value]),
        ),
        { a: "archive.tar.gz", b: "archive.tar", c: "archive", d: "tar.gz", e: "cost$", f: "x" },
      ),
  },
  {
    name: "RUN, CMD and HEALTHCHECK are not substituted",
    text: "FROM alpine\nENV X=1\nRUN echo $X\nCMD echo ${X}\nHEALTHCHECK CMD test $X",
    check: (f) => {
      assert.deepEqual((last(f)[1] as { command: unknown }).command, { form: "shell", command: "echo $X" });
      assert.deepEqual((last(f)[2] as { command: unknown }).command, { form: "shell", command: "echo ${X}" });
      assert.deepEqual((last(f)[3] as { health: unknown }).health, { Test: ["CMD-SHELL", "test $X"] });
    },
  },
  {
    name: "line continuation with comments and indentation",
    text: "FROM alpine\nRUN apk add \\\n# a comment inside\n    curl \\\n    git\n",
    check: (f) =>
      assert.deepEqual((first(f) as { command: unknown }).command, {
        form: "shell",
        command: "apk add     curl     git",
      }),
  },
  {
    name: "continuation with trailing spaces after the backslash",
    text: "FROM alpine\nRUN echo a \\  \n  b",
    check: (f) =>
      assert.deepEqual((first(f) as { command: unknown }).command, { form: "shell", command: "echo a   b" }),
  },
  {
    name: "escape directive: backtick for Windows paths",
    text: "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  /s",
    check: (f) => {
      assert.equal(f.directives.escape, "`");
      const [copy, run] = last(f);
      assert.equal((copy as { dest: string }).dest, "c:\\");
      assert.deepEqual((run as { command: unknown }).command, { form: "shell", command: "dir c:\\   /s" });
    },
  },
  {
    name: "directives: syntax recorded, case-insensitive; unknown ends directives",
    text: "# Syntax=docker/dockerfile:1\n# foo=bar\n# escape=`\nFROM alpine",
    check: (f) => {
      assert.equal(f.directives.syntax, "docker/dockerfile:1");
      assert.equal(f.directives.escape, "\\");
    },
  },
  {
    name: "heredoc RUN",
    text: "FROM alpine\nRUN <<EOF\napk add curl\necho done\nEOF\nCMD sh",
    check: (f) => {
      const run = first(f);
      assert.ok(run.kind === "run");
      assert.deepEqual(run.command, { form: "shell", command: "<<EOF" });
      assert.deepEqual(run.heredocs, [
        { name: "EOF", content: "apk add curl\necho done\n", expand: true, chomp: false },
      ]);
      assert.equal(last(f)[1]!.kind, "cmd");
      assert.equal(last(f)[1]!.line, 6);
    },
  },
  {
    name: "heredoc <<- strips tabs; quoted delimiter; command before heredoc",
    text: 'FROM alpine\nRUN python3 <<-"PY"\n\timport sys\n\tprint(sys.version)\n\tPY',
    check: (f) => {
      const run = first(f);
      assert.ok(run.kind === "run");
      assert.deepEqual(run.heredocs, [
        { name: "PY", content: "import sys\nprint(sys.version)\n", expand: false, chomp: true },
      ]);
    },
  },
  {
    name: "heredoc COPY with expansion and two files",
    text: "FROM alpine\nARG NAME=world\nCOPY <<A <<B /etc/\nhello $NAME\nA\nraw \\$x\nB",
    check: (f) => {
      const copy = last(f)[1]!;
      assert.ok(copy.kind === "copy");
      assert.deepEqual(
        copy.sources.map((s) => (s.kind === "heredoc" ? [s.heredoc.name, s.heredoc.content] : s.path)),
        [
          ["A", "hello world\n"],
          ["B", "raw $x\n"],
        ],
      );
    },
  },
  {
    name: "multi-stage COPY --from by name and by index",
    text: "FROM golang AS build\nRUN go build -o /app\nFROM alpine\nCOPY --from=build /app /usr/bin/app\nCOPY --from=0 /go /go",
    check: (f) => {
      const [a, b] = last(f);
      assert.equal((a as { fromStage: number }).fromStage, 0);
      assert.equal((b as { fromStage: number }).fromStage, 0);
    },
  },
  {
    name: "COPY --from an image",
    text: "FROM alpine\nCOPY --from=busybox:1.36 /bin/busybox /bin/",
    check: (f) => assert.equal((first(f) as { fromImage: string }).fromImage, "busybox:1.36"),
  },
  {
    name: "COPY flags: chown, chmod, link, several sources, substitution",
    text: "FROM alpine\nARG U=app\nCOPY --chown=$U:$U --chmod=0755 --link a b ${U}/ /srv/",
    check: (f) => {
      const c = last(f)[1]!;
      assert.ok(c.kind === "copy");
      assert.equal(c.chown, "app:app");
      assert.equal(c.chmod, "0755");
      assert.equal(c.link, true);
      assert.deepEqual(
        c.sources.map((s) => s.kind === "path" && s.path),
        ["a", "b", "app/"],
      );
      assert.equal(c.dest, "/srv/");
    },
  },
  {
    name: "COPY JSON form with spaces",
    text: 'FROM alpine\nCOPY ["my file.txt", "/dest dir/"]',
    check: (f) => {
      const c = first(f);
      assert.ok(c.kind === "copy");
      assert.deepEqual(c.sources, [{ kind: "path", path: "my file.txt" }]);
      assert.equal(c.dest, "/dest dir/");
    },
  },
  {
    name: "ADD with --checksum",
    text: `FROM alpine\nADD --checksum=sha256:${"b".repeat(64)} https://example.com/x.tgz /x.tgz`,
    check: (f) => assert.equal(first(f).kind, "add"),
  },
  {
    name: "EXPOSE forms",
    text: "FROM alpine\nEXPOSE 80 80/tcp 53/udp 8000-8010 9000/SCTP",
    check: (f) =>
      assert.deepEqual((first(f) as { ports: unknown }).ports, [
        { port: 80, protocol: "tcp" },
        { port: 80, protocol: "tcp" },
        { port: 53, protocol: "udp" },
        { port: 8000, endPort: 8010, protocol: "tcp" },
        { port: 9000, protocol: "sctp" },
      ]),
  },
  {
    name: "LABEL with quoted keys and multiple pairs",
    text: 'FROM alpine\nLABEL "com.example.vendor"="ACME Incorporated" version=1.0 description="multi \\\nline"',
    check: (f) =>
      assert.deepEqual((first(f) as { labels: unknown }).labels, [
        { key: "com.example.vendor", value: "ACME Incorporated" },
        { key: "version", value: "1.0" },
        { key: "description", value: "multi line" },
      ]),
  },
  {
    name: "VOLUME JSON and plain",
    text: 'FROM alpine\nVOLUME ["/data", "/logs"]\nVOLUME /a /b',
    check: (f) => {
      assert.deepEqual((last(f)[0] as { paths: unknown }).paths, ["/data", "/logs"]);
      assert.deepEqual((last(f)[1] as { paths: unknown }).paths, ["/a", "/b"]);
    },
  },
  {
    name: "STOPSIGNAL name, number, realtime",
    text: "FROM alpine\nSTOPSIGNAL SIGTERM\nSTOPSIGNAL 9\nSTOPSIGNAL SIGRTMIN+3",
    check: (f) =>
      assert.deepEqual(
        last(f).map((i) => (i as { signal: string }).signal),
        ["SIGTERM", "9", "SIGRTMIN+3"],
      ),
  },
  {
    name: "HEALTHCHECK with options, exec form",
    text: 'FROM alpine\nHEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms --retries=3 CMD ["curl", "-f", "http://localhost/"]',
    check: (f) =>
      assert.deepEqual((first(f) as { health: unknown }).health, {
        Test: ["CMD", "curl", "-f", "http://localhost/"],
        Interval: 300e9,
        Timeout: 3e9,
        StartPeriod: 90e9,
        StartInterval: 500e6,
        Retries: 3,
      }),
  },
  {
    name: "HEALTHCHECK NONE",
    text: "FROM alpine\nHEALTHCHECK NONE",
    check: (f) => assert.deepEqual((first(f) as { health: unknown }).health, { Test: ["NONE"] }),
  },
  {
    name: "SHELL, CMD, ENTRYPOINT (resetsCmd unless CMD came first in the stage)",
    text: 'FROM alpine\nSHELL ["/bin/bash", "-c"]\nENTRYPOINT ["/app"]\nCMD ["--help"]\nENTRYPOINT /app2',
    check: (f) => {
      const [shell, e1, , e2] = last(f);
      assert.deepEqual((shell as { shell: unknown }).shell, ["/bin/bash", "-c"]);
      assert.equal((e1 as { resetsCmd: boolean }).resetsCmd, true);
      assert.equal((e2 as { resetsCmd: boolean }).resetsCmd, false);
    },
  },
  {
    name: "CMD [] is an empty exec form",
    text: "FROM alpine\nCMD []",
    check: (f) => assert.deepEqual((first(f) as { command: unknown }).command, { form: "exec", argv: [] }),
  },
  {
    name: "ONBUILD records the trigger; MAINTAINER warns",
    text: "FROM alpine\nONBUILD COPY . /app\nMAINTAINER Jane <jane@example.com>",
    check: (f) => {
      assert.equal((last(f)[0] as { trigger: string }).trigger, "COPY . /app");
      assert.equal((last(f)[1] as { maintainer: string }).maintainer, "Jane <jane@example.com>");
      assert.match(f.warnings[0]!.message, /MAINTAINER is deprecated/);
    },
  },
  {
    name: "WORKDIR and USER with variables",
    text: "FROM alpine\nENV HOME=/home/app\nWORKDIR $HOME/src\nUSER ${UID:-1000}:1000",
    check: (f) => {
      assert.equal((last(f)[1] as { path: string }).path, "/home/app/src");
      assert.equal((last(f)[2] as { user: string }).user, "1000:1000");
    },
  },
  {
    name: "ENV inherited from a base stage; baseEnv fills image env",
    text: "FROM golang:1.22 AS b\nENV X=1\nWORKDIR $GOPATH/src\nFROM b\nWORKDIR /$X",
    opts: { baseEnv: { "golang:1.22": ["GOPATH=/go", "PATH=/usr/bin"] } },
    check: (f) => {
      assert.equal((f.stages[0]!.instructions[1] as { path: string }).path, "/go/src");
      assert.deepEqual(f.stages[1]!.base, { kind: "stage", index: 0 });
      assert.equal((first(f) as { path: string }).path, "/1");
      assert.deepEqual(f.stages[0]!.unresolvedVars, []);
    },
  },
  {
    name: "unconsumed build arg warns; automatic TARGETARCH in a stage",
    text: "FROM alpine\nARG TARGETARCH\nENV A=$TARGETARCH",
    opts: { buildArgs: { NOPE: "1" }, targetPlatform: { os: "linux", architecture: "arm64", variant: "v8" } },
    check: (f) => {
      assert.deepEqual((last(f)[1] as { env: unknown }).env, [{ key: "A", value: "arm64" }]);
      assert.deepEqual(f.warnings, [{ line: 0, message: "build arg NOPE was not consumed by any ARG instruction" }]);
    },
  },
  {
    name: "COPY --from a near-miss of a stage name warns",
    text: "FROM alpine AS build\nFROM alpine\nCOPY --from=biuld /a /a",
    check: (f) => assert.match(f.warnings[0]!.message, /did you mean build\?/),
  },
  {
    name: "CRLF line endings and BOM",
    text: "\uFEFFFROM alpine\r\nRUN echo \\\r\n  hi\r\n",
    check: (f) => assert.deepEqual((first(f) as { command: unknown }).command, { form: "shell", command: "echo   hi" }),
  },
  {
    name: "escape directive: backtick escapes $ and backslash is literal",
    text: '# escape=`\nFROM a\nENV P=C:\\dir\\`$HOME Q="x`"y"',
    check: (f) =>
      assert.deepEqual((first(f) as { env: unknown }).env, [
        { key: "P", value: "C:\\dir\\$HOME" },
        { key: "Q", value: 'x"y' },
      ]),
  },
  {
    name: "the issue's example: copy a script and set CMD",
    text: 'FROM busybox\nCOPY hello.sh /usr/local/bin/hello\nRUN chmod +x /usr/local/bin/hello\nCMD ["hello"]\n',
    check: (f) =>
      assert.deepEqual(
        last(f).map((i) => i.kind),
        ["copy", "run", "cmd"],
      ),
  },
  {
    name: "RUN --network=none with exec form",
    text: 'FROM alpine\nRUN --network=none ["true"]',
    check: (f) => {
      const r = first(f);
      assert.ok(r.kind === "run");
      assert.equal(r.network, "none");
      assert.deepEqual(r.command, { form: "exec", argv: ["true"] });
    },
  },
];

interface Bad {
  readonly name: string;
  readonly text: string;
  readonly line: number;
  readonly message: RegExp;
  readonly opts?: ParseOptions;
}

const bad: Bad[] = [
  {
    name: "unknown instruction, suggestion",
    text: "FROM a\n\n# x\n\nRUN a\nCOPY a b\nRUNN x",
    line: 7,
    message: /unknown instruction "RUNN"; did you mean RUN\?/,
  },
  {
    name: "unknown instruction, far from all",
    text: "FROM a\nFROBNICATE x",
    line: 2,
    message: /unknown instruction "FROBNICATE"; known instructions are FROM/,
  },
  {
    name: "missing FROM",
    text: "# hello\nRUN echo",
    line: 2,
    message: /RUN before FROM; a Containerfile must start with FROM/,
  },
  { name: "empty file", text: "# only a comment\n", line: 1, message: /no FROM instruction/ },
  { name: "ARG then no FROM", text: "ARG A=1\n", line: 1, message: /no FROM instruction/ },
  {
    name: "continuation at EOF",
    text: "FROM a\nRUN echo \\",
    line: 2,
    message: /line continuation \(\\\) at the end of the file/,
  },
  {
    name: "continuation then only comments",
    text: "FROM a\nRUN echo \\\n# nothing\n",
    line: 2,
    message: /end of the file/,
  },
  {
    name: "bad JSON array (trailing comma)",
    text: 'FROM a\nCMD ["a",]',
    line: 2,
    message: /CMD: \["a",\] is not a valid JSON array/,
  },
  {
    name: "bad JSON array (single quotes)",
    text: "FROM a\nENTRYPOINT ['a']",
    line: 2,
    message: /not a valid JSON array/,
  },
  { name: "JSON array of non-strings", text: 'FROM a\nRUN ["sleep", 1]', line: 2, message: /only strings/ },
  {
    name: "SHELL needs JSON",
    text: "FROM a\nSHELL /bin/bash -c",
    line: 2,
    message: /SHELL needs a non-empty JSON array/,
  },
  {
    name: "COPY --from later stage",
    text: "FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two",
    line: 2,
    message: /names the stage defined at line 3, which is not before this one/,
  },
  {
    name: "COPY --from own stage",
    text: "FROM a AS one\nCOPY --from=one /x /x",
    line: 2,
    message: /not before this one/,
  },
  {
    name: "COPY --from index too high",
    text: "FROM a\nFROM b\nCOPY --from=1 /x /x",
    line: 3,
    message: /only stages 0 to 0 come before/,
  },
  {
    name: "COPY --from bad reference",
    text: "FROM a\nCOPY --from=Bad_Image /x /x",
    line: 2,
    message: /neither an earlier stage nor a valid image reference: repository name "Bad_Image" must be lowercase/,
  },
  {
    name: "COPY one argument",
    text: "FROM a\nCOPY onlyone",
    line: 2,
    message: /COPY needs at least one source and a destination/,
  },
  {
    name: "COPY several sources to a file",
    text: "FROM a\nCOPY a b /dest",
    line: 2,
    message: /needs a directory destination ending in "\/"; write \/dest\//,
  },
  {
    name: "COPY unknown flag",
    text: "FROM a\nCOPY --own=1 a b",
    line: 2,
    message: /unknown flag --own for COPY; COPY accepts --from, --chown/,
  },
  {
    name: "COPY flag without value",
    text: "FROM a\nCOPY --chown a b",
    line: 2,
    message: /--chown needs a value: --chown=VALUE/,
  },
  { name: "COPY bad chmod", text: "FROM a\nCOPY --chmod=rwx a b", line: 2, message: /--chmod=rwx is invalid/ },
  { name: "ADD --from not allowed", text: "FROM a\nADD --from=x a b", line: 2, message: /unknown flag --from for ADD/ },
  {
    name: "RUN --mount",
    text: "FROM a\nRUN --mount=type=cache,target=/root/.cache make",
    line: 2,
    message: /RUN --mount is not supported yet/,
  },
  {
    name: "RUN --network bad",
    text: "FROM a\nRUN --network=bridge true",
    line: 2,
    message: /use default, none or host/,
  },
  { name: "RUN without command", text: "FROM a\nRUN", line: 2, message: /RUN needs a command/ },
  {
    name: "HEALTHCHECK bad duration",
    text: "FROM a\n\nHEALTHCHECK --interval=5x CMD true",
    line: 3,
    message: /--interval=5x is not a duration; use a number with a unit/,
  },
  {
    name: "HEALTHCHECK duration without unit",
    text: "FROM a\nHEALTHCHECK --timeout=30 CMD true",
    line: 2,
    message: /is not a duration/,
  },
  {
    name: "HEALTHCHECK too short",
    text: "FROM a\nHEALTHCHECK --interval=10us CMD true",
    line: 2,
    message: /at least 1ms/,
  },
  {
    name: "HEALTHCHECK negative retries",
    text: "FROM a\nHEALTHCHECK --retries=-1 CMD true",
    line: 2,
    message: /cannot be negative/,
  },
  {
    name: "HEALTHCHECK NONE with options",
    text: "FROM a\nHEALTHCHECK --interval=1s NONE",
    line: 2,
    message: /NONE takes no options/,
  },
  { name: "HEALTHCHECK without CMD", text: "FROM a\nHEALTHCHECK curl x", line: 2, message: /needs CMD or NONE/ },
  { name: "EXPOSE bad port", text: "FROM a\nEXPOSE 80/tcp http", line: 2, message: /EXPOSE http is not a valid port/ },
  { name: "EXPOSE out of range", text: "FROM a\nEXPOSE 70000", line: 2, message: /EXPOSE 70000 is not a valid port/ },
  { name: "EXPOSE reversed range", text: "FROM a\nEXPOSE 90-80", line: 2, message: /not a valid port/ },
  { name: "EXPOSE bad protocol", text: "FROM a\nEXPOSE 80/http", line: 2, message: /unknown protocol "http"/ },
  { name: "EXPOSE host port", text: "FROM a\nEXPOSE 8080:80", line: 2, message: /container ports only/ },
  { name: "ENV without value", text: "FROM a\nENV FOO", line: 2, message: /ENV FOO has no value; write ENV FOO=value/ },
  { name: "ENV pair missing =", text: "FROM a\nENV A=1 B", line: 2, message: /"B" is not of the form name=value/ },
  { name: "ENV empty name", text: "FROM a\nENV =x", line: 2, message: /empty name/ },
  { name: "ARG empty", text: "ARG\nFROM a", line: 1, message: /ARG needs a name/ },
  { name: "ARG empty name", text: "FROM a\nARG =1", line: 2, message: /ARG has an invalid name/ },
  {
    name: "FROM empty after substitution",
    text: "ARG BASE\nFROM $BASE",
    line: 2,
    message: /FROM \$BASE is empty after substitution; BASE has no value/,
  },
  { name: "FROM extra words", text: "FROM a b", line: 1, message: /FROM takes an image and an optional stage name/ },
  { name: "FROM uppercase image", text: "FROM Ubuntu:22.04", line: 1, message: /must be lowercase/ },
  {
    name: "FROM a later stage",
    text: "FROM later\nFROM alpine AS later",
    line: 1,
    message: /names the stage defined at line 2/,
  },
  {
    name: "duplicate stage name",
    text: "FROM a AS x\nFROM b AS X",
    line: 2,
    message: /stage name "x" is already used by the stage at line 1/,
  },
  { name: "bad escape directive", text: "# escape=x\nFROM a", line: 1, message: /invalid escape directive "x"/ },
  { name: "duplicate directive", text: "# escape=`\n# escape=\\\nFROM a", line: 2, message: /appears twice/ },
  {
    name: "unterminated heredoc",
    text: "FROM a\nRUN <<EOF\necho hi\n",
    line: 2,
    message: /heredoc <<EOF is never closed; end it with a line containing only EOF/,
  },
  { name: "unterminated quote", text: 'FROM a\nENV A="x', line: 2, message: /ENV: unterminated double quote/ },
  { name: "bad substitution", text: "FROM a\nENV A=${}", line: 2, message: /bad substitution/ },
  { name: "missing brace", text: "FROM a\nWORKDIR ${HOME", line: 2, message: /missing "}"/ },
  { name: "${VAR:?msg}", text: "FROM a\nWORKDIR ${DIR:?set DIR}", line: 2, message: /DIR: set DIR/ },
  { name: "STOPSIGNAL unknown", text: "FROM a\nSTOPSIGNAL SIGFOO", line: 2, message: /unknown signal "SIGFOO"/ },
  { name: "USER two args", text: "FROM a\nUSER a b", line: 2, message: /USER takes exactly one argument/ },
  { name: "WORKDIR empty", text: "FROM a\nWORKDIR $NOPE", line: 2, message: /WORKDIR needs a path/ },
  {
    name: "ONBUILD ONBUILD",
    text: "FROM a\nONBUILD ONBUILD RUN x",
    line: 2,
    message: /ONBUILD ONBUILD is not allowed/,
  },
  {
    name: "ONBUILD typo",
    text: "FROM a\nONBUILD COPPY . /",
    line: 2,
    message: /ONBUILD: unknown instruction "COPPY"; did you mean COPY\?/,
  },
  {
    name: "COPY heredoc as destination",
    text: "FROM a\nCOPY x <<EOF\nhi\nEOF",
    line: 2,
    message: /destination of COPY cannot be a heredoc/,
  },
  { name: "scratch as stage name", text: "FROM a AS scratch", line: 1, message: /"scratch" is reserved/ },
];

describe("parseContainerfile: accepted files", () => {
  for (const c of good) it(c.name, () => c.check(ok(c.text, c.opts)));
});

describe("parseContainerfile: rejected files name the line", () => {
  for (const c of bad)
    it(c.name, () => {
      assert.throws(
        () => parseContainerfile(c.text, c.opts),
        (err: unknown) => {
          assert.ok(err instanceof ContainerfileError, `not a ContainerfileError: ${err}`);
          assert.equal(err.kind, "invalid");
          assert.equal(err.line, c.line, err.message);
          assert.match(err.message, new RegExp(`^Containerfile line ${c.line}: `));
          assert.match(err.message, c.message);
          return true;
        },
      );
    });

  it("uses the file name given", () => {
    assert.throws(() => parseContainerfile("FROM a\nRUNN x", { fileName: "Dockerfile" }), {
      message: 'Dockerfile line 2: unknown instruction "RUNN"; did you mean RUN?',
    });
  });

  it("has at least 40 cases in all", () => assert.ok(good.length + bad.length >= 40));
});

describe("parseContainerfile: structure", () => {
  it("reports lines of instructions after continuations and heredocs", () => {
    const f = ok("FROM a\nRUN a \\\n b \\\n c\nCOPY <<X /x\n1\nX\n\nUSER me\n");
    assert.deepEqual(
      last(f).map((i) => [i.kind, i.line]),
      [
        ["run", 2],
        ["copy", 5],
        ["user", 9],
      ],
    );
  });

  it("keeps stage order, names and bases", () => {
    const f = ok("ARG V=1\nFROM alpine:$V AS deps\nFROM deps AS build\nFROM scratch\nCOPY --from=build / /");
    assert.deepEqual(
      f.stages.map((s) => [s.index, s.name, s.base]),
      [
        [0, "deps", { kind: "image", ref: "alpine:1" }],
        [1, "build", { kind: "stage", index: 0 }],
        [2, undefined, { kind: "scratch" }],
      ],
    );
  });
});

describe("purity", () => {
  it("non-test sources in image/build import no node: modules", () => {
    const src = join(import.meta.dirname, "../../../src/image/build");
    for (const name of readdirSync(src).filter((n) => n.endsWith(".ts") && !n.endsWith(".test.ts"))) {
      const text = readFileSync(join(src, name), "utf8");
      assert.doesNotMatch(text, /from\s+["']node:/, `${name} imports a node: module`);
    }
  });
});
