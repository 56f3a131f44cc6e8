// Docker contexts, resolved the way the docker CLI resolves them (docker/cli cli/command/cli.go
// resolveContextName, cli/context/store, cli/context/docker/load.go):
//   1. --context NAME
//   2. DOCKER_HOST set (non-empty) → the "default" context, i.e. DOCKER_HOST itself
//   3. DOCKER_CONTEXT
//   4. "currentContext" in $DOCKER_CONFIG/config.json
//   5. "default": DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, else the default socket.
// A named context lives in $DOCKER_CONFIG/contexts/meta/<sha256 hex of the name>/meta.json (its
// "docker" endpoint: Host, SkipTLSVerify) with TLS files in contexts/tls/<same>/docker/{ca,cert,key}.pem.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { homedir as osHomedir } from "node:os";
import { join } from "node:path";
import type { Result } from "../types.js";
import { DEFAULT_DOCKER_HOST, loadTlsMaterial, parseDockerHost, type EngineAddress } from "./docker-host.js";

export const DEFAULT_CONTEXT = "default";
/** meta.json is a few hundred bytes; more is not a context. */
const META_LIMIT = 1024 * 1024;

/** How the TLS connection to the engine is set up; undefined fields are left to Node's defaults. */
export interface EngineTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** false only for a context with SkipTLSVerify. */
  readonly rejectUnauthorized: boolean;
}

/** Where the engine address came from, for messages that must say so. */
export type EngineSource =
  | { readonly kind: "DOCKER_HOST" }
  | { readonly kind: "context"; readonly name: string; readonly chosenBy: "--context" | "DOCKER_CONTEXT" | "config.json" }
  | { readonly kind: "default" };

export interface ResolvedEngine {
  readonly address: EngineAddress;
  readonly tls?: EngineTls;
  readonly source: EngineSource;
}

export interface ResolveOptions {
  readonly env: NodeJS.ProcessEnv;
  /** --context NAME */
  readonly context?: string;
  readonly homedir?: string;
}

/** "from DOCKER_HOST", "from docker context \"colima\" (DOCKER_CONTEXT)", "the default socket". */
export function describeSource(source: EngineSource): string {
  if (source.kind === "DOCKER_HOST") return "from DOCKER_HOST";
  if (source.kind === "default") return "the default address (DOCKER_HOST unset, no docker context chosen)";
  const by = source.chosenBy === "config.json" ? "currentContext in the Docker config.json" : source.chosenBy;
  return `from docker context ${JSON.stringify(source.name)} (chosen by ${by})`;
}

function configDir(env: NodeJS.ProcessEnv, homedir: string): string {
  return env.DOCKER_CONFIG || join(homedir, ".docker");
}

/** The store's directory name for a context: hex sha256 of its name (docker/cli contextdirOf). */
export function contextDirName(name: string): string {
  return createHash("sha256").update(name, "utf8").digest("hex");
}

/** Which context the docker CLI would use, and why; undefined means "default". */
export async function chooseContext(
  options: ResolveOptions,
  dir: string,
): Promise<Result<{ name: string; chosenBy: "--context" | "DOCKER_CONTEXT" | "config.json" } | undefined, string>> {
  const { env } = options;
  if (options.context) return { ok: true, value: { name: options.context, chosenBy: "--context" } };
  if (env.DOCKER_HOST) return { ok: true, value: undefined };
  if (env.DOCKER_CONTEXT) return { ok: true, value: { name: env.DOCKER_CONTEXT, chosenBy: "DOCKER_CONTEXT" } };
  const current = await currentContext(join(dir, "config.json"));
  if (!current.ok) return current;
  return { ok: true, value: current.value ? { name: current.value, chosenBy: "config.json" } : undefined };
}

async function currentContext(file: string): Promise<Result<string | undefined, string>> {
  const text = await readSmall(file);
  if (text === undefined) return { ok: true, value: undefined };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: `cannot read the Docker config ${file}: it is not valid JSON, so its currentContext cannot be known.` };
  }
  const value = typeof json === "object" && json !== null ? (json as Record<string, unknown>).currentContext : undefined;
  return { ok: true, value: typeof value === "string" && value !== "" ? value : undefined };
}

/** The file's text, or undefined when it does not exist; other errors become text nobody can parse. */
async function readSmall(file: string): Promise<string | undefined> {
  try {
    const buffer = await readFile(file);
    return buffer.length > META_LIMIT ? "" : buffer.toString("utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return "";
  }
}

/** Resolves the engine's address and TLS the way the docker CLI would, reading the context store when a context is chosen. */
export async function resolveEngine(options: ResolveOptions): Promise<Result<ResolvedEngine, { message: string; address: string }>> {
  const homedir = options.homedir ?? osHomedir();
  const dir = configDir(options.env, homedir);
  const chosen = await chooseContext(options, dir);
  if (!chosen.ok) return { ok: false, error: { message: chosen.error, address: "" } };
  if (chosen.value === undefined || chosen.value.name === DEFAULT_CONTEXT) {
    const source: EngineSource = options.env.DOCKER_HOST ? { kind: "DOCKER_HOST" } : chosen.value ? { kind: "context", ...chosen.value } : { kind: "default" };
    return fromEnvironment(options.env, homedir, source);
  }
  return fromContext(dir, { kind: "context", ...chosen.value });
}

async function fromEnvironment(
  env: NodeJS.ProcessEnv,
  homedir: string,
  source: EngineSource,
): Promise<Result<ResolvedEngine, { message: string; address: string }>> {
  const parsed = parseDockerHost(env, homedir);
  if (!parsed.ok) return { ok: false, error: { message: parsed.error, address: env.DOCKER_HOST ?? "" } };
  const address = parsed.value;
  if (address.kind !== "tcp" || !address.tls) return { ok: true, value: { address, source } };
  const loaded = await loadTlsMaterial(address.tls);
  if (!loaded.ok) return { ok: false, error: { message: loaded.error, address: address.url } };
  return { ok: true, value: { address, source, tls: { ...loaded.value, rejectUnauthorized: true } } };
}

async function fromContext(
  dir: string,
  source: Extract<EngineSource, { kind: "context" }>,
): Promise<Result<ResolvedEngine, { message: string; address: string }>> {
  const id = contextDirName(source.name);
  const metaFile = join(dir, "contexts", "meta", id, "meta.json");
  const fail = (why: string) => ({
    ok: false as const,
    error: {
      message: `docker context ${JSON.stringify(source.name)} (chosen by ${source.chosenBy === "config.json" ? "currentContext in the Docker config.json" : source.chosenBy}) cannot be used: ${why}`,
      address: "",
    },
  });
  const text = await readSmall(metaFile);
  if (text === undefined) return fail(`it does not exist (no ${metaFile}); list contexts with "docker context ls".`);
  const endpoint = dockerEndpoint(text);
  if (!endpoint.ok) return fail(`${metaFile} ${endpoint.error}`);
  const host = endpoint.value.host || DEFAULT_DOCKER_HOST;
  const tlsDir = join(dir, "contexts", "tls", id, "docker");
  const tls = await contextTls(tlsDir, endpoint.value.skipTlsVerify);
  if (!tls.ok) return fail(tls.error);
  // A socket needs no TLS (docker/cli isSocket); a tcp host with TLS defaults to port 2376.
  const parsed = parseDockerHost({ DOCKER_HOST: host, ...(tls.value ? { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: tlsDir } : {}) }, dir);
  if (!parsed.ok)
    return fail(`its docker endpoint Host ${JSON.stringify(host)} is not usable (${parsed.error.replace(/^DOCKER_HOST=\S+ cannot be used: /, "")})`);
  const address = parsed.value;
  const useTls = address.kind === "tcp" && tls.value !== undefined;
  return { ok: true, value: { address, source, ...(useTls && tls.value ? { tls: tls.value } : {}) } };
}

/** The "docker" endpoint of a meta.json. Go's JSON decoding matches keys case-insensitively; so does this. */
export function dockerEndpoint(text: string): Result<{ host?: string; skipTlsVerify: boolean }, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: "is not valid JSON" };
  }
  const endpoints = field(json, "endpoints");
  const docker = field(endpoints, "docker");
  if (docker === undefined) return { ok: false, error: 'has no "docker" endpoint' };
  const host = field(docker, "host");
  if (host !== undefined && typeof host !== "string") return { ok: false, error: "has a docker endpoint Host that is not a string" };
  return { ok: true, value: { ...(host ? { host } : {}), skipTlsVerify: field(docker, "skiptlsverify") === true } };
}

function field(value: unknown, name: string): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const key = Object.keys(value).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : (value as Record<string, unknown>)[key];
}

/**
 * The context's TLS setup (docker/cli Endpoint.tlsConfig): none without files and without
 * SkipTLSVerify; otherwise whichever of ca.pem, cert.pem + key.pem exist, and verification off
 * when SkipTLSVerify is set.
 */
async function contextTls(tlsDir: string, skipVerify: boolean): Promise<Result<EngineTls | undefined, string>> {
  const read = async (name: string): Promise<Result<Buffer | undefined, string>> => {
    try {
      return { ok: true, value: await readFile(join(tlsDir, name)) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return code === "ENOENT"
        ? { ok: true, value: undefined }
        : { ok: false, error: `cannot read its TLS file ${join(tlsDir, name)} (${code ?? "read error"})` };
    }
  };
  const [ca, cert, key] = await Promise.all([read("ca.pem"), read("cert.pem"), read("key.pem")]);
  for (const file of [ca, cert, key]) if (!file.ok) return file;
  if (!ca.ok || !cert.ok || !key.ok) return { ok: true, value: undefined };
  if (!ca.value && !cert.value && !key.value && !skipVerify) return { ok: true, value: undefined };
  if ((cert.value === undefined) !== (key.value === undefined)) {
    return { ok: false, error: `its TLS directory ${tlsDir} has ${cert.value ? "cert.pem without key.pem" : "key.pem without cert.pem"}` };
  }
  return {
    ok: true,
    value: { ...(ca.value ? { ca: ca.value } : {}), ...(cert.value && key.value ? { cert: cert.value, key: key.value } : {}), rejectUnauthorized: !skipVerify },
  };
}
