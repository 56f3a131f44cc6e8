// The scheduler: runs every image's attempts through PULL_PARALLEL slots and its registry's
// coordinator, and emits events. Each attempt is one straight line: admit → slot → start → pull →
// classify → finish → decide → act. The decision is policy/retry.ts's; the scheduler carries it
// out. It never reads the clock or draws randomness except through what it is given.
import { setMaxListeners } from "node:events";
import { classify, classifyOwn, type Classification } from "../classify/index.js";
import type { AttemptOutcome, Engine, PullProgress } from "../engine/engine.js";
import type { Coordinator, DirectCoordination, RegistryTicket } from "../policy/registry-coordinator.js";
import { FIRST_ATTEMPT, MAX_ABSORBED_PER_IMAGE, decide, voided, type Next, type RetryRecord } from "../policy/retry.js";
import type { RegistryClient } from "../registry/index.js";
import {
  MANIFEST_POLL_MS,
  checkMirror,
  createDirectState,
  createQuotaBarrier,
  gateProbe,
  preflight,
  waitForManifest,
  type DirectContext,
  type DirectState,
  type MirrorCheck,
  type Settled,
} from "./direct.js";
import { chooseSource, mirrorsOf, onMirror } from "../policy/mirrors.js";
import { engineWedged, type AttemptWatch, type WatchAttempt, type WatchVerdict } from "../policy/watchdog.js";
import type {
  AttemptRecord,
  Clock,
  ImageResult,
  ImageSource,
  MirrorRule,
  OutcomeClass,
  PullEvent,
  Random,
  Reference,
  RegistryStats,
  Settings,
} from "../types.js";
import { createSlots, type Slots } from "./slots.js";
import type { LockCheck } from "../lock/locked.js";
import { namesDigest } from "../reference/index.js";

export interface ScheduleOptions {
  readonly engine: Engine;
  readonly settings: Settings;
  readonly clock: Clock;
  readonly random: Random;
  /** Aborting it (SIGINT, SIGTERM, a caller's cancel) ends every pull as "aborted". */
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: PullEvent) => void;
  /** One coordinator per registry; the default coordinates nothing (every attempt admitted at once). */
  readonly coordinatorFor?: (registry: string, emit: (event: PullEvent) => void) => Coordinator & DirectCoordination;
  readonly watchAttempt: WatchAttempt;
  /** prepull's own registry client: preflight, HEAD polls and HEAD probes (issue 8). Absent: the engine alone talks to registries. */
  readonly registry?: RegistryClient;
  /** Converts the clock's milliseconds into wall-clock ISO time for the report. */
  readonly toIso?: (ms: number) => string;
  /** --locked: images the lock does not cover fail at once, and a tag that moved since fails after its preflight. */
  readonly lock?: LockCheck;
}

export interface ScheduleResult {
  readonly images: ImageResult[];
  readonly registries: RegistryStats[];
  /** Why the run ended early, if it did. */
  readonly interrupted?: "aborted" | "deadline";
  /** The highest number of attempts that were in flight at once. */
  readonly peakConcurrency: number;
}

interface RunContext {
  readonly options: ScheduleOptions;
  /** The watches of the attempts running now, for telling a wedged engine from one stalled image. */
  readonly inFlight: Map<string, AttemptWatch>;
  wedgeReported: boolean;
  readonly slots: Slots;
  readonly signal: AbortSignal;
  readonly emit: (event: PullEvent) => void;
  readonly coordinator: (registry: string) => Coordinator & DirectCoordination;
  readonly endReason: () => "deadline" | "aborted";
  /** Talking to registries directly, when the run can. */
  readonly direct?: {
    readonly ctx: DirectContext;
    readonly state: DirectState;
    /** Manifest checks in flight at once: cheap, but still bounded. */
    readonly checks: Slots;
    readonly barrier: ReturnType<typeof createQuotaBarrier>;
  };
}

/** Preflight HEADs in flight at once (a HEAD is cheap for the registry; the bound keeps sockets few). */
const PREFLIGHT_PARALLEL = 16;

const DEADLINE = Symbol("deadline");

/** How long an attempt waits for an engine that ignores its abort signal before it is left behind. */
export const ABANDON_GRACE_MS = 2000;

export async function schedule(references: readonly Reference[], options: ScheduleOptions): Promise<ScheduleResult> {
  const callbackErrors = new Map<string, unknown>();
  const emit = guardedEmit(options.onEvent, callbackErrors);
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
  const coordinators = new Map<string, Coordinator & DirectCoordination>();
  const byImage = new Map(references.map((r) => [r.canonical, r]));
  const directState = createDirectState();
  const directCtx: DirectContext | undefined = options.registry
    ? {
        client: options.registry,
        clock: options.clock,
        random: options.random,
        signal,
        emit,
        ...(options.engine.platform ? { platform: options.engine.platform } : {}),
        coordination: (registry) => context.coordinator(registry),
      }
    : undefined;
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
        // A closed gate asks the registry with a HEAD, not with an engine attempt; a mirror's asks the mirror.
        const rule = (options.settings.mirrors ?? []).find((m) => m.key === registry);
        if (directCtx) coordinator.probeWith(gateProbe(registry, directCtx, directState, rule ? onMirrorByImage(references, rule) : byImage));
      }
      return coordinator;
    },
    endReason: () => (deadline.signal.aborted ? "deadline" : "aborted"),
    ...(directCtx
      ? {
          direct: {
            ctx: directCtx,
            state: directState,
            checks: createSlots(PREFLIGHT_PARALLEL),
            barrier: createQuotaBarrier({
              references,
              plan: options.settings.quotaPlan,
              quotaOf: (registry) => options.registry?.lastQuota(registry),
              emit,
              clock: options.clock,
            }),
          },
        }
      : {}),
  };
  try {
    const pulled = await Promise.all(references.map((reference) => pullImage(reference, context)));
    const images = pulled.map((image) => blameCallback(image, callbackErrors));
    // Bytes per source matter in runs with mirrors; a plain run's registry stats stay as they were.
    const served = options.settings.mirrors?.length ? bytesBySource(images) : new Map<string, number>();
    const registries = [...coordinators.entries()].map(([registry, c]) => {
      const rule = (options.settings.mirrors ?? []).find((m) => m.key === registry);
      const quota = options.registry?.lastQuota(rule ? rule.host : registry);
      const bytes = served.get(registry);
      return { registry, ...c.stats(), ...(quota ? { quota } : {}), ...(rule ? { mirrorOf: rule.registry } : {}), ...(bytes ? { bytes } : {}) };
    });
    const interrupted = deadline.signal.aborted ? "deadline" : options.signal?.aborted ? "aborted" : undefined;
    return { images, registries, peakConcurrency: context.slots.highWater, ...(interrupted ? { interrupted } : {}) };
  } finally {
    stop.abort();
  }
}

/**
 * The caller's event callback may throw (a bug of theirs): that must neither crash the run nor
 * lose its report. The first error per image (or per registry, for gate events) is kept, and the
 * images it concerns end as failed "internal" once the run is over; events keep flowing.
 */
function guardedEmit(onEvent: ((event: PullEvent) => void) | undefined, errors: Map<string, unknown>): (event: PullEvent) => void {
  if (!onEvent) return () => undefined;
  return (event) => {
    try {
      onEvent(event);
    } catch (error) {
      const keys = "image" in event ? [event.image] : "registry" in event ? [`registry:${event.registry}`] : event.images;
      for (const key of keys) if (!errors.has(key)) errors.set(key, error);
    }
  };
}

function blameCallback(image: ImageResult, errors: ReadonlyMap<string, unknown>): ImageResult {
  const error = errors.get(image.reference) ?? errors.get(`registry:${image.registry}`);
  if (error === undefined) return image;
  const { message, stack } = describeError(error);
  return {
    ...image,
    status: "failed",
    class: "internal",
    reason: `the onEvent callback threw while this image was pulled: ${message}`,
    ...(stack ? { stack } : {}),
  };
}

function describeError(error: unknown): { message: string; stack?: string } {
  if (error instanceof Error) return { message: `${error.name}: ${error.message}`, ...(error.stack ? { stack: error.stack } : {}) };
  return { message: String(error) };
}

/** The default: no gate, no budget; still counts attempts and failures per registry. */
function uncoordinated(): Coordinator & DirectCoordination {
  let attempts = 0;
  let failures = 0;
  return {
    admit: async (image) => ({
      image,
      probe: 0,
      paid: false,
      waitedMs: 0,
      start: () => true,
      answered: () => undefined,
      finish: (outcome) => {
        attempts++;
        if (outcome !== "pulled" && outcome !== "present" && outcome !== "skipped-platform") failures++;
        return { outage: false };
      },
      abandon: () => {
        attempts++;
      },
    }),
    stats: () => ({ attempts, failures, gateClosedMs: 0 }),
    whenOpen: async () => undefined,
    isOpen: true,
    check: () => ({ answered: () => undefined, failed: () => undefined, done: () => undefined }),
    throttle: () => undefined,
    probeWith: () => undefined,
  };
}

interface ImageState {
  readonly reference: Reference;
  readonly startedAt: number;
  readonly attempts: AttemptRecord[];
  record: RetryRecord;
  /** The digest the registry named in the preflight. */
  resolvedDigest?: string;
  /** Mirrors this image no longer tries: they lack it, refuse it or serve another digest. */
  readonly passed: Set<string>;
  /** Mirrors this image left since its last attempt upstream (down, closed, failed): tried again after it. */
  readonly round: Set<string>;
  /** What a mirror did that the user must hear of even when the image was pulled (another digest): the report's reason. */
  readonly warnings: string[];
}

/** One image's whole life. A bug anywhere in it (ours, or the engine's we were given) fails this image as "internal", never the run. */
async function pullImage(reference: Reference, context: RunContext): Promise<ImageResult> {
  const state: ImageState = {
    reference,
    startedAt: context.options.clock.now(),
    attempts: [],
    record: FIRST_ATTEMPT,
    passed: new Set(),
    round: new Set(),
    warnings: [],
  };
  try {
    return await attempts(state, context);
  } catch (error) {
    const { message, stack } = describeError(error);
    context.emit({ type: "failed", at: context.options.clock.now(), image: reference.canonical, class: "internal", message, attempts: state.attempts.length });
    return finish(state, context, "failed", "internal", { reason: `internal error (a bug: please report it): ${message}`, ...(stack ? { stack } : {}) });
  } finally {
    // Whatever ended this image, its registry's other images must not wait for its preflight.
    void context.direct?.barrier.arrive(reference, false);
  }
}

async function attempts(state: ImageState, context: RunContext): Promise<ImageResult> {
  const { clock, engine, settings, random } = context.options;
  const { reference } = state;
  const image = reference.canonical;
  const unlocked = context.options.lock?.missing(reference);
  if (unlocked) return settle(state, context, unlocked);
  if (settings.pullPolicy !== "always" && (await isPresent(engine, reference, context))) {
    context.emit({ type: "present", at: clock.now(), image, source: "engine" });
    return finish(state, context, "present", "present", { reason: `already present on the engine (--pull ${settings.pullPolicy})`, source: "engine" });
  }
  if (settings.pullPolicy === "never") {
    if (context.signal.aborted) return interrupted(state, context);
    const reason = `${image} is not present and not in the archives; --pull never forbids pulling`;
    context.emit({ type: "failed", at: clock.now(), image, class: "permanent", message: reason, attempts: 0 });
    return finish(state, context, "failed", "permanent", { reason, rule: "pull-never" });
  }
  const mirrors = mirrorsOf(reference.registry, settings.mirrors);
  const settled = await beforeFirstPull(state, context, mirrors.length > 0);
  if (settled) return settled;
  const coordinator = context.coordinator(reference.registry);
  for (;;) {
    if (context.signal.aborted) return interrupted(state, context);
    if (mirrors.length > 0) {
      const served = await viaMirrors(state, mirrors, context);
      if (served) return served;
      if (context.signal.aborted) return interrupted(state, context);
    }
    const admitted =
      mirrors.length > 0
        ? await admitOrMirror(state, mirrors, coordinator, context)
        : await coordinator.admit(image, { paid: !state.record.nextFree, signal: context.signal, repository: reference.repository }).catch(() => undefined);
    if (admitted === "mirror") continue;
    if (admitted === undefined) return interrupted(state, context);
    const ticket: RegistryTicket = admitted;
    try {
      await context.slots.acquire(context.signal);
    } catch {
      return interrupted(state, context);
    }
    if (!ticket.start()) {
      // The registry went down while this pull waited for a slot: queue behind the gate instead.
      context.slots.release();
      state.record = voided(state.record);
      continue;
    }
    let attempt: AttemptEnd;
    try {
      attempt = await runAttempt(state, ticket, context);
    } finally {
      context.slots.release();
    }
    // The registry itself was tried: the mirrors get another chance before the next attempt.
    state.round.clear();
    const cut = endedEarly(state, ticket, attempt, context);
    if (cut) return cut;
    const { outage } = ticket.finish(attempt.class);
    const decision = decide(state.record, { class: attempt.class, outage }, settings, random);
    const record = recordAttempt(state, attempt, decision.absorbed, context);
    state.record = decision.record;
    const next = decision.next;
    switch (next.action) {
      case "pulled":
        context.emit({
          type: "pulled",
          at: clock.now(),
          image,
          attempt: record.number,
          durationMs: record.durationMs,
          bytes: attempt.bytes,
          ...(attempt.digest ? { digest: attempt.digest } : {}),
        });
        return finish(state, context, "pulled", "pulled", {
          bytes: attempt.bytes,
          source: "upstream",
          ...(attempt.digest ? { digest: attempt.digest } : {}),
          ...(attempt.platform ? { platform: attempt.platform } : {}),
        });
      case "skipped":
        context.emit({ type: "skipped", at: clock.now(), image, message: attempt.message });
        return finish(state, context, "skipped", "skipped-platform", { reason: attempt.message });
      case "fail":
        context.emit({ type: "failed", at: clock.now(), image, class: attempt.class, message: attempt.message, attempts: state.attempts.length });
        return finish(state, context, "failed", attempt.class, { reason: attempt.hint ? `${attempt.message} (${attempt.hint})` : attempt.message });
      case "requeue":
        continue;
      case "retry": {
        const waited = await waitToRetry(state, attempt, next, context);
        if (waited !== "go") return waited;
      }
    }
  }
}

/**
 * Before the first engine attempt, when the run talks to registries directly: the preflight HEAD
 * (which may end the image with no attempt), "present by digest" under --pull always, and the
 * registry's quota plan. Undefined: go and pull.
 */
async function beforeFirstPull(state: ImageState, context: RunContext, hasMirrors: boolean): Promise<ImageResult | undefined> {
  const direct = context.direct;
  if (!direct) return undefined;
  const { reference } = state;
  const { clock, engine, settings } = context.options;
  let found: Awaited<ReturnType<typeof preflight>>;
  try {
    await direct.checks.acquire(context.signal);
    try {
      found = await preflight(reference, direct.ctx, direct.state, { waitForGate: !hasMirrors });
    } finally {
      direct.checks.release();
    }
  } catch (error) {
    if (context.signal.aborted) return interrupted(state, context);
    throw error;
  }
  if (found.digest) state.resolvedDigest = found.digest;
  const moved = found.digest ? context.options.lock?.moved(reference, found.digest) : undefined;
  if (moved) return settle(state, context, moved);
  // A registry's used-up quota is what a mirror is for, and a registry that denies these
  // credentials may be served by a mirror that holds its own (a Harbor proxy project): the image
  // goes to its mirrors instead.
  const mirrorMayServe = hasMirrors && found.kind === "settled" && (found.class === "rate-limited" || found.rule === "registry-denied");
  if (found.kind === "settled" && !mirrorMayServe) return settle(state, context, found);
  if (settings.pullPolicy === "always" && found.digest && (await hasDigest(engine, reference, found.digest, context))) {
    context.emit({ type: "present", at: clock.now(), image: reference.canonical, source: "engine" });
    return finish(state, context, "present", "present", {
      reason: `already on the engine with the digest the registry names (${found.digest}): not pulled again`,
      source: "engine",
    });
  }
  // An image with mirrors does not count against its registry's quota plan: a mirror should serve it.
  const cut = await direct.barrier.arrive(reference, !hasMirrors);
  return cut ? settle(state, context, cut) : undefined;
}

/** An image ended before any engine attempt, as the registry's answer decided. */
function settle(state: ImageState, context: RunContext, settled: Settled): ImageResult {
  const { clock } = context.options;
  const image = state.reference.canonical;
  if (settled.status === "skipped") context.emit({ type: "skipped", at: clock.now(), image, message: settled.reason });
  else if (settled.status === "present") context.emit({ type: "present", at: clock.now(), image, source: "engine" });
  else context.emit({ type: "failed", at: clock.now(), image, class: settled.class, message: settled.reason, attempts: state.attempts.length });
  return finish(state, context, settled.status, settled.class, {
    reason: settled.reason,
    rule: settled.rule,
    ...(settled.status === "present" ? { source: "engine" as const } : {}),
  });
}

/** Whether the engine's copy of the image is the one the registry names (its RepoDigests hold that digest). */
async function hasDigest(engine: Engine, reference: Reference, digest: string, context: RunContext): Promise<boolean> {
  if (!engine.repoDigests) return false;
  try {
    const digests = await abandonable(engine.repoDigests(reference, context.signal), context.signal, context.options.clock);
    if (digests === "abandoned" || digests === undefined) return false;
    return namesDigest(digests, reference, digest);
  } catch {
    return false; // not knowing: pull
  }
}

/**
 * The wait before a retry. When the registry can be asked directly and the attempt failed on its
 * manifest (or was rate-limited), the wait asks for the manifest instead of sleeping, and a wait
 * that ends with the manifest still failing spends the next attempt without the engine.
 */
async function waitToRetry(
  state: ImageState,
  attempt: AttemptEnd,
  first: Extract<Next, { action: "retry" }>,
  context: RunContext,
): Promise<"go" | ImageResult> {
  const { clock, settings, random } = context.options;
  const image = state.reference.canonical;
  const direct = context.direct;
  const asks =
    direct && !direct.state.off.has(state.reference.registry) && (attempt.class === "rate-limited" || (attempt.class === "transient" && !attempt.answered));
  let next = first;
  for (;;) {
    context.emit({ type: "waiting", at: clock.now(), image, delayMs: next.delayMs, reason: next.reason });
    try {
      if (!asks) {
        await clock.sleep(next.delayMs, context.signal);
        return "go";
      }
      if (attempt.class === "rate-limited") {
        // The engine drops Retry-After: let the gate ask the registry (HEAD) how long to wait.
        context.coordinator(state.reference.registry).throttle(clock.now() + 1000, "rate-limited through the engine: asking the registry how long to wait");
      }
      const waited = await waitForManifest(state.reference, next.delayMs, direct.ctx, direct.state);
      switch (waited.kind) {
        case "go":
          return "go";
        case "settled":
          return settle(state, context, waited);
        case "gate-closed":
          // The registry's outage, not the image's: the wait goes on without spending, a bounded number of times.
          if (attempt.class === "rate-limited") return "go";
          if (state.record.absorbed < MAX_ABSORBED_PER_IMAGE) {
            state.record = { ...state.record, absorbed: state.record.absorbed + 1, nextFree: true };
            continue;
          }
          return "go";
        case "spent": {
          const startedAt = clock.now();
          const spent: AttemptEnd = { startedAt, class: "transient", rule: waited.rule, message: waited.message, bytes: 0, answered: false };
          const decision = decide(state.record, { class: "transient", outage: false }, settings, random);
          recordAttempt(state, spent, false, context);
          state.record = decision.record;
          if (decision.next.action !== "retry") {
            context.emit({ type: "failed", at: clock.now(), image, class: "transient", message: waited.message, attempts: state.attempts.length });
            return finish(state, context, "failed", "transient", { reason: waited.message });
          }
          next = decision.next;
        }
      }
    } catch (error) {
      if (context.signal.aborted) return interrupted(state, context);
      throw error;
    }
  }
}

/** Asked within PULL_PARALLEL like a pull: a batch of 1000 images must not open 1000 engine requests at once. */
async function isPresent(engine: Engine, reference: Reference, context: RunContext): Promise<boolean> {
  try {
    await context.slots.acquire(context.signal);
  } catch {
    return false; // the run is ending; the loop that follows reports it
  }
  try {
    const answer = await abandonable(engine.hasImage(reference, context.signal), context.signal, context.options.clock);
    return answer === true;
  } catch {
    // Not knowing is not an error: the pull that follows answers the question for real.
    return false;
  } finally {
    context.slots.release();
  }
}

/**
 * The engine's promise, or "abandoned" once `signal` aborted and the engine has not settled within
 * ABANDON_GRACE_MS: an engine that ignores its abort signal must not keep the run from ending.
 */
function abandonable<T>(work: Promise<T>, signal: AbortSignal, clock: Clock): Promise<T | "abandoned"> {
  const stop = new AbortController();
  const gaveUp = new Promise<"abandoned">((resolve) => {
    const onAbort = () =>
      clock.sleep(ABANDON_GRACE_MS, stop.signal).then(
        () => resolve("abandoned"),
        () => undefined,
      );
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    stop.signal.addEventListener("abort", () => signal.removeEventListener("abort", onAbort), { once: true });
  });
  return Promise.race([work, gaveUp]).finally(() => stop.abort());
}

interface AttemptEnd {
  readonly class: OutcomeClass;
  readonly message: string;
  /** The engine got past the manifest (the registry answered) before the attempt ended. */
  readonly answered?: boolean;
  readonly stack?: string;
  readonly rule?: string;
  readonly hint?: string;
  readonly startedAt: number;
  readonly bytes: number;
  readonly digest?: string;
  /** What the engine reports the pulled image to be. */
  readonly platform?: string;
}

async function runAttempt(
  state: ImageState,
  ticket: RegistryTicket,
  context: RunContext,
  via?: { readonly reference: Reference; readonly mirror: string },
): Promise<AttemptEnd> {
  const { clock, engine, settings } = context.options;
  const image = state.reference.canonical;
  const startedAt = clock.now();
  const controller = new AbortController();
  const signal = AbortSignal.any([controller.signal, context.signal]);
  const watch = context.options.watchAttempt({ clock, stallTimeoutMs: settings.stallTimeoutMs, timeoutMs: settings.timeoutMs, signal });
  let verdict: WatchVerdict = { kind: "stopped" };
  context.inFlight.set(image, watch);
  watch.verdict.then(
    (v) => {
      if (v.kind === "stopped") return;
      if (v.kind === "stalled") reportWedge(context);
      verdict = v;
      controller.abort(v);
    },
    () => undefined,
  );
  const number = state.attempts.length + 1;
  context.emit({
    type: "attempt-started",
    at: startedAt,
    image,
    attempt: number,
    maxAttempts: settings.attempts,
    ...(ticket.probe > 0 ? { probe: true } : {}),
    ...(via ? { mirror: via.mirror } : {}),
  });
  let outcome: AttemptOutcome | "abandoned";
  try {
    const pulling = engine.pull({
      reference: via?.reference ?? state.reference,
      signal,
      onAnswer: () => ticket.answered(),
      onProgress: (p: PullProgress) => {
        watch.progress({ bytes: p.bytes, ...(p.id ? { layer: p.id } : {}), status: p.status });
        context.emit({
          type: "progress",
          at: clock.now(),
          image,
          bytes: p.bytes,
          status: p.status,
          ...(p.total !== undefined ? { total: p.total } : {}),
          ...(p.id ? { layer: p.id } : {}),
          ...(p.phase ? { phase: p.phase } : {}),
        });
      },
    });
    outcome = await abandonable(pulling, signal, clock);
  } catch (error) {
    // The engine contract says expected failures come back as outcomes: a throw is a bug.
    const { message, stack } = describeError(error);
    return { startedAt, class: "internal", message, bytes: 0, ...(stack ? { stack } : {}) };
  } finally {
    watch.stop();
    context.inFlight.delete(image);
  }
  if (outcome === "abandoned") outcome = { ok: false, kind: "aborted", bytes: watch.bytes, answered: false };
  return understand(outcome, verdict, startedAt, context);
}

/** The engine's answer and the watchdog's verdict → the attempt's class and the words for people. */
function understand(outcome: AttemptOutcome, verdict: WatchVerdict, startedAt: number, context: RunContext): AttemptEnd {
  const base = { startedAt };
  const answered = !outcome.ok && "answered" in outcome ? outcome.answered : true;
  const classified = (c: Classification, message: string, bytes: number): AttemptEnd => ({
    ...base,
    answered,
    class: c.class,
    rule: c.rule,
    message,
    bytes,
    ...(c.hint ? { hint: c.hint } : {}),
  });
  if (outcome.ok) {
    return {
      ...base,
      class: "pulled",
      message: outcome.upToDate ? "image is up to date" : "downloaded",
      bytes: outcome.bytes,
      ...(outcome.digest ? { digest: outcome.digest } : {}),
      ...(outcome.platform ? { platform: outcome.platform } : {}),
    };
  }
  switch (outcome.kind) {
    case "unreachable":
      return { ...base, class: "engine-unreachable", message: outcome.message, bytes: 0 };
    case "credentials":
      return classified(classifyOwn(outcome), outcome.message, 0);
    case "lost":
      return classified(classifyOwn(outcome), outcome.message, outcome.bytes);
    case "engine":
      return classified(
        classify({ message: outcome.message, ...(outcome.httpStatus !== undefined ? { httpStatus: outcome.httpStatus } : {}) }),
        outcome.message,
        outcome.bytes,
      );
  }
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;
  const { settings } = context.options;
  if (verdict.kind === "stalled") {
    // The stream's own bookkeeping knows which layer never finished; the watchdog only saw the last line.
    const layer = outcome.lastLayer ?? verdict.layer;
    const where = layer ? `layer ${layer}` : outcome.answered ? "the download" : "the registry's answer (no response from the engine yet)";
    return {
      ...base,
      class: "stalled",
      message: `no progress for ${seconds(verdict.idleMs)} waiting for ${where}${verdict.lastStatus ? ` (last status: ${verdict.lastStatus})` : ""}`,
      bytes: outcome.bytes,
    };
  }
  if (verdict.kind === "timeout") {
    return {
      ...base,
      class: "timeout",
      message: `attempt exceeded PULL_TIMEOUT (${seconds(settings.timeoutMs)}) after ${outcome.bytes} bytes`,
      bytes: outcome.bytes,
    };
  }
  const reason = context.endReason();
  return {
    ...base,
    class: reason,
    message: reason === "deadline" ? `the run reached PULL_DEADLINE (${seconds(settings.deadlineMs)})` : "the run was cancelled",
    bytes: outcome.bytes,
  };
}

/** Once per run: when every pull in flight sits at "Waiting", the engine is the problem, not each image. */
function reportWedge(context: RunContext): void {
  if (context.wedgeReported) return;
  const { clock, settings } = context.options;
  const flights = [...context.inFlight.entries()].map(([image, watch]) => ({
    image,
    lastProgressAt: watch.lastProgressAt,
    ...(watch.lastStatus !== undefined ? { status: watch.lastStatus } : {}),
  }));
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

function recordAttempt(state: ImageState, attempt: AttemptEnd, absorbed: boolean, context: RunContext, mirror?: string): AttemptRecord {
  const { clock } = context.options;
  const toIso = context.options.toIso ?? ((ms: number) => new Date(ms).toISOString());
  const durationMs = clock.now() - attempt.startedAt;
  const record: AttemptRecord = {
    number: state.attempts.length + 1,
    startedAt: toIso(attempt.startedAt),
    durationMs,
    class: attempt.class,
    ...(attempt.rule !== undefined ? { rule: attempt.rule } : {}),
    ...(attempt.class === "pulled" ? {} : { message: attempt.message }),
    ...(absorbed ? { absorbed: true } : {}),
    ...(mirror !== undefined ? { mirror } : {}),
  };
  state.attempts.push(record);
  if (attempt.class !== "pulled" && attempt.class !== "aborted" && attempt.class !== "deadline" && attempt.class !== "internal") {
    context.emit({
      type: "attempt-failed",
      at: clock.now(),
      image: state.reference.canonical,
      attempt: record.number,
      class: attempt.class,
      message: attempt.message,
      durationMs,
      ...(absorbed ? { absorbed: true } : {}),
      ...(mirror !== undefined ? { mirror } : {}),
    });
  }
  return record;
}

function interrupted(state: ImageState, context: RunContext): ImageResult {
  const reason = context.endReason();
  const message = reason === "deadline" ? "not finished when the run reached PULL_DEADLINE" : "not finished when the run was cancelled";
  context.emit({ type: "failed", at: context.options.clock.now(), image: state.reference.canonical, class: reason, message, attempts: state.attempts.length });
  return finish(state, context, "failed", reason, { reason: message });
}

function finish(
  state: ImageState,
  context: RunContext,
  status: ImageResult["status"],
  outcome: OutcomeClass,
  extra: { reason?: string; digest?: string; bytes?: number; stack?: string; rule?: string; platform?: string; source?: ImageSource; mirror?: string },
): ImageResult {
  const platform = extra.platform ?? state.reference.platform;
  const reason = extra.reason ?? (state.warnings.length > 0 ? state.warnings.join("; ") : undefined);
  return {
    input: state.reference.input,
    reference: state.reference.canonical,
    registry: state.reference.registry,
    status,
    class: outcome,
    ...(reason !== undefined ? { reason } : {}),
    ...(extra.rule !== undefined ? { rule: extra.rule } : {}),
    ...(extra.digest !== undefined ? { digest: extra.digest } : {}),
    ...(state.resolvedDigest !== undefined ? { resolvedDigest: state.resolvedDigest } : {}),
    ...(platform !== undefined ? { platform } : {}),
    ...(extra.source !== undefined ? { source: extra.source } : {}),
    ...(extra.mirror !== undefined ? { mirror: extra.mirror } : {}),
    bytes: extra.bytes ?? 0,
    durationMs: context.options.clock.now() - state.startedAt,
    attempts: state.attempts,
    ...(extra.stack !== undefined ? { stack: extra.stack } : {}),
  };
}

/** An attempt the run's end or a bug cut short: that says nothing about the source. Undefined: the attempt ended normally. */
function endedEarly(state: ImageState, ticket: RegistryTicket, attempt: AttemptEnd, context: RunContext, mirror?: string): ImageResult | undefined {
  if (attempt.class !== "aborted" && attempt.class !== "deadline" && attempt.class !== "internal") return undefined;
  ticket.abandon();
  recordAttempt(state, attempt, false, context, mirror);
  if (attempt.class !== "internal") return interrupted(state, context);
  context.emit({
    type: "failed",
    at: context.options.clock.now(),
    image: state.reference.canonical,
    class: "internal",
    message: attempt.message,
    attempts: state.attempts.length,
  });
  return finish(state, context, "failed", "internal", {
    reason: `internal error (a bug: please report it): ${attempt.message}`,
    ...(attempt.stack ? { stack: attempt.stack } : {}),
  });
}

/** For a mirror's gate probe: each image as the mirror names it. */
function onMirrorByImage(references: readonly Reference[], rule: MirrorRule): Map<string, Reference> {
  return new Map(references.filter((r) => r.registry === rule.registry).map((r) => [r.canonical, onMirror(r, rule)]));
}

/** Bytes of the pulled images per source: the mirror's key, or the image's own registry. */
function bytesBySource(images: readonly ImageResult[]): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const image of images) {
    if (image.status !== "pulled") continue;
    const key = image.mirror ?? image.registry;
    bytes.set(key, (bytes.get(key) ?? 0) + image.bytes);
  }
  return bytes;
}

type MirrorTry =
  | { readonly kind: "served"; readonly image: ImageResult }
  | { readonly kind: "next"; readonly reason: string; readonly forRun: boolean; readonly warning?: boolean };

/**
 * One round over the image's mirrors, in order: each mirror whose gate is open and that has not
 * been passed over gets one try. Leaving a mirror spends none of the image's attempts; a mirror
 * that lacks the image (or serves another digest) is passed over for the rest of the run, one
 * that is down only until the image has tried its own registry. Undefined: on to the registry.
 */
async function viaMirrors(state: ImageState, mirrors: readonly MirrorRule[], context: RunContext): Promise<ImageResult | undefined> {
  for (;;) {
    const views = mirrors.map((m) => ({ key: m.key, open: context.coordinator(m.key).isOpen, passed: state.passed.has(m.key) || state.round.has(m.key) }));
    const key = chooseSource(views);
    for (const view of views) {
      if (view.key === key) break;
      if (view.passed || view.open) continue;
      state.round.add(view.key);
      failover(state, mirrors, view.key, "its gate is closed (the mirror looks down)", context);
    }
    const rule = mirrors.find((m) => m.key === key);
    if (!rule) return undefined;
    const tried = await fromMirror(state, rule, context);
    if (tried.kind === "served") return tried.image;
    (tried.forRun ? state.passed : state.round).add(rule.key);
    if (tried.warning) state.warnings.push(tried.reason);
    failover(state, mirrors, rule.key, tried.reason, context, tried.warning);
  }
}

/**
 * Admission to the registry's gate, for an image with mirrors. While it waits behind the closed
 * gate, its mirrors are watched: a closed mirror gate until it opens (its HEAD probes run
 * meanwhile), a mirror that is open but failed this image this round for about a second; the
 * first to come back takes the image back to the mirrors ("mirror"), so a mirror serves while
 * the registry is still down. Only with direct probes: without them a gate lets a watcher
 * through at once. Undefined: the run is ending.
 */
async function admitOrMirror(
  state: ImageState,
  mirrors: readonly MirrorRule[],
  coordinator: Coordinator,
  context: RunContext,
): Promise<RegistryTicket | "mirror" | undefined> {
  const image = state.reference.canonical;
  const options = { paid: !state.record.nextFree, repository: state.reference.repository };
  const direct = context.direct;
  const candidates = direct ? mirrors.filter((m) => !state.passed.has(m.key) && !direct.state.off.has(m.key)) : [];
  const closed = candidates.filter((m) => !context.coordinator(m.key).isOpen);
  const open = candidates.filter((m) => context.coordinator(m.key).isOpen);
  if (candidates.length === 0) return coordinator.admit(image, { ...options, signal: context.signal }).catch(() => undefined);
  const stop = new AbortController();
  const signal = AbortSignal.any([context.signal, stop.signal]);
  let back: readonly string[] | undefined;
  const { clock, random } = context.options;
  Promise.race([
    ...closed.map((m) =>
      context
        .coordinator(m.key)
        .whenOpen(image, signal)
        .then(() => [m.key]),
    ),
    ...(open.length > 0 ? [clock.sleep(Math.round(MANIFEST_POLL_MS * (0.9 + 0.2 * random())), signal).then(() => open.map((m) => m.key))] : []),
  ]).then(
    (keys) => {
      back = keys;
      stop.abort();
    },
    () => undefined,
  );
  try {
    return await coordinator.admit(image, { ...options, signal });
  } catch {
    if (back === undefined || context.signal.aborted) return undefined;
    for (const key of back) state.round.delete(key);
    return "mirror";
  } finally {
    stop.abort();
  }
}

function failover(state: ImageState, mirrors: readonly MirrorRule[], from: string, reason: string, context: RunContext, warning?: boolean): void {
  const next = chooseSource(
    mirrors.map((m) => ({ key: m.key, open: context.coordinator(m.key).isOpen, passed: state.passed.has(m.key) || state.round.has(m.key) })),
  );
  const to = next ? `mirror ${next}` : `registry ${state.reference.registry}`;
  context.emit({
    type: "failover",
    at: context.options.clock.now(),
    image: state.reference.canonical,
    from: `mirror ${from}`,
    to,
    reason,
    ...(warning ? { warning } : {}),
  });
}

/** One try of one mirror: its manifest HEAD (when prepull can ask), then one engine attempt by digest through the mirror's gate. */
async function fromMirror(state: ImageState, rule: MirrorRule, context: RunContext): Promise<MirrorTry> {
  const { reference } = state;
  const image = reference.canonical;
  // --locked pins the content: a mirror must serve the locked digest, not whatever its tag names.
  const upstreamDigest = reference.digest ?? context.options.lock?.digest?.(reference) ?? state.resolvedDigest;
  const next = (reason: string, forRun: boolean, warning?: boolean): MirrorTry => ({ kind: "next", reason, forRun, ...(warning ? { warning } : {}) });
  let digest = upstreamDigest;
  const direct = context.direct;
  if (direct) {
    let found: MirrorCheck;
    try {
      await direct.checks.acquire(context.signal);
      try {
        // The gate may have closed while this HEAD waited for its turn.
        found = context.coordinator(rule.key).isOpen
          ? await checkMirror(reference, rule, upstreamDigest, direct.ctx, direct.state)
          : { kind: "down", reason: "its gate closed (the mirror looks down)" };
      } finally {
        direct.checks.release();
      }
    } catch (error) {
      if (context.signal.aborted) return { kind: "served", image: interrupted(state, context) };
      throw error;
    }
    switch (found.kind) {
      case "has":
        digest = found.digest;
        break;
      case "lacks":
        return next(found.reason, true);
      case "other-digest":
        return next(found.reason, true, true);
      case "down":
        return next(found.reason, false);
      case "unknown":
        break;
    }
  }
  const gate = context.coordinator(rule.key);
  if (!gate.isOpen) return next("its gate closed (the mirror looks down)", false);
  const target = onMirror(reference, rule, digest);
  let ticket: RegistryTicket;
  try {
    ticket = await gate.admit(image, { paid: false, signal: context.signal, repository: target.repository });
    await context.slots.acquire(context.signal);
  } catch {
    return { kind: "served", image: interrupted(state, context) };
  }
  if (!ticket.start()) {
    context.slots.release();
    return next("its gate closed while the pull waited for a slot", false);
  }
  let attempt: AttemptEnd;
  try {
    attempt = await runAttempt(state, ticket, context, { reference: target, mirror: rule.key });
  } finally {
    context.slots.release();
  }
  const cut = endedEarly(state, ticket, attempt, context, rule.key);
  if (cut) return { kind: "served", image: cut };
  ticket.finish(attempt.class);
  if (attempt.class !== "pulled") {
    recordAttempt(state, attempt, false, context, rule.key);
    return next(`the attempt failed [${attempt.class}]: ${attempt.message}`, attempt.class === "permanent" || attempt.class === "skipped-platform");
  }
  const engineName = nameOf(target);
  if (upstreamDigest !== undefined && attempt.digest !== undefined && attempt.digest !== upstreamDigest) {
    // Only possible when the mirror was pulled by tag: its copy is not the registry's.
    if (!context.options.settings.keepMirrorNames) await context.options.engine.removeImage?.(engineName, context.signal).catch(() => undefined);
    const reason = `mirror ${rule.key} served ${attempt.digest}, the registry names ${upstreamDigest}: the mirror's copy differs (rewritten or stale), not trusted`;
    recordAttempt(state, { ...attempt, class: "permanent", rule: "mirror-other-digest", message: reason }, false, context, rule.key);
    return next(reason, true, true);
  }
  const named = await nameAsOriginal(state, engineName, context);
  if (!named.ok) {
    recordAttempt(state, { ...attempt, class: "transient", rule: "mirror-tag-failed", message: named.error }, false, context, rule.key);
    return next(named.error, false);
  }
  const record = recordAttempt(state, attempt, false, context, rule.key);
  context.emit({
    type: "pulled",
    at: context.options.clock.now(),
    image,
    attempt: record.number,
    durationMs: record.durationMs,
    bytes: attempt.bytes,
    mirror: rule.key,
    ...(attempt.digest ? { digest: attempt.digest } : {}),
  });
  return {
    kind: "served",
    image: finish(state, context, "pulled", "pulled", {
      bytes: attempt.bytes,
      source: "mirror",
      mirror: rule.key,
      ...(attempt.digest ? { digest: attempt.digest } : {}),
      ...(attempt.platform ? { platform: attempt.platform } : {}),
      ...(named.value ? { reason: named.value } : {}),
    }),
  };
}

/** The name the engine files an image pulled from the mirror under. */
function nameOf(reference: Reference): string {
  return `${reference.registry}/${reference.repository}${reference.digest ? `@${reference.digest}` : `:${reference.tag ?? "latest"}`}`;
}

/**
 * After a mirror served the image: give it its own name (what compose files and tests ask for)
 * and take the mirror's name away unless --keep-mirror-names. Ok with a note when the image keeps
 * the mirror's name (a reference by digest alone: the Engine API names images by tag only).
 */
async function nameAsOriginal(
  state: ImageState,
  engineName: string,
  context: RunContext,
): Promise<{ ok: true; value?: string } | { ok: false; error: string }> {
  const { engine, settings } = context.options;
  const { reference } = state;
  if (reference.tag === undefined)
    return { ok: true, value: `pulled from a mirror by digest; the Engine API names images by tag only, so the engine knows it as ${engineName}` };
  if (!engine.tag) return { ok: false, error: `this engine cannot tag images, so the mirror's copy would not carry the name ${reference.canonical}` };
  let tagged: Awaited<ReturnType<NonNullable<Engine["tag"]>>>;
  try {
    tagged = await engine.tag(engineName, reference, context.signal);
  } catch (error) {
    return { ok: false, error: `tagging ${engineName} as ${reference.canonical} failed: ${describeError(error).message}` };
  }
  if (!tagged.ok) return { ok: false, error: tagged.error };
  if (settings.keepMirrorNames || !engine.removeImage) return { ok: true };
  const removed = await engine.removeImage(engineName, context.signal).catch((error: unknown) => ({ ok: false as const, error: describeError(error).message }));
  return removed.ok ? { ok: true } : { ok: true, value: `pulled from a mirror; its name ${engineName} could not be removed: ${removed.error}` };
}
