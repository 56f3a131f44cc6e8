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
  /** `extends.file`, as written, when the base service lives in another file. */
  readonly extendsFile?: string;
  /** `profiles` as written (before interpolation); absent when the service has none. */
  readonly profiles?: readonly string[];
}

/** One entry of the top-level `include` list, paths as written. */
export interface ComposeInclude {
  readonly paths: readonly string[];
  readonly projectDirectory?: string;
  readonly envFiles?: readonly string[];
}

export interface ComposeFileSpec {
  readonly services: readonly ComposeServiceSpec[];
  readonly includes: readonly ComposeInclude[];
}

// Large Compose files alias one `x-common` block from hundreds of services; the yaml
// default of 100 rejects those. This still stops exponential "billion laughs" documents.
const MAX_ALIAS_COUNT = 10_000;

/** Services of one Compose file, in file order. A file without `services` has none. */
export function parseComposeServices(text: string, file: string): Result<ComposeServiceSpec[], ComposeError> {
  const parsed = parseComposeFile(text, file);
  return parsed.ok ? { ok: true, value: [...parsed.value.services] } : parsed;
}

/** Services and `include` entries of one Compose file. */
export function parseComposeFile(text: string, file: string): Result<ComposeFileSpec, ComposeError> {
  const data = parseYaml(text, file);
  if (!data.ok) return data;
  const top = data.value;
  if (top === null || top === undefined) return fail(file, `${file}: the file is empty; a Compose file is a mapping with a "services" key`);
  if (!isMapping(top)) return fail(file, `${file}: a Compose file must be a mapping at the top level, found ${describe(top)}`);

  const includes = readIncludes(file, top.get("include"));
  if (!includes.ok) return includes;
  const services = top.get("services");
  if (services === undefined || services === null) return { ok: true, value: { services: [], includes: includes.value } };
  if (!isMapping(services)) {
    return fail(file, `${file}: "services" must be a mapping of service names to definitions, found ${describe(services)}`);
  }
  const specs: ComposeServiceSpec[] = [];
  for (const [name, definition] of services) {
    const spec = readService(file, String(name), definition);
    if (!spec.ok) return spec;
    specs.push(spec.value);
  }
  return { ok: true, value: { services: specs, includes: includes.value } };
}

// `include: [path, {path: p | [p...], project_directory: d, env_file: f | [f...]}]`
function readIncludes(file: string, value: unknown): Result<ComposeInclude[], ComposeError> {
  if (value === undefined || value === null) return { ok: true, value: [] };
  if (!Array.isArray(value)) return fail(file, `${file}: "include" must be a list of paths or of mappings with "path", found ${describe(value)}`);
  const includes: ComposeInclude[] = [];
  for (const entry of value as unknown[]) {
    if (typeof entry === "string") {
      includes.push({ paths: [entry] });
      continue;
    }
    const paths = isMapping(entry) ? stringList(entry.get("path")) : undefined;
    if (!isMapping(entry) || paths === undefined || paths.length === 0) {
      return fail(file, `${file}: each "include" entry must be a path or a mapping with "path" (a path or a list of paths), found ${describe(entry)}`);
    }
    const projectDirectory = entry.get("project_directory");
    const envFiles = stringList(entry.get("env_file"));
    if ((projectDirectory !== undefined && typeof projectDirectory !== "string") || (entry.get("env_file") !== undefined && envFiles === undefined)) {
      return fail(file, `${file}: in "include", project_directory must be a path and env_file a path or a list of paths`);
    }
    includes.push({
      paths,
      ...(typeof projectDirectory === "string" ? { projectDirectory } : {}),
      ...(envFiles === undefined ? {} : { envFiles }),
    });
  }
  return { ok: true, value: includes };
}

function stringList(value: unknown): string[] | undefined {
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  return undefined;
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
  const extended = extendedService(definition.get("extends"));
  const profiles = definition.get("profiles");
  if (profiles !== undefined && profiles !== null && stringList(profiles) === undefined) {
    return fail(file, `${file}: service "${service}": profiles must be a list of names, found ${describe(profiles)}`, service);
  }
  return {
    ok: true,
    value: {
      service,
      ...(typeof image === "string" ? { image } : {}),
      build: definition.get("build") !== undefined && definition.get("build") !== null,
      ...(typeof pullPolicy === "string" ? { pullPolicy } : {}),
      ...(typeof platform === "string" ? { platform } : {}),
      ...(extended === undefined ? {} : { extends: extended.service }),
      ...(extended?.file === undefined ? {} : { extendsFile: extended.file }),
      ...(profiles === undefined || profiles === null ? {} : { profiles: stringList(profiles) ?? [] }),
    },
  };
}

// `extends: web` and `extends: { service: web, file: other.yml }` are both valid.
function extendedService(value: unknown): { service: string; file?: string } | undefined {
  if (typeof value === "string") return { service: value };
  if (!isMapping(value)) return undefined;
  const service = value.get("service");
  const file = value.get("file");
  if (typeof service !== "string") return undefined;
  return typeof file === "string" ? { service, file } : { service };
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
