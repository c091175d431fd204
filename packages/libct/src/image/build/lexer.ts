/**
 * Turns Containerfile text into logical lines: parser directives read, comments dropped, continuation
 * lines joined, heredoc bodies collected. No instruction semantics here; see parse.ts.
 */
import type { Directives, Heredoc } from "./instructions.js";

export interface LogicalLine {
  /** 1-based line where the instruction starts. */
  readonly line: number;
  /** Keyword and arguments with continuations joined (escape character and newline removed). */
  readonly text: string;
  readonly heredocs: readonly Heredoc[];
}

export interface LexProblem {
  readonly line: number;
  readonly message: string;
}

export interface Lexed {
  readonly directives: Directives;
  readonly lines: readonly LogicalLine[];
  readonly warnings: readonly LexProblem[];
}

/** Thrown by lexContainerfile; parse.ts turns it into a ContainerfileError. */
export class LexError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

const DIRECTIVE = /^#[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(.*?)[ \t]*$/;
const KNOWN_DIRECTIVES = new Set(["syntax", "escape", "check"]);
const HEREDOC_INSTRUCTIONS = new Set(["RUN", "COPY", "ADD"]);
const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

export function lexContainerfile(text: string): Lexed {
  const physical = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const directives: { syntax?: string; escape: "\\" | "`"; check?: string } = { escape: "\\" };
  const seen = new Set<string>();
  let i = 0;
  for (; i < physical.length; i++) {
    const m = DIRECTIVE.exec(physical[i]!.trim());
    if (!m) break;
    const name = m[1]!.toLowerCase();
    if (!KNOWN_DIRECTIVES.has(name)) break; // an unknown directive is a comment, and ends the directives
    if (seen.has(name)) throw new LexError(i + 1, `the ${name} parser directive appears twice; keep only the first`);
    seen.add(name);
    const value = m[2]!;
    if (name === "escape") {
      if (value !== "\\" && value !== "`")
        throw new LexError(i + 1, `invalid escape directive "${value}"; use # escape=\\ or # escape=\``);
      directives.escape = value;
    } else if (name === "syntax") directives.syntax = value;
    else directives.check = value;
  }

  const esc = directives.escape;
  const continuation = new RegExp(`${esc === "\\" ? "\\\\" : "`"}[ \\t]*$`);
  const lines: LogicalLine[] = [];
  const warnings: LexProblem[] = [];
  while (i < physical.length) {
    const first = physical[i]!;
    const trimmed = first.trim();
    if (trimmed === "" || trimmed.startsWith("#")) {
      i++;
      continue;
    }
    const start = i + 1;
    let joined = "";
    let current = first.replace(/^\s+/, "");
    for (;;) {
      if (!continuation.test(current)) {
        joined += current;
        i++;
        break;
      }
      joined += current.replace(continuation, "");
      i++;
      // Skip comment lines inside the instruction, and empty ones (deprecated, but Docker accepts them).
      while (i < physical.length) {
        const t = physical[i]!.trim();
        if (t.startsWith("#")) i++;
        else if (t === "") {
          warnings.push({ line: i + 1, message: "empty continuation line; Docker will reject these in the future" });
          i++;
        } else break;
      }
      if (i >= physical.length)
        throw new LexError(
          start,
          `the instruction ends with a line continuation (${esc}) at the end of the file; remove the trailing ${esc} or add the rest of the instruction`,
        );
      current = physical[i]!;
    }
    const lineText = joined.trim();
    const keyword = (/^\S+/.exec(lineText)?.[0] ?? "").toUpperCase();
    const heredocs: Heredoc[] = [];
    if (HEREDOC_INSTRUCTIONS.has(keyword)) {
      for (const marker of heredocMarkers(lineText.slice(keyword.length), esc)) {
        const bodyStart = i + 1;
        const body: string[] = [];
        let closed = false;
        for (; i < physical.length; i++) {
          const raw = physical[i]!;
          const content = marker.chomp ? raw.replace(/^\t+/, "") : raw;
          if (content === marker.name) {
            closed = true;
            i++;
            break;
          }
          body.push(content);
        }
        if (!closed)
          throw new LexError(
            bodyStart - 1,
            `heredoc <<${marker.chomp ? "-" : ""}${marker.name} is never closed; end it with a line containing only ${marker.name}`,
          );
        heredocs.push({ ...marker, content: body.map((l) => `${l}\n`).join("") });
      }
    }
    lines.push({ line: start, text: lineText, heredocs });
  }
  return { directives, lines, warnings };
}

/** The heredoc marker a raw shell word is (`<<EOF`, `<<-"EOF"`, `3<<EOF`), or undefined. */
export function heredocMarker(word: string): Omit<Heredoc, "content"> | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const quoted = /^(["'])(.*)\1$/.exec(m[3]!);
  const name = quoted ? quoted[2]! : m[3]!;
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) return undefined;
  return { name, expand: !quoted, chomp: m[2] === "-", ...(m[1] ? { fd: Number(m[1]) } : {}) };
}

/** Heredoc markers among the shell words of an instruction's arguments; exec form has none. */
export function heredocMarkers(args: string, esc: string): Omit<Heredoc, "content">[] {
  const rest = args.trim();
  if (rest.startsWith("[")) return [];
  return splitRawWords(rest, esc).flatMap((w) => heredocMarker(w) ?? []);
}

/**
 * Splits on unquoted whitespace, keeping quotes and escapes in the words (Docker's parseWords), so that
 * each word can then be expanded on its own. An unterminated quote runs to the end of the text.
 */
export function splitRawWords(text: string, esc: string): string[] {
  const words: string[] = [];
  let word = "";
  let quote = "";
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === "" && /\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === esc && quote !== "'" && i + 1 < text.length) {
      word += ch + text[i + 1];
      i++;
      continue;
    }
    if (quote === "" && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = "";
    word += ch;
  }
  if (inWord) words.push(word);
  return words;
}
