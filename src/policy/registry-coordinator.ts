// Registry-level coordination: one coordinator per registry composes the trip detector (when to
// close), the outage gate (who may go while closed) and the retry budget (how many retries the
// registry gets). The scheduler asks it before every attempt and tells it how each one ended;
// registries never share a coordinator, so one registry's outage never holds back another's pulls.
import type { Clock, PullEvent, Random, RegistryStats } from "../types.js";
import { createRetryBudget, type BudgetOptions } from "./budget.js";
import { createGate, type GateOptions, type GateState } from "./gate.js";
import { createTripDetector, type TripEvent, type TripOptions } from "./trip.js";

export interface CoordinatorOptions {
  readonly trip?: Partial<TripOptions>;
  readonly gate?: Partial<GateOptions>;
  readonly budget?: Partial<BudgetOptions>;
  /**
   * Failures the gate absorbs for one image over the whole run; later ones spend the image's
   * attempts even behind a closed gate. So an image makes at most PULL_RETRIES + this many
   * attempts, and images whose failures are their own (the gate cannot tell them from an outage
   * once nothing else is left to probe) still fail after their retries instead of waiting for
   * the deadline. Default 5.
   */
  readonly maxAbsorbedPerImage?: number;
}

export const DEFAULT_MAX_ABSORBED_PER_IMAGE = 5;

/** Permission for one attempt. Hand it back to answered() and finished(). */
export interface Admission {
  readonly image: string;
  /** True when this attempt is the closed gate's probe. */
  readonly probe: boolean;
  /** The probe's number since the gate closed (1, 2, …); 0 when not a probe. */
  readonly probeNumber: number;
  readonly retry: boolean;
  /** True when this retry drew from the retry budget. */
  readonly paid: boolean;
  /** How long admit() waited behind the gate (0 when it was open). */
  readonly waitedMs: number;
}

export type CoordinatorOutcomeKind = "success" | "transient" | "permanent" | "rate-limited" | "skipped";

export interface CoordinatorOutcome {
  readonly kind: CoordinatorOutcomeKind;
  /** Repository of the image ("library/nginx"): the trip detector tells outages from image-specific failures by it. */
  readonly repository: string;
}

export interface RegistryCoordinator {
  readonly registry: string;
  /**
   * Resolves when `image` may start an attempt now. A first attempt passes an open gate at once; a
   * retry also needs a budget token, and a retry that finds the budget empty closes the gate
   * ("retry budget exhausted"), so it and everything after it waits for the probe. Retries after
   * an absorbed or rate-limited failure draw no token. Rejects with signal.reason if aborted while
   * waiting; an aborted probe hands the probe to the next waiter. `repository` (the image's, as
   * in finished()) lets answered() tell the trip detector which repository the registry served.
   */
  admit(image: string, options: { readonly retry: boolean; readonly signal: AbortSignal; readonly repository?: string }): Promise<Admission>;
  /**
   * Optional, right before the attempt really starts (after waiting for a PULL_PARALLEL slot):
   * false when the gate closed while this pull waited for its slot. Then do not start it, and call
   * admit() again at once (that retry is free); the admission is void and needs no finished().
   * True marks the attempt as running: until it answers or finishes, the gate does not close on
   * failures recorded after it started (its answer may yet show the registry serving).
   */
  confirm(admission: Admission): boolean;
  /**
   * The registry resolved the manifest for this attempt. The probe's answer opens the gate; so does
   * any other attempt's answer arriving while the gate is closed by an outage (not when it was
   * closed because the retry budget ran out: then only the probe decides).
   */
  answered(admission: Admission): void;
  /**
   * How the attempt ended. absorbed = the closed gate took this transient failure (it closed the
   * gate, or the gate was already closed or probing, or it was a failed probe): the image spends
   * no attempt and calls admit() again at once. Calling it twice returns the first answer.
   */
  finished(admission: Admission, outcome: CoordinatorOutcome): { absorbed: boolean };
  /** attempts = attempts that finished (void admissions excluded); failures = those that did not end in success or a platform skip. */
  stats(): { attempts: number; failures: number; gateClosedMs: number };
  /** For status displays and tests. */
  readonly gateState: GateState;
  /** Pulls waiting behind the gate. */
  readonly waiting: number;
  /** Retry tokens left in the budget. */
  readonly tokens: number;
}

interface Entry {
  /** When the registry answered this attempt. */
  answeredAt?: number;
  /** A probe whose signal aborted: it no longer speaks for the gate, even if it reports later. */
  abandoned: boolean;
  /** confirm() said the gate closed before the attempt started: nothing of it counts. */
  void: boolean;
  result?: { absorbed: boolean };
  detach?: () => void;
  /** The image's repository, when admit() was told it. */
  readonly repository?: string;
  /** When the attempt started: confirm() time, else admit() time. */
  startedAt: number;
}

export function createRegistryCoordinator(init: {
  registry: string;
  clock: Clock;
  random: Random;
  emit: (event: PullEvent) => void;
  options?: CoordinatorOptions;
}): RegistryCoordinator {
  const { registry, clock } = init;
  const detector = createTripDetector(init.options?.trip);
  const budget = createRetryBudget(init.options?.budget);
  const gate = createGate({ registry, clock, random: init.random, emit: init.emit, ...(init.options?.gate ? { options: init.options.gate } : {}) });
  const entries = new WeakMap<Admission, Entry>();
  /** Images whose next retry is free: their last failure was absorbed by the gate, or was a rate limit. */
  const freeRetry = new Set<string>();
  /** Failures absorbed so far, per image. */
  const absorbedCount = new Map<string, number>();
  const maxAbsorbed = init.options?.maxAbsorbedPerImage ?? DEFAULT_MAX_ABSORBED_PER_IMAGE;
  if (!(Number.isInteger(maxAbsorbed) && maxAbsorbed >= 0)) {
    throw new RangeError(`coordinator option maxAbsorbedPerImage must be an integer >= 0, got ${String(maxAbsorbed)}`);
  }
  /** Why the coordinator last closed the gate: an outage, or an empty retry budget. */
  let closedBy: "outage" | "budget" = "outage";
  /** Confirmed attempts that have neither answered nor finished yet. */
  const running = new Set<Entry>();
  /**
   * Whether an attempt that was already running when the oldest counted failure came in is still
   * waiting for its answer. Images of a batch start together: two broken images can fail before
   * the healthy ones' manifests resolve, and the gate must not close on that alone. In an outage
   * those attempts fail within moments (or, stalled, when the watchdog ends them), and the last
   * of them closes the gate.
   */
  const undecided = () => {
    const since = detector.countedSince;
    return since !== undefined && [...running].some((e) => e.startedAt <= since);
  };
  let attempts = 0;
  let failures = 0;

  const open = () => {
    if (gate.open()) detector.reset();
  };
  const close = (by: "outage" | "budget", reason: string) => {
    if (gate.close(reason)) closedBy = by;
  };
  const isCurrentProbe = (admission: Admission, entry: Entry) => {
    const s = gate.state;
    return admission.probe && !entry.abandoned && s.kind === "probing" && s.probe === admission.probeNumber;
  };
  const entryOf = (admission: Admission, what: string) => {
    const entry = entries.get(admission);
    if (!entry) throw new Error(`${what}() got an admission this coordinator (${registry}) did not grant, for ${admission.image}`);
    return entry;
  };

  return {
    registry,
    get gateState() {
      return gate.state;
    },
    get waiting() {
      return gate.waiting;
    },
    get tokens() {
      return budget.available;
    },

    async admit(image, { retry, signal, repository }) {
      signal.throwIfAborted();
      const free = freeRetry.delete(image);
      let paid = false;
      if (retry && !free && gate.state.kind === "open") {
        if (budget.tryAcquire()) paid = true;
        else close("budget", `retry budget exhausted (${budget.available} of ${budget.capacity} tokens left)`);
      }
      const pass = await gate.pass(image, signal);
      if (signal.aborted) {
        // Chosen as probe in the same tick as the abort: hand the probe to the next waiter.
        if (pass.probe > 0) gate.probeAbandoned(pass.probe);
        throw signal.reason;
      }
      const admission: Admission = Object.freeze({ image, probe: pass.probe > 0, probeNumber: pass.probe, retry, paid, waitedMs: pass.waitedMs });
      const entry: Entry = { abandoned: false, void: false, startedAt: clock.now(), ...(repository !== undefined ? { repository } : {}) };
      if (admission.probe) {
        // A probe that never reports (the run is cancelled while it waits for a slot or pulls)
        // must not hold the gate: the next waiter probes instead.
        const onAbort = () => {
          entry.abandoned = true;
          gate.probeAbandoned(pass.probe);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        entry.detach = () => signal.removeEventListener("abort", onAbort);
      }
      entries.set(admission, entry);
      return admission;
    },

    confirm(admission) {
      const entry = entryOf(admission, "confirm");
      if (entry.void) return false;
      if (entry.result || admission.probe || gate.state.kind === "open") {
        if (!entry.result && entry.answeredAt === undefined && !running.has(entry)) {
          entry.startedAt = clock.now();
          running.add(entry);
        }
        return true;
      }
      entry.void = true;
      freeRetry.add(admission.image);
      return false;
    },

    answered(admission) {
      const entry = entryOf(admission, "answered");
      if (entry.answeredAt !== undefined || entry.result || entry.void) return;
      entry.answeredAt = clock.now();
      running.delete(entry);
      if (entry.repository !== undefined) detector.answered({ at: entry.answeredAt, repository: entry.repository });
      if (isCurrentProbe(admission, entry)) open();
      else if (gate.state.kind !== "open" && closedBy === "outage") open();
    },

    finished(admission, outcome) {
      const entry = entryOf(admission, "finished");
      if (entry.result) return entry.result;
      entry.detach?.();
      running.delete(entry);
      if (entry.void) return (entry.result = { absorbed: true });
      attempts++;
      if (outcome.kind !== "success" && outcome.kind !== "skipped") failures++;
      if (outcome.kind === "success") budget.onSuccess();
      const tripped = detector.record({
        at: clock.now(),
        repository: outcome.repository,
        kind: tripKind(outcome.kind),
        startedAt: entry.startedAt,
        ...(entry.answeredAt !== undefined ? { answeredAt: entry.answeredAt } : {}),
      });

      // Whether the closed gate takes this failure as the outage's rather than the image's.
      let outage = false;
      if (isCurrentProbe(admission, entry)) {
        // The probe decides: any answer but a transient failure means the registry is serving.
        if (outcome.kind === "transient") {
          gate.probeFailed(admission.probeNumber);
          outage = true;
        } else {
          open();
        }
      } else if (gate.state.kind !== "open") {
        // An attempt let through before the gate closed: its transient failure is the outage's.
        outage = outcome.kind === "transient";
      } else if (tripped && outcome.kind === "transient" && !undecided()) {
        close("outage", detector.reason ?? "the registry looks down");
        outage = true;
      }
      const used = absorbedCount.get(admission.image) ?? 0;
      const absorbed = outage && used < maxAbsorbed;
      if (absorbed) absorbedCount.set(admission.image, used + 1);

      if (absorbed || outcome.kind === "rate-limited") freeRetry.add(admission.image);
      else freeRetry.delete(admission.image);
      return (entry.result = { absorbed });
    },

    stats() {
      return { attempts, failures, gateClosedMs: gate.closedMs() };
    },
  };
}

function tripKind(kind: CoordinatorOutcomeKind): TripEvent["kind"] {
  return kind === "success" ? "success" : kind === "transient" ? "transient" : "other";
}

/** Matches the scheduler's `coordinatorFor(registry, emit)`: one independent coordinator per registry. */
export function coordinatorFor(init: { clock: Clock; random: Random; options?: CoordinatorOptions }): (registry: string, emit: (event: PullEvent) => void) => RegistryCoordinator {
  return (registry, emit) => createRegistryCoordinator({ registry, emit, ...init });
}

export interface Coordinators {
  /** The registry's coordinator, created on first use. */
  get(registry: string): RegistryCoordinator;
  readonly size: number;
  stats(): RegistryStats[];
}

/** A lazily filled map of independent coordinators, one per registry, sharing clock, random and emit. */
export function createCoordinators(init: { clock: Clock; random: Random; emit: (event: PullEvent) => void; options?: CoordinatorOptions }): Coordinators {
  const map = new Map<string, RegistryCoordinator>();
  return {
    get(registry) {
      let coordinator = map.get(registry);
      if (!coordinator) {
        coordinator = createRegistryCoordinator({ registry, ...init });
        map.set(registry, coordinator);
      }
      return coordinator;
    },
    get size() {
      return map.size;
    },
    stats() {
      return [...map.values()].map((c) => ({ registry: c.registry, ...c.stats() }));
    },
  };
}
