// Reads .env / --env-file files the way `docker compose` does, so an image tag set there
// resolves to the same reference Compose would pull.
//
// Rules (Compose's dotenv dialect, kept to what CI env files use):
// - `KEY=VALUE`, optionally prefixed by `export `; spaces around `=` are ignored.
//   Names start with a letter or "_" and contain letters, digits, "_", "." or "-".
// - Blank lines and lines whose first non-blank character is `#` are skipped.
// - `KEY` alone (no `=`) takes KEY from the process environment, or leaves it unset.
// - Unquoted values run to the end of the line and are trimmed; a `#` that follows
//   whitespace starts a comment (`A=x #note` is "x", `A=x#1` is "x#1", `A= #note` is "").
// - 'single quotes' are literal: no escapes, no interpolation; may span lines.
// - "double quotes" understand \n \r \t \" \\ and \$ (a literal $); any other backslash
//   is kept as is; may span lines.
// - Unquoted and double-quoted values are interpolated with the Compose syntax. A name
//   resolves from the process environment first (it wins everywhere), then from keys
//   defined earlier in this file, then from earlier env files.
// - After a closing quote only blanks and a `# comment` may follow on that line.
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
export function parseEnvFile(
  text: string,
  file: string,
  environment: Lookup,
  inherited: ReadonlyMap<string, string> = EMPTY,
): Result<EnvFile, EnvFileError> {
  const src = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  const values = new Map<string, string>();
  const warnings: string[] = [];
  const resolve: Lookup = (name) => environment(name) ?? values.get(name) ?? inherited.get(name);

  let pos = 0;
  let line = 1;
  while (pos < src.length) {
    const lineEnd = endOfLine(src, pos);
    const head = parseHead(src.slice(pos, lineEnd));
    if (!head.ok) return fail(file, line, head.error.message, head.error.variable);

    if (head.value.kind === "skip") {
      [pos, line] = [lineEnd + 1, line + 1];
      continue;
    }
    const key = head.value.key;
    if (head.value.kind === "inherit") {
      const fromEnvironment = environment(key);
      if (fromEnvironment !== undefined) values.set(key, fromEnvironment);
      [pos, line] = [lineEnd + 1, line + 1];
      continue;
    }

    const raw = readValue(src, pos + head.value.valueOffset, lineEnd);
    if (!raw.ok) return fail(file, line, `${raw.error} in the value of ${key}`, key);

    let value = raw.value.literal;
    if (raw.value.template !== undefined) {
      const expanded = interpolateDetailed(raw.value.template, resolve);
      if (!expanded.ok) return fail(file, line, explain(expanded.error.message, expanded.error.kind), expanded.error.variable ?? key);
      value = expanded.value.value;
      for (const name of expanded.value.unset) {
        warnings.push(`${file}:${line}: variable ${name} (used by ${key}) is not set; using an empty string`);
      }
    }
    values.set(key, value);
    line += countNewlines(src, pos, raw.value.end);
    pos = raw.value.end + 1;
    line += 1;
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

type Head =
  | { readonly kind: "skip" }
  | { readonly kind: "inherit"; readonly key: string }
  | { readonly kind: "assign"; readonly key: string; readonly valueOffset: number };

/** Reads the start of a statement line: comment/blank, bare KEY, or `KEY=` with the offset of the value. */
function parseHead(lineText: string): Result<Head, { message: string; variable?: string }> {
  const trimmed = lineText.trim();
  if (trimmed === "" || trimmed.startsWith("#")) return { ok: true, value: { kind: "skip" } };

  const match = /^[ \t]*(?:export[ \t]+)?([^=\s#]*)[ \t]*/.exec(lineText);
  const key = match?.[1] ?? "";
  const rest = lineText.slice(match?.[0].length ?? 0);
  if (key === "") return { ok: false, error: { message: `missing variable name before "="; write KEY=VALUE` } };
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) {
    return {
      ok: false,
      error: { message: `invalid variable name "${key}"; names start with a letter or "_" and contain letters, digits, "_", "." or "-"`, variable: key },
    };
  }
  if (rest === "" || rest.startsWith("#")) return { ok: true, value: { kind: "inherit", key } };
  if (!rest.startsWith("=")) return { ok: false, error: { message: `expected "=" after ${key}; write ${key}=VALUE`, variable: key } };
  return { ok: true, value: { kind: "assign", key, valueOffset: lineText.length - rest.length + 1 } };
}

interface RawValue {
  /** The final value when it needs no interpolation (single-quoted). */
  readonly literal: string;
  /** A Compose template to interpolate (unquoted and double-quoted values). */
  readonly template?: string;
  /** Index of the newline (or end of text) that ends the statement. */
  readonly end: number;
}

/** Reads the value starting at `start`; a quoted value may run past `lineEnd`. */
function readValue(src: string, start: number, lineEnd: number): Result<RawValue, string> {
  let i = start;
  while (src[i] === " " || src[i] === "\t") i += 1;
  const quote = src[i];
  if (quote !== "'" && quote !== '"') {
    return { ok: true, value: { literal: "", template: stripInlineComment(src.slice(start, lineEnd)), end: lineEnd } };
  }
  const quoted = quote === "'" ? readSingleQuoted(src, i + 1) : readDoubleQuoted(src, i + 1);
  if (quoted === undefined) return { ok: false, error: `unterminated ${quote === "'" ? "single" : "double"}-quoted string (add the closing ${quote})` };
  const end = endOfLine(src, quoted.close + 1);
  const trailing = src.slice(quoted.close + 1, end);
  if (!/^[ \t]*(#.*)?$/.test(trailing)) return { ok: false, error: `unexpected text ${JSON.stringify(trailing.trim())} after the closing ${quote}` };
  return { ok: true, value: { ...quoted.value, end } };
}

function stripInlineComment(value: string): string {
  const comment = /[ \t]#/.exec(value);
  return (comment ? value.slice(0, comment.index) : value).trim();
}

function readSingleQuoted(src: string, start: number): { value: Omit<RawValue, "end">; close: number } | undefined {
  const close = src.indexOf("'", start);
  return close < 0 ? undefined : { value: { literal: src.slice(start, close) }, close };
}

// Escapes become plain text of the template; "\$" becomes "$$" so interpolation keeps it literal.
const ESCAPES: Readonly<Record<string, string>> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\", $: "$$" };

function readDoubleQuoted(src: string, start: number): { value: Omit<RawValue, "end">; close: number } | undefined {
  let template = "";
  for (let i = start; i < src.length; i += 1) {
    const ch = src[i] as string;
    if (ch === '"') return { value: { literal: "", template }, close: i };
    if (ch === "\\" && i + 1 < src.length) {
      const next = src[i + 1] as string;
      template += ESCAPES[next] ?? `\\${next}`;
      i += 1;
      continue;
    }
    template += ch;
  }
  return undefined;
}

function endOfLine(src: string, from: number): number {
  const index = src.indexOf("\n", from);
  return index < 0 ? src.length : index;
}

function countNewlines(src: string, from: number, to: number): number {
  let count = 0;
  for (let i = src.indexOf("\n", from); i >= 0 && i < to; i = src.indexOf("\n", i + 1)) count += 1;
  return count;
}

function explain(message: string, kind: "missing-required" | "invalid-format"): string {
  return kind === "invalid-format" ? `${message}, or single-quote the value` : `${message}; set it in the environment or earlier in the file`;
}

function fail(file: string, line: number, message: string, variable?: string): Result<never, EnvFileError> {
  return { ok: false, error: { file, line, ...(variable === undefined ? {} : { variable }), message: `${file}:${line}: ${message}` } };
}
