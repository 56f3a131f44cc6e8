// Bearer tokens (distribution docs/spec/auth/token.md, oauth.md): the request to the realm, the
// answer, and a cache per scope whose expiry is read from the injected clock.
import type { RegistryAuth } from "../engine/credentials.js";
import type { BearerChallenge } from "./challenge.js";

/** The spec's default and minimum lifetime: a token saying less is still good for 60 s. */
export const MIN_TOKEN_LIFETIME_S = 60;

/** The OAuth2 client id prepull sends with identity tokens (the spec requires one). */
export const CLIENT_ID = "prepull";

export interface TokenRequest {
  readonly method: "GET" | "POST";
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/**
 * The request for a token covering `scopes`: an identity token goes in the OAuth2 refresh-token
 * form (POST), a username/password as Basic on a GET, no credentials as an anonymous GET.
 */
export function tokenRequest(challenge: BearerChallenge, scopes: readonly string[], auth: RegistryAuth | undefined): TokenRequest {
  const url = new URL(challenge.realm);
  if (auth?.kind === "token") {
    const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: auth.identityToken, client_id: CLIENT_ID });
    if (challenge.service) form.set("service", challenge.service);
    // The OAuth2 form takes the scopes space-separated in one parameter.
    if (scopes.length > 0) form.set("scope", scopes.join(" "));
    return { method: "POST", url, headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString() };
  }
  if (challenge.service) url.searchParams.set("service", challenge.service);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  if (auth?.kind !== "basic") return { method: "GET", url, headers: {} };
  url.searchParams.set("account", auth.username);
  return { method: "GET", url, headers: { Authorization: basicAuthorization(auth.username, auth.password) } };
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

export interface IssuedToken {
  readonly token: string;
  /** Clock time after which the token is not used again. */
  readonly expiresAt: number;
}

/**
 * Pure: the realm's JSON answer → the token and its expiry on our clock. `issued_at` is ignored:
 * it is the issuer's wall clock, and the lifetime counted from receipt errs on the safe side.
 */
export function parseTokenResponse(body: string, receivedAt: number): { ok: true; value: IssuedToken } | { ok: false; error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, error: "the token endpoint's answer is not JSON" };
  }
  if (typeof parsed !== "object" || parsed === null) return { ok: false, error: "the token endpoint's answer is not a JSON object" };
  const answer = parsed as Record<string, unknown>;
  const token = typeof answer.token === "string" && answer.token !== "" ? answer.token : answer.access_token;
  if (typeof token !== "string" || token === "") return { ok: false, error: "the token endpoint's answer has no token" };
  const expiresIn = typeof answer.expires_in === "number" && Number.isFinite(answer.expires_in) ? answer.expires_in : 0;
  return { ok: true, value: { token, expiresAt: receivedAt + Math.max(MIN_TOKEN_LIFETIME_S, expiresIn) * 1000 } };
}

/** Tokens per (realm, service, scopes, who asked); an entry past its expiry is gone. */
export class TokenCache {
  readonly #entries = new Map<string, IssuedToken>();
  /** Requests to the realm in flight, so parallel requests for one scope share one token request. */
  readonly pending = new Map<string, Promise<unknown>>();

  static key(challenge: BearerChallenge, scopes: readonly string[], identity: string): string {
    return JSON.stringify([challenge.realm, challenge.service ?? "", [...scopes].sort(), identity]);
  }

  get(key: string, now: number): string | undefined {
    const entry = this.#entries.get(key);
    if (entry && now < entry.expiresAt) return entry.token;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, token: IssuedToken): void {
    this.#entries.set(key, token);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** Which credentials a token was issued for, without the secret: part of the cache key. */
export function identityOf(auth: RegistryAuth | undefined): string {
  if (!auth) return "anonymous";
  return auth.kind === "basic" ? `basic:${auth.username}` : "identity-token";
}
