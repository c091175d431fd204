/**
 * A small evaluator for Go's text/template, the subset Docker users write in --format:
 *
 * - fields `{{.Name}}`, `{{.State.Status}}` (exact key first, then case-insensitive, so `.ID` finds `id`),
 *   `{{.}}`, `{{$}}`; a field holding a function is a method: `{{.Label "tier"}}`
 * - functions `json`, `index`, `join`, `upper`, `lower`, `title`, `len`, `printf` (%s %d %v %q),
 *   `truncate`, `println`, pipes `{{.Name | upper}}`, string and number literals
 * - `{{if}} {{else if}} {{else}} {{end}}`, `{{range}} {{else}} {{end}}`, `{{with}} {{end}}`, trim markers `{{- -}}`
 * - `\t` and `\n` written literally in the format are turned into tab and newline, as docker does
 *
 * Values print as Go does: `<no value>` for missing, `[a b]` for lists, `map[k:v]` for objects.
 */

export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

type Expr =
  | { kind: "field"; root: "dot" | "dollar"; path: string[]; args?: Expr[] }
  | { kind: "literal"; value: unknown }
  | { kind: "call"; fn: string; args: Expr[] }
  | { kind: "pipe"; stages: Expr[] };

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; expr: Expr }
  | { kind: "if"; branches: { cond: Expr; body: Node[] }[]; otherwise: Node[] }
  | { kind: "range"; expr: Expr; body: Node[]; otherwise: Node[] }
  | { kind: "with"; expr: Expr; body: Node[]; otherwise: Node[] };

type Token = { kind: "text"; text: string } | { kind: "action"; src: string };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < src.length) {
    const open = src.indexOf("{{", pos);
    if (open < 0) {
      tokens.push({ kind: "text", text: src.slice(pos) });
      break;
    }
    let text = src.slice(pos, open);
    let start = open + 2;
    if (src[start] === "-" && /\s/.test(src[start + 1] ?? "")) {
      text = text.replace(/\s+$/, "");
      start += 1;
    }
    if (text) tokens.push({ kind: "text", text });
    // find the closing braces outside string literals
    let i = start;
    let quote: string | undefined;
    for (; i < src.length; i++) {
      const c = src[i]!;
      if (quote) {
        if (c === "\\" && quote === '"') i++;
        else if (c === quote) quote = undefined;
      } else if (c === '"' || c === "`") quote = c;
      else if (c === "}" && src[i + 1] === "}") break;
    }
    if (i >= src.length) throw new TemplateError(`unclosed action in template: ${src.slice(open)}`);
    let inner = src.slice(start, i);
    pos = i + 2;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      const ws = /^\s*/.exec(src.slice(pos))![0];
      pos += ws.length;
    }
    tokens.push({ kind: "action", src: inner.trim() });
  }
  return tokens;
}

function lexAction(src: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\||\(|\)|[^\s|()]+)/y;
  let pos = 0;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    out.push(m[1]!);
    pos = re.lastIndex;
  }
  if (src.slice(pos).trim()) throw new TemplateError(`cannot parse action: {{${src}}}`);
  return out;
}

function parseExpr(words: string[]): Expr {
  let pos = 0;
  const operand = (): Expr => {
    const w = words[pos++];
    if (w === undefined) throw new TemplateError("missing value in action");
    if (w === "(") {
      const inner = pipeline(")");
      if (words[pos++] !== ")") throw new TemplateError("unclosed parenthesis");
      return inner;
    }
    if (w.startsWith('"')) return { kind: "literal", value: JSON.parse(w) as string };
    if (w.startsWith("`")) return { kind: "literal", value: w.slice(1, -1) };
    if (/^-?\d+(\.\d+)?$/.test(w)) return { kind: "literal", value: Number(w) };
    if (w === "true" || w === "false") return { kind: "literal", value: w === "true" };
    if (w === "nil") return { kind: "literal", value: undefined };
    if (w === "." || w === "$") return { kind: "field", root: w === "." ? "dot" : "dollar", path: [] };
    if (w.startsWith(".")) return { kind: "field", root: "dot", path: w.slice(1).split(".") };
    if (w.startsWith("$.")) return { kind: "field", root: "dollar", path: w.slice(2).split(".") };
    if (/^[a-zA-Z_]\w*$/.test(w)) return { kind: "call", fn: w, args: [] };
    throw new TemplateError(`unexpected "${w}" in action`);
  };
  const command = (end?: string): Expr => {
    const first = operand();
    const args: Expr[] = [];
    while (pos < words.length && words[pos] !== "|" && words[pos] !== end) args.push(operand());
    if (first.kind === "call") return { kind: "call", fn: first.fn, args };
    if (args.length) {
      // a method with arguments, as Docker's ps context has: {{.Label "com.example.tier"}}
      if (first.kind !== "field" || first.path.length === 0)
        throw new TemplateError("only functions and methods take arguments");
      return { ...first, args };
    }
    return first;
  };
  const pipeline = (end?: string): Expr => {
    const stages = [command(end)];
    while (words[pos] === "|") {
      pos++;
      stages.push(command(end));
    }
    return stages.length === 1 ? stages[0]! : { kind: "pipe", stages };
  };
  const e = pipeline();
  if (pos < words.length) throw new TemplateError(`unexpected "${words[pos]}" in action`);
  return e;
}

function parse(tokens: Token[]): Node[] {
  let pos = 0;
  // returns the nodes and the keyword that closed them (end / else ...)
  const block = (inBlock: boolean): { nodes: Node[]; closer?: string[] } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++]!;
      if (t.kind === "text") {
        nodes.push({ kind: "text", text: t.text });
        continue;
      }
      if (t.src.startsWith("/*")) continue; // comment
      const words = lexAction(t.src);
      const head = words[0];
      if (head === "end" || head === "else") {
        if (!inBlock) throw new TemplateError(`unexpected {{${head}}}`);
        return { nodes, closer: words };
      }
      if (head === "if" || head === "range" || head === "with") {
        const expr = parseExpr(words.slice(1));
        const inner = block(true);
        if (head === "if") {
          const branches = [{ cond: expr, body: inner.nodes }];
          let closer = inner.closer;
          let otherwise: Node[] = [];
          while (closer?.[0] === "else") {
            if (closer[1] === "if") {
              const cond = parseExpr(closer.slice(2));
              const next = block(true);
              branches.push({ cond, body: next.nodes });
              closer = next.closer;
            } else {
              const next = block(true);
              otherwise = next.nodes;
              closer = next.closer;
            }
          }
          if (closer?.[0] !== "end") throw new TemplateError(`missing {{end}} for {{if}}`);
          nodes.push({ kind: "if", branches, otherwise });
        } else {
          let otherwise: Node[] = [];
          let closer = inner.closer;
          if (closer?.[0] === "else") {
            const next = block(true);
            otherwise = next.nodes;
            closer = next.closer;
          }
          if (closer?.[0] !== "end") throw new TemplateError(`missing {{end}} for {{${head}}}`);
          nodes.push({ kind: head, expr, body: inner.nodes, otherwise });
        }
        continue;
      }
      nodes.push({ kind: "action", expr: parseExpr(words) });
    }
    if (inBlock) throw new TemplateError("missing {{end}}");
    return { nodes };
  };
  return block(false).nodes;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function field(value: unknown, name: string): unknown {
  if (!isObject(value)) {
    if (value === undefined || value === null) return undefined;
    throw new TemplateError(`can't evaluate field ${name} in type ${Array.isArray(value) ? "list" : typeof value}`);
  }
  if (name in value) return value[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(value)) if (k.toLowerCase() === lower) return value[k];
  return undefined;
}

const truthy = (v: unknown): boolean =>
  Array.isArray(v) ? v.length > 0 : isObject(v) ? Object.keys(v).length > 0 : Boolean(v);

/** Prints a value as Go's fmt %v would. */
export function goString(v: unknown): string {
  if (v === undefined || v === null) return "<no value>";
  if (Array.isArray(v)) return `[${v.map(goString).join(" ")}]`;
  if (isObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => typeof v[k] !== "function")
      .sort();
    return `map[${keys.map((k) => `${k}:${goString(v[k])}`).join(" ")}]`;
  }
  return String(v);
}

function printf(format: string, args: unknown[]): string {
  let i = 0;
  return format.replace(/%([-+ 0#]*\d*(?:\.\d+)?)([svdqfx%])/g, (_, mods: string, verb: string) => {
    if (verb === "%") return "%";
    const a = args[i++];
    let s: string;
    if (verb === "q") s = JSON.stringify(String(a ?? ""));
    else if (verb === "d") s = String(Math.trunc(Number(a)));
    else if (verb === "f") {
      const p = /\.(\d+)/.exec(mods);
      s = Number(a).toFixed(p ? Number(p[1]) : 6);
    } else if (verb === "x") s = Number(a).toString(16);
    else s = goString(a);
    const w = /(-?)(\d+)/.exec(mods.replace(/\.\d+/, ""));
    if (w) s = w[1] ? s.padEnd(Number(w[2])) : s.padStart(Number(w[2]));
    return s;
  });
}

const functions: Record<string, (...args: unknown[]) => unknown> = {
  json: (v) => JSON.stringify(v ?? null),
  index: (v, ...keys) => {
    let cur = v;
    for (const k of keys) {
      if (Array.isArray(cur)) cur = cur[Number(k)];
      else if (isObject(cur)) cur = cur[String(k)];
      else return undefined;
    }
    return cur;
  },
  join: (list, sep) =>
    (Array.isArray(list) ? list.map((x) => (typeof x === "string" ? x : goString(x))) : []).join(String(sep ?? "")),
  upper: (s) => String(s ?? "").toUpperCase(),
  lower: (s) => String(s ?? "").toLowerCase(),
  title: (s) => String(s ?? "").replace(/\b\w/g, (c) => c.toUpperCase()),
  len: (v) => (Array.isArray(v) || typeof v === "string" ? v.length : isObject(v) ? Object.keys(v).length : 0),
  printf: (fmt, ...args) => printf(String(fmt), args),
  println: (...args) => `${args.map(goString).join(" ")}\n`,
  print: (...args) => args.map(goString).join(""),
  truncate: (s, n) => String(s ?? "").slice(0, Number(n)),
  split: (s, sep) => String(s ?? "").split(String(sep)),
  not: (v) => !truthy(v),
  and: (...xs) => xs.find((x) => !truthy(x)) ?? xs[xs.length - 1],
  or: (...xs) => xs.find((x) => truthy(x)) ?? xs[xs.length - 1],
  eq: (a, ...bs) => bs.some((b) => a === b),
  ne: (a, b) => a !== b,
  pad: (s, n) => String(s ?? "").padEnd(Number(n)),
};

function evaluate(e: Expr, dot: unknown, root: unknown, piped?: { value: unknown }): unknown {
  switch (e.kind) {
    case "literal":
      return e.value;
    case "field": {
      let v = e.root === "dot" ? dot : root;
      for (const name of e.path) v = field(v, name);
      if (typeof v === "function") {
        const args = (e.args ?? []).map((a) => evaluate(a, dot, root));
        if (piped) args.push(piped.value);
        return (v as (...a: unknown[]) => unknown)(...args);
      }
      if (e.args?.length || piped)
        throw new TemplateError(`.${e.path.join(".")} is not a method; it takes no arguments`);
      return v;
    }
    case "call": {
      const fn = functions[e.fn];
      if (!fn) throw new TemplateError(`function "${e.fn}" not defined`);
      const args = e.args.map((a) => evaluate(a, dot, root));
      if (piped) args.push(piped.value);
      return fn(...args);
    }
    case "pipe": {
      let value = evaluate(e.stages[0]!, dot, root);
      for (const stage of e.stages.slice(1)) {
        if (stage.kind !== "call" && stage.kind !== "field")
          throw new TemplateError("only functions and methods can follow a pipe");
        value = evaluate(stage, dot, root, { value });
      }
      return value;
    }
  }
}

function render(nodes: Node[], dot: unknown, root: unknown): string {
  let out = "";
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
        out += n.text;
        break;
      case "action": {
        const v = evaluate(n.expr, dot, root);
        out += typeof v === "string" ? v : goString(v);
        break;
      }
      case "if": {
        const branch = n.branches.find((b) => truthy(evaluate(b.cond, dot, root)));
        out += render(branch ? branch.body : n.otherwise, dot, root);
        break;
      }
      case "with": {
        const v = evaluate(n.expr, dot, root);
        out += truthy(v) ? render(n.body, v, root) : render(n.otherwise, dot, root);
        break;
      }
      case "range": {
        const v = evaluate(n.expr, dot, root);
        const items = Array.isArray(v)
          ? v
          : isObject(v)
            ? Object.keys(v)
                .sort()
                .map((k) => v[k])
            : [];
        if (items.length === 0) out += render(n.otherwise, dot, root);
        for (const item of items) out += render(n.body, item, root);
        break;
      }
    }
  }
  return out;
}

/** Docker unescapes literal \t and \n typed in a shell. */
export const unescapeFormat = (format: string): string => format.replace(/\\t/g, "\t").replace(/\\n/g, "\n");

export interface Template {
  (data: unknown): string;
  readonly source: string;
}

/** Compiles once, renders many times. Throws TemplateError on a malformed template. */
export function compileTemplate(source: string): Template {
  const nodes = parse(tokenize(unescapeFormat(source)));
  const fn = (data: unknown) => render(nodes, data, data);
  return Object.assign(fn, { source });
}

/** The field paths a template names at its top level, in order: "{{.ID}}\t{{.Names}}" → ["ID", "Names"]. */
export function templateFields(source: string): string[] {
  return [...source.matchAll(/\{\{-?\s*(?:[a-z]+\s+)?\.([\w.]+)[^}]*\}\}/g)].map((m) => m[1]!);
}
