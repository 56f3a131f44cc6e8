// The machine-readable report (docs/report-schema.json describes it). Keys are written in one fixed
// order, whatever order the scheduler built the objects in, so reports diff cleanly between runs.
// The explicit key lists also act as an allow-list: a field smuggled onto an object at runtime
// (a token, an auth header) never reaches the file.
import type { AttemptRecord, ImageResult, RegistryStats, Report, Settings } from "../types.js";

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
} as const satisfies KeyOrder<Report>;

const TOOL_KEYS = { name: true, version: true } as const satisfies KeyOrder<Report["tool"]>;

const SETTINGS_KEYS = {
  retries: true,
  backoffBaseMs: true,
  backoffMaxMs: true,
  timeoutMs: true,
  parallel: true,
  seed: true,
  rateLimitBackoffMs: true,
  stallTimeoutMs: true,
  deadlineMs: true,
  pullPolicy: true,
  platform: true,
} as const satisfies KeyOrder<Settings>;

const IMAGE_KEYS = {
  input: true,
  reference: true,
  registry: true,
  status: true,
  class: true,
  reason: true,
  digest: true,
  platform: true,
  bytes: true,
  durationMs: true,
  attempts: true,
} as const satisfies KeyOrder<ImageResult>;

const ATTEMPT_KEYS = {
  number: true,
  startedAt: true,
  durationMs: true,
  class: true,
  message: true,
  absorbed: true,
} as const satisfies KeyOrder<AttemptRecord>;

const REGISTRY_KEYS = { registry: true, attempts: true, failures: true, gateClosedMs: true } as const satisfies KeyOrder<RegistryStats>;

/** A plain object with the listed keys in list order; absent optional fields are left out. */
function pick<T extends object>(value: T, keys: KeyOrder<T>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(keys) as (keyof T & string)[]) {
    if (value[key] !== undefined) out[key] = value[key];
  }
  return out;
}

function orderImage(image: ImageResult): Record<string, unknown> {
  return { ...pick(image, IMAGE_KEYS), attempts: image.attempts.map((attempt) => pick(attempt, ATTEMPT_KEYS)) };
}

/** The report as JSON: fixed key order, 2-space indent, trailing newline. */
export function toJson(report: Report): string {
  const ordered = {
    ...pick(report, REPORT_KEYS),
    tool: pick(report.tool, TOOL_KEYS),
    settings: pick(report.settings, SETTINGS_KEYS),
    images: report.images.map(orderImage),
    registries: report.registries.map((stats) => pick(stats, REGISTRY_KEYS)),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
