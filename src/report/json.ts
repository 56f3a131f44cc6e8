// The machine-readable report (docs/report-schema.json describes it). Keys are written in one fixed
// order, whatever order the scheduler built the objects in, so reports diff cleanly between runs.
// The explicit key lists also act as an allow-list: a field smuggled onto an object at runtime
// (a token, an auth header) never reaches the file.
// Strings from outside (engine messages, reasons, the user's spelling) are masked and bounded
// here once more, and digest and byte counts are checked against the schema's own rules, so a
// hostile engine cannot make the report invalid.
import { reportSettings } from "../policy/settings.js";
import type { ArchiveRecord, AttemptRecord, ImageResult, RegistryStats, Report } from "../types.js";
import { foreign } from "./limits.js";

/** Every key of T, in output order. `satisfies` makes the compiler flag a key added to T but not here. */
type KeyOrder<T> = { readonly [K in keyof T]-?: true };

const REPORT_KEYS = {
  schemaVersion: true,
  tool: true,
  startedAt: true,
  endedAt: true,
  durationMs: true,
  interrupted: true,
  exitCode: true,
  settings: true,
  images: true,
  registries: true,
  archives: true,
  engineMirrors: true,
} as const satisfies KeyOrder<Report>;

const TOOL_KEYS = { name: true, version: true } as const satisfies KeyOrder<Report["tool"]>;

const IMAGE_KEYS = {
  input: true,
  reference: true,
  registry: true,
  status: true,
  class: true,
  reason: true,
  rule: true,
  digest: true,
  resolvedDigest: true,
  platform: true,
  source: true,
  mirror: true,
  bytes: true,
  durationMs: true,
  attempts: true,
  stack: true,
} as const satisfies KeyOrder<ImageResult>;

const ATTEMPT_KEYS = {
  number: true,
  startedAt: true,
  durationMs: true,
  class: true,
  rule: true,
  message: true,
  absorbed: true,
  mirror: true,
} as const satisfies KeyOrder<AttemptRecord>;

const ARCHIVE_KEYS = {
  action: true,
  file: true,
  status: true,
  images: true,
  bytes: true,
  durationMs: true,
  message: true,
} as const satisfies KeyOrder<ArchiveRecord>;

const REGISTRY_KEYS = {
  registry: true,
  attempts: true,
  failures: true,
  gateClosedMs: true,
  quota: true,
  mirrorOf: true,
  bytes: true,
} as const satisfies KeyOrder<RegistryStats>;

/** A plain object with the listed keys in list order; absent optional fields are left out. */
function pick<T extends object>(value: T, keys: KeyOrder<T>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(keys) as (keyof T & string)[]) {
    if (value[key] !== undefined) out[key] = value[key];
  }
  return out;
}

/** The schema's digest pattern (docs/report-schema.json). */
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

function safeImage(image: ImageResult): ImageResult {
  const { digest, reason, ...rest } = image;
  return {
    ...rest,
    input: foreign(image.input),
    ...(reason !== undefined ? { reason: foreign(reason) } : {}),
    ...(digest !== undefined && DIGEST.test(digest) ? { digest } : {}),
    bytes: wholeBytes(image.bytes),
    attempts: image.attempts.map((attempt) => (attempt.message === undefined ? attempt : { ...attempt, message: foreign(attempt.message) })),
  };
}

function wholeBytes(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

function orderImage(unsafe: ImageResult): Record<string, unknown> {
  const image = safeImage(unsafe);
  return { ...pick(image, IMAGE_KEYS), attempts: image.attempts.map((attempt) => pick(attempt, ATTEMPT_KEYS)) };
}

function orderArchive(archive: ArchiveRecord): Record<string, unknown> {
  return pick(
    {
      ...archive,
      file: foreign(archive.file),
      bytes: wholeBytes(archive.bytes),
      ...(archive.message !== undefined ? { message: foreign(archive.message) } : {}),
    },
    ARCHIVE_KEYS,
  );
}

/** The report as JSON: fixed key order, 2-space indent, trailing newline. */
export function toJson(report: Report): string {
  const ordered = {
    ...pick(report, REPORT_KEYS),
    tool: pick(report.tool, TOOL_KEYS),
    // Keys and order come from the settings table (policy/settings.ts).
    settings: reportSettings(report.settings),
    images: report.images.map(orderImage),
    registries: report.registries.map((stats) => pick(stats, REGISTRY_KEYS)),
    ...(report.archives ? { archives: report.archives.map(orderArchive) } : {}),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
