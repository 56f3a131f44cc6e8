// Image discovery from Compose files: which images `docker compose pull` would fetch,
// resolved with the same variables Compose would use.
//
// Variable precedence, highest first:
//   1. the process environment (options.env);
//   2. the --env-file files (options.envFiles), later files over earlier ones; when given
//      they replace the default .env, as `docker compose --env-file` does;
//   3. otherwise the `.env` in the directory of each Compose file (optional).
// Every service is considered whatever its `profiles`: a CI job pre-pulls for any profile
// it may start, and an unneeded pull costs less than a test that fails on a cold pull.
import { formatPlatform, parsePlatform } from "../engine/platform.js";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Result } from "../types.js";
import { readEnvFile, type EnvFileError } from "./env-file.js";
import { interpolateDetailed, type Lookup } from "./interpolate.js";
import { parseComposeServices, type ComposeError, type ComposeServiceSpec } from "./compose-parse.js";

export type { ComposeError, ComposeServiceSpec } from "./compose-parse.js";
export { parseComposeServices } from "./compose-parse.js";

export interface ComposeImage {
  /** The image reference after interpolation, otherwise as written. */
  readonly image: string;
  readonly file: string;
  readonly service: string;
  /**
   * The service also has `build:`. Compose tries the pull and builds when it fails, so a
   * failed pull of this image need not fail the job.
   */
  readonly buildable?: true;
  /** The service's `platform:`, normalized ("linux/arm64"): Compose pulls the image for it. */
  readonly platform?: string;
}

export interface NotPullable {
  readonly file: string;
  readonly service: string;
  /** "build only", "pull_policy: build", "pull_policy: never", "no image or build", ... */
  readonly reason: string;
}

export interface ComposeDiscovery {
  /** File order, then service order; duplicates kept (deduplication happens on normalized references). */
  readonly images: readonly ComposeImage[];
  readonly notPullable: readonly NotPullable[];
  /** Unset variables (file, service, variable), env-file warnings, directories without Compose files. */
  readonly warnings: readonly string[];
}

export interface ComposeOptions {
  /** The process environment; an undefined value counts as unset. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** --env-file paths in command-line order. When non-empty they replace each directory's .env. */
  readonly envFiles?: readonly string[];
}

/** True for a name matching `*compose*.y?(a)ml` (which includes `docker-compose*.y?(a)ml`); hidden files excluded. */
export function isComposeFileName(name: string): boolean {
  const base = basename(name);
  return !base.startsWith(".") && /compose.*\.ya?ml$/.test(base);
}

export async function discoverComposeImages(
  paths: readonly string[],
  options: ComposeOptions,
): Promise<Result<ComposeDiscovery, ComposeError>> {
  const environment = environmentLookup(options.env);
  const warnings: string[] = [];

  const files = await expandPaths(paths);
  if (!files.ok) return files;
  warnings.push(...files.value.warnings);

  const envFiles = options.envFiles ?? [];
  const explicit = envFiles.length > 0 ? await loadEnvFiles(envFiles, environment) : undefined;
  if (explicit !== undefined && !explicit.ok) return explicit;
  if (explicit !== undefined) warnings.push(...explicit.value.warnings);
  const dotenvByDirectory = new Map<string, ReadonlyMap<string, string>>();

  const images: ComposeImage[] = [];
  const notPullable: NotPullable[] = [];
  for (const file of files.value.files) {
    let variables = explicit?.value.values;
    if (variables === undefined) {
      const dotenv = await projectDotenv(file, environment, dotenvByDirectory);
      if (!dotenv.ok) return dotenv;
      variables = dotenv.value.values;
      warnings.push(...dotenv.value.warnings);
    }
    const fileVariables = variables;
    const lookup: Lookup = (name) => environment(name) ?? fileVariables.get(name);

    const specs = await readServices(file);
    if (!specs.ok) return specs;
    for (const spec of specs.value) {
      const plan = classifyService(spec);
      if (plan.kind === "not-pullable") {
        notPullable.push({ file, service: spec.service, reason: plan.reason });
        continue;
      }
      const resolved = resolveImage(plan.image, file, spec.service, lookup);
      if (!resolved.ok) return resolved;
      warnings.push(...resolved.value.warnings);
      const platform = servicePlatform(spec, file);
      if (!platform.ok) return platform;
      images.push({
        image: resolved.value.image,
        file,
        service: spec.service,
        ...(plan.buildable ? { buildable: true as const } : {}),
        ...(platform.value ? { platform: platform.value } : {}),
      });
    }
  }
  return { ok: true, value: { images, notPullable, warnings } };
}

type ServicePlan =
  | { readonly kind: "pull"; readonly image: string; readonly buildable: boolean }
  | { readonly kind: "not-pullable"; readonly reason: string };

/** Decides from the raw service facts whether Compose would pull an image for it. */
export function classifyService(spec: ComposeServiceSpec): ServicePlan {
  if (spec.image === undefined) {
    if (spec.build) return { kind: "not-pullable", reason: "build only" };
    if (spec.extends !== undefined) return { kind: "not-pullable", reason: `no image (extends "${spec.extends}", which is not followed)` };
    return { kind: "not-pullable", reason: "no image or build" };
  }
  // Compose never pulls for these policies: "build" always builds, "never" uses a local image.
  if (spec.pullPolicy === "build" || spec.pullPolicy === "never") {
    return { kind: "not-pullable", reason: `pull_policy: ${spec.pullPolicy}` };
  }
  return { kind: "pull", image: spec.image, buildable: spec.build };
}

/** The service's platform, checked; variables in it are not interpolated (a "$" is reported, not guessed at). */
function servicePlatform(spec: ComposeServiceSpec, file: string): Result<string | undefined, ComposeError> {
  if (spec.platform === undefined || spec.platform.trim() === "") return { ok: true, value: undefined };
  const parsed = parsePlatform(spec.platform, `${file}: service "${spec.service}": platform`);
  if (!parsed.ok) return { ok: false, error: { file, service: spec.service, message: parsed.error } };
  return { ok: true, value: formatPlatform(parsed.value) };
}

/** Interpolates one image value; every failure names the file, the service and the variable. */
export function resolveImage(
  raw: string,
  file: string,
  service: string,
  lookup: Lookup,
): Result<{ image: string; warnings: string[] }, ComposeError> {
  const where = `${file}: service "${service}"`;
  const result = interpolateDetailed(raw, lookup);
  if (!result.ok) {
    const { variable, kind } = result.error;
    const advice = kind === "missing-required" ? `; set ${variable} in the environment, the .env file or an --env-file` : "";
    return { ok: false, error: { file, service, ...(variable === undefined ? {} : { variable }), message: `${where}: image: ${result.error.message}${advice}` } };
  }
  const { value, unset, referenced } = result.value;
  const warnings = unset.map((name) => `${where}: variable ${name} is not set; using an empty string in image "${raw}"`);
  if (value.trim() === "") {
    const blank = [...unset, ...referenced.filter((name) => lookup(name) === "")];
    const variable = blank[0];
    if (variable === undefined) return { ok: false, error: { file, service, message: `${where}: image is empty; write an image reference or remove the image key` } };
    const state = unset.includes(variable) ? "is not set" : "is empty";
    return {
      ok: false,
      error: {
        file,
        service,
        variable,
        message: `${where}: image "${raw}" is empty after interpolation because ${variable} ${state}; set ${variable} or give a default like \${${variable}:-image:tag}`,
      },
    };
  }
  return { ok: true, value: { image: value, warnings } };
}

function environmentLookup(env: Readonly<Record<string, string | undefined>>): Lookup {
  return (name) => (Object.hasOwn(env, name) ? env[name] : undefined);
}

/** Expands directories to their Compose files (sorted, not recursive) and drops repeated files. */
async function expandPaths(paths: readonly string[]): Promise<Result<{ files: string[]; warnings: string[] }, ComposeError>> {
  const files: string[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  const add = (file: string) => {
    const key = resolve(file);
    if (!seen.has(key)) files.push(file);
    seen.add(key);
  };
  for (const path of paths) {
    const kind = await entryKind(path);
    if (kind === "missing") {
      return { ok: false, error: { file: path, message: `${path}: no such file or directory; pass a Compose file or a directory that holds one` } };
    }
    if (kind === "file") {
      add(path);
      continue;
    }
    const names = (await readdir(path)).filter(isComposeFileName).sort(byCodePoint);
    const found: string[] = [];
    for (const name of names) {
      if ((await entryKind(join(path, name))) === "file") found.push(join(path, name));
    }
    if (found.length === 0) warnings.push(`${path}: no Compose files here (names matching *compose*.y?(a)ml); nothing to pull from it`);
    found.forEach(add);
  }
  return { ok: true, value: { files, warnings } };
}

async function entryKind(path: string): Promise<"file" | "directory" | "missing"> {
  try {
    return (await stat(path)).isDirectory() ? "directory" : "file";
  } catch {
    return "missing";
  }
}

// Locale-independent, so the order is the same on every CI runner.
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function readServices(file: string): Promise<Result<ComposeServiceSpec[], ComposeError>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    return { ok: false, error: { file, message: `${file}: cannot be read (${(error as Error).message})` } };
  }
  return parseComposeServices(text, file);
}

async function loadEnvFiles(
  paths: readonly string[],
  environment: Lookup,
): Promise<Result<{ values: ReadonlyMap<string, string>; warnings: string[] }, ComposeError>> {
  const merged = new Map<string, string>();
  const warnings: string[] = [];
  for (const path of paths) {
    const parsed = await readEnvFile(path, environment, { inherited: merged });
    if (!parsed.ok) return { ok: false, error: fromEnvFileError(parsed.error) };
    for (const [key, value] of parsed.value.values) merged.set(key, value);
    warnings.push(...parsed.value.warnings);
  }
  return { ok: true, value: { values: merged, warnings } };
}

/** The optional .env beside a Compose file, read once per directory (warnings reported once too). */
async function projectDotenv(
  file: string,
  environment: Lookup,
  cache: Map<string, ReadonlyMap<string, string>>,
): Promise<Result<{ values: ReadonlyMap<string, string>; warnings: readonly string[] }, ComposeError>> {
  const directory = resolve(dirname(file));
  const cached = cache.get(directory);
  if (cached !== undefined) return { ok: true, value: { values: cached, warnings: [] } };
  const parsed = await readEnvFile(join(dirname(file), ".env"), environment, { optional: true });
  if (!parsed.ok) return { ok: false, error: fromEnvFileError(parsed.error) };
  cache.set(directory, parsed.value.values);
  return parsed;
}

function fromEnvFileError(error: EnvFileError): ComposeError {
  return {
    file: error.file,
    ...(error.line === undefined ? {} : { line: error.line }),
    ...(error.variable === undefined ? {} : { variable: error.variable }),
    message: error.message,
  };
}
