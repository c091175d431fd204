import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { applyToConfig, historyEntry, type ImageRunConfig, resolveWorkdir } from "./config.js";
import { parseContainerfile } from "./parse.js";

/** Applies the last stage's instructions to `base`. */
function configOf(text: string, base: ImageRunConfig = {}): ImageRunConfig {
  return parseContainerfile(text).stages.at(-1)!.instructions.reduce(applyToConfig, base);
}

describe("applyToConfig", () => {
  it("ENV replaces in place and appends", () => {
    const c = configOf("FROM a\nENV PATH=/bin:/usr/bin NEW=1", { Env: ["PATH=/bin", "HOME=/root"] });
    assert.deepEqual(c.Env, ["PATH=/bin:/usr/bin", "HOME=/root", "NEW=1"]);
  });

  it("does not change its input", () => {
    const base: ImageRunConfig = Object.freeze({ Env: Object.freeze(["A=1"]), Labels: Object.freeze({ a: "1" }) });
    const c = configOf("FROM a\nENV A=2\nLABEL a=2 b=3", base);
    assert.deepEqual(base, { Env: ["A=1"], Labels: { a: "1" } });
    assert.deepEqual(c, { Env: ["A=2"], Labels: { a: "2", b: "3" } });
  });

  it("WORKDIR resolves relative paths against the previous one", () => {
    assert.equal(configOf("FROM a\nWORKDIR /a\nWORKDIR b\nWORKDIR ../c/./d/").WorkingDir, "/a/c/d");
    assert.equal(configOf("FROM a\nWORKDIR rel").WorkingDir, "/rel");
    assert.equal(configOf("FROM a\nWORKDIR x", { WorkingDir: "/go" }).WorkingDir, "/go/x");
    assert.equal(resolveWorkdir("/a", "/../b"), "/b");
  });

  it("CMD and ENTRYPOINT: shell form uses SHELL; ENTRYPOINT resets an inherited CMD", () => {
    const base: ImageRunConfig = { Cmd: ["/bin/sh"] };
    assert.deepEqual(configOf('FROM a\nENTRYPOINT ["/app"]', base), { Entrypoint: ["/app"] });
    assert.deepEqual(configOf('FROM a\nCMD ["x"]\nENTRYPOINT ["/app"]', base), { Cmd: ["x"], Entrypoint: ["/app"] });
    assert.deepEqual(configOf('FROM a\nSHELL ["/bin/bash", "-c"]\nCMD echo hi').Cmd, ["/bin/bash", "-c", "echo hi"]);
    assert.deepEqual(configOf("FROM a\nENTRYPOINT exec app").Entrypoint, ["/bin/sh", "-c", "exec app"]);
  });

  it("EXPOSE, VOLUME, USER, STOPSIGNAL, LABEL, MAINTAINER, ONBUILD", () => {
    const c = configOf(
      'FROM a\nEXPOSE 80 53/udp 8000-8002\nVOLUME ["/data"]\nUSER app:app\nSTOPSIGNAL SIGINT\nMAINTAINER me\nONBUILD RUN make',
      { ExposedPorts: { "22/tcp": {} } },
    );
    assert.deepEqual(c, {
      ExposedPorts: { "22/tcp": {}, "80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {} },
      Volumes: { "/data": {} },
      User: "app:app",
      StopSignal: "SIGINT",
      Labels: { "org.opencontainers.image.authors": "me" },
      OnBuild: ["RUN make"],
    });
  });

  it("HEALTHCHECK becomes Docker's object with nanoseconds", () => {
    assert.deepEqual(
      configOf("FROM a\nHEALTHCHECK --interval=30s --retries=2 CMD curl -f http://localhost/").Healthcheck,
      {
        Test: ["CMD-SHELL", "curl -f http://localhost/"],
        Interval: 30_000_000_000,
        Retries: 2,
      },
    );
    assert.deepEqual(configOf("FROM a\nHEALTHCHECK NONE").Healthcheck, { Test: ["NONE"] });
  });

  it("RUN, COPY and ARG leave the config alone", () => {
    const base: ImageRunConfig = { Env: ["A=1"] };
    assert.equal(configOf("FROM a\nARG X=1\nRUN true\nCOPY a /a", base), base);
  });
});

describe("historyEntry", () => {
  const entries = (text: string) => {
    let config: ImageRunConfig = {};
    return parseContainerfile(text)
      .stages.at(-1)!
      .instructions.map((i) => {
        const h = historyEntry(i, config);
        config = applyToConfig(config, i);
        return h;
      });
  };

  it("writes Docker-style created_by lines", () => {
    assert.deepEqual(
      entries(
        'FROM a\nARG V=1\nENV A=1\nRUN echo $A\nCOPY a b /dst/\nWORKDIR /app\nCMD ["x", "y"]\nEXPOSE 80\nHEALTHCHECK --interval=1m30s --retries=3 CMD true',
      ),
      [
        { created_by: "/bin/sh -c #(nop)  ARG V=1", empty_layer: true },
        { created_by: "/bin/sh -c #(nop)  ENV A=1", empty_layer: true },
        { created_by: "|1 V=1 /bin/sh -c echo $A" },
        { created_by: "/bin/sh -c #(nop) COPY a b in /dst/ " },
        { created_by: "/bin/sh -c #(nop)  WORKDIR /app", empty_layer: true },
        { created_by: '/bin/sh -c #(nop)  CMD ["x" "y"]', empty_layer: true },
        { created_by: "/bin/sh -c #(nop)  EXPOSE 80/tcp", empty_layer: true },
        {
          created_by: '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "1m30s" "0s" "0s" "0s" \'\\x03\'}',
          empty_layer: true,
        },
      ],
    );
  });

  it("RUN with a heredoc keeps the script in its shell command", () => {
    assert.deepEqual(entries("FROM a\nRUN <<EOF\nset -e\nmake\nEOF"), [
      { created_by: "/bin/sh -c <<EOF\nset -e\nmake\nEOF" },
    ]);
  });
});
