// The shared vocabulary of prepull. Every module speaks in these words; nothing here does I/O.

/** An image reference, parsed and normalized. */
export interface Reference {
  /** Exactly what the user wrote. */
  readonly input: string;
  /** Registry host[:port], normalized: Docker Hub is always "docker.io". */
  readonly registry: string;
  /** Repository path on that registry: "library/nginx", "org/team/app". */
  readonly repository: string;
  /** Tag, when the reference has one (the default "latest" is filled in when there is no digest). */
  readonly tag?: string;
  /** Digest "algorithm:hex", when the reference has one. */
  readonly digest?: string;
  /** Fully qualified form used as the identity of the image: registry/repository[:tag][@digest]. */
  readonly canonical: string;
  /** Platform to pull, "os/arch[/variant]" (--platform, PULL_PLATFORM or a compose service's `platform:`); default the engine's. */
  readonly platform?: string;
}

/** How one engine answer is understood. Produced by classify() and by the scheduler. */
export type OutcomeClass =
  | "pulled"
  | "present"
  | "skipped-platform"
  | "permanent"
  | "transient"
  | "rate-limited"
  | "stalled"
  | "timeout"
  | "deadline"
  | "aborted"
  | "engine-unreachable";

/** The classes classify() can return for a failed engine call. */
export type FailureClass = "skipped-platform" | "permanent" | "transient" | "rate-limited" | "engine-unreachable";

/** Final status of an image in a run. */
export type ImageStatus = "pulled" | "present" | "skipped" | "failed";

/** Time and sleep, injected so tests replay hours of backoff in milliseconds. */
export interface Clock {
  /** Milliseconds since an arbitrary epoch (the real clock uses Date.now()). */
  now(): number;
  /** Resolves after ms; rejects with signal.reason if aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Uniform random numbers in [0, 1). Seeded in tests and with --seed. */
export type Random = () => number;

/** The retry policy and limits of one run, all times in milliseconds. */
export interface Settings {
  /** Attempts per image, including the first (PULL_RETRIES). */
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Hard cap on one attempt (PULL_TIMEOUT). */
  readonly timeoutMs: number;
  /** Concurrent pulls (PULL_PARALLEL). */
  readonly parallel: number;
  readonly seed?: number;
  /** Base wait after a rate-limit answer (PULL_RATE_LIMIT_BACKOFF). */
  readonly rateLimitBackoffMs: number;
  /** No downloaded bytes for this long aborts an attempt (PULL_STALL_TIMEOUT). */
  readonly stallTimeoutMs: number;
  /** Whole-run deadline (PULL_DEADLINE). */
  readonly deadlineMs: number;
  /** "missing" skips images the engine already has. */
  readonly pullPolicy: "always" | "missing";
  /** Platform for every image without its own (--platform / PULL_PLATFORM), "os/arch[/variant]"; unset: the engine's. */
  readonly platform?: string;
}

/** One attempt as it is recorded in the report. */
export interface AttemptRecord {
  readonly number: number;
  /** ISO-8601 wall-clock time. */
  readonly startedAt: string;
  readonly durationMs: number;
  readonly class: OutcomeClass;
  /** The engine's message (never contains credentials). */
  readonly message?: string;
  /** True when a closed outage gate absorbed this failure, so it did not spend the image's attempts. */
  readonly absorbed?: boolean;
}

export interface ImageResult {
  /** As the user wrote it (the first spelling, when duplicates were merged). */
  readonly input: string;
  /** Normalized reference. */
  readonly reference: string;
  readonly registry: string;
  readonly status: ImageStatus;
  /** Class of the final outcome (e.g. "transient" for a failure after all attempts). */
  readonly class: OutcomeClass;
  /** Human-readable reason for anything but a clean pull. */
  readonly reason?: string;
  /** Content digest reported by the engine, when pulled. */
  readonly digest?: string;
  /** "os/arch[/variant]": of the image the engine has after the pull, else the one asked for. */
  readonly platform?: string;
  /** Bytes downloaded by the successful attempt. */
  readonly bytes: number;
  readonly durationMs: number;
  readonly attempts: readonly AttemptRecord[];
}

export interface RegistryStats {
  readonly registry: string;
  readonly attempts: number;
  readonly failures: number;
  /** Total time the outage gate of this registry was closed. */
  readonly gateClosedMs: number;
}

export interface Report {
  readonly schemaVersion: 1;
  readonly tool: { readonly name: "prepull"; readonly version: string };
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationMs: number;
  readonly settings: Settings;
  readonly images: readonly ImageResult[];
  readonly registries: readonly RegistryStats[];
  /** Set when the run was cut short. */
  readonly interrupted?: "SIGINT" | "SIGTERM" | "deadline";
  readonly exitCode: number;
}

/** What happened, as it happened. Consumers (console, TTY, GitHub) subscribe; the scheduler never formats. */
export type PullEvent =
  | { readonly type: "attempt-started"; readonly at: number; readonly image: string; readonly attempt: number; readonly maxAttempts: number; readonly probe?: boolean }
  | { readonly type: "progress"; readonly at: number; readonly image: string; readonly bytes: number; readonly total?: number; readonly status?: string; readonly layer?: string }
  | { readonly type: "attempt-failed"; readonly at: number; readonly image: string; readonly attempt: number; readonly class: OutcomeClass; readonly message: string; readonly durationMs: number; readonly absorbed?: boolean }
  | { readonly type: "waiting"; readonly at: number; readonly image: string; readonly delayMs: number; readonly reason: "backoff" | "rate-limit" | "gate" }
  | { readonly type: "pulled"; readonly at: number; readonly image: string; readonly attempt: number; readonly durationMs: number; readonly bytes: number; readonly digest?: string }
  | { readonly type: "present"; readonly at: number; readonly image: string }
  | { readonly type: "skipped"; readonly at: number; readonly image: string; readonly message: string }
  | { readonly type: "failed"; readonly at: number; readonly image: string; readonly class: OutcomeClass; readonly message: string; readonly attempts: number }
  | { readonly type: "gate-closed"; readonly at: number; readonly registry: string; readonly reason: string }
  | { readonly type: "gate-probe"; readonly at: number; readonly registry: string; readonly image: string; readonly probe: number }
  | { readonly type: "gate-opened"; readonly at: number; readonly registry: string; readonly released: number; readonly closedMs: number }
  | { readonly type: "engine-wedged"; readonly at: number; readonly images: readonly string[]; readonly message: string };

export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };
