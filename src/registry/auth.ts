// The Authorization header for one request: nothing, Basic, or a Bearer token from the realm
// (cached per scope and credentials until it expires on the injected clock).
import type { RegistryAuth } from "../engine/credentials.js";
import type { Clock, Result } from "../types.js";
import type { AuthScheme, BearerChallenge } from "./challenge.js";
import { failureOf, unreachable } from "./interpret.js";
import type { RegistryFailure } from "./results.js";
import { TokenCache, basicAuthorization, identityOf, parseTokenResponse, tokenRequest } from "./token.js";
import { untilAborted, type Transport } from "./transport.js";

/** A token answer is a few KiB; anything near this is not a token. */
const TOKEN_MAX_BYTES = 256 * 1024;

export interface AuthContext {
  readonly transport: Transport;
  readonly clock: Clock;
  readonly tokens: TokenCache;
  readonly wallNow: () => number;
  readonly isDockerHub: boolean;
  readonly signal?: AbortSignal;
}

/** `undefined` value: send the request without Authorization. */
export async function authorization(
  scheme: AuthScheme,
  scopes: readonly string[],
  auth: RegistryAuth | undefined,
  ctx: AuthContext,
): Promise<Result<string | undefined, RegistryFailure>> {
  if (scheme.kind === "none") return { ok: true, value: undefined };
  if (scheme.kind === "basic") {
    // An identity token cannot answer a Basic challenge; the registry will say denied.
    return { ok: true, value: auth?.kind === "basic" ? basicAuthorization(auth.username, auth.password) : undefined };
  }
  const token = await bearerToken(scheme, scopes, auth, ctx);
  return token.ok ? { ok: true, value: `Bearer ${token.value}` } : token;
}

/** True when the next authorization() would reuse a cached token rather than ask the realm. */
export function hasCachedToken(scheme: AuthScheme, scopes: readonly string[], auth: RegistryAuth | undefined, tokens: TokenCache, now: number): boolean {
  return scheme.kind === "bearer" && tokens.get(TokenCache.key(scheme, scopes, identityOf(auth)), now) !== undefined;
}

/** Forgets the token so the next request asks the realm again (after a 401 despite a token). */
export function forgetToken(scheme: AuthScheme, scopes: readonly string[], auth: RegistryAuth | undefined, tokens: TokenCache): void {
  if (scheme.kind === "bearer") tokens.delete(TokenCache.key(scheme, scopes, identityOf(auth)));
}

async function bearerToken(
  challenge: BearerChallenge,
  scopes: readonly string[],
  auth: RegistryAuth | undefined,
  ctx: AuthContext,
): Promise<Result<string, RegistryFailure>> {
  const key = TokenCache.key(challenge, scopes, identityOf(auth));
  const cached = ctx.tokens.get(key, ctx.clock.now());
  if (cached !== undefined) return { ok: true, value: cached };
  let shared = ctx.tokens.pending.get(key) as Promise<Result<string, RegistryFailure>> | undefined;
  if (!shared) {
    // Shared by parallel callers, so it runs on its own timeout, not on the first caller's signal.
    const { signal: _callerSignal, ...unsignalled } = ctx;
    shared = fetchToken(key, challenge, scopes, auth, unsignalled).finally(() => ctx.tokens.pending.delete(key));
    ctx.tokens.pending.set(key, shared);
  }
  return untilAborted(shared, ctx.signal);
}

async function fetchToken(
  key: string,
  challenge: BearerChallenge,
  scopes: readonly string[],
  auth: RegistryAuth | undefined,
  ctx: AuthContext,
): Promise<Result<string, RegistryFailure>> {
  const request = tokenRequest(challenge, scopes, auth);
  const sent = await ctx.transport.send(
    {
      method: request.method,
      url: request.url,
      headers: request.headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      maxBodyBytes: TOKEN_MAX_BYTES,
    },
    ctx.signal,
  );
  if (!sent.ok) return { ok: false, error: unreachable("token", sent.cause) };
  const { response } = sent;
  const interpretation = {
    stage: "token" as const,
    isDockerHub: ctx.isDockerHub,
    credentialsSent: auth !== undefined,
    now: ctx.clock.now(),
    wallNow: ctx.wallNow(),
  };
  if (response.status < 200 || response.status > 299) return { ok: false, error: failureOf(response, interpretation) };
  if (response.truncated)
    return { ok: false, error: { kind: "protocol-error", stage: "token", message: "the token endpoint's answer is larger than 256 KiB" } };
  const parsed = parseTokenResponse(response.body.toString("utf8"), ctx.clock.now());
  if (!parsed.ok) return { ok: false, error: { kind: "protocol-error", stage: "token", message: parsed.error } };
  ctx.tokens.set(key, parsed.value);
  return { ok: true, value: parsed.value.token };
}
