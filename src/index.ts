// prepull as a library: `await pullImages(["nginx:1.27", "redis"], { signal })` → Report.
import type { Engine } from "./engine/engine.js";
import { formatPlatform, parsePlatform } from "./engine/platform.js";
import { NUMERIC_SETTINGS, resolveSettings } from "./policy/settings.js";
import { InvalidReferencesError, planReferences, runPlan } from "./run/pull-images.js";
import { freshSeed, wireRun } from "./run/wiring.js";
import { version } from "./version.js";
import type { Clock, PullEvent, Random, Report, Settings } from "./types.js";

export type * from "./types.js";
export type { Engine, AttemptOutcome, PullProgress, PullRequest } from "./engine/engine.js";
export { InvalidReferencesError, exitCodeFor } from "./run/pull-images.js";
export { EXIT } from "./exit-codes.js";
export { parseReference, formatReferenceError } from "./reference/index.js";
export { classify } from "./classify/index.js";
export { resolveSettings } from "./policy/settings.js";

export interface PullImagesOptions {
  /** Policy; anything left out takes the PULL_* variables of `env`, then the defaults. */
  readonly settings?: Partial<Settings>;
  /** Cancels every pull and sleep; the returned report then marks them "aborted". */
  readonly signal?: AbortSignal;
  /** Every event of the run, as it happens. */
  readonly onEvent?: (event: PullEvent) => void;
  /** Environment for DOCKER_HOST, DOCKER_CONFIG and PULL_* (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Use this engine instead of connecting through DOCKER_HOST. */
  readonly engine?: Engine;
  /** A docker context by name, like the docker CLI's --context (default: DOCKER_HOST, DOCKER_CONTEXT, config.json's currentContext). */
  readonly context?: string;
  readonly clock?: Clock;
  readonly random?: Random;
}

/**
 * Pulls every image, retrying what is worth retrying, and resolves with the report (it does not
 * reject for failed pulls: look at `report.exitCode` and `report.images`). Rejects with
 * InvalidReferencesError before anything is pulled when a reference is invalid, and with an
 * Error naming the variable when a PULL_* setting is.
 */
export async function pullImages(images: readonly string[], options: PullImagesOptions = {}): Promise<Report> {
  const env = options.env ?? process.env;
  const resolved = resolveSettings(env);
  if (!resolved.ok) throw new Error(resolved.error.message);
  const seed = options.settings?.seed ?? resolved.value.seed ?? freshSeed();
  const settings: Settings = checkSettings({ ...resolved.value, ...options.settings, seed });
  const plan = planReferences(images);
  if (!plan.ok) throw new InvalidReferencesError(plan.error);
  return runPlan(plan.value, {
    settings,
    ...wireRun({
      env,
      seed,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...(options.engine ? { engine: options.engine } : {}),
      ...(options.context ? { context: options.context } : {}),
    }),
    version: version(),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
}

/** Options given in code get the same checks as PULL_* variables, with the option's name in the error. */
function checkSettings(settings: Settings): Settings {
  for (const spec of NUMERIC_SETTINGS) {
    const value = settings[spec.key];
    const scale = spec.unit === "seconds" ? 1000 : 1;
    const whole = spec.unit === "count" ? Number.isInteger(value) : true;
    if (typeof value !== "number" || !Number.isFinite(value) || !whole || value < spec.min * scale) {
      throw new TypeError(`settings.${spec.key} must be ${spec.unit === "count" ? "a whole number" : "a number of milliseconds"} of at least ${spec.min * scale}, got ${String(value)}`);
    }
  }
  if (settings.backoffMaxMs < settings.backoffBaseMs) throw new TypeError(`settings.backoffMaxMs (${settings.backoffMaxMs}) is below settings.backoffBaseMs (${settings.backoffBaseMs})`);
  if (settings.pullPolicy !== "always" && settings.pullPolicy !== "missing") throw new TypeError(`settings.pullPolicy must be "always" or "missing", got ${String(settings.pullPolicy)}`);
  if (settings.platform === undefined) return settings;
  const platform = parsePlatform(String(settings.platform), "settings.platform");
  if (!platform.ok) throw new TypeError(platform.error);
  return { ...settings, platform: formatPlatform(platform.value) };
}
