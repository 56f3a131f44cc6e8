// argv → what the user asked for. Pure: no files are read here, no environment is consulted.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { SETTINGS, type SettingFlags } from "../policy/settings.js";
import type { Result } from "../types.js";

export interface CliArgs {
  readonly help: boolean;
  readonly version: boolean;
  /** Positional references, in order; "-" is replaced by the lines of stdin by the caller. */
  readonly images: readonly string[];
  readonly readStdin: boolean;
  readonly files: readonly string[];
  readonly compose: readonly string[];
  readonly envFiles: readonly string[];
  /** --profile names, in order (COMPOSE_PROFILES is the sources' business). */
  readonly profiles: readonly string[];
  readonly print: boolean;
  readonly settings: SettingFlags;
  readonly json?: string;
  readonly junit?: string;
  readonly pulled?: string;
  /** --lock FILE: write each image's resolved digest there. */
  readonly lock?: string;
  /** --locked FILE: pull exactly the digests locked there. */
  readonly locked?: string;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly color?: boolean;
  /** --context NAME: the docker context whose engine to use (beats DOCKER_HOST, like the docker CLI). */
  readonly context?: string;
}

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  file: { type: "string", short: "f", multiple: true },
  compose: { type: "string", short: "c", multiple: true },
  "env-file": { type: "string", multiple: true },
  profile: { type: "string", multiple: true },
  print: { type: "boolean" },
  context: { type: "string" },
  json: { type: "string" },
  junit: { type: "string" },
  pulled: { type: "string" },
  lock: { type: "string" },
  locked: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v" },
  color: { type: "boolean" },
  "no-color": { type: "boolean" },
} as const;

/** Every setting's flag takes a string; policy/settings.ts validates it. */
const SETTING_OPTIONS = Object.fromEntries(
  SETTINGS.map((s) => [
    s.flag.slice(2),
    {
      type: s.type === "switch" ? ("boolean" as const) : ("string" as const),
      ...(s.type === "list" ? { multiple: true } : {}),
      ...(s.short ? { short: s.short } : {}),
    },
  ]),
);

export function parseCliArgs(argv: readonly string[]): Result<CliArgs, string> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...OPTIONS, ...SETTING_OPTIONS }, allowPositionals: true, strict: true });
  } catch (error) {
    // node:util's messages name the offending option; an image reference that starts with "-"
    // lands here too, which is exactly right: it is never taken for an image.
    const first = ((error as Error).message.split("\n")[0] ?? "").replace(/\. To specify a positional argument.*$/, "").replace(/\.$/, "");
    return { ok: false, error: `${first}. Run "prepull --help" for usage.` };
  }
  const { values: v, positionals } = parsed;
  if (v.quiet && v.verbose) return { ok: false, error: "--quiet and --verbose cannot be used together" };
  const settings: SettingFlags = {};
  for (const spec of SETTINGS) {
    const value = (v as Record<string, unknown>)[spec.flag.slice(2)];
    if (typeof value === "string") settings[spec.key] = value;
    else if (value === true) settings[spec.key] = "true";
    else if (Array.isArray(value)) settings[spec.key] = value.filter((v): v is string => typeof v === "string");
  }
  if (v.lock !== undefined && v.locked !== undefined)
    return {
      ok: false,
      error: "--lock and --locked cannot be used together: --lock writes a lock file from what the registries name now, --locked pulls what one names",
    };
  // --locked is read, not written, but a report written over it would destroy the lock all the same.
  const clash = sharedOutputPath({ "--json": v.json, "--junit": v.junit, "--pulled": v.pulled, "--lock": v.lock, "--locked": v.locked });
  if (clash) return { ok: false, error: clash };
  const color = v["no-color"] ? false : v.color ? true : undefined;
  return {
    ok: true,
    value: {
      help: v.help ?? false,
      version: v.version ?? false,
      images: positionals.filter((p) => p !== "-"),
      readStdin: positionals.includes("-"),
      files: v.file ?? [],
      compose: v.compose ?? [],
      envFiles: v["env-file"] ?? [],
      profiles: v.profile ?? [],
      print: v.print ?? false,
      settings,
      ...(v.json !== undefined ? { json: v.json } : {}),
      ...(v.junit !== undefined ? { junit: v.junit } : {}),
      ...(v.pulled !== undefined ? { pulled: v.pulled } : {}),
      ...(v.lock !== undefined ? { lock: v.lock } : {}),
      ...(v.locked !== undefined ? { locked: v.locked } : {}),
      quiet: v.quiet ?? false,
      verbose: v.verbose ?? false,
      ...(color !== undefined ? { color } : {}),
      ...(v.context !== undefined ? { context: v.context } : {}),
    },
  };
}

/** Two outputs written to one file would silently leave only the last one: refused. Paths compare resolved ("./r.json" is "r.json"). */
function sharedOutputPath(outputs: Readonly<Record<string, string | undefined>>): string | undefined {
  const seen = new Map<string, string>();
  for (const [flag, path] of Object.entries(outputs)) {
    if (path === undefined) continue;
    const key = resolve(path);
    const other = seen.get(key);
    if (other !== undefined) return `${other} and ${flag} name the same file ${JSON.stringify(path)}: each report needs its own file`;
    seen.set(key, flag);
  }
  return undefined;
}
