/** Column tables as docker prints them (tabwriter, padding 3, the last column not padded). */

const width = (s: string) => [...s].length;

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const cols = Math.max(...all.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, c) => Math.max(...all.map((r) => width(r[c] ?? ""))));
  return all
    .map((r) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell + " ".repeat(widths[c]! - width(cell) + 3)))
        .join("")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}

/** Cuts to n characters with an ellipsis, as docker's ps does for COMMAND. */
export function ellipsis(s: string, n: number): string {
  return width(s) <= n ? s : `${[...s].slice(0, n - 1).join("")}…`;
}
