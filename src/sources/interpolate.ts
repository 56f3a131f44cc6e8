// Variable interpolation as the Compose specification defines it ("Interpolation" chapter),
// so that an image string resolves to exactly what `docker compose` would pull.
//
// The value is parsed into a small tree first and evaluated afterwards. Two reasons:
// a syntax error anywhere in the value is reported even when that branch is never taken
// (Compose rejects the file as a whole), and defaults/alternatives/messages are evaluated
// lazily, so `${A:-${B:?x}}` does not fail, nor warn about B, when A has a value.
import type { Result } from "../types.js";

export type InterpolationErrorKind = "missing-required" | "invalid-format";

export interface InterpolationError {
  /** "missing-required" for `${VAR:?msg}` / `${VAR?msg}`, "invalid-format" for bad `$` syntax. */
  readonly kind: InterpolationErrorKind;
  /** The variable at fault (absent for a syntax error that has no variable name yet). */
  readonly variable?: string;
  readonly message: string;
}

export interface Interpolated {
  readonly value: string;
  /**
   * Variables used as plain `$VAR` / `${VAR}` that were not set and became "" (each once,
   * in order of use). Compose warns about exactly these; the operators with a fallback
   * (`-`, `:-`, `+`, `:+`) are deliberate and never warn.
   */
  readonly unset: readonly string[];
  /** Every variable whose value was looked up (each once, in order), so callers can explain an empty result. */
  readonly referenced: readonly string[];
}

/** Looks a variable up; undefined means unset, "" means set but empty. */
export type Lookup = (name: string) => string | undefined;

/** Interpolates `value` and returns only the resulting string. */
export function interpolate(value: string, lookup: Lookup): Result<string, InterpolationError> {
  const result = interpolateDetailed(value, lookup);
  return result.ok ? { ok: true, value: result.value.value } : result;
}

/** Interpolates `value` and also reports the unset variables the caller should warn about. */
export function interpolateDetailed(value: string, lookup: Lookup): Result<Interpolated, InterpolationError> {
  const parsed = parseTemplate(value, 0, false);
  if (!parsed.ok) {
    return {
      ok: false,
      error: {
        kind: "invalid-format",
        ...(parsed.error.variable === undefined ? {} : { variable: parsed.error.variable }),
        message: `invalid interpolation format in "${value}": ${parsed.error.detail}; write a literal $ as $$`,
      },
    };
  }
  const used = { unset: [] as string[], referenced: [] as string[] };
  const evaluated = evaluate(parsed.value.nodes, lookup, used);
  if (!evaluated.ok) return evaluated;
  return { ok: true, value: { value: evaluated.value, unset: [...new Set(used.unset)], referenced: [...new Set(used.referenced)] } };
}

/** True for a name Compose accepts in `$NAME` and `${NAME...}`. */
export function isVariableName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

type Operator = ":-" | "-" | ":?" | "?" | ":+" | "+";

// Longest first, so ":-" is not read as ":" followed by garbage.
const OPERATORS: readonly Operator[] = [":-", ":?", ":+", "-", "?", "+"];

type Node =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "var"; readonly name: string; readonly operator?: Operator; readonly argument: readonly Node[] };

interface TemplateSyntaxError {
  readonly detail: string;
  readonly variable?: string;
}

interface Parsed<T> {
  readonly nodes: T;
  /** Index just past what was consumed (for a braced argument: the index of its closing "}"). */
  readonly end: number;
}

function isNameStart(ch: string | undefined): boolean {
  return ch !== undefined && /[A-Za-z_]/.test(ch);
}

function readName(src: string, start: number): string {
  const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(start));
  return match ? match[0] : "";
}

/**
 * Parses text up to the end of `src`, or, inside a `${VAR<op>...}` argument, up to the
 * "}" that closes it. Literal braces inside an argument must balance (`${A:-{x}}` has the
 * default "{x}"), which is how Compose finds the closing brace too.
 */
function parseTemplate(src: string, start: number, inArgument: boolean): Result<Parsed<Node[]>, TemplateSyntaxError> {
  const nodes: Node[] = [];
  let text = "";
  let literalDepth = 0;
  let i = start;
  const flushText = () => {
    if (text !== "") nodes.push({ kind: "text", text });
    text = "";
  };
  while (i < src.length) {
    const ch = src[i];
    if (ch === "$") {
      const next = src[i + 1];
      if (next === "$") {
        text += "$";
        i += 2;
        continue;
      }
      if (next === "{") {
        const braced = parseBraced(src, i + 2);
        if (!braced.ok) return braced;
        flushText();
        nodes.push(braced.value.nodes);
        i = braced.value.end;
        continue;
      }
      if (isNameStart(next)) {
        const name = readName(src, i + 1);
        flushText();
        nodes.push({ kind: "var", name, argument: [] });
        i += 1 + name.length;
        continue;
      }
      // A "$" that starts nothing ("$1", "$ ", "^REGEX$", a password ending in "$") is kept
      // as written: Compose's pattern only matches "$$", "$NAME" and "${...}".
      text += "$";
      i += 1;
      continue;
    }
    if (inArgument && ch === "{") literalDepth += 1;
    if (inArgument && ch === "}") {
      if (literalDepth === 0) {
        flushText();
        return { ok: true, value: { nodes, end: i } };
      }
      literalDepth -= 1;
    }
    text += ch;
    i += 1;
  }
  if (inArgument) return { ok: false, error: { detail: `"\${" is never closed with "}"` } };
  flushText();
  return { ok: true, value: { nodes, end: i } };
}

/** Parses what follows "${": NAME, then "}" or an operator, its argument and "}". */
function parseBraced(src: string, start: number): Result<Parsed<Node>, TemplateSyntaxError> {
  const name = readName(src, start);
  if (name === "") {
    const rest = src.slice(start);
    const detail = rest.startsWith("}") ? `"\${}" names no variable` : `"\${" must be followed by a variable name`;
    return { ok: false, error: { detail } };
  }
  let i = start + name.length;
  if (src[i] === "}") return { ok: true, value: { nodes: { kind: "var", name, argument: [] }, end: i + 1 } };
  const operator = OPERATORS.find((op) => src.startsWith(op, i));
  if (operator === undefined) {
    const detail = i >= src.length ? `"\${${name}" is never closed with "}"` : `unexpected "${src[i]}" after "\${${name}"`;
    return { ok: false, error: { detail, variable: name } };
  }
  i += operator.length;
  const argument = parseTemplate(src, i, true);
  if (!argument.ok) return { ok: false, error: { ...argument.error, variable: argument.error.variable ?? name } };
  return { ok: true, value: { nodes: { kind: "var", name, operator, argument: argument.value.nodes }, end: argument.value.end + 1 } };
}

/** Names seen while evaluating; filled in as a side effect to keep the evaluators' results plain strings. */
interface Usage {
  readonly unset: string[];
  readonly referenced: string[];
}

function evaluate(nodes: readonly Node[], lookup: Lookup, used: Usage): Result<string, InterpolationError> {
  let out = "";
  for (const node of nodes) {
    if (node.kind === "text") {
      out += node.text;
      continue;
    }
    const part = evaluateVariable(node, lookup, used);
    if (!part.ok) return part;
    out += part.value;
  }
  return { ok: true, value: out };
}

function evaluateVariable(node: Extract<Node, { kind: "var" }>, lookup: Lookup, used: Usage): Result<string, InterpolationError> {
  const value = lookup(node.name);
  used.referenced.push(node.name);
  const isSet = value !== undefined;
  const hasValue = isSet && value !== "";
  const argument = () => evaluate(node.argument, lookup, used);
  switch (node.operator) {
    case undefined:
      if (!isSet) used.unset.push(node.name);
      return { ok: true, value: value ?? "" };
    case ":-":
      return hasValue ? { ok: true, value } : argument();
    case "-":
      return isSet ? { ok: true, value } : argument();
    case ":+":
      return hasValue ? argument() : { ok: true, value: "" };
    case "+":
      return isSet ? argument() : { ok: true, value: "" };
    case ":?":
      return hasValue ? { ok: true, value } : missingRequired(node.name, argument());
    case "?":
      return isSet ? { ok: true, value } : missingRequired(node.name, argument());
  }
}

function missingRequired(name: string, message: Result<string, InterpolationError>): Result<string, InterpolationError> {
  if (!message.ok) return message;
  const reason = message.value === "" ? "" : `: ${message.value}`;
  return { ok: false, error: { kind: "missing-required", variable: name, message: `required variable ${name} is missing a value${reason}` } };
}
