import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { parseContainerfile } from "./parse.js";
import { cacheKey, cacheKeyInput, instructionText, planBuild, stageCacheKeys } from "./plan.js";
import { sha256Hex } from "./sha256.js";

const MULTI = `
ARG GO=1.22
FROM golang:$GO AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app

FROM alpine AS tools
RUN apk add curl

FROM build AS test
RUN go test ./...

FROM alpine
COPY --from=build /out/app /usr/bin/app
CMD ["app"]
`;

describe("planBuild", () => {
  it("builds only the stages the target needs, in order", () => {
    const file = parseContainerfile(MULTI);
    const plan = planBuild(file);
    assert.equal(plan.target, 3);
    assert.deepEqual(
      plan.stages.map((s) => [s.index, s.dependsOn]),
      [
        [0, []],
        [3, [0]],
      ],
    );
    assert.deepEqual(
      planBuild(file, "test").stages.map((s) => s.name),
      ["build", "test"],
    );
    assert.deepEqual(
      planBuild(file, "TOOLS").stages.map((s) => s.index),
      [1],
    );
    assert.deepEqual(
      planBuild(file, "0").stages.map((s) => s.index),
      [0],
    );
  });

  it("rejects an unknown target and lists the stages", () => {
    assert.throws(() => planBuild(parseContainerfile(MULTI), "prod"), {
      message: 'build target "prod" is not a stage of this Containerfile; stages: build, tools, test, 3',
    });
  });

  it("describes steps with normalized text and effects", () => {
    const plan = planBuild(parseContainerfile(MULTI, { buildArgs: { GO: "1.23" } }));
    assert.deepEqual(
      plan.stages[0]!.steps.map((s) => [s.effect, s.text, s.needsContent]),
      [
        ["from", "FROM golang:1.23", false],
        ["workdir", "WORKDIR /src", false],
        ["copy", "COPY . .", true],
        ["run", "RUN go build -o /out/app", false],
      ],
    );
    assert.deepEqual(
      plan.stages[1]!.steps.map((s) => s.text),
      ["FROM alpine", "COPY --from=<stage 0> /out/app /usr/bin/app", 'CMD ["app"]'],
    );
  });

  it("normalizes text: quoting, ARG names only, RUN args, heredocs, flags", () => {
    const file = parseContainerfile(
      'FROM alpine\nARG V=2\nENV A="x y" B=\nRUN --network=none make\nCOPY --chown=1:1 --link <<EOF /f\nhi $V\nEOF\nFROM scratch\nLABEL "a b"=c\nEXPOSE 8000-8001/udp',
    );
    const [one, two] = file.stages;
    assert.deepEqual(
      one!.instructions.map((i) => instructionText(i)),
      ["ARG V", 'ENV A="x y" B=""', "RUN --network=none |1 V=2 make", "COPY --chown=1:1 --link <<EOF /f\nhi 2\nEOF"],
    );
    assert.deepEqual(
      two!.instructions.map((i) => instructionText(i)),
      ['LABEL "a b"=c', "EXPOSE 8000-8001/udp"],
    );
    assert.equal(instructionText(two!.from, two!.base), "FROM scratch");
  });
});

describe("cache keys", () => {
  const steps = (text: string, args?: Record<string, string>) =>
    planBuild(parseContainerfile(text, args ? { buildArgs: args } : {})).stages.at(-1)!;
  const digests = (d: Record<number, string>) => (s: { line: number }) => d[s.line];
  const FILE = "FROM alpine\nARG V=1\nCOPY app /app\nRUN echo $V\nENV X=1";

  it("are sha256 hex of parent, instruction and content digest", () => {
    const step = { text: "RUN true" };
    assert.deepEqual(cacheKeyInput("p", step, "sha256:x"), {
      parentKey: "p",
      instruction: "RUN true",
      contentDigest: "sha256:x",
    });
    assert.match(cacheKey("p", step), /^[0-9a-f]{64}$/);
    assert.notEqual(cacheKey("p", step), cacheKey("q", step));
    assert.notEqual(cacheKey("p", step), cacheKey("p", step, "d"));
    assert.notEqual(cacheKey("p", step, ""), cacheKey("p", step));
  });

  it("an unchanged rebuild gives the same keys", () => {
    const a = stageCacheKeys(steps(FILE), "sha256:base", digests({ 3: "sha256:c1" }));
    const b = stageCacheKeys(steps(FILE), "sha256:base", digests({ 3: "sha256:c1" }));
    assert.deepEqual(a, b);
    assert.equal(new Set(a).size, a.length);
  });

  it("a changed file changes the keys from its COPY on", () => {
    const a = stageCacheKeys(steps(FILE), "sha256:base", digests({ 3: "sha256:c1" }));
    const b = stageCacheKeys(steps(FILE), "sha256:base", digests({ 3: "sha256:c2" }));
    assert.deepEqual(a.slice(0, 2), b.slice(0, 2));
    assert.ok(a.slice(2).every((k, i) => k !== b[i + 2]));
  });

  it("a changed build arg busts the cache where it is used, not where declared", () => {
    const a = stageCacheKeys(steps(FILE), "sha256:base", digests({ 3: "sha256:c1" }));
    const b = stageCacheKeys(steps(FILE, { V: "2" }), "sha256:base", digests({ 3: "sha256:c1" }));
    assert.deepEqual(a.slice(0, 3), b.slice(0, 3));
    assert.notEqual(a[3], b[3]);
  });

  it("a different base image changes every key", () => {
    const a = stageCacheKeys(steps(FILE), "sha256:base", digests({ 3: "sha256:c1" }));
    const b = stageCacheKeys(steps(FILE), "sha256:other", digests({ 3: "sha256:c1" }));
    assert.ok(a.every((k, i) => k !== b[i]));
  });

  it("a COPY without a content digest is an error", () => {
    assert.throws(
      () => stageCacheKeys(steps(FILE), "sha256:base", () => undefined),
      /no content digest for COPY at line 3/,
    );
  });
});

describe("sha256Hex", () => {
  for (const input of ["", "abc", "a".repeat(55), "a".repeat(56), "a".repeat(64), "ünïcödé ✓", "x".repeat(1000)])
    it(`matches node:crypto for ${JSON.stringify(input.slice(0, 12))} (${input.length} chars)`, () => {
      assert.equal(sha256Hex(input), createHash("sha256").update(input).digest("hex"));
    });
});
