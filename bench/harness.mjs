// The benchmark harness: runs a subject (berth) and its anchor (a peer tool) interleaved in the same
// process and reports medians, p90s and the ratio between them.
//
// A benchmark module exports (as named exports or a default object):
//   name          string, the name used on the command line
//   anchor        string, what the subject is compared with (e.g. "runc run")
//   target?       { maxRatio?, maxOverheadMs?, maxMedianMs? }: declared pass criteria
//   setup(ctx)    once before any run; may call ctx.skipSubject(reason) to measure only the anchor
//   subject(ctx)  one timed run of berth; may return an untimed clean-up function (also anchorRun)
//   anchorRun(ctx) one timed run of the anchor; absent when `anchor` is "none" (only berth is timed)
//   teardown(ctx) once at the end, also after a failure
//   defaultRuns?, defaultWarmup?  the benchmark's own defaults when --runs / --warmup are not given (slow ones)
//   measure(ctx)  instead of subject/anchorRun: a benchmark that is not a timing (e.g. memory) returns the
//                 result fields itself, including `ratio` when target.maxRatio is declared
// ctx: { runs, tmp (a fresh temp dir, removed afterwards), run (index of the current run, -1/-2 in warm-up),
//        uniqueId(prefix), log(...args) (to stderr), skipSubject(reason), state (free for the module) }
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

export const DEFAULT_RUNS = 20;
export const MIN_RUNS = 20;
export const WARMUP_RUNS = 2;

/** The q-quantile (0..1) of sorted numbers, by linear interpolation between closest ranks. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Milliseconds rounded to what the machine noise allows: 0.01 ms below 100 ms, 0.1 ms above. */
export const roundMs = (ms) =>
  ms === null || !Number.isFinite(ms) ? null : Math.round(ms * (ms < 100 ? 100 : 10)) / (ms < 100 ? 100 : 10);
const round3 = (x) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000);

function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), min: sorted[0], max: sorted.at(-1) };
}

/** Checks a declared target; returns { pass, why } with `why` naming each failed criterion. */
export function checkTarget(target, median, anchorMedian) {
  if (!target || median === null) return { pass: null, why: [] };
  const why = [];
  if (target.maxRatio !== undefined && anchorMedian !== null && median / anchorMedian > target.maxRatio) {
    why.push(`ratio ${round3(median / anchorMedian)} > ${target.maxRatio}`);
  }
  if (target.maxOverheadMs !== undefined && anchorMedian !== null && median - anchorMedian > target.maxOverheadMs) {
    why.push(`overhead ${roundMs(median - anchorMedian)} ms > ${target.maxOverheadMs} ms`);
  }
  if (target.maxMedianMs !== undefined && median > target.maxMedianMs) {
    why.push(`median ${roundMs(median)} ms > ${target.maxMedianMs} ms`);
  }
  return { pass: why.length === 0, why };
}

/** Times one run. A run may return a function: its clean-up, called after the clock stops (untimed). */
async function timed(fn, ctx) {
  const start = performance.now();
  const after = await fn(ctx);
  const ms = performance.now() - start;
  if (typeof after === "function") await after();
  return ms;
}

/**
 * Runs one benchmark module: setup, warm-up, `runs` interleaved pairs (subject, anchor, then anchor, subject,
 * alternating which goes first), teardown. Returns the result object printed as one JSON line.
 */
export async function runBenchmark(bench, { runs, warmup, log = console.error } = {}) {
  runs ??= bench.defaultRuns ?? DEFAULT_RUNS;
  warmup ??= bench.defaultWarmup ?? WARMUP_RUNS;
  if (typeof bench.measure === "function") return runMeasure(bench, log);
  const hasAnchor = typeof bench.anchorRun === "function";
  let counter = 0;
  let subjectSkipped = null;
  const ctx = {
    runs,
    run: 0,
    tmp: await mkdtemp(join(tmpdir(), `berth-bench-${bench.name}-`)),
    state: {},
    uniqueId: (prefix = bench.name) => `${prefix}-${process.pid}-${counter++}`,
    log: (...args) => log(`[${bench.name}]`, ...args),
    skipSubject: (reason) => {
      subjectSkipped = String(reason);
    },
  };
  const subject = [];
  const anchor = [];
  try {
    await bench.setup?.(ctx);
    const hasSubject = () => subjectSkipped === null;
    for (let i = 0; i < warmup; i++) {
      ctx.run = -1 - i;
      if (hasSubject()) await timed(bench.subject, ctx);
      if (hasAnchor) await timed(bench.anchorRun, ctx);
    }
    for (let i = 0; i < runs; i++) {
      ctx.run = i;
      const subjectFirst = i % 2 === 0;
      if (subjectFirst && hasSubject()) subject.push(await timed(bench.subject, ctx));
      if (hasAnchor) anchor.push(await timed(bench.anchorRun, ctx));
      if (!subjectFirst && hasSubject()) subject.push(await timed(bench.subject, ctx));
    }
  } finally {
    try {
      await bench.teardown?.(ctx);
    } finally {
      await rm(ctx.tmp, { recursive: true, force: true });
    }
  }

  const s = subject.length > 0 ? summarize(subject) : null;
  const a = hasAnchor ? summarize(anchor) : { median: null, p90: null };
  const median = s ? s.median : null;
  const both = median !== null && a.median !== null;
  const result = {
    bench: bench.name,
    subject: "berth",
    anchor: bench.anchor ?? "none",
    median_ms: roundMs(median),
    anchor_median_ms: roundMs(a.median),
    ratio: both ? round3(median / a.median) : null,
    runs,
    p90_ms: roundMs(s ? s.p90 : null),
    anchor_p90_ms: roundMs(a.p90),
    overhead_ms: both ? roundMs(median - a.median) : null,
  };
  if (bench.target) {
    const { pass, why } = checkTarget(bench.target, median, a.median);
    result.target = bench.target;
    result.pass = pass;
    if (why.length > 0) result.failed = why;
  }
  if (subjectSkipped !== null) result.skipped_subject = subjectSkipped;
  return result;
}

/** A non-timing benchmark: setup, one `measure`, teardown; the fields it returns, then target and pass. */
async function runMeasure(bench, log) {
  let counter = 0;
  const ctx = {
    runs: 1,
    run: 0,
    tmp: await mkdtemp(join(tmpdir(), `berth-bench-${bench.name}-`)),
    state: {},
    uniqueId: (prefix = bench.name) => `${prefix}-${process.pid}-${counter++}`,
    log: (...args) => log(`[${bench.name}]`, ...args),
    skipSubject: () => {},
  };
  let measured;
  try {
    await bench.setup?.(ctx);
    measured = await bench.measure(ctx);
  } finally {
    try {
      await bench.teardown?.(ctx);
    } finally {
      await rm(ctx.tmp, { recursive: true, force: true });
    }
  }
  const result = { bench: bench.name, subject: "berth", anchor: bench.anchor ?? "none", ...measured };
  if (bench.target) {
    const t = bench.target;
    const why = [];
    if (t.maxRatio !== undefined && measured.ratio !== null && measured.ratio > t.maxRatio) {
      why.push(`ratio ${measured.ratio} > ${t.maxRatio}`);
    }
    result.target = t;
    result.pass = measured.ratio === null || measured.ratio === undefined ? null : why.length === 0;
    if (why.length > 0) result.failed = why;
  }
  return result;
}

/** The human table, for stderr. */
export function formatTable(results) {
  const head = ["bench", "anchor", "berth ms", "p90", "anchor ms", "p90", "ratio", "+ms", "runs", "target"];
  const cell = (v) => (v === null || v === undefined ? "-" : String(v));
  const targetText = (r) => {
    if (!r.target) return "";
    const t = r.target;
    const parts = [];
    if (t.maxRatio !== undefined) parts.push(`ratio<=${t.maxRatio}`);
    if (t.maxOverheadMs !== undefined) parts.push(`+ms<=${t.maxOverheadMs}`);
    if (t.maxMedianMs !== undefined) parts.push(`ms<=${t.maxMedianMs}`);
    const verdict = r.pass === null ? "n/a" : r.pass ? "PASS" : "FAIL";
    return `${parts.join(",")} ${verdict}`;
  };
  const rows = results.map((r) => [
    r.bench,
    r.anchor,
    cell(r.median_ms),
    cell(r.p90_ms),
    cell(r.anchor_median_ms),
    cell(r.anchor_p90_ms),
    cell(r.ratio),
    cell(r.overhead_ms),
    cell(r.runs),
    targetText(r),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (row) => row.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  const notes = results.flatMap((r) => [
    ...(r.skipped_subject ? [`${r.bench}: berth not measured: ${r.skipped_subject}`] : []),
    ...(r.failed ? [`${r.bench}: target missed: ${r.failed.join("; ")}`] : []),
  ]);
  return [line(head), ...rows.map(line), ...notes].join("\n");
}
