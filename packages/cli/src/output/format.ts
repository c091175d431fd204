/**
 * --format for lists and single objects: the default table, `json` (one object per line for lists, as
 * Docker's; one array for the views that say so, as Incus's),
 * a Go template per item, or `table {{.A}}\t{{.B}}` (a template with a header row).
 */
import { CliError } from "../framework/errors.js";
import { renderTable } from "./table.js";
import { compileTemplate, TemplateError, templateFields, unescapeFormat } from "./template.js";

export interface TableView<T> {
  readonly headers: readonly string[];
  row(item: T): string[];
  /** The object templates see (docker's ps context: ID, Names, Status ... on top of the wire object). */
  context?(item: T): unknown;
  /** Header names for `table {{.Field}}`. */
  readonly fieldHeaders?: Readonly<Record<string, string>>;
  /** `json` prints one array (Incus's `list --format json`) rather than an object per line (Docker's). */
  readonly jsonArray?: boolean;
}

const headerOf = (field: string, names?: Readonly<Record<string, string>>): string =>
  names?.[field] ??
  field
    .split(".")
    .pop()!
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toUpperCase();

function compile(source: string) {
  try {
    return compileTemplate(source);
  } catch (err) {
    if (err instanceof TemplateError) {
      throw new CliError(`template parsing error: ${err.message}`, {
        hint: "--format '{{json .}}' prints every field there is",
      });
    }
    throw err;
  }
}

function run(tpl: ReturnType<typeof compileTemplate>, data: unknown): string {
  try {
    return tpl(data);
  } catch (err) {
    if (err instanceof TemplateError) throw new CliError(`template: ${err.message}`);
    throw err;
  }
}

export function formatList<T>(items: readonly T[], format: string | undefined, view: TableView<T>): string {
  const ctx = (item: T) => (view.context ? view.context(item) : item);
  if (format === undefined || format === "" || format === "table") {
    return renderTable(
      view.headers,
      items.map((i) => view.row(i)),
    );
  }
  if (format === "json" && view.jsonArray) return `${JSON.stringify(items.map(ctx), null, 2)}\n`;
  if (format === "json") return items.map((i) => `${JSON.stringify(ctx(i))}\n`).join("");
  if (format.startsWith("table ")) {
    const body = format.slice(6);
    const tpl = compile(body);
    const headers = unescapeFormat(body).replace(/\{\{[^}]*\}\}/g, (action) => {
      const [f] = templateFields(action);
      return f ? headerOf(f, view.fieldHeaders) : "";
    });
    const rows = [headers, ...items.map((i) => run(tpl, ctx(i)))].map((line) => line.split("\t"));
    return renderTable(rows[0]!, rows.slice(1));
  }
  const tpl = compile(format);
  return items.map((i) => `${run(tpl, ctx(i))}\n`).join("");
}

/** One object (inspect): pretty JSON by default or with `json`, else the template. */
export function formatObject(item: unknown, format: string | undefined): string {
  if (format === undefined || format === "" || format === "json") return `${JSON.stringify(item, null, 4)}\n`;
  return `${run(compile(format), item)}\n`;
}

/**
 * Plain records (what report verbs, exec, top and logs produce): `json` prints one object per line, a
 * template runs per record, `table` or `table {{...}}` makes a table with the records' keys as headers.
 */
export function formatRecords(records: readonly Record<string, unknown>[], format: string): string {
  const keys = [...new Set(records.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) =>
    v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  return formatList(records, format, {
    headers: keys.map((k) => headerOf(k)),
    row: (r) => keys.map((k) => cell(r[k])),
  });
}

/**
 * One record at a time, for streams (logs, events): `json` or a template compiled once, one line per record.
 * A table needs every row before it can size its columns, so it is refused with the command's example.
 */
export function streamFormatter(format: string, example: string): (record: Record<string, unknown>) => string {
  if (format === "table" || format.startsWith("table "))
    throw new CliError("this --format takes json or a template, not a table", { hint: `e.g. ${example}` });
  if (format === "json") return (r) => `${JSON.stringify(r)}\n`;
  const tpl = compile(format);
  return (r) => `${run(tpl, r)}\n`;
}
