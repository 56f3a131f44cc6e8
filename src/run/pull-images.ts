// The library's one call: references in, a complete report out. Validation happens before any
// engine is contacted; the report is built even when the engine cannot be reached.
import type { Engine } from "../engine/engine.js";
import { EXIT } from "../exit-codes.js";
import { dedupeReferences, formatReferenceError, parseReference, type ReferenceError } from "../reference/index.js";
import type { ArchiveRecord, Clock, ImageResult, PullEvent, Random, Reference, Report, Settings } from "../types.js";
import type { Coordinator, DirectCoordination } from "../policy/registry-coordinator.js";
import type { RegistryClient } from "../registry/index.js";
import type { WatchAttempt } from "../policy/watchdog.js";
import { loadArchives, saveArchives, type ArchiveContext } from "./archives.js";
import { schedule } from "./scheduler.js";
import type { LockCheck } from "../lock/locked.js";

/** Thrown by pullImages when a reference is invalid: nothing has been pulled. */
export class InvalidReferencesError extends Error {
  constructor(readonly errors: readonly ReferenceError[]) {
    super(errors.map(formatReferenceError).join("\n"));
    this.name = "InvalidReferencesError";
  }
}

export interface RunDependencies {
  readonly settings: Settings;
  readonly clock: Clock;
  readonly random: Random;
  /** Returns the engine, or why it cannot be reached (the run then reports every image as engine-unreachable). */
  readonly connect: (signal?: AbortSignal) => Promise<{ ok: true; value: Engine } | { ok: false; error: { message: string } }>;
  readonly watchAttempt: WatchAttempt;
  readonly coordinatorFor?: (registry: string, emit: (event: PullEvent) => void) => Coordinator & DirectCoordination;
  /** prepull's own registry client for this engine (its insecure registries), when the run may talk to registries directly. */
  readonly registryFor?: (engine: Engine, signal?: AbortSignal) => Promise<RegistryClient | undefined>;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: PullEvent) => void;
  readonly version: string;
  /** --locked: what the scheduler asks the lock (src/lock/locked.ts). */
  readonly lock?: LockCheck;
  /** Which signal interrupted the run, if one did (set by the CLI). */
  readonly interruption?: () => "SIGINT" | "SIGTERM" | undefined;
}

/** Parses and normalizes every input; returns all the errors, not just the first. */
export function planReferences(inputs: readonly string[]): { ok: true; value: Reference[] } | { ok: false; error: ReferenceError[] } {
  const references: Reference[] = [];
  const errors: ReferenceError[] = [];
  for (const input of inputs) {
    const parsed = parseReference(input);
    if (parsed.ok) references.push(parsed.value);
    else errors.push(parsed.error);
  }
  return errors.length > 0 ? { ok: false, error: errors } : { ok: true, value: dedupeReferences(references) };
}

export async function runPlan(references: readonly Reference[], deps: RunDependencies): Promise<Report> {
  const { clock } = deps;
  const wallStart = Date.now();
  const clockStart = clock.now();
  // Wall-clock timestamps for the report, derived from the injected clock so fake-clock runs stay exact.
  const toIso = (ms: number) => new Date(wallStart + (ms - clockStart)).toISOString();
  const finished = (images: ImageResult[], registries: Report["registries"], interrupted: Report["interrupted"], archives?: readonly ArchiveRecord[]) =>
    buildReport(deps, images, registries, toIso(clockStart), toIso(clock.now()), clock.now() - clockStart, interrupted, archives);
  // --platform / PULL_PLATFORM for every image that does not name its own (compose `platform:`).
  const platform = deps.settings.platform;
  if (platform) references = references.map((r) => (r.platform ? r : { ...r, platform }));
  let connected: Awaited<ReturnType<RunDependencies["connect"]>>;
  try {
    connected = await deps.connect(deps.signal);
  } catch (error) {
    return finished(
      references.map((r) => failedResult(r, "internal", `internal error while connecting to the engine (a bug: please report it): ${String(error)}`)),
      [],
      undefined,
    );
  }
  if (!connected.ok) {
    // Cancelled during the handshake: the run was interrupted, the engine may be fine.
    if (deps.signal?.aborted)
      return finished(
        references.map((r) => failedResult(r, "aborted", "not started: the run was cancelled while connecting to the engine")),
        [],
        deps.interruption?.(),
      );
    const message = connected.error.message;
    return finished(
      references.map((r) => failedResult(r, "engine-unreachable", message)),
      [],
      undefined,
    );
  }
  const engine = connected.value;
  const { settings } = deps;
  const archiveContext = (): ArchiveContext => ({ engine, clock, settings, signal: deps.signal ?? new AbortController().signal, emit: guarded(deps.onEvent) });
  const loaded = settings.loadDir !== undefined ? await loadArchives(settings.loadDir, references, archiveContext()) : undefined;
  const toPull = loaded ? references.filter((r) => !loaded.served.has(r.canonical)) : references;
  // --pull never: not one request to a registry, prepull's own included.
  const registry = settings.preflight === "on" && settings.pullPolicy !== "never" && deps.registryFor ? await deps.registryFor(engine, deps.signal) : undefined;
  // What the daemon does by itself (Docker Hub only), shown beside prepull's own mirrors.
  const engineMirrors = (await engine.registryConfig?.(deps.signal).catch(() => undefined))?.mirrors ?? [];
  let result: Awaited<ReturnType<typeof schedule>>;
  try {
    result = await schedule(toPull, {
      engine,
      ...(registry ? { registry } : {}),
      settings: deps.settings,
      clock,
      random: deps.random,
      watchAttempt: deps.watchAttempt,
      toIso,
      ...(deps.signal ? { signal: deps.signal } : {}),
      ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
      ...(deps.coordinatorFor ? { coordinatorFor: deps.coordinatorFor } : {}),
      ...(deps.lock ? { lock: deps.lock } : {}),
    });
  } finally {
    registry?.close();
  }
  const interrupted = result.interrupted === "deadline" ? "deadline" : result.interrupted === "aborted" ? deps.interruption?.() : undefined;
  const scheduled = new Map(result.images.map((image) => [image.reference, image]));
  const images = references.flatMap((r) => loaded?.served.get(r.canonical) ?? withNote(scheduled.get(r.canonical), loaded?.notes.get(r.canonical)) ?? []);
  const saved = settings.saveDir !== undefined && !interrupted ? await saveArchives(settings.saveDir, images, references, archiveContext()) : [];
  const archives = [...(loaded?.records ?? []), ...saved];
  const report = finished(images, result.registries, interrupted, settings.loadDir !== undefined || settings.saveDir !== undefined ? archives : undefined);
  return engineMirrors.length > 0 ? { ...report, engineMirrors } : report;
}

/** An image its archive was meant to serve says why the archive did not. */
function withNote(image: ImageResult | undefined, note: string | undefined): ImageResult | undefined {
  if (!image || note === undefined || image.status !== "failed") return image;
  return { ...image, reason: `${image.reason ?? image.class} (${note})` };
}

/** The caller's callback must not break the archive phases (the scheduler guards its own events likewise). */
function guarded(onEvent: ((event: PullEvent) => void) | undefined): (event: PullEvent) => void {
  return (event) => {
    try {
      onEvent?.(event);
    } catch {
      // A throwing callback is the caller's bug; the archive phases report through the report.
    }
  };
}

function failedResult(reference: Reference, outcome: "engine-unreachable" | "aborted" | "internal", message: string): ImageResult {
  return {
    input: reference.input,
    reference: reference.canonical,
    registry: reference.registry,
    status: "failed",
    class: outcome,
    reason: message,
    bytes: 0,
    durationMs: 0,
    attempts: [],
  };
}

function buildReport(
  deps: RunDependencies,
  images: ImageResult[],
  registries: Report["registries"],
  startedAt: string,
  endedAt: string,
  durationMs: number,
  interrupted: Report["interrupted"],
  archives?: readonly ArchiveRecord[],
): Report {
  return {
    schemaVersion: 1,
    tool: { name: "prepull", version: deps.version },
    startedAt,
    endedAt,
    durationMs,
    settings: deps.settings,
    images,
    registries,
    ...(archives ? { archives } : {}),
    ...(interrupted ? { interrupted } : {}),
    exitCode: exitCodeFor(images, interrupted, archives),
  };
}

/** 0 all pulled/present/skipped · 1 any failed (an image, or an archive to load or save) · 3 the engine could not be reached · 130/143 interrupted. */
export function exitCodeFor(images: readonly ImageResult[], interrupted: Report["interrupted"], archives: readonly ArchiveRecord[] = []): number {
  if (interrupted === "SIGINT") return EXIT.sigint;
  if (interrupted === "SIGTERM") return EXIT.sigterm;
  const failed = images.filter((i) => i.status === "failed");
  if (failed.length === 0) return archives.some((a) => a.status === "failed") ? EXIT.failed : EXIT.ok;
  if (failed.every((i) => i.class === "engine-unreachable")) return EXIT.engineUnreachable;
  return EXIT.failed;
}
