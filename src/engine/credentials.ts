// Registry credentials found the way the docker CLI finds them, so a CI job that ran `docker login`
// (or configured a credential helper) pulls private images through prepull without extra setup.
// Order, as in the CLI: credHelpers[registry], then credsStore, then the auths entries of config.json.
// Secrets never enter a message: errors name files, registries and helpers, never their contents,
// and every credential is registered with the masker (src/secrets.ts) the moment it is read.
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir as osHomedir } from "node:os";
import { join } from "node:path";
import { terminalSafe } from "../report/summary.js";
import { secrets } from "../secrets.js";
import type { Result } from "../types.js";

export type RegistryAuth =
  | { readonly kind: "basic"; readonly username: string; readonly password: string; readonly serverAddress: string }
  | { readonly kind: "token"; readonly identityToken: string; readonly serverAddress: string };

/**
 * Why credentials could not be had. Typed here, where it is known, so nobody parses the message
 * back: a broken config or a missing helper stays broken; a helper that timed out may answer later.
 */
export interface CredentialError {
  readonly message: string;
  readonly retryable: boolean;
}

type Found = Result<RegistryAuth | undefined, CredentialError>;

export interface CredentialStore {
  /** Credentials for a registry host ("docker.io", "127.0.0.1:5000"); undefined means pull anonymously. */
  forRegistry(registry: string): Promise<Found>;
}

/** What running a credential helper gave; `failure` is the spawn error code or "timeout". */
export interface HelperRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly failure?: string;
}

/** Runs `program args` with `input` on stdin. Injected in tests; the default uses spawn without a shell. */
export type RunHelper = (program: string, args: readonly string[], input: string) => Promise<HelperRun>;

export interface CredentialStoreOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly homedir?: string;
  readonly runHelper?: RunHelper;
  /** How long a credential helper may take. Default 30 s: some fetch tokens over the network. */
  readonly helperTimeoutMs?: number;
  /** The run's signal: aborting it kills a running helper (and its process group). */
  readonly signal?: AbortSignal;
  /**
   * Told once when config.json cannot be used; pulls then go on anonymously, as the docker CLI
   * does ("WARNING: Error loading config file"). Default: a line on stderr.
   */
  readonly onWarning?: (message: string) => void;
}

/** Most a credential helper may write; a real answer is a few kilobytes (an ECR token is ~2 KB). */
export const HELPER_OUTPUT_LIMIT = 1024 * 1024;

/** The key the docker CLI files Docker Hub credentials under. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";
const HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

interface DockerConfig {
  readonly path: string;
  readonly auths: Readonly<Record<string, unknown>>;
  readonly credHelpers: Readonly<Record<string, unknown>>;
  readonly credsStore?: string;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv, homedir: string = osHomedir()): string {
  return env.DOCKER_CONFIG ? join(env.DOCKER_CONFIG, "config.json") : join(homedir, ".docker", "config.json");
}

export function createCredentialStore(options: CredentialStoreOptions): CredentialStore {
  const path = dockerConfigPath(options.env, options.homedir);
  const runHelper = options.runHelper ?? spawnHelper(options.env, options.helperTimeoutMs ?? 30_000, options.signal);
  const warn = options.onWarning ?? ((message: string) => process.stderr.write(`prepull: warning: ${terminalSafe(message)}\n`));
  let config: Promise<Result<DockerConfig, CredentialError>> | undefined;
  const cache = new Map<string, Promise<Found>>();
  const loadOnce = async (): Promise<Result<DockerConfig, CredentialError>> => {
    const loaded = await loadDockerConfig(path);
    // Short of file handles: no verdict on the file, ask again next time.
    if (loaded.ok || loaded.error.retryable) return loaded;
    // Like the docker CLI: one warning, then anonymous pulls; only images that need credentials fail.
    warn(`${loaded.error.message} Pulling without credentials.`);
    return { ok: true, value: { path, auths: {}, credHelpers: {} } };
  };
  return {
    forRegistry(registry) {
      const key = hostKey(registry);
      let found = cache.get(key);
      if (!found) {
        config ??= loadOnce();
        const loading = config;
        found = loading
          .then((loaded) => (loaded.ok ? resolveAuth(loaded.value, registry, runHelper) : loaded))
          .then((result) => {
            if (result.ok && result.value) registerCredentials(result.value);
            return result;
          });
        cache.set(key, found);
        // A failure that may pass (too many open files, a helper's time-out) is asked again next time.
        void found.then((result) => {
          if (result.ok || !result.error.retryable) return;
          if (cache.get(key) === found) cache.delete(key);
          if (config === loading) config = undefined;
        });
      }
      return found;
    },
  };
}

/** Read errors that say nothing about the file itself: the next read may well succeed. */
const PASSING_ERRORS: ReadonlySet<string> = new Set(["EMFILE", "ENFILE", "EAGAIN", "EBUSY", "EINTR"]);

/** Registers every form of a credential the engine or a registry could quote back. */
export function registerCredentials(auth: RegistryAuth): void {
  if (auth.kind === "token") secrets.add(auth.identityToken);
  else {
    secrets.add(auth.password);
    // The Basic authorization the engine sends the registry, and the config.json "auth" field.
    secrets.addEncoded(Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64"));
  }
}

/** A missing file means no credentials; anything else unreadable is an error naming the file (the store warns and goes on). */
export async function loadDockerConfig(path: string): Promise<Result<DockerConfig, CredentialError>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: true, value: { path, auths: {}, credHelpers: {} } };
    if (code !== undefined && PASSING_ERRORS.has(code))
      return {
        ok: false,
        error: { message: `cannot read the Docker config ${path} (${code}): the machine is short of file handles; retrying.`, retryable: true },
      };
    return {
      ok: false,
      error: permanent(`cannot read the Docker config ${path} (${code ?? "read error"}): fix its permissions, or set DOCKER_CONFIG to another directory.`),
    };
  }
  return parseDockerConfig(text, path);
}

/** Pure: validates the parts prepull uses. Never quotes the content, which holds secrets. */
export function parseDockerConfig(text: string, path: string): Result<DockerConfig, CredentialError> {
  const invalid = (what: string): Result<DockerConfig, CredentialError> => ({
    ok: false,
    error: permanent(`cannot use the Docker config ${path}: ${what}; fix it (docker login rewrites it), or set DOCKER_CONFIG to another directory.`),
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error, which may be a password.
    return invalid("it is not valid JSON");
  }
  if (!isRecord(value)) return invalid("it is not a JSON object");
  const { auths = {}, credHelpers = {}, credsStore } = value;
  if (!isRecord(auths)) return invalid(`"auths" is not an object`);
  if (!isRecord(credHelpers)) return invalid(`"credHelpers" is not an object`);
  if (credsStore !== undefined && typeof credsStore !== "string") return invalid(`"credsStore" is not a string`);
  return { ok: true, value: { path, auths, credHelpers, credsStore: credsStore || undefined } };
}

/** The server address the CLI uses for a registry: Hub has a historical URL, others their host. */
export function serverAddressFor(registry: string): string {
  return HUB_HOSTS.has(hostKey(registry)) ? DOCKER_HUB_AUTH_KEY : registry;
}

/** "https://index.docker.io/v1/", "index.docker.io", "http://127.0.0.1:5000/v2/" → one comparable key. */
export function hostKey(spelling: string): string {
  const host =
    spelling
      .trim()
      .replace(/^[a-z][a-z0-9+.-]*:\/\//i, "")
      .split("/")[0]
      ?.toLowerCase() ?? "";
  return HUB_HOSTS.has(host) ? "docker.io" : host;
}

async function resolveAuth(config: DockerConfig, registry: string, runHelper: RunHelper): Promise<Found> {
  const serverAddress = serverAddressFor(registry);
  const helper = matching(config.credHelpers, serverAddress).map(([, name]) => name)[0] ?? config.credsStore;
  if (helper !== undefined) return fromHelper(helper, serverAddress, config.path, runHelper);
  for (const [key, entry] of matching(config.auths, serverAddress)) {
    const auth = decodeAuthEntry(entry, key, config.path);
    if (!auth.ok || auth.value) return auth;
  }
  return { ok: true, value: undefined };
}

/** Entries for the registry: the exact key first, then any spelling of the same host, in file order. */
function matching(entries: Readonly<Record<string, unknown>>, serverAddress: string): Array<[string, unknown]> {
  const wanted = hostKey(serverAddress);
  const all = Object.entries(entries);
  const exact = all.filter(([key]) => key === serverAddress);
  return [...exact, ...all.filter(([key]) => key !== serverAddress && hostKey(key) === wanted)];
}

/** Pure: one `auths` entry → credentials; an empty entry (left by a credsStore) means none. */
export function decodeAuthEntry(entry: unknown, key: string, path: string): Found {
  if (!isRecord(entry)) return { ok: true, value: undefined };
  const serverAddress = key;
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
    return { ok: true, value: { kind: "token", identityToken: entry.identitytoken, serverAddress } };
  }
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) {
      return {
        ok: false,
        error: permanent(`the "auth" of ${JSON.stringify(key)} in ${path} is not base64 of "user:password": run docker login ${key} again.`),
      };
    }
    return { ok: true, value: { kind: "basic", username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serverAddress } };
  }
  if (typeof entry.username === "string" && entry.username !== "" && typeof entry.password === "string") {
    return { ok: true, value: { kind: "basic", username: entry.username, password: entry.password, serverAddress } };
  }
  return { ok: true, value: undefined };
}

async function fromHelper(name: unknown, serverAddress: string, path: string, runHelper: RunHelper): Promise<Found> {
  // The name becomes part of a program name: a path would run any binary the config points at.
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    return {
      ok: false,
      error: permanent(`the credential helper named for ${serverAddress} in ${path} is not a valid helper name: expected e.g. "desktop" or "ecr-login".`),
    };
  }
  const program = `docker-credential-${name}`;
  const run = await runHelper(program, ["get"], serverAddress);
  return parseHelperRun(run, program, serverAddress);
}

/** Pure: the helper's answer → credentials. Its stdout is never quoted: it may hold the secret. */
export function parseHelperRun(run: HelperRun, program: string, serverAddress: string): Found {
  const fail = (why: string, retryable = false): Found => ({
    ok: false,
    error: {
      message: `credential helper ${program} failed for ${serverAddress}: ${why}; check that it is installed and works (${program} get), or remove it from the Docker config.`,
      retryable,
    },
  });
  if (run.failure === "ENOENT") return fail(`it is not on PATH`);
  // A run cancelled, or a helper that timed out, may answer next time: not kept for the run.
  if (run.failure === "aborted") return fail(`it was stopped because the run was cancelled`, true);
  if (run.failure === "timeout") return fail(HELPER_TIMEOUT_WORDS, true);
  if (run.failure === "output-limit")
    return fail(`its output is not the expected JSON {"ServerURL","Username","Secret"}: it wrote more than ${HELPER_OUTPUT_LIMIT / (1024 * 1024)} MiB`);
  if (run.failure !== undefined) return fail(`it could not be run (${run.failure})`);
  // Like the CLI, a helper that knows nothing for this registry (or gives up) means anonymous pulls.
  if (run.exitCode !== 0) return { ok: true, value: undefined };
  let answer: unknown;
  try {
    answer = JSON.parse(run.stdout);
  } catch {
    return fail(`its output is not the expected JSON {"ServerURL","Username","Secret"}`);
  }
  if (!isRecord(answer)) return fail(`its output is not the expected JSON {"ServerURL","Username","Secret"}`);
  const username = typeof answer.Username === "string" ? answer.Username : "";
  const secret = typeof answer.Secret === "string" ? answer.Secret : "";
  if (secret === "") return { ok: true, value: undefined };
  if (username === "<token>") return { ok: true, value: { kind: "token", identityToken: secret, serverAddress } };
  return { ok: true, value: { kind: "basic", username, password: secret, serverAddress } };
}

const HELPER_TIMEOUT_WORDS = "it did not answer in time";

/** The X-Registry-Auth value: padded base64url JSON, as the docker CLI sends it. Registered with the masker, in every base64 spelling. */
export function registryAuthHeader(auth: RegistryAuth): string {
  const body =
    auth.kind === "token"
      ? { identitytoken: auth.identityToken, serveraddress: auth.serverAddress }
      : { username: auth.username, password: auth.password, serveraddress: auth.serverAddress };
  const encoded = Buffer.from(JSON.stringify(body), "utf8").toString("base64url");
  // Go's base64.URLEncoding (the daemon's decoder) expects the padding Node leaves out.
  const header = encoded + "=".repeat((4 - (encoded.length % 4)) % 4);
  // Also here, not only in the store: a library caller may bring its own CredentialStore.
  registerCredentials(auth);
  secrets.addEncoded(header);
  return header;
}

/** After the helper exits, how long its output may take to drain before the pipe is let go. */
const DRAIN_AFTER_EXIT_MS = 200;

/** Helpers still running, killed (with their process groups) if the process exits first, e.g. on a second signal. */
const running = new Set<ChildProcess>();
const killRunning = () => {
  for (const child of running) killGroup(child);
};

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    // The helper leads its own process group (detached): this reaches whatever it started too.
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Default helper runner: spawn without a shell, PATH taken from the given environment. Bounded:
 * output (HELPER_OUTPUT_LIMIT), time (timeoutMs), the run's signal, and a child of the helper
 * that keeps stdout open is not waited for once the helper itself has exited.
 */
export function spawnHelper(env: NodeJS.ProcessEnv, timeoutMs: number, signal?: AbortSignal): RunHelper {
  return (program, args, input) =>
    new Promise<HelperRun>((resolve) => {
      if (signal?.aborted) return resolve({ exitCode: null, stdout: "", failure: "aborted" });
      const child = spawn(program, [...args], { env, stdio: ["pipe", "pipe", "ignore"], shell: false, detached: true });
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      let drainTimer: NodeJS.Timeout | undefined;
      running.add(child);
      if (running.size === 1) process.on("exit", killRunning);
      const finish = (run: HelperRun, kill: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(drainTimer);
        signal?.removeEventListener("abort", onAbort);
        if (kill) killGroup(child);
        running.delete(child);
        if (running.size === 0) process.off("exit", killRunning);
        // Let go of the pipe: a grandchild holding it open must not keep prepull alive.
        child.stdout?.destroy();
        resolve(run);
      };
      const onAbort = () => finish({ exitCode: null, stdout: "", failure: "aborted" }, true);
      const timer = setTimeout(() => finish({ exitCode: null, stdout: "", failure: "timeout" }, true), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      child.on("error", (error: NodeJS.ErrnoException) => finish({ exitCode: null, stdout: "", failure: error.code ?? "spawn error" }, false));
      child.stdout.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > HELPER_OUTPUT_LIMIT) return finish({ exitCode: null, stdout: "", failure: "output-limit" }, true);
        chunks.push(chunk);
      });
      const answer = (code: number | null, signalName: NodeJS.Signals | null): HelperRun =>
        signalName ? { exitCode: null, stdout: "", failure: `killed by ${signalName}` } : { exitCode: code, stdout: Buffer.concat(chunks).toString("utf8") };
      // "close" waits for stdout to end, which a grandchild can hold open forever; "exit" does not,
      // so after exit the output gets a short moment to drain, then whatever arrived is the answer.
      child.on("close", (code, signalName) => finish(answer(code, signalName), false));
      child.on("exit", (code, signalName) => {
        drainTimer = setTimeout(() => finish(answer(code, signalName), false), DRAIN_AFTER_EXIT_MS);
      });
      // A helper that exits before reading stdin makes the write fail with EPIPE; its exit code tells the story.
      child.stdin.on("error", () => undefined);
      child.stdin.end(input);
    });
}

function permanent(message: string): CredentialError {
  return { message, retryable: false };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
