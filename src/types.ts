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
  /** "missing" skips images the engine already has; "never" pulls nothing (present or loaded from --load, else failed). */
  readonly pullPolicy: "always" | "missing" | "never";
  /** "on": resolve every image with a manifest HEAD before pulling, and probe closed gates by HEAD (PULL_PREFLIGHT). */
  readonly preflight: "on" | "off";
  /** When a registry's pull quota cannot cover the batch: "fit" pulls what fits and fails the rest at once; "all" tries every image (PULL_QUOTA_PLAN). */
  readonly quotaPlan: "fit" | "all";
  /** Platform for every image without its own (--platform / PULL_PLATFORM), "os/arch[/variant]"; unset: the engine's. */
  readonly platform?: string;
  /** Directory to write each pulled or present image to as a docker-archive after the run (PULL_SAVE). */
  readonly saveDir?: string;
  /** Directory of docker-archives to load before pulling (PULL_LOAD). */
  readonly loadDir?: string;
  /** Mirrors and pull-through caches, in the order they are tried (--mirror, PULL_MIRRORS). Absent: none. */
  readonly mirrors?: readonly MirrorRule[];
  /** Keep the mirror's name of an image pulled from a mirror, besides its own (--keep-mirror-names). Absent: false. */
  readonly keepMirrorNames?: boolean;
}

/** One mirror of one registry: `REGISTRY=host[:port][/prefix]`. */
export interface MirrorRule {
  /** The registry it mirrors, normalized ("docker.io" for Hub). */
  readonly registry: string;
  /** The mirror's host[:port]. */
  readonly host: string;
  /** Path prefix put before the repository (a Harbor proxy project, an ECR pull-through prefix). */
  readonly prefix?: string;
  /** host[/prefix]: the mirror's name in logs and its key for coordination (its own gate, budget, quota). */
  readonly key: string;
}

/** Where an image came from: already on the engine, an archive, a mirror, or its own registry. */
export type ImageSource = "engine" | "archive" | "mirror" | "upstream";

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
  /** The mirror this attempt went to (its key, host[/prefix]); absent: the image's own registry. A mirror's failure never spends the image's attempts. */
  readonly mirror?: string;
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
  /** What served the image: already on the engine, loaded from --load, pulled from a mirror, or from its own registry. */
  readonly source?: ImageSource;
  /** The mirror that served it (host[/prefix]), when source is "mirror". */
  readonly mirror?: string;
}

/** One archive file loaded (--load) or written (--save) in a run. */
export interface ArchiveRecord {
  readonly action: "load" | "save";
  /** Path of the archive file (for a failed save, the file it would have been). */
  readonly file: string;
  /** "skipped": a save that cannot help a later load (a digest reference). */
  readonly status: "ok" | "failed" | "skipped";
  /** The normalized references the file holds (save) or served (load). */
  readonly images: readonly string[];
  readonly bytes: number;
  readonly durationMs: number;
  /** Why it failed or was skipped, naming the file. */
  readonly message?: string;
}

export interface RegistryStats {
  readonly registry: string;
  readonly attempts: number;
  readonly failures: number;
  /** Total time the outage gate of this registry was closed. */
  readonly gateClosedMs: number;
  /** The registry's pull quota as its last answer told it (Docker Hub's ratelimit headers). */
  readonly quota?: RegistryQuota;
  /** Set when this entry is a mirror: the registry it mirrors. */
  readonly mirrorOf?: string;
  /** Bytes of the images this source served. */
  readonly bytes?: number;
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
  /** Archive files loaded (--load) and written (--save), when either was asked. */
  readonly archives?: readonly ArchiveRecord[];
  /** Set when the run was cut short. */
  readonly interrupted?: "SIGINT" | "SIGTERM" | "deadline";
  readonly exitCode: number;
  /** The engine's own registry-mirrors (GET /info): what the daemon does by itself, for Docker Hub only. */
  readonly engineMirrors?: readonly string[];
}

/** What a running attempt is doing: the manifest, the layers' download, or unpacking them. */
export type PullPhase = "resolving" | "downloading" | "extracting";

/** What happened, as it happened. Consumers (console, TTY, GitHub) subscribe; the scheduler never formats. */
export type PullEvent =
  | {
      readonly type: "attempt-started";
      readonly at: number;
      readonly image: string;
      readonly attempt: number;
      readonly maxAttempts: number;
      readonly probe?: boolean;
      readonly mirror?: string;
    }
  | {
      readonly type: "progress";
      readonly at: number;
      readonly image: string;
      readonly bytes: number;
      readonly total?: number;
      readonly status?: string;
      readonly layer?: string;
      readonly phase?: PullPhase;
    }
  | {
      readonly type: "attempt-failed";
      readonly at: number;
      readonly image: string;
      readonly attempt: number;
      readonly class: OutcomeClass;
      readonly message: string;
      readonly durationMs: number;
      readonly absorbed?: boolean;
      readonly mirror?: string;
    }
  | { readonly type: "waiting"; readonly at: number; readonly image: string; readonly delayMs: number; readonly reason: "backoff" | "rate-limit" | "gate" }
  | {
      readonly type: "pulled";
      readonly at: number;
      readonly image: string;
      readonly attempt: number;
      readonly durationMs: number;
      readonly bytes: number;
      readonly digest?: string;
      readonly mirror?: string;
    }
  | { readonly type: "present"; readonly at: number; readonly image: string; readonly source?: "engine" | "archive" }
  /** An archive file was loaded (--load) or written (--save), or failed to be. */
  | {
      readonly type: "archive";
      readonly at: number;
      readonly action: "load" | "save";
      readonly file: string;
      readonly ok: boolean;
      readonly images: readonly string[];
      readonly message?: string;
    }
  /** An attempt leaves a source for the next one (a mirror that lacks the image, is down or serves another digest); it spends nothing. */
  | {
      readonly type: "failover";
      readonly at: number;
      readonly image: string;
      readonly from: string;
      readonly to: string;
      readonly reason: string;
      readonly warning?: boolean;
    }
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
  | {
      readonly type: "quota-short";
      readonly at: number;
      readonly registry: string;
      readonly quota: RegistryQuota;
      readonly needed: number;
      readonly notPulled: readonly string[];
      readonly message: string;
    };

export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };
