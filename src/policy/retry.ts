// The retry decision: after an attempt ends, what happens to the image next? This is the one
// place that decides. It reads one per-image record and the attempt's outcome and returns the
// next step with the updated record; the scheduler only carries it out.
import type { OutcomeClass, Random, Settings } from "../types.js";
import { DEFAULT_JITTER, backoffDelay } from "./backoff.js";

/** Everything the decision remembers about one image between its attempts. */
export interface RetryRecord {
  /** Attempts that counted against PULL_RETRIES so far. */
  readonly spent: number;
  /** Failures a closed registry gate took as the outage's, so they spent nothing. */
  readonly absorbed: number;
  /** Rate-limit answers so far (their wait doubles with each). */
  readonly rateLimited: number;
  /** The next attempt needs no retry-budget token: it is the first, follows an absorbed failure or a rate limit, or replaces one that never started. */
  readonly nextFree: boolean;
}

export const FIRST_ATTEMPT: RetryRecord = Object.freeze({ spent: 0, absorbed: 0, rateLimited: 0, nextFree: true });

/**
 * Failures the gate may absorb for one image over the whole run; later ones spend the image's
 * attempts even behind a closed gate. So an image makes at most PULL_RETRIES + this many
 * attempts, and an image whose failures are its own (the gate cannot tell them from an outage
 * once nothing else is left to probe) still fails after its retries instead of at the deadline.
 */
export const MAX_ABSORBED_PER_IMAGE = 5;

/** The registry or the network may answer differently next time; these may also mean the registry is down. */
const TRANSIENT: ReadonlySet<OutcomeClass> = new Set(["transient", "stalled", "timeout"]);

/** A failure that may mean the registry is down (as opposed to the image's own or the client's quota). */
export function isTransient(outcome: OutcomeClass): boolean {
  return TRANSIENT.has(outcome);
}

/** Classes worth another attempt. */
export function isRetryable(outcome: OutcomeClass): boolean {
  return TRANSIENT.has(outcome) || outcome === "rate-limited";
}

export type Next =
  | { readonly action: "pulled" }
  | { readonly action: "skipped" }
  | { readonly action: "fail" }
  | { readonly action: "retry"; readonly delayMs: number; readonly reason: "backoff" | "rate-limit" }
  /** Go again at once: the closed gate decides when (an absorbed failure). */
  | { readonly action: "requeue" };

export interface Decision {
  readonly next: Next;
  readonly record: RetryRecord;
  /** The closed gate absorbed this failure: it spent no attempt. */
  readonly absorbed: boolean;
}

export interface AttemptEnd {
  readonly class: OutcomeClass;
  /** The registry's gate took this failure as its outage's (see RegistryTicket.finish). */
  readonly outage: boolean;
}

export function decide(record: RetryRecord, ended: AttemptEnd, settings: Settings, random: Random, maxAbsorbed = MAX_ABSORBED_PER_IMAGE): Decision {
  const outcome = ended.class;
  const absorbed = ended.outage && isTransient(outcome) && record.absorbed < maxAbsorbed;
  const next: RetryRecord = {
    spent: record.spent + (absorbed ? 0 : 1),
    absorbed: record.absorbed + (absorbed ? 1 : 0),
    rateLimited: record.rateLimited + (outcome === "rate-limited" ? 1 : 0),
    // A rate limit is the client's quota, not the registry failing: its retry draws no token.
    nextFree: absorbed || outcome === "rate-limited",
  };
  const step = (n: Next): Decision => ({ next: n, record: next, absorbed });
  if (outcome === "pulled" || outcome === "present") return step({ action: "pulled" });
  if (outcome === "skipped-platform") return step({ action: "skipped" });
  if (absorbed) return step({ action: "requeue" });
  if (!isRetryable(outcome) || next.spent >= settings.attempts) return step({ action: "fail" });
  if (outcome === "rate-limited") {
    // A quota does not refill in seconds: wait longer than for a blip, and double each time.
    const options = { baseMs: settings.rateLimitBackoffMs, maxMs: Math.max(settings.rateLimitBackoffMs, settings.backoffMaxMs) * 4, jitter: DEFAULT_JITTER };
    return step({ action: "retry", delayMs: backoffDelay(next.rateLimited, options, random), reason: "rate-limit" });
  }
  const options = { baseMs: settings.backoffBaseMs, maxMs: settings.backoffMaxMs, jitter: DEFAULT_JITTER };
  return step({ action: "retry", delayMs: backoffDelay(next.spent, options, random), reason: "backoff" });
}

/** An attempt that was admitted but never started (the gate closed while it waited for a slot): nothing spent, and its token, if any, already paid. */
export function voided(record: RetryRecord): RetryRecord {
  return { ...record, nextFree: true };
}
