// Registry-level coordination: one coordinator per registry composes the trip detector (when to
// close), the outage gate (who may go while closed) and the retry budget (how many retries the
// registry gets). It answers registry questions only: may an attempt go now, and was a failure
// the registry's? What the image does next is policy/retry.ts's decision. Registries never share
// a coordinator, so one registry's outage never holds back another's pulls.
//
// Each attempt holds a ticket through its life: admit() → ticket.start() once a PULL_PARALLEL
// slot is held → ticket.answered() when the registry resolved the manifest → ticket.finish().
import type { Clock, OutcomeClass, PullEvent, Random } from "../types.js";
import { createRetryBudget, type BudgetOptions } from "./budget.js";
import { createGate, type DirectProbe, type GateOptions, type GateState } from "./gate.js";
import { isTransient } from "./retry.js";
import { createTripDetector, type TripOptions } from "./trip.js";

export interface CoordinatorOptions {
  readonly trip?: Partial<TripOptions>;
  readonly gate?: Partial<GateOptions>;
  readonly budget?: Partial<BudgetOptions>;
}

/** One attempt's permission, and the attempt's voice toward its registry. */
export interface RegistryTicket {
  readonly image: string;
  /** The probe's number since the gate closed (1, 2, …) when this attempt is the closed gate's probe; 0 otherwise. */
  readonly probe: number;
  /** This retry drew a token from the retry budget. */
  readonly paid: boolean;
  /** How long admit() waited behind the gate (0 when it was open). */
  readonly waitedMs: number;
  /**
   * Call once a PULL_PARALLEL slot is held, right before the attempt starts. False when the gate
   * closed while this pull waited for its slot: then do not start it and admit again (the ticket
   * is void and needs no finish()). True marks the attempt as running: until it answers or
   * finishes, the gate does not close on failures recorded after it started (its answer may yet
   * show the registry serving).
   */
  start(): boolean;
  /**
   * The registry resolved the manifest for this attempt. The probe's answer opens the gate; so does
   * any other attempt's answer arriving while the gate is closed by an outage (not when it was
   * closed because the retry budget ran out: then only the probe decides).
   */
  answered(): void;
  /**
   * How the attempt ended. outage = the registry's gate takes this transient failure as the
   * outage's (it closed the gate now, the gate was already closed or probing, or it was a failed
   * probe). Not called for attempts cut short by the run ending: they say nothing about the registry.
   */
  finish(outcome: OutcomeClass): { readonly outage: boolean };
  /**
   * The attempt ended with no word about the registry: the run ended under it, or a bug cut it
   * short. It counts as an attempt (not a failure) and changes nothing else; a probe hands over
   * to the next waiter.
   */
  abandon(): void;
}

export interface Coordinator {
  /**
   * Resolves with a ticket when `image` may start an attempt. An open gate lets it through at
   * once; a `paid` attempt (a retry that is not free) also needs a budget token, and finding the
   * budget empty closes the gate ("retry budget exhausted"), so it and everything after it waits
   * for the probe. Rejects with signal.reason if aborted while waiting; an aborted probe hands the
   * probe to the next waiter.
   */
  admit(image: string, options: { readonly paid: boolean; readonly signal: AbortSignal; readonly repository: string }): Promise<RegistryTicket>;
  /** attempts = attempts made (finished or abandoned; void tickets excluded); failures = finished ones that did not end in success or a platform skip. */
  stats(): { attempts: number; failures: number; gateClosedMs: number };
}

/** A manifest check made directly (prepull's own HEAD, not an engine attempt), as the registry's health sees it. */
export interface ManifestCheck {
  /** The registry resolved the manifest: it serves. */
  answered(): void;
  /** The registry failed the check transiently (5xx, 408): evidence toward an outage, like an engine attempt's. */
  failed(): void;
  /** Anything else (not found, denied, throttled, unreachable): says nothing about an outage. */
  done(): void;
}

/** What the scheduler needs beyond attempts when it can talk to the registry directly (issue 8). */
export interface DirectCoordination {
  /** Resolves once the gate is open; never makes the caller the probe. */
  whenOpen(image: string, signal: AbortSignal): Promise<void>;
  readonly isOpen: boolean;
  /** A manifest check starts now; it counts toward the gate like an attempt (but spends nothing). */
  check(repository: string): ManifestCheck;
  /** The registry asked for no requests before `until`. */
  throttle(until: number, reason: string): void;
  /** While the gate is closed, probe with this (a manifest HEAD) instead of an engine attempt. */
  probeWith(probe: DirectProbe | undefined): void;
}

export interface RegistryCoordinator extends Coordinator, DirectCoordination {
  readonly registry: string;
  /** For status displays and tests. */
  readonly gateState: GateState;
  /** Pulls waiting behind the gate. */
  readonly waiting: number;
  /** Retry tokens left in the budget. */
  readonly tokens: number;
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
  /** Why the coordinator last closed the gate: an outage, or an empty retry budget. */
  let closedBy: "outage" | "budget" = "outage";
  /** Started attempts that have neither answered nor finished yet, by the time they started. */
  const running = new Set<{ readonly startedAt: number }>();
  /**
   * Whether an attempt that was already running when the oldest counted failure came in is still
   * waiting for its answer. Images of a batch start together: two broken images can fail before
   * the healthy ones' manifests resolve, and the gate must not close on that alone. In an outage
   * those attempts fail within moments (or, stalled, when the watchdog ends them), and the last
   * of them closes the gate.
   */
  const undecided = () => {
    const since = detector.countedSince;
    return since !== undefined && [...running].some((r) => r.startedAt <= since);
  };
  let attempts = 0;
  let failures = 0;

  const open = () => {
    if (gate.open()) detector.reset();
  };
  const close = (by: "outage" | "budget", reason: string) => {
    if (gate.close(reason)) closedBy = by;
  };

  async function admit(image: string, options: { readonly paid: boolean; readonly signal: AbortSignal; readonly repository: string }): Promise<RegistryTicket> {
    const { signal, repository } = options;
    signal.throwIfAborted();
    let paid = false;
    if (options.paid && gate.state.kind === "open") {
      if (budget.tryAcquire()) paid = true;
      else close("budget", `retry budget exhausted (${budget.available} of ${budget.capacity} tokens left)`);
    }
    const pass = await gate.pass(image, signal);
    if (signal.aborted) {
      // Chosen as probe in the same tick as the abort: hand the probe to the next waiter.
      if (pass.probe > 0) gate.probeAbandoned(pass.probe);
      throw signal.reason;
    }
    const probe = pass.probe;
    let life: "admitted" | "void" | "running" | "answered" | "finished" = "admitted";
    let abandoned = false;
    const run = { startedAt: clock.now() };
    let answeredAt: number | undefined;
    // A probe that never reports (the run is cancelled while it waits for a slot or pulls) must
    // not hold the gate: the next waiter probes instead.
    const onAbort = () => {
      abandoned = true;
      gate.probeAbandoned(probe);
    };
    if (probe > 0) signal.addEventListener("abort", onAbort, { once: true });
    const isCurrentProbe = () => {
      const s = gate.state;
      return probe > 0 && !abandoned && s.kind === "probing" && s.probe === probe;
    };

    return {
      image,
      probe,
      paid,
      waitedMs: pass.waitedMs,
      start() {
        if (life === "void") return false;
        if (life !== "admitted") return true;
        if (probe === 0 && gate.state.kind !== "open") {
          life = "void";
          signal.removeEventListener("abort", onAbort);
          return false;
        }
        life = "running";
        run.startedAt = clock.now();
        running.add(run);
        return true;
      },
      answered() {
        if (life !== "running" && life !== "admitted") return;
        life = "answered";
        answeredAt = clock.now();
        running.delete(run);
        detector.answered({ at: answeredAt, repository });
        if (isCurrentProbe()) open();
        else if (gate.state.kind !== "open" && closedBy === "outage") open();
      },
      abandon() {
        if (life === "void" || life === "finished") return;
        life = "finished";
        signal.removeEventListener("abort", onAbort);
        running.delete(run);
        attempts++;
        if (isCurrentProbe()) gate.probeAbandoned(probe);
      },
      finish(outcome) {
        if (life === "void" || life === "finished") throw new Error(`finish() called on a ${life} ticket for ${image} (${registry})`);
        life = "finished";
        signal.removeEventListener("abort", onAbort);
        running.delete(run);
        attempts++;
        const success = outcome === "pulled" || outcome === "present";
        const transient = isTransient(outcome);
        if (!success && outcome !== "skipped-platform") failures++;
        if (success) budget.onSuccess();
        const tripped = detector.record({
          at: clock.now(),
          repository,
          kind: success ? "success" : transient ? "transient" : "other",
          startedAt: run.startedAt,
          ...(answeredAt !== undefined ? { answeredAt } : {}),
        });
        if (isCurrentProbe()) {
          // The probe decides: any answer but a transient failure means the registry is serving.
          if (!transient) {
            open();
            return { outage: false };
          }
          gate.probeFailed(probe);
          return { outage: true };
        }
        // An attempt let through before the gate closed: its transient failure is the outage's.
        if (gate.state.kind !== "open") return { outage: transient };
        if (tripped && transient && !undecided()) {
          close("outage", detector.reason ?? "the registry looks down");
          return { outage: true };
        }
        return { outage: false };
      },
    };
  }

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
    admit,
    async whenOpen(image, signal) {
      await gate.pass(image, signal, { mayProbe: false });
    },
    get isOpen() {
      return gate.state.kind === "open";
    },
    check(repository) {
      const run = { startedAt: clock.now() };
      running.add(run);
      let settled = false;
      const settle = () => {
        const first = !settled;
        settled = true;
        running.delete(run);
        return first;
      };
      return {
        answered() {
          if (!settle()) return;
          const at = clock.now();
          detector.answered({ at, repository });
          detector.record({ at, repository, kind: "success", answeredAt: at });
          if (gate.state.kind !== "open" && closedBy === "outage") open();
        },
        failed() {
          if (!settle()) return;
          const tripped = detector.record({ at: clock.now(), repository, kind: "transient", startedAt: run.startedAt });
          if (tripped && gate.state.kind === "open" && !undecided()) close("outage", detector.reason ?? "the registry looks down");
        },
        done() {
          settle();
        },
      };
    },
    throttle(until, reason) {
      gate.closeUntil(until, reason);
    },
    probeWith(probe) {
      gate.probeWith(probe);
    },
    stats() {
      return { attempts, failures, gateClosedMs: gate.closedMs() };
    },
  };
}
