// What the registry saw during one run, from the fault proxy's request log. Pure functions over the
// log entries (times are the proxy's clock, ms), so every number in the tables can be recomputed
// from the saved proxy log of a run.
import { maxInFlight, type ProxyLogEntry } from "../test/harness/fault-proxy.js";

/** Which proxy log entries are pull attempts: it depends on the engine. */
export type AttemptTest = (e: ProxyLogEntry) => boolean;

/** dockerd: a pull attempt is a HEAD on /manifests/<tag> (test/harness/README.md); a GET by tag only reads a failed HEAD's error. */
export const isAttempt: AttemptTest = (e) => e.kind === "manifest" && e.method === "HEAD";

/** podman: a pull attempt is one GET on /manifests/<tag> (it sends no HEAD; a GET by digest is the list's image). */
const isDockerdAttempt = isAttempt;

export const isPodmanAttempt: AttemptTest = (e) => e.kind === "manifest" && e.method === "GET" && e.ref !== undefined && !/^[a-z0-9]+:[a-f0-9]{32,}$/.test(e.ref);

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
export function firstWave(entries: readonly ProxyLogEntry[], firstFaultAnswerAt: number | undefined, isAttempt: AttemptTest = isDockerdAttempt): Set<ProxyLogEntry> {
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

export function faultWindowMetrics(entries: readonly ProxyLogEntry[], window: { start: number; end: number }, isAttempt: AttemptTest = isDockerdAttempt): FaultWindowMetrics {
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
    maxAttemptsIn3s: maxInSpan(afterWaveAttempts.map((e) => e.startedAt), 3000),
    maxManifestInFlightAfterWave: maxInFlight(afterWaveManifests, window.end),
    ...(firstFaultAnswerAt !== undefined ? { firstFaultAnswerAt } : {}),
    attemptTimesS: afterWaveAttempts.map((e) => Math.round((e.startedAt - window.start) / 100) / 10),
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
