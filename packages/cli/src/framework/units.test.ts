import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { closest, editDistance } from "./suggest.js";
import { formatDuration, formatSize, humanDuration, parseDuration, parseSize, UnitError } from "./units.js";

describe("parseSize", () => {
  const ok: [string, number][] = [
    ["0", 0],
    ["1024", 1024],
    ["1b", 1],
    ["1k", 1024],
    ["1K", 1024],
    ["256m", 256 * 1024 ** 2],
    ["256M", 256 * 1024 ** 2],
    ["256mb", 256 * 1024 ** 2],
    ["256MiB", 256 * 1024 ** 2],
    ["1g", 1024 ** 3],
    ["1.5g", 1.5 * 1024 ** 3],
    ["2t", 2 * 1024 ** 4],
    [".5k", 512],
  ];
  for (const [text, bytes] of ok) it(`${text} → ${bytes}`, () => assert.equal(parseSize(text), bytes));
  for (const bad of ["", "m", "-1", "1x", "1 gigabyte", "1..5m", "iB", "1e9"]) {
    it(`rejects '${bad}'`, () => assert.throws(() => parseSize(bad), UnitError));
  }
  it("-1 only where allowed", () => {
    assert.equal(parseSize("-1", { allowMinusOne: true }), -1);
    assert.throws(() => parseSize("-2", { allowMinusOne: true }), UnitError);
  });
  it("formats decimal sizes as docker", () => {
    assert.equal(formatSize(512), "512B");
    assert.equal(formatSize(1_060_000), "1.06MB");
    assert.equal(formatSize(4_300_000_000), "4.3GB");
  });
});

describe("parseDuration", () => {
  const ok: [string, number][] = [
    ["0", 0],
    ["10s", 10_000],
    ["1.5s", 1500],
    ["500ms", 500],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["1h2m3s", 3_723_000],
    ["100us", 0.1],
    ["100\u00b5s", 0.1], // µ, the micro sign
    ["100\u03bcs", 0.1], // μ, the Greek letter, which Go accepts too
  ];
  for (const [text, ms] of ok) it(`${text} → ${ms} ms`, () => assert.equal(parseDuration(text), ms));
  for (const bad of ["5", "", "s", "5x", "1m 30s", "-5s", "5s garbage"]) {
    it(`rejects '${bad}'`, () => assert.throws(() => parseDuration(bad), UnitError));
  }
  it("a bare number suggests a unit", () => {
    assert.throws(
      () => parseDuration("30"),
      (e: UnitError) => /30s/.test(e.hint ?? ""),
    );
  });
  it("formats", () => {
    assert.equal(formatDuration(90_000), "1m30s");
    assert.equal(formatDuration(250), "250ms");
    assert.equal(formatDuration(3_600_000), "1h0m0s");
  });
  it("human durations as docker ps", () => {
    assert.equal(humanDuration(300), "Less than a second");
    assert.equal(humanDuration(45_000), "45 seconds");
    assert.equal(humanDuration(60_000), "About a minute");
    assert.equal(humanDuration(5 * 60_000), "5 minutes");
    assert.equal(humanDuration(3 * 3_600_000), "3 hours");
    assert.equal(humanDuration(3 * 86_400_000), "3 days");
  });
});

describe("suggestions", () => {
  it("edit distance", () => {
    assert.equal(editDistance("memroy", "memory"), 2);
    assert.equal(editDistance("", "abc"), 3);
    assert.equal(editDistance("web", "web"), 0);
  });
  it("closest picks a near name, or a unique prefix, or nothing", () => {
    assert.equal(closest("wbe", ["web", "db"]), "web");
    assert.equal(closest("memroy", ["memory", "memory-swap", "name"]), "memory");
    assert.equal(closest("zzzzzz", ["web", "db"]), undefined);
    assert.equal(closest("health", ["health-cmd", "name"]), "health-cmd");
  });
});
