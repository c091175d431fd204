/**
 * Docker's word processing for Containerfile arguments: quote removal, escapes and variable
 * substitution (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`, `${VAR:?message}`, the colon-less
 * forms, and `${VAR#glob}`, `${VAR##glob}`, `${VAR%glob}`, `${VAR%%glob}`). Unset variables become "".
 */
import { splitRawWords } from "./lexer.js";

/** Returns a variable's value, or undefined when it is not set. */
export type Lookup = (name: string) => string | undefined;

export class WordError extends Error {}

export interface WordOptions {
  /** The escape character from `# escape=`. */
  readonly escape: string;
  /** Heredoc bodies: expand variables only, leave quotes and other escapes alone. */
  readonly variablesOnly?: boolean;
}

/** Processes one word (spaces kept), as Docker does for WORKDIR, ENV values and each COPY source. */
export function processWord(word: string, lookup: Lookup, opts: WordOptions): string {
  const lexer = new WordLexer(word, lookup, opts);
  const out = lexer.until("");
  return out;
}

/** Splits on unquoted whitespace, then processes each word (EXPOSE, VOLUME, USER, FROM). */
export function processWords(text: string, lookup: Lookup, opts: WordOptions): string[] {
  return splitRawWords(text, opts.escape).map((w) => processWord(w, lookup, opts));
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class WordLexer {
  private pos = 0;
  constructor(
    private readonly src: string,
    private readonly lookup: Lookup,
    private readonly opts: WordOptions,
  ) {}

  /** Reads until `stop` (not consumed) or the end when stop is "". */
  until(stop: string): string {
    const { src, opts } = this;
    let out = "";
    while (this.pos < src.length) {
      const ch = src[this.pos]!;
      if (stop !== "" && ch === stop) return out;
      if (ch === opts.escape) {
        const next = src[this.pos + 1];
        if (opts.variablesOnly) {
          if (next === "$" || next === opts.escape) {
            out += next;
            this.pos += 2;
          } else {
            out += ch;
            this.pos++;
          }
          continue;
        }
        this.pos += 2;
        if (next !== undefined) out += next;
        continue;
      }
      if (!opts.variablesOnly && ch === "'") out += this.singleQuoted();
      else if (!opts.variablesOnly && ch === '"') out += this.doubleQuoted();
      else if (ch === "$") out += this.dollar();
      else {
        out += ch;
        this.pos++;
      }
    }
    if (stop !== "") throw new WordError(`missing "${stop}" in "${src}"`);
    return out;
  }

  private singleQuoted(): string {
    const end = this.src.indexOf("'", this.pos + 1);
    if (end < 0) throw new WordError(`unterminated single quote in ${this.src}; close it with '`);
    const text = this.src.slice(this.pos + 1, end);
    this.pos = end + 1;
    return text;
  }

  private doubleQuoted(): string {
    const { src, opts } = this;
    let out = "";
    this.pos++;
    while (this.pos < src.length) {
      const ch = src[this.pos]!;
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === "$") {
        out += this.dollar();
        continue;
      }
      if (ch === opts.escape) {
        const next = src[this.pos + 1];
        if (next === '"' || next === "$" || next === opts.escape) {
          out += next;
          this.pos += 2;
          continue;
        }
      }
      out += ch;
      this.pos++;
    }
    throw new WordError(`unterminated double quote in ${src}; close it with "`);
  }

  private dollar(): string {
    const { src } = this;
    this.pos++; // the $
    const ch = src[this.pos];
    if (ch === "{") return this.braced();
    if (ch !== undefined && /[0-9]/.test(ch)) {
      this.pos++;
      return this.get(ch) ?? "";
    }
    if (ch === undefined || !NAME_START.test(ch)) return "$";
    const name = this.name();
    return this.get(name) ?? "";
  }

  private name(): string {
    const start = this.pos;
    while (this.pos < this.src.length && NAME_CHAR.test(this.src[this.pos]!)) this.pos++;
    return this.src.slice(start, this.pos);
  }

  private get(name: string): string | undefined {
    return this.lookup(name);
  }

  private braced(): string {
    const { src } = this;
    const open = this.pos - 1;
    this.pos++; // the {
    const name = this.name();
    if (name === "")
      throw new WordError(`bad substitution \${${src.slice(this.pos).split("}")[0]}}: expected a variable name`);
    const value = this.get(name);
    if (src[this.pos] === "}") {
      this.pos++;
      return value ?? "";
    }
    let op = "";
    const c = src[this.pos];
    if (c === ":" && "-+?".includes(src[this.pos + 1] ?? "")) op = src.slice(this.pos, this.pos + 2);
    else if (c === "#" || c === "%") op = src[this.pos + 1] === c ? c + c : c;
    else if (c !== undefined && "-+?".includes(c)) op = c;
    if (op === "") {
      if (c === undefined) throw new WordError(`missing "}" after \${${name}`);
      throw new WordError(
        `unsupported modifier "${c}" in ${src.slice(open)}; use \${${name}:-default}, \${${name}:+alternative} or \${${name}}`,
      );
    }
    this.pos += op.length;
    const word = this.until("}");
    this.pos++; // the }
    const empty = op.startsWith(":") ? value === undefined || value === "" : value === undefined;
    switch (op) {
      case ":-":
      case "-":
        return empty ? word : value!;
      case ":+":
      case "+":
        return empty ? "" : word;
      case ":?":
      case "?":
        if (empty) throw new WordError(`${name}: ${word || "is not set"}`);
        return value!;
      default:
        return trimGlob(value ?? "", word, op);
    }
  }
}

/** `${VAR#glob}` and friends: removes the shortest (or, doubled, longest) prefix or suffix matching a glob. */
function trimGlob(value: string, glob: string, op: string): string {
  const re = new RegExp(
    `^${glob
      .replace(/[.+^${}()|\\]/g, "\\$&")
      .replace(/\*/g, "[\\s\\S]*")
      .replace(/\?/g, "[\\s\\S]")}$`,
  );
  const lengths = [...Array(value.length + 1).keys()];
  if (op === "##" || op === "%%") lengths.reverse();
  for (const n of lengths) {
    const part = op.startsWith("#") ? value.slice(0, n) : value.slice(value.length - n);
    if (re.test(part)) return op.startsWith("#") ? value.slice(n) : value.slice(0, value.length - n);
  }
  return value;
}
