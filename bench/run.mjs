#!/usr/bin/env node
// npm run bench [NAME...] [--json] [--runs N] [--warmup N] [--list]
// Runs the named benchmarks (all when none are named). The table goes to stderr; with --json, one JSON
// line per result goes to stdout. Exit status: 0 when every declared target passed (or none was
// measurable), 1 when a target was missed, 2 on a usage error or a benchmark that failed to run.
// Each benchmark runs in a process of its own (this script again, with BERTH_BENCH_CHILD set), so that one
// cannot slow the next through the state it leaves in the process: a heap grown by a 200 MB pull, V8's
// collector past its first full collection, a thousand containers' worth of client objects.
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_RUNS, formatTable, MIN_RUNS, runBenchmark, WARMUP_RUNS } from "./harness.mjs";

const NOT_BENCHMARKS = new Set(["run.mjs", "harness.mjs"]);
const benchDir = new URL(".", import.meta.url);

/** Every bench/*.mjs except the harness and this runner, by the name it exports. */
async function discover() {
  const found = new Map();
  for (const file of (await readdir(benchDir)).filter((f) => f.endsWith(".mjs") && !NOT_BENCHMARKS.has(f)).sort()) {
    const mod = await import(new URL(file, benchDir).href);
    const bench = mod.default ?? mod;
    const timing =
      typeof bench.subject === "function" && (typeof bench.anchorRun === "function" || bench.anchor === "none");
    if (!timing && typeof bench.measure !== "function") continue;
    found.set(bench.name ?? basename(file, ".mjs"), bench);
  }
  return found;
}

function usage(message) {
  if (message) console.error(`bench: ${message}`);
  console.error("usage: npm run bench [NAME...] [--json] [--runs N] [--warmup N] [--list]");
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      runs: { type: "string" },
      warmup: { type: "string" },
      list: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
} catch (err) {
  usage(err.message);
}
const { values, positionals } = parsed;
if (values.help) usage();
// Unset --runs / --warmup: each benchmark's own default (defaultRuns, defaultWarmup), else 20 and 2.
const runs = values.runs === undefined ? undefined : Number(values.runs);
const warmup = values.warmup === undefined ? undefined : Number(values.warmup);
if (runs !== undefined && (!Number.isInteger(runs) || runs < 1))
  usage(`--runs wants a positive integer, not ${values.runs}`);
if (warmup !== undefined && (!Number.isInteger(warmup) || warmup < 0))
  usage(`--warmup wants a non-negative integer, not ${values.warmup}`);
if (runs !== undefined && runs < MIN_RUNS)
  console.error(`bench: warning: ${runs} runs is below ${MIN_RUNS}; medians will be noisy`);

const all = await discover();
if (values.list) {
  for (const [name, b] of all) console.error(`${name}\tvs ${b.anchor}`);
  process.exit(0);
}
const unknown = positionals.filter((n) => !all.has(n));
if (unknown.length > 0) usage(`unknown benchmark ${unknown.join(", ")}; known: ${[...all.keys()].join(", ")}`);
const selected = positionals.length > 0 ? positionals : [...all.keys()];

/** Runs one benchmark in a child process (this script, BERTH_BENCH_CHILD=1); its result, or null if it broke. */
function runInChild(name) {
  const args = [process.argv[1], name, "--json"];
  if (values.runs !== undefined) args.push("--runs", values.runs);
  if (values.warmup !== undefined) args.push("--warmup", values.warmup);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BERTH_BENCH_CHILD: "1" },
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line && code !== 2) return resolve(JSON.parse(line));
      console.error(`bench: ${name} failed: its process ended with ${signal ?? `status ${code}`} and no result`);
      resolve(null);
    });
  });
}

const child = process.env.BERTH_BENCH_CHILD === "1";
const results = [];
let broken = false;
for (const name of selected) {
  if (!child && selected.length > 1) {
    const result = await runInChild(name);
    if (result === null) broken = true;
    else {
      results.push(result);
      if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    }
    continue;
  }
  const b = all.get(name);
  const r = b.measure ? 1 : (runs ?? b.defaultRuns ?? DEFAULT_RUNS);
  const w = b.measure ? 0 : (warmup ?? b.defaultWarmup ?? WARMUP_RUNS);
  if (runs === undefined && r < MIN_RUNS && !b.measure)
    console.error(`bench: ${name}: its own default of ${r} runs (below ${MIN_RUNS}: it is slow); --runs overrides`);
  console.error(`bench: ${name} (${b.measure ? "one measurement" : `${r} runs each, ${w} warm-up`})...`);
  try {
    const result = await runBenchmark(b, { runs: r, warmup: w });
    results.push(result);
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    broken = true;
    console.error(`bench: ${name} failed: ${err?.stack ?? err}`);
  }
}
if (results.length > 0 && !child) console.error(`\n${formatTable(results)}`);
process.exitCode = broken ? 2 : results.some((r) => r.pass === false) ? 1 : 0;
