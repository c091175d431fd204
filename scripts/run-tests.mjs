#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist/**/*.test.js, test/**/*.test.mjs) with Node's test runner.
// --quick sets BERTH_QUICK=1, which skips tests marked slow (see packages/libct/src/testing/slow.ts).
// Extra arguments are substrings that select test files by path.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
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
// A full run (no filter, not quick) also checks that every route of the API was exercised: each berthd a
// test starts appends the operation ids it served to BERTH_ROUTE_LOG (packages/daemon/src/http/route-log.ts).
const full = !quick && filters.length === 0 && process.getuid?.() === 0;
const logDir = full ? mkdtempSync(join(tmpdir(), "berth-routes-")) : undefined;
const routeLog = logDir ? join(logDir, "routes.log") : undefined;
const res = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=1", "--test-reporter=spec", ...selected.map((f) => relative(root, f))],
  {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, ...(quick ? { BERTH_QUICK: "1" } : {}), ...(routeLog ? { BERTH_ROUTE_LOG: routeLog } : {}) },
  },
);
let status = res.status ?? 1;
if (routeLog) {
  const { routes } = await import(new URL("../packages/api/dist/routes.js", import.meta.url).href);
  let seen;
  try {
    seen = new Set(readFileSync(routeLog, "utf8").split("\n").filter(Boolean));
  } catch {
    seen = new Set();
  }
  const missed = Object.keys(routes).filter((id) => !seen.has(id));
  if (missed.length) {
    console.error(`\nroute coverage: ${missed.length} API route(s) no test exercised: ${missed.join(", ")}`);
    status = status || 1;
  } else {
    console.log(`\nroute coverage: all ${Object.keys(routes).length} API routes were exercised by the tests`);
  }
  rmSync(logDir, { recursive: true, force: true });
}
process.exit(status);
