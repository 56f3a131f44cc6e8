// Status → typed failure, for any registry answer that is not a success. One table for ping,
// token and manifest answers, so a 429 means the same wherever it arrives.
import type { HttpResponse } from "./transport.js";
import { parseErrorBody } from "./manifest.js";
import { parseQuota } from "./quota.js";
import type { RegistryFailure, Stage } from "./results.js";
import { classifyThrottle, retryAfterFromHeaders } from "./throttle.js";

export interface InterpretContext {
  readonly stage: Stage;
  readonly isDockerHub: boolean;
  readonly credentialsSent: boolean;
  /** The injected clock's now, for `until`. */
  readonly now: number;
  /** Wall-clock now, for an HTTP-date when the answer has no Date header. */
  readonly wallNow: number;
}

/** A failure for a non-2xx answer. */
export function failureOf(response: HttpResponse, ctx: InterpretContext): RegistryFailure {
  const { status, headers } = response;
  const body = response.body.toString("utf8");
  const diagnostics = parseErrorBody(body);
  const message = diagnostics.map((d) => (d.message ? `${d.code}: ${d.message}` : d.code)).join("; ") || undefined;
  const withMessage = message ? { message } : {};
  if (status === 429) {
    const throttle = classifyThrottle({ status, headers, body, isDockerHub: ctx.isDockerHub, wallNowMs: ctx.wallNow });
    const quota = parseQuota(headers);
    return {
      kind: "throttled",
      stage: ctx.stage,
      status,
      throttle,
      ...(throttle.retryAfterMs !== undefined ? { until: ctx.now + throttle.retryAfterMs } : {}),
      ...(quota ? { quota } : {}),
    };
  }
  if (status === 404) {
    const nameUnknown = diagnostics.some((d) => d.code === "NAME_UNKNOWN");
    return { kind: "not-found", stage: ctx.stage, reason: nameUnknown ? "name-unknown" : "manifest-unknown", ...withMessage };
  }
  const denied = diagnostics.some((d) => d.code === "DENIED" || d.code === "UNAUTHORIZED");
  if (status === 401 || status === 403 || (status === 400 && denied)) {
    return { kind: "denied", stage: ctx.stage, status, credentialsSent: ctx.credentialsSent, ...withMessage };
  }
  if (status === 408 || status >= 500) {
    const retryAfterMs = retryAfterFromHeaders(headers, ctx.wallNow);
    return { kind: "unavailable", stage: ctx.stage, status, ...(retryAfterMs !== undefined ? { until: ctx.now + retryAfterMs } : {}), ...withMessage };
  }
  return { kind: "rejected", stage: ctx.stage, status, ...withMessage };
}

export function unreachable(stage: Stage, cause: string): RegistryFailure {
  return { kind: "unreachable", stage, cause };
}
