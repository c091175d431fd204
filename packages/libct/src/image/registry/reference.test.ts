import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { parseChallenges, parseTokenResponse } from "./challenge.js";
import { choosePlatform, hostPlatform } from "./platform.js";
import { formatReference, parseReference } from "./reference.js";
import { MEDIA } from "./types.js";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  const ok: [string, string, string, string?, string?][] = [
    ["busybox", "docker.io", "library/busybox", "latest"],
    ["busybox:1.36", "docker.io", "library/busybox", "1.36"],
    ["library/busybox", "docker.io", "library/busybox", "latest"],
    ["docker.io/busybox", "docker.io", "library/busybox", "latest"],
    ["index.docker.io/library/busybox:x", "docker.io", "library/busybox", "x"],
    ["user/app", "docker.io", "user/app", "latest"],
    ["127.0.0.1:5000/a/b:tag", "127.0.0.1:5000", "a/b", "tag"],
    ["localhost/app", "localhost", "app", "latest"],
    ["localhost:5000/app", "localhost:5000", "app", "latest"],
    ["quay.io/team/sub/app:v1.2-rc_3", "quay.io", "team/sub/app", "v1.2-rc_3"],
    [`alpine@${D}`, "docker.io", "library/alpine", undefined, D],
    [`127.0.0.1:5000/a:t@${D}`, "127.0.0.1:5000", "a", "t", D],
    ["x/a.b__c-d--e", "docker.io", "x/a.b__c-d--e", "latest"],
  ];
  for (const [input, registry, repository, tag, digest] of ok) {
    it(`parses ${input}`, () => {
      const ref = parseReference(input);
      assert.deepEqual(ref, {
        registry,
        repository,
        ...(tag !== undefined ? { tag } : {}),
        ...(digest ? { digest } : {}),
      });
    });
  }

  const bad: [string, RegExp][] = [
    ["", /empty/],
    [" busybox", /spaces/],
    ["Busybox", /lowercase/],
    ["docker.io/Team/app", /lowercase/],
    ["busybox:", /tag has at most 128/],
    ["busybox:-x", /tag has at most 128/],
    [`busybox:${"t".repeat(129)}`, /tag has at most 128/],
    ["busybox@sha256:abc", /64 lowercase hex/],
    ["busybox@md5:abc", /64 lowercase hex/],
    ["a//b", /path component ""/],
    ["a/-b", /path component "-b"/],
    ["a/b_", /path component "b_"/],
    ["127.0.0.1:5000/", /repository name is missing/],
    ["bad_host:5000/x", /not a valid registry/],
  ];
  for (const [input, message] of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (err: Error & { kind?: string }) => {
          assert.equal(err.kind, "invalid");
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  it("formats the full name back", () => {
    assert.equal(formatReference(parseReference("busybox")), "docker.io/library/busybox:latest");
    assert.equal(formatReference(parseReference(`h:1/a:t@${D}`)), `h:1/a:t@${D}`);
  });
});

describe("WWW-Authenticate", () => {
  it("parses a bearer challenge with quoted commas", () => {
    const [c] = parseChallenges(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    );
    assert.deepEqual(c, {
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
    });
  });
  it("parses several challenges and unquoted values", () => {
    const all = parseChallenges('Basic realm="x y", Bearer realm=https://t/, error="insufficient_scope"');
    assert.deepEqual(
      all.map((c) => [c.scheme, c.params]),
      [
        ["basic", { realm: "x y" }],
        ["bearer", { realm: "https://t/", error: "insufficient_scope" }],
      ],
    );
  });
  it("reads token or access_token, with the 60 s default lifetime", () => {
    assert.deepEqual(parseTokenResponse({ token: "t", expires_in: 300 }, 0), { token: "t", expiresAt: 290_000 });
    assert.deepEqual(parseTokenResponse({ access_token: "a" }, 0), { token: "a", expiresAt: 50_000 });
    assert.equal(parseTokenResponse({}, 0), undefined);
  });
});

describe("choosePlatform", () => {
  const m = (architecture: string, variant?: string, os = "linux") => ({
    mediaType: MEDIA.ociManifest,
    digest: `sha256:${architecture}${variant ?? ""}${os}`,
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  const index = {
    schemaVersion: 2 as const,
    manifests: [m("unknown", undefined, "unknown"), m("arm", "v6"), m("arm", "v7"), m("arm64"), m("amd64")],
  };
  it("picks amd64, arm64 (v8 implied) and an exact arm variant", () => {
    assert.equal(choosePlatform(index, { os: "linux", architecture: "amd64" }, "x").digest, "sha256:amd64linux");
    assert.equal(choosePlatform(index, hostPlatform("arm64"), "x").digest, "sha256:arm64linux");
    assert.equal(choosePlatform(index, hostPlatform("arm"), "x").digest, "sha256:armv7linux");
  });
  it("names the platforms it has when none fits", () => {
    assert.throws(
      () => choosePlatform(index, { os: "linux", architecture: "s390x" }, "img"),
      /img has no image for linux\/s390x; it has linux\/arm\/v6, linux\/arm\/v7, linux\/arm64, linux\/amd64/,
    );
  });
  it("maps Node's arch names to Go's", () => {
    assert.deepEqual(hostPlatform("x64"), { os: "linux", architecture: "amd64" });
  });
});
