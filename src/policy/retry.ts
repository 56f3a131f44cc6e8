// The retry decision: after an attempt ends, does the image retry, and after how long?
import type { OutcomeClass, Random, Settings } from "../types.js";
import { DEFAULT_JITTER, backoffDelay } from "./backoff.js";

export type Decision =
  | { readonly action: "pulled" }
  | { readonly action: "skipped" }
  | { readonly action: "fail" }
  | { readonly action: "retry"; readonly delayMs: number; readonly reason: "backoff" | "rate-limit" };

export interface AttemptHistory {
  /** Attempts this image has spent, the one that just ended included. */
  readonly spent: number;
  /** Rate-limit answers so far, the one that just ended included. */
  readonly rateLimited: number;
}

/** Classes worth another attempt: the registry or the network may answer differently next time. */
export const RETRYABLE: ReadonlySet<OutcomeClass> = new Set(["transient", "stalled", "timeout", "rate-limited"]);

export function decide(outcome: OutcomeClass, history: AttemptHistory, settings: Settings, random: Random): Decision {
  if (outcome === "pulled" || outcome === "present") return { action: "pulled" };
  if (outcome === "skipped-platform") return { action: "skipped" };
  if (!RETRYABLE.has(outcome) || history.spent >= settings.retries) return { action: "fail" };
  if (outcome === "rate-limited") {
    // A quota does not refill in seconds: wait longer than for a blip, and double each time.
    const options = { baseMs: settings.rateLimitBackoffMs, maxMs: Math.max(settings.rateLimitBackoffMs, settings.backoffMaxMs) * 4, jitter: DEFAULT_JITTER };
    return { action: "retry", delayMs: backoffDelay(history.rateLimited, options, random), reason: "rate-limit" };
  }
  const options = { baseMs: settings.backoffBaseMs, maxMs: settings.backoffMaxMs, jitter: DEFAULT_JITTER };
  return { action: "retry", delayMs: backoffDelay(history.spent, options, random), reason: "backoff" };
}
