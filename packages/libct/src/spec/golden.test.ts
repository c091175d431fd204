import { strict as assert } from "node:assert";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { specFromDescription } from "./from-description.js";
import { assertValidOciSpec, goldenCases, testdata } from "./test-support.test.js";

const GOLDEN = testdata("spec-golden/");
const update = process.env.UPDATE_GOLDEN === "1";

describe("golden specs", () => {
  if (update) mkdirSync(GOLDEN, { recursive: true });
  for (const c of goldenCases) {
    it(`${c.name} matches testdata/spec-golden/${c.name}.json and the OCI schema`, () => {
      const spec = specFromDescription(c.host, c.desc, c.resolved);
      assertValidOciSpec(spec);
      const file = `${GOLDEN}${c.name}.json`;
      const text = `${JSON.stringify(spec, null, 2)}\n`;
      if (update) writeFileSync(file, text);
      assert.ok(existsSync(file), `${file} is missing: run with UPDATE_GOLDEN=1 to create it`);
      assert.deepEqual(
        JSON.parse(text),
        JSON.parse(readFileSync(file, "utf8")),
        `${c.name} differs from its golden file (UPDATE_GOLDEN=1 regenerates after review)`,
      );
    });
  }

  it("has no stale golden files", () => {
    const names = new Set(goldenCases.map((c) => `${c.name}.json`));
    const stale = readdirSync(GOLDEN).filter((f) => f.endsWith(".json") && !names.has(f));
    assert.deepEqual(stale, []);
  });
});
