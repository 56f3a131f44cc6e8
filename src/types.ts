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
  | "engine-unreachable"
  /** A bug in prepull or in code it was given (an engine, an event callback): the image fails, the run still reports. */
  | "internal";

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
  /** Attempts per image, the first included (PULL_RETRIES, named for the scripts prepull replaces). */
  readonly attempts: number;
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
  /** "on": resolve every image with a manifest HEAD before pulling, and probe closed gates by HEAD (PULL_PREFLIGHT). */
  readonly preflight: "on" | "off";
  /** When a registry's pull quota cannot cover the batch: "fit" pulls what fits and fails the rest at once; "all" tries every image (PULL_QUOTA_PLAN). */
  readonly quotaPlan: "fit" | "all";
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
  /** Id of the classifier rule that gave the class (e.g. "manifest-unknown", "http-5xx"), when a rule did. */
  readonly rule?: string;
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
  /** The rule that decided the outcome when no engine attempt did (a preflight answer, the quota plan). */
  readonly rule?: string;
  /** Content digest reported by the engine, when pulled. */
  readonly digest?: string;
  /** The manifest digest the registry named for the reference before the pull (preflight). */
  readonly resolvedDigest?: string;
  /** "os/arch[/variant]": of the image the engine has after the pull, else the one asked for. */
  readonly platform?: string;
  /** Bytes downloaded by the successful attempt. */
  readonly bytes: number;
  readonly durationMs: number;
  readonly attempts: readonly AttemptRecord[];
  /** For class "internal": where the bug was thrown, so it can be reported and fixed. */
  readonly stack?: string;
}

export interface RegistryStats {
  readonly registry: string;
  readonly attempts: number;
  readonly failures: number;
  /** Total time the outage gate of this registry was closed. */
  readonly gateClosedMs: number;
  /** The registry's pull quota as its last answer told it (Docker Hub's ratelimit headers). */
  readonly quota?: RegistryQuota;
}

export interface RegistryQuota {
  /** Pulls allowed per window. */
  readonly limit: number;
  /** Pulls left when prepull last asked. */
  readonly remaining?: number;
  readonly windowSeconds?: number;
  /** Whose quota: an IP address or an account id. */
  readonly source?: string;
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

/** What a running attempt is doing: the manifest, the layers' download, or unpacking them. */
export type PullPhase = "resolving" | "downloading" | "extracting";

/** What happened, as it happened. Consumers (console, TTY, GitHub) subscribe; the scheduler never formats. */
export type PullEvent =
  | { readonly type: "attempt-started"; readonly at: number; readonly image: string; readonly attempt: number; readonly maxAttempts: number; readonly probe?: boolean }
  | { readonly type: "progress"; readonly at: number; readonly image: string; readonly bytes: number; readonly total?: number; readonly status?: string; readonly layer?: string; readonly phase?: PullPhase }
  | { readonly type: "attempt-failed"; readonly at: number; readonly image: string; readonly attempt: number; readonly class: OutcomeClass; readonly message: string; readonly durationMs: number; readonly absorbed?: boolean }
  | { readonly type: "waiting"; readonly at: number; readonly image: string; readonly delayMs: number; readonly reason: "backoff" | "rate-limit" | "gate" }
  | { readonly type: "pulled"; readonly at: number; readonly image: string; readonly attempt: number; readonly durationMs: number; readonly bytes: number; readonly digest?: string }
  | { readonly type: "present"; readonly at: number; readonly image: string }
  | { readonly type: "skipped"; readonly at: number; readonly image: string; readonly message: string }
  | { readonly type: "failed"; readonly at: number; readonly image: string; readonly class: OutcomeClass; readonly message: string; readonly attempts: number }
  /** nextProbeAt: when the gate lets its next probe through (clock ms), for countdowns. */
  | { readonly type: "gate-closed"; readonly at: number; readonly registry: string; readonly reason: string; readonly nextProbeAt?: number }
  | { readonly type: "gate-probe"; readonly at: number; readonly registry: string; readonly image: string; readonly probe: number }
  | { readonly type: "gate-opened"; readonly at: number; readonly registry: string; readonly released: number; readonly closedMs: number }
  | { readonly type: "engine-wedged"; readonly at: number; readonly images: readonly string[]; readonly message: string }
  /** prepull cannot talk to this registry itself: it works through the engine only (said once per registry). */
  | { readonly type: "registry-direct-off"; readonly at: number; readonly registry: string; readonly message: string }
  /** The batch needs more pulls from this registry than its quota has left (said before pulling). */
  | { readonly type: "quota-short"; readonly at: number; readonly registry: string; readonly quota: RegistryQuota; readonly needed: number; readonly notPulled: readonly string[]; readonly message: string };

export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };
