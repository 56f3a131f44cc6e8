// The archive directory's index, prepull-archives.json: which file holds which image. Files are
// named by the sha256 of their own bytes ("sha256-<hex>.tar"), so a name says what the content
// must hash to: a truncated or altered file is caught before the engine sees it, and the same
// archive saved twice is one file. Pure: text in, values out.
import type { Result } from "../types.js";

export const INDEX_FILE = "prepull-archives.json";
const FILE_NAME = /^sha256-([0-9a-f]{64})\.tar$/;

export interface IndexEntry {
  /** File name inside the directory, "sha256-<hex>.tar". */
  readonly file: string;
  readonly bytes: number;
  /** ISO-8601 time of the save. */
  readonly savedAt: string;
}

export interface ArchiveIndex {
  readonly version: 1;
  /** Normalized reference → its archive. */
  readonly images: Readonly<Record<string, IndexEntry>>;
}

export const EMPTY_INDEX: ArchiveIndex = { version: 1, images: {} };

export function archiveFileName(sha256Hex: string): string {
  return `sha256-${sha256Hex}.tar`;
}

/** The sha256 a file's name promises, or undefined for a name prepull did not give. */
export function promisedSha256(file: string): string | undefined {
  return FILE_NAME.exec(file)?.[1];
}

/** Parses the index; every error names the file and the entry. */
export function parseIndex(text: string, where: string): Result<ArchiveIndex, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `${where} is not valid JSON (${(error as Error).message})` };
  }
  if (!isObject(value) || value.version !== 1 || !isObject(value.images))
    return { ok: false, error: `${where} is not a prepull archive index (version 1 with an "images" object)` };
  const images: Record<string, IndexEntry> = {};
  for (const [reference, entry] of Object.entries(value.images)) {
    if (!isObject(entry) || typeof entry.file !== "string" || promisedSha256(entry.file) === undefined) {
      return { ok: false, error: `${where}: the entry for ${JSON.stringify(reference)} does not name a file "sha256-<64 hex>.tar"` };
    }
    const bytes = typeof entry.bytes === "number" && Number.isSafeInteger(entry.bytes) && entry.bytes >= 0 ? entry.bytes : 0;
    images[reference] = { file: entry.file, bytes, savedAt: typeof entry.savedAt === "string" ? entry.savedAt : "" };
  }
  return { ok: true, value: { version: 1, images } };
}

/** Stable output: references sorted, two-space indent, trailing newline. */
export function serializeIndex(index: ArchiveIndex): string {
  const images = Object.fromEntries(
    Object.keys(index.images)
      .sort()
      .map((reference) => [reference, index.images[reference]]),
  );
  return `${JSON.stringify({ version: 1, images }, null, 2)}\n`;
}

/** The index with these entries added or replaced. */
export function withEntries(index: ArchiveIndex, entries: Readonly<Record<string, IndexEntry>>): ArchiveIndex {
  return { version: 1, images: { ...index.images, ...entries } };
}

export interface LoadPlan {
  /** Files the index names for the batch, each with the batch's references it holds, in batch order. */
  readonly listed: ReadonlyMap<string, readonly string[]>;
  /** Archives in the directory that the index does not know (put there by hand): loaded, matched by what they hold. */
  readonly unlisted: readonly string[];
}

/** Which files to load for these references: the index's files for them, and every archive it does not list. */
export function planLoad(index: ArchiveIndex, references: readonly string[], tarFiles: readonly string[]): LoadPlan {
  const listed = new Map<string, string[]>();
  for (const reference of references) {
    const entry = index.images[reference];
    if (!entry) continue;
    const holds = listed.get(entry.file) ?? [];
    holds.push(reference);
    listed.set(entry.file, holds);
  }
  const known = new Set(Object.values(index.images).map((entry) => entry.file));
  const unlisted = tarFiles.filter((file) => !known.has(file) && !file.startsWith(".")).sort();
  return { listed, unlisted };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
