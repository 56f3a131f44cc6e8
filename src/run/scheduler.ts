// The scheduler: runs every image's attempts through PULL_PARALLEL slots and its registry's
// coordinator, asks policy/retry.ts what to do after each attempt, and emits events. It formats
// nothing and never touches the clock or randomness except through what it is given.
import { setMaxListeners } from "node:events";
import { classify } from "../classify/classify.js";
import type { AttemptOutcome, Engine, PullProgress } from "../engine/engine.js";
import { decide } from "../policy/retry.js";
import { engineWedged } from "../policy/watchdog.js";
import type { AttemptRecord, Clock, ImageResult, OutcomeClass, PullEvent, Random, Reference, RegistryStats, Settings } from "../types.js";
import { createSlots, type Slots } from "./slots.js";

/** What the scheduler needs from a registry's coordination (outage gate, retry budget). */
export interface Coordinator {
  admit(image: string, options: { retry: boolean; signal: AbortSignal; repository: string }): Promise<Admission>;
  /** Asked once a slot is held: false when the gate closed while this pull waited for it. */
  confirm?(admission: Admission): boolean;
  answered(admission: Admission): void;
  finished(admission: Admission, outcome: { kind: CoordinatorOutcome; repository: string }): { absorbed: boolean };
  stats(): { attempts: number; failures: number; gateClosedMs: number };
}
export interface Admission {
  readonly probe: boolean;
}
export type CoordinatorOutcome = "success" | "transient" | "permanent" | "rate-limited" | "skipped";

/** How one attempt is watched for stalls and the hard per-attempt cap. */
export interface AttemptWatch {
  progress(p: { bytes: number; layer?: string; status?: string }): void;
  stop(): void;
  readonly verdict: Promise<{ kind: "stalled"; idleMs: number; layer?: string; lastStatus?: string } | { kind: "timeout" } | { kind: "stopped" }>;
}
export type WatchAttempt = (options: { clock: Clock; stallTimeoutMs: number; timeoutMs: number; signal: AbortSignal }) => AttemptWatch;

export interface ScheduleOptions {
  readonly engine: Engine;
  readonly settings: Settings;
  readonly clock: Clock;
  readonly random: Random;
  /** Aborting it (SIGINT, SIGTERM, a caller's cancel) ends every pull as "aborted". */
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: PullEvent) => void;
  /** One coordinator per registry; the default coordinates nothing (every attempt admitted at once). */
  readonly coordinatorFor?: (registry: string, emit: (event: PullEvent) => void) => Coordinator;
  readonly watchAttempt: WatchAttempt;
  /** Converts the clock's milliseconds into wall-clock ISO time for the report. */
  readonly toIso?: (ms: number) => string;
}

export interface ScheduleResult {
  readonly images: ImageResult[];
  readonly registries: RegistryStats[];
  /** Why the run ended early, if it did. */
  readonly interrupted?: "aborted" | "deadline";
  /** The highest number of attempts that were in flight at once. */
  readonly peakConcurrency: number;
}

interface InFlight {
  readonly image: string;
  lastProgressAt: number;
  bytes: number;
  status?: string;
}

interface RunContext {
  readonly options: ScheduleOptions;
  /** Attempts running now, for telling a wedged engine from one stalled image. */
  readonly inFlight: Map<string, InFlight>;
  wedgeReported: boolean;
  readonly slots: Slots;
  readonly signal: AbortSignal;
  readonly emit: (event: PullEvent) => void;
  readonly coordinator: (registry: string) => Coordinator;
  readonly endReason: () => "deadline" | "aborted";
}

const DEADLINE = Symbol("deadline");

export async function schedule(references: readonly Reference[], options: ScheduleOptions): Promise<ScheduleResult> {
  const emit = options.onEvent ?? (() => undefined);
  const stop = new AbortController();
  const deadline = new AbortController();
  const signal = AbortSignal.any([stop.signal, deadline.signal, ...(options.signal ? [options.signal] : [])]);
  // Every waiting image listens on the run's signal (slots, gate, backoff sleep): dozens of
  // listeners are expected, not a leak, and Node's warning at 11 would alarm users for nothing.
  setMaxListeners(0, signal, stop.signal, deadline.signal, ...(options.signal ? [options.signal] : []));
  options.clock.sleep(options.settings.deadlineMs, stop.signal).then(
    () => deadline.abort(DEADLINE),
    () => undefined,
  );
  const coordinators = new Map<string, Coordinator>();
  const context: RunContext = {
    options,
    inFlight: new Map(),
    wedgeReported: false,
    slots: createSlots(options.settings.parallel),
    signal,
    emit,
    coordinator: (registry) => {
      let coordinator = coordinators.get(registry);
      if (!coordinator) {
        coordinator = (options.coordinatorFor ?? uncoordinated)(registry, emit);
        coordinators.set(registry, coordinator);
      }
      return coordinator;
    },
    endReason: () => (deadline.signal.aborted ? "deadline" : "aborted"),
  };
  try {
    const images = await Promise.all(references.map((reference) => pullImage(reference, context)));
    const registries = [...coordinators.entries()].map(([registry, c]) => ({ registry, ...c.stats() }));
    const interrupted = deadline.signal.aborted ? "deadline" : options.signal?.aborted ? "aborted" : undefined;
    return { images, registries, peakConcurrency: context.slots.highWater, ...(interrupted ? { interrupted } : {}) };
  } finally {
    stop.abort();
  }
}

/** The default: no gate, no budget; still counts attempts and failures per registry. */
function uncoordinated(): Coordinator {
  let attempts = 0;
  let failures = 0;
  return {
    admit: async () => {
      attempts++;
      return { probe: false };
    },
    answered: () => undefined,
    finished: (_admission, outcome) => {
      if (outcome.kind !== "success" && outcome.kind !== "skipped") failures++;
      return { absorbed: false };
    },
    stats: () => ({ attempts, failures, gateClosedMs: 0 }),
  };
}

interface ImageState {
  readonly reference: Reference;
  readonly startedAt: number;
  readonly attempts: AttemptRecord[];
  spent: number;
  rateLimited: number;
}

async function pullImage(reference: Reference, context: RunContext): Promise<ImageResult> {
  const { clock, engine, settings } = context.options;
  const image = reference.canonical;
  const state: ImageState = { reference, startedAt: clock.now(), attempts: [], spent: 0, rateLimited: 0 };
  if (settings.pullPolicy === "missing" && (await isPresent(engine, reference, context.signal))) {
    context.emit({ type: "present", at: clock.now(), image });
    return finish(state, context, "present", "present", { reason: "already present on the engine (--pull missing)" });
  }
  for (;;) {
    if (context.signal.aborted) return interrupted(state, context);
    const coordinator = context.coordinator(reference.registry);
    let admission: Admission;
    try {
      admission = await coordinator.admit(image, { retry: state.spent > 0, signal: context.signal, repository: reference.repository });
      await context.slots.acquire(context.signal);
    } catch {
      return interrupted(state, context);
    }
    if (coordinator.confirm && !coordinator.confirm(admission)) {
      // The registry went down while this pull waited for a slot: queue behind the gate instead.
      context.slots.release();
      continue;
    }
    let attempt: AttemptEnd;
    try {
      attempt = await runAttempt(state, admission, coordinator, context);
    } finally {
      context.slots.release();
    }
    if (attempt.class === "aborted" || attempt.class === "deadline") {
      // The run is ending: this says nothing about the registry, so the coordinator is not told.
      recordAttempt(state, attempt, false, context);
      return interrupted(state, context);
    }
    const { absorbed } = coordinator.finished(admission, { kind: coordinatorOutcome(attempt.class), repository: reference.repository });
    const record = recordAttempt(state, attempt, absorbed, context);
    if (!absorbed) state.spent++;
    if (attempt.class === "rate-limited") state.rateLimited++;
    const decision = decide(attempt.class, { spent: state.spent, rateLimited: state.rateLimited }, settings, context.options.random);
    switch (decision.action) {
      case "pulled":
        context.emit({ type: "pulled", at: clock.now(), image, attempt: state.spent, durationMs: record.durationMs, bytes: attempt.bytes, ...(attempt.digest ? { digest: attempt.digest } : {}) });
        return finish(state, context, "pulled", "pulled", { bytes: attempt.bytes, ...(attempt.digest ? { digest: attempt.digest } : {}), ...(attempt.platform ? { platform: attempt.platform } : {}) });
      case "skipped":
        context.emit({ type: "skipped", at: clock.now(), image, message: attempt.message });
        return finish(state, context, "skipped", "skipped-platform", { reason: attempt.message });
      case "fail":
        context.emit({ type: "failed", at: clock.now(), image, class: attempt.class, message: attempt.message, attempts: state.attempts.length });
        return finish(state, context, "failed", attempt.class, { reason: failureReason(attempt) });
      case "retry":
        if (absorbed) continue; // the closed gate decides when this image goes next
        context.emit({ type: "waiting", at: clock.now(), image, delayMs: decision.delayMs, reason: decision.reason });
        try {
          await clock.sleep(decision.delayMs, context.signal);
        } catch {
          return interrupted(state, context);
        }
    }
  }
}

async function isPresent(engine: Engine, reference: Reference, signal: AbortSignal): Promise<boolean> {
  try {
    return await engine.hasImage(reference, signal);
  } catch {
    // Not knowing is not an error: the pull that follows answers the question for real.
    return false;
  }
}

interface AttemptEnd {
  readonly class: OutcomeClass;
  readonly message: string;
  readonly hint?: string;
  readonly startedAt: number;
  readonly bytes: number;
  readonly digest?: string;
  /** What the engine reports the pulled image to be. */
  readonly platform?: string;
}

async function runAttempt(state: ImageState, admission: Admission, coordinator: Coordinator, context: RunContext): Promise<AttemptEnd> {
  const { clock, engine, settings } = context.options;
  const image = state.reference.canonical;
  const startedAt = clock.now();
  const controller = new AbortController();
  const signal = AbortSignal.any([controller.signal, context.signal]);
  const watch = context.options.watchAttempt({ clock, stallTimeoutMs: settings.stallTimeoutMs, timeoutMs: settings.timeoutMs, signal });
  let verdict: Awaited<AttemptWatch["verdict"]> = { kind: "stopped" };
  const flight: InFlight = { image, lastProgressAt: startedAt, bytes: 0 };
  context.inFlight.set(image, flight);
  watch.verdict.then(
    (v) => {
      if (v.kind === "stopped") return;
      if (v.kind === "stalled") reportWedge(context);
      verdict = v;
      controller.abort(v);
    },
    () => undefined,
  );
  context.emit({ type: "attempt-started", at: startedAt, image, attempt: state.spent + 1, maxAttempts: settings.retries, ...(admission.probe ? { probe: true } : {}) });
  let outcome: AttemptOutcome;
  try {
    outcome = await engine.pull({
      reference: state.reference,
      signal,
      onAnswer: () => coordinator.answered(admission),
      onProgress: (p: PullProgress) => {
        if (p.bytes > flight.bytes) {
          flight.bytes = p.bytes;
          flight.lastProgressAt = clock.now();
        }
        flight.status = p.status;
        watch.progress({ bytes: p.bytes, ...(p.id ? { layer: p.id } : {}), status: p.status });
        context.emit({ type: "progress", at: clock.now(), image, bytes: p.bytes, status: p.status, ...(p.total !== undefined ? { total: p.total } : {}), ...(p.id ? { layer: p.id } : {}) });
      },
    });
  } finally {
    watch.stop();
    context.inFlight.delete(image);
  }
  return understand(outcome, verdict, startedAt, context);
}

function understand(outcome: AttemptOutcome, verdict: Awaited<AttemptWatch["verdict"]>, startedAt: number, context: RunContext): AttemptEnd {
  const base = { startedAt };
  if (outcome.ok) {
    return { ...base, class: "pulled", message: outcome.upToDate ? "image is up to date" : "downloaded", bytes: outcome.bytes, ...(outcome.digest ? { digest: outcome.digest } : {}), ...(outcome.platform ? { platform: outcome.platform } : {}) };
  }
  if (outcome.kind === "unreachable") return { ...base, class: "engine-unreachable", message: outcome.message, bytes: 0 };
  if (outcome.kind === "engine") {
    const classification = classify({ message: outcome.message, ...(outcome.httpStatus !== undefined ? { httpStatus: outcome.httpStatus } : {}) });
    return { ...base, class: classification.class, message: outcome.message, bytes: outcome.bytes, ...(classification.hint ? { hint: classification.hint } : {}) };
  }
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;
  const { settings } = context.options;
  if (verdict.kind === "stalled") {
    const where = verdict.layer ? `layer ${verdict.layer}` : outcome.answered ? "the download" : "the registry's answer (no response from the engine yet)";
    return { ...base, class: "stalled", message: `no progress for ${seconds(verdict.idleMs)} waiting for ${where}${verdict.lastStatus ? ` (last status: ${verdict.lastStatus})` : ""}`, bytes: outcome.bytes };
  }
  if (verdict.kind === "timeout") {
    return { ...base, class: "timeout", message: `attempt exceeded PULL_TIMEOUT (${seconds(settings.timeoutMs)}) after ${outcome.bytes} bytes`, bytes: outcome.bytes };
  }
  const reason = context.endReason();
  return { ...base, class: reason, message: reason === "deadline" ? `the run reached PULL_DEADLINE (${seconds(settings.deadlineMs)})` : "the run was cancelled", bytes: outcome.bytes };
}

/** Once per run: when every pull in flight sits at "Waiting", the engine is the problem, not each image. */
function reportWedge(context: RunContext): void {
  if (context.wedgeReported) return;
  const { clock, settings } = context.options;
  const flights = [...context.inFlight.values()];
  if (!engineWedged(flights, clock.now(), settings.stallTimeoutMs)) return;
  context.wedgeReported = true;
  const seconds = Math.round(settings.stallTimeoutMs / 1000);
  context.emit({
    type: "engine-wedged",
    at: clock.now(),
    images: flights.map((f) => f.image),
    message: `engine wedged: all ${flights.length} pulls in flight have waited ${seconds}s for a download slot; stalled registry connections hold the engine's download slots (max-concurrent-downloads) and cancelling a pull does not free them. Restart dockerd, or raise max-concurrent-downloads.`,
  });
}

function coordinatorOutcome(outcome: OutcomeClass): CoordinatorOutcome {
  switch (outcome) {
    case "pulled":
    case "present":
      return "success";
    case "transient":
    case "stalled":
    case "timeout":
      return "transient";
    case "rate-limited":
      return "rate-limited";
    case "skipped-platform":
      return "skipped";
    default:
      return "permanent";
  }
}

function recordAttempt(state: ImageState, attempt: AttemptEnd, absorbed: boolean, context: RunContext): AttemptRecord {
  const { clock } = context.options;
  const toIso = context.options.toIso ?? ((ms: number) => new Date(ms).toISOString());
  const durationMs = clock.now() - attempt.startedAt;
  const record: AttemptRecord = {
    number: state.attempts.length + 1,
    startedAt: toIso(attempt.startedAt),
    durationMs,
    class: attempt.class,
    ...(attempt.class === "pulled" ? {} : { message: attempt.message }),
    ...(absorbed ? { absorbed: true } : {}),
  };
  state.attempts.push(record);
  if (attempt.class !== "pulled" && attempt.class !== "aborted" && attempt.class !== "deadline") {
    context.emit({ type: "attempt-failed", at: clock.now(), image: state.reference.canonical, attempt: state.spent + 1, class: attempt.class, message: attempt.message, durationMs, ...(absorbed ? { absorbed: true } : {}) });
  }
  return record;
}

function failureReason(attempt: AttemptEnd): string {
  return attempt.hint ? `${attempt.message} (${attempt.hint})` : attempt.message;
}

function interrupted(state: ImageState, context: RunContext): ImageResult {
  const reason = context.endReason();
  const message = reason === "deadline" ? "not finished when the run reached PULL_DEADLINE" : "not finished when the run was cancelled";
  context.emit({ type: "failed", at: context.options.clock.now(), image: state.reference.canonical, class: reason, message, attempts: state.attempts.length });
  return finish(state, context, "failed", reason, { reason: message });
}

function finish(state: ImageState, context: RunContext, status: ImageResult["status"], outcome: OutcomeClass, extra: { reason?: string; digest?: string; bytes?: number; platform?: string }): ImageResult {
  const platform = extra.platform ?? state.reference.platform;
  return {
    input: state.reference.input,
    reference: state.reference.canonical,
    registry: state.reference.registry,
    status,
    class: outcome,
    ...(extra.reason !== undefined ? { reason: extra.reason } : {}),
    ...(extra.digest !== undefined ? { digest: extra.digest } : {}),
    ...(platform !== undefined ? { platform } : {}),
    bytes: extra.bytes ?? 0,
    durationMs: context.options.clock.now() - state.startedAt,
    attempts: state.attempts,
  };
}
