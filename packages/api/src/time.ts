/**
 * Times as Docker's `--since`/`--until` take them, for client and daemon alike: an RFC 3339 time, Unix seconds
 * (fractions allowed), or a Go duration counted back from `now` ("10m", "1h30m", "1.5h", "500ms").
 * Returns epoch milliseconds, or undefined when `v` is none of those.
 */
export function parseDockerTime(v: string, now = Date.now()): number | undefined {
  if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v)) {
    let ms = 0;
    for (const [, n, u] of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
      ms += Number(n) * UNIT_MS[u as keyof typeof UNIT_MS];
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

const UNIT_MS = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6 } as const;
