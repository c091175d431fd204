/**
 * `.containerignore` / `.dockerignore` matching with Docker's rules (moby/patternmatcher): Go
 * filepath.Match patterns plus `**`, `!` exceptions where the last matching line wins, a leading `/`
 * stripped, `.` and `..` cleaned, `#` comments; a pattern that matches a directory excludes what is in it.
 *
 * ```ts
 * const ignored = makeIgnoreMatcher("*.md\n!README.md\n");
 * ignored("docs/x.md", false); // false: *.md matches at the top level only
 * ignored("CHANGES.md", false); // true
 * ```
 */
import { LibctError } from "../../errors.js";

export interface IgnorePattern {
  /** 1-based line in the ignore file. */
  readonly line: number;
  /** The cleaned pattern, without `!`. */
  readonly pattern: string;
  /** True for `!pattern` lines, which put matching paths back in. */
  readonly exclusion: boolean;
  readonly matches: (path: string) => boolean;
}

/** `(relPath, isDir) => true` when the path is left out of the build context. */
export interface IgnoreMatcher {
  (relPath: string, isDir: boolean): boolean;
  readonly patterns: readonly IgnorePattern[];
}

/** Parses an ignore file; a bad pattern throws an "invalid" LibctError naming the line. */
export function parseIgnoreFile(text: string, fileName = ".containerignore"): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  text
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/)
    .forEach((raw, n) => {
      if (raw.startsWith("#")) return;
      let pattern = raw.trim();
      if (pattern === "") return;
      const exclusion = pattern.startsWith("!");
      if (exclusion) pattern = pattern.slice(1).trim();
      if (pattern === "")
        throw new LibctError("invalid", `${fileName} line ${n + 1}: "!" needs a pattern after it, e.g. !README.md`);
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
      let matches: (path: string) => boolean;
      try {
        matches = compile(pattern);
      } catch {
        throw new LibctError(
          "invalid",
          `${fileName} line ${n + 1}: bad pattern "${raw.trim()}"; check [ ] pairs and a trailing \\`,
        );
      }
      patterns.push({ line: n + 1, pattern, exclusion, matches });
    });
  return patterns;
}

/**
 * The ignore predicate for a context directory. Paths are relative to the context, with "/" separators.
 * For a directory, true means the whole tree under it can be skipped: a directory that is ignored but
 * may contain paths an `!` line puts back answers false, so that the walker descends into it.
 */
export function makeIgnoreMatcher(text: string, fileName?: string): IgnoreMatcher {
  const patterns = parseIgnoreFile(text, fileName);
  const exceptions = patterns.filter((p) => p.exclusion);
  const matcher = (relPath: string, isDir: boolean): boolean => {
    const path = goClean(relPath.replace(/^\/+/, ""));
    if (path === "." || path === "") return false;
    if (!ignored(patterns, path)) return false;
    return !(isDir && exceptions.some((p) => mayMatchUnder(p.pattern, path)));
  };
  return Object.assign(matcher, { patterns });
}

/** patternmatcher.MatchesOrParentMatches: each line in turn, a match on the path or any parent counts. */
function ignored(patterns: readonly IgnorePattern[], path: string): boolean {
  const slash = path.lastIndexOf("/");
  const parents = slash < 0 ? [] : path.slice(0, slash).split("/");
  let matched = false;
  for (const p of patterns) {
    if (p.exclusion !== matched) continue;
    let match = p.matches(path);
    for (let i = 0; !match && i < parents.length; i++) match = p.matches(parents.slice(0, i + 1).join("/"));
    if (match) matched = !p.exclusion;
  }
  return matched;
}

/** Whether `pattern` could match something strictly inside directory `dir` (conservative: true when unsure). */
function mayMatchUnder(pattern: string, dir: string): boolean {
  const p = pattern.split("/");
  const d = dir.split("/");
  for (let i = 0; i < d.length; i++) {
    if (i >= p.length) return true; // the pattern matches an ancestor; later lines decide
    if (p[i]!.includes("**")) return true;
    if (!segmentRegExp(p[i]!).test(d[i]!)) return false;
  }
  return true;
}

function segmentRegExp(segment: string): RegExp {
  return new RegExp(`^${globToRegExp(segment).source}$`);
}

/** Regexp metacharacters that mean nothing in filepath.Match (patternmatcher escapes exactly these). */
const REGEXP_SPECIALS = new Set([...("." + "+()|{}$")]);

/** Go's pattern-to-regexp translation for one pattern, with patternmatcher's four match kinds. */
function compile(pattern: string): (path: string) => boolean {
  const chars = [...pattern];
  let re = "^";
  let kind: "exact" | "prefix" | "suffix" | "regexp" = "exact";
  for (let i = 0, step = 0; i < chars.length; i++, step++) {
    const ch = chars[i]!;
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        i++;
        if (chars[i + 1] === "/") i++;
        if (i + 1 >= chars.length) {
          if (kind === "exact") kind = "prefix";
          else {
            re += ".*";
            kind = "regexp";
          }
        } else {
          re += "(.*/)?";
          kind = "regexp";
        }
        if (step === 0) kind = "suffix";
      } else {
        re += "[^/]*";
        kind = "regexp";
      }
    } else if (ch === "?") {
      re += "[^/]";
      kind = "regexp";
    } else if (REGEXP_SPECIALS.has(ch)) re += `\\${ch}`;
    else if (ch === "\\") {
      const next = chars[++i];
      if (next === undefined) throw new Error("trailing backslash");
      re += /[A-Za-z0-9]/.test(next) ? next : `\\${next}`;
      kind = "regexp";
    } else if (ch === "[" || ch === "]") {
      re += ch;
      kind = "regexp";
    } else re += ch;
  }
  const regexp = new RegExp(`${re}$`); // compiled for every kind, so that a bad pattern fails here
  switch (kind) {
    case "exact":
      return (path) => path === pattern;
    case "prefix": {
      const prefix = pattern.slice(0, -2);
      return (path) => path.startsWith(prefix);
    }
    case "suffix": {
      const suffix = pattern.slice(2);
      return (path) => path.endsWith(suffix) || (suffix.startsWith("/") && path === suffix.slice(1));
    }
    case "regexp":
      return (path) => regexp.test(path);
  }
}

/** One path segment's glob as a RegExp source (no anchors). */
function globToRegExp(segment: string): RegExp {
  let re = "";
  const chars = [...segment];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "[" || ch === "]") re += ch;
    else if (ch === "\\" && i + 1 < chars.length) {
      const next = chars[++i]!;
      re += /[A-Za-z0-9]/.test(next) ? next : `\\${next}`;
    } else re += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  try {
    return new RegExp(re);
  } catch {
    return /[\s\S]*/; // unsure: treat as "may match"
  }
}

/** Go's path.Clean: "" -> ".", no "//", "." or trailing "/", ".." resolved where possible. */
export function goClean(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
    } else out.push(part);
  }
  const joined = out.join("/");
  return rooted ? `/${joined}` : joined || ".";
}
