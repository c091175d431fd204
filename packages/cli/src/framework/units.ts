/**
 * Docker's unit parsing: sizes ("256m" → bytes, as docker/go-units RAMInBytes) and Go durations
 * ("1m30s" → milliseconds, as time.ParseDuration). Pure functions that throw `UnitError` with a hint.
 */

export class UnitError extends Error {
  override readonly name = "UnitError";
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const sizeUnits: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * Parses a size with binary units: "256m", "1.5g", "512MiB", "1024" (bytes), "2kb".
 * `allowMinusOne` lets "-1" through (Docker's "unlimited" for --memory-swap).
 */
export function parseSize(text: string, { allowMinusOne = false } = {}): number {
  const t = text.trim();
  if (allowMinusOne && t === "-1") return -1;
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([kmgtp]?)(i?b)?$/i.exec(t);
  if (!m) {
    throw new UnitError(`invalid size: '${text}'`, "use a number with an optional unit: b, k, m, g, t (e.g. 256m)");
  }
  const unit = (m[2] ?? "").toLowerCase();
  if (m[3] && /^ib$/i.test(m[3]) && !unit) throw new UnitError(`invalid size: '${text}'`, "e.g. 256m or 256MiB");
  const bytes = Number(m[1]) * (sizeUnits[unit] ?? 1);
  if (!Number.isFinite(bytes) || bytes > Number.MAX_SAFE_INTEGER) throw new UnitError(`size too large: '${text}'`);
  return Math.floor(bytes);
}

/** Formats bytes Docker-style with decimal units: 1.23MB, 512B. */
export function formatSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(3))}${units[i]}`;
}

/** Formats bytes with binary units, as `docker stats`: 1.5MiB. */
export function formatBinarySize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2)}${units[i]}`;
}

const durationUnits: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3, // µs (micro sign), as Go accepts
  "\u03bcs": 1e-3, // μs (Greek mu), as Go accepts
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration ("1h30m", "1.5s", "300ms") to milliseconds. "0" alone is allowed. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (t === "0") return 0;
  if (/^\d+(\.\d+)?$/.test(t)) {
    throw new UnitError(`invalid duration: '${text}': missing unit`, `add a unit: ${t}s, ${t}ms, ${t}m or ${t}h`);
  }
  // \u escapes rather than µ and μ: one non-ASCII character makes V8 hold the whole CLI bundle as UTF-16.
  const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null = re.exec(t);
  while (m) {
    total += Number(m[1]) * (durationUnits[m[2]!] ?? 0);
    pos = re.lastIndex;
    m = re.exec(t);
  }
  if (pos === 0 || pos !== t.length) {
    throw new UnitError(`invalid duration: '${text}'`, "use Go's form, e.g. 30s, 1m30s, 500ms, 2h");
  }
  return total;
}

/** Formats milliseconds as a Go duration: 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${Number(s.toFixed(3))}s`;
}

/** "About a minute", "5 minutes", "2 hours": Docker's HumanDuration for `ps` columns. */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const min = Math.round(s / 60);
  if (min === 1) return "About a minute";
  if (min < 60) return `${min} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}
