// Turns the text of one Compose file into the few service facts image discovery needs.
// Pure: no file system, no environment. A real YAML parser (not a line regex) is what makes
// anchors, aliases, merge keys, comments and quoting behave as they do for `docker compose`.
import { LineCounter, parseDocument } from "yaml";
import type { Result } from "../types.js";

export interface ComposeError {
  /** The Compose file or env file at fault. */
  readonly file: string;
  readonly service?: string;
  readonly variable?: string;
  /** 1-based line, when the error has a position (YAML syntax, env files). */
  readonly line?: number;
  /** Complete human-readable message: names the file, service and variable and says what to do. */
  readonly message: string;
}

export interface ComposeServiceSpec {
  readonly service: string;
  /** `image` as written, before interpolation. */
  readonly image?: string;
  /** True when the service has a `build` section. */
  readonly build: boolean;
  /** `pull_policy` as written. */
  readonly pullPolicy?: string;
  /** `platform` as written ("linux/arm64"). */
  readonly platform?: string;
  /** The service named by `extends`, when there is one. */
  readonly extends?: string;
}

// Large Compose files alias one `x-common` block from hundreds of services; the yaml
// default of 100 rejects those. This still stops exponential "billion laughs" documents.
const MAX_ALIAS_COUNT = 10_000;

/** Services of one Compose file, in file order. A file without `services` has none. */
export function parseComposeServices(text: string, file: string): Result<ComposeServiceSpec[], ComposeError> {
  const data = parseYaml(text, file);
  if (!data.ok) return data;
  const top = data.value;
  if (top === null || top === undefined) return fail(file, `${file}: the file is empty; a Compose file is a mapping with a "services" key`);
  if (!isMapping(top)) return fail(file, `${file}: a Compose file must be a mapping at the top level, found ${describe(top)}`);

  const services = top.get("services");
  if (services === undefined || services === null) return { ok: true, value: [] };
  if (!isMapping(services)) {
    return fail(file, `${file}: "services" must be a mapping of service names to definitions, found ${describe(services)}`);
  }
  const specs: ComposeServiceSpec[] = [];
  for (const [name, definition] of services) {
    const spec = readService(file, String(name), definition);
    if (!spec.ok) return spec;
    specs.push(spec.value);
  }
  return { ok: true, value: specs };
}

function parseYaml(text: string, file: string): Result<unknown, ComposeError> {
  const lineCounter = new LineCounter();
  // merge: "<<" is a YAML 1.1 feature that Compose files rely on; yaml 2 needs it enabled.
  const doc = parseDocument(text, { merge: true, lineCounter, prettyErrors: false });
  const first = doc.errors[0];
  if (first !== undefined) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    return {
      ok: false,
      error: { file, line, message: `${file}:${line}:${col}: invalid YAML: ${first.message}; fix the syntax at that line` },
    };
  }
  try {
    // Maps, not objects: objects would move integer-like service names ("1") to the front.
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT, mapAsMap: true }) as unknown };
  } catch (error) {
    // Unresolved aliases and alias bombs surface only when the document is built.
    return fail(file, `${file}: invalid YAML: ${(error as Error).message}`);
  }
}

function readService(file: string, service: string, definition: unknown): Result<ComposeServiceSpec, ComposeError> {
  if (!isMapping(definition)) {
    return fail(file, `${file}: service "${service}" must be a mapping (image, build, ...), found ${describe(definition)}`, service);
  }
  const image = definition.get("image");
  if (image !== undefined && image !== null && typeof image !== "string") {
    return fail(file, `${file}: service "${service}": image must be a string, found ${describe(image)}; quote the value`, service);
  }
  const pullPolicy = definition.get("pull_policy");
  const platform = definition.get("platform");
  const extendsName = extendedService(definition.get("extends"));
  return {
    ok: true,
    value: {
      service,
      ...(typeof image === "string" ? { image } : {}),
      build: definition.get("build") !== undefined && definition.get("build") !== null,
      ...(typeof pullPolicy === "string" ? { pullPolicy } : {}),
      ...(typeof platform === "string" ? { platform } : {}),
      ...(extendsName === undefined ? {} : { extends: extendsName }),
    },
  };
}

// `extends: web` and `extends: { service: web, file: other.yml }` are both valid.
function extendedService(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  const service = isMapping(value) ? value.get("service") : undefined;
  return typeof service === "string" ? service : undefined;
}

function isMapping(value: unknown): value is Map<unknown, unknown> {
  return value instanceof Map;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (value instanceof Map) return "a mapping";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function fail(file: string, message: string, service?: string): Result<never, ComposeError> {
  return { ok: false, error: { file, ...(service === undefined ? {} : { service }), message } };
}
