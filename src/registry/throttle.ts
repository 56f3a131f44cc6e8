// What a 429 (or a 503 with Retry-After) asks of us: how long to stay away, and what kind of limit
// it is. Registries say it in different places (registry-facts.md "Throttling by registry"), so
// this is an ordered table of rules over status, headers and the (bounded) body, like classify/.
import type { IncomingHttpHeaders } from "node:http";
import { parseQuota } from "./quota.js";

/**
 * quota: Docker Hub's pull quota (a window of hours: waiting helps nobody);
 * abuse: Docker Hub's bare request-rate 429 (clears in seconds);
 * generic: any other registry's throttle.
 */
export type ThrottleKind = "quota" | "abuse" | "generic";

export interface Throttle {
  readonly kind: ThrottleKind;
  /** Which rule of the table matched, for reports and tests. */
  readonly rule: string;
  /** How long the registry asked us to wait, from a Retry-After header or the body. */
  readonly retryAfterMs?: number;
}

export interface ThrottleInput {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The start of the body (empty for HEAD). */
  readonly body: string;
  readonly isDockerHub: boolean;
  /** Wall-clock ms to measure an HTTP-date against when the response has no Date header. */
  readonly wallNowMs: number;
}

interface Rule {
  readonly id: string;
  readonly kind: ThrottleKind;
  readonly test: (input: ThrottleInput) => boolean;
}

const HUB_QUOTA_TEXT = /pull rate limit|increase-rate-limit|rate-limit|pull limit/i;

const RULES: readonly Rule[] = [
  // Hub's quota 429 has a long message with a link; on HEAD (no body) the exhausted quota header says it.
  { id: "hub-quota", kind: "quota", test: (i) => i.isDockerHub && (HUB_QUOTA_TEXT.test(i.body) || parseQuota(i.headers)?.remaining === 0) },
  { id: "hub-abuse", kind: "abuse", test: (i) => i.isDockerHub },
  { id: "ghcr-body-retry-after", kind: "generic", test: (i) => bodyRetryAfterMs(i.body) !== undefined },
  { id: "html-page", kind: "generic", test: (i) => /text\/html/i.test(String(i.headers["content-type"] ?? "")) || /^\s*</.test(i.body) },
  { id: "ecr-rate-exceeded", kind: "generic", test: (i) => /rate exceeded/i.test(i.body) },
  { id: "toomanyrequests", kind: "generic", test: (i) => /toomanyrequests|too many requests/i.test(i.body) },
  { id: "status-429", kind: "generic", test: () => true },
];

/** Pure: the throttle a 429 answer describes. */
export function classifyThrottle(input: ThrottleInput): Throttle {
  const rule = RULES.find((r) => r.test(input)) ?? { id: "status-429", kind: "generic" as const };
  const retryAfterMs = retryAfterFromHeaders(input.headers, input.wallNowMs) ?? bodyRetryAfterMs(input.body);
  return { kind: rule.kind, rule: rule.id, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

/** Retry-After of a response, measured against its own Date header when it has one (clock skew). */
export function retryAfterFromHeaders(headers: IncomingHttpHeaders, wallNowMs: number): number | undefined {
  const value = headers["retry-after"];
  if (typeof value !== "string") return undefined;
  const served = typeof headers.date === "string" ? parseHttpDate(headers.date) : undefined;
  return parseRetryAfter(value, served ?? wallNowMs);
}

/** "8" → 8000; an HTTP-date → ms from `nowMs` (0 when past); anything else → undefined. */
export function parseRetryAfter(value: string, nowMs: number): number | undefined {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = parseHttpDate(text);
  return at === undefined ? undefined : Math.max(0, at - nowMs);
}

/** IMF-fixdate, RFC 850 and asctime (which carries no zone but means GMT). */
export function parseHttpDate(text: string): number | undefined {
  if (!/[a-z]/i.test(text)) return undefined;
  const asctime = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/.test(text);
  const ms = Date.parse(asctime ? `${text} GMT` : text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** GHCR's form: `toomanyrequests: retry-after: 880.092µs, allowed: 44000/minute` (a Go duration). */
export function bodyRetryAfterMs(body: string): number | undefined {
  const match = /retry-after:\s*((?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h))+)/i.exec(body);
  return match?.[1] === undefined ? undefined : parseGoDuration(match[1]);
}

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "1m30.5s" → 90500, "880.092µs" → 0.880092; undefined when not a Go duration. */
export function parseGoDuration(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] ?? ""] ?? 0), 0);
}
