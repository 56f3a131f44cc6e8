// The lock file (issue 12): which manifest digest each image reference resolved to, so later jobs
// pull exactly what a first job saw. Plain text, one image a line, sorted: a change to one image is
// a one-line diff, and `grep`/`awk` read it without prepull. Pure: text in, text out.
import { checkDigest } from "../reference/grammar.js";
import { parseReference } from "../reference/index.js";
import type { Reference, Result } from "../types.js";

export const LOCK_FORMAT = 1;
const HEADER = `# prepull-lock v${LOCK_FORMAT}`;
const HEADER_PATTERN = /^# prepull-lock v(\d+)\s*$/;
/** `# not locked: <reference> (<why>)`: an image the locking run could not resolve, kept so --locked can say so. */
const UNLOCKED_PATTERN = /^#\s*not locked:\s*(\S+)/;
/** A lock of 100 000 images is ~15 MB; anything larger is not a lock file. */
export const LOCK_MAX_BYTES = 16 * 1024 * 1024;
/** Errors shown for one bad file: enough to fix it, never a flood. */
const MAX_ERRORS = 20;

export interface LockEntry {
  readonly reference: Reference;
  readonly digest: string;
  /** 1-based line in the file, for messages. */
  readonly line: number;
}

export interface LockFile {
  /** By canonical reference. */
  readonly entries: ReadonlyMap<string, LockEntry>;
  /** Images the locking run listed as not locked (canonical reference → line). */
  readonly unlocked: ReadonlyMap<string, number>;
}

export interface LockLineError {
  readonly line: number;
  readonly message: string;
}

export interface LockedImage {
  readonly reference: string;
  readonly digest: string;
}

export interface UnlockedImage {
  readonly reference: string;
  /** A few words: the image's status and class, e.g. "failed: permanent". */
  readonly why: string;
}

/** The file's text: the header, then every locked image sorted by reference, then the unlocked ones as comments. */
export function formatLock(locked: readonly LockedImage[], unlocked: readonly UnlockedImage[]): string {
  const byReference = (a: { reference: string }, b: { reference: string }) => (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0);
  const lines = [
    HEADER,
    "# One image a line: the reference as prepull normalizes it, a space, the manifest digest it resolved to.",
    "# Written by `prepull --lock FILE`, read by `prepull --locked FILE`; regenerate it rather than edit it.",
    ...[...locked].sort(byReference).map((image) => `${image.reference} ${image.digest}`),
    ...[...unlocked].sort(byReference).map((image) => `# not locked: ${image.reference} (${oneLine(image.why)})`),
  ];
  return `${lines.join("\n")}\n`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\p{Cc}+/gu, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 199)}…` : flat;
}

/** Every problem of the file, each with its line; the first MAX_ERRORS of them. */
export function parseLock(text: string): Result<LockFile, LockLineError[]> {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  const errors: LockLineError[] = [];
  const header = checkHeader(lines[0]);
  if (header) return { ok: false, error: [{ line: 1, message: header }] };
  const entries = new Map<string, LockEntry>();
  const unlocked = new Map<string, number>();
  lines.forEach((raw, index) => {
    const line = index + 1;
    const text = raw.trim();
    if (index === 0 || text === "") return;
    if (text.startsWith("#")) {
      const match = UNLOCKED_PATTERN.exec(text);
      const reference = match?.[1] ? parseReference(match[1]) : undefined;
      if (reference?.ok) unlocked.set(reference.value.canonical, line);
      return;
    }
    const parsed = parseLine(text);
    if (!parsed.ok) return void errors.push({ line, message: parsed.error });
    const { reference, digest } = parsed.value;
    const earlier = entries.get(reference.canonical);
    if (earlier) return void errors.push({ line, message: `${reference.canonical} is already locked on line ${earlier.line}: each image may appear once` });
    entries.set(reference.canonical, { reference, digest, line });
  });
  return errors.length > 0 ? { ok: false, error: errors.slice(0, MAX_ERRORS) } : { ok: true, value: { entries, unlocked } };
}

function checkHeader(first: string | undefined): string | undefined {
  const match = HEADER_PATTERN.exec(first?.trim() ?? "");
  if (!match) return `not a prepull lock file: the first line must be "${HEADER}" (write the file with prepull --lock)`;
  const version = Number(match[1]);
  if (version !== LOCK_FORMAT)
    return `lock file format v${version} is not the v${LOCK_FORMAT} this prepull reads: ${version > LOCK_FORMAT ? "upgrade prepull" : "write the file again with prepull --lock"}`;
  return undefined;
}

function parseLine(text: string): Result<{ reference: Reference; digest: string }, string> {
  const fields = text.split(/\s+/);
  if (fields.length !== 2)
    return {
      ok: false,
      error: `expected "REFERENCE DIGEST" (two fields separated by a space), found ${fields.length} field${fields.length === 1 ? "" : "s"}: ${JSON.stringify(text.slice(0, 200))}`,
    };
  const [name = "", digest = ""] = fields;
  const reference = parseReference(name);
  if (!reference.ok) return { ok: false, error: `invalid image reference ${JSON.stringify(name)}: ${reference.error.reason}` };
  const bad = checkDigest(digest);
  if (bad) return { ok: false, error: `invalid digest for ${reference.value.canonical}: ${bad}` };
  if (reference.value.digest !== undefined && reference.value.digest !== digest) {
    return { ok: false, error: `${name} names the digest ${reference.value.digest} but is locked to ${digest}: they must be the same` };
  }
  return { ok: true, value: { reference: reference.value, digest } };
}

/** `FILE:LINE: message` lines, as compilers print them, so editors and CI logs can jump there. */
export function formatLockErrors(path: string, errors: readonly LockLineError[]): string {
  return errors.map((e) => `${path}:${e.line}: ${e.message}`).join("\n");
}
