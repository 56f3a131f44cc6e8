// The whole test bench: an isolated dockerd, a real registry with the fault proxy in front of it,
// and optionally an htpasswd-protected registry with its own proxy. Everything it starts, stop()
// stops, also when a test failed half-way.
import { randomBytes } from "node:crypto";
import { startDockerd } from "./dockerd.js";
import type { Dockerd, StartDockerdOptions } from "./dockerd.js";
import { startFaultProxy } from "./fault-proxy.js";
import { startPodman } from "./podman.js";
import type { FaultProxy } from "./fault-proxy.js";
import { pushImage, pushPlatformList } from "./images.js";
import type { PushImageOptions, PushPlatformListOptions, PushedImage, PushedPlatformList } from "./images.js";
import { startRegistry } from "./registry.js";
import type { Credentials, Registry } from "./registry.js";
import { startTokenIssuer } from "./token-issuer.js";
import type { TokenIssuer } from "./token-issuer.js";

/** One registry and the fault proxy in front of it. */
export interface Endpoint {
  readonly registry: Registry;
  readonly proxy: FaultProxy;
  /** The proxy's "127.0.0.1:PORT": what image references use, so pulls go through the faults. */
  readonly host: string;
  /** Pushes directly to the registry (not through the proxy); `reference` points at the proxy. */
  pushImage(repository: string, tag: string, options?: PushImageOptions): Promise<PushedImage>;
  pushPlatformList(repository: string, tag: string, architectures: readonly string[], options?: PushPlatformListOptions): Promise<PushedPlatformList>;
  /** "<proxy host>/<repository>:<tag>" */
  ref(repository: string, tag?: string): string;
}

export interface AuthEndpoint extends Endpoint {
  readonly user: string;
  readonly password: string;
  /** The engine's X-Registry-Auth header value for these credentials on this proxy host. */
  readonly registryAuthHeader: string;
}

/** A registry with token auth (`auth: token`), its proxy, and the issuer its realm points at. */
export interface TokenEndpoint extends Endpoint {
  readonly issuer: TokenIssuer;
  readonly user: string;
  readonly password: string;
}

/**
 * A pull-through cache (a CNCF registry in proxy mode) in front of the stack's registry, with a
 * fault proxy on each side: `proxy` (what image references use: the engine and prepull talk to
 * it) and `upstreamProxy` (the cache's own way to the registry). An upstream outage is a fault
 * on both the stack's proxy and `upstreamProxy`.
 */
export interface CacheEndpoint {
  readonly registry: Registry;
  readonly proxy: FaultProxy;
  readonly upstreamProxy: FaultProxy;
  /** The front proxy's "127.0.0.1:PORT": the mirror's host. */
  readonly host: string;
}

export interface Stack extends Endpoint {
  /** The engine under test (dockerd, or podman when started with `engine: "podman"`). */
  readonly engine: Dockerd;
  /** Present when started with `mirrors`: a pull-through cache of the main registry. */
  readonly cache?: CacheEndpoint;
  /** Present when started with `mirrors`: a plain second registry, to seed by hand as a static mirror. */
  readonly staticMirror?: Endpoint;
  /** Present when started with `auth`. */
  readonly auth?: AuthEndpoint;
  /** Present when started with `tokenAuth`. */
  readonly token?: TokenEndpoint;
  /** A repository name unique to this stack and call: "<name>-<random hex>". */
  image(name: string): string;
  /** Stops everything (proxies, registries, engine). Idempotent; never throws for a half-started stack. */
  stop(): Promise<void>;
}

export interface StartStackOptions {
  /** Also start an htpasswd-protected registry with its own proxy; `true` uses generated credentials. */
  readonly auth?: boolean | Credentials;
  /**
   * Also start a registry with token auth, its proxy and a JWT issuer (anonymous pulls allowed for
   * repositories named "public-…"); its user is the `auth` user, or generated.
   */
  readonly tokenAuth?: boolean;
  /** Also start a pull-through cache of the main registry and a plain second registry (issue 11). */
  readonly mirrors?: boolean;
  /** Seed of the proxies' random (probability rules). */
  readonly seed?: number;
  readonly dockerd?: StartDockerdOptions;
  /** Which engine serves the Docker API: dockerd (default) or `podman system service`. */
  readonly engine?: "dockerd" | "podman";
}

/**
 * X-Registry-Auth for the Engine API: base64url of JSON {username, password, serveraddress}, WITH
 * "=" padding. dockerd 20.10 decodes it with Go's base64.URLEncoding, which requires the padding:
 * Node's unpadded "base64url" makes the daemon silently drop the credentials ("no basic auth
 * credentials") whenever the JSON length is not a multiple of 3.
 */
export function registryAuthHeader(credentials: Credentials, serverAddress: string): string {
  const json = JSON.stringify({ username: credentials.user, password: credentials.password, serveraddress: serverAddress });
  return Buffer.from(json).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

/** `authorizationFor` gives the seeding requests their Authorization (a token-auth registry's). */
function endpoint(registry: Registry, proxy: FaultProxy, authorizationFor?: (repository: string) => string): Endpoint {
  const rewrite = <T extends { reference: string; digestReference: string }>(pushed: T): T => ({
    ...pushed,
    reference: pushed.reference.replace(registry.host, proxy.host),
    digestReference: pushed.digestReference.replace(registry.host, proxy.host),
  });
  const auth = registry.auth;
  return {
    registry,
    proxy,
    host: proxy.host,
    pushImage: async (repository, tag, options = {}) => {
      const authorization = authorizationFor?.(repository);
      const pushed = await pushImage(registry.host, repository, tag, { ...(auth ? { auth } : {}), ...(authorization ? { authorization } : {}), ...options });
      return rewrite(pushed);
    },
    pushPlatformList: async (repository, tag, architectures, options = {}) => {
      const authorization = authorizationFor?.(repository);
      const pushed = await pushPlatformList(registry.host, repository, tag, architectures, {
        ...(auth ? { auth } : {}),
        ...(authorization ? { authorization } : {}),
        ...options,
      });
      return { ...rewrite(pushed), images: pushed.images.map(rewrite) };
    },
    ref: (repository, tag = "latest") => `${proxy.host}/${repository}:${tag}`,
  };
}

/** Starts dockerd, a registry and its fault proxy (and the auth pair if asked), all in parallel. */
export async function startStack(options: StartStackOptions = {}): Promise<Stack> {
  // Proxies stop first (that releases stalled engine connections), then the engine and registries.
  const proxyStoppers: (() => Promise<void>)[] = [];
  const otherStoppers: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> => {
    stopping ??= (async () => {
      const errors: unknown[] = [];
      for (const phase of [proxyStoppers, otherStoppers]) {
        const results = await Promise.allSettled(phase.map((stop) => stop()));
        for (const r of results) if (r.status === "rejected") errors.push(r.reason);
      }
      if (errors.length > 0) throw new AggregateError(errors, `stack stop: ${errors.length} error(s): ${errors.map(String).join("; ")}`);
    })();
    return stopping;
  };
  const started = <T extends { stop(): Promise<void> }>(thing: T, isProxy = false): T => {
    (isProxy ? proxyStoppers : otherStoppers).push(() => thing.stop());
    return thing;
  };

  const credentials: Credentials | undefined =
    options.auth === true ? { user: "prepull", password: `pw-${randomBytes(8).toString("hex")}` } : options.auth || undefined;

  try {
    const withProxy = async (registryOptions: Parameters<typeof startRegistry>[0], authorizationFor?: (repository: string) => string) => {
      const registry = started(await startRegistry(registryOptions));
      const proxy = started(await startFaultProxy({ target: registry.host, ...(options.seed !== undefined ? { seed: options.seed } : {}) }), true);
      return endpoint(registry, proxy, authorizationFor);
    };
    const withTokenAuth = async (): Promise<TokenEndpoint> => {
      const tokenCredentials = credentials ?? { user: "prepull", password: `pw-${randomBytes(8).toString("hex")}` };
      const issuer = started(await startTokenIssuer({ credentials: tokenCredentials }));
      const { realm, service, issuer: issuerName, rootCertBundle } = issuer;
      const pushToken = (repository: string) => `Bearer ${issuer.mint([{ type: "repository", name: repository, actions: ["pull", "push"] }])}`;
      const seeded = await withProxy({ token: { realm, service, issuer: issuerName, rootCertBundle } }, pushToken);
      return { ...seeded, issuer, user: tokenCredentials.user, password: tokenCredentials.password };
    };
    const seedOption = options.seed !== undefined ? { seed: options.seed } : {};
    const withCache = async (upstream: Endpoint): Promise<CacheEndpoint> => {
      const upstreamProxy = started(await startFaultProxy({ target: upstream.registry.host, ...seedOption }), true);
      const registry = started(await startRegistry({ proxyRemoteUrl: `http://${upstreamProxy.host}` }));
      const proxy = started(await startFaultProxy({ target: registry.host, ...seedOption }), true);
      return { registry, proxy, upstreamProxy, host: proxy.host };
    };
    const mainEndpoint = withProxy({});
    const mirrorParts = options.mirrors ? Promise.all([mainEndpoint.then(withCache), withProxy({})]) : Promise.resolve(undefined);
    // allSettled: if one part fails, the others have still registered their stop before we clean up.
    const results = await Promise.allSettled([
      (options.engine === "podman" ? startPodman() : startDockerd(options.dockerd)).then((engine) => started(engine)),
      mainEndpoint,
      credentials ? withProxy({ htpasswd: credentials }) : Promise.resolve(undefined),
      options.tokenAuth ? withTokenAuth() : Promise.resolve(undefined),
      mirrorParts,
    ] as const);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const [engine, main, authEndpoint, tokenEndpoint, mirrorEndpoints] = results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
      Dockerd,
      Endpoint,
      Endpoint | undefined,
      TokenEndpoint | undefined,
      [CacheEndpoint, Endpoint] | undefined,
    ];

    let counter = 0;
    return {
      ...main,
      engine,
      ...(authEndpoint && credentials
        ? {
            auth: {
              ...authEndpoint,
              user: credentials.user,
              password: credentials.password,
              registryAuthHeader: registryAuthHeader(credentials, authEndpoint.host),
            },
          }
        : {}),
      ...(tokenEndpoint ? { token: tokenEndpoint } : {}),
      ...(mirrorEndpoints ? { cache: mirrorEndpoints[0], staticMirror: mirrorEndpoints[1] } : {}),
      image: (name: string) => `${name.toLowerCase().replace(/[^a-z0-9._/-]/g, "-")}-${(++counter).toString(36)}${randomBytes(3).toString("hex")}`,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
}
