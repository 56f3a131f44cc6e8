// The GitHub Action's edges, pure: the runner's INPUT_* variables become the CLI's argv (the action
// then runs the CLI's own run function, so its behaviour cannot drift from the command line), and
// the report becomes step outputs in the runner's file-command format.
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { SETTINGS } from "../policy/settings.js";
import { pulledList } from "../report/pulled.js";
import { countStatuses } from "../report/summary.js";
import type { Report, Result } from "../types.js";

/** Inputs whose value is passed to the CLI option of the same name, once: every setting of the table, and the report paths. */
export const VALUE_INPUTS: readonly string[] = [
  ...SETTINGS.filter((s) => s.type !== "switch").map((s) => s.flag.slice(2)),
  "json",
  "junit",
  "pulled",
  "lock",
  "locked",
];
/** Inputs holding one path per line; each line becomes one repetition of the CLI option. */
export const PATH_LIST_INPUTS = ["file", "compose", "env-file"] as const;
/** Inputs holding names separated by spaces or newlines; each becomes one repetition of the option. */
export const WORD_LIST_INPUTS = ["profile"] as const;
export const BOOLEAN_INPUTS: readonly string[] = ["quiet", "verbose", ...SETTINGS.filter((s) => s.type === "switch").map((s) => s.flag.slice(2))];
/** The report files whose resolved paths are step outputs, by input name. */
export const REPORT_INPUTS = ["json", "junit", "pulled", "lock"] as const;

/** The variable the runner sets for an input: INPUT_ + the name upper-cased, spaces as "_" (hyphens stay), as actions/toolkit reads it. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, "_").toUpperCase()}`;
}

/** An input's value, trimmed; "" when unset (the runner sets every declared input, "" when not given). */
export function readInput(env: NodeJS.ProcessEnv, name: string): string {
  return (env[inputVariable(name)] ?? "").trim();
}

const TRUE = new Set(["true", "True", "TRUE"]);
const FALSE = new Set(["false", "False", "FALSE", ""]);

/**
 * The CLI's argv for the step's inputs. Option values use the --name=value form, so a value that
 * starts with "-" is never read as another option, and images come after "--", so none is ever
 * taken for one either: a hostile or mistyped input is rejected by the CLI's validation, by name.
 */
export function argvFromInputs(env: NodeJS.ProcessEnv): Result<string[], string> {
  const argv: string[] = [];
  for (const name of BOOLEAN_INPUTS) {
    const value = readInput(env, name);
    // The YAML 1.2 core schema's booleans, as actions/toolkit's getBooleanInput accepts them.
    if (TRUE.has(value)) argv.push(`--${name}`);
    else if (!FALSE.has(value)) return { ok: false, error: `input "${name}" must be true or false, not ${JSON.stringify(value)}` };
  }
  for (const name of VALUE_INPUTS) {
    const value = readInput(env, name);
    if (value !== "") argv.push(`--${name}=${value}`);
  }
  for (const name of PATH_LIST_INPUTS) {
    for (const path of lines(readInput(env, name))) argv.push(`--${name}=${path}`);
  }
  for (const name of WORD_LIST_INPUTS) {
    for (const word of words(readInput(env, name))) argv.push(`--${name}=${word}`);
  }
  argv.push("--", ...words(readInput(env, "images")));
  return { ok: true, value: argv };
}

function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((word) => word !== "");
}

/** The step's outputs for a finished run. Report paths are absolute, so later steps can use them from any directory. */
export function outputsOf(report: Report, env: NodeJS.ProcessEnv, cwd: string): Record<string, string> {
  const counts = countStatuses(report.images);
  const outputs: Record<string, string> = {
    "pulled-list": pulledList(report).trimEnd(),
    "pulled-count": String(counts.pulled),
    "present-count": String(counts.present),
    "skipped-count": String(counts.skipped),
    "failed-count": String(counts.failed),
    "mirrored-count": String(report.images.filter((image) => image.source === "mirror").length),
    // One line per image that some source served: "<reference> <source>[ <mirror>]".
    sources: report.images
      .filter((image) => image.source !== undefined)
      .map((image) => `${image.reference} ${image.source}${image.mirror !== undefined ? ` ${image.mirror}` : ""}`)
      .join("\n"),
  };
  for (const name of REPORT_INPUTS) {
    const path = readInput(env, name);
    if (path !== "") outputs[`${name}-path`] = resolve(cwd, path);
  }
  return outputs;
}

/**
 * GITHUB_OUTPUT's file-command format: `name<<DELIMITER`, the value, `DELIMITER`. The delimiter is
 * random per value and checked against it, so a value (an engine message, a path) can never end
 * the entry early and set another output.
 */
export function fileCommand(name: string, value: string, delimiter = `ghadelimiter_${randomUUID()}`): string {
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`output "${name}": its value contains the delimiter ${delimiter}`);
  return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
}
