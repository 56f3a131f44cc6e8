// --load before the pulls and --save after them. Loads run one file at a time (the engine loads
// largely serially anyway, and one stream at a time bounds memory and disk reads); each file is
// bounded by PULL_TIMEOUT and the run's signal. An image counts as served by an archive only
// when its file loaded without an error line AND the engine then has it under the batch's name:
// a failed or half-loaded archive never makes an image "present".
import { createReadStream } from "node:fs";
import * as path from "node:path";
import {
  EMPTY_INDEX,
  INDEX_FILE,
  parseIndex,
  planLoad,
  promisedSha256,
  serializeIndex,
  withEntries,
  type ArchiveIndex,
  type IndexEntry,
} from "../archive/index-file.js";
import { hashFile, listArchives, readIndexText, writeArchive } from "../archive/store.js";
import type { Engine } from "../engine/engine.js";
import { parseReference } from "../reference/index.js";
import { writeFileAtomic } from "../report/atomic-write.js";
import type { ArchiveRecord, Clock, ImageResult, PullEvent, Reference, Settings } from "../types.js";

export interface ArchiveContext {
  readonly engine: Engine;
  readonly clock: Clock;
  readonly settings: Settings;
  readonly signal: AbortSignal;
  readonly emit: (event: PullEvent) => void;
}

export interface Loaded {
  /** Images an archive served, by canonical reference. */
  readonly served: ReadonlyMap<string, ImageResult>;
  /** Why an image of the batch was not served by the archives, when one was meant to (its file failed). */
  readonly notes: ReadonlyMap<string, string>;
  readonly records: readonly ArchiveRecord[];
}

/** Loads what the batch needs from `dir` (and every archive the index does not know), then matches the batch. */
export async function loadArchives(dir: string, references: readonly Reference[], ctx: ArchiveContext): Promise<Loaded> {
  const records: ArchiveRecord[] = [];
  const notes = new Map<string, string>();
  const served = new Map<string, ImageResult>();
  const failed = (file: string, message: string, images: readonly string[] = []) => {
    records.push({ action: "load", file, status: "failed", images, bytes: 0, durationMs: 0, message });
    ctx.emit({ type: "archive", at: ctx.clock.now(), action: "load", file, ok: false, images, message });
    for (const image of images) notes.set(image, message);
  };
  const listing = await listArchives(dir);
  if (!listing.ok) {
    failed(dir, listing.error);
    return { served, notes, records };
  }
  const index = await readIndex(path.join(dir, INDEX_FILE), failed);
  const wanted = await notAlreadyPresent(references, index, ctx);
  const plan = planLoad(
    index,
    wanted.map((r) => r.canonical),
    listing.value,
  );
  const byCanonical = new Map(references.map((r) => [r.canonical, r]));
  const files: Array<[name: string, holds: readonly string[]]> = [...plan.listed.entries(), ...plan.unlisted.map((name): [string, string[]] => [name, []])];
  for (const [name, holds] of files) {
    if (ctx.signal.aborted) break;
    const file = path.join(dir, name);
    const started = ctx.clock.now();
    const loaded = await loadOne(file, name, ctx);
    if (!loaded.ok) {
      failed(file, `could not load ${file}: ${loaded.error}`, holds);
      continue;
    }
    // What the file holds for this batch: the index's word, and the names the engine said it loaded.
    const named = loaded.value.names.flatMap((n) => {
      const parsed = parseReference(n);
      return parsed.ok && byCanonical.has(parsed.value.canonical) ? [parsed.value.canonical] : [];
    });
    const candidates = [...new Set([...holds, ...named])];
    const present: string[] = [];
    for (const canonical of candidates) {
      const reference = byCanonical.get(canonical);
      if (!reference || served.has(canonical)) continue;
      if (await has(ctx.engine, reference, ctx.signal)) present.push(canonical);
      else notes.set(canonical, `archive ${file} loaded, but the engine does not have ${canonical} afterwards`);
    }
    const durationMs = ctx.clock.now() - started;
    for (const canonical of present) served.set(canonical, archiveResult(byCanonical.get(canonical) as Reference, file, durationMs));
    records.push({ action: "load", file, status: "ok", images: present, bytes: loaded.value.bytes, durationMs });
    ctx.emit({ type: "archive", at: ctx.clock.now(), action: "load", file, ok: true, images: present });
    for (const canonical of present) ctx.emit({ type: "present", at: ctx.clock.now(), image: canonical, source: "archive" });
  }
  return { served, notes, records };
}

async function readIndex(file: string, failed: (file: string, message: string) => void): Promise<ArchiveIndex> {
  const text = await readIndexText(file);
  if (!text.ok) {
    failed(file, text.error);
    return EMPTY_INDEX;
  }
  if (text.value === undefined) return EMPTY_INDEX;
  const parsed = parseIndex(text.value, file);
  if (!parsed.ok) failed(file, parsed.error);
  return parsed.ok ? parsed.value : EMPTY_INDEX;
}

/** Under --pull missing or never, an image the engine already has needs no archive (it is reported as present). */
async function notAlreadyPresent(references: readonly Reference[], index: ArchiveIndex, ctx: ArchiveContext): Promise<Reference[]> {
  if (ctx.settings.pullPolicy === "always") return [...references];
  const wanted: Reference[] = [];
  for (const reference of references) {
    if (index.images[reference.canonical] && (await has(ctx.engine, reference, ctx.signal))) continue;
    wanted.push(reference);
  }
  return wanted;
}

async function has(engine: Engine, reference: Reference, signal: AbortSignal): Promise<boolean> {
  try {
    return await engine.hasImage(reference, signal);
  } catch {
    return false;
  }
}

/** One file: its content checked against its name (when prepull named it), then streamed to the engine. */
async function loadOne(
  file: string,
  name: string,
  ctx: ArchiveContext,
): Promise<{ ok: true; value: { names: readonly string[]; bytes: number } } | { ok: false; error: string }> {
  const { engine } = ctx;
  if (!engine.loadArchive) return { ok: false, error: "this engine cannot load archives" };
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(ctx.settings.timeoutMs)]);
  let bytes: number;
  try {
    const hashed = await hashFile(file, signal);
    bytes = hashed.bytes;
    const promised = promisedSha256(name);
    if (promised !== undefined && hashed.sha256 !== promised) {
      return {
        ok: false,
        error: `its content (sha256 ${hashed.sha256}, ${hashed.bytes} bytes) does not match its name: the file is truncated or corrupt; not loaded`,
      };
    }
  } catch (error) {
    return { ok: false, error: signal.aborted ? "cancelled or PULL_TIMEOUT reached while reading it" : `cannot read it: ${(error as Error).message}` };
  }
  const source = createReadStream(file);
  try {
    const outcome = await engine.loadArchive({ source, signal });
    return outcome.ok ? { ok: true, value: { names: outcome.names, bytes } } : { ok: false, error: outcome.message };
  } catch (error) {
    return { ok: false, error: `internal error (a bug: please report it): ${String(error)}` };
  } finally {
    source.destroy();
  }
}

function archiveResult(reference: Reference, file: string, durationMs: number): ImageResult {
  return {
    input: reference.input,
    reference: reference.canonical,
    registry: reference.registry,
    status: "present",
    class: "present",
    reason: `loaded from the archive ${file}`,
    source: "archive",
    bytes: 0,
    durationMs,
    attempts: [],
  };
}

/**
 * Writes each pulled or present image to `dir` as its own docker-archive, then merges the index.
 * Digest references are skipped: a docker-archive does not carry the repository digest, so the
 * engine that loads it cannot find the image by that digest.
 */
export async function saveArchives(
  dir: string,
  images: readonly ImageResult[],
  references: readonly Reference[],
  ctx: ArchiveContext,
): Promise<ArchiveRecord[]> {
  const byCanonical = new Map(references.map((r) => [r.canonical, r]));
  const records: ArchiveRecord[] = [];
  const entries: Record<string, IndexEntry> = {};
  const record = (entry: ArchiveRecord) => {
    records.push(entry);
    ctx.emit({
      type: "archive",
      at: ctx.clock.now(),
      action: "save",
      file: entry.file,
      ok: entry.status !== "failed",
      images: entry.images,
      ...(entry.message ? { message: entry.message } : {}),
    });
  };
  for (const image of images) {
    const reference = byCanonical.get(image.reference);
    if (!reference || (image.status !== "pulled" && image.status !== "present")) continue;
    if (ctx.signal.aborted) break;
    if (reference.digest !== undefined) {
      record({
        action: "save",
        file: dir,
        status: "skipped",
        images: [image.reference],
        bytes: 0,
        durationMs: 0,
        message: `not saved: ${image.reference} is a digest reference, and a docker-archive does not keep the digest the engine would look it up by`,
      });
      continue;
    }
    const started = ctx.clock.now();
    const written = await saveOne(dir, reference, ctx);
    const durationMs = ctx.clock.now() - started;
    if (!written.ok) {
      record({
        action: "save",
        file: dir,
        status: "failed",
        images: [image.reference],
        bytes: 0,
        durationMs,
        message: `could not save ${image.reference} to ${dir}: ${written.error}`,
      });
      continue;
    }
    entries[image.reference] = { file: written.value.name, bytes: written.value.bytes, savedAt: new Date().toISOString() };
    record({ action: "save", file: written.value.file, status: "ok", images: [image.reference], bytes: written.value.bytes, durationMs });
  }
  if (Object.keys(entries).length > 0) records.push(...(await updateIndex(dir, entries, ctx)));
  return records;
}

async function saveOne(
  dir: string,
  reference: Reference,
  ctx: ArchiveContext,
): Promise<{ ok: true; value: { file: string; name: string; bytes: number } } | { ok: false; error: string }> {
  const { engine } = ctx;
  const saveImage = engine.saveImage?.bind(engine);
  if (!saveImage) return { ok: false, error: "this engine cannot save archives" };
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(ctx.settings.timeoutMs)]);
  try {
    return await writeArchive(dir, (destination) =>
      saveImage({ references: [reference], destination, signal, ...(engine.platform ? { platform: engine.platform } : {}) }),
    );
  } catch (error) {
    return { ok: false, error: signal.aborted ? "cancelled or PULL_TIMEOUT reached while saving" : (error as Error).message };
  }
}

/** Merges the new entries into the directory's index (an unreadable index is replaced, and said so). */
async function updateIndex(dir: string, entries: Readonly<Record<string, IndexEntry>>, ctx: ArchiveContext): Promise<ArchiveRecord[]> {
  const file = path.join(dir, INDEX_FILE);
  const records: ArchiveRecord[] = [];
  const failed = (message: string) => {
    records.push({ action: "save", file, status: "failed", images: [], bytes: 0, durationMs: 0, message });
    ctx.emit({ type: "archive", at: ctx.clock.now(), action: "save", file, ok: false, images: [], message });
  };
  const index = await readIndex(file, (_file, message) => failed(`${message}: replaced by a new index`));
  try {
    await writeFileAtomic(file, serializeIndex(withEntries(index, entries)));
  } catch (error) {
    failed(`could not write the archive index ${file}: ${(error as Error).message}`);
  }
  return records;
}
