// The decision to close a registry's outage gate, kept apart from the gate that acts on it (as
// cockatiel keeps IBreaker apart from its state machine). A small value with no clock of its own:
// each event brings its time, so tests script hours of history in a few lines.

export interface TripOptions {
  /** Transient failures on `repositories` different repositories within this many ms trip. Default 10 000. */
  readonly windowMs: number;
  /** Distinct repositories failing, with no success in between, that trip. Default 2. */
  readonly repositories: number;
  /** Transient failures in a row (any repositories) that trip, e.g. a single-image registry. Default 3. */
  readonly consecutive: number;
  /** Window of the `consecutive` rule. Longer than `windowMs`: one image's failures are spaced by its own backoff. Default 30 000. */
  readonly consecutiveWindowMs: number;
  /**
   * The "degraded" rule, for a registry that fails a large share of requests at random (a brownout):
   * successes keep arriving, so every failing repository looks image-specific and the rules above
   * never trip. Within degradedWindowMs, at least degradedFailures transient failures on at least
   * degradedRepositories repositories that are at least degradedRatio of the finished attempts trip.
   * Defaults 20 000 ms, 6, 3, 0.25: two broken images among healthy ones never reach 3 repositories,
   * and a registry failing 30 % of requests fails about a third of pulls (two manifest requests each).
   */
  readonly degradedWindowMs: number;
  readonly degradedFailures: number;
  readonly degradedRepositories: number;
  readonly degradedRatio: number;
}

export const DEFAULT_TRIP_OPTIONS: TripOptions = {
  windowMs: 10_000,
  repositories: 2,
  consecutive: 3,
  consecutiveWindowMs: 30_000,
  degradedWindowMs: 20_000,
  degradedFailures: 6,
  degradedRepositories: 3,
  degradedRatio: 0.25,
};

/**
 * One finished attempt, as the detector sees it. "other" covers permanent errors, platform skips
 * and rate limits: they say something about one image or about the client's quota, not about the
 * registry's health, so they neither trip the detector nor reset it.
 */
export interface TripEvent {
  readonly at: number;
  readonly repository: string;
  readonly kind: "transient" | "success" | "other";
  /**
   * For a success: when the registry answered that attempt (resolved its manifest). The success
   * speaks only against failures up to then: a download that began before an outage and ends
   * during it proves nothing about the outage. Default: `at`.
   * For a transient failure: set when that attempt got past its manifest (the failure came later,
   * e.g. on a layer); unset for a failure before the registry answered (a "manifest-stage" one).
   */
  readonly answeredAt?: number;
  /**
   * For a transient failure: when that attempt started. A manifest-stage failure of an attempt
   * that was running when the registry answered another repository (see answered()) is
   * image-specific: the registry was serving manifests meanwhile.
   */
  readonly startedAt?: number;
}

export interface TripDetector {
  /** Records one event; true when the registry now looks down (the gate should close). */
  record(event: TripEvent): boolean;
  /**
   * The registry resolved a manifest of `repository` at `at` (an attempt's answer, long before its
   * download ends). Manifest-stage failures up to then stop counting, and those of other
   * repositories become suspects; so does a manifest-stage failure recorded later whose attempt
   * was already running at `at`. Failures after an answer (on layers) are untouched: a served
   * manifest says nothing about blobs. Images of one batch start together, so without this a
   * broken image that fails before the healthy ones finish downloading looks like an outage.
   */
  answered(event: { readonly at: number; readonly repository: string }): void;
  /**
   * Stops counting the failures seen so far toward a trip (call it when the gate opens, so the
   * outage's own failures do not close it again at once). They are still remembered, for the
   * window, to tell image-specific failures apart when a success comes.
   */
  reset(): void;
  /** Why the last record() returned true. */
  readonly reason: string | undefined;
  /** Transient failures currently counted against the registry. */
  readonly counted: number;
  /** When the oldest failure currently counted against the registry was recorded; undefined when none is. */
  readonly countedSince: number | undefined;
  /**
   * Repositories that failed before the registry then served another repository successfully:
   * their failures look image-specific and no longer count (until that repository succeeds).
   */
  readonly suspects: ReadonlySet<string>;
}

interface Failure {
  readonly at: number;
  readonly repository: string;
  /** False once reset(): remembered for suspects, no longer counted toward a trip. */
  readonly counted: boolean;
  /** The attempt failed before the registry answered it (no answeredAt). */
  readonly manifestStage: boolean;
}

export function createTripDetector(options: Partial<TripOptions> = {}): TripDetector {
  const o = { ...DEFAULT_TRIP_OPTIONS, ...options };
  positive("windowMs", o.windowMs);
  positive("consecutiveWindowMs", o.consecutiveWindowMs);
  atLeast("repositories", o.repositories, 2);
  atLeast("consecutive", o.consecutive, 1);
  positive("degradedWindowMs", o.degradedWindowMs);
  atLeast("degradedFailures", o.degradedFailures, 1);
  atLeast("degradedRepositories", o.degradedRepositories, 1);
  if (!(o.degradedRatio > 0 && o.degradedRatio <= 1)) throw new RangeError(`trip option degradedRatio must be in (0, 1], got ${String(o.degradedRatio)}`);
  const keepMs = Math.max(o.windowMs, o.consecutiveWindowMs);

  /** Transient failures the registry has not answered past yet, oldest first, none older than keepMs. */
  let streak: Failure[] = [];
  /** Manifests the registry resolved (answered()), none older than keepMs. */
  let answers: { readonly at: number; readonly repository: string }[] = [];
  const suspects = new Set<string>();
  let reason: string | undefined;
  /** Every finished attempt within degradedWindowMs, for the degraded rule; emptied by reset(). */
  let tally: { readonly at: number; readonly repository: string; readonly failed: boolean }[] = [];
  const degraded = (at: number): string | undefined => {
    tally = tally.filter((t) => at - t.at <= o.degradedWindowMs);
    const failed = tally.filter((t) => t.failed);
    const repositories = new Set(failed.map((t) => t.repository));
    if (failed.length < o.degradedFailures || repositories.size < o.degradedRepositories || failed.length < o.degradedRatio * tally.length) return undefined;
    return `degraded: ${failed.length} of ${tally.length} attempts failed within ${seconds(o.degradedWindowMs)} on ${repositories.size} repositories`;
  };

  return {
    get reason() {
      return reason;
    },
    get counted() {
      return streak.filter((f) => f.counted).length;
    },
    get countedSince() {
      return streak.find((f) => f.counted)?.at;
    },
    suspects,
    reset() {
      streak = streak.map((f) => ({ ...f, counted: false }));
      tally = [];
    },
    answered(event) {
      answers = [...answers.filter((a) => event.at - a.at <= keepMs), event];
      for (const f of streak) if (f.manifestStage && f.at <= event.at && f.repository !== event.repository) suspects.add(f.repository);
      suspects.delete(event.repository);
      streak = streak.filter((f) => !(f.manifestStage && f.at <= event.at));
    },
    record(event) {
      reason = undefined;
      if (event.kind === "other") return false;
      tally.push({ at: event.at, repository: event.repository, failed: event.kind === "transient" });
      if (event.kind === "success") {
        // The registry served this repository after those failures: whoever failed before, on
        // another repository, has an image-specific problem. Later failures still count.
        const servedAt = event.answeredAt ?? event.at;
        for (const f of streak) if (f.at <= servedAt && f.repository !== event.repository) suspects.add(f.repository);
        suspects.delete(event.repository);
        streak = streak.filter((f) => f.at > servedAt);
        return false;
      }
      const brownout = degraded(event.at);
      if (brownout !== undefined) {
        reason = brownout;
        return true;
      }
      if (suspects.has(event.repository)) return false;
      const manifestStage = event.answeredAt === undefined;
      const startedAt = event.startedAt;
      if (manifestStage && startedAt !== undefined && answers.some((a) => a.at >= startedAt && a.repository !== event.repository)) {
        // The registry resolved another repository's manifest while this attempt was running.
        suspects.add(event.repository);
        return false;
      }
      streak = streak.filter((f) => event.at - f.at <= keepMs);
      streak.push({ at: event.at, repository: event.repository, counted: true, manifestStage });

      const counted = streak.filter((f) => f.counted);
      const recent = new Set(counted.filter((f) => event.at - f.at <= o.windowMs).map((f) => f.repository));
      if (recent.size >= o.repositories) {
        reason = `transient failures on ${recent.size} repositories within ${seconds(o.windowMs)} with no success in between (${[...recent].join(", ")})`;
        return true;
      }
      const inRow = counted.filter((f) => event.at - f.at <= o.consecutiveWindowMs).length;
      if (inRow >= o.consecutive) {
        reason = `${inRow} transient failures in a row within ${seconds(o.consecutiveWindowMs)} (${event.repository})`;
        return true;
      }
      return false;
    },
  };
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}

function positive(name: string, value: number): void {
  if (!(typeof value === "number" && value > 0 && Number.isFinite(value))) {
    throw new RangeError(`trip option ${name} must be a positive finite number of milliseconds, got ${String(value)}`);
  }
}

function atLeast(name: string, value: number, min: number): void {
  if (!(Number.isInteger(value) && value >= min)) {
    throw new RangeError(`trip option ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}
