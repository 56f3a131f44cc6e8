// Image discovery from Compose files: which images `docker compose pull` would fetch,
// resolved with the same variables Compose would use.
//
// Variable precedence, highest first:
//   1. the process environment (options.env);
//   2. the --env-file files (options.envFiles, else COMPOSE_ENV_FILES), later files over
//      earlier ones; when given they replace the default .env, as `docker compose --env-file` does;
//   3. otherwise the `.env` in the directory of each Compose file (optional; not read when
//      COMPOSE_DISABLE_ENV_FILE is true).
// A file's `include:` entries are followed: the included files see the including file's
// variables first, then their own env_file (default: .env in their project directory), as
// compose-go loads them. `extends:` is followed for image, build, pull_policy and profiles.
// Profiles: with --profile names (or else COMPOSE_PROFILES, from the environment or, as compose-go
// reads it, from the project's .env / env files), the services Compose would start
// (no profiles, or a named one; "*" names all). With none named, every service is considered:
// a CI job pre-pulls for any profile it may start, and an unneeded pull costs less than a test
// that fails on a cold pull. A service's `platform:` travels with its image.
import { formatPlatform, parsePlatform } from "../engine/platform.js";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Result } from "../types.js";
import { readEnvFile, type EnvFileError } from "./env-file.js";
import { interpolateDetailed, type Lookup } from "./interpolate.js";
import { parseComposeFile, type ComposeError, type ComposeFileSpec, type ComposeInclude, type ComposeServiceSpec } from "./compose-parse.js";

export type { ComposeError, ComposeServiceSpec } from "./compose-parse.js";
export { parseComposeFile, parseComposeServices } from "./compose-parse.js";

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
  /** --env-file paths in command-line order. When non-empty they replace each directory's .env (else COMPOSE_ENV_FILES does). */
  readonly envFiles?: readonly string[];
  /**
   * --profile names. When empty, COMPOSE_PROFILES names them (environment, then the project's
   * .env or env files); when neither does, every service is considered.
   */
  readonly profiles?: readonly string[];
}

/**
 * The Compose files COMPOSE_FILE names, split on COMPOSE_PATH_SEPARATOR (default ":", ";" on
 * Windows), as `docker compose` reads them when no -f is given. Empty when it is unset.
 */
export function composeFilesFromEnv(env: Readonly<Record<string, string | undefined>>, platform: string = process.platform): string[] {
  const separator = env.COMPOSE_PATH_SEPARATOR || (platform === "win32" ? ";" : ":");
  return splitList(env.COMPOSE_FILE, separator);
}

function splitList(value: string | undefined, separator: string): string[] {
  return (value ?? "")
    .split(separator)
    .map((part) => part.trim())
    .filter((part) => part !== "");
}

/** True for a name matching `*compose*.y?(a)ml` (which includes `docker-compose*.y?(a)ml`); hidden files excluded. */
export function isComposeFileName(name: string): boolean {
  const base = basename(name);
  return !base.startsWith(".") && /compose.*\.ya?ml$/.test(base);
}

export async function discoverComposeImages(paths: readonly string[], options: ComposeOptions): Promise<Result<ComposeDiscovery, ComposeError>> {
  const environment = environmentLookup(options.env);
  const warnings: string[] = [];

  const files = await expandPaths(paths);
  if (!files.ok) return files;
  warnings.push(...files.value.warnings);

  const settings = composeSettings(options);
  warnings.push(...settings.warnings);
  const explicit = settings.envFiles.length > 0 ? await loadEnvFiles(settings.envFiles, environment) : undefined;
  if (explicit !== undefined && !explicit.ok) return explicit;
  if (explicit !== undefined) warnings.push(...explicit.value.warnings);
  const dotenvByDirectory = new Map<string, ReadonlyMap<string, string>>();

  const walk: Walk = { images: [], notPullable: [], warnings, parsed: new Map() };
  for (const file of files.value.files) {
    let variables = explicit?.value.values ?? NO_VARIABLES;
    if (explicit === undefined && !settings.disableDotenv) {
      const dotenv = await projectDotenv(file, environment, dotenvByDirectory);
      if (!dotenv.ok) return dotenv;
      variables = dotenv.value.values;
      warnings.push(...dotenv.value.warnings);
    }
    const fileVariables = variables;
    const lookup: Lookup = (name) => environment(name) ?? fileVariables.get(name);
    const named = settings.profiles.length > 0 ? settings.profiles : splitList(lookup("COMPOSE_PROFILES"), ",");
    const profiles = named.length > 0 ? new Set(named) : undefined;
    const walked = await walkFile(file, { lookup, projectDirectory: dirname(file), chain: [], profiles }, walk);
    if (!walked.ok) return walked;
  }
  return { ok: true, value: { images: walk.images, notPullable: walk.notPullable, warnings } };
}

const NO_VARIABLES: ReadonlyMap<string, string> = new Map();

interface ComposeSettings {
  /** --profile names; when empty, COMPOSE_PROFILES is looked up per project. */
  readonly profiles: readonly string[];
  readonly envFiles: readonly string[];
  readonly disableDotenv: boolean;
  readonly warnings: readonly string[];
}

/** Flags first, then the COMPOSE_* variables `docker compose` reads. */
function composeSettings(options: ComposeOptions): ComposeSettings {
  const env = options.env;
  const envFiles = options.envFiles !== undefined && options.envFiles.length > 0 ? options.envFiles : splitList(env.COMPOSE_ENV_FILES, ",");
  const disable = parseComposeBool(env.COMPOSE_DISABLE_ENV_FILE);
  const warnings =
    disable === undefined
      ? [`COMPOSE_DISABLE_ENV_FILE=${JSON.stringify(env.COMPOSE_DISABLE_ENV_FILE)} is not true or false; the .env files are read, as docker compose does`]
      : [];
  return { profiles: options.profiles ?? [], envFiles, disableDotenv: disable === true, warnings };
}

// Go's strconv.ParseBool, which Compose uses; "" and unset are false; undefined for what it rejects.
function parseComposeBool(value: string | undefined): boolean | undefined {
  const text = (value ?? "").trim();
  if (["", "0", "f", "F", "false", "FALSE", "False"].includes(text)) return false;
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) return true;
  return undefined;
}

interface Walk {
  readonly images: ComposeImage[];
  readonly notPullable: NotPullable[];
  readonly warnings: string[];
  /** Parsed files by absolute path: a file included or extended from several places is read once. */
  readonly parsed: Map<string, ComposeFileSpec>;
}

interface FileContext {
  readonly lookup: Lookup;
  /** Where relative paths in `include` resolve from. */
  readonly projectDirectory: string;
  /** Absolute paths of the files that included this one, outermost first. */
  readonly chain: readonly string[];
  /** Enabled profiles of the project (included files share it); undefined when none is named. */
  readonly profiles: ReadonlySet<string> | undefined;
}

/** Collects one file's images: its included files first (as Compose loads them), then its services. */
async function walkFile(file: string, context: FileContext, walk: Walk): Promise<Result<void, ComposeError>> {
  const key = resolve(file);
  if (context.chain.includes(key)) {
    return { ok: false, error: { file, message: `${file}: include cycle: ${[...context.chain, key].join(" -> ")}; remove one of the include entries` } };
  }
  const spec = await loadFile(file, walk);
  if (!spec.ok) return spec;
  for (const include of spec.value.includes) {
    const included = await walkInclude(file, include, context, walk);
    if (!included.ok) return included;
  }
  for (const raw of spec.value.services) {
    const extended = await resolveExtends(raw, file, walk, [`${resolve(file)}#${raw.service}`]);
    if (!extended.ok) return extended;
    const service = extended.value;
    const disabled = disabledProfiles(service, context.lookup, context.profiles);
    if (disabled !== undefined) {
      walk.notPullable.push({ file, service: service.service, reason: `${disabled.includes(",") ? "profiles" : "profile"} ${disabled} not enabled` });
      continue;
    }
    const plan = classifyService(service);
    if (plan.kind === "not-pullable") {
      walk.notPullable.push({ file, service: service.service, reason: plan.reason });
      continue;
    }
    const resolved = resolveImage(plan.image, file, service.service, context.lookup);
    if (!resolved.ok) return resolved;
    walk.warnings.push(...resolved.value.warnings);
    const platform = servicePlatform(service, file);
    if (!platform.ok) return platform;
    walk.images.push({
      image: resolved.value.image,
      file,
      service: service.service,
      ...(plan.buildable ? { buildable: true as const } : {}),
      ...(platform.value ? { platform: platform.value } : {}),
    });
  }
  return { ok: true, value: undefined };
}

/**
 * Follows one `include` entry. Paths resolve from the including file's project directory; the
 * included files see the including file's variables first, then their own env_file.
 */
async function walkInclude(file: string, include: ComposeInclude, context: FileContext, walk: Walk): Promise<Result<void, ComposeError>> {
  const expand = (value: string): Result<string, ComposeError> => {
    const result = interpolateDetailed(value, context.lookup);
    if (!result.ok) return { ok: false, error: { file, message: `${file}: include "${value}": ${result.error.message}` } };
    return { ok: true, value: resolve(context.projectDirectory, result.value.value) };
  };
  const paths: string[] = [];
  for (const raw of include.paths) {
    const path = expand(raw);
    if (!path.ok) return path;
    if ((await entryKind(path.value)) !== "file") {
      return {
        ok: false,
        error: { file, message: `${file}: include "${raw}": ${path.value} is not a file; fix the path (it is relative to ${context.projectDirectory})` },
      };
    }
    paths.push(path.value);
  }
  const projectDirectory =
    include.projectDirectory === undefined ? { ok: true as const, value: dirname(paths[0] as string) } : expand(include.projectDirectory);
  if (!projectDirectory.ok) return projectDirectory;

  let variables: ReadonlyMap<string, string> = NO_VARIABLES;
  if (include.envFiles === undefined) {
    const dotenv = await readEnvFile(join(projectDirectory.value, ".env"), context.lookup, { optional: true });
    if (!dotenv.ok) return { ok: false, error: fromEnvFileError(dotenv.error) };
    variables = dotenv.value.values;
    walk.warnings.push(...dotenv.value.warnings);
  } else {
    const envFiles: string[] = [];
    for (const raw of include.envFiles) {
      const path = expand(raw);
      if (!path.ok) return path;
      envFiles.push(path.value);
    }
    const loaded = await loadEnvFiles(envFiles, context.lookup);
    if (!loaded.ok) return loaded;
    variables = loaded.value.values;
    walk.warnings.push(...loaded.value.warnings);
  }
  const own = variables;
  const child: FileContext = {
    lookup: (name) => context.lookup(name) ?? own.get(name),
    projectDirectory: projectDirectory.value,
    chain: [...context.chain, resolve(file)],
    profiles: context.profiles,
  };
  for (const path of paths) {
    const walked = await walkFile(path, child, walk);
    if (!walked.ok) return walked;
  }
  return { ok: true, value: undefined };
}

/** The service with what it inherits through `extends` (its own keys win), recursively. */
async function resolveExtends(spec: ComposeServiceSpec, file: string, walk: Walk, chain: readonly string[]): Promise<Result<ComposeServiceSpec, ComposeError>> {
  if (spec.extends === undefined) return { ok: true, value: spec };
  const baseFile = spec.extendsFile === undefined ? file : resolve(dirname(file), spec.extendsFile);
  const key = `${resolve(baseFile)}#${spec.extends}`;
  const where = `${file}: service "${spec.service}"`;
  if (chain.includes(key)) {
    const services = [...chain, key].map((k) => k.slice(k.lastIndexOf("#") + 1)).join(" -> ");
    return { ok: false, error: { file, service: spec.service, message: `${where}: extends cycle ${services}; remove one of the extends` } };
  }
  const parsed = await loadFile(baseFile, walk);
  if (!parsed.ok) return { ok: false, error: { ...parsed.error, message: `${where}: extends: ${parsed.error.message}` } };
  const base = parsed.value.services.find((s) => s.service === spec.extends);
  if (base === undefined) {
    return { ok: false, error: { file, service: spec.service, message: `${where}: extends "${spec.extends}", which ${baseFile} does not define` } };
  }
  const inherited = await resolveExtends(base, baseFile, walk, [...chain, key]);
  if (!inherited.ok) return inherited;
  const b = inherited.value;
  const image = spec.image ?? b.image;
  const pullPolicy = spec.pullPolicy ?? b.pullPolicy;
  const profiles = spec.profiles ?? b.profiles;
  return {
    ok: true,
    value: {
      service: spec.service,
      ...(image === undefined ? {} : { image }),
      build: spec.build || b.build,
      ...(pullPolicy === undefined ? {} : { pullPolicy }),
      ...(profiles === undefined ? {} : { profiles }),
    },
  };
}

/** Undefined when the service is enabled; otherwise its profiles, for the "not enabled" reason. */
function disabledProfiles(spec: ComposeServiceSpec, lookup: Lookup, enabled: ReadonlySet<string> | undefined): string | undefined {
  if (enabled === undefined || spec.profiles === undefined || spec.profiles.length === 0 || enabled.has("*")) return undefined;
  const names = spec.profiles.map((raw) => {
    const value = interpolateDetailed(raw, lookup);
    return value.ok ? value.value.value : raw;
  });
  return names.some((name) => enabled.has(name)) ? undefined : names.join(", ");
}

async function loadFile(file: string, walk: Walk): Promise<Result<ComposeFileSpec, ComposeError>> {
  const key = resolve(file);
  const cached = walk.parsed.get(key);
  if (cached !== undefined) return { ok: true, value: cached };
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    return { ok: false, error: { file, message: `${file}: cannot be read (${(error as Error).message})` } };
  }
  const parsed = parseComposeFile(text, file);
  if (parsed.ok) walk.parsed.set(key, parsed.value);
  return parsed;
}

type ServicePlan = { readonly kind: "pull"; readonly image: string; readonly buildable: boolean } | { readonly kind: "not-pullable"; readonly reason: string };

/** Decides from the raw service facts whether Compose would pull an image for it. */
export function classifyService(spec: ComposeServiceSpec): ServicePlan {
  if (spec.image === undefined) {
    if (spec.build) return { kind: "not-pullable", reason: "build only" };
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
export function resolveImage(raw: string, file: string, service: string, lookup: Lookup): Result<{ image: string; warnings: string[] }, ComposeError> {
  const where = `${file}: service "${service}"`;
  const result = interpolateDetailed(raw, lookup);
  if (!result.ok) {
    const { variable, kind } = result.error;
    const advice = kind === "missing-required" ? `; set ${variable} in the environment, the .env file or an --env-file` : "";
    return {
      ok: false,
      error: { file, service, ...(variable === undefined ? {} : { variable }), message: `${where}: image: ${result.error.message}${advice}` },
    };
  }
  const { value, unset, referenced } = result.value;
  const warnings = unset.map((name) => `${where}: variable ${name} is not set; using an empty string in image "${raw}"`);
  if (value.trim() === "") {
    const blank = [...unset, ...referenced.filter((name) => lookup(name) === "")];
    const variable = blank[0];
    if (variable === undefined)
      return { ok: false, error: { file, service, message: `${where}: image is empty; write an image reference or remove the image key` } };
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
