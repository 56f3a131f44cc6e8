// The Docker Engine API client: one HTTP request per pull attempt, over node:http on a unix socket
// or TCP (optionally TLS). It never retries by itself: retries belong to the scheduler, and a
// client that also retried would multiply attempts.
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { pipeline } from "node:stream/promises";
import type { Reference, Result } from "../types.js";
import { createCredentialStore, registryAuthHeader, type CredentialStore } from "./credentials.js";
import { describeSource, resolveEngine, type EngineSource, type EngineTls } from "./context.js";
import { redactUserinfo, type EngineAddress } from "./docker-host.js";
import type { AttemptOutcome, Engine, LoadOutcome, LoadRequest, PullProgress, PullRequest, SaveOutcome, SaveRequest } from "./engine.js";
import { applyLoadLine, loadOutcome, newLoadState } from "./archive-stream.js";
import { describeFields, enginePlatform, formatPlatform, parsePlatform, platformMatches, type Platform } from "./platform.js";
import { foreign } from "../report/limits.js";
import { applyLine, failPull, initialPullState, LineSplitter, newPullState, pullPhase, suspectLayer, type PullState } from "./pull-stream.js";

/** The newest API version this client was written against; newer servers are spoken to in it. */
export const NEWEST_API_VERSION = "1.45";
/** Docker 1.12: older engines lack the pull stream fields prepull relies on. */
export const OLDEST_API_VERSION = "1.24";
const DEFAULT_TIMEOUT_MS = 15_000;
/** Error bodies are one JSON message; more than this is not the daemon talking. */
const ERROR_BODY_LIMIT = 64 * 1024;
const INSPECT_BODY_LIMIT = 1024 * 1024;

export interface EngineUnreachable {
  /** "unreachable": nothing answered; "unsupported": too old; "protocol": not a Docker engine; "config": bad DOCKER_* settings. */
  readonly reason: "unreachable" | "unsupported" | "protocol" | "config";
  /** The engine address as the user would write it in DOCKER_HOST. */
  readonly address: string;
  readonly message: string;
}

export interface EngineInfo {
  readonly address: string;
  /** The API version every request uses (the /v<version>/ prefix). */
  readonly apiVersion: string;
  /** The newest API version the server speaks (newer than apiVersion for requests that need it, like a platform-specific save). */
  readonly serverApiVersion?: string;
  readonly serverVersion?: string;
  readonly os?: string;
  readonly arch?: string;
}

export interface ImageInspect {
  readonly id: string;
  readonly repoDigests: readonly string[];
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
}

export interface DockerEngine extends Engine {
  readonly info: EngineInfo;
  /** The local image, or undefined when the engine does not have it (404). */
  inspectImage(reference: Reference, signal?: AbortSignal): Promise<Result<ImageInspect | undefined, string>>;
  tag(source: string, target: Reference, signal?: AbortSignal): Promise<Result<void, string>>;
  removeImage(name: string, signal?: AbortSignal): Promise<Result<void, string>>;
}

export interface ConnectOptions {
  /** DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_CONTEXT, DOCKER_CONFIG. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** A docker context by name (the CLI's --context): beats DOCKER_HOST and DOCKER_CONTEXT. */
  readonly context?: string;
  readonly signal?: AbortSignal;
  /** Registry credentials; default: the docker CLI's config.json and credential helpers. */
  readonly credentials?: CredentialStore;
  /** Limit for the short requests (/version, image inspect); pulls are bounded by their signal. Default 15 s. */
  readonly timeoutMs?: number;
  readonly homedir?: string;
}

/** Where and how to send requests; fixed once connected. */
interface Transport {
  readonly address: EngineAddress;
  readonly tls?: EngineTls;
  readonly agent: http.Agent;
  readonly timeoutMs: number;
}

/** Why a request got no complete answer. */
interface RequestFailure {
  readonly kind: "unreachable" | "lost" | "aborted";
  readonly message: string;
  readonly cause: NodeJS.ErrnoException;
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly truncated: boolean;
}

export async function connectEngine(options: ConnectOptions = {}): Promise<Result<DockerEngine, EngineUnreachable>> {
  const env = options.env ?? process.env;
  const resolved = await resolveEngine({
    env,
    ...(options.context ? { context: options.context } : {}),
    ...(options.homedir ? { homedir: options.homedir } : {}),
  });
  // A DOCKER_HOST may carry a password: the address in any message is shown without it.
  if (!resolved.ok) return refuse("config", redactUserinfo(resolved.error.address), resolved.error.message);
  const { address, tls, source } = resolved.value;
  // keepAlive off: one request per attempt, and no idle socket keeps a finished CLI alive.
  const agent = tls ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
  const transport: Transport = { address, agent, timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, ...(tls ? { tls } : {}) };
  const version = await request(transport, "GET", "/version", { signal: options.signal, limit: ERROR_BODY_LIMIT });
  // Exit 3 names where the address came from: a stale context is as likely as a stopped daemon.
  if (!version.ok)
    return refuse(
      "unreachable",
      address.url,
      version.error.kind === "aborted" ? version.error.message : unreachableMessage(address.url, version.error.cause, source),
    );
  const negotiated = negotiate(version.value, address.url);
  if (!negotiated.ok) return negotiated;
  const credentials =
    options.credentials ??
    createCredentialStore({ env, ...(options.homedir ? { homedir: options.homedir } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  return { ok: true, value: createDockerEngine(transport, negotiated.value, credentials) };
}

function refuse(reason: EngineUnreachable["reason"], address: string, message: string): { ok: false; error: EngineUnreachable } {
  return { ok: false, error: { reason, address, message } };
}

/** Pure: the /version answer → the API version to speak, min(server, ours), refusing ancient engines. */
export function negotiate(answer: Answer, address: string): Result<EngineInfo, EngineUnreachable> {
  if (answer.status !== 200) {
    return refuse(
      "protocol",
      address,
      `the server at ${address} answered GET /version with HTTP ${answer.status}, so it is not a Docker engine: check DOCKER_HOST.`,
    );
  }
  const body = parseJsonObject(answer.body);
  const parsed = typeof body?.ApiVersion === "string" ? parseApiVersion(body.ApiVersion) : undefined;
  // Rebuilt from its numbers: the version goes into every request path, where a stray space or
  // character would make Node refuse the request.
  const serverApi = parsed ? `${parsed[0]}.${parsed[1]}` : undefined;
  if (!serverApi) {
    return refuse(
      "protocol",
      address,
      `the server at ${address} answered GET /version without an API version, so it is not a Docker engine: check DOCKER_HOST.`,
    );
  }
  if (compareApiVersions(serverApi, OLDEST_API_VERSION) < 0) {
    return refuse(
      "unsupported",
      address,
      `the Docker engine at ${address} speaks API ${serverApi}, older than the ${OLDEST_API_VERSION} (Docker 1.12) prepull needs: upgrade Docker.`,
    );
  }
  const apiVersion = compareApiVersions(serverApi, NEWEST_API_VERSION) < 0 ? serverApi : NEWEST_API_VERSION;
  const text = (key: string) => (typeof body?.[key] === "string" ? (body[key] as string) : undefined);
  return {
    ok: true,
    value: { address, apiVersion, serverApiVersion: serverApi, serverVersion: text("Version"), os: text("Os"), arch: text("Arch") },
  };
}

function parseApiVersion(version: string): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)$/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/** Numeric, so "1.9" < "1.24". Unparseable versions sort first. */
export function compareApiVersions(a: string, b: string): number {
  const [am, an] = parseApiVersion(a) ?? [0, 0];
  const [bm, bn] = parseApiVersion(b) ?? [0, 0];
  return am !== bm ? am - bm : an - bn;
}

function createDockerEngine(transport: Transport, info: EngineInfo, credentials: CredentialStore): DockerEngine {
  const prefix = `/v${info.apiVersion}`;
  const inspectImage = (reference: Reference, signal?: AbortSignal) => inspect(transport, prefix, reference, signal);
  const own = enginePlatform(info);
  return {
    info,
    inspectImage,
    async pull(pullRequest) {
      const streamed = await pull(transport, prefix, credentials, pullRequest);
      if (!streamed.ok) return streamed;
      const found = await inspectImage(pullRequest.reference, pullRequest.signal);
      if (pullRequest.signal.aborted) return abortedOutcome(initialPullState, true);
      const asked = requested(pullRequest);
      return confirmPull(streamed, found, asked ?? own, pullRequest.reference, asked !== undefined);
    },
    async hasImage(reference, signal, platform) {
      const found = await inspectImage(reference, signal);
      // The Engine contract is a plain boolean; an engine that cannot answer is not "absent".
      if (!found.ok) throw new Error(found.error);
      const asked = platform ?? requested({ reference });
      const want = asked ?? own;
      return found.value !== undefined && (want === undefined || !knowsPlatform(found.value) || platformMatches(found.value, want, asked !== undefined));
    },
    async repoDigests(reference, signal) {
      const found = await inspectImage(reference, signal);
      if (!found.ok) throw new Error(found.error);
      return found.value?.repoDigests;
    },
    async removeImage(name, signal) {
      const answer = await request(transport, "DELETE", `${prefix}/images/${encodePath(name)}?noprune=1`, { signal, limit: INSPECT_BODY_LIMIT });
      if (!answer.ok) return { ok: false, error: `cannot remove the name ${name}: ${answer.error.message}` };
      const { status, body } = answer.value;
      if (status === 200) return { ok: true, value: undefined };
      return {
        ok: false,
        error: `the engine answered HTTP ${status} when asked to remove the name ${name}: ${foreign(String(parseJsonObject(body)?.message ?? body).trim(), 500) || "no message"}`,
      };
    },
    ...(info.os && info.arch ? { platform: { os: info.os, architecture: info.arch } } : {}),
    async registryConfig(signal) {
      const answer = await request(transport, "GET", `${prefix}/info`, { signal, limit: INSPECT_BODY_LIMIT });
      if (!answer.ok || answer.value.status !== 200 || answer.value.truncated) return undefined;
      return registryConfigOf(parseJsonObject(answer.value.body));
    },
    saveImage: (save) => saveImage(transport, info, save),
    loadArchive: (load) => loadArchive(transport, prefix, load),
    tag: (source, target, signal) => tagImage(transport, prefix, source, target, signal),
  };
}

/** Pure: GET /info's RegistryConfig → the insecure registries (CIDRs and names) and the mirrors. */
export function registryConfigOf(info: Record<string, unknown> | undefined): { insecure: string[]; mirrors: string[] } | undefined {
  const config = info?.RegistryConfig;
  if (typeof config !== "object" || config === null) return undefined;
  const { InsecureRegistryCIDRs: cidrs, IndexConfigs: indexes, Mirrors: mirrors } = config as Record<string, unknown>;
  const strings = (value: unknown) => (Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []);
  const insecureNames =
    typeof indexes === "object" && indexes !== null
      ? Object.entries(indexes as Record<string, unknown>)
          .filter(([, entry]) => typeof entry === "object" && entry !== null && (entry as Record<string, unknown>).Secure === false)
          .map(([name]) => name)
      : [];
  return { insecure: [...strings(cidrs), ...insecureNames], mirrors: strings(mirrors) };
}

/** The platform asked for: the request's, else the reference's (validated when it was read, so a bad one is ignored here). */
function requested(req: { readonly platform?: Platform; readonly reference: Reference }): Platform | undefined {
  if (req.platform) return req.platform;
  if (!req.reference.platform) return undefined;
  const parsed = parsePlatform(req.reference.platform);
  return parsed.ok ? parsed.value : undefined;
}

/** An engine that leaves Os/Architecture out of its image description cannot be held to a platform. */
function knowsPlatform(image: ImageInspect): boolean {
  return describeFields(image) !== undefined;
}

/**
 * Pure: the success contract. A clean stream is only evidence; the attempt succeeded when the
 * engine then shows the image, and (when the engine describes it) for the wanted platform.
 */
export function confirmPull(
  streamed: Extract<AttemptOutcome, { ok: true }>,
  found: Result<ImageInspect | undefined, string>,
  want: Platform | undefined,
  reference: Reference,
  /** False for the engine's own platform, which has no variant to hold an image to. */
  checkVariant = true,
): AttemptOutcome {
  const failure = (message: string): AttemptOutcome => ({ ok: false, kind: "engine", httpStatus: 200, message, bytes: streamed.bytes, answered: true });
  if (!found.ok)
    return failure(`the engine ended the pull stream of ${reference.canonical} without an error, but then could not show the image: ${found.error}`);
  const image = found.value;
  if (image === undefined) {
    return failure(
      `the engine ended the pull stream of ${reference.canonical} without an error, but does not have the image afterwards: the pull did not complete, retry it.`,
    );
  }
  const have = describeFields(image);
  if (want !== undefined && have !== undefined && !platformMatches(image, want, checkVariant)) {
    return failure(`${PLATFORM_MISMATCH} ${formatPlatform(want)}: the engine pulled ${reference.canonical} but has it for ${have}`);
  }
  const digest = streamed.digest ?? soleRepoDigest(image, reference);
  return { ok: true, bytes: streamed.bytes, upToDate: streamed.upToDate, ...(digest ? { digest } : {}), ...(have ? { platform: have } : {}) };
}

/** The start of the message a platform mismatch after a pull carries; classify.ts anchors on it. */
export const PLATFORM_MISMATCH = "no matching image for";

/** podman streams no "Digest:" line; the image's repo digest for this repository stands in, when there is exactly one. */
function soleRepoDigest(image: ImageInspect, reference: Reference): string | undefined {
  const name = `${reference.registry}/${reference.repository}@`;
  const mine = image.repoDigests.filter((d) => d.startsWith(name) || d.startsWith(`${reference.repository}@`));
  return mine.length === 1 ? mine[0]?.slice(mine[0].indexOf("@") + 1) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Pull

async function pull(transport: Transport, prefix: string, credentials: CredentialStore, req: PullRequest): Promise<AttemptOutcome> {
  if (req.signal.aborted) return abortedOutcome(initialPullState, false);
  const { reference } = req;
  // A slow credential helper must not hold up a cancelled attempt: the lookup goes on (it is shared
  // by every image of the registry), the attempt ends now.
  const auth = await untilAborted(credentials.forRegistry(reference.registry), req.signal);
  if (auth === undefined || req.signal.aborted) return abortedOutcome(initialPullState, false);
  if (!auth.ok)
    return { ok: false, kind: "credentials", message: `cannot pull ${reference.canonical}: ${auth.error.message}`, retryable: auth.error.retryable };
  const headers: Record<string, string> = auth.value ? { "X-Registry-Auth": registryAuthHeader(auth.value) } : {};
  return streamPull(transport, `${prefix}/images/create?${pullQuery(reference, requested(req))}`, headers, req);
}

/** The promise's value, or undefined as soon as the signal aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Pure: by digest when there is one (the daemon takes a digest in the tag parameter). */
export function pullQuery(reference: Reference, platform?: Platform): string {
  const params = new URLSearchParams({ fromImage: `${reference.registry}/${reference.repository}`, tag: reference.digest ?? reference.tag ?? "latest" });
  if (platform) params.set("platform", formatPlatform(platform));
  return params.toString();
}

function streamPull(transport: Transport, path: string, headers: Record<string, string>, req: PullRequest): Promise<AttemptOutcome> {
  return new Promise<AttemptOutcome>((resolve, reject) => {
    const opened = open(transport, "POST", path, headers);
    let state: PullState = initialPullState;
    let answered = false;
    let done = false;
    const finish = (outcome: AttemptOutcome | Error) => {
      if (done) return;
      done = true;
      req.signal.removeEventListener("abort", onAbort);
      opened.request.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onAbort = () => finish(abortedOutcome(state, answered));
    // A throwing callback is a bug in the caller: surface it instead of crashing inside a socket handler.
    const guarded = (callback: () => void) => {
      try {
        callback();
      } catch (error) {
        finish(error instanceof Error ? error : new Error(String(error)));
      }
    };
    const failed = (error: NodeJS.ErrnoException) => {
      if (req.signal.aborted) return finish(abortedOutcome(state, answered));
      if (!opened.connected()) return finish({ ok: false, kind: "unreachable", message: unreachableMessage(transport.address.url, error) });
      finish(lostOutcome(transport, req.reference, state, answered, error));
    };
    req.signal.addEventListener("abort", onAbort, { once: true });
    opened.request.on("error", failed);
    opened.request.on("response", (res) => {
      if (res.statusCode !== 200) {
        readBody(res, ERROR_BODY_LIMIT).then(
          ({ text }) => finish(engineError(res.statusCode ?? 0, text, req.reference)),
          (error: NodeJS.ErrnoException) => failed(error),
        );
        return;
      }
      state = newPullState();
      const stopWith = (reason: string) => finish(streamOutcome(failPull(state, reason)));
      followLines(res, {
        line: (line) => {
          if (done) return;
          const before = state.lines;
          applyLine(state, line);
          // prepull's own limits (too many layers) end the attempt now; the daemon's error line waits for the stream's end.
          if (state.stopped !== undefined) return stopWith(state.stopped);
          if (state.lines === before) return;
          // The first progress line, not the 200: podman answers 200 before it asks the registry.
          if (!answered) {
            answered = true;
            guarded(() => req.onAnswer?.());
          }
          guarded(() => req.onProgress?.(progressOf(state)));
        },
        tooLong: stopWith,
        end: () => finish(streamOutcome(state)),
        fail: failed,
      });
    });
    opened.request.end();
  });
}

/**
 * Feeds a JSON-lines body to `line`, whole lines only, whatever the chunk boundaries. A line longer
 * than the splitter's cap ends the stream through `tooLong`. Every line costs O(1) and chunks come
 * from separate socket reads, so signals and timers keep running however busy the stream is.
 */
function followLines(
  res: http.IncomingMessage,
  on: { line: (line: string) => void; tooLong: (reason: string) => void; end: () => void; fail: (error: NodeJS.ErrnoException) => void },
) {
  const splitter = new LineSplitter();
  res.on("data", (chunk: Buffer) => {
    const split = splitter.push(chunk);
    if (!split.ok) return on.tooLong(split.error);
    split.lines.forEach(on.line);
  });
  res.on("end", () => {
    splitter.end().forEach(on.line);
    on.end();
  });
  res.on("error", on.fail);
  // A daemon that dies mid-stream closes the socket without ending the chunked body.
  res.on("close", () => {
    if (!res.complete) on.fail(Object.assign(new Error("the connection closed before the pull stream ended"), { code: "ECONNRESET" }));
  });
}

function progressOf(state: PullState): PullProgress {
  return { status: state.lastStatus ?? "", id: state.lastId, bytes: state.bytes, total: state.total, phase: pullPhase(state) };
}

/**
 * Pure: how a complete 200 stream ended. An error line anywhere (or a limit of prepull's own)
 * fails the attempt. A clean end is a candidate success only: dockerd's final "Status: …" line is
 * evidence, podman sends none, and confirmPull() decides by asking the engine for the image.
 */
export function streamOutcome(state: PullState): AttemptOutcome {
  const error = state.stopped ?? state.error;
  if (error !== undefined) return { ok: false, kind: "engine", httpStatus: 200, message: error, bytes: state.bytes, answered: true };
  return { ok: true, ...(state.digest ? { digest: state.digest } : {}), bytes: state.bytes, upToDate: state.upToDate };
}

function abortedOutcome(state: PullState, answered: boolean): AttemptOutcome {
  return { ok: false, kind: "aborted", bytes: state.bytes, answered, lastLayer: suspectLayer(state), lastStatus: state.lastStatus };
}

function lostOutcome(transport: Transport, reference: Reference, state: PullState, answered: boolean, error: NodeJS.ErrnoException): AttemptOutcome {
  const when = answered ? `after ${state.bytes} bytes` : "before it answered";
  return {
    ok: false,
    kind: "lost",
    message: `engine connection lost: the Docker engine at ${transport.address.url} closed the connection during the pull of ${reference.canonical} ${when} (${describeError(error)}); is dockerd restarting?`,
    bytes: state.bytes,
    answered,
  };
}

/** Pure: an HTTP error answer → the engine's own message, which classification reads. */
export function engineError(status: number, body: Answer["body"], reference: Reference): AttemptOutcome {
  return { ok: false, kind: "engine", httpStatus: status, message: errorMessage(status, body, reference), bytes: 0, answered: false };
}

/** The engine's words, masked and bounded as they enter prepull. */
function errorMessage(status: number, body: string, reference: Reference): string {
  return errorText(status, body, reference.canonical);
}

function errorText(status: number, body: string, what = "the request"): string {
  const message = parseJsonObject(body)?.message;
  if (typeof message === "string" && message.trim() !== "") return foreign(message.trim());
  // Masked before the cut, so the cut cannot leave part of a secret behind.
  const text = foreign(body.trim(), 500);
  return text !== "" ? text : `the engine answered HTTP ${status} for ${what} without a message`;
}

// ---------------------------------------------------------------------------------------------
// Image inspect

async function inspect(transport: Transport, prefix: string, reference: Reference, signal?: AbortSignal): Promise<Result<ImageInspect | undefined, string>> {
  const answer = await request(transport, "GET", `${prefix}/images/${imagePath(reference)}/json`, { signal, limit: INSPECT_BODY_LIMIT });
  if (!answer.ok) return { ok: false, error: `cannot check whether the engine has ${reference.canonical}: ${answer.error.message}` };
  const { status, body, truncated } = answer.value;
  if (status === 404) return { ok: true, value: undefined };
  if (status !== 200)
    return { ok: false, error: `the engine answered HTTP ${status} when asked for ${reference.canonical}: ${errorMessage(status, body, reference)}` };
  const json = truncated ? undefined : parseJsonObject(body);
  if (!json || typeof json.Id !== "string") return { ok: false, error: `the engine's description of ${reference.canonical} is not the expected JSON` };
  return { ok: true, value: toImageInspect(json) };
}

function toImageInspect(json: Record<string, unknown>): ImageInspect {
  const text = (key: string) => (typeof json[key] === "string" && json[key] !== "" ? (json[key] as string) : undefined);
  const digests = Array.isArray(json.RepoDigests) ? json.RepoDigests.filter((d): d is string => typeof d === "string") : [];
  return { id: text("Id") ?? "", repoDigests: digests, architecture: text("Architecture"), os: text("Os"), variant: text("Variant") };
}

/** Pure: the name the engine files the image under; by digest when there is one. */
export function imagePath(reference: Reference): string {
  const name = `${reference.registry}/${reference.repository}`;
  return encodePath(reference.digest ? `${name}@${reference.digest}` : `${name}:${reference.tag ?? "latest"}`);
}

// ---------------------------------------------------------------------------------------------
// Image tag

async function tagImage(transport: Transport, prefix: string, source: string, target: Reference, signal?: AbortSignal): Promise<Result<void, string>> {
  const name = `${target.registry}/${target.repository}:${target.tag ?? "latest"}`;
  const answer = await request(transport, "POST", `${prefix}/images/${encodePath(source)}/tag?${tagQuery(target)}`, { signal, limit: ERROR_BODY_LIMIT });
  if (!answer.ok) return { ok: false, error: `cannot tag ${source} as ${name}: ${answer.error.message}` };
  const { status, body } = answer.value;
  // 201 Created is the documented answer; some engines (and API versions) say 200.
  if (status === 201 || status === 200) return { ok: true, value: undefined };
  return { ok: false, error: `the engine answered HTTP ${status} when asked to tag ${source} as ${name}: ${errorMessage(status, body, target)}` };
}

/** Pure: the tag request's query; the tag falls back to "latest" as docker tag's does. */
export function tagQuery(target: Reference): string {
  return new URLSearchParams({ repo: `${target.registry}/${target.repository}`, tag: target.tag ?? "latest" }).toString();
}

function encodePath(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}

// ---------------------------------------------------------------------------------------------
// Archives: GET /images/get (--save) and POST /images/load (--load). Both stream: an archive is
// never held in memory, and both are bounded in time by the caller's signal only.

/** The API version from which GET /images/get takes a platform. */
export const SAVE_PLATFORM_API_VERSION = "1.48";

/** Pure: the save path; with the platform only when the server speaks an API that accepts it. */
export function savePath(info: EngineInfo, references: readonly Reference[], platform: SaveRequest["platform"]): string {
  const params = new URLSearchParams();
  for (const reference of references) params.append("names", decodeURIComponent(imagePath(reference)));
  const withPlatform =
    platform !== undefined && info.serverApiVersion !== undefined && compareApiVersions(info.serverApiVersion, SAVE_PLATFORM_API_VERSION) >= 0;
  if (!withPlatform) return `/v${info.apiVersion}/images/get?${params.toString()}`;
  params.set("platform", JSON.stringify({ os: platform.os, architecture: platform.architecture, ...(platform.variant ? { variant: platform.variant } : {}) }));
  return `/v${SAVE_PLATFORM_API_VERSION}/images/get?${params.toString()}`;
}

function saveImage(transport: Transport, info: EngineInfo, save: SaveRequest): Promise<SaveOutcome> {
  const names = save.references.map((r) => r.canonical).join(", ");
  return exchange(transport, "GET", savePath(info, save.references, save.platform), {}, save.signal, names, async (res, fail) => {
    let bytes = 0;
    res.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
    });
    try {
      await pipeline(res, save.destination as NodeJS.WritableStream);
    } catch (error) {
      return fail(error as NodeJS.ErrnoException);
    }
    // The daemon ends a failed save by closing the connection mid-body; a complete body is all we can tell here (the tar check does the rest).
    if (!res.complete) return { ok: false, message: `the engine's archive of ${names} was cut off after ${bytes} bytes` };
    return { ok: true, bytes };
  });
}

function loadArchive(transport: Transport, prefix: string, load: LoadRequest): Promise<LoadOutcome> {
  return exchange(
    transport,
    "POST",
    `${prefix}/images/load?quiet=0`,
    { "Content-Type": "application/x-tar" },
    load.signal,
    "the archive",
    (res) => {
      const state = newLoadState();
      return new Promise<LoadOutcome>((resolve) => {
        followLines(res, {
          line: (line) => applyLoadLine(state, line),
          tooLong: (reason) => resolve({ ok: false, message: reason }),
          end: () => resolve(loadOutcome(state, true)),
          fail: () => resolve(loadOutcome(state, false)),
        });
      });
    },
    load.source,
  );
}

/**
 * One streaming request: `body` (if any) is piped into it, a non-200 answer becomes the engine's
 * message, a 200 answer goes to `onOk`. Never rejects: an engine that cannot be reached, a lost
 * connection or the signal end it with a message.
 */
function exchange<T extends { ok: boolean }>(
  transport: Transport,
  method: string,
  path: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  what: string,
  onOk: (res: http.IncomingMessage, fail: (error: NodeJS.ErrnoException) => { ok: false; message: string }) => Promise<T | { ok: false; message: string }>,
  body?: NodeJS.ReadableStream,
): Promise<T | { ok: false; message: string }> {
  type Out = T | { ok: false; message: string };
  return new Promise<Out>((resolve) => {
    if (signal.aborted) return resolve({ ok: false, message: `cancelled before the engine was asked about ${what}` });
    const opened = open(transport, method, path, headers);
    let done = false;
    const finish = (outcome: Out) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      opened.request.destroy();
      resolve(outcome);
    };
    const failure = (error: NodeJS.ErrnoException): { ok: false; message: string } => {
      if (signal.aborted) return { ok: false, message: `cancelled or timed out while the engine worked on ${what}` };
      if (!opened.connected()) return { ok: false, message: unreachableMessage(transport.address.url, error) };
      return {
        ok: false,
        message: `the connection to the Docker engine at ${transport.address.url} broke while it worked on ${what} (${describeError(error)})`,
      };
    };
    const onAbort = () => finish(failure(new Error("aborted")));
    signal.addEventListener("abort", onAbort, { once: true });
    opened.request.on("error", (error: NodeJS.ErrnoException) => finish(failure(error)));
    opened.request.on("response", (res) => {
      if (res.statusCode !== 200) {
        readBody(res, ERROR_BODY_LIMIT).then(
          ({ text }) => finish({ ok: false, message: `the engine answered HTTP ${res.statusCode ?? 0}: ${errorText(res.statusCode ?? 0, text)}` }),
          (error: NodeJS.ErrnoException) => finish(failure(error)),
        );
        return;
      }
      onOk(res, failure).then(finish, (error: unknown) => finish(failure(error as NodeJS.ErrnoException)));
    });
    if (body) {
      // The engine may answer (an error) before it read the whole body: a broken pipe then is not the failure to report.
      pipeline(body, opened.request).catch(() => undefined);
    } else {
      opened.request.end();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing

interface Opened {
  readonly request: http.ClientRequest;
  /** True once the socket (and TLS) connected: errors before that mean the engine is unreachable. */
  readonly connected: () => boolean;
}

function open(transport: Transport, method: string, path: string, headers: Record<string, string>): Opened {
  const { address, tls, agent } = transport;
  const common = { method, path, headers: { ...headers, Accept: "application/json" }, agent };
  const request =
    address.kind === "unix"
      ? http.request({ ...common, socketPath: address.socketPath })
      : tls
        ? https.request({
            ...common,
            host: address.host,
            port: address.port,
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            rejectUnauthorized: tls.rejectUnauthorized,
          })
        : http.request({ ...common, host: address.host, port: address.port });
  let connected = false;
  request.on("socket", (socket: Socket) => {
    socket.once(tls ? "secureConnect" : "connect", () => {
      connected = true;
    });
  });
  return { request, connected: () => connected };
}

/** A short request with a bounded body, bounded in time by transport.timeoutMs. */
function request(
  transport: Transport,
  method: string,
  path: string,
  options: { signal?: AbortSignal | undefined; limit: number },
): Promise<Result<Answer, RequestFailure>> {
  return new Promise((resolve) => {
    const { signal } = options;
    const cancelled = (): Result<Answer, RequestFailure> => {
      const message = `the request to ${transport.address.url} was cancelled`;
      return { ok: false, error: { kind: "aborted", message, cause: new Error(message) } };
    };
    if (signal?.aborted) return resolve(cancelled());
    const opened = open(transport, method, path, {});
    let done = false;
    const finish = (result: Result<Answer, RequestFailure>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      opened.request.destroy();
      resolve(result);
    };
    const onAbort = () => finish(cancelled());
    const failed = (error: NodeJS.ErrnoException) => {
      const kind = opened.connected() ? "lost" : "unreachable";
      finish({ ok: false, error: { kind, message: unreachableMessage(transport.address.url, error), cause: error } });
    };
    const timer = setTimeout(() => failed(Object.assign(new Error(`no answer within ${transport.timeoutMs} ms`), { code: "ETIMEDOUT" })), transport.timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    opened.request.on("error", failed);
    opened.request.on("response", (res) => {
      readBody(res, options.limit).then(({ text, truncated }) => finish({ ok: true, value: { status: res.statusCode ?? 0, body: text, truncated } }), failed);
    });
    opened.request.end();
  });
}

/** Reads at most `limit` bytes; the rest is dropped with the connection. */
function readBody(res: http.IncomingMessage, limit: number): Promise<{ text: string; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        res.destroy();
        resolve({ text: Buffer.concat(chunks).subarray(0, limit).toString("utf8"), truncated: true });
      }
    });
    res.on("end", () => resolve({ text: Buffer.concat(chunks).toString("utf8"), truncated: false }));
    res.on("error", reject);
    res.on("close", () => {
      if (!res.complete && size <= limit) reject(Object.assign(new Error("the connection closed before the answer ended"), { code: "ECONNRESET" }));
    });
  });
}

/**
 * Names the address and says what to check; never includes request headers (X-Registry-Auth).
 * With a source, it also says where the address came from (DOCKER_HOST, a docker context, the default).
 */
export function unreachableMessage(address: string, error: NodeJS.ErrnoException, source?: EngineSource): string {
  const detail = describeError(error);
  const code = error.code ?? "";
  const where =
    source === undefined || source.kind === "DOCKER_HOST"
      ? "DOCKER_HOST"
      : source.kind === "context"
        ? `docker context ${JSON.stringify(source.name)} (docker context inspect ${source.name})`
        : "DOCKER_HOST (unset, so the default socket was used)";
  const hint =
    code === "EACCES" || code === "EPERM"
      ? `permission denied: run as a user allowed to use the Docker socket (the docker group), or check ${where}.`
      : /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|ERR_OSSL)/.test(code)
        ? `the TLS connection failed: check ${source?.kind === "context" ? where : "DOCKER_CERT_PATH, DOCKER_TLS_VERIFY and DOCKER_HOST"}.`
        : `is dockerd running? Check ${where}.`;
  const origin = source === undefined ? "" : `, ${describeSource(source)}`;
  return `engine unreachable: cannot connect to the Docker engine at ${address}${origin} (${detail}): ${hint}`;
}

function describeError(error: NodeJS.ErrnoException): string {
  // Node reports a chunked body cut off by a dying peer as just "aborted".
  if (error.message === "aborted") return "the stream was cut off";
  return error.message || error.code || "unknown error";
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
