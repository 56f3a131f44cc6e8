// prepull's own registry client: ping, manifest HEAD (digest, media type, quota) and the
// platforms of an index, each answering with a typed result. It never retries on its own: the
// scheduler owns retries and gates, so attempts do not multiply.
import { hostKey, type CredentialStore, type RegistryAuth } from "../engine/credentials.js";
import type { Clock, Reference, Result } from "../types.js";
import { version } from "../version.js";
import { authorization, forgetToken, hasCachedToken } from "./auth.js";
import { authSchemeOf, parseChallenges, type AuthScheme } from "./challenge.js";
import { failureOf, unreachable } from "./interpret.js";
import { MANIFEST_ACCEPT, MANIFEST_MAX_BYTES, isDigest, isIndexMediaType, mediaTypeOf, platformsOfIndex, sha256Digest } from "./manifest.js";
import { envProxyResolver, type ProxyResolver } from "./proxy.js";
import { parseQuota, type Quota } from "./quota.js";
import type { ManifestResult, PingResult, PlatformsResult, RegistryFailure, Stage } from "./results.js";
import { TokenCache } from "./token.js";
import { createTransport, untilAborted, type HttpResponse, type Transport } from "./transport.js";
import { DEFAULT_CERTS_DIR, insecurePolicy, systemLookup, tlsMaterialFor, type Lookup } from "./trust.js";

/** What resolveManifest and platformsOf need of a reference; a parsed `Reference` fits. */
export type ManifestTarget = Pick<Reference, "registry" | "repository" | "tag" | "digest">;

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export interface ResolveOptions extends RequestOptions {
  /**
   * After a 404 HEAD (which has no body), GET the error body to tell "manifest unknown" from
   * "repository unknown". Default true; a probe that only needs "still missing" turns it off.
   */
  readonly explainNotFound?: boolean;
}

export interface RegistryClientOptions {
  /** Token expiry and `until` times are on this clock. */
  readonly clock: Clock;
  /** Credentials per registry (Docker config and helpers); absent means anonymous everywhere. */
  readonly credentials?: CredentialStore;
  /** The engine's insecure registries: CIDRs and host[:port] names. 127.0.0.0/8 is always included. */
  readonly insecure?: readonly string[];
  /** Default /etc/docker/certs.d. */
  readonly certsDir?: string;
  /** Where HTTP(S)_PROXY/NO_PROXY are read. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Overrides the proxy choice of `env`. */
  readonly proxyFor?: ProxyResolver;
  readonly lookup?: Lookup;
  /** Per exchange (a request and its redirects, body included). Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** Wall-clock now, to measure an HTTP-date Retry-After when the answer has no Date header. */
  readonly wallNow?: () => number;
}

export interface RegistryClient {
  /** GET /v2/: learns how the registry authenticates (kept for later 401s that omit the challenge). */
  ping(registry: string, options?: RequestOptions): Promise<PingResult>;
  /** HEAD of the manifest with all four media types; GET only when the HEAD names no digest. */
  resolveManifest(target: ManifestTarget, options?: ResolveOptions): Promise<ManifestResult>;
  /** The platforms of an index, by digest; answers are cached per registry and digest. */
  platformsOf(target: Pick<ManifestTarget, "registry" | "repository">, digest: string, options?: RequestOptions): Promise<PlatformsResult>;
  /** The quota headers of the latest answer from this registry that had them. */
  lastQuota(registry: string): Quota | undefined;
  /** Closes pooled connections. */
  close(): void;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
const ERROR_BODY_MAX_BYTES = 64 * 1024;

/** Docker Hub's API host: "docker.io" is the name, registry-1.docker.io answers the API. */
export function apiHost(registry: string): string {
  return hostKey(registry) === "docker.io" ? "registry-1.docker.io" : registry;
}

interface RegistryState {
  /** Learned from the ping (or a later 401 that had a challenge). */
  scheme?: AuthScheme;
  ping?: Promise<PingResult>;
  quota?: Quota;
}

interface Exchange {
  readonly response: HttpResponse;
  readonly credentialsSent: boolean;
}

/** Throws for bad options (naming them): a bad timeoutMs, insecure entry or proxy variable. */
export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const { clock } = options;
  if (options.timeoutMs !== undefined && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
    throw new Error(`registry client: timeoutMs must be a number of milliseconds > 0; got ${String(options.timeoutMs)}`);
  }
  const env = options.env ?? process.env;
  const wallNow = options.wallNow ?? Date.now;
  const insecure = insecurePolicy(options.insecure ?? [], options.lookup ?? systemLookup);
  const certsDir = options.certsDir ?? DEFAULT_CERTS_DIR;
  const tlsCache = new Map<string, ReturnType<typeof tlsMaterialFor>>();
  const transport: Transport = createTransport({
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    proxyFor: options.proxyFor ?? envProxyResolver(env),
    tlsFor: (host) => {
      let material = tlsCache.get(host);
      if (!material) {
        material = tlsMaterialFor(certsDir, host);
        tlsCache.set(host, material);
      }
      return material;
    },
    userAgent: `prepull/${version()}`,
  });
  const tokens = new TokenCache();
  const states = new Map<string, RegistryState>();
  const platformCache = new Map<string, Promise<PlatformsResult>>();

  const stateOf = (registry: string): RegistryState => {
    const key = hostKey(registry);
    let state = states.get(key);
    if (!state) {
      state = {};
      states.set(key, state);
    }
    return state;
  };
  const isHub = (registry: string) => hostKey(registry) === "docker.io";
  const context = (registry: string, stage: Stage, credentialsSent: boolean) => ({
    stage,
    isDockerHub: isHub(registry),
    credentialsSent,
    now: clock.now(),
    wallNow: wallNow(),
  });

  const urlFor = async (registry: string, path: string): Promise<URL> => {
    const host = apiHost(registry);
    const scheme = (await insecure.isInsecure(host)) ? "http" : "https";
    return new URL(`${scheme}://${host}${path}`);
  };

  const credentialsFor = async (registry: string): Promise<Result<RegistryAuth | undefined, RegistryFailure>> => {
    if (!options.credentials) return { ok: true, value: undefined };
    const found = await options.credentials.forRegistry(registry);
    return found.ok ? found : { ok: false, error: { kind: "credentials-error", message: found.error.message } };
  };

  /**
   * 2xx: no auth; 401: the challenge; 429, 408 and 5xx: failures. Any other answer (a proxy's 404
   * on /v2/) teaches nothing, and the manifest request's own 401 will: like the engine, the ping
   * is read for its headers, not trusted for its status.
   */
  const ping = async (registry: string, signal?: AbortSignal): Promise<PingResult> => {
    const sent = await transport.send({ method: "GET", url: await urlFor(registry, "/v2/"), maxBodyBytes: ERROR_BODY_MAX_BYTES }, signal);
    if (!sent.ok) return unreachable("ping", sent.cause);
    const { response } = sent;
    const state = stateOf(registry);
    if (response.status >= 200 && response.status <= 299) {
      state.scheme = { kind: "none" };
      return { kind: "ok", auth: "none" };
    }
    if (response.status === 401) {
      const scheme = authSchemeOf(parseChallenges(header(response, "www-authenticate")));
      // A 401 without a challenge we understand: try Basic, the only scheme that needs no realm.
      state.scheme = scheme ?? { kind: "basic" };
      return { kind: "ok", auth: state.scheme.kind };
    }
    const failure = failureOf(response, context(registry, "ping", false));
    if (failure.kind === "throttled" || failure.kind === "unavailable") return failure;
    state.scheme = { kind: "none" };
    return { kind: "ok", auth: "none" };
  };

  /** The scheme to use: the one learned before, else a ping (shared by parallel callers; failures are not kept). */
  const schemeFor = async (registry: string, signal?: AbortSignal): Promise<Result<AuthScheme, RegistryFailure>> => {
    const state = stateOf(registry);
    if (state.scheme) return { ok: true, value: state.scheme };
    // Shared by parallel callers, so it runs on its own timeout, not on the first caller's signal.
    state.ping ??= ping(registry).finally(() => {
      state.ping = undefined;
    });
    const pinged = await untilAborted(state.ping, signal);
    return pinged.kind === "ok" && state.scheme
      ? { ok: true, value: state.scheme }
      : { ok: false, error: pinged.kind === "ok" ? unreachable("ping", "no scheme learned") : pinged };
  };

  /**
   * One authenticated request. A 401 is tried once more only when that can change the answer: the
   * token was a cached one (revoked, or expired early), or the 401 named another scheme, realm or
   * scope. A 401 without a challenge keeps the one from the ping (gcr.io omits it on later requests).
   */
  const authorizedSend = async (
    registry: string,
    repository: string,
    request: { method: "GET" | "HEAD"; path: string; headers: Record<string, string>; maxBodyBytes: number },
    auth: RegistryAuth | undefined,
    signal?: AbortSignal,
  ): Promise<Result<Exchange, RegistryFailure>> => {
    const learned = await schemeFor(registry, signal);
    if (!learned.ok) return learned;
    let scheme = learned.value;
    const url = await urlFor(registry, request.path);
    const ownScope = `repository:${repository}:pull`;
    let scopes = [ownScope];
    const authContext = { transport, clock, tokens, wallNow, isDockerHub: isHub(registry), ...(signal ? { signal } : {}) };
    for (let attempt = 0; ; attempt++) {
      const reused = hasCachedToken(scheme, scopes, auth, tokens, clock.now());
      const authz = await authorization(scheme, scopes, auth, authContext);
      if (!authz.ok) return authz;
      const credentialsSent = auth !== undefined && authz.value !== undefined;
      const headers = authz.value === undefined ? request.headers : { ...request.headers, Authorization: authz.value };
      const sent = await transport.send({ method: request.method, url, headers, maxBodyBytes: request.maxBodyBytes }, signal);
      if (!sent.ok) return { ok: false, error: unreachable("manifest", sent.cause) };
      const { response } = sent;
      const answer: Result<Exchange, RegistryFailure> = { ok: true, value: { response, credentialsSent } };
      if (response.status !== 401 || attempt > 0) return answer;
      forgetToken(scheme, scopes, auth, tokens);
      const challenged = authSchemeOf(parseChallenges(header(response, "www-authenticate")));
      const wider = challenged?.kind === "bearer" && challenged.scope !== undefined && !scopes.includes(challenged.scope);
      const changed = challenged !== undefined && (!sameScheme(challenged, scheme) || wider);
      if (!reused && !changed) return answer;
      if (challenged) {
        scheme = challenged;
        stateOf(registry).scheme = challenged;
        if (wider && challenged.kind === "bearer" && challenged.scope) scopes = [ownScope, challenged.scope];
      }
    }
  };

  const recordQuota = (registry: string, response: HttpResponse): Quota | undefined => {
    const quota = parseQuota(response.headers);
    if (quota) stateOf(registry).quota = quota;
    return quota;
  };

  const resolveWith = async (target: ManifestTarget, auth: RegistryAuth | undefined, options: ResolveOptions): Promise<ManifestResult> => {
    const reference = target.digest ?? target.tag ?? "latest";
    const path = `/v2/${target.repository}/manifests/${reference}`;
    const headers = { Accept: MANIFEST_ACCEPT };
    const head = await authorizedSend(target.registry, target.repository, { method: "HEAD", path, headers, maxBodyBytes: 0 }, auth, options.signal);
    if (!head.ok) return head.error;
    const { response, credentialsSent } = head.value;
    const quota = recordQuota(target.registry, response);
    if (response.status === 404 && options.explainNotFound !== false) {
      // The HEAD has no body; the GET's error body tells manifest from repository.
      const get = await authorizedSend(
        target.registry,
        target.repository,
        { method: "GET", path, headers, maxBodyBytes: ERROR_BODY_MAX_BYTES },
        auth,
        options.signal,
      );
      if (get.ok && get.value.response.status === 404) return failureOf(get.value.response, context(target.registry, "manifest", credentialsSent));
    }
    if (response.status < 200 || response.status > 299) return failureOf(response, context(target.registry, "manifest", credentialsSent));
    const headDigest = header(response, "docker-content-digest");
    const headType = mediaTypeOf(header(response, "content-type"));
    const withQuota = quota ? { quota } : {};
    if (isDigest(headDigest)) return { kind: "ok", digest: headDigest, ...typed(headType), isIndex: isIndexMediaType(headType), ...withQuota, via: "head" };
    // A digest reference names its own digest; no need to download what we already know.
    if (isDigest(target.digest))
      return { kind: "ok", digest: target.digest, ...typed(headType), isIndex: isIndexMediaType(headType), ...withQuota, via: "head" };
    const get = await authorizedSend(
      target.registry,
      target.repository,
      { method: "GET", path, headers, maxBodyBytes: MANIFEST_MAX_BYTES },
      auth,
      options.signal,
    );
    if (!get.ok) return get.error;
    const body = get.value.response;
    const getQuota = recordQuota(target.registry, body) ?? quota;
    if (body.status < 200 || body.status > 299) return failureOf(body, context(target.registry, "manifest", get.value.credentialsSent));
    if (body.truncated) return { kind: "protocol-error", stage: "manifest", message: `the manifest of ${target.repository}:${reference} is larger than 4 MiB` };
    const mediaType = mediaTypeOf(header(body, "content-type"), body.body);
    const getDigest = header(body, "docker-content-digest");
    return {
      kind: "ok",
      digest: isDigest(getDigest) ? getDigest : sha256Digest(body.body),
      ...typed(mediaType),
      isIndex: isIndexMediaType(mediaType),
      ...(getQuota ? { quota: getQuota } : {}),
      via: "get",
    };
  };

  const platformsWith = async (target: Pick<ManifestTarget, "registry" | "repository">, digest: string, signal?: AbortSignal): Promise<PlatformsResult> => {
    const auth = await credentialsFor(target.registry);
    if (!auth.ok) return auth.error;
    const path = `/v2/${target.repository}/manifests/${digest}`;
    const get = await authorizedSend(
      target.registry,
      target.repository,
      { method: "GET", path, headers: { Accept: MANIFEST_ACCEPT }, maxBodyBytes: MANIFEST_MAX_BYTES },
      auth.value,
      signal,
    );
    if (!get.ok) return get.error;
    const { response, credentialsSent } = get.value;
    recordQuota(target.registry, response);
    if (response.status < 200 || response.status > 299) return failureOf(response, context(target.registry, "manifest", credentialsSent));
    if (response.truncated) return { kind: "protocol-error", stage: "manifest", message: `the manifest ${digest} is larger than 4 MiB` };
    if (digest.startsWith("sha256:") && sha256Digest(response.body) !== digest) {
      return { kind: "protocol-error", stage: "manifest", message: `the registry served content for ${digest} that does not hash to it` };
    }
    const mediaType = mediaTypeOf(header(response, "content-type"), response.body);
    if (!isIndexMediaType(mediaType)) return { kind: "ok", ...typed(mediaType) };
    const parsed = platformsOfIndex(response.body);
    if (!parsed.ok) return { kind: "protocol-error", stage: "manifest", message: `index ${digest}: ${parsed.error}` };
    return { kind: "ok", ...typed(mediaType), platforms: parsed.platforms };
  };

  return {
    ping: (registry, requestOptions = {}) => ping(registry, requestOptions.signal),
    async resolveManifest(target, resolveOptions = {}) {
      const auth = await credentialsFor(target.registry);
      if (!auth.ok) return auth.error;
      const result = await resolveWith(target, auth.value, resolveOptions);
      if (result.kind !== "denied" || !result.credentialsSent) return result;
      // Stale credentials make public images fail (GHCR): say so when anonymous access works.
      const anonymous = await resolveWith(target, undefined, { ...resolveOptions, explainNotFound: false });
      return { ...result, anonymousWorks: anonymous.kind === "ok" };
    },
    platformsOf(target, digest, requestOptions = {}) {
      const key = `${hostKey(target.registry)}/${digest}`;
      let cached = platformCache.get(key);
      if (!cached) {
        cached = platformsWith(target, digest, requestOptions.signal);
        platformCache.set(key, cached);
        // Only answers are kept: a failure (or an abort) is asked again next time.
        cached.then(
          (result) => {
            if (result.kind !== "ok") platformCache.delete(key);
          },
          () => platformCache.delete(key),
        );
      }
      return cached;
    },
    lastQuota: (registry) => stateOf(registry).quota,
    close: () => transport.close(),
  };
}

function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function sameScheme(a: AuthScheme, b: AuthScheme): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== "bearer" || b.kind !== "bearer" || (a.realm === b.realm && a.service === b.service);
}

function typed(mediaType: string | undefined): { mediaType?: string } {
  return mediaType === undefined ? {} : { mediaType };
}
