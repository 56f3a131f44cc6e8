// The run's policy from PULL_* variables and flags (flags win). Pure: env and flags come in as data.
import { formatPlatform, parsePlatform } from "../engine/platform.js";
import type { Result, Settings } from "../types.js";

type NumericKey = Exclude<keyof Settings, "pullPolicy" | "seed" | "platform">;

interface NumericSetting {
  readonly key: NumericKey;
  readonly env: string;
  readonly flag: string;
  /** "count" values are whole numbers; "seconds" may be fractional and are stored in ms. */
  readonly unit: "count" | "seconds";
  readonly min: number;
  readonly default: number;
  readonly help: string;
}

/** Every numeric knob, in the order the README documents them. */
export const NUMERIC_SETTINGS: readonly NumericSetting[] = [
  { key: "retries", env: "PULL_RETRIES", flag: "--retries", unit: "count", min: 1, default: 5, help: "attempts per image, the first included" },
  { key: "backoffBaseMs", env: "PULL_BACKOFF_BASE", flag: "--backoff-base", unit: "seconds", min: 0, default: 2, help: "wait before the first retry; doubled each retry" },
  { key: "backoffMaxMs", env: "PULL_BACKOFF_MAX", flag: "--backoff-max", unit: "seconds", min: 0, default: 12, help: "cap on the doubled wait (jitter adds up to 10% on top)" },
  { key: "timeoutMs", env: "PULL_TIMEOUT", flag: "--timeout", unit: "seconds", min: 0.001, default: 300, help: "hard cap on one attempt" },
  { key: "parallel", env: "PULL_PARALLEL", flag: "--parallel", unit: "count", min: 1, default: 8, help: "concurrent pulls" },
  { key: "rateLimitBackoffMs", env: "PULL_RATE_LIMIT_BACKOFF", flag: "--rate-limit-backoff", unit: "seconds", min: 0, default: 30, help: "wait after a rate-limit answer (toomanyrequests); doubled each time" },
  { key: "stallTimeoutMs", env: "PULL_STALL_TIMEOUT", flag: "--stall-timeout", unit: "seconds", min: 0.001, default: 60, help: "abort an attempt that downloads no bytes for this long" },
  { key: "deadlineMs", env: "PULL_DEADLINE", flag: "--deadline", unit: "seconds", min: 0.001, default: 900, help: "deadline for the whole run" },
];

export const SEED_ENV = "PULL_SEED";
export const POLICY_ENV = "PULL_POLICY";

export interface SettingsError {
  /** The variable or flag that was wrong, e.g. "PULL_RETRIES" or "--parallel". */
  readonly source: string;
  readonly message: string;
}

/** Values given on the command line, as strings, keyed like Settings. */
export type SettingFlags = Partial<Record<NumericKey | "seed" | "pullPolicy" | "platform", string>>;

export function resolveSettings(env: Readonly<Record<string, string | undefined>>, flags: SettingFlags = {}): Result<Settings, SettingsError> {
  const values: Partial<Record<NumericKey, number>> = {};
  for (const spec of NUMERIC_SETTINGS) {
    const parsed = readNumeric(spec, env, flags);
    if (!parsed.ok) return parsed;
    values[spec.key] = parsed.value;
  }
  const seed = readSeed(env, flags);
  if (!seed.ok) return seed;
  const pullPolicy = readPolicy(env, flags);
  if (!pullPolicy.ok) return pullPolicy;
  const platform = readPlatform(env, flags);
  if (!platform.ok) return platform;
  const settings: Settings = {
    ...(values as Record<NumericKey, number>),
    pullPolicy: pullPolicy.value,
    ...(seed.value === undefined ? {} : { seed: seed.value }),
    ...(platform.value === undefined ? {} : { platform: platform.value }),
  };
  if (settings.backoffMaxMs < settings.backoffBaseMs) {
    return fail("PULL_BACKOFF_MAX", `PULL_BACKOFF_MAX (${settings.backoffMaxMs / 1000}s) is below PULL_BACKOFF_BASE (${settings.backoffBaseMs / 1000}s): the cap must be at least the base`);
  }
  return { ok: true, value: settings };
}

function readNumeric(spec: NumericSetting, env: Readonly<Record<string, string | undefined>>, flags: SettingFlags): Result<number, SettingsError> {
  const fromFlag = flags[spec.key];
  const [source, raw] = fromFlag !== undefined ? [spec.flag, fromFlag] : [spec.env, env[spec.env]];
  // An empty variable is treated as unset, as shell scripts often export VAR= to mean "default".
  if (raw === undefined || raw.trim() === "") return { ok: true, value: toInternal(spec, spec.default) };
  const text = raw.trim();
  const pattern = spec.unit === "count" ? /^\d+$/ : /^\d+(\.\d+)?$/;
  const what = spec.unit === "count" ? "a whole number" : "a number of seconds";
  if (!pattern.test(text)) return fail(source, `${source}=${JSON.stringify(raw)} is not ${what} (${spec.help}; default ${spec.default})`);
  const value = Number(text);
  if (value < spec.min) return fail(source, `${source}=${JSON.stringify(raw)} is below the minimum ${spec.min} (${spec.help})`);
  return { ok: true, value: toInternal(spec, value) };
}

function toInternal(spec: NumericSetting, value: number): number {
  return spec.unit === "seconds" ? Math.round(value * 1000) : value;
}

function readSeed(env: Readonly<Record<string, string | undefined>>, flags: SettingFlags): Result<number | undefined, SettingsError> {
  const [source, raw] = flags.seed !== undefined ? ["--seed", flags.seed] : [SEED_ENV, env[SEED_ENV]];
  if (raw === undefined || raw.trim() === "") return { ok: true, value: undefined };
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > 0xffffffff) return fail(source, `${source}=${JSON.stringify(raw)} is not a whole number from 0 to 4294967295 (the jitter seed)`);
  return { ok: true, value: Number(raw) };
}

function readPolicy(env: Readonly<Record<string, string | undefined>>, flags: SettingFlags): Result<Settings["pullPolicy"], SettingsError> {
  const [source, raw] = flags.pullPolicy !== undefined ? ["--pull", flags.pullPolicy] : [POLICY_ENV, env[POLICY_ENV]];
  if (raw === undefined || raw.trim() === "") return { ok: true, value: "missing" };
  const text = raw.trim();
  if (text === "always" || text === "missing") return { ok: true, value: text };
  return fail(source, `${source}=${JSON.stringify(raw)} is not a pull policy: use "always" or "missing"`);
}

/** --platform / PULL_PLATFORM, normalized ("linux/aarch64" → "linux/arm64"); unset or empty: the engine's own. */
function readPlatform(env: Readonly<Record<string, string | undefined>>, flags: SettingFlags): Result<string | undefined, SettingsError> {
  const [source, raw] = flags.platform !== undefined ? ["--platform", flags.platform] : ["PULL_PLATFORM", env.PULL_PLATFORM];
  if (raw === undefined || raw.trim() === "") return { ok: true, value: undefined };
  const parsed = parsePlatform(raw, source);
  return parsed.ok ? { ok: true, value: formatPlatform(parsed.value) } : fail(source, parsed.error);
}

function fail(source: string, message: string): { ok: false; error: SettingsError } {
  return { ok: false, error: { source, message } };
}
