// prepull as a library: `await pullImages(["nginx:1.27", "redis"], { signal })` → Report.
import type { Engine } from "./engine/engine.js";
import { resolveSettings } from "./policy/settings.js";
import { InvalidReferencesError, planReferences, runPlan } from "./run/pull-images.js";
import { wireRun } from "./wiring.js";
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
  // One validator for code, flags and variables: a bad value names where it came from.
  const settings = resolveSettings(env, {}, options.settings);
  if (!settings.ok) throw settings.error.source.startsWith("settings.") ? new TypeError(settings.error.message) : new Error(settings.error.message);
  const plan = planReferences(images);
  if (!plan.ok) throw new InvalidReferencesError(plan.error);
  return runPlan(plan.value, {
    ...wireRun({
      env,
      settings: settings.value,
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
