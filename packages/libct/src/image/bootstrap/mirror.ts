/**
 * The Debian mirror the host's apt already uses, so bootstrapping contacts nothing else. Parsing (pure) is
 * kept apart from reading /etc/apt.
 *
 * ```ts
 * const mirror = await readHostDebianMirror(); // e.g. the URIs: of the bookworm stanza in debian.sources
 * ```
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { LibctError } from "../../errors.js";
import { isMirrorUrl } from "./spec.js";

/** One apt source: a stanza of a .sources file or a `deb` line of a .list file. */
export interface AptSource {
  readonly types: readonly string[];
  readonly uris: readonly string[];
  readonly suites: readonly string[];
  readonly enabled: boolean;
}

/** Parses a deb822 `.sources` file: stanzas split by blank lines, `Field: value` with continuation lines. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split("\n")) {
      if (line.startsWith("#") || line.trim() === "") continue;
      if (/^[ \t]/.test(line) && last !== undefined) {
        fields.set(last, `${fields.get(last) ?? ""} ${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):(.*)$/.exec(line);
      if (!m) continue;
      last = m[1]!.toLowerCase();
      fields.set(last, m[2]!.trim());
    }
    const words = (key: string) => (fields.get(key) ?? "").split(/\s+/).filter(Boolean);
    if (!fields.has("uris")) continue;
    out.push({
      types: words("types"),
      uris: words("uris"),
      suites: words("suites"),
      enabled: (fields.get("enabled") ?? "yes").toLowerCase() !== "no",
    });
  }
  return out;
}

/** Parses a one-line `sources.list`: `deb [options] URI SUITE [COMPONENT...]`. */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m) out.push({ types: [m[1]!], uris: [m[2]!], suites: [m[3]!], enabled: true });
  }
  return out;
}

/**
 * The main-archive URI among `sources`: the first enabled `deb` source with a plain suite (bookworm, not
 * bookworm-security or bookworm-updates), else the first enabled `deb` source whose URI is not a security
 * archive. undefined when there is none.
 */
export function pickDebianMirror(sources: readonly AptSource[]): string | undefined {
  const usable = sources.filter((s) => s.enabled && s.types.includes("deb"));
  const urls = (s: AptSource) => s.uris.filter(isMirrorUrl);
  const main = usable.find((s) => s.suites.some((suite) => /^[a-z]+$/.test(suite)) && urls(s).length > 0);
  if (main) return urls(main)[0];
  return usable.flatMap(urls).find((u) => !/security/.test(u));
}

/** Where apt's sources live; tests point this at a fixture. */
export const APT_ETC = "/etc/apt";

/**
 * Reads the host's apt sources (sources.list, then sources.list.d/*.list and *.sources in name order, as apt
 * does) and returns the Debian mirror they use. Rejects with "precondition" when none is configured.
 */
export async function readHostDebianMirror(aptEtc: string = APT_ETC): Promise<string> {
  const sources: AptSource[] = [];
  const read = (p: string) => readFile(p, "utf8").catch(() => "");
  sources.push(...parseOneLineSources(await read(join(aptEtc, "sources.list"))));
  const names = (await readdir(join(aptEtc, "sources.list.d")).catch(() => [] as string[])).sort();
  for (const name of names) {
    const path = join(aptEtc, "sources.list.d", name);
    if (name.endsWith(".sources")) sources.push(...parseDeb822Sources(await read(path)));
    else if (name.endsWith(".list")) sources.push(...parseOneLineSources(await read(path)));
  }
  const mirror = pickDebianMirror(sources);
  if (mirror === undefined) {
    throw new LibctError(
      "precondition",
      `no Debian mirror in ${aptEtc}/sources.list or ${aptEtc}/sources.list.d; configure apt or pass a mirror`,
    );
  }
  return mirror.replace(/\/+$/, "");
}
