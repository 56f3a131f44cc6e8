// What the registry saw during one run, from the fault proxy's request log. Pure functions over the
// log entries (times are the proxy's clock, ms), so every number in the tables can be recomputed
// from the saved proxy log of a run.
import { maxInFlight, type ProxyLogEntry } from "../stack/fault-proxy.js";

/** Which proxy log entries are pull attempts: it depends on the engine. */
export type AttemptTest = (e: ProxyLogEntry) => boolean;

/** dockerd: a pull attempt is a HEAD on /manifests/<tag> (stack/README.md); a GET by tag only reads a failed HEAD's error. */
export const isAttempt: AttemptTest = (e) => e.kind === "manifest" && e.method === "HEAD";

/** podman: a pull attempt is one GET on /manifests/<tag> (it sends no HEAD; a GET by digest is the list's image). */
const isDockerdAttempt = isAttempt;

export const isPodmanAttempt: AttemptTest = (e) =>
  e.kind === "manifest" && e.method === "GET" && e.ref !== undefined && !/^[a-z0-9]+:[a-f0-9]{32,}$/.test(e.ref);

/** How long after its first fault answer a puller may still send first attempts that belong to its first wave. */
export const WAVE_GRACE_MS = 1000;

export interface FaultWindowMetrics {
  /** Every request (ping, manifest, blob) that started inside the fault window. */
  readonly requests: number;
  /** Pull attempts (manifest HEADs) that started inside the fault window. */
  readonly attempts: number;
  /** Attempts in the window after the first wave (see firstWave). */
  readonly attemptsAfterWave: number;
  /** attemptsAfterWave per second, over [first fault answer, fault end]. */
  readonly attemptRateAfterWave: number;
  /** Most after-wave attempts that started within any 3 s. */
  readonly maxAttemptsIn3s: number;
  /** Most after-wave manifest requests (HEAD or GET) in flight at once, inside the window. */
  readonly maxManifestInFlightAfterWave: number;
  /** When the puller got its first faulted answer (proxy ms), if it got one. */
  readonly firstFaultAnswerAt?: number;
  /** Start times of the after-wave attempts, relative to the window start (s), for the log. */
  readonly attemptTimesS: readonly number[];
}

/**
 * The first wave is each image's first attempt, sent before the puller could react to the fault:
 * a manifest request belongs to it when it started less than WAVE_GRACE_MS after the first faulted
 * answer and its repository has had no earlier attempt. Everything else in the window (retries,
 * probes, first attempts held back and sent later) is "after the first wave".
 */
export function firstWave(
  entries: readonly ProxyLogEntry[],
  firstFaultAnswerAt: number | undefined,
  isAttempt: AttemptTest = isDockerdAttempt,
): Set<ProxyLogEntry> {
  const waveEnd = (firstFaultAnswerAt ?? Number.POSITIVE_INFINITY) + WAVE_GRACE_MS;
  const attemptsSoFar = new Map<string, number>();
  const wave = new Set<ProxyLogEntry>();
  for (const e of [...entries].filter((x) => x.kind === "manifest").sort((a, b) => a.startedAt - b.startedAt || a.id - b.id)) {
    const repository = e.repository ?? "";
    if (isAttempt(e)) attemptsSoFar.set(repository, (attemptsSoFar.get(repository) ?? 0) + 1);
    if (e.startedAt < waveEnd && (attemptsSoFar.get(repository) ?? 0) <= 1) wave.add(e);
  }
  return wave;
}

export function faultWindowMetrics(
  entries: readonly ProxyLogEntry[],
  window: { start: number; end: number },
  isAttempt: AttemptTest = isDockerdAttempt,
): FaultWindowMetrics {
  const inWindow = entries.filter((e) => e.startedAt >= window.start && e.startedAt < window.end);
  const faulted = entries.filter((e) => e.fault !== undefined);
  const firstFaultAnswerAt = faulted.length > 0 ? Math.min(...faulted.map((e) => e.endedAt ?? e.startedAt)) : undefined;
  const wave = firstWave(entries, firstFaultAnswerAt, isAttempt);
  const afterWaveManifests = inWindow.filter((e) => e.kind === "manifest" && !wave.has(e));
  const afterWaveAttempts = afterWaveManifests.filter(isAttempt);
  const from = firstFaultAnswerAt ?? window.start;
  const seconds = Math.max(0.001, (window.end - from) / 1000);
  return {
    requests: inWindow.length,
    attempts: inWindow.filter(isAttempt).length,
    attemptsAfterWave: afterWaveAttempts.length,
    attemptRateAfterWave: afterWaveAttempts.length / seconds,
    maxAttemptsIn3s: maxInSpan(
      afterWaveAttempts.map((e) => e.startedAt),
      3000,
    ),
    maxManifestInFlightAfterWave: maxInFlight(afterWaveManifests, window.end),
    ...(firstFaultAnswerAt !== undefined ? { firstFaultAnswerAt } : {}),
    attemptTimesS: afterWaveAttempts.map((e) => Math.round((e.startedAt - window.start) / 100) / 10),
  };
}

/** Issue 8's load figures of one run: who asked the registry, and how often while it was down. */
export interface LoadMetrics {
  /** Engine pull attempts (the engine's manifest HEADs; podman's GETs by tag) that started in the fault window, first wave included. */
  readonly engineAttempts: number;
  /** Requests of prepull's own registry client that started in the fault window. */
  readonly prepullRequests: number;
  /** Every request (both clients, any kind) started in [first fault answer + WAVE_GRACE_MS, fault end): the first wave excluded. */
  readonly requestsAfterWave: number;
  /** requestsAfterWave per second over that span. */
  readonly requestRateAfterWave: number;
  /** Every request started in the fault window, first wave included, per second of the window. */
  readonly requestRateWindow: number;
}

export function loadMetrics(
  entries: readonly ProxyLogEntry[],
  window: { start: number; end: number },
  firstFaultAnswerAt: number | undefined,
  isAttempt: AttemptTest = isDockerdAttempt,
): LoadMetrics {
  const inWindow = entries.filter((e) => e.startedAt >= window.start && e.startedAt < window.end);
  const from = Math.min(window.end, (firstFaultAnswerAt ?? window.start) + WAVE_GRACE_MS);
  const after = inWindow.filter((e) => e.startedAt >= from);
  return {
    engineAttempts: inWindow.filter((e) => isAttempt(e) && e.client === "engine").length,
    prepullRequests: inWindow.filter((e) => e.client === "prepull").length,
    requestsAfterWave: after.length,
    requestRateAfterWave: after.length / Math.max(0.001, (window.end - from) / 1000),
    requestRateWindow: inWindow.length / Math.max(0.001, (window.end - window.start) / 1000),
  };
}

/**
 * Requests that started inside the Retry-After interval of the first 429 answer, by client. The
 * first wave (each image's first manifest request, sent less than WAVE_GRACE_MS after that answer:
 * requests the puller had sent before it could know; the proxy logs a request when it arrives) is
 * counted apart.
 */
export interface ThrottleMetrics {
  /** When the first 429 answer ended (proxy ms); undefined when the puller got none. */
  readonly first429At?: number;
  /** first429At + Retry-After. */
  readonly intervalEnd?: number;
  readonly prepull: number;
  readonly engine: number;
  /** First-wave requests that arrived inside the interval (not counted above). */
  readonly firstWave: number;
  /** "client method kind at s after the first 429" for the log. */
  readonly requests: readonly string[];
}

export function throttleMetrics(entries: readonly ProxyLogEntry[], retryAfterS: number): ThrottleMetrics {
  const throttled = entries.filter((e) => e.httpStatus === 429 || e.status === 429);
  if (throttled.length === 0) return { prepull: 0, engine: 0, firstWave: 0, requests: [] };
  const first429At = Math.min(...throttled.map((e) => e.endedAt ?? e.startedAt));
  const intervalEnd = first429At + retryAfterS * 1000;
  const wave = firstWave(entries, first429At);
  const all = entries.filter((e) => e.startedAt > first429At && e.startedAt < intervalEnd);
  const inside = all.filter((e) => !wave.has(e));
  return {
    first429At,
    intervalEnd,
    firstWave: all.length - inside.length,
    prepull: inside.filter((e) => e.client === "prepull").length,
    engine: inside.filter((e) => e.client === "engine").length,
    requests: inside.map((e) => `${e.client} ${e.method} ${e.kind} ${e.repository ?? ""} +${((e.startedAt - first429At) / 1000).toFixed(2)}s`),
  };
}

/** What the registry saw about images that cannot be pulled (unknown tag, no platform for this engine). */
export interface BrokenImageMetrics {
  /** Engine manifest requests (HEAD or GET) for those images: each is a pull attempt the preflight should have saved. */
  readonly engineRequests: number;
  readonly prepullHeads: number;
  readonly prepullGets: number;
  /** Per image "repository: prepull HEADs/GETs, engine requests", for the log. */
  readonly perImage: readonly string[];
}

export function brokenImageMetrics(entries: readonly ProxyLogEntry[], repositories: readonly string[]): BrokenImageMetrics {
  const of = (repository: string, client: "prepull" | "engine", method?: string) =>
    entries.filter((e) => e.kind === "manifest" && e.repository === repository && e.client === client && (method === undefined || e.method === method)).length;
  return {
    engineRequests: repositories.reduce((n, r) => n + of(r, "engine"), 0),
    prepullHeads: repositories.reduce((n, r) => n + of(r, "prepull", "HEAD"), 0),
    prepullGets: repositories.reduce((n, r) => n + of(r, "prepull", "GET"), 0),
    perImage: repositories.map((r) => `${r}: prepull ${of(r, "prepull", "HEAD")} HEAD + ${of(r, "prepull", "GET")} GET, engine ${of(r, "engine")}`),
  };
}

/** Most of the given instants inside any half-open span of spanMs. */
export function maxInSpan(times: readonly number[], spanMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while ((sorted[hi] as number) - (sorted[lo] as number) >= spanMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** Layers served in full (a 200 GET of the blob with all its bytes), out of the expected ones. */
export function layersDownloaded(entries: readonly ProxyLogEntry[], layers: readonly { digest: string; size: number }[]): number {
  let served = 0;
  for (const layer of layers) {
    const full = entries.some((e) => e.kind === "blob" && e.method === "GET" && e.ref === layer.digest && e.status === 200 && e.bytes >= layer.size);
    // A layer cut off and resumed with a Range request still counts when the pieces add up.
    const pieces = entries.filter((e) => e.kind === "blob" && e.method === "GET" && e.ref === layer.digest).reduce((sum, e) => sum + e.bytes, 0);
    if (full || pieces >= layer.size) served++;
  }
  return served;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
