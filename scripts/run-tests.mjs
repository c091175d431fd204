#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist/**/*.test.js, test/**/*.test.mjs) with Node's test runner.
// --quick sets BERTH_QUICK=1, which skips tests marked slow (see packages/libct/src/testing/slow.ts).
// Extra arguments are substrings that select test files by path.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const filters = args.filter((a) => !a.startsWith("--"));

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.test\.(js|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

const files = [];
for (const pkg of readdirSync(join(root, "packages"))) walk(join(root, "packages", pkg, "dist"), files);
walk(join(root, "test"), files);
const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (selected.length === 0) {
  console.error("no test files found: run `npm run build` first");
  process.exit(1);
}
console.log(`running ${selected.length} test files${quick ? " (quick: slow tests skipped)" : ""}`);
const res = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=1", "--test-reporter=spec", ...selected.map((f) => relative(root, f))],
  { cwd: root, stdio: "inherit", env: { ...process.env, ...(quick ? { BERTH_QUICK: "1" } : {}) } },
);
process.exit(res.status ?? 1);
