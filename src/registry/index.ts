// prepull's registry client: typed answers from the registry itself (preflight, HEAD probes, throttles, quota).
export { createRegistryClient, apiHost, DEFAULT_TIMEOUT_MS } from "./client.js";
export type { ManifestTarget, RegistryClient, RegistryClientOptions, RequestOptions, ResolveOptions } from "./client.js";
export type { ManifestResult, PingResult, PlatformsResult, RegistryFailure, Stage } from "./results.js";
export { hasPlatform, normalizePlatform, MANIFEST_ACCEPT, MEDIA_TYPES, type Platform } from "./manifest.js";
export { parseQuota, type Quota } from "./quota.js";
export { classifyThrottle, parseRetryAfter, type Throttle, type ThrottleKind } from "./throttle.js";
export { DEFAULT_CERTS_DIR } from "./trust.js";
