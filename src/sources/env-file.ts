// Reads .env / --env-file files the way `docker compose` does (compose-go's dotenv parser), so
// an image tag set there resolves to the same reference Compose would pull.
//
// Rules, as compose-go applies them:
// - A statement is `KEY=VALUE`, or YAML-style `KEY: VALUE`, optionally prefixed by `export `.
//   Blanks around the key and after `=`/`:` are skipped; whitespace-only and `#` lines are skipped.
// - Key characters are letters, digits, "_", ".", "-", "[" and "]" (any script); a key with a
//   space inside, or any other character, is an error. Keys that start with a digit and an
//   empty key (`=x`) are accepted and dropped, as Compose drops them.
// - `KEY` alone on its line takes KEY from the process environment, or leaves it unset.
// - Unquoted values run to the end of the line; only a space followed by `#` starts a comment
//   (`A=x\t#1` is "x\t#1", `A= #x` is "#x"); trailing whitespace is trimmed.
// - Quoted values may span lines; a backslash before the quote character keeps the quote
//   (`'Let\'s go'`), any other backslash stays. What follows the closing quote on that line is
//   read as the next statement (or a comment), not as part of the value.
// - 'single quotes' are literal otherwise. "double quotes" then understand \a \b \f \n \r \t
//   \v \\ \" \$ (a literal $) and \0 followed by three octal digits; other backslashes stay.
// - Unquoted and double-quoted values are interpolated with the Compose syntax. A name
//   resolves from the process environment first (it wins everywhere), then from keys
//   defined earlier in this file, then from earlier env files.
// - A later definition of the same key replaces the earlier one.
import { readFile } from "node:fs/promises";
import type { Result } from "../types.js";
import { interpolateDetailed, type Lookup } from "./interpolate.js";

export interface EnvFileError {
  readonly file: string;
  /** 1-based line of the offending statement; absent when the file itself could not be read. */
  readonly line?: number;
  readonly variable?: string;
  readonly message: string;
}

export interface EnvFile {
  /** This file's own definitions, in file order (later duplicates replace earlier ones). */
  readonly values: ReadonlyMap<string, string>;
  /** Unset variables used while interpolating values. */
  readonly warnings: readonly string[];
}

const EMPTY: ReadonlyMap<string, string> = new Map();

/**
 * Parses the text of an env file. `environment` is the process environment (it wins over
 * everything); `inherited` holds values from env files read before this one.
 */
export function parseEnvFile(text: string, file: string, environment: Lookup, inherited: ReadonlyMap<string, string> = EMPTY): Result<EnvFile, EnvFileError> {
  const src = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  const values = new Map<string, string>();
  const warnings: string[] = [];
  const resolve: Lookup = (name) => environment(name) ?? values.get(name) ?? inherited.get(name);
  const cursor = { src, pos: 0, line: 1 };

  while (skipToStatement(cursor)) {
    const line = cursor.line;
    const key = readKey(cursor);
    if (!key.ok) return fail(file, line, key.error.message, key.error.variable);
    const { name, inherit } = key.value;
    if (inherit) {
      const fromEnvironment = environment(name);
      if (fromEnvironment !== undefined && isKept(name)) values.set(name, fromEnvironment);
      continue;
    }
    const raw = readValue(cursor);
    if (!raw.ok) return fail(file, line, `${raw.error} in the value of ${name}`, name);
    let value = raw.value.literal;
    if (raw.value.template !== undefined) {
      const expanded = interpolateDetailed(raw.value.template, resolve);
      if (!expanded.ok) return fail(file, line, explain(expanded.error.message, expanded.error.kind), expanded.error.variable ?? name);
      value = expanded.value.value;
      for (const unset of expanded.value.unset) {
        warnings.push(`${file}:${line}: variable ${unset} (used by ${name}) is not set; using an empty string`);
      }
    }
    if (raw.value.commentLike) {
      warnings.push(
        `${file}:${line}: the value of ${name} is ${JSON.stringify(value)}: Compose reads "#" after "=" and blanks as the value, not a comment; put the comment on its own line`,
      );
    }
    if (isKept(name)) values.set(name, value);
  }
  return { ok: true, value: { values, warnings } };
}

/**
 * Reads and parses an env file. With `optional`, a missing file is an empty one (Compose's
 * project .env is optional; an --env-file is not).
 */
export async function readEnvFile(
  path: string,
  environment: Lookup,
  options: { readonly inherited?: ReadonlyMap<string, string>; readonly optional?: boolean } = {},
): Promise<Result<EnvFile, EnvFileError>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && options.optional === true) return { ok: true, value: { values: new Map(), warnings: [] } };
    const why = code === "ENOENT" ? "no such file; check the --env-file path" : `cannot be read (${(error as Error).message})`;
    return { ok: false, error: { file: path, message: `env file ${path}: ${why}` } };
  }
  return parseEnvFile(text, path, environment, options.inherited ?? EMPTY);
}

interface Cursor {
  readonly src: string;
  pos: number;
  /** 1-based line of `pos`. */
  line: number;
}

// compose-go's isSpace: blanks that are not a line break.
const BLANK = new Set(["\t", "\v", "\f", "\r", " ", "\u0085", "\u00A0"]);
const KEY_CHAR = /^[\p{L}\p{N}_.\-[\]]$/u;

/** Skips whitespace, blank lines and `#` comment lines; false at the end of the text. */
function skipToStatement(c: Cursor): boolean {
  for (;;) {
    while (c.pos < c.src.length && /\s/u.test(c.src[c.pos] as string)) advance(c);
    if (c.pos >= c.src.length) return false;
    if (c.src[c.pos] !== "#") return true;
    while (c.pos < c.src.length && c.src[c.pos] !== "\n") c.pos += 1;
  }
}

function advance(c: Cursor): void {
  if (c.src[c.pos] === "\n") c.line += 1;
  c.pos += 1;
}

// Keys Compose keeps: it drops those that start with a digit, and an empty key cannot be referenced.
function isKept(name: string): boolean {
  return name !== "" && !/^\p{N}/u.test(name);
}

/** Reads `[export ]KEY` up to "=", ":" (consumed) or the end of the line (a bare KEY, consumed too). */
function readKey(c: Cursor): Result<{ name: string; inherit: boolean }, { message: string; variable?: string }> {
  const exported = /^export[ \t\v\f\u0085\u00A0]+/.exec(c.src.slice(c.pos, c.pos + 64));
  if (exported) c.pos += exported[0].length;
  const start = c.pos;
  for (; c.pos < c.src.length; c.pos += 1) {
    const ch = c.src[c.pos] as string;
    if (BLANK.has(ch) || KEY_CHAR.test(ch)) continue;
    if (ch === "=" || ch === ":" || ch === "\n") break;
    const shown = c.src.slice(start, endOfLine(c.src, start));
    return {
      ok: false,
      error: {
        message: `unexpected character ${JSON.stringify(ch)} in variable name ${JSON.stringify(shown)}; keys are letters, digits, "_", ".", "-", "[" and "]"`,
      },
    };
  }
  const name = c.src.slice(start, c.pos).trimEnd();
  const inherit = c.pos >= c.src.length || c.src[c.pos] === "\n";
  if (c.pos < c.src.length) advance(c);
  if (name.includes(" ")) return { ok: false, error: { message: `variable name ${JSON.stringify(name)} contains a space`, variable: name } };
  return { ok: true, value: { name, inherit } };
}

interface RawValue {
  /** The final value when it needs no interpolation (single-quoted). */
  readonly literal: string;
  /** A Compose template to interpolate (unquoted and double-quoted values). */
  readonly template?: string;
  /** Unquoted and starting with "#" after blanks (`A= #x`): meant as a comment, read as the value. */
  readonly commentLike?: true;
}

/** Reads a value after "="; the cursor ends after the closing quote, or at the end of the line. */
function readValue(c: Cursor): Result<RawValue, string> {
  const afterEquals = c.pos;
  while (c.pos < c.src.length && BLANK.has(c.src[c.pos] as string)) c.pos += 1;
  const quote = c.src[c.pos];
  if (quote !== "'" && quote !== '"') {
    const end = endOfLine(c.src, c.pos);
    const text = c.src.slice(c.pos, end);
    c.pos = end;
    const comment = text.indexOf(" #");
    const commentLike = text.startsWith("#") && c.pos - text.length > afterEquals ? { commentLike: true as const } : {};
    return { ok: true, value: { literal: "", template: (comment < 0 ? text : text.slice(0, comment)).trimEnd(), ...commentLike } };
  }
  const open = { pos: c.pos, line: c.line };
  const body = readQuoted(c, quote);
  if (body === undefined) {
    [c.pos, c.line] = [open.pos, open.line];
    return { ok: false, error: `unterminated ${quote === "'" ? "single" : "double"}-quoted string (add the closing ${quote})` };
  }
  return { ok: true, value: quote === "'" ? { literal: body } : { literal: "", template: expandEscapes(body) } };
}

/** The text between the quotes, with `\<quote>` turned into the quote; undefined when never closed. */
function readQuoted(c: Cursor, quote: string): string | undefined {
  let out = "";
  advance(c);
  while (c.pos < c.src.length) {
    const ch = c.src[c.pos] as string;
    advance(c);
    if (ch === quote) return out;
    if (ch === "\\" && c.pos < c.src.length) {
      const next = c.src[c.pos] as string;
      advance(c);
      out += next === quote ? next : `\\${next}`;
      continue;
    }
    out += ch;
  }
  return undefined;
}

// Escapes become plain text of the template; "\$" becomes "$$" so interpolation keeps it literal.
const ESCAPES: Readonly<Record<string, string>> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", '"': '"', "\\": "\\", $: "$$" };

/** Double-quote escapes, as compose-go's expandEscapes: one left-to-right pass, unknown ones kept. */
function expandEscapes(text: string): string {
  return text.replace(/\\(?:[abcfnrtv$"\\]|0\d{0,3})/g, (match) => {
    if (match.startsWith("\\0")) {
      // compose-go rewrites \0NNN to \NNN and decodes it as a Go octal escape: exactly three
      // octal digits up to \377; anything else stays, without its 0 (which is what Compose does).
      const digits = match.slice(2);
      return /^[0-7]{3}$/.test(digits) && Number.parseInt(digits, 8) <= 0o377 ? String.fromCharCode(Number.parseInt(digits, 8)) : `\\${digits}`;
    }
    return ESCAPES[match[1] as string] ?? match;
  });
}

function endOfLine(src: string, from: number): number {
  const index = src.indexOf("\n", from);
  return index < 0 ? src.length : index;
}

function explain(message: string, kind: "missing-required" | "invalid-format"): string {
  return kind === "invalid-format" ? `${message}, or single-quote the value` : `${message}; set it in the environment or earlier in the file`;
}

function fail(file: string, line: number, message: string, variable?: string): Result<never, EnvFileError> {
  return { ok: false, error: { file, line, ...(variable === undefined ? {} : { variable }), message: `${file}:${line}: ${message}` } };
}
