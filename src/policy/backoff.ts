// How long an image waits before its next attempt. The retry decision itself is in retry.ts.
import type { Random } from "../types.js";

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
  /** Upper bound of the added jitter, as a fraction of the nominal delay. */
  readonly jitter: number;
}

/** Fraction of the nominal delay added at random (see docs/decisions.md, "Backoff and jitter"). */
export const DEFAULT_JITTER = 0.1;

/**
 * Delay before retry number `retry` (1 = the wait after the first failed attempt):
 * min(max, base·2^(retry−1)), plus up to `jitter` of that, drawn from `random`.
 *
 * The jitter is only ever added, never subtracted: a caller who sets PULL_BACKOFF_BASE knows the
 * minimum window their retries cover, as with the bash loops prepull replaces, while images that
 * failed together still drift apart instead of retrying in lockstep.
 */
export function backoffDelay(retry: number, options: BackoffOptions, random: Random): number {
  const nominal = nominalDelay(retry, options);
  return Math.round(nominal * (1 + options.jitter * random()));
}

export function nominalDelay(retry: number, options: BackoffOptions): number {
  const exponent = Math.max(0, retry - 1);
  // 2^exponent overflows to Infinity for huge retry counts, and min() keeps that harmless.
  return Math.min(options.maxMs, options.baseMs * 2 ** exponent);
}
