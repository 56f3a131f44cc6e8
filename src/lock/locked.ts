// --lock and --locked at run time. --locked pins each image to its locked digest: the engine pulls
// registry/repository@digest and names the result with the original tag (Engine API tag), and the
// scheduler asks `LockCheck` before anything else (is the image locked?) and after the preflight
// (does the tag still name the locked digest?). --lock turns a finished report into lock entries.
import { readFile, stat } from "node:fs/promises";
import type { AttemptOutcome, Engine, PullRequest } from "../engine/engine.js";
import { digestsFor, namesDigest, parseReference } from "../reference/index.js";
import type { Settled } from "../run/direct.js";
import type { RunDependencies } from "../run/pull-images.js";
import type { ImageResult, Reference, Report, Result } from "../types.js";
import { formatLockErrors, LOCK_MAX_BYTES, parseLock, type LockedImage, type LockFile, type UnlockedImage } from "./lock-file.js";

/** What the scheduler asks of a lock (absent: no lock, every image pulls as named). */
export interface LockCheck {
  /** At the start of an image's life: why the lock does not let it be pulled, if it does not. */
  missing(reference: Reference): Settled | undefined;
  /** After the preflight named the digest the image's tag points to now: fails a tag that moved. */
  moved(reference: Reference, current: string): Settled | undefined;
  /** The digest the lock pins the image to, if it does (a mirror is then pulled at exactly that digest). Optional. */
  digest?(reference: Reference): string | undefined;
}

/** A lock file read and validated; the error is the CLI's message (exit 2). */
export async function readLockFile(path: string): Promise<Result<LockFile, string>> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.isDirectory()) return { ok: false, error: `cannot read the lock file ${JSON.stringify(path)}: it is a directory` };
    if (info.size > LOCK_MAX_BYTES)
      return {
        ok: false,
        error: `the lock file ${JSON.stringify(path)} is ${info.size} bytes, more than the ${LOCK_MAX_BYTES} a lock file can be: is it the right file?`,
      };
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file (write it first with prepull --lock)" : code === "EACCES" ? "permission denied" : (error as Error).message;
    return { ok: false, error: `cannot read the lock file ${JSON.stringify(path)}: ${why}` };
  }
  const parsed = parseLock(text);
  if (!parsed.ok) return { ok: false, error: `invalid lock file ${JSON.stringify(path)}:\n${formatLockErrors(path, parsed.error)}` };
  return parsed;
}

export function lockCheck(lock: LockFile, path: string): LockCheck {
  return {
    digest: (reference) => (reference.digest === undefined ? lock.entries.get(reference.canonical)?.digest : undefined),
    missing(reference) {
      if (lock.entries.has(reference.canonical)) return undefined;
      const line = lock.unlocked.get(reference.canonical);
      const why =
        line !== undefined
          ? `the run that wrote it could not lock it (line ${line} says why)`
          : `the image list changed since the lock was written: run prepull --lock ${path} with this image among the inputs`;
      return {
        status: "failed",
        class: "permanent",
        rule: "lock-missing",
        reason: `${reference.canonical} is not in the lock file ${path}: ${why}; under --locked every image must be locked`,
      };
    },
    moved(reference, current) {
      const entry = lock.entries.get(reference.canonical);
      // A reference with a digest names its content itself: there is no tag to move.
      if (!entry || reference.digest !== undefined || entry.digest === current) return undefined;
      return {
        status: "failed",
        class: "permanent",
        rule: "lock-tag-moved",
        reason: `tag moved from ${entry.digest} to ${current}: ${path} line ${entry.line} locks ${reference.canonical} to ${entry.digest}, the registry now names ${current}; not pulled. Lock the new image with prepull --lock ${path}, or point the tag back`,
      };
    },
  };
}

/** The reference pulled for a locked image: its repository at the locked digest (the tag stays, for the report's words). */
export function pinned(reference: Reference, digest: string): Reference {
  return { ...reference, digest, canonical: `${reference.registry}/${reference.repository}@${digest}` };
}

/**
 * The engine a --locked run talks to: pulls of locked tags go by digest and are then named with
 * the tag; "present" means the local tag already names the locked digest. Everything else passes
 * through untouched.
 */
export function lockedEngine(engine: Engine, lock: LockFile): Engine {
  // A reference with a digest names its content itself: it is pulled as written.
  const lockedDigest = (reference: Reference) => (reference.digest === undefined ? lock.entries.get(reference.canonical)?.digest : undefined);
  const overrides: Pick<Engine, "pull" | "hasImage"> = {
    pull: async (request) => {
      const digest = lockedDigest(request.reference);
      return digest ? pullAndTag(engine, request, pinned(request.reference, digest)) : engine.pull(request);
    },
    hasImage: async (reference, signal, platform) => {
      // The engine's own answer first: it holds the image to the platform asked for.
      const here = await engine.hasImage(reference, signal, platform);
      const digest = lockedDigest(reference);
      if (!here || !digest) return here;
      if (!engine.repoDigests) return false; // cannot tell which content the tag names: pull
      const digests = await engine.repoDigests(reference, signal);
      return digests !== undefined && namesDigest(digests, reference, digest);
    },
  };
  // Everything else is the engine's own, including members added to Engine later; methods stay
  // bound to it, so engines written as classes keep their `this`.
  return new Proxy(engine, {
    get(target, key) {
      if (key === "pull" || key === "hasImage") return overrides[key];
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function pullAndTag(engine: Engine, request: PullRequest, pin: Reference): Promise<AttemptOutcome> {
  const outcome = await engine.pull({ ...request, reference: pin });
  if (!outcome.ok) return outcome;
  const tagged = engine.tag
    ? await engine.tag(pin.canonical, request.reference, request.signal)
    : { ok: false as const, error: "this engine cannot tag images (it has no tag method)" };
  if (tagged.ok) return { ...outcome, digest: outcome.digest ?? pin.digest };
  if (request.signal.aborted) return { ok: false, kind: "aborted", bytes: outcome.bytes, answered: true };
  return {
    ok: false,
    kind: "engine",
    message: `pulled ${pin.canonical} but could not name it ${request.reference.canonical}: ${tagged.error}`,
    bytes: outcome.bytes,
    answered: true,
  };
}

/**
 * What a finished run locks: every image now on the engine whose digest is known, preferring the
 * registry's answer (preflight), then the engine's (the pull's "Digest:" line, or, for an image
 * that was already present, its RepoDigests), and every skipped image the registry named a digest
 * for. The rest are listed as not locked, with why.
 */
export async function lockEntries(
  report: Report,
  engine: Engine | undefined,
  signal?: AbortSignal,
): Promise<{ locked: LockedImage[]; unlocked: UnlockedImage[] }> {
  const locked: LockedImage[] = [];
  const unlocked: UnlockedImage[] = [];
  // An engine that failed to answer once is not asked again: each request is bounded, but a
  // thousand present images times the request timeout is not.
  let asking = engine;
  for (const image of report.images) {
    // A skipped image (no manifest for this platform) is locked when the registry named its digest:
    // a matrix job on another platform needs it, and on this one it is skipped again.
    const known = image.status === "skipped" ? (image.resolvedDigest ?? image.digest) : undefined;
    if (known) locked.push({ reference: image.reference, digest: known });
    if (image.status !== "pulled" && image.status !== "present") {
      if (!known) unlocked.push({ reference: image.reference, why: `${image.status}: ${image.class}` });
      continue;
    }
    const digest = await digestOf(image, asking, signal);
    if (digest.ok) {
      locked.push({ reference: image.reference, digest: digest.value });
      continue;
    }
    unlocked.push({ reference: image.reference, why: `${image.status}, but ${digest.error.message}` });
    if (digest.error.engineFailed) asking = undefined;
  }
  return { locked, unlocked };
}

async function digestOf(
  image: ImageResult,
  engine: Engine | undefined,
  signal?: AbortSignal,
): Promise<Result<string, { message: string; engineFailed?: boolean }>> {
  const known = image.resolvedDigest ?? image.digest;
  if (known) return { ok: true, value: known };
  const parsed = parseReference(image.reference);
  if (!parsed.ok) return { ok: false, error: { message: "its reference does not parse" } };
  if (parsed.value.digest) return { ok: true, value: parsed.value.digest };
  if (!engine) return { ok: false, error: { message: "the engine was not asked its digest (it failed to answer for an earlier image)" } };
  if (!engine.repoDigests) return { ok: false, error: { message: "this engine cannot tell an image's digest" } };
  try {
    const digests = digestsFor((await engine.repoDigests(parsed.value, signal)) ?? [], parsed.value);
    // One content, several digests (pulled once by index, once by platform manifest): none is "the" one.
    const distinct = [...new Set(digests)];
    if (distinct.length === 1 && distinct[0]) return { ok: true, value: distinct[0] };
    return {
      ok: false,
      error: {
        message: distinct.length === 0 ? "the engine has no registry digest for it (built locally?)" : `the engine has ${distinct.length} digests for it`,
      },
    };
  } catch (error) {
    return { ok: false, error: { message: `the engine could not say its digest (${(error as Error).message})`, engineFailed: true } };
  }
}

/** The run's connect, wrapped: it keeps the engine (--lock asks it for digests after the run) and pins it under --locked. */
export function lockingConnect(
  connect: RunDependencies["connect"],
  lock: LockFile | undefined,
): { connect: RunDependencies["connect"]; engine(): Engine | undefined } {
  let engine: Engine | undefined;
  return {
    connect: async (signal) => {
      const connected = await connect(signal);
      if (!connected.ok) return connected;
      engine = connected.value;
      return lock ? { ok: true, value: lockedEngine(engine, lock) } : connected;
    },
    engine: () => engine,
  };
}
