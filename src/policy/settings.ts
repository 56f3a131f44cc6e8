// The run's policy: one table of every knob (flag, variable, default, limits, help, report key)
// and one validator for values from flags, the environment and code. Pure: env and flags come
// in as data. Adding a knob is one row here, plus its field in Settings and its README row.
import { formatPlatform, parsePlatform } from "../engine/platform.js";
import type { Result, Settings } from "../types.js";
import { parseMirrorList } from "./mirrors.js";

type NumberKey = { [K in keyof Settings]-?: Settings[K] extends number ? K : never }[keyof Settings];
type ChoiceKey = "pullPolicy" | "preflight" | "quotaPlan";
type PathKey = "saveDir" | "loadDir";

interface Common<K extends keyof Settings> {
  /** Field of Settings. */
  readonly key: K;
  readonly env: string;
  /** Long flag, e.g. "--retries". */
  readonly flag: string;
  readonly short?: string;
  /** Key in the JSON report's settings. */
  readonly report: string;
  readonly help: string;
}

export type SettingSpec =
  /** Whole numbers ("count") or seconds that may be fractional, stored in milliseconds. */
  | (Common<NumberKey> & { readonly type: "count" | "seconds"; readonly min: number; readonly max: number; readonly default: number })
  | (Common<"seed"> & { readonly type: "seed" })
  /** "os/arch[/variant]", normalized the way containerd spells it; unset means the engine's own. */
  | (Common<"platform"> & { readonly type: "platform" })
  /** A directory path, unset by default. */
  | (Common<PathKey> & { readonly type: "path" })
  | { [K in ChoiceKey]: Common<K> & { readonly type: "choice"; readonly choices: readonly Settings[K][]; readonly default: Settings[K] } }[ChoiceKey]
  /** A list: the flag may be repeated; the variable holds entries separated by commas, spaces or newlines. */
  | (Common<"mirrors"> & { readonly type: "list" })
  /** On or off: a flag without a value; the variable is true/false/1/0. Stored only when on. */
  | (Common<"keepMirrorNames"> & { readonly type: "switch" });

/**
 * Waits longer than Node's timer limit (2^31 − 1 ms, ~24.8 days) are honoured by the clock, which
 * chains timers; past this a time cannot be counted in whole milliseconds (~285 000 years).
 */
const MAX_WAIT_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

/** Every knob, in the order --help and the README list them. */
export const SETTINGS: readonly SettingSpec[] = [
  {
    key: "attempts",
    env: "PULL_RETRIES",
    flag: "--retries",
    report: "retries",
    type: "count",
    min: 1,
    max: 1000,
    default: 5,
    help: "attempts per image, the first included (at most 1000)",
  },
  {
    key: "backoffBaseMs",
    env: "PULL_BACKOFF_BASE",
    flag: "--backoff-base",
    report: "backoffBaseMs",
    type: "seconds",
    min: 0,
    max: MAX_WAIT_SECONDS,
    default: 2,
    help: "wait before the first retry; doubled each retry",
  },
  {
    key: "backoffMaxMs",
    env: "PULL_BACKOFF_MAX",
    flag: "--backoff-max",
    report: "backoffMaxMs",
    type: "seconds",
    min: 0,
    max: MAX_WAIT_SECONDS,
    default: 12,
    help: "cap on the doubled wait; jitter adds 0–10 % on top",
  },
  {
    key: "timeoutMs",
    env: "PULL_TIMEOUT",
    flag: "--timeout",
    report: "timeoutMs",
    type: "seconds",
    min: 0.001,
    max: MAX_WAIT_SECONDS,
    default: 300,
    help: "hard cap on one attempt, even while it downloads",
  },
  {
    key: "parallel",
    env: "PULL_PARALLEL",
    flag: "--parallel",
    short: "p",
    report: "parallel",
    type: "count",
    min: 1,
    max: 1000,
    default: 8,
    help: "pulls in flight at once, at most 1000 (dockerd used 314 MiB at 8, 697 MiB at 25 in ClickHouse's measurements)",
  },
  {
    key: "rateLimitBackoffMs",
    env: "PULL_RATE_LIMIT_BACKOFF",
    flag: "--rate-limit-backoff",
    report: "rateLimitBackoffMs",
    type: "seconds",
    min: 0,
    max: MAX_WAIT_SECONDS,
    default: 30,
    help: "wait after a `toomanyrequests` answer; doubled each time",
  },
  {
    key: "stallTimeoutMs",
    env: "PULL_STALL_TIMEOUT",
    flag: "--stall-timeout",
    report: "stallTimeoutMs",
    type: "seconds",
    min: 0.001,
    max: MAX_WAIT_SECONDS,
    default: 60,
    help: "abort an attempt that has downloaded no bytes for this long",
  },
  {
    key: "deadlineMs",
    env: "PULL_DEADLINE",
    flag: "--deadline",
    report: "deadlineMs",
    type: "seconds",
    min: 0.001,
    max: MAX_WAIT_SECONDS,
    default: 900,
    help: "deadline for the whole run; then every unfinished image fails as `deadline`",
  },
  {
    key: "platform",
    env: "PULL_PLATFORM",
    flag: "--platform",
    report: "platform",
    type: "platform",
    help: "platform to pull for, os/arch[/variant] (a compose service's `platform:` wins for that image)",
  },
  { key: "seed", env: "PULL_SEED", flag: "--seed", report: "seed", type: "seed", help: "seed of the jitter, for reproducible schedules" },
  {
    key: "pullPolicy",
    env: "PULL_POLICY",
    flag: "--pull",
    report: "pullPolicy",
    type: "choice",
    choices: ["always", "missing", "never"],
    default: "missing",
    help: "`missing` asks the engine first and reports images it has as `present`; `never` pulls nothing: every image must be present or in the `--load` archives, else it fails, with no registry traffic",
  },
  {
    key: "preflight",
    env: "PULL_PREFLIGHT",
    flag: "--preflight",
    report: "preflight",
    type: "choice",
    choices: ["on", "off"],
    default: "on",
    help: "`on` resolves every image with one manifest HEAD before pulling and probes a down registry by HEAD; `off` talks to the engine only",
  },
  {
    key: "mirrors",
    env: "PULL_MIRRORS",
    flag: "--mirror",
    report: "mirrors",
    type: "list",
    help: "`REGISTRY=MIRROR[/prefix]`, repeatable: pull REGISTRY's images through this mirror or pull-through cache first, failing over to the next source (see Mirrors and caches)",
  },
  {
    key: "keepMirrorNames",
    env: "PULL_KEEP_MIRROR_NAMES",
    flag: "--keep-mirror-names",
    report: "keepMirrorNames",
    type: "switch",
    help: "keep the mirror's name of an image a mirror served, besides its own name",
  },
  {
    key: "quotaPlan",
    env: "PULL_QUOTA_PLAN",
    flag: "--quota-plan",
    report: "quotaPlan",
    type: "choice",
    choices: ["fit", "all"],
    default: "fit",
    help: "when a registry's pull quota cannot cover the batch: `fit` pulls what fits and fails the rest at once, `all` tries every image",
  },
  {
    key: "loadDir",
    env: "PULL_LOAD",
    flag: "--load",
    report: "loadDir",
    type: "path",
    help: "before pulling, load the docker-archives in this directory (written by `--save`) and count the images they hold as present (source `archive`)",
  },
  {
    key: "saveDir",
    env: "PULL_SAVE",
    flag: "--save",
    report: "saveDir",
    type: "path",
    help: "after the run, write each pulled or present image to this directory as a docker-archive, with an index (`prepull-archives.json`), for `--load` in other jobs",
  },
];

export interface SettingsError {
  /** The variable, flag or option that was wrong, e.g. "PULL_RETRIES", "--parallel" or "settings.parallel". */
  readonly source: string;
  readonly message: string;
}

/** Values given on the command line, as strings (a repeated flag: its values in order), keyed like Settings. */
export type SettingFlags = Partial<Record<keyof Settings, string | readonly string[]>>;

/**
 * The settings of a run: for each knob, a value given in code wins over a flag, which wins over
 * the variable, which wins over the default. An empty variable counts as unset, as shell
 * scripts often export VAR= to mean "default". Every error names where the bad value came from.
 */
export function resolveSettings(
  env: Readonly<Record<string, string | undefined>>,
  flags: SettingFlags = {},
  code: Partial<Settings> = {},
): Result<Settings, SettingsError> {
  const values: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const read = readOne(spec, env, flags, code);
    if (!read.ok) return read;
    if (read.value !== undefined) values[spec.key] = read.value;
  }
  const settings = values as unknown as Settings;
  if (settings.backoffMaxMs < settings.backoffBaseMs) {
    const [max, base] =
      code.backoffMaxMs !== undefined || code.backoffBaseMs !== undefined
        ? ["settings.backoffMaxMs", "settings.backoffBaseMs"]
        : ["PULL_BACKOFF_MAX", "PULL_BACKOFF_BASE"];
    return fail(max, `${max} (${settings.backoffMaxMs / 1000}s) is below ${base} (${settings.backoffBaseMs / 1000}s): the cap must be at least the base`);
  }
  return { ok: true, value: settings };
}

function readOne(
  spec: SettingSpec,
  env: Readonly<Record<string, string | undefined>>,
  flags: SettingFlags,
  code: Partial<Settings>,
): Result<unknown, SettingsError> {
  const fromCode: unknown = code[spec.key];
  if (fromCode !== undefined) return checkCodeValue(spec, fromCode);
  const fromFlag = flags[spec.key];
  if (spec.type === "list") {
    const [source, entries] = fromFlag !== undefined ? [spec.flag, typeof fromFlag === "string" ? [fromFlag] : fromFlag] : [spec.env, [env[spec.env] ?? ""]];
    const parsed = parseMirrorList(entries);
    if (!parsed.ok) return fail(source, `${source}: ${parsed.error}`);
    return { ok: true, value: parsed.value.length > 0 ? parsed.value : undefined };
  }
  if (Array.isArray(fromFlag)) return fail(spec.flag, `${spec.flag} was given more than once`);
  const [source, raw] = fromFlag !== undefined ? [spec.flag, fromFlag as string] : [spec.env, env[spec.env]];
  if (raw === undefined || raw.trim() === "") return { ok: true, value: defaultOf(spec) };
  const text = raw.trim();
  const bad = (expected: string) => fail(source, `${source}=${JSON.stringify(raw)} is not ${expected} (${spec.help})`);
  switch (spec.type) {
    case "switch": {
      const on = /^(?:true|1|yes|on)$/i.test(text);
      if (!on && !/^(?:false|0|no|off)$/i.test(text)) return bad("true or false");
      return { ok: true, value: on ? true : undefined };
    }
    case "path":
      return { ok: true, value: text };
    case "seed":
      return /^\d+$/.test(text) && Number(text) <= 0xffffffff ? { ok: true, value: Number(text) } : bad("a whole number from 0 to 4294967295");
    case "platform": {
      const parsed = parsePlatform(raw, source);
      return parsed.ok ? { ok: true, value: formatPlatform(parsed.value) } : fail(source, parsed.error);
    }
    case "choice":
      return (spec.choices as readonly string[]).includes(text)
        ? { ok: true, value: text }
        : fail(
            source,
            `${source}=${JSON.stringify(raw)} is not ${spec.key === "pullPolicy" ? "a pull policy" : "a valid choice"}: use ${spec.choices.map((c) => `"${c}"`).join(" or ")}`,
          );
    default: {
      const pattern = spec.type === "count" ? /^\d+$/ : /^\d+(\.\d+)?$/;
      if (!pattern.test(text)) return bad(`${spec.type === "count" ? "a whole number" : "a number of seconds"}; default ${spec.default}`);
      const value = Number(text);
      if (value < spec.min) return fail(source, `${source}=${JSON.stringify(raw)} is below the minimum ${spec.min} (${spec.help})`);
      if (value > spec.max)
        return fail(
          source,
          `${source}=${JSON.stringify(raw)} is ${spec.type === "seconds" ? "too large to count in whole milliseconds" : `above the maximum ${spec.max}`} (${spec.help})`,
        );
      return { ok: true, value: toInternal(spec, value) };
    }
  }
}

/** A value given in code is already in internal units (milliseconds); it gets the same limits. */
function checkCodeValue(spec: SettingSpec, value: unknown): Result<unknown, SettingsError> {
  const source = `settings.${spec.key}`;
  switch (spec.type) {
    case "switch":
      return typeof value === "boolean" ? { ok: true, value: value || undefined } : fail(source, `${source} must be true or false, got ${String(value)}`);
    case "list": {
      if (!Array.isArray(value)) return fail(source, `${source} must be a list of mirror rules`);
      // Rules given in code are checked as their text would be.
      const parsed = parseMirrorList(
        value.map((r: unknown) =>
          typeof r === "string"
            ? r
            : typeof r === "object" && r !== null && "registry" in r && "key" in r
              ? `${String(r.registry)}=${String(r.key)}`
              : String(r),
        ),
      );
      if (!parsed.ok) return fail(source, `${source}: ${parsed.error}`);
      return { ok: true, value: parsed.value.length > 0 ? parsed.value : undefined };
    }
    case "path":
      return typeof value === "string" && value.trim() !== "" ? { ok: true, value } : fail(source, `${source} must be a directory path, got ${String(value)}`);
    case "seed":
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffffffff
        ? { ok: true, value }
        : fail(source, `${source} must be a whole number from 0 to 4294967295, got ${String(value)}`);
    case "platform": {
      const parsed = typeof value === "string" ? parsePlatform(value, source) : undefined;
      return parsed?.ok
        ? { ok: true, value: formatPlatform(parsed.value) }
        : fail(source, parsed && !parsed.ok ? parsed.error : `${source} must be a platform "os/arch[/variant]", got ${String(value)}`);
    }
    case "choice":
      return (spec.choices as readonly unknown[]).includes(value)
        ? { ok: true, value }
        : fail(source, `${source} must be ${spec.choices.map((c) => `"${c}"`).join(" or ")}, got ${String(value)}`);
    default: {
      const [min, max] = [toInternal(spec, spec.min), toInternal(spec, spec.max)];
      const what = spec.type === "count" ? "a whole number" : "a number of milliseconds";
      const whole = spec.type === "count" ? Number.isInteger(value) : true;
      if (typeof value !== "number" || !Number.isFinite(value) || !whole || value < min)
        return fail(source, `${source} must be ${what} of at least ${min}, got ${String(value)}`);
      if (value > max) return fail(source, `${source} must be ${what} of at most ${max}, got ${String(value)}`);
      return { ok: true, value };
    }
  }
}

function defaultOf(spec: SettingSpec): unknown {
  switch (spec.type) {
    case "path":
    case "seed":
    case "platform":
    case "list":
    case "switch":
      return undefined;
    case "choice":
      return spec.default;
    default:
      return toInternal(spec, spec.default);
  }
}

function toInternal(spec: SettingSpec & { type: "count" | "seconds" }, value: number): number {
  return spec.type === "seconds" ? Math.round(value * 1000) : value;
}

function fail(source: string, message: string): { ok: false; error: SettingsError } {
  return { ok: false, error: { source, message } };
}

/** The run's settings keyed as the JSON report names them, in table order. */
export function reportSettings(settings: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) if (settings[spec.key] !== undefined) out[spec.report] = settings[spec.key];
  return out;
}
