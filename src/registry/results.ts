// The typed answers of the registry client. Expected failures are values, never thrown: the
// scheduler decides per kind (fail now, wait until, probe again, fall back to the engine).
import type { Platform } from "./manifest.js";
import type { Quota } from "./quota.js";
import type { Throttle } from "./throttle.js";

/** Which request of the exchange failed. */
export type Stage = "ping" | "token" | "manifest";

export type RegistryFailure =
  /** 404. `reason` from the GET error body; "manifest-unknown" when no body said otherwise. */
  | { readonly kind: "not-found"; readonly stage: Stage; readonly reason: "manifest-unknown" | "name-unknown"; readonly message?: string }
  /**
   * 401/403 after authenticating (or a token endpoint refusing). `anonymousWorks` is set when
   * credentials were sent and an anonymous retry succeeded: stale credentials for a public image.
   */
  | {
      readonly kind: "denied";
      readonly stage: Stage;
      readonly status: number;
      readonly credentialsSent: boolean;
      readonly anonymousWorks?: boolean;
      readonly message?: string;
    }
  /** 429. `until` is clock time (the injected clock) when the registry said how long to wait. */
  | { readonly kind: "throttled"; readonly stage: Stage; readonly status: number; readonly throttle: Throttle; readonly until?: number; readonly quota?: Quota }
  /** 408, 5xx: the registry is there but not serving. `until` from a Retry-After, if any. */
  | { readonly kind: "unavailable"; readonly stage: Stage; readonly status: number; readonly until?: number; readonly message?: string }
  /** Any other 4xx: a request the registry will not serve as asked. */
  | { readonly kind: "rejected"; readonly stage: Stage; readonly status: number; readonly message?: string }
  /** An answer we cannot use (no token in it, a digest that does not match, a manifest too large). */
  | { readonly kind: "protocol-error"; readonly stage: Stage; readonly message: string }
  /** No answer: connection refused, DNS, TLS, proxy, timeout. `cause` is safe to print. */
  | { readonly kind: "unreachable"; readonly stage: Stage; readonly cause: string }
  /** The Docker config or a credential helper failed; the message names the file or helper. */
  | { readonly kind: "credentials-error"; readonly message: string };

export type PingResult = { readonly kind: "ok"; readonly auth: "none" | "basic" | "bearer" } | RegistryFailure;

export type ManifestResult =
  | {
      readonly kind: "ok";
      readonly digest: string;
      readonly mediaType?: string;
      /** True for an OCI index or Docker manifest list: platformsOf() tells what it holds. */
      readonly isIndex: boolean;
      /** The Hub-style quota headers of the answer, when it had them. */
      readonly quota?: Quota;
      /** "head", or "get" when the HEAD lacked Docker-Content-Digest. */
      readonly via: "head" | "get";
    }
  | RegistryFailure;

export type PlatformsResult =
  /** `platforms` is undefined when the digest names a single-platform manifest, not an index. */
  { readonly kind: "ok"; readonly mediaType?: string; readonly platforms?: readonly Platform[] } | RegistryFailure;
